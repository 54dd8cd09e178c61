"""The probe's extra rows, made from the real photos: features of our own fakes, of their reals, and of size-matched reals.

    python -m forensics.training.fake_features --cache CACHE [--workers 2]

CACHE is what ``pixel_data``, ``taesd_fakes``, ``autogan_fakes`` and ``pix2pix_fakes`` wrote. The
training sets (:data:`SETS`, each one family of its class in ``fit_pixel_heads``):

* ``taesd``, ``autogan`` (AI): each fit-split real photo's central 128-px patch reconstructed by
  the TAESD or the AutoGAN autoencoder, with the reals' final encoding;
* ``pix2pix_frame256`` (AI) and ``real_frame256`` (real): the fit-split real photos brought whole
  to 256 x 256, redrawn by ``pix2pix_fakes``' generator, beside the frames themselves given the
  reals' final encoding: an image-to-image GAN's traces where only those tell the two apart.

Each image is saved as a PNG and goes through ``pixel_data.job`` like every file of the
material (the engine's intake, the ``aug`` and ``web`` variants, the probe's features of both
views). Each row keeps the material row it was made from, so a fitting stage puts it in that
photo's fold.

And :data:`SIZE_MATCHED`: every real photo of the material (both splits) brought to 256 x 256
the same way, its features lossless (``orig``) and laundered (``q75``). The GAN families are
256-px images and most reals are larger, so a probe can rank them by size; against these reals
size tells nothing (``fit_pixel_heads`` reports each family against them).

Writes ``CACHE/fake_features.npz``: ``<set>:src`` (the material row of each image) and
``<set>:<kind>_<variant>`` (``eff``/``effh``, ``aug``/``web`` or ``orig``/``q75``). Deterministic:
the images are drawn by their paths and the features computed in order.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from forensics.evaluation.laundering import launder_q75  # noqa: E402
from forensics.training.fakes import encode_like_reals  # noqa: E402
from forensics.training.pixel_data import decode, effnet_features, job  # noqa: E402

#: training set -> label
SETS = {"taesd": "ai", "autogan": "ai", "pix2pix_frame256": "ai", "real_frame256": "real"}
SIZE_MATCHED = "real256"
TRAIN_VARIANTS = ("aug", "web")
KINDS = ("eff", "effh")  # the probe's native and halved views
OUT = "fake_features.npz"


def set_images(name: str, cache: Path, rows: list[dict]):
    """``(material row, key, uint8 image)`` of one training set, in a fixed order."""
    if name in ("taesd", "autogan"):
        made = json.loads((cache / f"{name}.json").read_text())
        crops = np.load(cache / f"crop_{name}.npy", mmap_mode="r")
        for i in sorted(made["rows"]):
            yield i, f"{name}/{rows[i]['path']}", np.asarray(crops[i, :made["size"], :made["size"]])
        return
    made = json.loads((cache / "pix2pix.json").read_text())["rows"]
    fake = name.startswith("pix2pix")
    images = np.load(cache / ("crop_pix2pix256.npy" if fake else "frame256.npy"), mmap_mode="r")
    for k, i in enumerate(made):
        key = f"{name}/{rows[i]['path']}"
        yield i, key, np.asarray(images[k]) if fake else encode_like_reals(np.asarray(images[k]), key)


def _train_job(item: tuple[int, str, np.ndarray, str]) -> dict:
    n, key, rgb, folder = item
    path = Path(folder) / f"{n:05d}.png"
    Image.fromarray(rgb).save(path)
    r = job({"file": str(path), "path": f"fakes/{key}"}, only=TRAIN_VARIANTS)
    path.unlink()
    if "error" in r:
        raise RuntimeError(f"{key}: {r['error']}")
    return {f"{kind}_{v}": r[f"{kind}_{v}"] for v in TRAIN_VARIANTS for kind in KINDS}


def _size_matched_job(file: str) -> dict:
    from forensics.training.pix2pix_fakes import frame

    rgb = frame(file)
    out = {}
    for cond, a in (("orig", rgb), ("q75", decode(launder_q75(rgb)))):
        for kind, v in zip(KINDS, effnet_features(a)):
            out[f"{kind}_{cond}"] = v
    return out


def collect(results, src: list[int], name: str, out: dict) -> None:
    got: dict[str, list] = {}
    for n, r in enumerate(results):
        for k, v in r.items():
            got.setdefault(k, []).append(v)
        if n % 500 == 0:
            print(f"  {name}: {n}/{len(src)}", flush=True)
    out[f"{name}:src"] = np.asarray(src, np.int64)
    for k, v in got.items():
        out[f"{name}:{k}"] = np.asarray(v, np.float32)
    print(f"  {name}: {len(src)} images", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    rows = json.loads((args.cache / "rows.json").read_text())
    out: dict[str, np.ndarray] = {}
    with Pool(args.workers) as pool, tempfile.TemporaryDirectory(dir=args.cache) as tmp:
        for name in SETS:
            images = list(set_images(name, args.cache, rows))
            collect(pool.imap(_train_job, [(n, key, rgb, tmp) for n, (_, key, rgb) in enumerate(images)], chunksize=8),
                    [i for i, _, _ in images], name, out)
        reals = [i for i, r in enumerate(rows) if r["label"] == "real" and "error" not in r]
        collect(pool.imap(_size_matched_job, [rows[i]["file"] for i in reals], chunksize=8), reals, SIZE_MATCHED, out)
    np.savez(args.cache / OUT, **out)
    print(f"wrote {args.cache / OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
