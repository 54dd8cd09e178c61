"""``forensics analyze``: a readable summary, or JSON Lines, per file."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from typing import Any

from forensics.analysis import error_row
from forensics.errors import ImageLoadError

from .common import EXIT_INPUT, EXIT_OK, EXIT_USAGE, add_engine_options, engine


def register(sub: Any) -> None:
    a = sub.add_parser("analyze", help="analyse image files", description="Analyse image files; one result per file.")
    a.add_argument("files", nargs="*", metavar="FILE")
    a.add_argument("--sample", action="store_true", help="also analyse the sample image shipped with the package")
    a.add_argument("--json", action="store_true", help="one JSON object per file (JSON Lines)")
    add_engine_options(a)
    a.set_defaults(func=cmd_analyze)


def _sample_path() -> str:
    return str(resources.files("forensics").joinpath("data", "sample.jpg"))


def format_analysis(a: Any) -> str:
    """Readable multi-line summary of an :class:`~forensics.analysis.Analysis`."""
    d = a.decision
    if d["method"] == "conformal":
        rule = f"calibrated: p-value {d['p_value']:.4f} vs alpha {d['alpha']:g} over {d['n_real']} known-real images"
        if d.get("reference_without"):
            rule += f", compared without {', '.join(d['reference_without'])} (not scored here)"
    else:
        rule = f"{a.fusion['name']} fusion: AI if P >= {d['threshold_ai']:.2f}, real if P <= {d['threshold_real']:.2f}"
    lines = [f"{a.source}", f"  P(AI) = {a.probability:.3f}   {a.verdict}   ({rule})"]
    if a.decisive:
        lines.append(f"  decided by: {', '.join(a.decisive)} (decisive evidence; see its line below)")
    for s in sorted(a.signals, key=lambda s: -abs(s.contribution)):
        r = s.result
        if r.status == "ok":
            mark = "" if s.calibrated or not s.in_fusion else " *"
            head = f"{s.contribution:+7.2f}{mark}" if s.in_fusion else "   (n/a)"
        else:
            head = f"{r.status:>9}"
        lines.append(f"  {s.name:<20} {head:<10} {r.summary}")
    lines.append(f"  {'(intercept)':<20} {a.intercept:+7.2f}")
    uncalibrated = [s.name for s in a.signals if s.result.status == "ok" and s.in_fusion and not s.calibrated]
    if uncalibrated:
        lines.append(f"  * uncalibrated prior weight: {', '.join(uncalibrated)} (fit it with `forensics calibrate --real DIR --fake DIR`)")
    if a.image.get("truncated") or a.image.get("warnings"):
        lines.append("  intake: " + "; ".join(a.image.get("warnings") or ["file is truncated"]))
    if a.degraded:
        lines.append(f"  degraded: {len(a.not_run)} signal(s) could not run: {', '.join(s.name for s in a.not_run)}")
    return "\n".join(lines)


def cmd_analyze(args: argparse.Namespace) -> int:
    files = list(args.files) + ([_sample_path()] if args.sample else [])
    if not files:
        print("forensics analyze: give at least one FILE, or --sample", file=sys.stderr)
        return EXIT_USAGE
    eng = engine(args)
    failed = 0
    for src, res in eng.analyze_many(files):
        if isinstance(res, ImageLoadError):
            failed += 1
            print(f"forensics: error: {res}", file=sys.stderr)
            if args.json:
                print(json.dumps(error_row(str(src), res)), flush=True)
            continue
        print(res.to_json() if args.json else format_analysis(res), flush=True)
        if not args.json:
            print()
    return EXIT_INPUT if failed else EXIT_OK
