"""Does the ``effnet_probe`` learn GANs better from fakes we make? An out-of-family experiment (issue 24, item 1).

    python -m forensics.training.probe_fakes --cache CACHE --fakes FAKES [--configs NAME ...] [--dcgan VARIANT ...] [--size-check]

CACHE is what the training pipeline wrote through ``fake_features`` (read only); FAKES a folder
of our own (what ``forensics.training.dcgan_fakes`` wrote, and where this script keeps the
features it computes). The probe is fitted as ``forensics.training.fit_pixel_heads`` fits it
(both views, its choice on the material alone; standardised L2 logistic regression, ``--c`` the
strength it chose then; the ``aug`` and ``web`` variants, class- and family-balanced weights) and
scored out of family with the same 5 folds of whole families; only its training rows change. The sets of extra rows:

* ``taesd``, ``autogan`` (AI): the fakes made from the reals (each real photo's central 128-px
  patch through the TAESD or AutoGAN autoencoder), each recipe weighed as one family, in the fold
  of the real source they came from (as ``train_npr.py`` uses them);
* ``dcgan_tconv``, ``dcgan_nearest``, ``dcgan_bilinear`` (AI): ``forensics.training.dcgan_fakes``'s
  128-px images, each variant one family (``--dcgan``: which variants; by default every one
  written to FAKES). A generator drew on every fit-split real photo, not
  on one source, so these rows stay in training in every fold (they are never scored; a real
  photo held out may have shaped the generator, which would rather make that photo look more
  AI-like, against the experiment);
* ``autogan_frame256`` (AI) and ``real_frame256`` (real): fakes the size of the GAN outputs,
  each with its real. Each fit-split real photo the fakes above came from, its whole frame brought
  to 256 x 256 (``pix2pix_fakes.frame``: short side to 256 px, bicubic, centre crop), is kept as a
  real and passed through ``autogan_fakes``' autoencoder (trained as that stage trains it) as a
  fake, both with the reals' final encoding; each in its source's fold. Only the generator's
  traces tell the two apart, and size tells nothing;
* ``pix2pix_frame256`` (AI): the same 256-px frames redrawn by ``forensics.training.pix2pix_fakes``'
  generator (a small pix2pix trained adversarially on the fit-split reals, to redraw a photo from
  its luminance reduced 4x), with the reals' final encoding, in its source's fold: an
  image-to-image GAN's traces, where the autoencoders above leave an L1-trained decoder's;
  ``pix2pix_crop256`` (AI) and ``real_crop256`` (real): the same with each real photo's central
  256-px crop as found (no resampling) in place of its whole frame;
* ``pix2pixflat_frame256`` (AI): the same frames redrawn by the same small pix2pix trained (as
  ``pix2pix_fakes`` trains it; kept in FAKES) on another task, drawing a photo from a
  label-map-like copy (``pix2pix_fakes.flatten``), as pix2pix and CycleGAN draw facades and maps;
* ``resnet_frame256`` (G) and ``resnetresize_frame256`` (H) (AI): the same frames redrawn from
  their luminance (D's task) by CycleGAN's own generator design (``pix2pix_fakes.ResNetGen``: no
  skip connections, residual blocks at a quarter of the size) up-sampling by 3x3 stride-2
  transposed convolutions (G) or by bilinear resizing and a convolution (H, AnimeGAN v2's), each
  trained as ``pix2pix_fakes`` trains its U-Net (kept in FAKES);
* ``real_patch128``, ``real_halved128`` (real): size controls, one family each, in their
  source's fold: the very 128-px patches the autoencoders reconstructed (with the same kind of
  final encoding: JPEG q60-100 with p 0.85, else lossless) and the halved 256-px crops the DCGANs
  learned from. Without them every 128-px training image is AI, and a probe may learn "small
  means AI", which the GAN families (mostly 256 px) would reward for no good reason.

The sets the shipped probe trains on (``fake_features.SETS``) are read from
``CACHE/fake_features.npz``; each other extra image is written as a PNG under FAKES and goes
through ``pixel_data.job`` like every file of the material (the engine's intake, the ``aug`` and
``web`` variants, the probe's own ``features``): a 128-px PNG stays 128 px (``aug`` resizes it x0.5-1.5). The configurations
(``CONFIGS``) are scored at q75 (the hidden set's laundering) and as found, per family, with the
mean, the worst family and the GAN families' mean; a family is *hurt* when its AUROC falls under
the baseline's 95 % interval (Hanley and McNeil).

``--size-check``: CycleGAN, pix2pix and StarGAN v2 images are 256 px, most reals larger, and
size alone separates them. Every real photo is also brought to 256 x 256 (``fake_features``'
size-matched reals: lossless, and JPEG q75 for the laundered condition), scored by its fold's
probe, and each family is ranked against these reals instead: a gain that is only size
vanishes there.

The baseline is the probe on the material alone. Measured on 2026-12-03 (the round-2 cache,
C = 0.001; q75 / as found): the baseline scores a mean per-family AUROC of 0.887 / 0.889 (GAN families 0.722, worst pix2pix 0.483). A gives 0.905
/ 0.905 (GAN families 0.803; CycleGAN 0.58 -> 0.77, pix2pix 0.48 -> 0.70; no family under its
interval), and against the 256-px reals CycleGAN 0.41 -> 0.54 and pix2pix 0.31 -> 0.43 (beyond the
baseline's intervals) while AnimeGAN (0.41 -> 0.36) and StyleGAN2 (0.81 -> 0.77) slip within
theirs: about 60 % of A's GAN gain is not size. With its size control (A+pairs) A keeps half its
CycleGAN and pix2pix gain and hurts four families. B gives 0.892 (GAN families 0.748), and its
size control takes the gain away and more (B+pairs 0.883, pix2pix 0.39): what B teaches is
mostly that the fakes are small. A+B is A (0.906). A alone was not shipped: its
gain leans on size (the like-for-like control, A+pairs, halves it and hurts four families, and
against size-matched reals CycleGAN and pix2pix stay near or under 0.5), and a probe that learns
"small means AI" is the disguised format classifier the engine must not be (the 256-px pairs of
D, below, are what keep A honest).

Measured on 2026-12-04 (same cache): C, the 256-px frame pairs, gives 0.880 / 0.884 (GAN families
0.705; CycleGAN 0.55, pix2pix 0.48) and falls under the baseline's interval on DALL-E mini, GLID-3,
LDM, StarGAN v2 and StyleGAN2; A+C gives 0.890 / 0.894 (GAN families 0.748) and hurts four. Against
the 256-px reals, C lifts AnimeGAN from 0.41 to 0.56, CycleGAN from 0.41 to 0.51 and pix2pix from 0.31
to 0.44: without size to lean on, these fakes teach the frozen features little about image-to-image
GANs. Not shipped.

Measured on 2026-12-04, second session (a fresh machine: the cache rebuilt, the baseline's figures
the same to the third decimal; pix2pix_fakes trained 1,500 steps, 15 min): every family against
the 256-px reals, the baseline scores a mean of 0.793 / 0.803 (worst pix2pix 0.31, GAN families
0.58), where against the material's reals it scores 0.887: the probe leans on size. D, the
pix2pix frames with their 256-px reals, leaves that mean at 0.886 / 0.889 and lifts the size-matched
one to 0.872 / 0.881 (GAN families 0.71, worst CycleGAN 0.55; AnimeGAN 0.41 -> 0.63, pix2pix 0.31
-> 0.55), but falls under the baseline's interval on six families, the small-output ones (DALL-E
mini, GLID-3, LDM, StarGAN v2, StyleGAN2) and CycleGAN. A+D: 0.897 / 0.899, size-matched 0.869
(GAN families 0.73, worst 0.60), hurts five. E, the native 256-px crops in place of the resampled
frames: 0.881, size-matched 0.858, hurts the same five, so it is the 256-px reals, not their
resampling, that cost those families: what they unlearn is "small means AI"; D+E, both pairs:
0.873 / 0.877, size-matched 0.882 / 0.889, hurts six. D unpaired (the
pix2pix frames alone): 0.904, GAN families 0.82, but size-matched 0.796 and AnimeGAN 0.33: size
again. A+D+E: 0.882 / 0.885, size-matched 0.878 / 0.887 (worst pix2pix 0.58), hurts five.

Shipped since 2026-12-04 (third session): A+D, the best mean of the two figures at q75 (0.897
against the material's reals, 0.869 against size-matched ones; worst family 0.64 and 0.60). The
pipeline makes its sets (stages ``pix2pix_fakes`` and ``fake_features``) and ``fit_pixel_heads``
trains the probe on them; here they are read from the cache. With them, ``fit_pixel_heads`` chose
the native view alone (see docs/pixels.md); these experiments keep both views.

Measured on 2026-12-04, fourth session (a fresh machine; the baseline the same to the third
decimal, A+D 0.899 / 0.901, size-matched 0.872): F, the label-map task, in place of D (A+F) gives
0.895 / 0.898, size-matched 0.867 (pix2pix 0.58 and 0.54 against A+D's 0.66 and 0.61); beside D
(A+D+F) 0.899 / 0.901, size-matched 0.871: no gain over A+D. Not shipped.

Measured on 2026-12-04, sixth session (same machine and cache; baseline and A+D the same to the
third decimal): G and H beside A+D. A+D+G 0.899 / 0.901 (GAN families 0.775, CycleGAN 0.66,
pix2pix 0.67), A+D+H 0.900 / 0.902 (0.778; pix2pix 0.68, AnimeGAN 0.68), A+D+G+H 0.899 / 0.902
(0.779); size-matched 0.871, 0.870 and 0.869 against A+D's 0.872; each also falls under the
baseline's interval on StyleGAN2 (0.925 -> 0.89). Within 0.01 of A+D everywhere: CycleGAN's own
generator design teaches nothing the U-Net's redrawings did not. Not shipped.

Writes ``FAKES/probe_fakes.json`` (every figure) and prints the tables. Deterministic: every
draw is seeded by a path, the fits are deterministic, one thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from forensics.training.autogan_fakes import AutoGAN, fit_on_reals, to_tensor  # noqa: E402
from forensics.training.corpus import GAN_FAMILIES  # noqa: E402
from forensics.training.dcgan_fakes import VARIANTS as DCGAN_VARIANTS  # noqa: E402
from forensics.training.fake_features import SETS as SHIPPED  # noqa: E402
from forensics.training.fake_features import SIZE_MATCHED  # noqa: E402
from forensics.training.fakes import encode_like_reals, final_encoding, halve  # noqa: E402
from forensics.training.fit_pixel_heads import (  # noqa: E402
    EFF_OPTIONS,
    EFF_VIEWS,
    TRAIN_VARIANTS,
    fake_set,
    out_of_family,
    vs_size_matched,
    with_extra,
)
from forensics.training.folds import family_folds  # noqa: E402
from forensics.training.metrics import auroc_se, family_aurocs  # noqa: E402
from forensics.training.pixel_data import VARIANTS, job  # noqa: E402
from forensics.training.pix2pix_fakes import translate  # noqa: E402
from forensics.training.pix2pix_fakes import fit_on_reals as fit_pix2pix  # noqa: E402
from forensics.training.pix2pix_fakes import load as load_pix2pix  # noqa: E402
from forensics.training.pix2pix_fakes import save as save_pix2pix  # noqa: E402

OPTION = "eff:native+halved"  # the probe's views, as fit_pixel_heads chose them on the material alone
DCGAN = tuple(f"dcgan_{v}" for v in DCGAN_VARIANTS)
#: extra row sets -> label
SETS = {"taesd": "ai", "autogan": "ai", **{d: "ai" for d in DCGAN}, "real_patch128": "real", "real_halved128": "real",
        "autogan_frame256": "ai", "pix2pix_frame256": "ai", "real_frame256": "real", "pix2pix_crop256": "ai",
        "real_crop256": "real", "pix2pixflat_frame256": "ai", "resnet_frame256": "ai", "resnetresize_frame256": "ai"}
#: the redrawing generators: maker -> (task, design) of ``pix2pix_fakes``
REDRAWERS = {"pix2pix": ("luma", "unet"), "pix2pixflat": ("flat", "unet"), "resnet": ("luma", "resnet"),
             "resnetresize": ("luma", "resnet_resize")}
#: configuration -> its extra sets (``dcgan``: the DCGAN variants of ``--dcgan``, one family each)
CONFIGS = {
    "baseline": (),
    "A": ("taesd", "autogan"),
    "A+pairs": ("taesd", "autogan", "real_patch128"),
    "B": ("dcgan",),
    "B+pairs": ("dcgan", "real_halved128"),
    "A+B": ("taesd", "autogan", "dcgan"),
    "A+B+pairs": ("taesd", "autogan", "dcgan", "real_patch128", "real_halved128"),
    "C": ("autogan_frame256", "real_frame256"),
    "A+C": ("taesd", "autogan", "autogan_frame256", "real_frame256"),
    "D": ("pix2pix_frame256", "real_frame256"),
    "A+D": ("taesd", "autogan", "pix2pix_frame256", "real_frame256"),
    "D unpaired": ("pix2pix_frame256",),
    "E": ("pix2pix_crop256", "real_crop256"),
    "D+E": ("pix2pix_frame256", "real_frame256", "pix2pix_crop256", "real_crop256"),
    "A+D+E": ("taesd", "autogan", "pix2pix_frame256", "real_frame256", "pix2pix_crop256", "real_crop256"),
    "A+F": ("taesd", "autogan", "pix2pixflat_frame256", "real_frame256"),
    "A+D+F": ("taesd", "autogan", "pix2pix_frame256", "pix2pixflat_frame256", "real_frame256"),
    "A+D+G": ("taesd", "autogan", "pix2pix_frame256", "resnet_frame256", "real_frame256"),
    "A+D+H": ("taesd", "autogan", "pix2pix_frame256", "resnetresize_frame256", "real_frame256"),
    "A+D+G+H": ("taesd", "autogan", "pix2pix_frame256", "resnet_frame256", "resnetresize_frame256", "real_frame256"),
}
CONDITIONS = ("orig", "q75")
PATCH = 128     # the fakes made from reals: each real photo's central patch (taesd_fakes.py, autogan_fakes.py)


def set_images(name: str, cache: Path, fakes: Path, rows: list[dict]):
    """``(source row or -1, key, uint8 image)`` of one extra set the shipped probe does not train on, in a fixed order."""
    if name.endswith(("_frame256", "_crop256")):
        maker = name.split("_")[0]  # autogan, real or one of REDRAWERS
        idx = json.loads((cache / "pix2pix.json").read_text())["rows"]
        if name.endswith("_frame256"):
            images = np.load(cache / "frame256.npy", mmap_mode="r")
        else:
            crops = np.load(cache / "crop_orig.npy", mmap_mode="r")
            images = (crops[i] for i in idx)
        net = (autogan_net(cache, fakes, rows) if maker == "autogan" else load_pix2pix(cache / "pix2pix_net.npz") if maker == "pix2pix"
               else redrawer(maker, cache, fakes, rows) if maker in REDRAWERS else None)
        for i, rgb in zip(idx, images):
            key, rgb = f"{name}/{rows[i]['path']}", np.asarray(rgb)
            if maker == "autogan":
                with torch.no_grad():
                    rec = (net(to_tensor(rgb[None]))[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
                yield i, key, final_encoding(rec, maker, rows[i]["path"])
            elif maker in REDRAWERS:
                yield i, key, final_encoding(translate(net, rgb, REDRAWERS[maker][0]), maker, rows[i]["path"])
            else:
                yield i, key, encode_like_reals(rgb, key)
    elif name in DCGAN:
        for p in sorted((fakes / name).glob("*.png")):
            yield -1, f"{name}/{p.name}", np.asarray(Image.open(p).convert("RGB"))
    else:
        made = json.loads((cache / "taesd.json").read_text())  # the reals the fakes were made from
        crops = np.load(cache / "crop_orig.npy", mmap_mode="r")
        lo = (crops.shape[1] - PATCH) // 2
        for i in sorted(made["rows"]):
            key = f"{name}/{rows[i]['path']}"
            if name == "real_patch128":
                yield i, key, encode_like_reals(np.ascontiguousarray(crops[i, lo:lo + PATCH, lo:lo + PATCH]), key)
            else:  # the DCGANs' training photos (dcgan_fakes.real_photos)
                yield i, key, halve(np.asarray(crops[i]))


def images_digest(images: list) -> str:
    """sha256 of a set's keys and pixels, so that features kept from other images are not reused."""
    h = hashlib.sha256()
    for _, key, rgb in images:
        h.update(key.encode() + np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def set_features(name: str, cache: Path, fakes: Path, rows: list[dict]) -> dict[str, np.ndarray]:
    """``{"src": rows, "eff_aug": ..., "effh_aug": ..., "eff_web": ..., "effh_web": ...}`` of one
    extra set, computed once (each image saved as a PNG and run through ``pixel_data.job``) and
    kept in ``FAKES/features_<name>.npz`` with a digest of the images: new images, new features."""
    out = fakes / f"features_{name}.npz"
    images = list(set_images(name, cache, fakes, rows))
    digest = images_digest(images)
    if out.is_file() and str((kept := dict(np.load(out))).get("digest")) == digest:
        return kept
    folder = fakes / "png" / name
    folder.mkdir(parents=True, exist_ok=True)
    got: dict[str, list] = {"src": []}
    for n, (src, key, rgb) in enumerate(images):
        path = folder / f"{n:05d}.png"
        Image.fromarray(rgb).save(path)
        r = job({"file": str(path), "path": f"fakes/{key}"}, only=TRAIN_VARIANTS)
        if "error" in r:
            raise SystemExit(f"{name}: {key}: {r['error']}")
        got["src"].append(src)
        for v in TRAIN_VARIANTS:
            for kind in EFF_VIEWS[EFF_OPTIONS[OPTION]]:
                got.setdefault(f"{kind}_{v}", []).append(r[f"{kind}_{v}"])
        if n % 500 == 0:
            print(f"  {name}: {n}", flush=True)
    arrays = {k: np.asarray(v, np.int64 if k == "src" else np.float32) for k, v in got.items()}
    np.savez(out, **arrays, digest=np.array(digest))
    print(f"  {name}: {len(arrays['src'])} images -> {out}", flush=True)
    return arrays


def autogan_net(cache: Path, fakes: Path, rows: list[dict]):
    """``autogan_fakes``' autoencoder, trained as that stage trains it (kept in ``FAKES/autogan_net.npz``)."""
    net = AutoGAN()
    kept = fakes / "autogan_net.npz"
    if kept.is_file():
        net.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(kept).items()})
        return net.eval()
    net = fit_on_reals(cache, rows, steps=2000, log=lambda m: print(m, flush=True))
    np.savez(kept, **{k: v.numpy() for k, v in net.state_dict().items()})
    return net


