"""The neural signals' weights.

* :mod:`~forensics.weights.spec`: :class:`~forensics.weights.spec.WeightSpec`, what one set of
  weights is and how its model is fed; each signal declares its own on its class.
* :mod:`~forensics.weights.store`: the per-user store and its sidecars (what the signals read
  at run time).
* :mod:`~forensics.weights.install`: ``forensics weights download/add/list``.
* :mod:`~forensics.weights.convert`: the one-time conversion to ONNX (needs torch).
"""
