"""Shared runtime of the neural signals on user-installed weights: sidecar-driven preprocessing,
the model a sidecar describes, and their base class :class:`WeightsSignal`.

No torch here. Preprocessing follows the sidecar exactly and reproduces torchvision on PIL:
``squash`` = ``Resize((s, s))``; ``shortest_crop`` = ``Resize(s)`` + ``CenterCrop(s)``; then
``ToTensor`` + ``Normalize(mean, std)``. Sessions are created once per process per
(model file, thread count) and shared by every signal instance.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from forensics.artifacts import OnnxGraph, session
from forensics.errors import SignalUnavailableError, WeightsError
from forensics.image import LoadedImage
from forensics.signals.base import SignalResult
from forensics.signals.onnx import OnnxSignal
from forensics.weights.spec import WeightSpec
from forensics.weights.store import RUNTIME_INSTALL, read_sidecar, runtime_problem

_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
_POOLS: dict[int, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def preprocess(rgb: np.ndarray, side: dict[str, Any]) -> np.ndarray:
    """One ``(3, s, s)`` float32 array from a ``uint8 (h, w, 3)`` image, as the sidecar says."""
    size = int(side["input_size"])
    resample = _FILTERS[side["interpolation"]]
    im = Image.fromarray(rgb)
    if side["resize_mode"] == "squash":
        if im.size != (size, size):
            im = im.resize((size, size), resample)
    else:  # shortest_crop: torchvision Resize(int) then CenterCrop
        w, h = im.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(size * long / short)
        new = (size, new_long) if w <= h else (new_long, size)
        if new != (w, h):
            im = im.resize(new, resample)
        w, h = im.size
        left = int(round((w - size) / 2.0))
        top = int(round((h - size) / 2.0))
        im = im.crop((left, top, left + size, top + size))
    x = np.asarray(im, dtype=np.float32)
    x *= 1.0 / 255.0
    x -= np.asarray(side["mean"], np.float32)
    x /= np.asarray(side["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess_batch(images: Sequence[LoadedImage], side: dict[str, Any], threads: int | None = None) -> np.ndarray:
    """``(n, 3, s, s)`` float32; images are resized in parallel (Pillow releases the GIL)."""
    size = int(side["input_size"])
    out = np.empty((len(images), 3, size, size), np.float32)
    workers = min(len(images), threads or os.cpu_count() or 1)

    def one(i: int) -> None:
        out[i] = preprocess(images[i].rgb, side)

    if workers <= 1:
        for i in range(len(images)):
            one(i)
    else:
        list(_pool(workers).map(one, range(len(images))))
    return out


def _pool(workers: int) -> ThreadPoolExecutor:
    with _LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="forensics-preprocess")
        return pool


THREADS_ENV = ("FORENSICS_THREADS", "OMP_NUM_THREADS")


def env_threads() -> int | None:
    """Thread count from ``$FORENSICS_THREADS``, else ``$OMP_NUM_THREADS`` (onnxruntime reads
    neither by itself; scan workers set the latter to their share of the cores)."""
    for name in THREADS_ENV:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


class OnnxModel:
    """A sidecar plus its onnxruntime session (created lazily, once per process). ``spec`` is
    the built-in :class:`WeightSpec` of ``weights`` (``None`` for other weights)."""

    def __init__(self, weights: str, root: str | None, threads: int | None, spec: WeightSpec | None = None) -> None:
        self.weights = weights
        self.root = root
        self.threads = threads or env_threads()
        self.spec = spec
        self._side: dict[str, Any] | None = None

    def check(self) -> str | None:
        """Why this model cannot run (cheap: sidecar + files + onnxruntime present), or ``None``.
        Missing weights and a missing runtime are both named, so one reading says all to do."""
        runtime = runtime_problem()
        try:
            read_sidecar(self.weights, self.root, self.spec)
        except (SignalUnavailableError, WeightsError) as exc:
            return f"{exc}; to run them, also install onnxruntime: {RUNTIME_INSTALL}" if runtime else str(exc)
        return runtime

    @property
    def sidecar(self) -> dict[str, Any]:
        if self._side is None:
            self._side = read_sidecar(self.weights, self.root, self.spec)
        return self._side

    def graph(self) -> OnnxGraph:
        side = self.sidecar
        return OnnxGraph(Path(side["_dir"]) / side["onnx"]["file"], side["onnx"]["sha256"])

    def session(self):
        problem = runtime_problem()
        if problem:
            raise SignalUnavailableError(problem)
        return session(self.graph(), self.threads, fix=f"the file changed after install; reinstall with "
                                                       f"`forensics weights add {self.weights} PATH`")

    def run(self, pixels: np.ndarray) -> np.ndarray:
        side = self.sidecar
        return self.session().run([side["onnx"]["output"]], {side["onnx"]["input"]: pixels})[0]

    def evidence(self) -> dict[str, Any]:
        side = self.sidecar
        return {"weights": {"name": side["name"], "sha256": side["sha256"][:16]}, "input_size": side["input_size"],
                "resize_mode": side["resize_mode"], "backend": "onnxruntime"}


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


#: Shorter sides below this are abstained on: a 224-px model says nothing about a thumbnail.
MIN_SIDE = 32


class WeightsSignal(OnnxSignal):
    """What the signals on user-installed weights (``forensics weights``) share: constructor
    arguments, the lazily opened model, the weights part of the fingerprint, and abstaining on
    thumbnails. Subclasses set ``name``/``version`` and ``weight_specs`` (the weights they know
    how to read) and analyse."""

    weight_specs: tuple[WeightSpec, ...] = ()

    def __init__(self, weights: str, *, home: str | None = None, threads: int | None = None,
                 batch_size: int = 16) -> None:
        self.weights = weights
        self.home = home
        self.threads = threads
        self.batch_size = batch_size
        self._model: OnnxModel | None = None

    @property
    def model(self) -> OnnxModel:
        if self._model is None:
            self._model = OnnxModel(self.weights, self.home, self.threads, self.weight_spec)
        return self._model

    def graph(self) -> OnnxGraph:
        return self.model.graph()

    def session(self):
        return self.model.session()

    @property
    def weight_spec(self) -> WeightSpec | None:
        """The declared spec of this instance's ``weights`` (``None`` for other weights)."""
        return next((s for s in self.weight_specs if s.name == self.weights), None)

    def fingerprint(self) -> dict[str, Any]:
        fp: dict[str, Any] = {"name": self.name, "version": self.version, "weights": self.weights,  # type: ignore[attr-defined]
                              "weights_sha256": None}
        if self.model.check() is None:
            side = self.model.sidecar
            fp.update(weights_sha256=side["sha256"], onnx_sha256=side["onnx"]["sha256"])
        return fp

    def split_small(self, images: Sequence[LoadedImage]) -> tuple[list[int], dict[int, SignalResult]]:
        """``(indices to run, {index: abstained result})``: images under ``MIN_SIDE`` a side abstain."""
        run, small = [], {}
        for i, im in enumerate(images):
            if min(im.width, im.height) < MIN_SIDE:
                small[i] = SignalResult.abstained(
                    self.name, self.version, f"image is {im.width}x{im.height}; needs a side of at least {MIN_SIDE} px")
            else:
                run.append(i)
        return run, small
