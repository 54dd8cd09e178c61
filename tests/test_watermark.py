"""watermark: an SD-style dwtDct mark embedded with invisible-watermark's encoder is decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forensics.image import load_image
from forensics.signals import watermark as wm
from forensics.signals.watermark import WATERMARKS, WatermarkSignal


def _photo(h=512, w=512) -> np.ndarray:
    """Smooth mid-tone scene with texture; no clipping, like most natural images."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(3)
    base = np.stack([100 + 50 * np.sin(x / 37.0), 110 + 40 * np.cos(y / 23.0), 90 + 30 * np.sin((x + y) / 51.0)], axis=-1)
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def _encoder(bits: np.ndarray):
    """imwatermark's encoder: WatermarkEncoder when the full package imports (torch), else its dwtDct core."""
    try:
        from imwatermark import WatermarkEncoder

        enc = WatermarkEncoder()
        enc.set_watermark("bits", bits.astype(int).tolist())
        return lambda img: enc.encode(img, "dwtDct")
    except ImportError:
        core = wm.load_dwtdct().EmbedMaxDct(watermarks=bits.astype(int).tolist(), wmLen=bits.size, scales=[0, 36, 36], block=4)
        return core.encode


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


needs_package = pytest.mark.skipif(not WatermarkSignal().availability().ok, reason="invisible-watermark not installed")


@needs_package
def test_sd_v1_mark_written_like_txt2img_is_found():
    rgb = _photo()
    bgr = _encoder(WATERMARKS["StableDiffusionV1"])(np.ascontiguousarray(rgb[..., ::-1]))  # txt2img encodes BGR
    r = WatermarkSignal().analyze(load_image(_png(bgr[..., ::-1])))
    assert r.status == "ok" and r.evidence["found"] and r.evidence["watermark"] == "StableDiffusionV1"
    assert r.evidence["results"]["StableDiffusionV1"]["channel_order"] == "bgr"
    assert r.score == 1.0 and r.evidence["decisive"]


@needs_package
def test_sdxl_mark_written_like_diffusers_is_found():
    rgb = _photo(576, 640)
    marked = _encoder(WATERMARKS["SDXL"])(rgb.copy())  # diffusers hands RGB arrays to the encoder
    r = WatermarkSignal().analyze(load_image(_png(marked)))
    assert r.evidence["watermark"] == "SDXL" and r.evidence["results"]["SDXL"]["p_value"] < 1e-6


@needs_package
def test_unmarked_image_is_at_chance_and_resize_destroys_the_mark():
    r = WatermarkSignal().analyze(load_image(_png(_photo())))
    assert r.status == "ok" and not r.evidence["found"] and r.score == 0.0
    assert all(v["bit_accuracy"] < 0.8 for v in r.evidence["results"].values())
    marked = _encoder(WATERMARKS["SDXL"])(_photo().copy())
    smaller = np.asarray(Image.fromarray(marked).resize((448, 448), Image.Resampling.BICUBIC))
    assert not WatermarkSignal().analyze(load_image(_png(smaller))).evidence["found"]


@needs_package
def test_small_and_huge_images_abstain():
    assert WatermarkSignal().analyze(load_image(_png(_photo(128, 128)))).status == "abstained"
    r = WatermarkSignal(max_pixels=100_000).analyze(load_image(_png(_photo(512, 512))))
    assert r.status == "abstained" and "max_pixels" in r.reason


def test_unavailable_names_the_extra(monkeypatch):
    monkeypatch.setattr(wm, "_package_dir", lambda: None)
    sig = WatermarkSignal()
    assert "pip install 'forensics[watermark]'" in sig.availability().reason
    r = sig.analyze(load_image(_png(_photo(64, 64))))
    assert r.status == "unavailable" and "forensics[watermark]" in r.reason
