"""Fit the DCT signal's default head from the labelled corpus and write ``signals/data/dct_head.json``.

    python scripts/fit_dct.py [--corpus ../shared/corpus] [--out signals/data/dct_head.json]

Every ``ai``/``real`` corpus file of the ``fit`` split (``scripts/corpus.py``; the ``holdout``
half is never seen here) is laundered ``TRAIN_VARIANTS`` times with
``forensics.evaluation.laundering.launder_random`` (metadata stripped, earlier JPEG generation and downscale
at random, a fixed 256x256 crop at any phase for both classes, final PNG or JPEG q65-100), then a
standardised L2 logistic regression is fitted on the image-level features. The regularisation
strength is chosen by 5-fold cross-validation grouped by file (all copies of one file stay in
one fold), and those CV numbers go into the JSON. Deterministic: fixed seeds throughout.
Files smaller than the crop (a few web images) are left out; the count is recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dct_data import (  # noqa: E402
    CROP, DEFAULT_CORPUS, REPO, SEED, TRAIN_VARIANTS, corpus_features, folds,
)

from forensics.evaluation.laundering import TRAINING_RECIPE  # noqa: E402
from forensics.signals.dct import FEATURE_NAMES, FEATURES_VERSION, HEAD_FORMAT, HEAD_FORMAT_VERSION  # noqa: E402

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
HEAD_VERSION = "1"
MIN_PER_CLASS = 20


def training_matrix(train: np.ndarray, labels: np.ndarray, files: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten ``(n_files, variants, F)`` to rows, dropping NaN rows; returns X, y, file index."""
    n, v, f = train.shape
    x = train.reshape(n * v, f)
    y = np.repeat(labels, v)
    g = np.repeat(files, v)
    ok = np.isfinite(x).all(axis=1)
    return x[ok], y[ok], g[ok]


def fit_lr(x: np.ndarray, y: np.ndarray, c: float) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(x), y)
    return scaler, lr


def cv_auroc(x: np.ndarray, y: np.ndarray, g: np.ndarray, fold_of_file: np.ndarray, c: float) -> float:
    """Pooled out-of-fold AUROC over laundered copies, grouped by file."""
    scores = np.empty(len(y))
    fold = fold_of_file[g]
    for k in np.unique(fold):
        tr, te = fold != k, fold == k
        scaler, lr = fit_lr(x[tr], y[tr], c)
        scores[te] = lr.decision_function(scaler.transform(x[te]))
    return float(roc_auc_score(y, scores))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="labelled corpus folder (default ../shared/corpus)")
    ap.add_argument("--out", type=Path, default=REPO / "signals" / "data" / "dct_head.json")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    if not (args.corpus / "labels.csv").is_file():
        print(f"error: no labels.csv in {args.corpus}; pass --corpus", file=sys.stderr)
        return 2

    data = corpus_features(args.corpus, with_eval=False, workers=args.workers, split="fit")
    rows = data["rows"]
    labels = np.array([r["label"] == "ai" for r in rows], dtype=int)
    x, y, g = training_matrix(data["train"], labels, np.arange(len(rows)))
    used_files = np.unique(g)
    n_ai, n_real = int(labels[used_files].sum()), int((1 - labels[used_files]).sum())
    if min(n_ai, n_real) < MIN_PER_CLASS:
        print(f"error: {n_ai} ai / {n_real} real files usable; need at least {MIN_PER_CLASS} per class", file=sys.stderr)
        return 2
    fold_of_file = folds(rows)
    cv = {str(c): cv_auroc(x, y, g, fold_of_file, c) for c in C_GRID}
    best_c = max(C_GRID, key=lambda c: (round(cv[str(c)], 4), -c))
    print("grouped 5-fold CV AUROC (laundered copies):", {k: round(v, 4) for k, v in cv.items()}, "-> C =", best_c)
    scaler, lr = fit_lr(x, y, best_c)

    skipped = sorted(r["path"] for i, r in enumerate(rows) if i not in set(used_files.tolist()))
    by_source: dict[str, int] = {}
    for i in used_files:
        by_source[rows[i]["source"]] = by_source.get(rows[i]["source"], 0) + 1
    head = {
        "format": HEAD_FORMAT,
        "format_version": HEAD_FORMAT_VERSION,
        "version": HEAD_VERSION,
        "model": "standardised L2 logistic regression; tile logit = intercept + coef . (x - mean) / scale; image score = mean tile logit",
        "features_version": FEATURES_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "coef": [float(v) for v in lr.coef_[0]],
        "intercept": float(lr.intercept_[0]),
        "label_positive": "ai",
        "fit_metrics": {
            "cv": "5-fold, grouped by file, stratified by source; pooled out-of-fold AUROC on laundered copies",
            "auroc_by_C": {k: round(v, 4) for k, v in cv.items()},
            "C": best_c,
            "auroc": round(cv[str(best_c)], 4),
        },
        "data": {
            "description": "labelled corpus (SD 1.x PNGs vs camera and web JPEGs), laundered identically for both classes",
            "crop": CROP,
            "variants_per_file": TRAIN_VARIANTS,
            "recipe": TRAINING_RECIPE,
            "files_used": {"ai": n_ai, "real": n_real, **{f"source_{k}": v for k, v in sorted(by_source.items())}},
            "rows": int(len(y)),
            "files_skipped_smaller_than_crop": skipped,
        },
        "provenance": {
            "script": "scripts/fit_dct.py",
            "corpus": "../shared/corpus (labels.csv)",
            "split": "fit (scripts/corpus.py: hash of the path; the holdout half is never used here)",
            "training_files": sorted(rows[i]["path"] for i in used_files),
            "seed": SEED,
            "numpy": np.__version__,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(head, indent=1) + "\n")
    print(f"wrote {args.out} ({n_ai} ai + {n_real} real files, {len(y)} laundered rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
