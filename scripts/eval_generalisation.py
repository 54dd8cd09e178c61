"""How well the engine generalises to generator families it never saw: writes ``docs/evaluation.md``.

    python scripts/eval_generalisation.py --cache CACHE

Reads what ``scripts/pixel_data.py``, ``fit_pixel_heads.py``, ``train_npr.py --oof``,
``metadata_scores.py`` and ``fit_fusion.py`` left in CACHE. Every score is out-of-family: the
pixel models and the fusion that produced it were fitted without the image's fold of whole
generator families and real sources (5 folds). Verdicts use thresholds chosen without that
fold too. The conditions (``pixel_data.CONDITIONS``), applied to both classes alike: the files as
found; ``forensics evaluate``'s launderings (a lossless PNG re-save, JPEG q90, halved then JPEG
q90, all with the metadata stripped); and laundered as the hidden test set is (metadata
stripped, centre crop of at most 512 px, JPEG q75).

Reported: per-family AUROC (each AI family against every real image) with bootstrap 95 %
intervals that resample grid groups and scenes, for the fused score and for every pixel signal
alone; the false-positive rate of each real source (leave-one-real-source-out); the verdict
rates; ECE; and what each recipe of fakes made from reals (TAESD, AutoGAN) adds to ``npr``,
family by family.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import REPO  # noqa: E402
from fit_attribution import MARKER as ATTRIBUTION  # noqa: E402
from fit_fusion import PIXEL  # noqa: E402
from pixel_data import CONDITIONS, SAME_PIXELS  # noqa: E402

from forensics.calibration.metrics import expected_calibration_error  # noqa: E402

ABLATION = "## What the fakes made from reals add to `npr` (laundered)"

LABEL = {"orig": "as found", "png": "PNG re-save", "jpeg90": "JPEG q90", "downscale05": "halved, JPEG q90",
         "q75": "laundered (crop <= 512, JPEG q75)"}
DETAILED = ("orig", "q75")  # the conditions given signal by signal and source by source
N_BOOT = 200


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


def family_table(rows, y, s, groups, seed=0):
    """``{family: (auroc, lo, hi, n)}`` of each AI family against all reals with a score."""
    fam = np.array([r["family"] for r in rows])
    real = np.flatnonzero((y == 0) & np.isfinite(s))
    rng = np.random.default_rng(seed)
    rg = {g: np.flatnonzero(groups[real] == g) for g in np.unique(groups[real])}
    out = {}
    for f in sorted(set(fam[y == 1])):
        ai = np.flatnonzero((fam == f) & np.isfinite(s))
        ag = {g: np.flatnonzero(groups[ai] == g) for g in np.unique(groups[ai])}
        sa, sr = s[ai], s[real]
        a = roc_auc_score(np.r_[np.ones(len(ai)), np.zeros(len(real))], np.r_[sa, sr])
        boots = []
        ak, rk = list(ag), list(rg)
        for _ in range(N_BOOT):
            ia = np.concatenate([ag[ak[j]] for j in rng.integers(0, len(ak), len(ak))])
            ir = np.concatenate([rg[rk[j]] for j in rng.integers(0, len(rk), len(rk))])
            boots.append(roc_auc_score(np.r_[np.ones(len(ia)), np.zeros(len(ir))], np.r_[sa[ia], sr[ir]]))
        out[f] = (a, *np.percentile(boots, [2.5, 97.5]), len(ai))
    return out


def fmt_table(tables: dict[str, dict], cols: list[str]) -> list[str]:
    fams = sorted(next(iter(tables.values())))
    lines = ["| family | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for f in fams:
        n = next(iter(tables.values()))[f][3]
        lines.append(f"| {f} | {n} | " + " | ".join(f"{tables[c][f][0]:.2f} ({tables[c][f][1]:.2f}-{tables[c][f][2]:.2f})"
                                                    for c in cols) + " |")
    lines.append("| **mean** | | " + " | ".join(f"**{np.mean([v[0] for v in tables[c].values()]):.3f}**" for c in cols) + " |")
    lines.append("| **lowest** | | " + " | ".join(
        "**{:.2f}** ({})".format(*min(((v[0], f) for f, v in tables[c].items()))) for c in cols) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "evaluation.md")
    args = ap.parse_args(argv)
    cache = args.cache
    rows = json.loads((cache / "rows.json").read_text())
    ok = np.array(["error" not in r for r in rows])
    rows = [r for r, k in zip(rows, ok) if k]
    y = np.array([r["label"] == "ai" for r in rows], dtype=int)
    groups = np.array([r["group"] for r in rows])
    heads, npr, fused = np.load(cache / "oof_heads.npz"), np.load(cache / "oof_npr.npz"), np.load(cache / "fused_oof.npz")
    px = {c: SAME_PIXELS.get(c, c) for c in CONDITIONS}
    score = {c: {"fused": fused[f"p_{c}"][ok], "dct": heads[f"dct_{px[c]}"][ok], "effnet_probe": heads[f"eff_{px[c]}"][ok],
                 "npr": npr[px[c]][ok]} for c in CONDITIONS}
    verdict = {c: fused[f"verdict_{c}"][ok] for c in CONDITIONS}
    fam = np.array([r["family"] for r in rows])

    md = ["# Evaluation: generator families the models never saw", "",
          f"Written by `scripts/eval_generalisation.py` on {dt.date.today().isoformat()}. Reproduce with the commands in "
          "README's \"Layout and reproducing the shipped models\".", "",
          "**Material.** `../shared/corpus` and the sources of `../shared/corpus/training_sources.csv`, at most 400 images "
          f"per family or real source: {int(y.sum())} AI images from {len(set(fam[y == 1]))} families and {int((1 - y).sum())} "
          f"real photos from {len(set(fam[y == 0]))} sources. The corpus's holdout half is scored but never fitted on.", "",
          "**Out of family.** Families and real sources are split into 5 folds, each family or source wholly in one. Every "
          "score below comes from pixel models (and a fusion) fitted on the other 4 folds, so it measures the next generator, "
          "not the last. The fusion is Platt-rescaled, and its verdict thresholds chosen, on scores of folds that the "
          "fusions producing them did not see, all without the image's fold (`scripts/fit_fusion.py`).", "",
          "**Conditions**, for both classes alike. *As found*: the file's own bytes, with its metadata and format. "
          "*Laundered*: metadata stripped, centre crop of at most 512 px, JPEG q75 (the hidden test set's laundering). "
          "And `forensics evaluate`'s launderings of the whole image, metadata stripped: *PNG re-save* (lossless: the "
          "pixel signals see the original's pixels, only the metadata is gone), *JPEG q90*, and *halved, JPEG q90* "
          "(Lanczos). The first two are given in full, the others in the summary and the per-family table after it.", "",
          "Intervals are bootstrap 95 % intervals over grid groups and scenes (200 resamples). The metadata signals are not "
          "fitted and carry the same weights in every fold.", ""]
    summary, fused_tabs = {}, {}
    for c in CONDITIONS:
        tabs = {s: family_table(rows, y, score[c][s], groups) for s in (("fused",) + PIXEL if c in DETAILED else ("fused",))}
        fused_tabs[LABEL[c]] = tabs["fused"]
        v = verdict[c]
        p = score[c]["fused"]
        summary[c] = {"mean_family_auroc": float(np.mean([t[0] for t in tabs["fused"].values()])),
                      "min_family_auroc": float(min(t[0] for t in tabs["fused"].values())),
                      "ai_likely_real": float(np.mean(v[y == 1] == "likely_real")),
                      "real_likely_ai": float(np.mean(v[y == 0] == "likely_ai")),
                      "inconclusive": float(np.mean(v == "inconclusive")),
                      "ece": float(expected_calibration_error(y, p)), "ece_balanced": balanced_ece(y, p),
                      "auroc_pooled": float(roc_auc_score(y, p))}
        if c not in DETAILED:
            continue
        md += [f"## Per-family AUROC, {LABEL[c]}", "", *fmt_table(tabs, ["fused", *PIXEL]), ""]
        md += [f"### Real sources, {LABEL[c]}: share called `likely_ai` (each source held out)", "",
               "| real source | n | likely_ai | likely_real |", "|---|---|---|---|"]
        for f in sorted(set(fam[y == 0])):
            m = fam == f
            md.append(f"| {f.removeprefix('real:')} | {int(m.sum())} | {np.mean(v[m] == 'likely_ai'):.1%} | {np.mean(v[m] == 'likely_real'):.1%} |")
        md += ["", f"### AI families, {LABEL[c]}: verdicts", "", "| family | likely_ai | inconclusive | likely_real |",
               "|---|---|---|---|"]
        for f in sorted(set(fam[y == 1])):
            m = fam == f
            md.append(f"| {f} | {np.mean(v[m] == 'likely_ai'):.1%} | {np.mean(v[m] == 'inconclusive'):.1%} | {np.mean(v[m] == 'likely_real'):.1%} |")
        md.append("")
    md += ["## Summary", "", "| | " + " | ".join(LABEL[c] for c in CONDITIONS) + " |", "|---|" + "---|" * len(CONDITIONS)]
    names = {"mean_family_auroc": "mean per-family AUROC (fused)", "min_family_auroc": "lowest family AUROC",
             "auroc_pooled": "pooled AUROC", "ai_likely_real": "AI called `likely_real`",
             "real_likely_ai": "reals called `likely_ai`", "inconclusive": "inconclusive", "ece": "ECE",
             "ece_balanced": "ECE, classes weighed equally"}
    for k, label in names.items():
        vals = [summary[c][k] for c in CONDITIONS]
        if any(v is None for v in vals):
            continue
        pct = k in ("ai_likely_real", "real_likely_ai", "inconclusive")
        md.append(f"| {label} | " + " | ".join(f"{v:.1%}" if pct else f"{v:.3f}" for v in vals) + " |")
    md.append("")
    md += ["### Per-family AUROC of the fused score, every condition", "", *fmt_table(fused_tabs, list(fused_tabs)), ""]
    old = args.out.read_text() if args.out.is_file() else ""
    ablations = {p.stem.removeprefix("oof_npr_"): np.load(p) for p in sorted(cache.glob("oof_npr_*.npz"))}
    if not ablations and ABLATION in old:
        # the ablations take an hour to train: without them in this cache, the last measured table
        # is kept, marked with the run it came from
        kept_ablation = old[old.index(ABLATION):].split("\n## ")[0].split(ATTRIBUTION)[0].rstrip("\n")
        when = re.search(r"\bon (\d{4}-\d\d-\d\d)", old)
        note = (f"*Kept from an earlier run of this script{' (' + when.group(1) + ')' if when else ''}: this cache "
                f"(`{cache.name}`) holds no `oof_npr_*.npz`, so "
                "the table below, its shipped column included, comes from the `npr` trained then, not from the one "
                "evaluated above. `train_npr.py --oof --recipes ...` trains the ablations again.*")
        if not kept_ablation.split("\n\n")[1].startswith("*Kept from"):
            head, rest = kept_ablation.split("\n\n", 1)
            kept_ablation = f"{head}\n\n{note}\n\n{rest}"
        md += [kept_ablation, ""]
    if ablations:
        shipped = json.loads((REPO / "signals" / "data" / "npr.json").read_text())["training"]["fakes_made_from_reals"]["recipes"]
        cols = {f"{' and '.join(shipped) or 'none'} (shipped)": family_table(rows, y, score["q75"]["npr"], groups)}
        for name, a in ablations.items():
            cols[name.replace("+", " and ")] = family_table(rows, y, a["q75"][ok], groups)
        md += [ABLATION, "",
               "The same network trained with different fakes made from the real photos themselves: passed through the "
               "tiny FLUX.2 autoencoder (`taesd`, `scripts/taesd_fakes.py`: latent-decoder traces) and through an "
               "autoencoder with a GAN generator's transposed-convolution decoder (`autogan`, `scripts/autogan_fakes.py`, "
               "the AutoGAN recipe: up-sampling traces); out-of-family AUROC per family of `npr` alone. Each column "
               "names the recipes it was trained with (`none`: the generated images only).", "",
               *fmt_table(cols, list(cols)), ""]
    kept = old[old.index(ATTRIBUTION):] if ATTRIBUTION in old else ""  # fit_attribution.py's section
    args.out.write_text("\n".join(md) + "\n" + ("\n" + kept if kept else ""))
    (cache / "evaluation_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
