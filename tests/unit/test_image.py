import io
import math
import re
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image, PngImagePlugin

from forensics import ImageLoadError, load_image
from support.images import camera_exif, encode, natural_rgb, png_bomb


@pytest.fixture(scope="module")
def rgb():
    return natural_rgb(240, 320)


@pytest.fixture(scope="session")
def bomb(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(png_bomb())
    return path


@pytest.mark.parametrize("fmt,expected", [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WEBP"), ("TIFF", "TIFF"),
                                          ("GIF", "GIF"), ("BMP", "BMP"), ("HEIF", "HEIF"), ("AVIF", "AVIF")])
def test_formats_decode_to_rgb(rgb, fmt, expected):
    im = load_image(encode(rgb, fmt))
    assert im.format == expected
    assert im.rgb.shape == (240, 320, 3) and im.rgb.dtype == np.uint8
    assert (im.width, im.height) == (320, 240)
    # lossless formats keep the pixels exactly
    if fmt in ("PNG", "TIFF", "BMP"):
        assert np.array_equal(im.rgb, rgb)


def test_jpeg_metadata_captured_before_conversion(rgb):
    data = encode(rgb, "JPEG", quality=75, exif=camera_exif(), subsampling=2, comment=b"hello")
    im = load_image(data)
    assert piexif.load(im.exif)["0th"][piexif.ImageIFD.Make] == b"Canon"
    assert im.quantization is not None and len(im.quantization) == 2 and len(im.quantization[0]) == 64
    assert im.subsampling == 2
    assert im.text["comment"] == "hello"
    import hashlib

    assert im.sha256 == hashlib.sha256(data).hexdigest()


def test_exif_orientation_applied(rgb):
    im = load_image(encode(rgb, "JPEG", exif=camera_exif(orientation=6)))
    assert im.orientation == 6
    assert (im.width, im.height) == (240, 320)  # rotated 90 degrees


def test_png_text_chunks_including_after_idat(rgb):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat, Steps: 20, Sampler: Euler a")
    info.add_itxt("Description", "été", zip=True)
    im = load_image(encode(rgb, "PNG", pnginfo=info))
    assert im.text["parameters"].startswith("a cat")
    assert im.text["Description"] == "été"


def test_xmp_and_icc_captured(rgb):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    icc = b"\x00" * 128
    im = load_image(encode(rgb, "JPEG", xmp=xmp, icc_profile=icc))
    assert "xmpmeta" in im.xmp
    assert im.icc_profile == icc


def test_sources_path_bytes_fileobj_pil_array(tmp_path, rgb):
    data = encode(rgb, "PNG")
    p = tmp_path / "a.png"
    p.write_bytes(data)
    by_path, by_bytes = load_image(p), load_image(data)
    assert by_path.sha256 == by_bytes.sha256 and by_path.source == str(p)
    with open(p, "rb") as fh:
        assert load_image(fh).sha256 == by_path.sha256
    assert np.array_equal(load_image(Image.open(io.BytesIO(data))).rgb, rgb)
    assert np.array_equal(load_image(rgb).rgb, rgb)
    assert load_image(rgb.astype(np.float32) / 255.0).rgb.shape == rgb.shape


def test_gif_frame_count(rgb):
    frames = [Image.fromarray(rgb).convert("P"), Image.fromarray(255 - rgb).convert("P")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    im = load_image(buf.getvalue())
    assert im.n_frames == 2 and im.rgb.shape == rgb.shape


def test_sixteen_bit_png_scaled_not_clipped():
    arr = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    im = load_image(encode(arr, "PNG"))
    assert im.rgb.max() > 200 and im.rgb.min() == 0


def test_cmyk_jpeg(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buf, "JPEG")
    im = load_image(buf.getvalue())
    assert im.mode == "CMYK" and im.rgb.shape == rgb.shape


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.jpg: file is empty"):
        load_image(p)


def test_text_file_is_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n")
    with pytest.raises(ImageLoadError, match=r"notes\.png: not a recognised image \(looks like text\)"):
        load_image(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(tmp_path)


def test_a_url_is_refused_before_the_path_folds_its_slashes(tmp_path, monkeypatch):
    # Path("https://example.com/a.jpg") is "https:/example.com/a.jpg": the raw text is checked first
    with pytest.raises(ImageLoadError, match=r"^https://example\.com/a\.jpg: URLs are never fetched; download the file first$"):
        load_image("https://example.com/a.jpg")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "C:").mkdir()  # a one-letter "scheme" is a Windows drive, not a URL
    (tmp_path / "C:" / "x.png").write_bytes(encode(natural_rgb(8, 8), "PNG"))
    assert load_image("C://x.png").width == 8


def test_value_error_compatibility():
    with pytest.raises(ValueError):
        load_image(b"")


def test_truncated_jpeg_reported_not_hidden(rgb):
    data = encode(rgb, "JPEG", quality=90)
    im = load_image(data[: len(data) // 2])
    assert im.truncated
    assert any("truncated" in w for w in im.warnings)
    assert im.describe()["truncated"] is True


def test_truncated_png_is_an_error(rgb):
    data = encode(rgb, "PNG")
    with pytest.raises(ImageLoadError, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_refused_before_decoding(bomb):
    with pytest.raises(ImageLoadError, match=r"bomb\.png: image of 900,000,000 pixels exceeds .*refused before decoding"):
        load_image(bomb)


def test_oversized_header_below_pillow_guard_refused_by_our_limit():
    from support.images import png_chunk
    import struct

    ihdr = struct.pack(">IIBBBBB", 12000, 12000, 8, 2, 0, 0, 0)  # 144 MP, header only
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")
    with pytest.raises(ImageLoadError, match=r"12000x12000 = 144,000,000 pixels exceeds the 120,000,000-pixel limit"):
        load_image(data)


def test_pixel_limit_is_configurable(rgb):
    with pytest.raises(ImageLoadError, match="exceeds the 1,000-pixel limit"):
        load_image(encode(rgb, "PNG"), max_pixels=1000)


def test_byte_limit(rgb):
    with pytest.raises(ImageLoadError, match="above the 100-byte limit"):
        load_image(encode(rgb, "PNG"), max_bytes=100)


def test_bad_array_shapes():
    with pytest.raises(ImageLoadError, match=r"got shape \(4, 4, 2\)"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageLoadError, match="dtype int64 not supported"):
        load_image(np.full((4, 4, 3), 300))


def test_unsupported_type():
    with pytest.raises(ImageLoadError, match="cannot load an image from int"):
        load_image(42)  # type: ignore[arg-type]


def test_resized_for_low_resolution_signals(rgb):
    im = load_image(rgb)
    small = im.resized(160)
    assert small.shape == (120, 160, 3)
    assert im.resized(1000) is im.rgb


def test_header_declaring_far_more_pixels_than_the_file_can_hold_is_refused():
    from support.images import png_chunk
    import struct

    ihdr = struct.pack(">IIBBBBB", 6000, 6000, 8, 2, 0, 0, 0)  # 36 MP in about 50 bytes
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")
    with pytest.raises(ImageLoadError, match=r"36,000,000 pixels declared in a file of \d+ bytes .*decompression bomb"):
        load_image(data)


def test_flat_animated_webp_bomb_refused_before_decoding():
    frames = [Image.new("RGB", (5000, 5000), (i, 0, 0)) for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert len(buf.getvalue()) < 2000
    with pytest.raises(ImageLoadError, match="pixels per byte"):
        load_image(buf.getvalue())


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about many of the mutated files
@pytest.mark.parametrize("fmt,mode", [("TIFF", "I;16"), ("TIFF", "F"), ("PNG", "RGB"), ("JPEG", "RGB"),
                                      ("WEBP", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("HEIF", "RGB"),
                                      ("AVIF", "RGB")])
def test_fuzzed_files_load_or_raise_image_load_error(rgb, fmt, mode):
    """Seeded byte mutations of valid files: each one decodes or raises ImageLoadError, nothing else."""
    if mode == "I;16":
        im = Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).convert("I;16")
    elif mode == "F":
        im = Image.fromarray(rgb[..., 0].astype(np.float32) / 7)
    else:
        im = Image.fromarray(rgb).convert(mode)
    data = encode(np.asarray(im), fmt) if fmt in ("HEIF", "AVIF") else _save(im, fmt)
    rng = np.random.default_rng(3)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(500):  # within the headers (TIFF tags, chunk lengths) where parsers trip
        mutated = bytearray(data)
        for pos in rng.integers(0, min(len(data), 200), size=int(rng.integers(1, 6))):
            mutated[pos] = int(rng.integers(0, 256))
        try:
            load_image(bytes(mutated))
            outcomes["ok"] += 1
        except ImageLoadError as exc:
            assert str(exc).startswith("<bytes>: ")
            outcomes["error"] += 1
    assert outcomes["error"] > 0  # the mutations do reach the decoders' error paths


def _save(im, fmt):
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def test_float_tiff_stretched_to_eight_bits():
    ramp = np.linspace(1000.0, 2000.0, 64 * 32, dtype=np.float32).reshape(32, 64)
    ramp[0, 1] = np.nan  # non-finite values take the darkest finite value, not 0
    im = load_image(_save(Image.fromarray(ramp), "TIFF"))
    assert im.mode == "F"
    gray = im.rgb[..., 0].astype(int).ravel()
    assert gray.min() == 0 and gray.max() == 255 and gray[1] == 0
    finite = np.delete(gray, 1)
    assert np.all(np.diff(finite) >= 0) and len(np.unique(finite)) > 200  # the ramp keeps its range


def test_png_text_chunk_over_pillow_limit_keeps_pixels_and_text(rgb):
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", '{"nodes": [' + "0," * 1_500_000 + "0]}", zip=True)  # 3 MB decompressed
    info.add_text("parameters", "a cat, Steps: 20, Sampler: Euler a")
    data = encode(rgb, "PNG", pnginfo=info)
    im = load_image(data)
    assert np.array_equal(im.rgb, rgb)
    assert im.text["parameters"].startswith("a cat")
    assert im.text["workflow"].startswith('{"nodes": [0,0,') and len(im.text["workflow"]) == 1_000_000
    assert any("exceed Pillow's limits" in w for w in im.warnings)


def test_invalid_orientation_value_is_ignored_and_reported(rgb):
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 9}})
    im = load_image(encode(rgb, "JPEG", exif=exif))
    assert im.orientation == 1 and im.rgb.shape == (240, 320, 3)
    assert any("orientation 9 is not a valid value" in w for w in im.warnings)


def _tiff_with_overlong_tag(rgb) -> bytes:
    """A TIFF whose ImageDescription entry claims 10 MB: Pillow skips it with a warning."""
    import struct

    from PIL import TiffImagePlugin

    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[270] = "a description longer than four bytes"
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "TIFF", tiffinfo=info)
    data = bytearray(buf.getvalue())
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack("<I", data[4:8])
    (n,) = struct.unpack("<H", data[ifd:ifd + 2])
    for i in range(n):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry:entry + 2])[0] == 270:
            data[entry + 4:entry + 8] = struct.pack("<I", 10_000_000)
            return bytes(data)
    raise AssertionError("no ImageDescription entry written")


