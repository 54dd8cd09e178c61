"""The default fusion's prior features, as the built-in signals declare them.

A signal that cannot be fitted on the corpus carries its weight on its class (``prior``, a
:class:`~forensics.signals.Prior`) with its decisive threshold (``decisive_at``);
``forensics.training.fusion_priors --apply`` writes them into ``fusion/data/default_fusion.json``.
"""

from __future__ import annotations

from forensics.signals import BUILTIN, signal_class

from .logistic import Feature


def signal_priors() -> dict[str, Feature]:
    """``{name: Feature}`` of every built-in signal that declares a ``prior``, by name."""
    out: dict[str, Feature] = {}
    for name in sorted(BUILTIN):
        cls = signal_class(name)
        p = getattr(cls, "prior", None)
        if p is not None:
            out[name] = Feature(name, "prior", p.weight, center=p.center, scale=p.scale, clip=p.clip,
                                calibrated=p.calibrated, note=p.note, decisive_at=getattr(cls, "decisive_at", None))
    return out
