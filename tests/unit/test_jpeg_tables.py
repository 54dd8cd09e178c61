"""jpeg_tables: standard IJG tables are recognised with their quality; custom tables are not."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forensics.image import load_image
from forensics.signals._jpeg import ANNEX_K_CHROMA, ANNEX_K_LUMA, classify_tables, ijg_table
from forensics.signals.jpeg_tables import JpegTablesSignal


def _jpeg(**save) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG", **save)
    return buf.getvalue()


@pytest.mark.parametrize("quality", [5, 30, 50, 75, 90, 95, 100])
def test_pillow_jpeg_is_standard_at_its_quality(quality):
    r = JpegTablesSignal().analyze(load_image(_jpeg(quality=quality)))
    assert r.status == "ok"
    assert r.evidence["kind"] == "standard_ijg" and r.evidence["standard"]
    assert r.evidence["estimated_quality"] == quality
    assert r.score > 0


def test_custom_tables_are_reported_with_nearest_quality():
    luma = [max(1, v - 3) if i % 3 == 0 else v for i, v in enumerate(ijg_table(ANNEX_K_LUMA, 90).tolist())]
    chroma = ijg_table(ANNEX_K_CHROMA, 85).tolist()
    r = JpegTablesSignal().analyze(load_image(_jpeg(qtables=[luma, chroma])))
    assert r.evidence["kind"] == "custom" and not r.evidence["standard"]
    assert 80 <= r.evidence["estimated_quality"] <= 95
    assert r.score < 0
    assert "custom" in r.summary


def test_zigzag_ordered_tables_are_recognised():
    from forensics.signals._jpeg import ZIGZAG

    natural = [ijg_table(ANNEX_K_LUMA, 60), ijg_table(ANNEX_K_CHROMA, 60)]
    zz = {i: t[ZIGZAG].tolist() for i, t in enumerate(natural)}
    ev = classify_tables(zz)
    assert ev["standard"] and ev["order"] == "zigzag" and ev["estimated_quality"] == 60


def test_subsampling_and_progressive_are_reported():
    r = JpegTablesSignal().analyze(load_image(_jpeg(quality=80, subsampling=0, progressive=True)))
    assert r.evidence["subsampling"] == "4:4:4" and r.evidence["progressive"] is True


def test_abstains_for_png():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    r = JpegTablesSignal().analyze(load_image(buf.getvalue()))
    assert r.status == "abstained" and r.score is None
    assert "not a JPEG" in r.reason


def test_malformed_tables_fail_softly():
    with pytest.raises(ValueError, match="64-entry"):
        classify_tables({0: [1, 2, 3]})
