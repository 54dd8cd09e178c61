"""Conformal calibration on known-real images.

Given the fused logits ``r_1..r_n`` of ``n`` images the user knows are real, the p-value of a
new image with logit ``s`` is ``p = (1 + #{r_i >= s}) / (n + 1)``. If the new image is real and
exchangeable with the calibration reals, ``P(p <= alpha) <= alpha``: flagging at ``p <= alpha``
keeps the false-positive rate on images like the user's at ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from forensics.errors import CalibrationError

#: Calibration images wanted above the threshold for a stable false-positive rate.
STABLE_TAIL = 10


def min_reals_possible(alpha: float) -> int:
    """Fewest reals for which ``p <= alpha`` can happen at all: ``1/(n+1) <= alpha``."""
    return max(1, math.ceil(1.0 / alpha) - 1)


def min_reals_stable(alpha: float) -> int:
    """Reals needed so that about ``STABLE_TAIL`` of them lie above the threshold."""
    return math.ceil(STABLE_TAIL / alpha)


def check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise CalibrationError(f"target false-positive rate must be in (0, 1), got {alpha!r}")
    return float(alpha)


def conformal_p_values(real_scores: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(1 + #{real >= s}) / (n + 1)`` for each ``s`` in ``scores``."""
    real = np.sort(np.asarray(real_scores, dtype=float))
    s = np.asarray(scores, dtype=float)
    n_ge = real.size - np.searchsorted(real, s, side="left")
    return (1.0 + n_ge) / (real.size + 1.0)


def threshold_for(real_scores: Sequence[float] | np.ndarray, alpha: float) -> float:
    """Smallest score ``t`` with p-value ``<= alpha`` (scores above every real flag at p=1/(n+1)).
    Returns ``inf`` when ``alpha`` cannot be reached with this many reals."""
    real = np.sort(np.asarray(real_scores, dtype=float))
    n = real.size
    # allowed number k of reals >= t: the largest with (1 + k) / (n + 1) <= alpha, evaluated as
    # conformal_p_values evaluates it, so that float rounding cannot shift the threshold a rank
    k = math.floor(alpha * (n + 1)) - 1
    while (k + 2) / (n + 1.0) <= alpha:
        k += 1
    while k >= 0 and (k + 1) / (n + 1.0) > alpha:
        k -= 1
    if k < 0:
        return math.inf
    # t must exceed the (k+1)-th largest real score
    return float(np.nextafter(real[n - k - 1], math.inf))
