"""Fit and evaluate generator attribution: ``forensics/data/attribution.json`` and
``docs/generated/attribution.md`` (with ``docs/generated/attribution_confusion.svg``).

    python -m forensics.training.fit_attribution --cache CACHE --train-dir DIR

CACHE is what ``forensics.training.pixel_data`` wrote, DIR what ``extract_sources.py`` wrote. Only AI
images of the fit split are used (the corpus's holdout half is never fitted on); real images
play no part, since attribution runs only on images judged ``likely_ai``. Besides the capped
rows of the cache, every SD 1.x image of the corpus's fit half and of the SD beta set is added
(features computed as ``pixel_data.py`` computes them, kept in ``CACHE/attribution_extra.npz``):
in the cache, 372 of the 392 SD 1.x images are SD 1.5 grid tiles, and a family of one source
teaches the source, not the family.

The model (see ``forensics/attribution.py``):

* a standardised multinomial L2 logistic regression from ``effnet_probe``'s pooled channel means
  (its result's ``features``; on their spreads too it named unseen families wrongly more often,
  docs/pixels.md) to the generator families of the material (21 since round 2), fitted on the two training variants (``aug`` and ``web``) of each
  image, every family weighing the same;
* the ``unknown`` model, a logistic regression on three summaries of the family probabilities
  (``forensics.attribution.unknown_inputs``), fitted to tell an image of a trained family
  (label 0: its probabilities from a multinomial fitted without the image's group fold) from an
  image of a family the multinomial never saw (label 1: its probabilities from a multinomial
  fitted without its whole family). Every family and label weighs the same, so the prior share
  of "a family never seen" is one half. Its coefficients are held to the signs that make the
  share grow as the probabilities spread (``UNKNOWN_SIGNS``).

The evaluation, on the laundered (``q75``: centre crop of at most 512 px, JPEG q75) and as-found
(``orig``) variants, is out of sample throughout:

* in-family, sources held out: each source of a family with several (SD 1.x: the SD 1.5 tiles,
  SD beta, the corpus's two sets; GPT-4o: re-shared images, gpt-image-1 examples) is scored by a
  model fitted without that source; a family of one source can only be split by groups (5
  folds of whole groups: grid tiles and prompt sets stay together). Top-1 and top-3 accuracy,
  how often a family is named, and how often the named one is right;
* leave-one-family-out: each family scored by a multinomial that never saw it, with an
  ``unknown`` model fitted without that family's records either; how often it comes out
  ``unknown`` against how often it gets a confident wrong name.

The regularisation strength is picked on the in-family splits (the best mean per-family top-1
at q75), which makes the in-family figures slightly optimistic; the leave-family-out figures
use the same strength.

With the P(AI) gate: attribution runs only on images the engine calls ``likely_ai``. For the
cache's images, ``CACHE/fused_oof.npz`` (``forensics.training.fit_fusion``) holds that verdict from a
fusion that never saw the image's family, so the evaluation also gives, per family, how many
images reach attribution at all and how many of all its images end up named right or wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from forensics.attribution import FORMAT, FORMAT_VERSION, family_label, unknown_inputs
from forensics.hashing import sha256_bytes, sha256_file
from forensics.signals.effnet_probe import EffnetProbeSignal
from forensics.signals.effnet_views import MEANS
from forensics.training.corpus import DEFAULT_CORPUS, REPO, group_of, labelled, source_of, split_of
from forensics.training.pixel_data import job
from forensics.training.seeds import hash_seed

TRAIN_VARIANTS = ("aug", "web")
EVAL_VARIANTS = ("q75", "orig")
C_GRID = (0.003, 0.01)
#: fetched sets added whole (beyond the cache's cap), besides the corpus's fit half
EXTRA_GENERATORS = {"Stable Diffusion beta (2022)": "sd1"}
K = 5
MIN_SHARE = 0.5
OUT = REPO / "forensics" / "data" / "attribution.json"
DOC = REPO / "docs" / "generated" / "attribution.md"
SVG = DOC.parent / "attribution_confusion.svg"


def source_id(path: str, generator: str) -> str:
    return "corpus:" + source_of(path) if path.startswith("corpus/") else generator


def features_version() -> str:
    """sha256 over what the extra images' features come from (the probe's windows and graph, the
    material's processing): ``CACHE/attribution_extra.npz`` is reused only while it is the same."""
    parts = (REPO / "signals" / "effnet_views.py", REPO / "signals" / "data" / "effnet_lite0.onnx", Path(__file__).with_name("pixel_data.py"))
    return sha256_bytes(" ".join(sha256_file(p) for p in parts).encode())


