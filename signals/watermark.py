"""Invisible watermarks of open Stable Diffusion pipelines (dwtDct, invisible-watermark package).

* Stable Diffusion v1/v2 reference scripts (CompVis/Stability ``txt2img.py``) embed the
  bytes ``b"StableDiffusionV1"`` (136 bits), encoding the image in BGR channel order.
* SDXL (Stability ``generative-models`` and diffusers' ``StableDiffusionXLWatermarker``) embed
  the 48-bit message ``0b101100111110110010010000011110111011000110011110``; diffusers hands
  the encoder RGB arrays, so both channel orders are tried for both messages.

Decoding uses the package's own dwtDct decoder (``imwatermark.maxDct.EmbedMaxDct``), loaded
from the installed package without running ``imwatermark/__init__.py``: that file imports the
RivaGAN method and with it torch (seconds of import time) that dwtDct never uses. With the
package installed via ``pip install 'forensics[watermark]'`` everything is present; the light
route ``pip install --no-deps invisible-watermark && pip install PyWavelets opencv-python-headless``
gives this signal all it needs without torch or libGL (see docs/metadata.md).

Limits: the mark lives in 4x4 blocks of a Haar-wavelet band on a fixed grid. Resizing, cropping
off the grid, rotation, strong JPEG and most re-encodes destroy it, and most generators (and
many SD front-ends) never embed it. Finding it is decisive; not finding it means nothing.
Images smaller than 256x256 cannot be decoded (abstain); images above ``max_pixels`` are
skipped (abstain) because the pure-Python decoder is slow there and SD outputs are smaller.

Evidence keys:
    found: a known watermark decoded with bit accuracy >= ``min_accuracy`` and a chance
        probability (binomial, p = 0.5 per bit) <= ``alpha``.
    watermark: ``"StableDiffusionV1"``, ``"SDXL"`` or ``None``.
    results: ``{name: {"bit_accuracy", "p_value", "channel_order"}}``, the best channel order
        per known mark (0.5 is chance; an unmarked image scores about 0.5).
    alpha, min_accuracy: the thresholds used.
    decisive: ``found``.

Score: 1.0 when found (decisive), else 0.0.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import binom

from .base import Availability, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

INSTALL_HINT = "pip install 'forensics[watermark]' (or, without torch: pip install --no-deps invisible-watermark && pip install PyWavelets opencv-python-headless)"
SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110
#: Known watermarks: name -> expected bits.
WATERMARKS: dict[str, np.ndarray] = {
    "StableDiffusionV1": np.unpackbits(np.frombuffer(b"StableDiffusionV1", dtype=np.uint8)).astype(bool),
    "SDXL": np.array([int(b) for b in bin(SDXL_MESSAGE)[2:]], dtype=bool),
}
_LOCK = threading.Lock()
_MODULE: ModuleType | None = None


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("imwatermark")
    locs = list(spec.submodule_search_locations or []) if spec else []
    for loc in locs:
        if (Path(loc) / "maxDct.py").is_file():  # the unrelated PyPI "imwatermark" has no maxDct
            return Path(loc)
    return None


def load_dwtdct() -> ModuleType:
    """``imwatermark.maxDct`` from the installed invisible-watermark, without its torch import."""
    global _MODULE
    with _LOCK:
        if _MODULE is None:
            pkg = _package_dir()
            if pkg is None:
                raise ImportError(f"invisible-watermark is not installed: {INSTALL_HINT}")
            spec = importlib.util.spec_from_file_location("forensics._imwatermark_maxdct", pkg / "maxDct.py")
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {pkg / 'maxDct.py'}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _MODULE = module
        return _MODULE


def decode_bits(bgr: np.ndarray, length: int) -> np.ndarray:
    """dwtDct bits of ``length`` from a uint8 BGR image, as the package's decoder reads them."""
    embed = load_dwtdct().EmbedMaxDct(watermarks=[], wmLen=length, scales=[0, 36, 36], block=4)
    return np.asarray(embed.decode(bgr), dtype=bool)


