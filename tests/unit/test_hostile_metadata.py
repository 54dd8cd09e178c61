"""Hostile metadata (issue 22): every parser over untrusted text runs in linear time and
bounded memory, checked on the worst files within the accepted limits."""

from __future__ import annotations

import struct
import time
import tracemalloc

import piexif
import pytest
from PIL import PngImagePlugin

from forensics.image import MAX_TEXT_CHARS, load_image
from forensics.signals import _metadata as md
from forensics.signals.generator_metadata import _XMP_SCAN_CHARS, find_generator_metadata
from forensics.signals.provenance import _xmp_provenance
from support.images import encode, natural_rgb, png_chunk

#: Generous: the linear parsers take a few hundredths of a second of CPU on these files; the
#: quadratic ones they replace took minutes (34 s at a fifth of the size). CPU time of this
#: thread, not the wall clock, so that a busy machine does not fail a linear parser.
BUDGET_S = 1.0


def _png_with_text(key: str, value: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value, zip=True)
    return encode(natural_rgb(16, 16), "PNG", pnginfo=info)


def _timed(fn, *args):
    t0 = time.thread_time()
    out = fn(*args)
    return out, time.thread_time() - t0


def _cost(fn, *args):
    """``(result, seconds, peak bytes of Python allocations)`` of ``fn(*args)``."""
    tracemalloc.start()
    try:
        out, took = _timed(fn, *args)
        return out, took, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("key", ["parameters", "prompt", "Comment", "Description"])