def material(cache: Path, corpus: Path, train_dir: Path, workers: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """AI rows of the fit split with their features: the cache's, and the extra SD 1.x images."""
    rows = json.loads((cache / "rows.json").read_text())
    variants = TRAIN_VARIANTS + EVAL_VARIANTS
    with np.load(cache / "features.npz") as npz:  # each read of an npz member decompresses it anew: once each
        feats = {v: npz[f"eff_{v}"] for v in variants}
    finite = np.all([np.isfinite(feats[v]).all(axis=1) for v in variants], axis=0)
    keep = [i for i, r in enumerate(rows) if r["label"] == "ai" and r["split"] == "fit" and "error" not in r and finite[i]]
    out = [{"path": rows[i]["path"], "family": rows[i]["family"], "group": rows[i]["group"],
            "source": source_id(rows[i]["path"], rows[i]["generator"]), "cache_row": i} for i in keep]
    x = {v: feats[v][keep, :MEANS] for v in variants}
    have = {r["path"] for r in rows}
    extra = []
    for base, tag in ((corpus, "corpus"), (train_dir, "train")):
        for r in labelled(base):
            path = f"{tag}/{r['path']}"
            if r["label"] != "ai" or path in have or r["path"].startswith("provenance/"):
                continue
            fam = "sd1" if tag == "corpus" else EXTRA_GENERATORS.get(r["generator"])
            if fam and (tag != "corpus" or split_of(r["path"]) == "fit"):
                extra.append({"file": r["file"], "path": path, "family": fam,
                              "group": f"{tag}/{group_of(r['path'])}", "source": source_id(path, r["generator"])})
    extra.sort(key=lambda r: r["path"])
    store = cache / "attribution_extra.npz"
    version = features_version()
    if store.is_file() and (old := dict(np.load(store))).get("version") == version and list(old["paths"]) == [r["path"] for r in extra]:
        ex = old
    else:
        with Pool(workers) as pool:
            res = list(pool.imap(partial(job, only=variants), extra, chunksize=4))
        bad = [r["path"] for r, o in zip(extra, res) if "error" in o]
        if bad:
            raise SystemExit(f"unreadable extra images: {bad}")
        ex = {"version": np.array(version), "paths": np.array([r["path"] for r in extra]),
              **{v: np.stack([o[f"eff_{v}"] for o in res]) for v in variants}}
        np.savez(store, **ex)
    out += [{**{k: r[k] for k in ("path", "family", "group", "source")}, "cache_row": None} for r in extra]
    return out, {v: np.concatenate([x[v], ex[v][:, :MEANS]]) for v in variants}


def group_fold(group: str) -> int:
    return hash_seed(f"attribution|{group}", 4) % K


def family_weights(fam: np.ndarray, source: np.ndarray | None = None) -> np.ndarray:
    """Every family weighs the same, and within a family every source; the weights average 1."""
    w = np.zeros(len(fam))
    src = fam if source is None else source
    for f in np.unique(fam):
        in_f = fam == f
        sources = np.unique(src[in_f])
        for s in sources:
            m = in_f & (src == s)
            w[m] = 1.0 / (len(sources) * m.sum())
    return w * len(w) / w.sum()


class Multinomial:
    def __init__(self, c: float) -> None:
        self.c = c

    def fit(self, x: np.ndarray, fam: np.ndarray, source: np.ndarray) -> "Multinomial":
        self.scaler_ = StandardScaler().fit(x)
        self.classes_ = sorted(set(fam))
        y = np.array([self.classes_.index(f) for f in fam])
        self.lr_ = LogisticRegression(C=self.c, max_iter=3000).fit(self.scaler_.transform(x), y,
                                                                   sample_weight=family_weights(fam, source))
        return self

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.lr_.predict_proba(self.scaler_.transform(x))


def train_xy(feats, idx, fam, src):
    x = np.concatenate([feats[v][idx] for v in TRAIN_VARIANTS])
    return x, np.concatenate([fam[idx]] * len(TRAIN_VARIANTS)), np.concatenate([src[idx]] * len(TRAIN_VARIANTS))


def holdout_units(fam: np.ndarray, src: np.ndarray, fold: np.ndarray) -> list[np.ndarray]:
    """The in-family test sets: each source of a family with several; group folds of the rest."""
    multi = {f for f in set(fam) if len(set(src[fam == f])) > 1}
    in_multi = np.isin(fam, sorted(multi))
    units = [np.flatnonzero(~in_multi & (fold == k)) for k in range(K)]
    units += [np.flatnonzero(in_multi & (src == s)) for s in sorted(set(src[in_multi]))]
    return [u for u in units if len(u)]


#: the sign each input of the unknown model (``unknown_inputs``: log of the largest probability, its
#: margin over the second, normalised entropy) must carry: a more peaked spread never makes "a family
#: never seen" likelier, a flatter one never less likely. Unconstrained, the 15-family fit of
#: 2026-12-02 gave the largest probability a positive weight (+1.6), and the 21-family refit of
#: 2026-12-03 gave an even spread an unknown share of 0.35.
UNKNOWN_SIGNS = (-1.0, -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class UnknownModel:
    """``share = sigmoid(intercept + coef . unknown_inputs(probs))``, as ``forensics.attribution`` reads it."""

    coef: np.ndarray
    intercept: float

    def share(self, probs: np.ndarray) -> np.ndarray:
        return expit(self.intercept + np.array([unknown_inputs(p) for p in probs]) @ self.coef)


def fit_unknown(records: list[dict]) -> UnknownModel:
    """The ``unknown`` model over ``records`` ({"x", "label", "family"}), each family and label
    weighing the same: an L2 logistic regression (C = 1, the intercept not penalised) whose
    coefficients keep the signs of ``UNKNOWN_SIGNS`` (L-BFGS-B within bounds)."""
    x = np.array([r["x"] for r in records])
    y = np.array([r["label"] for r in records], dtype=np.float64)
    key = np.array([f"{r['family']}|{r['label']}" for r in records])
    w = family_weights(key)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] + x @ theta[1:]
        g = w * (expit(z) - y)
        value = float(np.sum(w * (np.logaddexp(0.0, z) - y * z)) + 0.5 * theta[1:] @ theta[1:])
        return value, np.concatenate([[g.sum()], x.T @ g + theta[1:]])

    bounds = [(None, None)] + [(0.0, None) if s > 0 else (None, 0.0) for s in UNKNOWN_SIGNS]
    res = minimize(loss, np.zeros(1 + len(UNKNOWN_SIGNS)), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000})
    if not res.success:
        raise SystemExit(f"the unknown model did not converge: {res.message}")
    return UnknownModel(res.x[1:], float(res.x[0]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--train-dir", type=Path, required=True, help="output folder of extract_sources.py")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    rows, feats = material(args.cache, args.corpus, args.train_dir, args.workers)
    fam = np.array([r["family"] for r in rows])
    src = np.array([r["source"] for r in rows])
    fold = np.array([group_fold(r["group"]) for r in rows])
    idx_all = np.arange(len(rows))
    families = sorted(set(fam))
    units = holdout_units(fam, src, fold)
    print(f"{len(rows)} AI images, {len(families)} families, {len(units)} in-family held-out sets", flush=True)

    # in-family out-of-sample probabilities, for each C
    oof: dict[float, dict[str, np.ndarray]] = {}
    for c in C_GRID:
        oof[c] = {v: np.full((len(rows), len(families)), np.nan) for v in EVAL_VARIANTS}
        for te in units:
            m = Multinomial(c).fit(*train_xy(feats, np.setdiff1d(idx_all, te), fam, src))
            if m.classes_ != families:
                raise SystemExit(f"holding out {sorted(set(src[te]))} removes a whole family")
            for v in EVAL_VARIANTS:
                oof[c][v][te] = m.proba(feats[v][te])
        top1 = np.mean([np.mean(np.argmax(oof[c]["q75"][fam == f], 1) == families.index(f)) for f in families])
        print(f"C={c}: mean per-family top-1 at q75 {top1:.3f}", flush=True)
        oof[c]["_top1"] = top1
    c_best = max(C_GRID, key=lambda c: oof[c]["_top1"])
    probs_in = oof[c_best]

    # leave-one-family-out probabilities (over the 14 other families)
    lofo: dict[str, dict[str, np.ndarray]] = {}
    for f in families:
        tr, te = np.flatnonzero(fam != f), np.flatnonzero(fam == f)
        m = Multinomial(c_best).fit(*train_xy(feats, tr, fam, src))
        lofo[f] = {v: m.proba(feats[v][te]) for v in EVAL_VARIANTS}
        print(f"left out {f}", flush=True)

    records = []
    for v in EVAL_VARIANTS:
        for i in idx_all:
            records.append({"x": unknown_inputs(probs_in[v][i]), "label": 0, "family": fam[i]})
        for f in families:
            for p in lofo[f][v]:
                records.append({"x": unknown_inputs(p), "label": 1, "family": f})

    # evaluation, per family and variant; the unknown model never saw the family it judges
    gate = gate_verdicts(args.cache, rows)
    ev: dict[str, dict[str, dict[str, float]]] = {v: {} for v in EVAL_VARIANTS}
    confusion = {v: np.zeros((len(families), len(families))) for v in EVAL_VARIANTS}
    for f in families:
        um = fit_unknown([r for r in records if r["family"] != f])
        ii = np.flatnonzero(fam == f)
        j = families.index(f)
        for v in EVAL_VARIANTS:
            p = probs_in[v][ii]
            rank = np.argsort(-p, 1)
            share = p * (1 - um.share(p))[:, None]
            named = share.max(1) >= MIN_SHARE
            right = np.argmax(p, 1) == j
            pl = lofo[f][v]
            sl = pl * (1 - um.share(pl))[:, None]
            confusion[v][j] += np.bincount(np.argmax(p, 1), minlength=len(families))
            ev[v][f] = {"n": int(len(ii)), "top1": float(right.mean()), "top3": float(np.mean((rank[:, :3] == j).any(1))),
                        "named": float(named.mean()), "named_right": float(np.mean(named & right)),
                        "named_wrong": float(np.mean(named & ~right)),
                        "unseen_unknown": float(np.mean(sl.max(1) < MIN_SHARE)),
                        "unseen_wrong": float(np.mean(sl.max(1) >= MIN_SHARE))}
            if gate is not None:
                g = gate[v][ii]
                has = g != ""
                passed = g[has] == "likely_ai"
                ev[v][f] |= {"gated_n": int(has.sum()), "gated_likely_ai": float(passed.mean()),
                             "gated_named_right": float(np.mean(passed & named[has] & right[has])),
                             "gated_named_wrong": float(np.mean(passed & named[has] & ~right[has]))}
    for v in EVAL_VARIANTS:
        print(v, json.dumps({k: round(float(np.mean([e[k] for e in ev[v].values()])), 3)
                             for k in ("top1", "top3", "named", "named_right", "named_wrong", "unseen_unknown", "unseen_wrong")}))

    # the shipped model: every fit-split AI image, and the unknown model over every record
    final = Multinomial(c_best).fit(*train_xy(feats, idx_all, fam, src))
    um = fit_unknown(records)
    sig = EffnetProbeSignal()
    head = sig._head()
    model = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "version": "1",
        "model": "standardised multinomial L2 logistic regression on effnet_probe's pooled channel means; "
                 "logistic unknown model on the probabilities' log-max, margin and normalised entropy "
                 "(coefficients held to the signs that make it grow as the probabilities spread)",
        "features": {"signal": sig.name, "signal_version": sig.version, "dim": int(feats["aug"].shape[1]),
                     "backbone_sha256": head["graph"]["sha256"]},
        "families": families,
        "n_train": {f: int(np.sum(fam == f)) for f in families},
        "sources": {f: sorted(set(src[fam == f])) for f in families},
        "min_share": MIN_SHARE,
        "C": c_best,
        "mean": [float(np.float32(x)) for x in final.scaler_.mean_],
        "scale": [float(np.float32(x)) for x in final.scaler_.scale_],
        "coef": [[float(np.float32(x)) for x in row] for row in final.lr_.coef_],
        "intercept": [float(x) for x in final.lr_.intercept_],
        "unknown": {"coef": [float(x) for x in um.coef], "intercept": um.intercept},
        "metrics": {v: {k: round(float(np.mean([e[k] for e in ev[v].values()])), 4) for k in next(iter(ev[v].values()))
                        if k not in ("n", "gated_n")} for v in EVAL_VARIANTS},
        "provenance": {"fitted_by": "forensics.training.fit_attribution", "numpy": np.__version__,
                       "material": "../shared/corpus (fit half) and the sources of training_sources.csv, capped per family"},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(model, separators=(",", ":")) + "\n")
    per_source = {v: {s: float(np.mean(np.argmax(probs_in[v][src == s], 1) == families.index(fam[src == s][0])))
                      for s in sorted(set(src)) if len(set(src[fam == fam[src == s][0]])) > 1} for v in EVAL_VARIANTS}
    print("top-1 per held-out source:", json.dumps(per_source))
    (args.cache / "attribution_eval.json").write_text(json.dumps(
        {"C": c_best, "eval": ev, "per_source": per_source, "families": families,
         "confusion": {v: confusion[v].tolist() for v in EVAL_VARIANTS}}, indent=1))
    SVG.write_text(confusion_svg(confusion["q75"], families))
    write_doc(ev, per_source, families, c_best, {f: sorted(set(src[fam == f])) for f in families})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), {SVG}, {DOC}")
    return 0


