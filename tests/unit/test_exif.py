"""exif: the camera record is read field by field; absence is only slightly AI-leaning."""

from __future__ import annotations

import io
import json

import numpy as np
import piexif
import pytest
from PIL import Image

from forensics.image import load_image
from forensics.signals.exif import ABSENT_SCORE, ExifSignal


def _pixels(w=96, h=64) -> Image.Image:
    return Image.fromarray(np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8))


def _thumb(w, h) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), "gray").save(buf, "JPEG")
    return buf.getvalue()


def camera_exif(thumb=(48, 32), **override) -> bytes:
    zeroth = {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS 5D Mark IV",
              piexif.ImageIFD.Software: b"Firmware 1.2.0"}
    exif = {
        piexif.ExifIFD.ExposureTime: (1, 250), piexif.ExifIFD.FNumber: (56, 10),
        piexif.ExifIFD.ISOSpeedRatings: 400, piexif.ExifIFD.FocalLength: (50, 1),
        piexif.ExifIFD.DateTimeOriginal: b"2023:05:01 12:34:56", piexif.ExifIFD.SubSecTimeOriginal: b"27",
        piexif.ExifIFD.OffsetTimeOriginal: b"+02:00", piexif.ExifIFD.MakerNote: b"\x01\x02" * 200,
        piexif.ExifIFD.LensModel: b"EF50mm f/1.4 USM",
    }
    gps = {piexif.GPSIFD.GPSLatitude: ((52, 1), (30, 1), (0, 1)), piexif.GPSIFD.GPSLatitudeRef: b"N",
           piexif.GPSIFD.GPSLongitude: ((13, 1), (24, 1), (0, 1)), piexif.GPSIFD.GPSLongitudeRef: b"E"}
    for key, value in override.items():
        tag = getattr(piexif.ExifIFD, key, None)
        (exif if tag is not None else zeroth)[tag if tag is not None else getattr(piexif.ImageIFD, key)] = value
    d = {"0th": zeroth, "Exif": exif, "GPS": gps, "1st": {}, "thumbnail": None}
    if thumb:
        d["1st"] = {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0}
        d["thumbnail"] = _thumb(*thumb)
    return piexif.dump(d)


def jpeg_with(exif: bytes | None, size=(96, 64)) -> bytes:
    buf = io.BytesIO()
    kw = {"exif": exif} if exif else {}
    _pixels(*size).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def analyze(data: bytes):
    r = ExifSignal().analyze(load_image(data))
    json.dumps(r.evidence)
    return r


def test_full_camera_record_is_read_and_scores_negative():
    r = analyze(jpeg_with(camera_exif()))
    ev = r.evidence
    assert r.status == "ok"
    assert (ev["make"], ev["model"], ev["lens"]) == ("Canon", "Canon EOS 5D Mark IV", "EF50mm f/1.4 USM")
    assert ev["exposure_time_s"] == pytest.approx(1 / 250) and ev["f_number"] == pytest.approx(5.6)
    assert ev["iso"] == 400 and ev["focal_length_mm"] == 50
    assert ev["datetime_original"] == "2023:05:01 12:34:56"
    assert (ev["subsec_time_original"], ev["offset_time_original"]) == ("27", "+02:00")
    assert ev["gps"] is True and ev["maker_note"] is True and ev["maker_note_bytes"] == 400
    assert ev["thumbnail"] == {"present": True, "width": 48, "height": 32, "aspect_matches": True}
    assert ev["software"] == "Firmware 1.2.0"
    assert ev["completeness"] == pytest.approx(1.0) and ev["inconsistencies"] == []
    assert r.score == pytest.approx(-1.0)
    assert "Canon EOS 5D Mark IV" in r.summary and "Canon Canon" not in r.summary
    assert ExifSignal().brief(r) == "complete camera EXIF (Canon EOS 5D Mark IV)"  # the headline's words


def test_thumbnail_aspect_mismatch_is_reported():
    ev = analyze(jpeg_with(camera_exif(thumb=(40, 40)))).evidence
    assert ev["thumbnail"]["present"] and ev["thumbnail"]["aspect_matches"] is False


def test_absent_exif_is_only_slightly_positive():
    r = analyze(jpeg_with(None))
    assert r.status == "ok" and r.evidence["present"] is False
    assert 0 < r.score == ABSENT_SCORE <= 0.1
    # the score adds weight (+0.15 with the prior), so the words must not say "proves nothing"
    assert r.summary.startswith("no EXIF: a weak hint towards AI") and "proves nothing" not in r.summary


def test_partial_record_scores_between():
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Sony", piexif.ImageIFD.Model: b"ILCE-7M3"}})
    r = analyze(jpeg_with(exif))
    assert -1.0 < r.score < 0 and r.evidence["completeness"] == pytest.approx(0.2)


def test_implausible_values_weaken_the_record():
    good = analyze(jpeg_with(camera_exif())).score
    bad = analyze(jpeg_with(camera_exif(FNumber=(5000, 1), DateTimeOriginal=b"2023:13:45 99:00:00")))
    assert len(bad.evidence["inconsistencies"]) == 2
    assert good < bad.score < 0


def test_unset_camera_clock_is_not_an_inconsistency():
    ev = analyze(jpeg_with(camera_exif(DateTimeOriginal=b"0000:00:00 00:00:00"))).evidence
    assert ev["datetime_original"] is None and ev["inconsistencies"] == []


def test_comfyui_webp_payload_is_not_a_camera():
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b'workflow:{"nodes": [], "links": []}',
                                piexif.ImageIFD.Model: b'prompt:{"3": {"class_type": "KSampler"}}'}})
    buf = io.BytesIO()
    _pixels().save(buf, "WEBP", exif=exif)
    r = analyze(buf.getvalue())
    assert r.evidence["make"] is None and r.evidence["model"] is None
    assert r.evidence["generator_payload_fields"] == ["Make", "Model"]
    assert r.score == ABSENT_SCORE
    assert "generator payloads" in r.summary


@pytest.mark.parametrize("blob", [
    b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 20,   # 65535 entries promised, none there
    b"MM\x00*\x00\x00\x00\x08\x00\x01\x87\x69\x00\x04\x00\x00\x00\x01\xff\xff\xff\xff",  # Exif IFD past the end
    b"garbage that is not TIFF at all",
    b"II*\x00" + b"\xff" * 5000,
])
def test_broken_exif_never_raises(blob):
    from forensics.signals import _metadata as md

    parsed = md.parse_exif(blob)
    assert isinstance(parsed["problems"], list)
    from forensics.signals.exif import read_camera_record

    class Fake:
        exif, width, height, orientation = blob, 10, 10, 1

    ev = read_camera_record(Fake())  # type: ignore[arg-type]
    json.dumps(ev)


def test_corpus_camera_photos_mostly_have_a_camera_record(corpus_dir):
    files = sorted((corpus_dir / "real").glob("camera_*.jpg"))[:40]
    assert len(files) == 40, f"expected at least 40 real/camera_*.jpg in {corpus_dir}, found {len(files)}"
    scores = [ExifSignal().analyze(load_image(p)).score for p in files]
    assert sum(s < 0 for s in scores) >= 0.8 * len(scores)
