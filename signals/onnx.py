"""The base of every signal that runs an ONNX graph: the packaged pixel models (``effnet_probe``,
``npr``) and the user-installed neural weights (:class:`forensics.signals.neural.WeightsSignal`).

Each names its graph (:meth:`OnnxSignal.graph`, with the sha256 its head or sidecar records);
sessions come from the one cache of :func:`forensics.artifacts.session`, shared per process.
"""

from __future__ import annotations

from typing import ClassVar

from forensics.artifacts import OnnxGraph, session
from forensics.weights.store import runtime_problem

from .base import Availability, BaseSignal


class OnnxSignal(BaseSignal):
    """A pixel signal that runs an ONNX graph on onnxruntime. Subclasses implement
    :meth:`graph` and :meth:`analyze`, and set ``threads`` (onnxruntime intra-op threads;
    ``None`` = its default)."""

    evidence_kind: ClassVar[str] = "pixels"
    threads: int | None = None

    def availability(self) -> Availability:
        problem = runtime_problem()
        return Availability.no(problem) if problem else Availability.yes()

    def graph(self) -> OnnxGraph:
        """The graph this signal runs, with its recorded sha256."""
        raise NotImplementedError

    def session(self):
        """The shared onnxruntime session of :meth:`graph`."""
        return session(self.graph(), self.threads)