@pytest.mark.filterwarnings("ignore:Tag data larger than file")  # Pillow repeats it when reading EXIF
def test_decoder_complaints_are_kept_as_evidence(rgb):
    im = load_image(_tiff_with_overlong_tag(rgb))
    assert np.array_equal(im.rgb, rgb)
    assert any(w.startswith("decoder: ") and "270" in w for w in im.warnings)
    assert not any(w.startswith("decoder: ") for w in load_image(encode(rgb, "PNG")).warnings)


@pytest.mark.filterwarnings("ignore:Tag data larger than file")  # Pillow repeats it when reading EXIF
def test_concurrent_loads_keep_their_warnings_apart_and_the_warnings_module_intact(rgb):
    import threading
    import warnings

    bad, clean = _tiff_with_overlong_tag(rgb), encode(rgb, "PNG")
    filters, impl = list(warnings.filters), warnings._showwarnmsg_impl
    leaked = []

    def work(data, expect_warning):
        for _ in range(25):
            got = any(w.startswith("decoder: ") for w in load_image(data).warnings)
            if got != expect_warning:
                leaked.append(got)

    threads = [threading.Thread(target=work, args=(d, e)) for d, e in [(bad, True), (clean, False)] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert leaked == []
    assert warnings.filters == filters and warnings._showwarnmsg_impl is impl


def test_png_text_fallback_keeps_xmp_and_bounds_the_text_it_reads(rgb):
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
           '</rdf:RDF></x:xmpmeta>')
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    for i in range(20):  # 20 x 4 MB of text: more than the 64 MB the reader allows in all
        info.add_text(f"blob{i:02d}", "z" * (4 << 20), zip=True)
    im = load_image(encode(rgb, "PNG", pnginfo=info))
    assert np.array_equal(im.rgb, rgb)
    assert im.xmp is not None and "trainedAlgorithmicMedia" in im.xmp
    assert "XML:com.adobe.xmp" not in im.text
    from forensics.image import MAX_TEXT_CHARS, MAX_TEXT_TOTAL

    read = math.ceil(MAX_TEXT_TOTAL / (4 * MAX_TEXT_CHARS))  # each chunk inflates 4 M bytes at most
    blobs = sorted(k for k in im.text if k.startswith("blob"))
    assert blobs == [f"blob{i:02d}" for i in range(read)]
    assert all(len(im.text[k]) == MAX_TEXT_CHARS for k in blobs)
    assert any(f"{20 - read} PNG text chunks not read" in w for w in im.warnings)

    from forensics.signals import create_signal

    res = create_signal("generator_metadata").analyze(im)
    assert res.score and res.score > 0


