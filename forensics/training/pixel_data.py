"""Laundered material for the learned pixel signals, from the corpus and the fetched sources.

    python scripts/pixel_data.py --train-dir DIR --out CACHE [--workers 2] [--dct]

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

Also importable: the family folds and sample weights every fitting script shares.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import sys
from functools import partial
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import DEFAULT_CORPUS, split_of  # noqa: E402

from forensics.signals.effnet_probe import MIN_SIDE  # noqa: E402

CAP = 400
CROP = 512
KEEP = 256
K = 5  # family folds
FEATURE_KINDS = ("eff", "effh", "dct")  # effnet_probe's native and halved views, the DCT signal's features (--dct)
VARIANTS = ("aug", "web", "q75", "orig", "jpeg90", "downscale05")
CROPS = ("aug", "q75", "orig", "jpeg90", "downscale05")  # the variants whose 256-px crops are kept for the small network
#: the evaluation conditions: the file as found, forensics evaluate's launderings, the hidden set's q75
CONDITIONS = ("orig", "png", "jpeg90", "downscale05", "q75")
#: a lossless re-save of the decoded pixels: the pixel signals see the same array as the original's
SAME_PIXELS = {"png": "orig"}

#: generator column -> family used for leave-family-out (one family per model lineage)
FAMILY = {
    "stable-diffusion-1.x": "sd1", "Stable Diffusion 1.5 artist styles (2x2 grid tiles)": "sd1",
    "Stable Diffusion beta (2022)": "sd1",
    "Midjourney v3 (2022)": "midjourney_v3", "DALL-E 2": "dalle2", "CompVis latent diffusion (LDM)": "ldm",
    "GLID-3-XL": "glid3", "DALL-E mini": "dalle_mini", "Disco Diffusion": "disco", "VQGAN+CLIP (pixray)": "vqgan_clip",
    "Majesty Diffusion": "majesty", "SDXL": "sdxl", "Stable Cascade": "cascade",
    "DALL-E 3 (screen captures: resampled)": "dalle3", "Stable Diffusion 3.5 Large": "sd35",
    "GPT-4o image generation (re-shared)": "gpt4o", "gpt-image-1 (OpenAI examples)": "gpt4o",
    "FLUX.1-dev (2x2 grid tiles: downscaled 2x and WebP)": "flux",
    # round 2: GANs (one family per lineage; StyleGAN2 and its ADA variant are one), Gemini
    "StyleGAN2 (official TF; FFHQ config-f; truncation psi 0.5/0.2/1.0)": "stylegan2",
    "StyleGAN2-ADA (pytorch generate.py) FFHQ 1024 pretrained": "stylegan2",
    "StyleGAN2 (rosinality stylegan2-pytorch generate.py) trained on pizza photos 256px": "stylegan2",
    "AnimeGAN v1 (GAN photo-to-anime translation; Hayao style; outputs of the real photos in result/Hayao/photo)": "animegan",
    "CycleGAN horse->zebra (official horse2zebra_pretrained + 3 own fine-tunes) 256px": "cyclegan",
    "CycleGAN official monet2photo pretrained (Monet painting -> photo) 256px": "cyclegan",
    # one manifest row holds both: its facades_pix2pix folder is pix2pix (``family_of``)
    "CycleGAN (maps map->aerial; facades label->photo) + pix2pix (facades label->photo)": "cyclegan",
    "pix2pix (U-Net G) label->photo: facades + cityscapes + maps (map->aerial)": "pix2pix",
    "StarGAN v2 CelebA-HQ (reference-guided male->female) 256px": "stargan2",
    "Gemini 3 Pro Image (Nano Banana Pro; re-encoded JPEG 1200 px)": "gemini",
}
#: the families and real sources of the manifest's round-2 rows: they join the folds after the
#: first round's, so that the first round's folds, and its figures, stay comparable
ROUND2 = {"stylegan2", "animegan", "cyclegan", "pix2pix", "stargan2", "gemini",
          *(f"real:{s}" for s in ("TachibanaYoshino/AnimeGAN", "TachibanaYoshino/AnimeGANv3", "Tech4Tracing/CartridgeOCR",
                                  "Hemnath0075/ee6180_practical_assignment", "blechn/3dcv-final"))}
GAN_FAMILIES = ("animegan", "cyclegan", "pix2pix", "stargan2", "stylegan2")
#: pytorch-CycleGAN-and-pix2pix result folders (by prefix) -> the dataset whose N-th test image they translate
TRANSLATION_SETS = {"facades": "facades", "maps": "maps", "cityscapes": "cityscapes", "h2z": "horse2zebra",
                    "horse2zebra": "horse2zebra", "monet2photo": "monet2photo"}


def seed_of(key: str, what: str) -> int:
    return int.from_bytes(hashlib.sha256(f"forensics-pixels-v1|{what}|{key}".encode()).digest()[:8], "little")


def family_of(generator: str, path: str) -> str:
    if "/facades_pix2pix/" in path:
        return "pix2pix"
    return FAMILY[generator]


def group_of(path: str) -> str:
    """Files that must stay on one side of a split: the four tiles of a grid, a PolyU scene, a GAN's
    output and its input or target (the N-th test image of a translation set in every model and
    repository, an AnimeGAN photo and its anime rendition), a StarGAN v2 source face with all its
    references, a StyleGAN2 seed at every truncation."""
    if m := re.search(r"/results/([^/]+)/test_latest/images/(\w+?)_(?:fake|real)(?:_[AB])?\.png$", path):
        return ("translation:" + next((v for k, v in TRANSLATION_SETS.items() if m.group(1).startswith(k)), m.group(1))
                + ":" + m.group(2))
    if m := re.search(r"/result/Hayao/photo(?:_result)?/([^/]+)$", path):
        return "animegan:" + Path(m.group(1)).stem.strip()
    if m := re.search(r"/expr/eval/celeba_hq/male2female/(\d+)_\d+\.png$", path):
        return "stargan2:" + m.group(1)
    if m := re.search(r"Project-on-StyleGAN/results/\d+-generate-images/(seed\d+)\.png$", path):
        return "stylegan2-ffhq:" + m.group(1)
    p = re.sub(r"\.tile\d\.png$", "", path)
    if "PolyU" in p:
        return "polyu:" + "_".join(Path(p).name.split("_")[:5])
    if "SfM_quality" in p:
        return "strecha:" + p.split("/")[-3]
    return p


def read_rows(corpus: Path, train_dir: Path) -> list[dict]:
    """Selected rows: the corpus's ai/real files and the fetched sources', capped per family."""
    rows = []
    for base, tag in ((corpus, "corpus"), (train_dir, "train")):
        with open(base / "labels.csv", newline="") as fh:
            for r in csv.DictReader(fh):
                if r["label"] not in ("ai", "real") or (tag == "corpus" and r["path"].startswith("provenance/")):
                    continue
                rows.append({"file": str(base / r["path"]), "path": f"{tag}/{r['path']}", "label": r["label"],
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


def family_folds(rows: list[dict], k: int = K) -> np.ndarray:
    """Fold of each row: every AI family and every real source lies wholly in one fold, so an
    out-of-fold score comes from a model that never saw that family or source. Families and
    sources that share a group (a GAN's outputs and its inputs, two GANs translating the same test
    images) lie in one fold, so no pair is split. First-round families are placed greedily by size,
    AI families and then real sources, as before round 2; then each round-2 unit (its linked
    families and sources) goes to the fold with the fewest round-2 AI families, so that GAN families
    are held out one at a time where they share nothing, then to the least loaded."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["family"]] = sizes.get(r["family"], 0) + 1
    unit = {f: f for f in sizes}  # union-find over families linked by a shared group

    def root(f: str) -> str:
        while unit[f] != f:
            f = unit[f]
        return f

    first_family: dict[str, str] = {}
    for r in rows:
        g = first_family.setdefault(r["group"], r["family"])
        if root(g) != root(r["family"]):
            unit[max(root(g), root(r["family"]))] = min(root(g), root(r["family"]))
    units: dict[str, list[str]] = {}
    for f in sizes:
        units.setdefault(root(f), []).append(f)
    fold_of = {}
    load = {False: [0] * k, True: [0] * k}
    for real in (False, True):
        fams = sorted((f for f in sizes if f.startswith("real:") == real and f not in ROUND2),
                      key=lambda f: (-sizes[f], hashlib.sha256(f.encode()).hexdigest()))
        for f in fams:
            j = int(np.argmin(load[real]))
            fold_of[f] = j
            load[real][j] += sizes[f]
    new_ai = [0] * k
    for fs in sorted((sorted(u) for u in units.values() if set(u) <= ROUND2),
                     key=lambda u: (-sum(sizes[f] for f in u), hashlib.sha256("|".join(u).encode()).hexdigest())):
        n_ai = sum(not f.startswith("real:") for f in fs)
        real = n_ai == 0
        j = min(range(k), key=lambda j: ((new_ai[j], load[False][j]) if not real else (0, load[True][j])))
        new_ai[j] += n_ai
        for f in fs:
            fold_of[f] = j
            load[f.startswith("real:")][j] += sizes[f]
    return np.array([fold_of[r["family"]] for r in rows])


