"""Fit the linear pixel heads on the broad material: the ``effnet_probe`` probe and the ``dct`` head.

    python -m forensics.training.fit_pixel_heads --cache CACHE

CACHE is what ``forensics.training.pixel_data`` wrote. Both heads are standardised L2 logistic
regressions on the image features of the two training variants (``aug`` and ``web``), with
class- and family-balanced sample weights (``folds.sample_weights``). The corpus's holdout half is never fitted on.

* Out-of-family scores: for each of the 5 family folds, a head fitted on the other folds scores
  this fold's images in every variant. They go to ``CACHE/oof_heads.npz`` for the fusion and
  the evaluation, and pick the regularisation strength and, for the probe, its views (the
  native windows alone, or with the halved region beside them): best mean per-family AUROC at
  q75.
* The shipped heads, fitted on every fit-split row, go to ``signals/data/effnet_probe.json``
  and, when the cache holds the DCT features (``pixel_data.py --dct``; ``dct`` is not a default
  signal), ``signals/data/dct_head.json``, with the scores they give a few corpus files so that a
  test can check that analysis reproduces them bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from forensics.training.corpus import REPO, SEED
from forensics.training.folds import family_folds, sample_weights
from forensics.training.metrics import family_aurocs
from forensics.training.pixel_data import VARIANTS

TRAIN_VARIANTS = ("aug", "web")

C_GRID = {"eff": (0.001, 0.003, 0.01, 0.03), "dct": (0.003, 0.03, 0.3)}
#: the probe's candidate views and the feature kinds of pixel_data.py they read
EFF_VIEWS = {("native",): ("eff",), ("native", "halved"): ("eff", "effh")}
#: the feature key of each candidate (``eff:native+halved``) -> its views
EFF_OPTIONS = {f"eff:{'+'.join(views)}": views for views in EFF_VIEWS}
DATA = REPO / "signals" / "data"
N_REFERENCE = 4  # corpus files per class whose shipped-probe scores are recorded for the reproduction test


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(x), y, sample_weight=w * len(w))
    return scaler, lr


def training_set(rows, feats, y, idx, kind):
    """Rows of both training variants (``aug`` and ``web``) of the images ``idx``, each variant
    carrying half of each image's weight."""
    w = sample_weights(rows, idx)[idx] / len(TRAIN_VARIANTS)
    return (np.concatenate([feats[f"{kind}_{v}"][idx] for v in TRAIN_VARIANTS]), np.tile(y[idx], len(TRAIN_VARIANTS)),
            np.tile(w, len(TRAIN_VARIANTS)))


def usable(feats, kind):
    return np.all([np.isfinite(feats[f"{kind}_{v}"]).all(axis=1) for v in TRAIN_VARIANTS], axis=0)