@pytest.mark.parametrize("fmt", ["EPS", "PCX", "QOI", "TGA", "ICO", "SGI", "PPM", "DDS"])
def test_formats_outside_the_supported_list_are_refused_naming_the_format(rgb, fmt):
    """Pillow writes each file; intake names its format and never runs its decoder (EPS would
    shell out to Ghostscript)."""
    buf = io.BytesIO()
    Image.fromarray(rgb[:64, :64]).save(buf, fmt)
    with pytest.raises(ImageLoadError, match=rf"<bytes>: {fmt} files are not supported .*supported: JPEG, PNG"):
        load_image(buf.getvalue())


def test_unsupported_format_is_refused_before_its_decoder_runs(rgb, monkeypatch):
    from PIL import EpsImagePlugin

    def never(*args, **kwargs):
        raise AssertionError("the EPS decoder ran")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "load", never)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", never)
    buf = io.BytesIO()
    Image.fromarray(rgb[:64, :64]).save(buf, "EPS")
    with pytest.raises(ImageLoadError, match="EPS files are not supported"):
        load_image(buf.getvalue())


def test_pixel_limit_holds_for_pil_images_and_arrays(rgb):
    with pytest.raises(ImageLoadError, match=r"<PIL.Image>: 320x240 = 76,800 pixels exceeds the 1,000-pixel limit"):
        load_image(Image.fromarray(rgb), max_pixels=1000)
    with pytest.raises(ImageLoadError, match=r"<array>: 320x240 = 76,800 pixels exceeds the 1,000-pixel limit"):
        load_image(rgb, max_pixels=1000)
    assert load_image(Image.fromarray(rgb), max_pixels=76_800).pixels == 76_800


