"""Ray backend against the local pool (a script, not a test).

    python benchmarks/bench_ray.py                  # 200 generated 3 MP JPEGs, default engine
    python benchmarks/bench_ray.py --images 60 --rounds 1

Scans the same generated JPEGs (2048x1536, q90) into a fresh output with
``forensics.batch.scan.scan(workers=2)`` and with ``forensics.distributed.scan`` on a local
Ray with 2 CPUs, in alternating rounds, and reports for each:

  * wall seconds of the scan and images/s over it (worker or actor start-up included: the
    local pool spawns its workers inside the scan, as Ray starts its actors);
  * seconds to the first row (start-up: processes, imports, engine, warm-up image);
  * steady images/s between the first rows and the last (rows after the first batch, over
    the time they took);

and, apart, the cost of starting Ray itself (``ray.init``: GCS, raylet, worker processes),
which a long-lived cluster pays once. Target (issue 14): Ray's images/s >= 0.85x the pool's.
Needs ``pip install 'forensics[ray]'``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def picture(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like test picture (as bench_engine.py makes them)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    base = np.stack([0.5 + 0.3 * np.sin(5 * x + seed), 0.4 + 0.3 * y, 0.6 - 0.2 * x * y], -1)
    base += 0.05 * (np.sin(40 * x) * np.cos(33 * y))[..., None]
    base += rng.normal(0, 0.03, base.shape).astype(np.float32)
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


class RowClock:
    """Polls the output file: when its first rows (``at_first`` of them: a Ray batch comes
    back whole) and its last (``n``-th) row appeared."""

    def __init__(self, path: Path, n: int):
        self.path, self.n = path, n
        self.first = self.last = None
        self.at_first = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RowClock":
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            rows = self.path.read_bytes().count(b"\n") if self.path.exists() else 0
            now = time.perf_counter()
            if rows >= 1 and self.first is None:
                self.first, self.at_first = now, rows
            if rows >= self.n and self.last is None:
                self.last = now
            time.sleep(0.01)


def timed(run, out: Path, n: int) -> dict[str, float]:
    with RowClock(out, n) as clock:
        summary = run()
        wall = time.perf_counter() - clock.t0
    time.sleep(0.05)  # let the clock see the last row
    assert summary.analysed == n and summary.errors == 0, summary.format()
    first = (clock.first or clock.t0) - clock.t0
    steady = (n - clock.at_first) / (clock.last - clock.first) if clock.first and clock.last and clock.last > clock.first else float("nan")
    return {"wall": wall, "rate": n / wall, "first_row": first, "steady": steady}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200, help="generated 3 MP JPEGs per scan")
    ap.add_argument("--rounds", type=int, default=2, help="alternating local/Ray rounds (median reported)")
    ap.add_argument("--batch-size", type=int, default=None, help="files per Ray task (default: the backend's)")
    args = ap.parse_args()

    import ray

    from forensics import __version__
    from forensics.batch.scan import scan
    from forensics.distributed import DEFAULT_BATCH_SIZE
    from forensics.distributed import scan as ray_scan

    batch = args.batch_size or DEFAULT_BATCH_SIZE
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, forensics {__version__}, ray {ray.__version__}; "
          f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i in range(args.images):
            (src / f"img{i:03d}.jpg").write_bytes(jpeg(picture(1536, 2048, i)))
        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
        init_s = time.perf_counter() - t
        results: dict[str, list[dict[str, float]]] = {"local pool, 2 workers": [], "Ray, 2 CPUs (2 actors)": []}
        try:
            for r in range(args.rounds):
                out = Path(tmp) / f"local{r}.jsonl"
                results["local pool, 2 workers"].append(timed(lambda: scan([src], out, workers=2), out, args.images))
                out = Path(tmp) / f"ray{r}.jsonl"
                results["Ray, 2 CPUs (2 actors)"].append(
                    timed(lambda: ray_scan([src], out, batch_size=batch), out, args.images))
                print(f"round {r + 1}: " + "; ".join(f"{k} {v[-1]['rate']:.2f} img/s" for k, v in results.items()), flush=True)
        finally:
            ray.shutdown()

    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in results.items()}
    lines = [f"| scan of {args.images} generated 3 MP JPEGs (median of {args.rounds}) | wall s | images/s | "
             "first row s | steady images/s |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {m['wall']:.2f} | {m['rate']:.2f} | {m['first_row']:.2f} | {m['steady']:.2f} |" for k, m in med.items()]
    local, dist = med["local pool, 2 workers"], med["Ray, 2 CPUs (2 actors)"]
    lines.append(f"\nRay vs local pool: {dist['rate'] / local['rate']:.2f}x images/s over the scan, "
                 f"{dist['steady'] / local['steady']:.2f}x steady (target >= 0.85x). "
                 f"Starting Ray (ray.init, once per cluster): {init_s:.2f} s; Ray batch size {batch}.")
    lines.append("Per round, images/s: " + "; ".join(f"{k} " + ", ".join(f"{x['rate']:.2f}" for x in v)
                                                       for k, v in results.items()))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
