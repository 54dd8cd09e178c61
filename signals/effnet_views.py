"""What ``effnet_probe`` reads of an image: its windows, its views and the pooled features of the
backbone's maps. The training pipeline's stages that read images through the probe depend on this
module and the backbone, not on how the probe scores or explains them (``signals/effnet_probe.py``),
so a change to the heatmap or the evidence leaves their features, and the cache, as they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnxruntime

VIEWS = ("native", "halved")
WINDOW = 224
MIN_SIDE = 64
LEVELS = ("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head")
CHANNELS = (32, 16, 24, 40, 80, 112, 192, 320, 1280)
POOLS = ("mean", "std")  # a view's features: every level's channel means, then every level's standard deviations
WIDTH = len(POOLS) * sum(CHANNELS)  # features per view
MEANS = sum(CHANNELS)  # a view's first MEANS features: its channel means, which generator attribution reads


def windows(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """``(top, left, h, w)`` of up to four native-resolution windows that tile the central region
    of at most ``2 * WINDOW`` a side; a side shorter than ``WINDOW`` is taken whole."""

    def starts(n: int) -> tuple[list[int], int]:
        if n < WINDOW:
            return [0], n
        if n < 2 * WINDOW:
            return sorted({0, n - WINDOW}), WINDOW
        return [n // 2 - WINDOW, n // 2], WINDOW

    ys, wh = starts(height)
    xs, ww = starts(width)
    return [(y, x, wh, ww) for y in ys for x in xs]


def region_of(wins: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of the region the windows tile."""
    top, left = wins[0][0], wins[0][1]
    return top, left, wins[-1][0] + wins[-1][2] - top, wins[-1][1] + wins[-1][3] - left


def halve(rgb: np.ndarray) -> np.ndarray:
    """``(h // 2, w // 2, 3)`` float32 means of 2x2 pixel blocks (exact: quarters of integers)."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    return rgb[:h, :w].astype(np.float32).reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))


def backbone_input(pixels: np.ndarray, wins: list[tuple[int, int, int, int]]) -> np.ndarray:
    """``(n, 3, h, w)`` float32 in [-1, 1] (mean = std = 0.5, as the TF weights were trained)."""
    x = np.stack([pixels[y:y + h, x0:x0 + w] for y, x0, h, w in wins]).astype(np.float32)
    x /= 127.5
    x -= 1.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def pooled(maps: list[np.ndarray]) -> np.ndarray:
    """The probe's input: each level's channel means over windows and positions, then their
    standard deviations over the same (``POOLS``)."""
    return np.concatenate([m.mean(axis=(0, 2, 3)) for m in maps] + [m.std(axis=(0, 2, 3)) for m in maps]).astype(np.float32)


def view_features(session: onnxruntime.InferenceSession, rgb: np.ndarray, views: tuple[str, ...] = VIEWS) -> dict[str, tuple[np.ndarray, list[np.ndarray], list]]:
    """``{view: (pooled features, the backbone's maps, its windows)}`` for an ``(h, w, 3)`` uint8
    image through the backbone's onnxruntime ``session``; the halved view's windows are in halved
    pixels."""
    wins = windows(*rgb.shape[:2])
    out = {}
    for view in views:
        if view == "native":
            pixels, vw = rgb, wins
        else:
            top, left, h, w = region_of(wins)
            pixels = halve(rgb[top:top + h, left:left + w])
            vw = [(0, 0, *pixels.shape[:2])]
        maps = session.run(None, {"pixels": backbone_input(pixels, vw)})
        out[view] = (pooled(maps), maps, vw)
    return out
