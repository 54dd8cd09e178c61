"""Laundered material for the learned pixel signals, from the corpus and the fetched sources.

    python -m forensics.training.pixel_data --train-dir DIR --out CACHE [--workers 2] [--dct]

DIR is what ``../shared/corpus/extract_sources.py`` wrote (23 generator families, about 2,850
real photos; see the developers' guide); CACHE is a folder outside the repository. Every image
gets the same processing whatever its class, in three variants:

* ``aug``, the training recipe: resize x0.5-1.5 (p 0.5, bilinear/bicubic/Lanczos), Gaussian
  blur (p 0.1), a random crop of at most 512 px, then JPEG q60-100 (p 0.85, 4:4:4 or 4:2:0)
  or lossless;
* ``web``, a web rendition, the other training variant: the long side brought to 384-1024 px
  when it is longer (as sites and messengers resize photos; p 0.8), then a random crop of at
  most 512 px and JPEG q60-95;
* ``q75``, the laundering of the hidden test set: centre crop of at most 512 px, JPEG q75 4:2:0;
* ``orig``, the file as found;
* ``jpeg90`` and ``downscale05``, two of ``forensics evaluate``'s conditions
  (``forensics.evaluation.laundering``): the whole image re-encoded as JPEG q90, or halved
  (Lanczos) first, metadata stripped. Its third, ``png`` (a lossless re-save), gives the pixel
  signals the very array ``orig`` gives, so only the metadata scores differ (``SAME_PIXELS``).

Each variant is decoded by the engine's own intake (``load_image``) and gives the pooled
EfficientNet-Lite0 features of both views (``eff_*`` native, ``effh_*`` halved;
``EffnetProbeSignal.features``, so training sees what analysis sees) and, with ``--dct``, the DCT image features; 256-px uint8 crops (random for ``aug``, central otherwise,
as ``npr`` analyses) are kept for the small network. Families are capped at ``CAP`` images,
drawn by a hash of the group, so that 3,500 FLUX tiles do not drown 21 Majesty images.

Writes ``rows.json`` (path, label, family, group, split, sizes), ``features.npz`` and
``crop_{aug,q75,orig,jpeg90,downscale05}.npy``. Deterministic: every draw is seeded by a hash of the path.

"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from functools import partial
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from forensics.evaluation.laundering import centre_crop, launder, launder_q75  # noqa: E402
from forensics.signals.effnet_views import MIN_SIDE  # noqa: E402
from forensics.training.corpus import DEFAULT_CORPUS, family_of, group_of, labelled, split_of  # noqa: E402
from forensics.training.seeds import hash_seed  # noqa: E402

CAP = 400
CROP = 512
KEEP = 256
FEATURE_KINDS = ("eff", "effh", "dct")  # effnet_probe's native and halved views, the DCT signal's features (--dct)
VARIANTS = ("aug", "web", "q75", "orig", "jpeg90", "downscale05")
CROPS = ("aug", "q75", "orig", "jpeg90", "downscale05")  # the variants whose 256-px crops are kept for the small network
#: the evaluation conditions: the file as found, forensics evaluate's launderings, the hidden set's q75
CONDITIONS = ("orig", "png", "jpeg90", "downscale05", "q75")
#: a lossless re-save of the decoded pixels: the pixel signals see the same array as the original's
SAME_PIXELS = {"png": "orig"}


def seed_of(key: str, what: str) -> int:
    return hash_seed(f"forensics-pixels-v1|{what}|{key}")


def read_rows(corpus: Path, train_dir: Path) -> list[dict]:
    """Selected rows: the corpus's ai/real files and the fetched sources', capped per family."""
    rows = []
    for base, tag in ((corpus, "corpus"), (train_dir, "train")):
        for r in labelled(base):
            if tag == "corpus" and r["path"].startswith("provenance/"):
                continue
            rows.append({"file": r["file"], "path": f"{tag}/{r['path']}", "label": r["label"],
                         "family": family_of(r["generator"], r["path"]) if r["label"] == "ai" else "real:" + r["source"],
                         "generator": r["generator"], "group": f"{tag}/{group_of(r['path'])}",
                         # the corpus's holdout half is never fitted on: forensics evaluate measures on it
                         "split": split_of(r["path"]) if tag == "corpus" else "fit"})
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["family"], []).append(r)
    out = []
    for _, rs in sorted(by.items()):
        rs.sort(key=lambda r: (seed_of(r["group"], "cap"), r["path"]))
        out += rs[:CAP]
    return out


def decode(data: bytes) -> np.ndarray:
    """The engine's own intake: the pixels every signal sees at analysis time."""
    from forensics.image import load_image

    return load_image(data).rgb


