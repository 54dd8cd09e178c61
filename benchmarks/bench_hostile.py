"""`forensics analyze` on one file of each hostile class (issue 22): wall time, peak memory
(``/usr/bin/time -v``'s maximum resident set size) and exit status of the whole command, all
signals. The target: every file answered within 5 s and 1.5 GB, with a result (exit 0) or a
clear error (exit 1). Not a test: timings depend on the machine; results in docs/security.md.

    python benchmarks/bench_hostile.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, PngImagePlugin

TIME = "/usr/bin/time"
LIMIT_S, LIMIT_MB = 5.0, 1536


def _png(rgb: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    return png[:-12] + _chunk(kind, data) + png[-12:]


def _amplifier(n_tags: int = 100, count: int = 1_000_000) -> bytes:
    tags = sorted(t for t in piexif.TAGS["Image"] if t not in (0x0112, 0x8769, 0x8825, 0xA005))[:n_tags]
    body = struct.pack("<2sHI", b"II", 42, 8) + struct.pack("<H", len(tags))
    offset = 8 + 2 + 12 * len(tags) + 4
    for tag in tags:
        body += struct.pack("<HHII", tag, 4, count, offset)
    return body + struct.pack("<I", 0) + b"\0" * (4 * count)


def files(d: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        (d / name).write_bytes(data)
        out[name] = d / name

    y, x = np.mgrid[0:3000, 0:4000]
    photo = np.stack([(x // 7) % 256, (y // 5) % 256, ((x + y) // 9) % 256], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=90, exif=piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon"}}))
    put("photo-12mp.jpg", buf.getvalue())
    big = np.zeros((9000, 13333, 3), np.uint8)  # 120 MP, the largest accepted
    big[::7] = 200
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "JPEG", quality=80)
    put("largest-120mp.jpg", buf.getvalue())
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", ("\nSteps: 1, " * 90_910)[:1_000_000], zip=True)
    put("a1111-1m-chars.png", _png(small, pnginfo=info))
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", ('xmp:CreatorTool="' * 120_000)[:2_000_000], zip=True)
    put("xmp-2m-chars.png", _png(small, pnginfo=info))
    put("exif-amplifier-4mb.png", _with_chunk(_png(small), b"eXIf", _amplifier()))
    put("tiff-amplifier.tif", _amplifier(60, 200_000))
    side = 30000
    co = zlib.compressobj(9)
    idat = b"".join(co.compress(b"\0" * (side + 1)) for _ in range(side)) + co.flush()
    put("bomb-900mp.png", b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    full = io.BytesIO()
    Image.fromarray(photo[:600, :800]).save(full, "JPEG", quality=90)
    put("truncated.jpg", full.getvalue()[: len(full.getvalue()) // 2])
    put("text.jpg", b"SHELL=/bin/sh\nPATH=/usr/bin\n" * 100)
    os.mkfifo(d / "fifo.jpg")
    out["fifo.jpg"] = d / "fifo.jpg"
    (d / "zero.jpg").symlink_to("/dev/zero")
    out["zero.jpg"] = d / "zero.jpg"
    (d / "loop.jpg").symlink_to(d / "loop.jpg")
    out["loop.jpg"] = d / "loop.jpg"
    return out


def measure(path: Path) -> tuple[float, float, int, str]:
    proc = subprocess.run([TIME, "-v", sys.executable, "-m", "forensics", "analyze", "-q", str(path)],
                          capture_output=True, text=True, timeout=600)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+(?:\.\d+)?)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    seconds = (int(wall.group(1) or 0) * 60 + float(wall.group(2))) if wall else float("nan")
    answer = (proc.stdout.strip() or next((line for line in proc.stderr.splitlines() if "error" in line), ""))
    return seconds, int(rss.group(1)) / 1024 if rss else float("nan"), proc.returncode, answer.split(": ", 1)[-1][:90]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="DIR", help="write the files here and keep them")
    args = ap.parse_args()
    d = Path(args.keep or tempfile.mkdtemp(prefix="hostile-"))
    d.mkdir(parents=True, exist_ok=True)
    try:
        cases = files(d)
        print(f"{'file':<24} {'size':>10} {'wall':>7} {'peak RSS':>9} exit  answer")
        worst_s = worst_mb = 0.0
        for name, path in cases.items():
            size = path.stat().st_size if path.is_file() and not path.is_symlink() else 0
            s, mb, rc, answer = measure(path)
            worst_s, worst_mb = max(worst_s, s), max(worst_mb, mb)
            flag = "" if s <= LIMIT_S and mb <= LIMIT_MB and rc in (0, 1) else "  <-- over"
            print(f"{name:<24} {size:>10,} {s:>6.2f}s {mb:>7.0f}MB {rc:>4}  {answer}{flag}")
        print(f"worst: {worst_s:.2f} s, {worst_mb:.0f} MB (targets {LIMIT_S:g} s, {LIMIT_MB} MB)")
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
