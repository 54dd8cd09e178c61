"""Small numeric helpers shared by signals, fusion and calibration."""

from __future__ import annotations

import math
import numbers

import numpy as np


def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))`` of a float (returns a float) or an array
    (returns a float64 array), without overflow for large ``|x|``."""
    if np.ndim(x) == 0:
        x = float(x)
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(p: float) -> float:
    """The log-odds ``log(p / (1 - p))`` of a probability; ``-inf`` at 0 and ``inf`` at 1."""
    p = float(p)
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)


def check_base_rate(base_rate: float) -> float:
    """``base_rate`` as a float strictly between 0 and 1, or a ``ValueError`` that says so."""
    if isinstance(base_rate, bool) or not isinstance(base_rate, numbers.Real) or not 0.0 < base_rate < 1.0:
        raise ValueError(f"base_rate must be a share of AI images strictly between 0 and 1 (0.01 = one in a hundred), "
                         f"got {base_rate!r}")
    return float(base_rate)