def sample_weights(rows: list[dict], idx: np.ndarray) -> np.ndarray:
    """Weights over ``idx`` (zero elsewhere): the classes weigh the same, and within a class a
    family of n images weighs sqrt(n), so small families count without a 21-image family
    weighing as much as a 400-image one."""
    w = np.zeros(len(rows))
    for cls in ("ai", "real"):
        fams: dict[str, list[int]] = {}
        for i in idx:
            if rows[i]["label"] == cls:
                fams.setdefault(rows[i]["family"], []).append(int(i))
        for ii in fams.values():
            w[ii] = 1.0 / np.sqrt(len(ii))
        members = [i for ii in fams.values() for i in ii]
        w[members] /= w[members].sum()
    return w


def decode(data: bytes) -> np.ndarray:
    """The engine's own intake: the pixels every signal sees at analysis time."""
    from forensics.image import load_image

    return load_image(data).rgb


def encode_jpeg(rgb: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality), subsampling=subsampling)
    return decode(buf.getvalue())


def centre_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    ch, cw = min(h, size), min(w, size)
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(rgb[top:top + ch, left:left + cw])


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


def laundered_q75(rgb: np.ndarray) -> bytes:
    """The hidden set's laundering: centre crop of at most 512 px, JPEG q75 4:2:0, no metadata."""
    buf = io.BytesIO()
    Image.fromarray(centre_crop(rgb, CROP)).save(buf, "JPEG", quality=75, subsampling=2)
    return buf.getvalue()


