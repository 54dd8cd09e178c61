"""Time the DCT signal on one core: a 1024x1024 PNG and a 12 MP JPEG (after decode).

    python benchmarks/bench_dct.py [--repeat 15]

Targets (issue 4): median analyse time <= 60 ms on the 1 MP PNG and <= 150 ms on the 12 MP
JPEG, decode time excluded and printed beside them. Images are synthesised here (1/f texture
plus noise), so the script needs no data. Thread pools are pinned to one thread before numpy
is imported. glibc's malloc thresholds are raised as the ``forensics`` command and scan
workers raise them (``forensics.malloc``); ``--default-malloc`` leaves glibc's defaults.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from forensics.image import load_image  # noqa: E402
from forensics.signals.dct import DCTSignal  # noqa: E402


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.normal(0, 1, (h // 8, w // 8, 3)).astype(np.float32)
    im = Image.fromarray(np.clip(small * 40 + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    arr = np.asarray(im).astype(np.float32) + rng.normal(0, 3, (h, w, 3)).astype(np.float32)
    return np.clip(arr, 0, 255).astype(np.uint8)


def encode(rgb: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


def bench(name: str, data: bytes, signal: DCTSignal, repeat: int) -> float:
    decode, analyse = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        img = load_image(data)
        t1 = time.perf_counter()
        result = signal.analyze(img)
        t2 = time.perf_counter()
        decode.append(t1 - t0)
        analyse.append(t2 - t1)
    med = statistics.median(analyse) * 1000
    print(f"{name:28s} analyse median {med:7.1f} ms   (decode median {statistics.median(decode) * 1000:7.1f} ms)"
          f"   tiles={result.evidence.get('tiles')}  status={result.status}")
    return med


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--default-malloc", action="store_true", help="keep glibc's default malloc thresholds")
    args = ap.parse_args()
    if not args.default_malloc:
        from forensics.malloc import reuse_pixel_buffers

        print(f"malloc thresholds raised: {reuse_pixel_buffers()}")
    signal = DCTSignal()
    signal.analyze(load_image(texture(256, 256)))  # load the head, warm caches
    png = encode(texture(1024, 1024, 1), "PNG")
    jpg = encode(texture(3000, 4000, 2), "JPEG", quality=90)
    a = bench("1024x1024 PNG (1 MP)", png, signal, args.repeat)
    b = bench("4000x3000 JPEG (12 MP)", jpg, signal, args.repeat)
    ok = a <= 60 and b <= 150
    print(f"targets: <= 60 ms and <= 150 ms -> {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