def encode_jpeg(rgb: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality), subsampling=subsampling)
    return decode(buf.getvalue())


def augment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    im = Image.fromarray(rgb)
    if rng.random() < 0.5:
        f = rng.uniform(0.5, 1.5)
        w, h = im.size
        im = im.resize((max(64, round(w * f)), max(64, round(h * f))),
                       [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS][rng.integers(3)])
    if rng.random() < 0.1:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.0)))
    a = np.asarray(im)
    h, w = a.shape[:2]
    ch, cw = min(h, CROP), min(w, CROP)
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    a = np.ascontiguousarray(a[top:top + ch, left:left + cw])
    if rng.random() < 0.85:
        a = encode_jpeg(a, rng.integers(60, 101), subsampling=int(rng.choice([0, 2], p=[0.3, 0.7])))
    return a


def web_rendition(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    im = Image.fromarray(rgb)
    target = int(rng.integers(384, 1025))
    if max(im.size) > target and rng.random() < 0.8:
        f = target / max(im.size)
        im = im.resize((max(64, round(im.width * f)), max(64, round(im.height * f))),
                       [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS][rng.integers(3)])
    a = np.asarray(im)
    h, w = a.shape[:2]
    ch, cw = min(h, CROP), min(w, CROP)
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return encode_jpeg(np.ascontiguousarray(a[top:top + ch, left:left + cw]), rng.integers(60, 96))


def laundered(data: bytes, condition: str) -> bytes:
    """The bytes of one evaluation condition, as ``forensics evaluate`` makes them (``q75``: the hidden set's)."""
    if condition == "orig":
        return data
    if condition == "q75":
        return launder_q75(decode(data))
    return launder(data, condition, seed=0)


def keep_crop(rgb: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """A crop of at most ``KEEP`` px a side (central, or drawn by ``rng``), at the top left of a
    ``KEEP`` x ``KEEP`` array of zeros."""
    h, w = rgb.shape[:2]
    out = np.zeros((KEEP, KEEP, 3), np.uint8)
    ch, cw = min(h, KEEP), min(w, KEEP)
    if rng is None:
        out[:ch, :cw] = centre_crop(rgb, KEEP)
    else:
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out[:ch, :cw] = rgb[top:top + ch, left:left + cw]
    return out


_effnet = None


def effnet_features(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pooled features of effnet_probe's native and halved views."""
    global _effnet
    if _effnet is None:
        from forensics.signals.effnet_probe import EffnetProbeSignal

        _effnet = EffnetProbeSignal(threads=1)
    views = _effnet.features(rgb, ("native", "halved"))
    return views["native"][0], views["halved"][0]


def dct_features(rgb: np.ndarray) -> np.ndarray:
    """The DCT signal's image-level features (``DCTSignal.features``)."""
    from forensics.signals.dct import DCTSignal

    return DCTSignal().features(rgb)


def job(row: dict, only: tuple[str, ...] = VARIANTS, dct: bool = False) -> dict:
    try:
        data = Path(row["file"]).read_bytes()
        orig = decode(data)
        if min(orig.shape[:2]) < MIN_SIDE:
            raise ValueError(f"under {MIN_SIDE} px a side")
        rng = np.random.default_rng(seed_of(row["path"], "aug"))
        aug = augment(orig, rng)
        variants = {"aug": aug, "web": web_rendition(orig, np.random.default_rng(seed_of(row["path"], "web"))),
                    "q75": decode(launder_q75(orig)), "orig": orig,
                    **{c: decode(laundered(data, c)) for c in ("jpeg90", "downscale05")}}
        out: dict = {"shape": orig.shape[:2]}
        for name in only:
            small = min(variants[name].shape[:2]) < MIN_SIDE  # a halved small image: the signals refuse it
            out[f"eff_{name}"], out[f"effh_{name}"] = (None, None) if small else effnet_features(variants[name])
            out[f"dct_{name}"] = None if small or not dct else dct_features(variants[name])
        out["hw"] = {k: [min(variants[k].shape[0], KEEP), min(variants[k].shape[1], KEEP)] for k in CROPS}
        for k in CROPS:
            out[f"crop_{k}"] = keep_crop(variants[k], rng if k == "aug" else None)
        return out
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--train-dir", type=Path, required=True, help="output folder of extract_sources.py")
    ap.add_argument("--out", type=Path, required=True, help="cache folder (outside the repository)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dct", action="store_true",
                    help="also the DCT signal's features, for its head (most of the time: dct is not a default signal)")
    ap.add_argument("--only", choices=VARIANTS, nargs="+",
                    help="recompute the features of these variants into an existing cache (same rows, same draws)")
    args = ap.parse_args(argv)
    rows = read_rows(args.corpus, args.train_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    n = len(rows)
    print(f"{n} images", flush=True)
    if args.only:
        old = json.loads((args.out / "rows.json").read_text())
        if [r["path"] for r in old] != [r["path"] for r in rows]:
            print("error: the cache holds other rows; rebuild it without --only", file=sys.stderr)
            return 2
        feats = dict(np.load(args.out / "features.npz"))
        with Pool(args.workers) as pool:
            for i, r in enumerate(pool.imap(partial(job, only=tuple(args.only), dct=args.dct), rows, chunksize=4)):
                for k in args.only:
                    for kind in FEATURE_KINDS:
                        if "error" not in r and r[f"{kind}_{k}"] is not None:
                            v = r[f"{kind}_{k}"]
                            feats.setdefault(f"{kind}_{k}", np.full((n, len(v)), np.nan, np.float32))[i] = v
        np.savez(args.out / "features.npz", **feats)
        print(f"updated {args.out / 'features.npz'}: {', '.join(args.only)}")
        return 0
    feats = {}
    crops = {k: np.lib.format.open_memmap(args.out / f"crop_{k}.npy", "w+", np.uint8, (n, KEEP, KEEP, 3)) for k in CROPS}
    with Pool(args.workers) as pool:
        for i, r in enumerate(pool.imap(partial(job, dct=args.dct), rows, chunksize=4)):
            if "error" in r:
                rows[i]["error"] = r["error"]
                continue
            rows[i]["height"], rows[i]["width"] = map(int, r["shape"])
            rows[i]["crop_hw"] = r["hw"]
            for k in CROPS:
                crops[k][i] = r[f"crop_{k}"]
            for k in VARIANTS:
                for kind in FEATURE_KINDS:
                    if (v := r[f"{kind}_{k}"]) is None:
                        continue
                    feats.setdefault(f"{kind}_{k}", np.full((n, len(v)), np.nan, np.float32))[i] = v
            if i % 500 == 0:
                print(i, flush=True)
    for c in crops.values():
        c.flush()
    np.savez(args.out / "features.npz", **feats)
    (args.out / "rows.json").write_text(json.dumps(rows))
    errors: dict[str, int] = {}
    for r in rows:
        if "error" in r:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    print(f"wrote {args.out}: {n} rows, {sum(errors.values())} unreadable")
    for reason, count in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {count}: {reason}")
    return 1 if sum(errors.values()) == n else 0


if __name__ == "__main__":
    raise SystemExit(main())
