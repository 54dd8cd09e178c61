"""ROC and reliability-diagram PNGs (matplotlib, imported only when plotting)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import reliability_curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_roc(y, p, path: str | Path, *, title: str = "ROC", curves: dict[str, np.ndarray] | None = None) -> None:
    """ROC of ``p`` (and of any extra named score arrays in ``curves``) against labels ``y``."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for name, s in {"fused": np.asarray(p), **(curves or {})}.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false-positive rate (reals flagged)", ylabel="true-positive rate (AI caught)", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_reliability(y, p, path: str | Path, *, title: str = "Reliability", bins: int = 10) -> None:
    plt = _pyplot()
    curve = reliability_curve(np.asarray(y), np.asarray(p), bins)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    ax.plot([c["mean_predicted"] for c in curve], [c["fraction_ai"] for c in curve], "o-", label="observed")
    for c in curve:
        ax.annotate(str(c["count"]), (c["mean_predicted"], c["fraction_ai"]), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set(xlabel="predicted P(AI)", ylabel="fraction AI", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