def test_a1111_pattern_is_linear_at_the_text_limit(key):
    text = ("\nSteps: 1, " * (MAX_TEXT_CHARS // 11 + 1))[:MAX_TEXT_CHARS]
    data = _png_with_text(key, text)
    assert len(data) < 20_000  # a small file
    image = load_image(data)
    assert len(image.text[key]) == MAX_TEXT_CHARS
    ev, took = _timed(find_generator_metadata, image)
    assert took < BUDGET_S, f"{took:.2f} s"
    assert not ev["hits"]  # no sampler, CFG scale or seed: not parameters


def test_a1111_parameters_are_still_found():
    text = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Version: v1.9.0"
    ev = find_generator_metadata(load_image(_png_with_text("parameters", text)))
    assert ev["hits"][0]["kind"] == "parameters" and ev["hits"][0]["generator"] == "Automatic1111"
    tail = "Steps: 20, " + "x" * 5000 + " Seed: 1"  # the keyword may come far after Steps
    assert find_generator_metadata(load_image(_png_with_text("parameters", tail)))["hits"]


@pytest.mark.parametrize("unit", [
    'xmp:CreatorTool="', "xmp:CreatorTool>", "xmp:CreatorTool><rdf:Alt><rdf:li ", "xmp:CreatorTool   ",
    'exif:UserComment="', 'dcterms:provenance="', "dcterms:provenance>", "<dcterms:provenance" + " " * 50,
])
def test_xmp_field_patterns_are_linear_at_the_scan_limit(unit):
    xmp = (unit * (_XMP_SCAN_CHARS // len(unit) + 1))[:_XMP_SCAN_CHARS]
    image = load_image(encode(natural_rgb(16, 16), "PNG"))
    from dataclasses import replace

    image = replace(image, xmp=xmp)
    _, took = _timed(find_generator_metadata, image)
    assert took < BUDGET_S, f"generator_metadata {took:.2f} s"
    _, took = _timed(_xmp_provenance, xmp)
    assert took < BUDGET_S, f"provenance {took:.2f} s"


def test_xmp_fields_are_still_read():
    from dataclasses import replace

    image = load_image(encode(natural_rgb(16, 16), "PNG"))
    xmp = ('<x:xmpmeta><rdf:Description xmp:CreatorTool="Midjourney v6" dcterms:provenance="https://x.test/m.c2pa">'
           '<photoshop:Credit><rdf:Alt><rdf:li xml:lang="x-default">Made with Google AI</rdf:li></rdf:Alt></photoshop:Credit>'
           '<tiff:Software>  DALL-E 3 </tiff:Software></rdf:Description></x:xmpmeta>')
    gens = find_generator_metadata(replace(image, xmp=xmp))["generators"]
    assert {"Midjourney", "Google AI", "DALL-E"} <= set(gens)
    assert _xmp_provenance(xmp) == "https://x.test/m.c2pa"
    assert _xmp_provenance("<dcterms:provenance>https://y.test/a</dcterms:provenance>") == "https://y.test/a"


def test_exif_text_fields_are_clipped_before_matching():
    """An eXIf chunk may be as large as the file: its text is cut at the text limit first."""
    comment = b"ASCII\x00\x00\x00" + b"\nSteps: 1, " * (3 * MAX_TEXT_CHARS // 11)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"\nSteps: 1, " * 1000}, "Exif": {piexif.ExifIFD.UserComment: comment}})
    data = encode(natural_rgb(16, 16), "PNG", exif=exif)
    image = load_image(data)
    assert len(md.decode_user_comment(md.parse_exif(image.exif)["Exif"][md.TAG_USER_COMMENT])) <= MAX_TEXT_CHARS
    _, took = _timed(find_generator_metadata, image)
    assert took < BUDGET_S, f"{took:.2f} s"


# -- EXIF amplification ------------------------------------------------------------------------
def _exif_amplifier(n_tags: int = 100, count: int = 250_000) -> bytes:
    """TIFF-structured EXIF: ``n_tags`` LONG arrays of ``count`` values each, all at one offset."""
    tags = sorted(t for t in piexif.TAGS["Image"] if t not in (0x0112, 0x8769, 0x8825, 0xA005))[:n_tags]
    entries = 1 + len(tags)
    ifd_size = 2 + 12 * entries + 4
    offset = 8 + ifd_size
    body = struct.pack("<2sHI", b"II", 42, 8) + struct.pack("<H", entries)
    body += struct.pack("<HHII", 0x0112, 3, 1, 1)  # orientation 1
    for tag in tags:  # tags piexif knows, so it materialises each
        body += struct.pack("<HHII", tag, 4, count, offset)
    body += struct.pack("<I", 0)
    return body + b"\0" * (4 * count)


def test_exif_that_declares_more_values_than_it_holds_is_not_materialised():
    exif = _exif_amplifier()
    data = encode(natural_rgb(16, 16), "PNG")
    data = data[:-12] + png_chunk(b"eXIf", exif) + data[-12:]
    def read(data):
        image = load_image(data)
        find_generator_metadata(image)
        return image, md.parse_exif(image.exif)

    (image, parsed), _, peak = _cost(read, data)
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert image.exif is None
    assert any("EXIF" in w and "not read" in w for w in image.warnings)
    assert parsed["parser"] is None


def test_parse_exif_refuses_the_amplifier_itself():
    parsed, _, peak = _cost(md.parse_exif, _exif_amplifier())
    assert peak < 100 * 2**20
    assert parsed["parser"] is None
    assert any("declares" in p for p in parsed["problems"])


def test_ordinary_exif_still_parses():
    from support.images import camera_exif

    image = load_image(encode(natural_rgb(32, 32), "JPEG", exif=camera_exif(orientation=6)))
    assert image.orientation == 6 and image.exif is not None
    parsed = md.parse_exif(image.exif)
    assert parsed["parser"] == "piexif" and parsed["0th"][md.TAG_MAKE] == b"Canon"


def test_a_count_beyond_the_data_is_refused_before_piexif_builds_its_format():
    """Found by tests/fuzz: a SHORT count of 0x07000001 made piexif build a 117 MB struct
    format (22 GB for larger counts) before it noticed the data was short."""
    exif = bytearray(piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.PlanarConfiguration: 1}})[6:])
    entry = exif.index(struct.pack("<HH", piexif.ImageIFD.PlanarConfiguration, 3) if exif[:2] == b"II"
                       else struct.pack(">HH", piexif.ImageIFD.PlanarConfiguration, 3))
    order = "<" if exif[:2] == b"II" else ">"
    exif[entry + 4:entry + 8] = struct.pack(order + "I", 0x07000001)
    parsed, took, peak = _cost(md.parse_exif, bytes(exif))
    assert took < BUDGET_S and peak < 20 * 2**20, (took, peak)
    assert any("declares" in p for p in parsed["problems"])


def test_exif_without_a_byte_order_mark_is_bounded_as_piexif_reads_it():
    """Found by tests/fuzz: piexif reads any first two bytes but ``II`` as big-endian and never
    checks the magic number, so the bound must read such EXIF the same way."""
    exif = bytearray(_exif_amplifier(n_tags=60, count=200_000))
    big = bytearray(b"MM\0*" + struct.pack(">I", 8))
    n = struct.unpack("<H", exif[8:10])[0]
    big += struct.pack(">H", n)
    for i in range(n):
        tag, typ, cnt, val = struct.unpack("<HHII", exif[10 + 12 * i:22 + 12 * i])
        big += struct.pack(">HHII", tag, typ, cnt, val)
    big += exif[10 + 12 * n:]
    big[:4] = b"@B\x0f\x00"  # no byte-order mark, no magic number
    parsed, took, peak = _cost(md.parse_exif, bytes(big))
    assert took < BUDGET_S and peak < 50 * 2**20, (took, peak)
    assert parsed["parser"] is None and any("declares" in p for p in parsed["problems"])