class WatermarkSignal:
    """Stable Diffusion v1 / SDXL dwtDct invisible watermarks (found: decisive; absent: 0)."""

    name = "watermark"
    version = "1.0"

    def __init__(self, alpha: float = 1e-6, min_accuracy: float = 0.8, max_pixels: int = 4_194_304) -> None:
        self.alpha = alpha
        self.min_accuracy = min_accuracy
        self.max_pixels = max_pixels

    def availability(self) -> Availability:
        if _package_dir() is None:
            return Availability.no(f"invisible-watermark is not installed: {INSTALL_HINT}")
        for mod, pip_name in (("cv2", "opencv-python-headless"), ("pywt", "PyWavelets")):
            if importlib.util.find_spec(mod) is None:
                return Availability.no(f"{pip_name} is missing (needed by invisible-watermark): pip install {pip_name}")
        return Availability.yes()

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "alpha": self.alpha,
                               "min_accuracy": self.min_accuracy, "max_pixels": self.max_pixels, "watermarks": sorted(WATERMARKS)}
        try:
            from importlib.metadata import version

            out["invisible_watermark"] = version("invisible-watermark")
        except Exception:
            out["invisible_watermark"] = None
        return out

    def analyze(self, image: "LoadedImage") -> SignalResult:
        avail = self.availability()
        if not avail.ok:
            return SignalResult.unavailable(self.name, self.version, avail.reason or INSTALL_HINT)
        if image.width * image.height < 256 * 256:
            return SignalResult.abstained(self.name, self.version,
                                          f"image {image.width}x{image.height} is below the 256x256 the decoder needs")
        if image.width * image.height > self.max_pixels:
            return SignalResult.abstained(self.name, self.version,
                                          f"image {image.width}x{image.height} is above max_pixels={self.max_pixels:,} "
                                          "(SD outputs are smaller, and a resize would have destroyed the mark)")
        try:
            results = self._decode_all(image.rgb)
        except ImportError as exc:
            return SignalResult.unavailable(self.name, self.version, str(exc))
        except Exception as exc:  # cv2/pywt errors on odd inputs
            return SignalResult.failed(self.name, self.version, f"watermark decoding failed ({type(exc).__name__}: {exc})")
        best_name = min(sorted(results), key=lambda n: results[n]["p_value"])
        best = results[best_name]
        found = best["p_value"] <= self.alpha and best["bit_accuracy"] >= self.min_accuracy
        ev = {"found": found, "watermark": best_name if found else None, "results": results,
              "alpha": self.alpha, "min_accuracy": self.min_accuracy, "decisive": found}
        if found:
            acc = results[best_name]["bit_accuracy"]
            summary = f"{best_name} invisible watermark decoded ({acc:.0%} of bits): made by a Stable Diffusion pipeline"
        else:
            summary = "no Stable Diffusion invisible watermark (absence proves nothing: resizing, cropping and most generators omit it)"
        return SignalResult(self.name, self.version, "ok", score=1.0 if found else 0.0, evidence=ev, summary=summary)

    def _decode_all(self, rgb: np.ndarray) -> dict[str, dict[str, Any]]:
        orders = {"bgr": np.ascontiguousarray(rgb[..., ::-1]), "rgb": np.ascontiguousarray(rgb)}
        out: dict[str, dict[str, Any]] = {}
        for name, expected in WATERMARKS.items():
            best: dict[str, Any] = {"bit_accuracy": -1.0}
            for order, arr in orders.items():
                hits = int(np.sum(decode_bits(arr, expected.size) == expected))
                if hits / expected.size > best["bit_accuracy"]:
                    p = float(binom.sf(hits - 1, expected.size, 0.5))  # P(>= hits matching by chance)
                    best = {"bit_accuracy": round(hits / expected.size, 4), "p_value": float(f"{p:.3g}"),
                            "channel_order": order}
            out[name] = best
        return out
