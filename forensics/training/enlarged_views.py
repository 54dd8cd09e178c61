"""Enlarged training views for the ``effnet_probe``: every material image as images travel, blown up.

    python -m forensics.training.enlarged_views --cache CACHE [--workers 2]

Many images travel enlarged: small generator outputs re-distributed through an upscaler, photos
blown up for the web. A probe trained on images at their own scale reads enlargement itself as AI
evidence, and with both classes enlarged alike it has little of the generator left to read
(``forensics.training.probe_upscaled``; docs/pixels.md, "Enlarged images"). So every image of the
material, of either class, also gets ``upaug``: a region drawn by a hash of its path, the one that
fills up to 512 px once enlarged x1.5-4 (bilinear, bicubic or Lanczos), enlarged, then JPEG
q60-100 (p 0.85; 4:4:4 or 4:2:0) or lossless, as ``pixel_data``'s ``aug``. ``fit_pixel_heads``
trains the probe on these rows beside ``aug`` and ``web`` (``fit_pixel_heads.UP_WEIGHT``).

Writes ``CACHE/enlarged_features.npz``: ``eff_upaug`` and ``effh_upaug``, the probe's native and
halved views (``pixel_data.effnet_features``) in the order of ``CACHE/rows.json``, NaN for rows the
material could not read. Deterministic: the draws are seeded by the path, one thread per worker.
"""

from __future__ import annotations

import argparse
import json
import os
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from forensics.training.pixel_data import CROP, decode, effnet_features, encode_jpeg, seed_of  # noqa: E402

OUT = "enlarged_features.npz"
FILTERS = (Image.BICUBIC, Image.LANCZOS, Image.BILINEAR)


def enlarged(rgb: np.ndarray, factor: float, rng: np.random.Generator | None, resample: int, out: int = CROP) -> np.ndarray:
    """The region of ``rgb`` that fills ``out`` px a side once enlarged ``factor`` times (central,
    or drawn by ``rng``), enlarged, at most ``out`` x ``out`` px (centre)."""
    h, w = rgb.shape[:2]
    side = int(np.ceil(out / factor)) + 2  # a margin, so that the filter's edge falls outside the crop
    rh, rw = min(h, side), min(w, side)
    top, left = ((h - rh) // 2, (w - rw) // 2) if rng is None else (rng.integers(0, h - rh + 1), rng.integers(0, w - rw + 1))
    im = Image.fromarray(np.ascontiguousarray(rgb[top:top + rh, left:left + rw]))
    a = np.asarray(im.resize((round(rw * factor), round(rh * factor)), resample))
    ch, cw = min(a.shape[0], out), min(a.shape[1], out)
    top, left = (a.shape[0] - ch) // 2, (a.shape[1] - cw) // 2
    return np.ascontiguousarray(a[top:top + ch, left:left + cw])


def upaug(rgb: np.ndarray, key: str) -> np.ndarray:
    """The ``upaug`` view of one decoded image, drawn by ``key`` (its path)."""
    rng = np.random.default_rng(seed_of(key, "upscaled-aug"))
    view = enlarged(rgb, rng.uniform(1.5, 4.0), rng, FILTERS[rng.integers(3)])
    if rng.random() < 0.85:
        view = encode_jpeg(view, rng.integers(60, 101), subsampling=int(rng.choice([0, 2], p=[0.3, 0.7])))
    return view


def _job(row: dict) -> dict[str, np.ndarray] | None:
    if "error" in row:
        return None
    native, halved = effnet_features(upaug(decode(Path(row["file"]).read_bytes()), row["path"]))
    return {"eff_upaug": native, "effh_upaug": halved}


def collected(job, items: list, workers: int) -> dict[str, np.ndarray]:
    """``{key: features}`` of what ``job`` gives for each item (``{key: features}``), one row per
    item, NaN where it gives None (rows the material could not read, images too small)."""
    with Pool(workers) as pool:
        got = pool.map(job, items, chunksize=8)
    first = next(g for g in got if g is not None)
    out = {k: np.full((len(items), len(x)), np.nan, np.float32) for k, x in first.items()}
    for i, g in enumerate(got):
        for k, x in (g or {}).items():
            out[k][i] = x
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what forensics.training.pixel_data wrote")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    rows = json.loads((args.cache / "rows.json").read_text())
    out = collected(_job, rows, args.workers)
    np.savez(args.cache / OUT, **out)
    print(f"wrote {args.cache / OUT}: {int(np.isfinite(out['eff_upaug']).all(axis=1).sum())} of {len(rows)} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
