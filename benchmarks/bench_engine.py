"""Engine and scan benchmark (a script, not a test).

    python benchmarks/bench_engine.py                 # print the tables
    python benchmarks/bench_engine.py --write docs/benchmarks.md

Measures, with the default engine (every registered signal that can run here):
  * decode time and per-signal / whole-``analyze()`` median latency on a 1024x1024 PNG and a
    12 MP (4000x3000) JPEG, both generated here;
  * ``forensics scan`` throughput with 1 and 2 workers on generated 3 MP JPEGs;
  * a worker's RSS at image 100 and image 600 of a scan, and peak RSS;
  * ``import forensics`` time (fresh interpreter, median of 5).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def picture(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like test picture: smooth gradients, texture and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    base = np.stack([0.5 + 0.3 * np.sin(5 * x + seed), 0.4 + 0.3 * y, 0.6 - 0.2 * x * y], -1)
    base += 0.05 * (np.sin(40 * x) * np.cos(33 * y))[..., None]
    base += rng.normal(0, 0.03, base.shape).astype(np.float32)
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (lazy model loads, caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_latency(repeat: int) -> list[tuple[str, str, float]]:
    from forensics import Engine, load_image

    engine = Engine()
    rows = []
    for label, data in (("1024x1024 PNG", encode(picture(1024, 1024, 1), "PNG")),
                        ("12 MP JPEG (4000x3000, q92)", encode(picture(3000, 4000, 2), "JPEG", quality=92))):
        rows.append((label, "decode (load_image)", median_ms(lambda: load_image(data), repeat)))
        image = load_image(data)
        for sig in engine.signals_:
            if not sig.availability().ok:
                rows.append((label, f"signal {sig.name}", float("nan")))
                continue
            rows.append((label, f"signal {sig.name}", median_ms(lambda s=sig: s.analyze(image), repeat)))
        rows.append((label, "analyze() total (decode + signals + fusion)", median_ms(lambda: engine.analyze(data), repeat)))
    return rows


def bench_scan(n_images: int, side: tuple[int, int]) -> list[tuple[int, float, float, float]]:
    from forensics.batch.scan import scan

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i in range(n_images):
            (src / f"img{i:03d}.jpg").write_bytes(encode(picture(side[1], side[0], i), "JPEG", quality=90))
        for workers in (1, 2):
            result = Path(tmp) / f"r{workers}.jsonl"
            t = time.perf_counter()
            s = scan([src], result, workers=workers)
            wall = time.perf_counter() - t
            out.append((workers, wall, n_images / wall, s.errors))
    return out


def bench_rss(n_files: int, n_distinct: int) -> dict[str, float]:
    """A one-worker scan of ``n_files`` (``n_distinct`` generated 1024x768 JPEGs, copied under
    distinct names): the worker's RSS after image 100 and after image 600."""
    from forensics.batch.pool import WorkerPool
    from forensics.batch.scan import HANDLER, scan_settings
    from forensics import Engine

    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        blobs = [encode(picture(768, 1024, i), "JPEG", quality=90) for i in range(n_distinct)]
        files = []
        for i in range(n_files):
            p = src / f"f{i:04d}.jpg"
            p.write_bytes(blobs[i % n_distinct])
            files.append(str(p))
        settings, _ = scan_settings(Engine())
        kwargs = {"signals": None, "fusion": None, "calibration": None, "max_pixels": 120_000_000}
        with WorkerPool(kwargs, HANDLER, 1) as pool:
            done = 0
            for _ in pool.imap_unordered((f, (f, settings)) for f in files):
                done += 1
                if done in (100, 300, 600):
                    marks[f"rss_at_{done}_mb"] = rss_mb(pool.pids[0])
            marks["worker_peak_rss_mb"] = hwm_mb(pool.pids[0])
    return marks


def _spin(n: int) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t


def _decode_loop(n: int) -> float:
    data = encode(picture(1536, 2048, 1), "JPEG", quality=90)
    t = time.perf_counter()
    for _ in range(n):
        Image.open(io.BytesIO(data)).convert("RGB").tobytes()
    return time.perf_counter() - t


