"""Property-based fuzzing of intake and every metadata parser (issue 22; docs/security.md).

Seeds are files the tests write (each format intake reads, with EXIF, XMP, PNG text, an ICC
profile, JPEG comments); hypothesis mutates them (bytes replaced, inserted, deleted, the file
cut, a chunk of the file repeated) and every parser must answer within its time budget with a
result or its documented error: :func:`load_image` a ``LoadedImage`` or ``ImageLoadError``,
the metadata readers (``parse_exif``, the XMP field scan, the signals' ``run``) a value, never
an exception.

CI runs a fixed, small number of examples per target (about a minute in all, the same
examples every run). Longer runs, with fresh examples each time::

    FORENSICS_FUZZ_EXAMPLES=20000 python -m pytest tests/fuzz -q -x

A crash or slow case it finds is printed as the smallest failing input; add that input to a
regression test in tests/unit/test_hostile_metadata.py or tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import replace

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed (the test extra has it)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from forensics.errors import ImageLoadError  # noqa: E402
from forensics.image import load_image  # noqa: E402
from forensics.signals import _metadata as md  # noqa: E402
from forensics.signals.exif import ExifSignal  # noqa: E402
from forensics.signals.generator_metadata import GeneratorMetadataSignal  # noqa: E402
from forensics.signals.jpeg_tables import JpegTablesSignal  # noqa: E402
from forensics.signals.provenance import _xmp_provenance  # noqa: E402
from forensics.tiff import overreach  # noqa: E402
from forensics.xmlscan import xml_field_values  # noqa: E402
from support.images import camera_exif, encode, natural_rgb  # noqa: E402

LONG = "FORENSICS_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("FORENSICS_FUZZ_EXAMPLES", "2000"))
#: The most one example may take (a slow case fails the test like a crash).
BUDGET_S = 2.0
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:CreatorTool="Midjourney v6" '
       'dcterms:provenance="https://x.test/m.c2pa" Iptc4xmpExt:DigitalSourceType='
       '"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"><photoshop:Credit><rdf:Alt>'
       '<rdf:li xml:lang="x-default">Made with Google AI</rdf:li></rdf:Alt></photoshop:Credit>'
       '<exif:UserComment>Steps: 20, Sampler: Euler a, Seed: 1</exif:UserComment></rdf:Description></rdf:RDF></x:xmpmeta>')
PARAMS = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Model: sdxl_base, Version: v1.9.0"


def _seeds() -> list[bytes]:
    """One small file per format, carrying every kind of metadata that format holds."""
    from PIL import Image, ImageCms, PngImagePlugin

    rgb = natural_rgb(24, 32, seed=3)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", PARAMS)
    info.add_text("prompt", '{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}', zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP)
    exif = camera_exif(orientation=6)
    seeds = [
        encode(rgb, "PNG", pnginfo=info, exif=exif, icc_profile=icc),
        encode(rgb, "JPEG", quality=90, exif=exif, icc_profile=icc, comment=b"made with AI"),
        encode(rgb, "JPEG", quality=75, progressive=True, subsampling=2),
        encode(rgb, "WEBP", exif=exif, xmp=XMP.encode()),
        encode(rgb, "TIFF", exif=exif),
        encode(rgb, "GIF", comment=b"Steps: 1, Seed: 2"),
        encode(rgb, "BMP"),
    ]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", exif=exif, xmp=XMP.encode())
    return seeds + [buf.getvalue()]


SEEDS = _seeds()


@st.composite
def mutated(draw, seeds: list[bytes] = SEEDS) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat", "int"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "cut":
            del data[pos:]
        elif op == "repeat":  # a chunk repeated: amplifies whatever structure it holds
            chunk = bytes(data[pos:pos + draw(st.integers(1, 256))])
            data[pos:pos] = chunk * draw(st.integers(2, 200))
        elif op == "int" and pos + 4 <= len(data):  # a length, count or offset made large or odd
            data[pos:pos + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00",
                                                      b"\x00\x0f\x42\x40", b"\x40\x42\x0f\x00"]))
    return bytes(data)


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    took = time.perf_counter() - t0
    assert took < BUDGET_S, f"{getattr(fn, '__name__', fn)} took {took:.2f} s"
    return out


METADATA_SIGNALS = [ExifSignal(), GeneratorMetadataSignal(), JpegTablesSignal()]


@FUZZ
@given(mutated())
def test_intake_and_metadata_signals(data):
    """load_image answers with an image or ImageLoadError; the metadata signals run on it."""
    try:
        image = _timed(load_image, data)
    except ImageLoadError:
        return
    for sig in METADATA_SIGNALS:
        result = _timed(sig.analyze, image)
        assert result.status in ("ok", "abstained"), (sig.name, result.reason)


@FUZZ
@given(st.sampled_from([s for s in SEEDS if load_image(s).exif]).map(lambda s: load_image(s).exif).flatmap(
    lambda exif: mutated([exif])))
def test_exif_parsers(exif):
    """parse_exif and the IFD bound never raise, whatever the EXIF bytes."""
    _timed(overreach, exif)
    parsed = _timed(md.parse_exif, exif)
    assert set(parsed) >= {"0th", "Exif", "GPS", "1st", "problems"}
    for ifd in ("0th", "Exif"):
        for value in parsed[ifd].values():
            md.as_text(value), md.as_number(value), md.decode_user_comment(value)


@FUZZ
@given(mutated([XMP.encode()]), st.sampled_from(["xmp:CreatorTool", "dcterms:provenance", "photoshop:Credit",
                                                  "exif:UserComment"]))
def test_xmp_scans(raw, field):
    xmp = raw.decode("utf-8", errors="replace")
    values = _timed(lambda: list(xml_field_values(xmp, field)))
    assert all(isinstance(v, str) for v in values)
    _timed(_xmp_provenance, xmp)
    image = replace(load_image(SEEDS[-1]), xmp=xmp)
    _timed(GeneratorMetadataSignal().analyze, image)


@FUZZ
@given(mutated([PARAMS.encode(), XMP.encode(), b'{"3": {"class_type": "KSampler"}}']),
       st.sampled_from(["parameters", "prompt", "Comment", "Description", "workflow", "Software"]))
def test_png_text_fields(raw, key):
    image = replace(load_image(SEEDS[0]), text={key: raw.decode("latin-1")})
    result = _timed(GeneratorMetadataSignal().analyze, image)
    assert result.status == "ok"


@settings(FUZZ, max_examples=max(10, EXAMPLES // 4))
@given(mutated(SEEDS[:2]))
def test_c2pa_reader(data):
    """The C2PA signal answers (never raises) on any bytes intake accepts."""
    from forensics.signals.provenance import C2paSignal

    try:
        image = load_image(data)
    except ImageLoadError:
        return
    result = _timed(C2paSignal().analyze, image)
    assert result.status in ("ok", "abstained", "unavailable")
