"""Held-out metrics for a detector's probabilities: AUROC, AP, TPR at fixed FPR, Brier, ECE."""

from __future__ import annotations

from typing import Any

import numpy as np


def tpr_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """True-positive rate at the threshold where at most ``fpr`` of negatives score above it."""
    neg = np.sort(score[y == 0])
    pos = score[y == 1]
    if neg.size == 0 or pos.size == 0:
        return float("nan")
    k = int(np.floor(fpr * neg.size))  # negatives allowed strictly above threshold
    thr = neg[neg.size - k - 1] if k < neg.size else -np.inf
    return float(np.mean(pos > thr))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def reliability_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return [{"bin_low": float(edges[b]), "bin_high": float(edges[b + 1]), "count": int((idx == b).sum()),
             "mean_predicted": float(p[idx == b].mean()), "fraction_ai": float(y[idx == b].mean())}
            for b in range(bins) if (idx == b).any()]


def binary_metrics(y, p) -> dict[str, Any]:
    """Metrics of probabilities ``p`` against labels ``y`` (1 = AI). NaN-free; None when undefined."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    both = 0 < y.sum() < y.size
    out: dict[str, Any] = {
        "n": int(y.size), "n_ai": int(y.sum()), "n_real": int(y.size - y.sum()),
        "auroc": float(roc_auc_score(y, p)) if both else None,
        "average_precision": float(average_precision_score(y, p)) if both else None,
        "tpr_at_fpr_1pct": tpr_at_fpr(y, p, 0.01) if both else None,
        "tpr_at_fpr_5pct": tpr_at_fpr(y, p, 0.05) if both else None,
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}
