"""Fit the embedded default fusion on out-of-family scores and write ``fusion/data/default_fusion.json``.

    python scripts/fit_fusion.py --cache CACHE

Run after ``scripts/fit_pixel_heads.py``, ``scripts/train_npr.py --oof`` and
``scripts/metadata_scores.py``. The corpus's holdout half is never fitted on.

* Fitted features: ``dct``, ``effnet_probe`` and ``npr``. Their training scores are
  out-of-family: each image was scored by a model fitted without its fold's generator families
  and real sources. Rows come from two conditions, the files as found and laundered (centre
  crop <= 512, JPEG q75), so the weights hold on both. Classes are balanced (even prior odds)
  and fitted features are dropped at random (``drop_rate`` 0.3), so that the rest still give a
  meaningful probability when one cannot run.
* Metadata and neural signals enter with the priors their classes declare (``prior``,
  ``decisive_at``); their scores on each row move the intercept's fit as offsets.
* Verdict thresholds are chosen on families the models did not see: the fusion is refitted
  without each fold and scores it, and ``ai`` keeps 2 % of those held-out reals above it while
  ``real`` keeps 5 % of held-out AI images below it. A fusion fitted on in-distribution scores
  would place them where only the last generator's images fall.

Writes ``CACHE/fused_oof.npz``: per condition, each image's out-of-family fused probability and
the verdict under thresholds chosen without its fold (what ``scripts/eval_generalisation.py``
reports).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import REPO  # noqa: E402
from pixel_data import family_folds  # noqa: E402

from forensics.calibration import binary_metrics  # noqa: E402
from forensics.fusion import LogisticFusion, signal_priors  # noqa: E402
from forensics.signals import create_signal, fingerprint_of  # noqa: E402

PIXEL = ("dct", "effnet_probe", "npr")
CONDITIONS = ("orig", "q75")
REAL_AS_AI = 0.01   # share of held-out reals above the ai threshold (aims at <= 2 % on new sources)
AI_AS_REAL = 0.03   # share of held-out AI below the real threshold (aims at <= 5 % on new families)


def score_rows(cache: Path, rows: list[dict]) -> dict[str, list[dict]]:
    """``{condition: [row scores]}``: out-of-family pixel scores plus the metadata signals' scores."""
    heads = np.load(cache / "oof_heads.npz")
    npr = np.load(cache / "oof_npr.npz")
    meta = json.loads((cache / "metadata.json").read_text())
    pixel = {"dct": {c: heads[f"dct_{c}"] for c in CONDITIONS}, "effnet_probe": {c: heads[f"eff_{c}"] for c in CONDITIONS},
             "npr": {c: npr[c] for c in CONDITIONS}}
    out = {}
    for c in CONDITIONS:
        out[c] = []
        for i in range(len(rows)):
            row = dict(meta[i].get(c, {}))
            for s in PIXEL:
                v = float(pixel[s][c][i])
                row[s] = v if np.isfinite(v) else None
            out[c].append(row)
    return out


def thresholds(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    ai = float(np.quantile(p[y == 0], 1 - REAL_AS_AI, method="higher"))
    real = float(np.quantile(p[y == 1], AI_AS_REAL, method="lower"))
    ai = min(max(ai, 1e-6), 1 - 1e-6)
    return {"ai": round(ai, 6), "real": round(min(real, ai), 6)}


def make(thr: dict[str, float] | None = None) -> LogisticFusion:
    return LogisticFusion(C=1.0, drop_rate=0.3, n_drop_copies=4, priors=signal_priors(), class_weight="balanced",
                          thresholds=thr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=REPO / "fusion" / "data" / "default_fusion.json")
    args = ap.parse_args(argv)
    rows = json.loads((args.cache / "rows.json").read_text())
    S = score_rows(args.cache, rows)
    ok = np.array(["error" not in r for r in rows])
    fit_rows = ok & np.array([r["split"] == "fit" for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], dtype=int)
    fold = family_folds(rows)

    def train(idx: np.ndarray, thr=None) -> LogisticFusion:
        return make(thr).fit([S[c][i] for c in CONDITIONS for i in idx], np.tile(y[idx], len(CONDITIONS)), fitted=list(PIXEL))

    # level 1: fused probabilities of every image from a fusion that never saw its fold
    P = {c: np.full(len(rows), np.nan) for c in CONDITIONS}
    for k in range(fold.max() + 1):
        m = train(np.flatnonzero(fit_rows & (fold != k)))
        te = np.flatnonzero(ok & (fold == k))
        for c in CONDITIONS:
            P[c][te] = m.predict_proba([S[c][i] for i in te])[:, 1]
    # level 2: each fold's verdicts under thresholds chosen on the other folds' held-out probabilities
    verdict = {c: np.full(len(rows), "", dtype=object) for c in CONDITIONS}
    pooled_y = np.tile(y, len(CONDITIONS))
    pooled_p = np.concatenate([P[c] for c in CONDITIONS])
    pooled_fold = np.tile(fold, len(CONDITIONS))
    pooled_ok = np.tile(ok & fit_rows, len(CONDITIONS))
    for k in range(fold.max() + 1):
        sel = pooled_ok & (pooled_fold != k)
        thr = thresholds(pooled_y[sel], pooled_p[sel])
        for c in CONDITIONS:
            te = np.flatnonzero(ok & (fold == k))
            verdict[c][te] = np.where(P[c][te] >= thr["ai"], "likely_ai", np.where(P[c][te] <= thr["real"], "likely_real", "inconclusive"))
    np.savez(args.cache / "fused_oof.npz", **{f"p_{c}": P[c] for c in CONDITIONS},
             **{f"verdict_{c}": verdict[c].astype(str) for c in CONDITIONS})

    sel = np.tile(ok & fit_rows, len(CONDITIONS))
    thr = thresholds(pooled_y[sel], pooled_p[sel])
    model = train(np.flatnonzero(fit_rows), thr)
    held = {c: binary_metrics(y[ok], P[c][ok]) for c in CONDITIONS}
    model.metrics_ = {
        "held_out": held,
        "how": "5 folds of whole generator families and real sources: every probability comes from pixel models "
               "and a fusion fitted without the image's family; conditions: as found (orig) and laundered (q75: centre "
               "crop <= 512, JPEG q75); docs/evaluation.md has the per-family figures",
        "thresholds_rule": f"ai: {REAL_AS_AI:.0%} of held-out-family reals above; real: {AI_AS_REAL:.0%} of held-out-family AI below",
    }
    model.signals_ = {s: fingerprint_of(create_signal(s)) for s in PIXEL}
    model.provenance_ = {
        "name": "default",
        "script": "scripts/fit_fusion.py",
        "data": {"images": int(fit_rows.sum()), "ai": int(y[fit_rows].sum()), "real": int((1 - y[fit_rows]).sum()),
                 "families": sorted({r["family"] for r, f in zip(rows, fit_rows) if f}),
                 "source": "../shared/corpus fit half and training_sources.csv (scripts/pixel_data.py)"},
        "priors": "declared on each signal class (scripts/fusion_priors.py lists them)",
        "training_files": sorted(r["path"].removeprefix("corpus/") for r, f in zip(rows, fit_rows) if f and r["path"].startswith("corpus/")),
    }
    args.out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    coefs = ", ".join(f"{s} {model.features_[s].coef:.3f}" for s in PIXEL)
    print(f"wrote {args.out}: {coefs}; intercept {model.intercept_:.3f}; thresholds {thr}")
    for c in CONDITIONS:
        print(c, {k: held[c][k] for k in ("auroc", "tpr_at_fpr_5pct", "ece")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
