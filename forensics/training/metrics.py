"""Metrics of the training pipeline: per-family AUROC (with bootstrap intervals over groups), the
AUROC's standard error, rates with intervals, and ECE with the classes weighed equally.

A *family* is an AI generator family (or, with ``cls=0``, a real source); each is scored against
every image of the other class, so a mean over families weighs a 21-image family as much as a
400-image one.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

N_BOOT = 200


def family_aurocs(rows: list[dict], y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """AUROC of each AI family against every real image with a score."""
    fam = np.array([r["family"] for r in rows])
    real = np.flatnonzero((y == 0) & np.isfinite(s))
    out = {}
    for f in sorted(set(fam[y == 1])):
        ai = np.flatnonzero((fam == f) & np.isfinite(s))
        out[f] = float(roc_auc_score(np.r_[np.ones(len(ai)), np.zeros(len(real))], np.r_[s[ai], s[real]]))
    return out


def auroc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUROC from ``n_pos`` positives and ``n_neg`` negatives (Hanley and
    McNeil 1982, Radiology 143:29)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def balanced_ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with the two classes weighed equally: the fusion assumes even prior odds, while this
    material holds about two AI images per real one."""
    w = np.where(y == 1, 0.5 / y.sum(), 0.5 / (1 - y).sum())
    idx = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += w[m].sum() * abs(np.average(p[m], weights=w[m]) - np.average(y[m], weights=w[m]))
    return float(ece)


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUROC of ``pos`` against ``neg`` from ranks (ties count half): sklearn's value, without its
    input checks, which the bootstrap would pay thousands of times."""
    r = rankdata(np.r_[pos, neg])
    return float((r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def family_table(rows, y, s, groups, seed=0, cls=1):
    """``{family: (auroc, lo, hi, n, boots)}`` of each AI family against all reals with a score
    (``cls=0``: of each real source against all AI images), ``boots`` its bootstrap resamples."""
    fam = np.array([r["family"] for r in rows])
    other = np.flatnonzero((y != cls) & np.isfinite(s))
    rng = np.random.default_rng(seed)
    og = {g: np.flatnonzero(groups[other] == g) for g in np.unique(groups[other])}
    out = {}
    for f in sorted(set(fam[y == cls])):
        own = np.flatnonzero((fam == f) & np.isfinite(s))
        fg = {g: np.flatnonzero(groups[own] == g) for g in np.unique(groups[own])}
        sf, so = s[own], s[other]
        sign = 1 if cls == 1 else -1  # a real source ranks well when its scores lie below the AI images'
        a = auroc(sign * sf, sign * so)
        boots = []
        fk, ok = list(fg), list(og)
        for _ in range(N_BOOT):
            i_f = np.concatenate([fg[fk[j]] for j in rng.integers(0, len(fk), len(fk))])
            i_o = np.concatenate([og[ok[j]] for j in rng.integers(0, len(ok), len(ok))])
            boots.append(auroc(sign * sf[i_f], sign * so[i_o]))
        out[f] = (a, *np.percentile(boots, [2.5, 97.5]), len(own), np.array(boots))
    return out


def rate(hit: np.ndarray, groups: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Share of ``hit`` with a bootstrap 95 % interval over groups."""
    rng = np.random.default_rng(seed)
    gs = {g: np.flatnonzero(groups == g) for g in np.unique(groups)}
    keys = list(gs)
    boots = [hit[np.concatenate([gs[keys[j]] for j in rng.integers(0, len(keys), len(keys))])].mean() for _ in range(N_BOOT)]
    return float(hit.mean()), *map(float, np.percentile(boots, [2.5, 97.5]))


def mean_ci(table: dict, keys=None) -> tuple[float, float, float]:
    """The mean AUROC over ``keys`` (every entry by default) and its interval from the entries' bootstraps."""
    keys = sorted(table) if keys is None else keys
    boots = np.mean([table[k][4] for k in keys], axis=0)
    return float(np.mean([table[k][0] for k in keys])), *map(float, np.percentile(boots, [2.5, 97.5]))
