"""Invisible watermarks of open Stable Diffusion pipelines (invisible-watermark's dwtDct method).

* Stable Diffusion v1/v2 reference scripts (CompVis/Stability ``txt2img.py``) embed the
  bytes ``b"StableDiffusionV1"`` (136 bits), encoding the image in BGR channel order.
* SDXL (Stability ``generative-models`` and diffusers' ``StableDiffusionXLWatermarker``) embed
  the 48-bit message ``0b101100111110110010010000011110111011000110011110``; diffusers hands
  the encoder RGB arrays, so both channel orders are tried for both messages.

Decoding is a NumPy port of the package's dwtDct decoder (``imwatermark.maxDct.EmbedMaxDct.decode``
with ``scales=[0, 36, 36]``, ``block=4``): OpenCV's fixed-point 8-bit BGR->YUV, a Haar DWT of
the U plane in PyWavelets' order of operations (values land exactly on ties at ``scale / 2``
often, so the rounding order matters), then the largest AC coefficient of each 4x4 block of
the approximation band, tested modulo the scale. It needs no torch, OpenCV or PyWavelets, runs
in the core install, and is bit-exact with the package: ``tests/unit/test_watermark.py`` embeds marks
with the package's own encoder and compares every decoded bit with the package's decoder. The
package's decoder loops over blocks in Python (about 70 ms per decode on 1 MP; four decodes per
image), this one is vectorised.

Limits: the mark lives in 4x4 blocks of a Haar-wavelet band on a fixed grid. Resizing, cropping
off the grid, rotation, strong JPEG and most re-encodes destroy it, and most generators (and
many SD front-ends) never embed it. Finding it is decisive; not finding it means nothing.
Images smaller than 256x256 cannot be decoded (abstain); images above ``max_pixels`` are
skipped (abstain): SD outputs are smaller, and an upscaled copy has lost the mark anyway.

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

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import BaseSignal, Claim, Prior, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110
#: Known watermarks: name -> expected bits.
WATERMARKS: dict[str, np.ndarray] = {
    "StableDiffusionV1": np.unpackbits(np.frombuffer(b"StableDiffusionV1", dtype=np.uint8)).astype(bool),
    "SDXL": np.array([int(b) for b in bin(SDXL_MESSAGE)[2:]], dtype=bool),
}
#: dwtDct parameters of the SD / SDXL watermarkers (invisible-watermark defaults).
SCALE, BLOCK = 36.0, 4
#: PyWavelets' Haar filter coefficient (1/sqrt(2)), used in its order of operations.
HAAR = 0.7071067811865476


_WATERMARK_TEXT = {"StableDiffusionV1": "the invisible watermark of the Stable Diffusion 1.x/2.x reference scripts",
                   "SDXL": "the invisible watermark of SDXL pipelines"}


def u_plane(bgr: np.ndarray) -> np.ndarray:
    """U of OpenCV's 8-bit ``COLOR_BGR2YUV`` (14-bit fixed point, rounded, saturated), as float64.
    In place on int32 (every intermediate fits; equal to OpenCV on all 2^24 colours)."""
    half, shift = 1 << 13, 14
    b = bgr[..., 0].astype(np.int32)
    y = bgr[..., 1].astype(np.int32)
    y *= 9617
    y += b * 1868
    r = bgr[..., 2].astype(np.int32)
    r *= 4899
    y += r
    y += half
    y >>= shift
    b -= y
    b *= 8061
    b += (128 << shift) + half
    b >>= shift
    np.clip(b, 0, 255, out=b)
    return b.astype(np.float64)


def block_bits(bgr: np.ndarray) -> np.ndarray:
    """Per-block bit votes (0/1) of the dwtDct decoder, in the package's block order."""
    rows, cols = bgr.shape[0] // 4 * 4, bgr.shape[1] // 4 * 4
    x = u_plane(bgr[:rows, :cols])
    t = HAAR * x[0::2] + HAAR * x[1::2]
    ll = HAAR * t[:, 0::2] + HAAR * t[:, 1::2]
    nr, nc = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    blocks = ll[: nr * BLOCK, : nc * BLOCK].reshape(nr, BLOCK, nc, BLOCK).transpose(0, 2, 1, 3).reshape(nr * nc, BLOCK * BLOCK)
    ac = np.abs(blocks[:, 1:])
    val = ac[np.arange(len(ac)), np.argmax(ac, axis=1)]
    return (np.mod(val, SCALE) > 0.5 * SCALE).astype(np.float64)


