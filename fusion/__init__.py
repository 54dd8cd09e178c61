"""Fusion of signal scores into one calibrated probability with a per-signal breakdown."""

from __future__ import annotations

from forensics.artifacts import packaged, read_artifact

from .logistic import FORMAT, FORMAT_VERSION, Explanation, Feature, LogisticFusion, platt_scale
from .priors import signal_priors

DEFAULT_FUSION = "default_fusion.json"


def default_fusion() -> LogisticFusion:
    """The embedded default fusion shipped with the package (see ``fusion/data``)."""
    path = packaged(__name__, DEFAULT_FUSION)
    return LogisticFusion.from_dict(read_artifact(path, FORMAT, FORMAT_VERSION, what="default fusion").data, source=str(path))


__all__ = ["FORMAT", "Explanation", "Feature", "LogisticFusion", "default_fusion", "platt_scale", "signal_priors"]
