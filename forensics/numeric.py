"""Small numeric helpers shared by signals, fusion and calibration."""

from __future__ import annotations

import math

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
