"""Held-out evaluation of the DCT signal on the corpus: the numbers in ``docs/dct.md``.

    python scripts/eval_dct.py [--corpus ../shared/corpus] [--json out/dct_eval.json]

1. **Grouped 5-fold CV.** Files are split into 5 folds (stratified by source, fixed seed). For
   each fold a head is fitted on the corpus alone (``dct_data.fit_lr``: laundered random copies of the
   training files only) and scores the held-out files under each condition of
   ``dct_data.EVAL_CONDITIONS``: ``original`` (bytes as found: AI PNG vs camera/web JPEG, the
   format shortcut is available), ``png_full`` (full image re-saved as PNG, no metadata),
   ``jpeg90`` / ``jpeg75`` / ``lossless_crop`` (256x256 crop at a seeded offset, re-encoded),
   ``downscale05`` (x0.5 then a 256 crop, JPEG q90; images under 512 px are left out).
2. **Leave one source out.** Train without source S (and without a held-out 20% of the other
   class), test S against that held-out 20%.
3. **PNG vs JPEG false positives.** Held-out real photos scored as found (JPEG) and re-saved as
   PNG (same pixels): false-positive rate at logit 0 and at the threshold giving 5% FPR on JPEG.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dct_data import DEFAULT_CORPUS, EVAL_CONDITIONS, REPO, corpus_features, fit_lr, folds, training_matrix  # noqa: E402


def _auroc(y: np.ndarray, s: np.ndarray) -> tuple[float | None, int, int]:
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    n_ai, n_real = int(y.sum()), int((1 - y).sum())
    if min(n_ai, n_real) == 0:
        return None, n_ai, n_real
    return round(float(roc_auc_score(y, s)), 4), n_ai, n_real


def _score(scaler, lr, x: np.ndarray) -> np.ndarray:
    out = np.full(len(x), np.nan)
    ok = np.isfinite(x).all(axis=1)
    if ok.any():
        out[ok] = lr.decision_function(scaler.transform(x[ok]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--head", type=Path, default=REPO / "signals" / "data" / "dct_head.json",
                    help="the regularisation strength C is read from this head's fit metrics")
    ap.add_argument("--json", type=Path, default=REPO / "out" / "dct_eval.json")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    if not (args.corpus / "labels.csv").is_file():
        print(f"error: no labels.csv in {args.corpus}; pass --corpus", file=sys.stderr)
        return 2
    c = float(json.loads(args.head.read_text())["fit_metrics"]["C"])
    data = corpus_features(args.corpus, with_eval=True, workers=args.workers)
    rows, train, ev = data["rows"], data["train"], data["eval"]
    y = np.array([r["label"] == "ai" for r in rows], dtype=int)
    src = np.array([r["source"] for r in rows])
    fold = folds(rows)
    files = np.arange(len(rows))
    report: dict = {"C": c, "cv": {}, "loso": {}, "png_vs_jpeg": {}}

    # 1. grouped CV
    oof = {cond: np.full(len(rows), np.nan) for cond in EVAL_CONDITIONS}
    for k in range(5):
        tr = fold != k
        x, yy, _ = training_matrix(train[tr], y[tr], files[tr])
        scaler, lr = fit_lr(x, yy, c)
        te = fold == k
        for cond in EVAL_CONDITIONS:
            oof[cond][te] = _score(scaler, lr, ev[cond][te])
    print(f"Grouped 5-fold CV, held-out files (C={c})\n")
    print("| condition | AUROC | n ai | n real |\n|---|---|---|---|")
    for cond in EVAL_CONDITIONS:
        a, na, nr = _auroc(y, oof[cond])
        report["cv"][cond] = {"auroc": a, "n_ai": na, "n_real": nr}
        print(f"| {cond} | {a} | {na} | {nr} |")
    for s in ("sd1_laion", "sd1_horror", "camera", "web"):
        m = src == s
        report["cv"].setdefault("per_source_mean_logit_jpeg90", {})[s] = round(float(np.nanmean(oof["jpeg90"][m])), 3)

    # 2. leave one source out
    print("\nLeave one source out (test: the source vs a held-out 20% of the other class)\n")
    print("| held-out source | condition | AUROC | n ai | n real |\n|---|---|---|---|---|")
    for s in ("sd1_horror", "sd1_laion", "camera", "web"):
        other = (y != y[src == s][0]) & (fold == 0)
        test = (src == s) | other
        tr = ~test
        x, yy, _ = training_matrix(train[tr], y[tr], files[tr])
        scaler, lr = fit_lr(x, yy, c)
        for cond in ("original", "jpeg90", "jpeg75", "downscale05"):
            a, na, nr = _auroc(y[test], _score(scaler, lr, ev[cond][test]))
            report["loso"].setdefault(s, {})[cond] = {"auroc": a, "n_ai": na, "n_real": nr}
            print(f"| {s} | {cond} | {a} | {na} | {nr} |")

    # 3. PNG vs JPEG false-positive rate on real photos (same pixels)
    real = (y == 0) & np.isfinite(oof["original"]) & np.isfinite(oof["png_full"])
    sj, sp = oof["original"][real], oof["png_full"][real]
    thr5 = float(np.quantile(sj, 0.95))
    fpr = {
        "n_real": int(real.sum()),
        "fpr_at_logit0": {"jpeg": round(float((sj > 0).mean()), 4), "png": round(float((sp > 0).mean()), 4)},
        "fpr_at_jpeg_5pct_threshold": {"threshold": round(thr5, 3), "jpeg": round(float((sj > thr5).mean()), 4),
                                       "png": round(float((sp > thr5).mean()), 4)},
        "max_abs_score_difference": round(float(np.max(np.abs(sj - sp))), 6),
    }
    crop_real = (y == 0) & np.isfinite(oof["jpeg90"]) & np.isfinite(oof["lossless_crop"])
    fpr["crop256_fpr_at_logit0"] = {"jpeg90": round(float((oof["jpeg90"][crop_real] > 0).mean()), 4),
                                    "png": round(float((oof["lossless_crop"][crop_real] > 0).mean()), 4),
                                    "n_real": int(crop_real.sum())}
    report["png_vs_jpeg"] = fpr
    print("\nReal photos, JPEG as found vs re-saved as PNG (held-out scores)\n")
    print(json.dumps(fpr, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
