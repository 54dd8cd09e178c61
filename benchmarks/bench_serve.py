"""``forensics serve`` benchmark (a script, not a test), on loopback only and bounded.

    python benchmarks/bench_serve.py                  # print the tables (Markdown)
    python benchmarks/bench_serve.py --images 60 --rss-requests 2000

Measures, with the default engine and generated 1024x768 JPEGs:
  * throughput of ``forensics serve --workers 2`` (4 clients, raw-body uploads, heatmaps
    included, after the workers are ready) against ``forensics scan --workers 2`` on the same
    files (its wall time includes the workers' start);
  * p50 / p99 latency at 1, 4 and 16 concurrent clients;
  * the service's RSS (the server and its workers together) over ``--rss-requests`` requests
    of small PNGs, and the number of failed requests (anything but 200).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench_engine import encode, picture  # the same generated pictures (run as a script: its folder is on the path)


class Client:
    """One keep-alive connection to the service."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def post(self, data: bytes, ctype: str) -> tuple[int, float]:
        t = time.perf_counter()
        self.conn.request("POST", "/v1/analyze", body=data, headers={"Content-Type": ctype})
        resp = self.conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - t


def run_clients(port: int, payloads: list[bytes], clients: int, ctype: str) -> tuple[float, list[float], int]:
    """Send every payload once over ``clients`` connections; (wall s, latencies, failures)."""
    lock = threading.Lock()
    todo = list(enumerate(payloads))
    lat: list[float] = []
    failed = 0

    def worker() -> None:
        nonlocal failed
        c = Client(port)
        while True:
            with lock:
                if not todo:
                    return
                _, data = todo.pop()
            try:
                status, s = c.post(data, ctype)
            except OSError:
                status, s = 0, float("nan")
                c = Client(port)
            with lock:
                lat.append(s)
                failed += status != 200

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        for f in [ex.submit(worker) for _ in range(clients)]:
            f.result()
    return time.perf_counter() - t, lat, failed


def service_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children (the worker processes), in MB."""
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def start_service(workers: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "forensics", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--workers", str(workers), "--queue", "256"],
                            stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"127\.0\.0\.1:(\d+)/", proc.stderr.readline()).group(1))
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain the access log
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/v1/health")
            if json.loads(c.getresponse().read()).get("models_loaded"):
                return proc, port
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the service did not become ready")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=60, help="generated 1024x768 JPEGs for throughput")
    ap.add_argument("--latency-requests", type=int, default=48, help="requests per concurrency level")
    ap.add_argument("--rss-requests", type=int, default=2000)
    args = ap.parse_args()
    from forensics.batch.scan import scan

    load = os.getloadavg()[0]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        payloads = []
        for i in range(args.images):
            data = encode(picture(768, 1024, i), "JPEG", quality=90)
            (src / f"img{i:03d}.jpg").write_bytes(data)
            payloads.append(data)
        t = time.perf_counter()
        summary = scan([src], Path(tmp) / "r.jsonl", workers=2, progress=False)
        scan_wall = time.perf_counter() - t
        scan_rate = args.images / scan_wall
        proc, port = start_service(2)
        try:
            wall, _, failed_tp = run_clients(port, payloads, 4, "image/jpeg")
            serve_rate = args.images / wall
            lines += ["| throughput, 2 workers | wall s | images/s | failed |", "|---|---|---|---|",
                      f"| `forensics scan --workers 2` ({args.images} JPEGs, start-up included) | {scan_wall:.2f} | {scan_rate:.2f} | {summary.errors} |",
                      f"| `forensics serve --workers 2`, 4 clients ({args.images} JPEGs) | {wall:.2f} | {serve_rate:.2f} | {failed_tp} |",
                      "", f"serve / scan: {serve_rate / scan_rate:.2f}x (goal >= 0.85x)", ""]
            lines += ["| clients | requests | p50 ms | p99 ms | failed |", "|---|---|---|---|---|"]
            failed_all = failed_tp
            for clients in (1, 4, 16):
                batch = [payloads[i % len(payloads)] for i in range(args.latency_requests)]
                _, lat, failed = run_clients(port, batch, clients, "image/jpeg")
                failed_all += failed
                lines.append(f"| {clients} | {len(batch)} | {pct(lat, 50):.0f} | {pct(lat, 99):.0f} | {failed} |")
            small = [encode(picture(192, 256, i), "PNG") for i in range(50)]
            marks = {}
            done = 0
            for stop in sorted({200, args.rss_requests // 2, args.rss_requests}):
                batch = [small[i % len(small)] for i in range(done, stop)]
                _, _, failed = run_clients(port, batch, 4, "image/png")
                failed_all += failed
                done = stop
                marks[stop] = service_rss_mb(proc.pid)
            first, last = marks[min(marks)], marks[args.rss_requests]
            lines += ["", f"| RSS of the service (server + 2 workers) over {args.rss_requests} requests of 256x192 PNGs | MB |",
                      "|---|---|"] + [f"| after request {k} | {v:.1f} |" for k, v in marks.items()]
            lines += ["", f"RSS drift request {min(marks)} -> {args.rss_requests}: {100 * (last - first) / first:+.1f}% (goal within 10%); "
                      f"failed requests in all runs: {failed_all}"]
        finally:
            proc.terminate()
            proc.wait(60)
    print(f"machine: {os.cpu_count()} cores; 1-minute load average at the start: {load:.2f}, at the end: {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
