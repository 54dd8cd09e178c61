"""Scores of the signals this pipeline does not fit, on each image of the pixel material, in
every evaluation condition (``pixel_data.CONDITIONS``: as found, forensics evaluate's
launderings and the hidden set's q75), for the fusion fit and the evaluation.

    python -m forensics.training.signal_scores --cache CACHE [--workers 2]

The signals: the metadata signals, and the pixel signals ``pixel_signals.PIXEL_SIGNALS`` marks
``AS_SHIPPED``. None is fitted on this material, so their scores need no folds: each runs as
analysis runs it, on the bytes of each condition. Laundered copies carry no metadata, but the
metadata signals still say so (no EXIF, library quantisation tables), and the fused probability
includes what they add. Writes ``CACHE/signal_scores.json``, one ``{condition: {signal: score}}``
per row of ``rows.json`` (``null`` where a signal gave no score).
"""

from __future__ import annotations

import argparse
import json
import os
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from forensics.training.pixel_data import CONDITIONS, laundered  # noqa: E402
from forensics.training.pixel_signals import as_shipped  # noqa: E402

METADATA = ("exif", "jpeg_tables", "generator_metadata", "c2pa", "watermark")
OUT = "signal_scores.json"
_engine = None


def job(row: dict) -> dict:
    global _engine
    from forensics import Engine

    if _engine is None:
        _engine = Engine(signals=[*METADATA, *as_shipped()])
    try:
        data = Path(row["file"]).read_bytes()
        out = {}
        for cond in CONDITIONS:
            b = laundered(data, cond)
            out[cond] = {r.name: (r.score if r.status == "ok" else None) for r in _engine.signal_results(_engine.load(b))}
        return out
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    rows = json.loads((args.cache / "rows.json").read_text())
    with Pool(args.workers) as pool:
        res = list(pool.imap(job, rows, chunksize=8))
    (args.cache / OUT).write_text(json.dumps(res))
    print(f"wrote {args.cache / OUT}: {sum('error' in r for r in res)} unreadable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
