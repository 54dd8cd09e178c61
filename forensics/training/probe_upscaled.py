"""Upscaled images and the ``effnet_probe``: an out-of-family experiment, and the shipped engine on enlarged photos.

    python -m forensics.training.probe_upscaled --cache CACHE --out DIR [--workers 2] [--engine]

Many images travel enlarged: generators' small outputs re-distributed through an upscaler, old
photos blown up for the web. CACHE is what the training pipeline wrote through ``enlarged_views``
(read only); DIR a folder of our own, where the features are kept (``upscaled_features.npz`` and
``learned_features.npz``, computed once: delete them to recompute) and the figures written
(``probe_upscaled.json``). Three more variants of every material image, drawn by a hash of its
path and made alike for both classes:

* ``upq75``, a test condition: the central region that fills 512 px once enlarged x2, x3 or x4
  (bicubic or Lanczos), enlarged, then laundered as the hidden set is (centre crop <= 512 px,
  JPEG q75 4:2:0);
* ``upaug``, a training view, read from CACHE (``forensics.training.enlarged_views``): a random
  such region enlarged x1.5-4 (bilinear, bicubic or Lanczos), then JPEG q60-100 (p 0.85; 4:4:4 or
  4:2:0) or lossless, as ``pixel_data``'s ``aug``.
* ``srq75``, a test condition: the central region that fills 512 px once enlarged x4, enlarged by
  a learned upscaler, then laundered: ``pix2pix_fakes.SRNet``, an ESRGAN-style network (residual
  blocks at the low resolution, nearest-neighbour up-sampling and convolutions: no design the
  probe trains on), trained as ``pix2pix_fakes`` trains its U-Net, on the ``detail`` task (each
  128-px patch drawn from its 4x box reduction; kept in ``DIR/upscaler_net.npz``). Upscalers that
  invent detail (ESRGAN and kin, the diffusion upsamplers of early generators) leave a
  generator's traces, not an interpolation's.

The probe is fitted as ``fit_pixel_heads`` fits the shipped one (the native view, C = 0.001, the
strength it chose without ``upaug`` (0.003 with: within 0.001 of each other); the
``aug`` and ``web`` views, the fakes of ``fake_features.SETS``, class- and family-balanced
weights, 5 folds of whole families), with the ``upaug`` views beside at each weight of ``RECIPES``
(w times an ``aug`` row, the total weight unchanged; 0.5 ships: ``fit_pixel_heads.UP_WEIGHT``),
and scored out of family:
each AI family against the laundered reals, the same images enlarged (``upq75``, ``srq75``)
against the same reals, and the enlarged reals against the laundered reals (0.5: enlarging alone
tells nothing).

``--engine``: the shipped engine (``forensics.analyze``, default signals) on the corpus's holdout
reals (never fitted on), laundered, and enlarged (x2, x3 and x4 bicubic, x4 by the learned
upscaler) then laundered: its verdicts.

Measured on 2026-12-04 (fifth session; q75; without ``upaug``, then with it at w 0.5 and 1):
mean per-family AUROC 0.883 / 0.882 / 0.879, GAN families 0.737 / 0.734 / 0.727; enlarged AI
against the reals 0.910 / 0.889 / 0.889 (worst Disco Diffusion 0.68 / CycleGAN 0.69 / CycleGAN
0.66); enlarged reals against the reals 0.789 / 0.680 / 0.662. The probe reads enlargement as AI
evidence; ``upaug`` weakens that lean and costs the GAN families 0.003-0.010.
The engine on the 186 holdout reals: ``likely_ai`` 0.5 % laundered, 0 % / 3.2 % / 3.2 % enlarged
x2 / x3 / x4; median P(AI) 0.23, then 0.38 / 0.52 / 0.58 (docs/pixels.md, "Enlarged images").

Measured on 2026-12-04 (sixth session; same cache, the figures above reproduced to the third
decimal), the learned upscaler and both classes enlarged alike, for the same three recipes:
learned x4 AI against the reals 0.913 / 0.894 / 0.892, learned reals against the reals 0.842 /
0.777 / 0.766; AI against reals enlarged the same way, bicubic 0.761 / 0.829 / 0.838 and learned
0.693 / 0.757 / 0.769. Enlarged alike, little of the generator is left to a probe trained without
``upaug``, and ``upaug`` gives back 0.07 of it at w 0.5 for 0.001 of the mean unenlarged, so it
ships at w 0.5 since. The engine on the holdout reals, before that refit and after: median P(AI)
0.23 / 0.25 laundered, 0.58 / 0.40 enlarged x4 (bicubic), 0.60 / 0.51 enlarged x4 by the learned
upscaler (``likely_ai`` 2.7 % / 2.2 %).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from forensics.evaluation.laundering import launder_q75  # noqa: E402
from forensics.training import fit_pixel_heads as heads  # noqa: E402
from forensics.training.corpus import GAN_FAMILIES  # noqa: E402
from forensics.training.fake_features import SETS  # noqa: E402
from forensics.training.enlarged_views import FILTERS, collected, enlarged  # noqa: E402
from forensics.training.enlarged_views import OUT as ENLARGED  # noqa: E402
from forensics.training.folds import family_folds  # noqa: E402
from forensics.training.metrics import auroc, family_aurocs  # noqa: E402
from forensics.training.pixel_data import CROP, decode, effnet_features, seed_of  # noqa: E402
from forensics.training.pix2pix_fakes import fit_on_reals as fit_generator  # noqa: E402
from forensics.training.pix2pix_fakes import load as load_generator  # noqa: E402
from forensics.training.pix2pix_fakes import save as save_generator  # noqa: E402
from forensics.training.pix2pix_fakes import translate  # noqa: E402

C = 0.001  # the strength of the figures below and in docs/pixels.md (fit_pixel_heads chose it without upaug; 0.003 with)
FEATURES = "upscaled_features.npz"
LEARNED = "learned_features.npz"   # srq75's features
UPSCALER = "upscaler_net.npz"      # the learned upscaler (pix2pix_fakes' SRNet, ``detail`` task)
#: recipe -> weight of the ``upaug`` rows relative to the other views' rows
RECIPES = {"no upaug": 0.0, "upaug w0.5 (shipped)": 0.5, "upaug w1": 1.0}
FACTORS = (2, 3, 4)


def upq75(rgb: np.ndarray, key: str) -> np.ndarray:
    """The ``upq75`` condition of one decoded image: its factor and filter drawn by ``key`` (its path)."""
    rng = np.random.default_rng(seed_of(key, "upscaled-test"))
    return decode(launder_q75(enlarged(rgb, float(rng.choice(FACTORS)), None, FILTERS[rng.integers(2)])))


def _job(row: dict) -> dict[str, np.ndarray] | None:
    if "error" in row:
        return None
    return {"eff_upq75": effnet_features(upq75(decode(Path(row["file"]).read_bytes()), row["path"]))[0]}


_upscaler = None


def learned(rgb: np.ndarray, net, out: int = CROP) -> np.ndarray | None:
    """The central region of ``rgb`` that fills ``out`` px once enlarged x4, enlarged x4 by a learned
    upscaler: bilinear, then ``net`` (a generator of ``pix2pix_fakes`` for the ``detail`` task, which
    sees the enlargement reduced 4x again) draws the detail in, over the largest multiple of 128 px
    it fits (None when under 128 px)."""
    a = enlarged(rgb, 4, None, Image.BILINEAR, out)
    h, w = (a.shape[0] // 128) * 128, (a.shape[1] // 128) * 128
    if min(h, w) == 0:
        return None
    top, left = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
    return translate(net, np.ascontiguousarray(a[top:top + h, left:left + w]), "detail")


def _learned_job(item: tuple[dict, str]) -> dict[str, np.ndarray] | None:
    global _upscaler
    row, net_path = item
    if "error" in row:
        return None
    if _upscaler is None:
        import torch

        torch.set_num_threads(1)
        _upscaler = load_generator(Path(net_path), "esrgan")
    up = learned(decode(Path(row["file"]).read_bytes()), _upscaler)
    return None if up is None else {"eff_srq75": effnet_features(decode(launder_q75(up)))[0]}


def out_of_family(rows, feats, y, fold, trainable, up_weight):
    """``{"q75": scores, "upq75": scores, "srq75": scores}`` of every row, each from a probe fitted without its fold:
    ``fit_pixel_heads``' training set, and the ``upaug`` rows beside it at ``up_weight`` times an
    ``aug`` row's weight, all scaled to that set's total weight."""
    good = trainable & heads.usable(feats, "eff")
    out = {v: np.full(len(rows), np.nan) for v in ("q75", "upq75", "srq75")}
    for k in range(fold.max() + 1):
        tr = np.flatnonzero(good & (fold != k))
        te = np.flatnonzero(fold == k)
        scaler, lr = heads.fit(*heads.training_set(rows, feats, y, tr, "eff", up_weight), C)
        for v in out:
            xt = feats[f"eff_{v}"][te]
            got = np.isfinite(xt).all(axis=1)
            out[v][te[got]] = lr.decision_function(scaler.transform(xt[got]))
    return out


def summary(rows, y, s, n) -> dict:
    fam = np.array([r["family"] for r in rows[:n]])
    q = s["q75"][:n]
    real_q = q[(y[:n] == 0) & np.isfinite(q)]
    laundered = family_aurocs(rows[:n], y[:n], q)
    out = {"laundered": laundered}
    figures = {}
    for name, v in (("enlarged", "upq75"), ("learned", "srq75")):
        u = s[v][:n]
        real_u = u[(y[:n] == 0) & np.isfinite(u)]
        out[name] = {f: auroc(u[(fam == f) & np.isfinite(u)], real_q) for f in laundered}
        # both classes enlarged alike: what is left of the generator's traces under the enlargement's
        out[f"{name}_both"] = {f: auroc(u[(fam == f) & np.isfinite(u)], real_u) for f in laundered}
        figures[f"{name}_reals_vs_reals"] = auroc(real_u, real_q)
    figures.update({k: {"mean": float(np.mean(list(a.values()))), "gan_mean": float(np.mean([a[f] for f in GAN_FAMILIES])),
                        "worst_family": min(a, key=a.get), "worst": min(a.values())} for k, a in out.items()})
    return {"families": out, **figures}


def engine_verdicts(rows: list[dict], upscaler) -> dict:
    """The shipped engine's verdicts on the corpus's holdout reals, laundered, and enlarged (x2, x3,
    x4 bicubic; x4 by the learned upscaler) then laundered."""
    from forensics import analyze

    reals = [r for r in rows if r["split"] == "holdout" and r["label"] == "real" and "error" not in r]
    ways = {"x1": lambda rgb: rgb, **{f"x{f}": lambda rgb, f=f: enlarged(rgb, f, None, Image.BICUBIC) for f in FACTORS},
            "x4 learned": lambda rgb: learned(rgb, upscaler)}
    verdicts: dict[str, dict[str, int]] = {w: {} for w in ways}
    probs: dict[str, list[float]] = {w: [] for w in ways}
    for r in reals:
        rgb = decode(Path(r["file"]).read_bytes())
        for way, enlarge in ways.items():
            big = enlarge(rgb)
            if big is None:
                continue
            result = analyze(launder_q75(big))
            verdicts[way][result.verdict] = verdicts[way].get(result.verdict, 0) + 1
            probs[way].append(result.probability)
    out: dict = {}
    for way, counts in verdicts.items():
        n = sum(counts.values())
        out[way] = {"n": n, "verdicts": counts, "median_probability": float(np.median(probs[way]))}
        print(f"{way}: " + ", ".join(f"{v} {c / n:.1%}" for v, c in sorted(counts.items()))
              + f"; median P(AI) {np.median(probs[way]):.3f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what the training pipeline wrote (read only)")
    ap.add_argument("--out", type=Path, required=True, help="a folder of our own for the features and the figures")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engine", action="store_true", help="also the shipped engine's verdicts on enlarged holdout reals")
    args = ap.parse_args(argv)
    if args.out.resolve() == args.cache.resolve():
        ap.error("--out must not be the cache: the cache is read only")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = json.loads((args.cache / "rows.json").read_text())
    n = len(rows)
    if not (args.out / FEATURES).is_file():
        np.savez(args.out / FEATURES, **collected(_job, rows, args.workers))
    if not (args.out / UPSCALER).is_file():
        save_generator(fit_generator(args.cache, rows, task="detail", arch="esrgan", log=lambda m: print(m, flush=True))[0],
                       args.out / UPSCALER)
    if not (args.out / LEARNED).is_file():
        np.savez(args.out / LEARNED, **collected(_learned_job, [(r, str(args.out / UPSCALER)) for r in rows], args.workers))
    with (np.load(args.cache / "features.npz") as base, np.load(args.cache / ENLARGED) as train_up,
          np.load(args.out / FEATURES) as up, np.load(args.out / LEARNED) as sr):
        feats = {**{k: base[k] for k in ("eff_aug", "eff_web", "eff_q75")}, "eff_upaug": train_up["eff_upaug"],
                 "eff_upq75": up["eff_upq75"], "eff_srq75": sr["eff_srq75"]}
    ok = np.array(["error" not in r for r in rows])
    trainable = ok & np.array([r["split"] == "fit" for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], dtype=int)
    extra = {name: heads.fake_set(args.cache, name) for name in SETS}
    blocks = [(name, SETS[name], x["src"], x, True) for name, x in extra.items()]
    all_rows, all_feats, all_y, all_fold, all_trainable = heads.with_extra(rows, feats, y, family_folds(rows), trainable, blocks)
    result: dict = {"c": C, "recipes": {}}
    for name, w in RECIPES.items():
        res = summary(all_rows, all_y, out_of_family(all_rows, all_feats, all_y, all_fold, all_trainable, w), n)
        result["recipes"][name] = res
        print(f"{name}: laundered mean {res['laundered']['mean']:.3f}, GAN {res['laundered']['gan_mean']:.3f}, "
              f"worst {res['laundered']['worst_family']} {res['laundered']['worst']:.2f}; enlarged AI against the reals "
              f"{res['enlarged']['mean']:.3f}, worst {res['enlarged']['worst_family']} {res['enlarged']['worst']:.2f}; "
              f"enlarged reals against the reals {res['enlarged_reals_vs_reals']:.3f}; learned x4: AI against the reals "
              f"{res['learned']['mean']:.3f}, GAN {res['learned']['gan_mean']:.3f}, worst {res['learned']['worst_family']} "
              f"{res['learned']['worst']:.2f}, reals against the reals {res['learned_reals_vs_reals']:.3f}; both enlarged: "
              f"bicubic {res['enlarged_both']['mean']:.3f} (GAN {res['enlarged_both']['gan_mean']:.3f}), learned "
              f"{res['learned_both']['mean']:.3f} (GAN {res['learned_both']['gan_mean']:.3f})", flush=True)
    if args.engine:
        result["engine"] = engine_verdicts(rows, load_generator(args.out / UPSCALER, "esrgan"))
    (args.out / "probe_upscaled.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
