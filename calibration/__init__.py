"""Calibration on the user's own images: conformal thresholds and refitted fusions (JSON files)."""

from .calibration import FORMAT, Calibration, choose_thresholds, expand_sources, fit_calibration
from .conformal import conformal_p_values, min_reals_possible, min_reals_stable, threshold_for
from .metrics import binary_metrics

__all__ = ["FORMAT", "Calibration", "choose_thresholds", "expand_sources", "fit_calibration",
           "conformal_p_values", "min_reals_possible", "min_reals_stable", "threshold_for", "binary_metrics"]