def test_pil_image_over_the_limit_is_refused_before_it_is_decoded(rgb):
    im = Image.open(io.BytesIO(encode(rgb, "PNG")))
    with pytest.raises(ImageLoadError, match="exceeds the 1,000-pixel limit"):
        load_image(im, max_pixels=1000)
    assert im.tile  # still lazy: not decoded


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_array_with_nan_or_infinity_is_refused(bad):
    arr = np.full((8, 8, 3), 0.5)
    arr[2, 3, 1] = bad
    with pytest.raises(ImageLoadError, match=r"<array>: float array has 1 NaN or infinite value\(s\); pass finite"):
        load_image(arr)


def test_float_array_outside_zero_one_says_its_range():
    with pytest.raises(ImageLoadError, match=r"float values must lie in \[0, 1\], got -0\.5 to 2"):
        load_image(np.linspace(-0.5, 2, 48).reshape(4, 4, 3))
    assert load_image(np.full((4, 4, 3), 1.0)).rgb.min() == 255


def _corrupt_g4_tiff() -> bytes:
    """A CCITT G4 TIFF with 50 bytes of bad code words in its strip: it decodes, and libtiff
    writes a line to stderr for each damaged row."""
    buf = io.BytesIO()
    Image.fromarray(natural_rgb()).convert("1").save(buf, "TIFF", compression="group4")
    data = bytearray(buf.getvalue())
    data[len(data) // 3:len(data) // 3 + 50] = b"\xff" * 50
    return bytes(data)


def test_libtiff_messages_are_kept_as_evidence_and_off_the_terminal(capfd):
    import os

    im = load_image(_corrupt_g4_tiff())
    assert capfd.readouterr().err == ""
    lib = [w for w in im.warnings if w.startswith("libtiff: ")]
    assert lib and "Fax4Decode: Bad code word at line" in lib[0]
    assert re.search(r"libtiff: [\d,]+\+? more lines not kept", lib[-1])
    assert len(lib) <= 6
    os.write(2, b"stderr still works\n")
    assert capfd.readouterr().err == "stderr still works\n"
    assert not any(w.startswith("libtiff: ") for w in load_image(encode(natural_rgb(), "TIFF")).warnings)


def test_tiff_that_libtiff_cannot_decode_names_its_complaint(capfd):
    buf = io.BytesIO()
    Image.fromarray(natural_rgb()).save(buf, "TIFF", compression="tiff_lzw")
    data = bytearray(buf.getvalue())
    data[len(data) // 3:len(data) // 3 + 50] = b"\xff" * 50
    with pytest.raises(ImageLoadError, match=r"TIFF data is corrupt or truncated \(OSError: .*\); libtiff: .*Using code not yet in table"):
        load_image(bytes(data))
    assert capfd.readouterr().err == ""