def laundered(data: bytes, condition: str) -> bytes:
    """The bytes of one evaluation condition, as ``forensics evaluate`` makes them (``q75``: the hidden set's)."""
    from forensics.evaluation.laundering import launder

    if condition == "orig":
        return data
    if condition == "q75":
        return laundered_q75(decode(data))
    return launder(data, condition, seed=0)


def keep_crop(rgb: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    h, w = rgb.shape[:2]
    out = np.zeros((KEEP, KEEP, 3), np.uint8)
    ch, cw = min(h, KEEP), min(w, KEEP)
    if rng is None:
        top, left = (h - ch) // 2, (w - cw) // 2
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
    """The DCT signal's image-level features: the mean over its textured tiles."""
    from forensics.signals.dct import FEATURE_NAMES, FLAT_STD, extract_tiles, tile_features

    tiles, _ = extract_tiles(rgb, 256, 16)
    feats, diag = tile_features(tiles)
    keep = diag["res_std"] >= FLAT_STD
    if not keep.any():
        return np.full(len(FEATURE_NAMES), np.nan, np.float32)
    return feats[keep].mean(axis=0).astype(np.float32)


def job(row: dict, only: tuple[str, ...] = VARIANTS, dct: bool = False) -> dict:
    try:
        data = Path(row["file"]).read_bytes()
        orig = decode(data)
        if min(orig.shape[:2]) < MIN_SIDE:
            raise ValueError(f"under {MIN_SIDE} px a side")
        rng = np.random.default_rng(seed_of(row["path"], "aug"))
        aug = augment(orig, rng)
        variants = {"aug": aug, "web": web_rendition(orig, np.random.default_rng(seed_of(row["path"], "web"))),
                    "q75": decode(laundered_q75(orig)), "orig": orig,
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