def out_of_family(rows, feats, y, fold, trainable, kind, c):
    """``{variant: scores}``: each image scored by a head that never saw its fold's families."""
    out = {v: np.full(len(rows), np.nan) for v in VARIANTS}
    good = trainable & usable(feats, kind)
    for k in range(fold.max() + 1):
        tr = np.flatnonzero(good & (fold != k))
        te = np.flatnonzero(fold == k)
        scaler, lr = fit(*training_set(rows, feats, y, tr, kind), c)
        for v in VARIANTS:
            x = feats[f"{kind}_{v}"][te]
            ok = np.isfinite(x).all(axis=1)
            out[v][te[ok]] = lr.decision_function(scaler.transform(x[ok]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out-dir", type=Path, default=DATA,
                    help="folder for effnet_probe.json and dct_head.json (default signals/data; the backbone is read there)")
    args = ap.parse_args(argv)
    rows = json.loads((args.cache / "rows.json").read_text())
    feats = dict(np.load(args.cache / "features.npz"))
    ok = np.array(["error" not in r for r in rows])
    trainable = ok & np.array([r["split"] == "fit" for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], dtype=int)
    fold = family_folds(rows)
    for option, views in EFF_OPTIONS.items():
        for v in VARIANTS:
            feats[f"{option}_{v}"] = np.concatenate([feats[f"{k}_{v}"] for k in EFF_VIEWS[views]], axis=1)
    oof, chosen = {}, {}
    kinds = {"eff": list(EFF_OPTIONS), **({"dct": ["dct"]} if "dct_aug" in feats else {})}
    for kind, options in kinds.items():
        by_c = {}
        for option in options:
            for c in C_GRID[kind]:
                s = out_of_family(rows, feats, y, fold, trainable, option, c)
                by_c[option, c] = (float(np.mean(list(family_aurocs(rows, y, s["q75"]).values()))), s)
                print(f"{option} C={c}: mean per-family out-of-family AUROC at q75 {by_c[option, c][0]:.3f}", flush=True)
        best = max(by_c, key=lambda oc: (round(by_c[oc][0], 3), -len(oc[0]), -oc[1]))
        chosen[kind] = (best, {f"{o} C={c}": round(v[0], 4) for (o, c), v in by_c.items()})
        for v, s in by_c[best][1].items():
            oof[f"{kind}_{v}"] = s
    np.savez(args.cache / "oof_heads.npz", **oof)

    from forensics.signals.dct import FEATURE_NAMES, FEATURES_VERSION, HEAD_FORMAT, HEAD_FORMAT_VERSION
    from forensics.signals.effnet_probe import CHANNELS, LEVELS
    from forensics.signals.effnet_probe import HEAD_FORMAT as EFF_FORMAT
    from forensics.signals.effnet_probe import HEAD_FORMAT_VERSION as EFF_VERSION

    tr = np.flatnonzero(trainable & np.all([usable(feats, chosen[k][0][0]) for k in chosen], axis=0))
    families = sorted({rows[i]["family"] for i in tr})
    data = {"description": "../shared/corpus (fit half) and the sources of training_sources.csv, capped per family, "
                           "laundered identically for both classes (forensics.training.pixel_data)",
            "images": {"ai": int(y[tr].sum()), "real": int(len(tr) - y[tr].sum())}, "families": families,
            "variants": {"aug": "resize x0.5-1.5 (p 0.5), blur (p 0.1), crop <= 512, JPEG q60-100 (p 0.85) or PNG",
                         "web": "long side to 384-1024 px when longer (p 0.8), crop <= 512, JPEG q60-95"},
            "weights": "classes equal; a family of n images weighs sqrt(n)"}
    for kind, out in (("eff", args.out_dir / "effnet_probe.json"), ("dct", args.out_dir / "dct_head.json"))[:len(chosen)]:
        (option, c), by_c = chosen[kind]
        scaler, lr = fit(*training_set(rows, feats, y, tr, option), c)
        fam_auc = family_aurocs(rows, y, oof[f"{kind}_q75"])
        metrics = {"cv": "5 folds of whole families (every AI family and real source in one fold); "
                         "mean per-family AUROC of out-of-family scores at q75 (centre crop <= 512, JPEG q75)",
                   "mean_family_auroc_by_choice": by_c, "C": c,
                   "family_auroc_q75": {f: round(a, 4) for f, a in fam_auc.items()}}
        head = {"mean": [float(v) for v in scaler.mean_], "scale": [float(v) for v in scaler.scale_],
                "coef": [float(v) for v in lr.coef_[0]], "intercept": float(lr.intercept_[0]), "label_positive": "ai",
                "fit_metrics": metrics, "data": data,
                "provenance": {"script": "forensics.training.fit_pixel_heads", "seed": SEED, "numpy": np.__version__}}
        if kind == "eff":
            backbone = DATA / "effnet_lite0.onnx"
            ref = [i for cls in ("ai", "real") for i in
                   [j for j, r in enumerate(rows) if ok[j] and r["path"].startswith("corpus/") and r["label"] == cls][:N_REFERENCE]]
            mean, scale, coef = (np.asarray(head[a], dtype=np.float64) for a in ("mean", "scale", "coef"))
            head["reference_scores"] = {
                "what": "scores of these corpus files as found (orig), from the training pipeline's features; "
                        "analysis must reproduce them bit for bit",
                "scores": {rows[i]["path"].removeprefix("corpus/"):
                           float(head["intercept"] + ((feats[f"{option}_orig"][i] - mean) / scale) @ coef) for i in ref}}

            head = {"format": EFF_FORMAT, "format_version": EFF_VERSION, "version": "2",
                    "model": "standardised L2 logistic regression on EfficientNet-Lite0 features pooled over windows and positions",
                    "views": list(EFF_OPTIONS[option]), "levels": dict(zip(LEVELS, CHANNELS)),
                    "graph": {"file": backbone.name, "sha256": hashlib.sha256(backbone.read_bytes()).hexdigest(),
                              "built_by": "forensics.training.build_effnet"}, **head}
        else:
            head = {"format": HEAD_FORMAT, "format_version": HEAD_FORMAT_VERSION, "version": "2",
                    "model": "standardised L2 logistic regression; tile logit = intercept + coef . (x - mean) / scale; "
                             "image score = mean tile logit",
                    "features_version": FEATURES_VERSION, "feature_names": list(FEATURE_NAMES), **head}
        out.write_text(json.dumps(head, indent=1) + "\n")
        print(f"wrote {out}: C={c}, mean per-family AUROC {np.mean(list(fam_auc.values())):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
