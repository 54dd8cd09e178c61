"""Does the frozen backbone read a generator's traces better from a residual image than from the
pixels? An out-of-family experiment (issue 24, item 3).

    python -m forensics.training.residual_inputs --cache CACHE --out OUT

CACHE is what ``forensics.training.pixel_data`` wrote (read only); OUT a folder of our own for the
features. As ``forensics.training.backbones`` does, every model reads the cache's 256-px crops:
trained on the ``aug`` crops, scored on the ``q75`` (laundered) and ``orig`` (as found) crops, out
of family with the 5 folds of ``folds.family_folds``. The frozen ImageNet EfficientNet-Lite0 reads
each crop in three forms (``INPUTS``): the pixels; a high-pass residual (the crop minus its 3 x 3
box mean); and the up-sampling residual of ``npr`` (the crop minus its 2 x 2 means brought back
by nearest neighbour). A residual is amplified 8 times and clipped to the backbone's input range,
so that it spans about as much of it as the pixels do. Each of the nine feature maps is pooled
into its channels' means and standard deviations over positions; a linear probe is fitted as
``fit_pixel_heads`` fits it (``backbones.probe_scores``), at C = 0.001 and 0.003, on each input alone and on the three side by
side, with the means alone and with the spreads beside them.

Prints the lines of ``backbones.report`` for each. Deterministic for a fixed thread count on one
machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from forensics.training.backbones import CROPS, over_crops, pixels, probe_scores, report
from forensics.training.build_effnet import feature_module, mapped_model
from forensics.training.folds import family_folds

INPUTS = ("rgb", "highpass", "npr")
GAIN = 8.0


def residual(x: torch.Tensor, kind: str) -> torch.Tensor:
    """What the backbone reads of ``x``, ``(1, 3, h, w)`` in [-1, 1]: the pixels, or a residual
    (amplified ``GAIN`` times, clipped to [-1, 1]; ``npr`` drops an odd last row or column)."""
    if kind == "rgb":
        return x
    if kind == "highpass":
        box = torch.ones(3, 1, 3, 3) / 9
        r = x - F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), box, groups=3)
    elif kind == "npr":
        x = x[:, :, :x.shape[2] // 2 * 2, :x.shape[3] // 2 * 2]
        r = x - F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    else:
        raise ValueError(f"unknown input {kind!r}")
    return (r * GAIN).clamp(-1, 1)


def pooled(features, x: torch.Tensor) -> np.ndarray:
    """The nine feature maps' channel means, then their standard deviations, side by side."""
    with torch.no_grad():
        maps = features(x)
        return torch.cat([m.mean(dim=(2, 3)) for m in maps] + [m.std(dim=(2, 3), unbiased=False) for m in maps], 1)[0].numpy()


def input_features(kind: str, cache: Path, out: Path, rows: list[dict], features) -> dict[str, np.ndarray]:
    """``{crop: (n, 4192)}`` for one input, NaN where a crop is under 64 px a side; kept in
    ``OUT/feats_<kind>.npz``."""
    path = out / f"feats_{kind}.npz"
    if path.is_file():
        return dict(np.load(path))
    got = {}
    for v in CROPS:
        t = time.time()
        got[v] = over_crops(cache, v, rows, lambda a: pooled(features, residual(pixels(a), kind)))
        print(f"  {kind} {v}: {time.time() - t:.0f} s", flush=True)
    np.savez(path, **got)
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what pixel_data.py wrote (read only)")
    ap.add_argument("--out", type=Path, required=True, help="a folder for this experiment's features")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.out.resolve() == args.cache.resolve():
        ap.error("--out must not be the cache: the cache is read only")
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    rows = json.loads((args.cache / "rows.json").read_text())
    features = feature_module(mapped_model("lite0"))
    feats = {kind: input_features(kind, args.cache, args.out, rows, features) for kind in INPUTS}
    trainable = np.array(["error" not in r and r["split"] == "fit" for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], int)
    fold = family_folds(rows)
    means = feats["rgb"]["aug"].shape[1] // 2
    for combo in [[k] for k in INPUTS] + [list(INPUTS)]:
        for part in ("means", "means and spreads"):
            x = {v: np.concatenate([feats[k][v][:, :means] if part == "means" else feats[k][v] for k in combo], 1)
                 for v in CROPS}
            for c in (0.001, 0.003):
                report(f"{' + '.join(combo)}, {part}, C={c}", rows, y, probe_scores(x, rows, y, fold, trainable, c))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