def machine_ceiling() -> dict[str, float]:
    """Throughput of 2 processes relative to 1 for a pure-Python loop and for JPEG decoding, with
    no forensics code involved: what this machine's cores allow a 2-worker scan at best."""
    from multiprocessing import get_context

    ctx = get_context("spawn")
    out = {}
    for name, fn, arg in (("python_loop", _spin, 20_000_000), ("jpeg_decode", _decode_loop, 60)):
        with ctx.Pool(1) as p:
            one = p.map(fn, [arg])[0]
        with ctx.Pool(2) as p:
            two = max(p.map(fn, [arg, arg]))
        out[name] = 2 * one / two
    return out


def import_time(repeat: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import forensics; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
             for _ in range(repeat)]
    return statistics.median(times) * 1000


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per latency figure (median reported)")
    ap.add_argument("--scan-images", type=int, default=200, help="generated 3 MP JPEGs per scan (enough that worker start-up, about 0.7 s, does not dominate)")
    ap.add_argument("--rss-files", type=int, default=640)
    ap.add_argument("--write", metavar="FILE", help="also write the tables as Markdown to FILE")
    ap.add_argument("--default-malloc", action="store_true",
                    help="keep glibc's default malloc thresholds in this process (workers always raise them)")
    args = ap.parse_args()
    from forensics.malloc import reuse_pixel_buffers

    malloc = "glibc defaults" if args.default_malloc else f"raised as the forensics command does: {reuse_pixel_buffers()}"

    from forensics import Engine, __version__

    names = [f"{s.name}{'' if s.availability().ok else ' (unavailable)'}" for s in Engine().signals_]
    lines = [f"Machine: {machine()}", f"forensics {__version__}; default signals: {', '.join(names) or 'none'}",
             f"malloc thresholds in the latency process: {malloc}", ""]
    print("\n".join(lines), flush=True)

    lat = bench_latency(args.repeat)
    t = ["| image | step | median ms |", "|---|---|---|"]
    t += [f"| {img} | {step} | {'n/a' if ms != ms else f'{ms:.1f}'} |" for img, step, ms in lat]
    print("\n".join(t), flush=True)

    sc = bench_scan(args.scan_images, (2048, 1536))
    s = ["", f"| scan of {args.scan_images} generated 3 MP JPEGs | wall s | images/s | errors |", "|---|---|---|---|"]
    s += [f"| {w} worker(s) | {wall:.2f} | {rate:.2f} | {err} |" for w, wall, rate, err in sc]
    speedup = sc[1][2] / sc[0][2]
    ceiling = machine_ceiling()
    s.append(f"\n2 workers vs 1: {speedup:.2f}x throughput (target >= 1.8x). This machine's own ceiling, "
             f"2 processes vs 1 with no forensics code: pure-Python loop {ceiling['python_loop']:.2f}x, "
             f"JPEG decode {ceiling['jpeg_decode']:.2f}x.")
    print("\n".join(s), flush=True)

    rss = bench_rss(args.rss_files, 60)
    drift = (rss["rss_at_600_mb"] - rss["rss_at_100_mb"]) / rss["rss_at_100_mb"] * 100
    r = ["", f"| RSS of a one-worker scan of {args.rss_files} 1024x768 JPEGs | MB |", "|---|---|"]
    r += [f"| worker RSS after image {k.split('_')[2]} | {v:.1f} |" for k, v in rss.items() if k.startswith("rss_at")]
    r.append(f"| worker peak RSS | {rss['worker_peak_rss_mb']:.1f} |")
    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r.append(f"| this benchmark process peak RSS (12 MP decode included) | {main_peak:.1f} |")
    r.append(f"\nRSS drift image 100 -> 600: {drift:+.1f}% (target within 10%)")
    print("\n".join(r), flush=True)

    imp = import_time()
    i = ["", f"`import forensics`: {imp:.0f} ms (median of 5 fresh interpreters)"]
    print("\n".join(i))

    if args.write:
        doc = ["# Benchmarks", "", "Measured with `python benchmarks/bench_engine.py --write docs/benchmarks.md`.", "",
               *lines, *t, *s, *r, *i, ""]
        Path(args.write).write_text("\n".join(doc))
        print(f"\nwrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