def redrawer(maker: str, cache: Path, fakes: Path, rows: list[dict]):
    """A generator of REDRAWERS trained as ``pix2pix_fakes`` trains its own, for that maker's task
    and design (kept in ``FAKES/<maker>_net.npz``)."""
    task, arch = REDRAWERS[maker]
    kept = fakes / f"{maker}_net.npz"
    if not kept.is_file():
        save_pix2pix(fit_pix2pix(cache, rows, task=task, arch=arch, log=lambda m: print(m, flush=True))[0], kept)
    return load_pix2pix(kept, arch)


def option_features(f: dict[str, np.ndarray], variants) -> dict[str, np.ndarray]:
    """``{variant: the probe's input}``: the views of OPTION side by side."""
    return {v: np.concatenate([f[f"{k}_{v}"] for k in EFF_VIEWS[EFF_OPTIONS[OPTION]]], axis=1) for v in variants}


def with_interval(auc: float, n_pos: int, n_neg: int) -> dict[str, float]:
    se = auroc_se(auc, n_pos, n_neg)
    return {"auroc": round(auc, 4), "lo": round(auc - 1.96 * se, 4), "hi": round(auc + 1.96 * se, 4)}


def summary(fam: dict[str, dict]) -> dict[str, float]:
    a = {f: v["auroc"] for f, v in fam.items()}
    gans = [a[f] for f in GAN_FAMILIES if f in a]
    worst = min(a, key=a.get)
    return {"mean": round(float(np.mean(list(a.values()))), 4), "worst": round(a[worst], 4), "worst_family": worst,
            "gan_mean": round(float(np.mean(gans)), 4), "gan_worst": round(min(gans), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what pixel_data.py and the fakes scripts wrote (read only)")
    ap.add_argument("--fakes", type=Path, required=True, help="dcgan_fakes.py's folder; this script's features go there too")
    ap.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    ap.add_argument("--dcgan", nargs="+", choices=DCGAN_VARIANTS,
                    help="the DCGAN variants of B (default: every one dcgan_fakes.py has written to FAKES)")
    ap.add_argument("--size-check", action="store_true", help="also rank every family against reals at 256 x 256")
    ap.add_argument("--c", type=float, default=0.001, help="the probe's L2 strength (fit_pixel_heads' choice)")
    args = ap.parse_args(argv)
    if args.fakes.resolve() == args.cache.resolve():
        ap.error("--fakes must not be the cache: the cache is read only")
    args.fakes.mkdir(parents=True, exist_ok=True)
    dcgan = [f"dcgan_{v}" for v in args.dcgan or [v for v in DCGAN_VARIANTS if (args.fakes / f"dcgan_{v}.json").is_file()]]
    configs = {c: tuple(x for s in CONFIGS[c] for x in (dcgan if s == "dcgan" else [s])) for c in args.configs}
    if not dcgan and any("dcgan" in CONFIGS[c] for c in args.configs):
        ap.error(f"no DCGAN fakes in {args.fakes}: run forensics.training.dcgan_fakes first, or leave B out of --configs")
    rows = json.loads((args.cache / "rows.json").read_text())
    n = len(rows)
    ok = np.array(["error" not in r for r in rows])
    trainable = ok & np.array([r["split"] == "fit" for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], dtype=int)
    fold = family_folds(rows)
    base = option_features(dict(np.load(args.cache / "features.npz")), VARIANTS)
    needed = sorted({s for sets in configs.values() for s in sets}, key=list(SETS).index)
    extra = {}
    for s in needed:
        f = fake_set(args.cache, s) if s in SHIPPED else set_features(s, args.cache, args.fakes, rows)
        extra[s] = (f["src"], option_features(f, TRAIN_VARIANTS))
    if args.size_check:
        f = fake_set(args.cache, SIZE_MATCHED)
        sized = (f["src"], option_features(f, CONDITIONS))
    family = np.array([r["family"] for r in rows])
    result: dict = {"c": args.c, "option": OPTION, "sets": {s: len(extra[s][0]) for s in needed},
                    "config_sets": configs, "configs": {}}
    for name, sets in configs.items():
        blocks = [(s, SETS[s], *extra[s], True) for s in sets] + ([("real:256", "real", *sized, False)] if args.size_check else [])
        oof = out_of_family(*with_extra(rows, {f"{OPTION}_{v}": base[v] for v in VARIANTS}, y, fold, trainable,
                                        [(f, label, src, {f"{OPTION}_{v}": a for v, a in x.items()}, fit)
                                         for f, label, src, x, fit in blocks]), OPTION, args.c)
        res: dict = {}
        for cond in CONDITIONS:
            scored = np.isfinite(oof[cond][:n])
            n_real = int(np.sum(scored & (y == 0)))
            fam = {f: with_interval(a, int(np.sum(scored & (family == f))), n_real)
                   for f, a in family_aurocs(rows, y, oof[cond][:n]).items()}
            res[cond] = {"families": fam, **summary(fam)}
            if args.size_check:
                r256 = oof[cond][n + sum(len(extra[k][0]) for k in sets):]
                sized_fam = {g: with_interval(a, int(np.sum((family == g) & scored)), len(r256))
                             for g, a in vs_size_matched(rows, y, oof[cond][:n], r256).items()}
                res[cond]["vs_real256"] = {"families": sized_fam, **summary(sized_fam)}
        result["configs"][name] = res
        print(f"{name}: q75 mean {res['q75']['mean']:.3f} worst {res['q75']['worst']:.3f} ({res['q75']['worst_family']}) "
              f"GAN mean {res['q75']['gan_mean']:.3f}; as found mean {res['orig']['mean']:.3f}", flush=True)
    if "baseline" in result["configs"]:
        b = result["configs"]["baseline"]
        for name, res in result["configs"].items():
            res["hurt"] = {cond: sorted(f for f, v in res[cond]["families"].items() if v["auroc"] < b[cond]["families"][f]["lo"])
                           for cond in CONDITIONS}
    (args.fakes / "probe_fakes.json").write_text(json.dumps(result, indent=1) + "\n")
    print_tables(result)
    return 0


def print_tables(result: dict) -> None:
    """Markdown: per family (GAN families first) and configuration, q75 / as found."""
    configs = list(result["configs"])
    first = result["configs"][configs[0]]
    fams = sorted(first["q75"]["families"], key=lambda f: (f not in GAN_FAMILIES, f))
    print("\n| family | " + " | ".join(configs) + " |")
    print("|---|" + "---|" * len(configs))
    for f in fams:
        cells = [f"{result['configs'][c]['q75']['families'][f]['auroc']:.3f} / "
                 f"{result['configs'][c]['orig']['families'][f]['auroc']:.3f}" for c in configs]
        print(f"| {f}{' (GAN)' if f in GAN_FAMILIES else ''} | " + " | ".join(cells) + " |")
    for key in ("mean", "worst", "gan_mean", "gan_worst"):
        print(f"| **{key}** | " + " | ".join(f"{result['configs'][c]['q75'][key]:.3f} / {result['configs'][c]['orig'][key]:.3f}"
                                             for c in configs) + " |")
    if "hurt" in first:
        print("| hurt (q75; as found) | " + " | ".join(
            f"{', '.join(result['configs'][c]['hurt']['q75']) or '-'}; {', '.join(result['configs'][c]['hurt']['orig']) or '-'}"
            for c in configs) + " |")
    if "vs_real256" in first["q75"]:
        print("\nEach family against reals brought to 256 x 256 (q75 / as found):\n")
        print("| family | " + " | ".join(configs) + " |")
        print("|---|" + "---|" * len(configs))
        sized = {c: {cond: result["configs"][c][cond]["vs_real256"] for cond in CONDITIONS} for c in configs}
        for f in fams:
            print(f"| {f}{' (GAN)' if f in GAN_FAMILIES else ''} | " + " | ".join(
                f"{sized[c]['q75']['families'][f]['auroc']:.3f} / {sized[c]['orig']['families'][f]['auroc']:.3f}"
                for c in configs) + " |")
        for key in ("mean", "worst", "gan_mean"):
            print(f"| **{key}** | " + " | ".join(f"{sized[c]['q75'][key]:.3f} / {sized[c]['orig'][key]:.3f}"
                                                 for c in configs) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
