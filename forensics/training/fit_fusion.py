"""Fit the embedded default fusion on out-of-family scores and write ``fusion/data/default_fusion.json``.

    python -m forensics.training.fit_fusion --cache CACHE

Run after the stages that write the pixel signals' scores (``forensics.training.pixel_signals``:
``fit_pixel_heads``, ``train_npr --oof``) and ``signal_scores``. The corpus's holdout half is never fitted on.

* Fitted features: the pixel signals of ``pixel_signals.PIXEL_SIGNALS`` that rank no
  generator family they were not trained on below the reals beyond chance. Their training scores
  are out-of-family: each image was scored by a model fitted without its fold's generator families
  and real sources. A signal whose out-of-family scores rank some family's AI images below the
  reals (per-family AUROC whose 95 % upper bound, Hanley and McNeil's standard error, is under
  0.5, as found or laundered, on the rows the fusion is fitted on) gets no weight: the next
  generator may be such a family, and a weight learned on the families it knows would push that
  generator's images towards "real". A family ranked at chance (pix2pix by ``effnet_probe``,
  AUROC 0.49 over 200 images) does not exclude a signal: it gets no evidence from it either way.
  On 2026-12-03 this left out ``npr`` (laundered: pix2pix 0.12, CycleGAN 0.26, AnimeGAN 0.39),
  in every fold, and on 2026-12-02 ``dct`` (Midjourney v3 0.43 and DALL-E 2 0.48 as found,
  GPT-4o 0.45 laundered); they still run when named and report their evidence, "not weighed by
  this fusion". Each evaluation fold makes the choice without its own rows. Rows come from two
  conditions, the files as found and laundered (centre crop <= 512, JPEG q75), so the weights
  hold on both. Classes are balanced (even prior odds) and fitted features are dropped at
  random (``drop_rate`` 0.3), so that the rest still give a meaningful probability when one
  cannot run.
* One neutral point: each pixel signal's score is a log-odds at even odds (0 = no evidence
  either way), so its feature is not centred (``center`` 0) and the intercept is not fitted
  (0, the prior log-odds at even odds). A signal that did not run adds 0, an image with no
  evidence gets P = 0.5, and a contribution has the sign of its score.
* Metadata and neural signals enter with the priors their classes declare (``prior``,
  ``decisive_at``); their scores on each row enter the fit as offsets.
* The fitted part is then Platt-rescaled (``LogisticFusion.rescale``) to the scale it has on
  families it did not see: fitted on the families it knows, it is over- or under-confident on
  the next one. The scale alone is fitted (no shift, which would move the neutral point), on
  out-of-fold fused scores (each fold scored by a fusion fitted without it).
* Verdict thresholds are chosen on the same held-out scores under the same rescaling, with every
  AI family and every real source weighed alike (the GAN families and laundered copies count as
  much as the large, easy sets): ``ai`` keeps 1 % of held-out reals above it and ``real`` 3 % of
  held-out AI images below it (aiming at 2 % and 5 % on new sources and families), and
  ``real_small`` 1 % of the held-out AI images analysed at under ``SMALL_SIDE`` (448) px a side
  (at most ``real``): on 256-px images the probe tells image-to-image GAN outputs from photos at
  chance, and a threshold chosen over every size cleared a third of them (with 3 % of that size's
  held-out AI below it, 8.7 % of the held-out families' images of that size fell below). At even odds
  a threshold ``p`` is the likelihood ratio ``p / (1 - p)``, which the fusion's metrics state.
  For the evaluation, each fold's fusion, its
  rescaling and its thresholds all come from the other folds (fusions fitted without the fold
  and a second one, scored on that second one). A fusion fitted on in-distribution scores would
  place them where only the last generator's images fall.

Writes ``CACHE/fused_oof.npz``: per condition of ``pixel_data.CONDITIONS``, each image's
out-of-family fused probability (from a fusion fitted and rescaled without its fold) and the
verdict under thresholds chosen without its fold (what ``forensics.training.eval_generalisation``
reports). The same for the size-matched reals (``fake_features.SIZE_MATCHED``: every real photo
brought to 256 x 256), in their source's fold: laundered (``real256_q75``: the probe's score of the
laundered frame, the metadata signals' scores of the photo laundered at q75) and lossless
(``real256_png``: of the lossless frame, and of the photo re-saved as PNG without its metadata).
The pixel signals other than ``effnet_probe`` were not run on these frames and count as not run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from forensics.calibration import binary_metrics
from forensics.evaluation.laundering import HIDDEN_SET_CROP
from forensics.fusion import LogisticFusion, platt_scale, signal_priors
from forensics.fusion.logistic import SMALL_SIDE, real_threshold_key
from forensics.signals import create_signal, fingerprint_of
from forensics.training.corpus import REPO
from forensics.training.fake_features import SIZE_MATCHED
from forensics.training.folds import family_folds
from forensics.training.metrics import auroc_se, family_aurocs
from forensics.training.pixel_data import CONDITIONS
from forensics.training.pixel_signals import PIXEL_SIGNALS, pixel_scores

MIN_FAMILY_AUROC = 0.5  # a pixel signal ranking some family below the reals beyond chance gets no fitted weight
FIT_CONDITIONS = ("orig", "q75")  # the fusion's rows; every condition of CONDITIONS is scored
REAL_AS_AI = 0.01   # share of held-out reals above the ai threshold (aims at <= 2 % on new sources)
AI_AS_REAL = 0.03   # share of held-out AI below the real threshold (aims at <= 5 % on new families)
#: share of the held-out AI analysed at under SMALL_SIDE px below the real_small threshold: at 3 % the
#: held-out families of that size fell below it at 3 times that rate (docs/evaluation.md, "Small images")
SMALL_AI_AS_REAL = 0.01
#: the size-matched reals' conditions -> (the probe's condition, the condition whose metadata scores they share)
SIZED = {f"{SIZE_MATCHED}_q75": ("q75", "q75"), f"{SIZE_MATCHED}_png": ("orig", "png")}


def score_rows(cache: Path, rows: list[dict]) -> dict[str, list[dict]]:
    """``{condition: [row scores]}``: the signal scores of ``signal_scores`` (metadata signals and
    pixel signals scored as shipped) and the pixel signals' out-of-family scores."""
    meta = json.loads((cache / "signal_scores.json").read_text())
    pixel = pixel_scores(cache, meta)
    out = {}
    for c in CONDITIONS:
        out[c] = []
        for i in range(len(rows)):
            row = dict(meta[i].get(c, {}))
            for s in pixel:
                v = float(pixel[s][c][i])
                row[s] = v if np.isfinite(v) else None
            out[c].append(row)
    return out


