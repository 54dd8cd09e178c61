"""Time the learned pixel signals (``effnet_probe`` + ``npr``) on one thread, decode excluded.

    python benchmarks/bench_pixel.py [--repeat 15]

Targets (issue 12): together <= 100 ms beyond decode on a 1 MP PNG and <= 250 ms on a 12 MP
JPEG, on one thread. Images are synthesised (1/f texture plus noise, as ``bench_dct.py``), so
no data is needed. Prints each signal's median, their sum, decode, and the process's peak RSS.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from bench_dct import encode, texture  # noqa: E402

from forensics.image import load_image  # noqa: E402
from forensics.malloc import reuse_pixel_buffers  # noqa: E402
from forensics.signals.effnet_probe import EffnetProbeSignal  # noqa: E402
from forensics.signals.npr import NprSignal  # noqa: E402


def bench(name: str, data: bytes, signals, repeat: int) -> float:
    decode, times = [], {s.name: [] for s in signals}
    for _ in range(repeat):
        t0 = time.perf_counter()
        img = load_image(data)
        decode.append(time.perf_counter() - t0)
        for s in signals:
            t = time.perf_counter()
            res = s.analyze(img)
            times[s.name].append(time.perf_counter() - t)
            assert res.status == "ok", res.reason
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    total = sum(med.values())
    parts = "  ".join(f"{k} {v:6.1f} ms" for k, v in med.items())
    print(f"{name:24s} {parts}  together {total:6.1f} ms   (decode {statistics.median(decode) * 1000:6.1f} ms)")
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print(f"malloc thresholds raised: {reuse_pixel_buffers()}")
    signals = [EffnetProbeSignal(threads=1), NprSignal(threads=1)]
    warm = load_image(encode(texture(512, 512), "PNG"))
    for s in signals:  # load the graphs once
        s.analyze(warm)
    a = bench("1024x1024 PNG (1 MP)", encode(texture(1024, 1024, 1), "PNG"), signals, args.repeat)
    b = bench("4000x3000 JPEG (12 MP)", encode(texture(3000, 4000, 2), "JPEG", quality=90), signals, args.repeat)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = a <= 100 and b <= 250
    print(f"peak RSS {rss:.0f} MB; targets <= 100 ms and <= 250 ms -> {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