def gate_verdicts(cache: Path, rows: list[dict]) -> dict[str, np.ndarray] | None:
    """``{variant: verdict}`` of each material row from ``CACHE/fused_oof.npz`` (its fold's fusion
    never saw the family), ``""`` for rows outside the cache; ``None`` when the fusion has not been fitted."""
    path = cache / "fused_oof.npz"
    if not path.is_file():
        print(f"no {path}: run forensics.training.fit_fusion first for the gated figures", flush=True)
        return None
    fused = np.load(path)
    out = {}
    for v in EVAL_VARIANTS:
        verdict = fused[f"verdict_{v}"]
        out[v] = np.array(["" if r["cache_row"] is None else str(verdict[r["cache_row"]]) for r in rows])
    return out


def confusion_svg(cm: np.ndarray, families: list[str]) -> str:
    """Row-normalised confusion matrix (true family down, top-1 across) as a self-contained SVG."""
    n, cell, left, top = len(families), 28, 190, 200
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    w, h = left + n * cell + 150, top + n * cell + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           '<text x="10" y="18" font-size="13">Most probable family, laundered (q75), in-family held-out splits</text>']
    for i, f in enumerate(families):
        out.append(f'<text x="{left - 6}" y="{top + i * cell + cell * 0.65}" text-anchor="end">{family_label(f)}</text>')
        x = left + i * cell + cell * 0.6
        out.append(f'<text x="{x}" y="{top - 6}" transform="rotate(-60 {x} {top - 6})">{family_label(f)}</text>')
        for j in range(n):
            v = norm[i, j]
            shade = int(255 - 215 * v)
            out.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 1}" height="{cell - 1}" '
                       f'fill="rgb({shade},{shade},255)"/>')
            if v >= 0.05:
                colour = "white" if v > 0.55 else "black"
                out.append(f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell * 0.65}" text-anchor="middle" '
                           f'fill="{colour}" font-size="9">{round(100 * v)}</text>')
    out.append(f'<text x="{left}" y="{h - 12}">true family down, most probable family across (per cent of the row)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_doc(ev: dict, per_source: dict, families: list[str], c: float, sources: dict[str, list[str]]) -> None:
    multi = [f for f in families if len(sources[f]) > 1]
    md = ["# Generator attribution", "",
          "Written by `forensics.training.fit_attribution --cache CACHE --train-dir DIR` (see its docstring and "
          f"`forensics/attribution.py`). AI images only: {len(families)} families of the training material, laundered (`q75`: "
          "centre crop of at most 512 px, JPEG q75) and as found. Attribution runs only on images judged `likely_ai`; "
          "the first tables do not apply that gate, so they measure the attribution model alone, and the last "
          "applies it.", "",
          "- **In-family** columns: "
          + ", ".join(f"{family_label(f)} ({len(sources[f])} sources)" for f in multi)
          + " are scored source by source, each by a model fitted without that source: the honest test of a family "
          "seen through other sources. Every other family comes from one source and can only be split by groups "
          f"(5 folds of whole groups, a model fitted without the image's group); C = {c} was picked on these splits. "
          "Top-1 and top-3: the true family is the most probable, or among the three most probable. Named: a "
          "family's share reached 0.5. Named right / wrong: share of all images named with the true family / "
          "another family.",
          "- **Unseen family** columns: leave-one-family-out. Each family is scored by a multinomial fitted "
          "without it, and an `unknown` model fitted without its records; `unknown` is the right answer, and a "
          "name is a confident wrong one.",
          "- A one-source family's groups share that source's resolution, compression and prompt style, so its "
          "in-family figures are an upper bound for the family's images from elsewhere; the held-out sources "
          "below show how far they can fall. For a new generator, trust the unseen-family columns.", ""]
    md += ["Top-1 accuracy of each held-out source of the families with several:", "",
           "| source | laundered | as found |", "|---|---|---|"]
    md += [f"| {s} | {per_source['q75'][s]:.2f} | {per_source['orig'][s]:.2f} |" for s in per_source["q75"]]
    md.append("")
    keys = ("top1", "top3", "named", "named_right", "named_wrong", "unseen_unknown", "unseen_wrong")
    heads = ("top-1", "top-3", "named", "named right", "named wrong", "unseen: unknown", "unseen: wrong name")
    for v, title in (("q75", "Laundered (q75)"), ("orig", "As found")):
        md += [f"## {title}", "", "| family | n | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(heads)]
        for f in families:
            e = ev[v][f]
            md.append(f"| {family_label(f)} | {e['n']} | " + " | ".join(f"{e[k]:.2f}" for k in keys) + " |")
        md.append("| **mean over families** | | " + " | ".join(f"**{np.mean([ev[v][f][k] for f in families]):.2f}**"
                                                         for k in keys) + " |")
        md.append("")
    if "gated_n" in ev["q75"][families[0]]:
        md += ["## With the P(AI) gate", "",
               "Attribution runs only on images the engine calls `likely_ai`. Here each image's verdict comes from "
               "the leave-one-family-out fusion of `forensics.training.fit_fusion` (a fusion, rescaling and thresholds that "
               "never saw the family), so these are the shares of **all** of a family's images that reach "
               "attribution and that end up named right or wrong (the cache's images: the extra SD 1.x images have "
               "no fused score).", "",
               "| family | n | laundered: likely_ai | named right | named wrong | as found: likely_ai | named right | named wrong |",
               "|---|---|---|---|---|---|---|---|"]
        gk = ("gated_likely_ai", "gated_named_right", "gated_named_wrong")
        for f in families:
            md.append(f"| {family_label(f)} | {ev['q75'][f]['gated_n']} | "
                      + " | ".join(f"{ev[v][f][k]:.2f}" for v in EVAL_VARIANTS for k in gk) + " |")
        md.append("| **mean over families** | | " + " | ".join(
            f"**{np.mean([ev[v][f][k] for f in families]):.2f}**" for v in EVAL_VARIANTS for k in gk) + " |")
        md.append("")
    md += ["![Confusion matrix of the most probable family, laundered](attribution_confusion.svg)", ""]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(md))


if __name__ == "__main__":
    raise SystemExit(main())
