"""Fit the linear pixel heads on the broad material: the ``effnet_probe`` probe and the ``dct`` head.

    python -m forensics.training.fit_pixel_heads --cache CACHE

CACHE is what ``forensics.training.pixel_data``, ``fake_features`` and ``enlarged_views`` wrote.
Both heads are standardised L2 logistic regressions on the image features of the two training
variants (``aug`` and ``web``), with class- and family-balanced sample weights
(``folds.sample_weights``); the probe also on each image's enlarged view (``upaug``, at
:data:`UP_WEIGHT` times a variant's weight), so that enlargement is no evidence of its own. The
corpus's holdout half is never fitted on. The probe also learns from the fakes we make from the fit-split real photos (``fake_features.SETS``: the TAESD and
AutoGAN reconstructions, the pix2pix-redrawn 256-px frames beside those frames as reals), each
set one family of its class, each row in the fold of the photo it was made from. Measured with
``forensics.training.probe_fakes`` (docs/pixels.md): they lift the image-to-image GAN families
against reals of their own size, where the material alone teaches mostly that small means AI.

* Out-of-family scores: for each of the 5 family folds, a head fitted on the other folds scores
  this fold's images in every variant, and the size-matched reals (``fake_features.SIZE_MATCHED``:
  every real photo brought to 256 x 256) of this fold's sources. They go to
  ``CACHE/oof_heads.npz`` for the fusion and the evaluation, and pick the regularisation strength
  and, for the probe, its views (the native windows alone, or with the halved region beside
  them): the best lower, at q75, of the mean per-family AUROC against the material's reals and
  the one against the size-matched reals. The lower, not their mean, since 2026-12-05:
  docs/evaluation.md trusts the lower of the two, and a gain against the material's reals alone
  can be the size the probe learns (docs/pixels.md).
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
from forensics.training.enlarged_views import OUT as ENLARGED_FEATURES
from forensics.training.fake_features import OUT as FAKE_FEATURES
from forensics.training.fake_features import SETS as FAKE_SETS
from forensics.training.fake_features import SIZE_MATCHED
from forensics.training.folds import family_folds, sample_weights
from forensics.training.metrics import auroc, family_aurocs
from forensics.training.pixel_data import VARIANTS

TRAIN_VARIANTS = ("aug", "web")
#: weight of an image's ``upaug`` row (``enlarged_views``) relative to one of its ``aug`` and ``web``
#: rows, the total weight unchanged: chosen with ``probe_upscaled`` (docs/pixels.md, "Enlarged images")
UP_WEIGHT = 0.5

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


def training_set(rows, feats, y, idx, kind, up_weight=UP_WEIGHT):
    """Rows of both training variants (``aug`` and ``web``) of the images ``idx``, each variant
    carrying half of each image's weight; and where ``feats`` holds ``<kind>_upaug``, the enlarged
    view of each image that has one (not the fakes) at ``up_weight`` times a variant's weight, all
    scaled back to the same total weight."""
    w_image = sample_weights(rows, idx)[idx] / len(TRAIN_VARIANTS)
    x, t, w = (np.concatenate([feats[f"{kind}_{v}"][idx] for v in TRAIN_VARIANTS]), np.tile(y[idx], len(TRAIN_VARIANTS)),
               np.tile(w_image, len(TRAIN_VARIANTS)))
    if not up_weight or f"{kind}_upaug" not in feats:
        return x, t, w
    total = w.sum() * len(w)
    has = np.isfinite(feats[f"{kind}_upaug"][idx]).all(axis=1)
    w_up = w_image[has] * up_weight
    x, t, w = np.concatenate([x, feats[f"{kind}_upaug"][idx[has]]]), np.concatenate([t, y[idx[has]]]), np.concatenate([w, w_up])
    return x, t, w * total / (w.sum() * len(w))


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


def fake_set(cache: Path, name: str) -> dict[str, np.ndarray]:
    """One set of ``CACHE/fake_features.npz``: ``{"src": material rows, "<kind>_<variant>": features}``."""
    with np.load(cache / FAKE_FEATURES) as npz:
        return {k.split(":")[1]: npz[k] for k in npz.files if k.startswith(f"{name}:")}


def with_extra(rows, feats, y, fold, trainable, blocks):
    """The material's arrays followed by extra rows. ``blocks``: ``(family, label, src, {feature key: array},
    trainable)``, each row in the fold of its material row ``src`` (-1: made from no one photo, never held
    out); a feature a block lacks is NaN there."""
    rows, ys, folds, train = list(rows), [y], [fold], [trainable]
    keys = list(feats)
    cols = {k: [feats[k]] for k in keys}
    for family, label, src, x, fit in blocks:
        m = len(src)
        rows += [{"label": label, "family": family}] * m
        ys.append(np.full(m, label == "ai", int))
        folds.append(np.where(src >= 0, fold[src], -1))
        train.append((trainable[src] | (src < 0)) & fit)
        for k in keys:
            cols[k].append(x[k] if k in x else np.full((m, feats[k].shape[1]), np.nan, feats[k].dtype))
    return (rows, {k: np.concatenate(v) for k, v in cols.items()}, np.concatenate(ys), np.concatenate(folds),
            np.concatenate(train))


def vs_size_matched(rows, y, scores, sized):
    """AUROC of each AI family of the material (``scores``) against the size-matched reals' scores ``sized``."""
    fam = np.array([r["family"] for r in rows])
    real = sized[np.isfinite(sized)]
    return {f: auroc(scores[(fam == f) & np.isfinite(scores)], real) for f in sorted(set(fam[y == 1]))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out-dir", type=Path, default=DATA,
                    help="folder for effnet_probe.json and dct_head.json (default signals/data; the backbone is read there)")
    args = ap.parse_args(argv)
    rows = json.loads((args.cache / "rows.json").read_text())
    feats = {**np.load(args.cache / "features.npz"), **np.load(args.cache / ENLARGED_FEATURES)}
    ok = np.array(["error" not in r for r in rows])
    trainable = ok & np.array([r["split"] == "fit" for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], dtype=int)
    fold = family_folds(rows)
    n = len(rows)
    extra = {name: fake_set(args.cache, name) for name in (*FAKE_SETS, SIZE_MATCHED)}
    blocks = [(name, FAKE_SETS.get(name, "real"), x["src"], x, name != SIZE_MATCHED) for name, x in extra.items()]
    sized = slice(len(rows) + sum(len(b[2]) for b in blocks[:-1]), None)
    eff_rows, eff_feats, eff_y, eff_fold, eff_trainable = with_extra(
        rows, {k: v for k, v in feats.items() if k.split("_")[0] in ("eff", "effh")}, y, fold, trainable, blocks)
    for f, views in EFF_OPTIONS.items():
        for v in (*VARIANTS, "upaug"):
            eff_feats[f"{f}_{v}"] = np.concatenate([eff_feats[f"{k}_{v}"] for k in EFF_VIEWS[views]], axis=1)
    oof, chosen, sized_auc = {}, {}, {}
    kinds = {"eff": list(EFF_OPTIONS), **({"dct": ["dct"]} if "dct_aug" in feats else {})}
    for kind, options in kinds.items():
        by_c = {}
        for option in options:
            for c in C_GRID[kind]:
                if kind == "eff":
                    s = out_of_family(eff_rows, eff_feats, eff_y, eff_fold, eff_trainable, option, c)
                    vs = vs_size_matched(rows, y, s["q75"][:n], s["q75"][sized])
                    s = {**{v: a[:n] for v, a in s.items()}, **{f"{SIZE_MATCHED}_{v}": s[v][sized] for v in ("orig", "q75")}}
                else:
                    s, vs = out_of_family(rows, feats, y, fold, trainable, option, c), None
                means = [float(np.mean(list(family_aurocs(rows, y, s["q75"]).values())))]
                means += [float(np.mean(list(vs.values())))] if vs else []
                by_c[option, c] = (min(means), s, vs)
                print(f"{option} C={c}: mean per-family out-of-family AUROC at q75 {means[0]:.3f}"
                      + (f", against size-matched reals {means[1]:.3f}" if vs else ""), flush=True)
        best = max(by_c, key=lambda oc: (round(by_c[oc][0], 3), -len(oc[0]), -oc[1]))
        chosen[kind] = (best, {f"{o} C={c}": round(v[0], 4) for (o, c), v in by_c.items()})
        sized_auc[kind] = by_c[best][2]
        for v, s in by_c[best][1].items():
            oof[f"{kind}_{v}"] = s
    oof[f"{SIZE_MATCHED}_src"] = extra[SIZE_MATCHED]["src"]
    np.savez(args.cache / "oof_heads.npz", **oof)

    from forensics.signals.dct import FEATURE_NAMES, FEATURES_VERSION, HEAD_FORMAT, HEAD_FORMAT_VERSION
    from forensics.signals.effnet_views import CHANNELS, LEVELS, POOLS
    from forensics.signals.effnet_probe import HEAD_FORMAT as EFF_FORMAT
    from forensics.signals.effnet_probe import HEAD_FORMAT_VERSION as EFF_VERSION

    variants = {"aug": "resize x0.5-1.5 (p 0.5), blur (p 0.1), crop <= 512, JPEG q60-100 (p 0.85) or PNG",
                "web": "long side to 384-1024 px when longer (p 0.8), crop <= 512, JPEG q60-95",
                "upaug": f"a region enlarged x1.5-4 to <= 512 px, JPEG q60-100 (p 0.85) or PNG; weight {UP_WEIGHT} of the others'"}
    for kind, out in (("eff", args.out_dir / "effnet_probe.json"), ("dct", args.out_dir / "dct_head.json"))[:len(chosen)]:
        (option, c), by_c = chosen[kind]
        k_rows, k_feats, k_y, k_trainable = ((eff_rows, eff_feats, eff_y, eff_trainable) if kind == "eff"
                                             else (rows, feats, y, trainable))
        tr = np.flatnonzero(k_trainable & usable(k_feats, option))
        data = {"description": "../shared/corpus (fit half) and the sources of training_sources.csv, capped per family, "
                               "laundered identically for both classes (forensics.training.pixel_data)"
                               + (", and fakes made from the fit-split real photos beside their reals "
                                  "(forensics.training.fake_features)" if kind == "eff" else ""),
                "images": {"ai": int(k_y[tr].sum()), "real": int(len(tr) - k_y[tr].sum())},
                "families": sorted({k_rows[i]["family"] for i in tr}),
                "variants": variants if kind == "eff" else {v: variants[v] for v in TRAIN_VARIANTS},
                "weights": "classes equal; a family of n images weighs sqrt(n)"}
        scaler, lr = fit(*training_set(k_rows, k_feats, k_y, tr, option), c)
        fam_auc = family_aurocs(rows, y, oof[f"{kind}_q75"])
        metrics = {"cv": "5 folds of whole families (every AI family and real source in one fold); "
                         "per-family AUROC of out-of-family scores at q75 (centre crop <= 512, JPEG q75); the choice: "
                         + ("the lower of the mean per-family AUROC against the material's reals and against every real "
                            "brought to 256 x 256" if kind == "eff" else "mean per-family AUROC"),
                   "choice_by_option": by_c, "C": c,
                   "family_auroc_q75": {f: round(a, 4) for f, a in fam_auc.items()}}
        if sized_auc[kind]:
            metrics["family_auroc_q75_vs_size_matched_reals"] = {f: round(a, 4) for f, a in sized_auc[kind].items()}
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
                           float(head["intercept"] + ((k_feats[f"{option}_orig"][i] - mean) / scale) @ coef) for i in ref}}

            head = {"format": EFF_FORMAT, "format_version": EFF_VERSION, "version": "3",
                    "model": "standardised L2 logistic regression on EfficientNet-Lite0 features: each channel's mean and standard "
                             "deviation over windows and positions",
                    "views": list(EFF_OPTIONS[option]), "levels": dict(zip(LEVELS, CHANNELS)), "pooling": list(POOLS),
                    "graph": {"file": backbone.name, "sha256": hashlib.sha256(backbone.read_bytes()).hexdigest(),
                              "built_by": "forensics.training.build_effnet"}, **head}
        else:
            head = {"format": HEAD_FORMAT, "format_version": HEAD_FORMAT_VERSION, "version": "2",
                    "model": "standardised L2 logistic regression; tile logit = intercept + coef . (x - mean) / scale; "
                             "image score = mean tile logit",
                    "features_version": FEATURES_VERSION, "feature_names": list(FEATURE_NAMES), **head}
        out.write_text(json.dumps(head, indent=1) + "\n")
        print(f"wrote {out}: C={c}, mean per-family AUROC {np.mean(list(fam_auc.values())):.3f}"
              + (f", against size-matched reals {np.mean(list(sized_auc[kind].values())):.3f}" if sized_auc[kind] else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
