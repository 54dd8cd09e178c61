"""Fusion of signal scores into one calibrated probability with a per-signal breakdown."""

from __future__ import annotations

from importlib import resources

from .logistic import FORMAT, Explanation, Feature, LogisticFusion, platt_scale
from .priors import signal_priors

DEFAULT_FUSION = "default_fusion.json"


def default_fusion() -> LogisticFusion:
    """The embedded default fusion shipped with the package (see ``fusion/data``)."""
    ref = resources.files(__name__).joinpath("data", DEFAULT_FUSION)
    with resources.as_file(ref) as path:
        return LogisticFusion.load(path)


__all__ = ["FORMAT", "Explanation", "Feature", "LogisticFusion", "default_fusion", "platt_scale", "signal_priors"]
