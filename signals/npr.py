"""``npr``: a small network trained from scratch on neighbouring-pixel residuals.

Up-sampling, the last step of nearly every generator's decoder, leaves correlations between
the pixels of each 2x2 block (Tan et al., "Rethinking the Up-Sampling Operations in CNN-based
Generative Network for Generalizable Deepfake Detection", CVPR 2024). The network sees
``x - up2(down2(x))`` (nearest neighbour), the residual that removes content and keeps those
relations, then six 3x3 convolutions (stride 8 overall) and a 1x1 layer give a logit for each
8-px cell; the score is their mean. It runs on the central region of at most 256x256 px at
native resolution. It is trained on CPU by ``forensics.training.train_npr`` (fixed seed; real photos
passed through a tiny latent autoencoder join the fakes) and shipped as ONNX
(``data/npr.onnx``, about 0.16 M parameters) with a JSON head that records its sha256.

Evidence keys: ``region`` (``[top, left, height, width]``), ``cell_logit_min`` /
``cell_logit_max``, ``network_probability``, ``heatmap_grid``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from forensics.numeric import sigmoid

from forensics.artifacts import Artifact, OnnxGraph, packaged, read_artifact

from .base import SignalResult
from .onnx import OnnxSignal

if TYPE_CHECKING:
    from forensics.image import LoadedImage

HEAD_FORMAT = "forensics.npr"
HEAD_FORMAT_VERSION = 1
REGION = 256
MIN_SIDE = 64
CELL = 8


def region(height: int, width: int) -> tuple[int, int, int, int]:
    """``(top, left, h, w)``: the central window of at most ``REGION`` a side, cut to even sizes."""
    h, w = min(height, REGION), min(width, REGION)
    h, w = h - h % 2, w - w % 2
    return (height - h) // 2, (width - w) // 2, h, w


def network_input(rgb: np.ndarray) -> np.ndarray:
    """``(n, 3, h, w)`` float32 in [0, 1] from ``(n, h, w, 3)`` uint8."""
    x = rgb.astype(np.float32)
    x /= 255.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class NprSignal(OnnxSignal):
    """Pixel signal; ``score`` is the network's mean cell log-odds that the image is AI-generated."""

    name: ClassVar[str] = "npr"
    version: ClassVar[str] = "1.0"
    failure: ClassVar[str] = "NPR network failed"
    #: not in the default set: out of family it ranks GAN families below the reals (laundered:
    #: pix2pix 0.12, CycleGAN 0.26) and earns no weight in the default fusion
    #: (docs/evaluation.md); it runs, and maps, when named
    by_default: ClassVar[bool] = False

    def __init__(self, head_path: str | Path | None = None, threads: int | None = 1) -> None:
        self.head_path = head_path
        self.threads = threads

    def _head(self) -> Artifact:
        return read_artifact(self.head_path or packaged("forensics.signals", "npr.json"), HEAD_FORMAT, HEAD_FORMAT_VERSION,
                             what="NPR head")

    def graph(self) -> OnnxGraph:
        return self._head().graph()

    def fingerprint(self) -> dict[str, Any]:
        head = self._head()
        return {"name": self.name, "version": self.version, "head_sha256": head.sha256,
                "graph_sha256": head["graph"]["sha256"]}

    def logit_map(self, crops: np.ndarray) -> np.ndarray:
        """``(n, h/8, w/8)`` cell logits of ``(n, h, w, 3)`` uint8 crops with even sides."""
        out = self.session().run(None, {"pixels": network_input(crops)})[0]
        return out[:, 0].astype(np.float64)

    def analyze(self, image: "LoadedImage") -> SignalResult:
        if min(image.height, image.width) < MIN_SIDE:
            return SignalResult.abstained(self.name, self.version,
                                          f"image is {image.width}x{image.height}; needs at least {MIN_SIDE} px a side")
        top, left, h, w = region(image.height, image.width)
        cells = self.logit_map(image.rgb[None, top:top + h, left:left + w])[0]
        score = float(cells.mean())
        rows, cols = math.ceil(image.height / CELL), math.ceil(image.width / CELL)
        hm = np.full((rows, cols), np.nan, np.float32)  # NaN outside the region the network read
        r0, c0 = top // CELL, left // CELL
        gh, gw = min(cells.shape[0], rows - r0), min(cells.shape[1], cols - c0)
        hm[r0:r0 + gh, c0:c0 + gw] = sigmoid(cells[:gh, :gw])
        prob = float(sigmoid(score))
        evidence = {
            "region": [top, left, h, w],
            "cell_logit_min": round(float(cells.min()), 3), "cell_logit_max": round(float(cells.max()), 3),
            "network_probability": round(prob, 4),
            "heatmap_grid": {"rows": rows, "cols": cols, "cell_height": CELL, "cell_width": CELL},
        }
        summary = (f"up-sampling residual network on the central {h}x{w} px: log-odds {score:+.2f} "
                   f"(cells {cells.min():+.1f} .. {cells.max():+.1f})")
        return SignalResult(self.name, self.version, "ok", score=score, evidence=evidence, summary=summary, heatmap=hm)