def decode_bits(bgr: np.ndarray, length: int, votes: np.ndarray | None = None) -> np.ndarray:
    """dwtDct bits of ``length`` from a uint8 BGR image, exactly as the package's decoder reads them.
    ``votes`` (from :func:`block_bits`) can be passed to decode several lengths from one pass."""
    votes = block_bits(bgr) if votes is None else votes
    idx = np.arange(votes.size) % length
    mean = np.bincount(idx, weights=votes, minlength=length) / np.maximum(np.bincount(idx, minlength=length), 1)
    return mean * 255 > 127


def chance_of_hits(hits: int, n: int) -> float:
    """P(at least ``hits`` of ``n`` bits match by chance, each with probability 1/2), exactly."""
    return sum(math.comb(n, k) for k in range(hits, n + 1)) / 2**n


class WatermarkSignal(BaseSignal):
    """Stable Diffusion v1 / SDXL dwtDct invisible watermarks (found: decisive; absent: 0)."""

    name = "watermark"
    failure = "watermark decoding failed"
    # A known invisible watermark decoded (false match <= 1e-6 by construction): +12 (decisive).
    prior = Prior(12.0, note="SD v1 / SDXL dwtDct watermark decoded (decisive)")
    decisive_at = 1.0
    evidence_kind = "provenance"
    version = "1.1"

    def __init__(self, alpha: float = 1e-6, min_accuracy: float = 0.8, max_pixels: int = 4_194_304) -> None:
        self.alpha = alpha
        self.min_accuracy = min_accuracy
        self.max_pixels = max_pixels

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "alpha": self.alpha, "min_accuracy": self.min_accuracy,
                "max_pixels": self.max_pixels, "watermarks": sorted(WATERMARKS),
                "decoder": "numpy port of invisible-watermark 0.2.0 dwtDct (bit-exact)"}

    def analyze(self, image: "LoadedImage") -> SignalResult:
        if image.width * image.height < 256 * 256:
            return SignalResult.abstained(self.name, self.version,
                                          f"image {image.width}x{image.height} is below the 256x256 the decoder needs")
        if image.width * image.height > self.max_pixels:
            return SignalResult.abstained(self.name, self.version,
                                          f"image {image.width}x{image.height} is above max_pixels={self.max_pixels:,} "
                                          "(SD outputs are smaller, and a resize would have destroyed the mark)")
        results = self._decode_all(image.rgb)
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

    def brief(self, result: SignalResult) -> str | None:
        """``"SDXL invisible watermark (Stable Diffusion pipeline)"``; ``None`` when none was decoded."""
        mark = result.evidence.get("watermark") if result.status == "ok" else None
        return f"{mark} invisible watermark (Stable Diffusion pipeline)" if mark else None

    def claimed_generator(self, result: SignalResult) -> Claim | None:
        """The pipeline whose watermark was decoded, with the share of bits that matched."""
        ev = result.evidence
        if result.status != "ok" or not ev.get("found") or not ev.get("watermark"):
            return None
        name = str(ev["watermark"])
        acc = (ev.get("results") or {}).get(name, {}).get("bit_accuracy")
        text = _WATERMARK_TEXT.get(name, f"invisible watermark {name}") + (f" (bit accuracy {acc:.2f})" if acc else "")
        return Claim(name, text, "watermark")

    def _decode_all(self, rgb: np.ndarray) -> dict[str, dict[str, Any]]:
        votes = {"bgr": block_bits(rgb[..., ::-1]), "rgb": block_bits(rgb)}
        out: dict[str, dict[str, Any]] = {}
        for name, expected in WATERMARKS.items():
            best: dict[str, Any] = {"bit_accuracy": -1.0}
            for order, v in votes.items():
                hits = int(np.sum(decode_bits(rgb, expected.size, v) == expected))
                if hits / expected.size > best["bit_accuracy"]:
                    p = chance_of_hits(hits, expected.size)
                    best = {"bit_accuracy": round(hits / expected.size, 4), "p_value": float(f"{p:.3g}"),
                            "channel_order": order}
            out[name] = best
        return out