def size_matched_rows(cache: Path, S: dict[str, list[dict]]) -> tuple[np.ndarray, dict[str, list[dict]]]:
    """The rows each size-matched real photo was made from, and ``{SIZED condition: [row scores]}``:
    ``effnet_probe``'s out-of-family score of the frame, the metadata signals' of its photo laundered alike."""
    where = PIXEL_SIGNALS["effnet_probe"]
    with np.load(cache / where.file) as npz:
        src = npz[f"{SIZE_MATCHED}_src"]
        probe = {c: npz[where.key.format(crop=f"{SIZE_MATCHED}_{c}")] for c in ("orig", "q75")}
    out = {}
    for name, (pc, mc) in SIZED.items():
        out[name] = [{**{k: v for k, v in S[mc][i].items() if k not in PIXEL_SIGNALS},
                      "effnet_probe": float(probe[pc][n]) if np.isfinite(probe[pc][n]) else None} for n, i in enumerate(src)]
    return src, out


def short_sides(rows: list[dict], condition: str) -> np.ndarray:
    """Each row's shorter side in pixels as the engine analyses it in ``condition`` (of
    ``pixel_data.CONDITIONS`` or ``SIZED``); 0 where it is not known."""
    side = np.array([min(r.get("height", 0), r.get("width", 0)) for r in rows])
    if condition == "q75":
        return np.minimum(side, HIDDEN_SET_CROP)
    if condition == "downscale05":
        return np.round(side * 0.5).astype(int)
    if condition in SIZED:
        return np.full(len(rows), 256)
    return side


def weighted_quantile(v: np.ndarray, w: np.ndarray, q: float) -> float:
    """The least value of ``v`` at or below which lies a share ``q`` of the weight ``w``."""
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    return float(v[order][min(int(np.searchsorted(cum, q)), len(v) - 1)])


def thresholds(y: np.ndarray, p: np.ndarray, family: np.ndarray, side: np.ndarray) -> dict[str, float]:
    """Verdict thresholds with every AI family and every real source weighed alike, so that the
    hard cases (GAN families, small real sources) count as much as the large, easy ones; ``side``:
    each row's shorter side as analysed, for the small images' likely_real threshold."""
    def weights(m: np.ndarray) -> np.ndarray:
        w = np.zeros(len(y))
        for f in np.unique(family[m]):
            mf = m & (family == f)
            w[mf] = 1.0 / mf.sum()
        return w

    w = weights(np.ones(len(y), bool))
    ai = weighted_quantile(p[y == 0], w[y == 0], 1 - REAL_AS_AI)
    real = weighted_quantile(p[y == 1], w[y == 1], AI_AS_REAL)
    ai = min(max(ai, 1e-6), 1 - 1e-6)
    out = {"ai": round(ai, 6), "real": round(min(real, ai), 6)}
    small = (y == 1) & (side < SMALL_SIDE)
    if small.any():
        out["real_small"] = round(min(weighted_quantile(p[small], weights(small)[small], SMALL_AI_AS_REAL), out["real"]), 6)
    return out


