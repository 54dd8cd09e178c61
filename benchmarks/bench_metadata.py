"""Time the metadata signals on hostile metadata (huge chunks, broken EXIF, malformed XMP,
invalid UTF-8, fake JUMBF). Prints per-case worst time over repeats; the budget is 100 ms
per signal per image. Not a test: timings depend on the machine.

    python benchmarks/bench_metadata.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import struct
import time
import zlib

import numpy as np
import piexif
from PIL import Image, PngImagePlugin

from forensics.image import load_image
from forensics.signals.exif import ExifSignal
from forensics.signals.generator_metadata import GeneratorMetadataSignal
from forensics.signals.jpeg_tables import JpegTablesSignal
from forensics.signals.provenance import C2paSignal

BUDGET_S = 0.100
PIXELS = np.full((32, 32, 3), 128, np.uint8)


def png(chunks=None, xmp=None, extra: tuple[bytes, bytes] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (chunks or {}).items():
        info.add_text(k, v, zip=True)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    buf = io.BytesIO()
    Image.fromarray(PIXELS).save(buf, "PNG", pnginfo=info)
    data = buf.getvalue()
    if extra:
        kind, payload = extra
        chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        data = data[:33] + chunk + data[33:]
    return data


def jpeg_exif(exif: bytes) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(PIXELS).save(buf, "JPEG")
    data = buf.getvalue()
    seg = b"Exif\x00\x00" + exif
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg + data[2:]


def cases() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    big_comment = b"UNICODE\x00" + ("Steps: 20, " * 3000).encode("utf-16-be")
    return {
        "png 1 MB parameters": png({"parameters": "a" * 999_000 + "\nSteps: 20, Sampler: Euler"}),
        "png 1 MB deep JSON prompt": png({"prompt": "[" * 999_000}),
        "png 1 MB workflow JSON": png({"workflow": '{"nodes": [' + '{"id": 1},' * 90_000 + '{}], "links": []}'}),
        "png invalid UTF-8 chunk": png({"Comment": (b"\xff\xfe\xc0\x80" * 200_000).decode("latin-1")}),
        "png 1 MB malformed XMP": png(xmp="<x:xmpmeta>" + "<rdf:li>digitalsourcetype/" * 40_000),
        "png XMP attribute storm": png(xmp="<rdf:Description " + 'a="b" ' * 150_000),
        "png fake caBX JUMBF 1 MB": png(extra=(b"caBX", b"\x00\x00\xff\xffjumb" + rng.bytes(1_000_000))),
        "png caBX with c2pa label": png(extra=(b"caBX", b"\x00\x00\x00\x28jumb\x00\x00\x00\x20jumdc2pa" + b"\x00" * 64)),
        "jpeg EXIF 65535 entries claimed": jpeg_exif(b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 60_000),
        "jpeg EXIF random bytes": jpeg_exif(b"MM\x00*\x00\x00\x00\x08" + rng.bytes(60_000)),
        "jpeg 48 KB UserComment": jpeg_exif(piexif.dump({"Exif": {piexif.ExifIFD.UserComment: big_comment[:48_000]}})[6:]
                                            if piexif.dump({}).startswith(b"Exif") else b""),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    signals = [ExifSignal(), GeneratorMetadataSignal(), JpegTablesSignal(), C2paSignal()]
    worst_all = 0.0
    print(f"{'case':34s} " + " ".join(f"{s.name:>18s}" for s in signals))
    for name, data in cases().items():
        image = load_image(data)
        row = []
        for sig in signals:
            sig.analyze(image)  # warm-up (lazy imports, c2pa context)
            worst = 0.0
            for _ in range(args.repeat):
                t = time.perf_counter()
                r = sig.analyze(image)
                worst = max(worst, time.perf_counter() - t)
            worst_all = max(worst_all, worst)
            row.append(f"{worst * 1000:9.1f} ms {r.status:>5s}")
        print(f"{name:34s} " + " ".join(f"{c:>18s}" for c in row))
    verdict = "within" if worst_all <= BUDGET_S else "OVER"
    print(f"worst: {worst_all * 1000:.1f} ms per signal per image ({verdict} the {BUDGET_S * 1000:.0f} ms budget)")


if __name__ == "__main__":
    main()