def make(thr: dict[str, float] | None = None) -> LogisticFusion:
    """The default fusion's settings: no fitted intercept and uncentred features, so that no
    evidence is P = 0.5 and each pixel signal's log-odds contributes with its own sign."""
    return LogisticFusion(C=1.0, drop_rate=0.3, n_drop_copies=4, priors=signal_priors(), class_weight="balanced",
                          fit_intercept=False, with_mean=False, thresholds=thr)


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
    family = np.array([r["family"] for r in rows])
    scored = [s for s in PIXEL_SIGNALS if any(s in row for row in S["orig"])]  # dct only from a cache made with pixel_data --dct

    def lowest_family_auroc(idx: np.ndarray, signal: str) -> tuple[float, float, str, str]:
        """The signal's per-family AUROC (out-of-family scores) over the AI families of ``idx``
        against its reals, in any fit condition, with the lowest 95 % upper bound:
        ``(upper bound, auroc, family, condition)``."""
        out = (1.0, 1.0, "", "")
        for c in FIT_CONDITIONS:
            v = np.array([np.nan if S[c][i].get(signal) is None else S[c][i][signal] for i in idx])
            n_real = int(np.sum(np.isfinite(v) & (y[idx] == 0)))
            for f, auc in family_aurocs([rows[i] for i in idx], y[idx], v).items():
                n_ai = int(np.sum(np.isfinite(v) & (family[idx] == f)))
                out = min(out, (auc + 1.96 * auroc_se(auc, n_ai, n_real), auc, f, c))
        return out

    def train(idx: np.ndarray, thr=None) -> LogisticFusion:
        fitted = [s for s in scored if lowest_family_auroc(idx, s)[0] >= MIN_FAMILY_AUROC]
        return make(thr).fit([S[c][i] for c in FIT_CONDITIONS for i in idx], np.tile(y[idx], len(FIT_CONDITIONS)),
                             fitted=fitted)

    def platt(models: dict[int, LogisticFusion]) -> tuple[float, float]:
        """Platt scale and shift of the fitted part on the fit rows of each fold in ``models``,
        scored by the fusion fitted without that fold."""
        parts, offsets, labels = [], [], []
        for j, m in models.items():
            idx = np.flatnonzero(fit_rows & (fold == j))
            for c in FIT_CONDITIONS:
                part, offset = m.split_logit([S[c][i] for i in idx])
                parts.append(part)
                offsets.append(offset)
                labels.append(y[idx])
        return platt_scale(np.concatenate(parts), np.concatenate(offsets), np.concatenate(labels), shift=False)

    def rescaled_thresholds(models: dict[int, LogisticFusion], a: float, b: float) -> dict[str, float]:
        """Rescale each fusion in ``models`` by ``(a, b)`` (in place) and choose the verdict thresholds
        on the fit rows of the fold each one did not see."""
        held_p, held_y, held_f, held_s = [], [], [], []
        for j, m in models.items():
            m.rescale(a, b)
            idx = np.flatnonzero(fit_rows & (fold == j))
            for c in FIT_CONDITIONS:
                held_p.append(m.predict_proba([S[c][i] for i in idx])[:, 1])
                held_y.append(y[idx])
                held_f.append(family[idx])
                held_s.append(side[c][idx])
        return thresholds(np.concatenate(held_y), np.concatenate(held_p), np.concatenate(held_f), np.concatenate(held_s))

    # Every image gets its probability from a fusion fitted and rescaled without its fold k, and its
    # verdict from thresholds chosen without k: the rescaling comes from fusions fitted without k and
    # a second fold j (scored on j), and the thresholds from those same scores under that rescaling,
    # so that fold k's probabilities and thresholds share one mapping.
    folds = range(fold.max() + 1)
    sized_src, sized = size_matched_rows(args.cache, S)
    side = {c: short_sides(rows, c) for c in CONDITIONS} | {c: short_sides([rows[i] for i in sized_src], c) for c in SIZED}
    P = {c: np.full(len(rows), np.nan) for c in CONDITIONS} | {c: np.full(len(sized_src), np.nan) for c in SIZED}
    verdict = {c: np.full(len(P[c]), "", dtype=object) for c in P}
    outer = {k: train(np.flatnonzero(fit_rows & (fold != k))) for k in folds}
    for k in folds:
        inner = {j: train(np.flatnonzero(fit_rows & (fold != k) & (fold != j))) for j in folds if j != k}
        a, b = platt(inner)
        thr = rescaled_thresholds(inner, a, b)
        m = LogisticFusion.from_dict(outer[k].to_dict())
        m.rescale(a, b)
        print(f"fold {k}: pixel signals {sorted(set(PIXEL_SIGNALS) & set(m.features_))}; Platt scale {a:.3f}, shift {b:+.3f}; "
              f"thresholds {thr}", flush=True)
        te = np.flatnonzero(ok & (fold == k))
        te_sized = np.flatnonzero(fold[sized_src] == k)
        for c, idx, scores in [(c, te, S[c]) for c in CONDITIONS] + [(c, te_sized, sized[c]) for c in SIZED]:
            P[c][idx] = m.predict_proba([scores[i] for i in idx])[:, 1]
            real = np.array([thr[real_threshold_key(thr, s)] for s in side[c][idx]])
            verdict[c][idx] = np.where(P[c][idx] >= thr["ai"], "likely_ai", np.where(P[c][idx] <= real, "likely_real", "inconclusive"))
    np.savez(args.cache / "fused_oof.npz", **{f"p_{c}": P[c] for c in P}, **{f"verdict_{c}": verdict[c].astype(str) for c in P},
             **{f"{SIZE_MATCHED}_src": sized_src})

    # the shipped fusion: fitted on every fold, rescaled as the fold fusions needed on the folds they
    # did not see, with thresholds from those held-out probabilities under the same rescaling
    a, b = platt(outer)
    thr = rescaled_thresholds(outer, a, b)
    model = train(np.flatnonzero(fit_rows), thr)
    model.rescale(a, b)
    held = {c: binary_metrics(y[ok], P[c][ok]) for c in CONDITIONS}
    model.metrics_ = {
        "held_out": held,
        "how": "5 folds of whole generator families and real sources: every probability comes from pixel models "
               "and a fusion fitted without the image's family; fitted on two conditions, as found (orig) and laundered "
               "(q75: centre crop <= 512, JPEG q75), and also measured on forensics evaluate's png, jpeg90 and "
               "downscale05; docs/evaluation.md has the per-family figures",
        "rescaled": {"a": round(a, 6), "b": round(b, 6),
                     "how": "Platt scaling of the fitted part on out-of-fold fused scores (each fold scored by a fusion "
                            "fitted without it), classes weighed equally"},
        "thresholds_rule": f"ai: {REAL_AS_AI:.0%} of held-out-family reals above; real: {AI_AS_REAL:.0%} of held-out-family AI "
                           f"below; real_small: {SMALL_AI_AS_REAL:.0%} of the held-out-family AI analysed at under {SMALL_SIDE} px a "
                           "side below; every AI family and every real source weighed alike",
        "thresholds_likelihood_ratio": {k: round(v / (1 - v), 4) if v < 1 else None for k, v in thr.items()},
        "neutral_point": "intercept 0 (even prior odds) and fitted features uncentred (their scores are log-odds at even "
                         "odds): no evidence gives P = 0.5, and the thresholds, probabilities at even odds, are the "
                         "likelihood ratios above",
        "pixel_signals": {s: {"lowest_family_auroc_upper_95": round(u_, 4), "auroc": round(a_, 4), "family": f_,
                              "condition": c_, "weighed": s in model.features_}
                          for s in scored for u_, a_, f_, c_ in [lowest_family_auroc(np.flatnonzero(fit_rows), s)]},
        "pixel_signals_rule": f"a pixel signal is weighed only if no family's AUROC against the reals, out of family, as "
                              f"found and laundered, has a 95 % upper bound (Hanley-McNeil) under {MIN_FAMILY_AUROC}",
    }
    model.signals_ = {s: fingerprint_of(create_signal(s)) for s in PIXEL_SIGNALS if s in model.features_}
    model.provenance_ = {
        "name": "default",
        "script": "forensics.training.fit_fusion",
        "data": {"images": int(fit_rows.sum()), "ai": int(y[fit_rows].sum()), "real": int((1 - y[fit_rows]).sum()),
                 "families": sorted({r["family"] for r, f in zip(rows, fit_rows) if f}),
                 "source": "../shared/corpus fit half and training_sources.csv (forensics.training.pixel_data)"},
        "priors": "declared on each signal class (forensics.training.fusion_priors lists them)",
        "training_files": sorted(r["path"].removeprefix("corpus/") for r, f in zip(rows, fit_rows) if f and r["path"].startswith("corpus/")),
    }
    args.out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    coefs = ", ".join(f"{s} {model.features_[s].coef:.3f}" if s in model.features_ else f"{s} not weighed" for s in PIXEL_SIGNALS)
    print(f"wrote {args.out}: {coefs}; intercept {model.intercept_:.3f}; Platt a {a:.3f}, b {b:+.3f}; thresholds {thr}")
    for c in CONDITIONS:
        print(c, {k: held[c][k] for k in ("auroc", "tpr_at_fpr_5pct", "ece")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
