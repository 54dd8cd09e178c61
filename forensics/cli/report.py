"""``forensics report``: one self-contained HTML page from a scan's results file."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from typing import Any

from forensics.batch.report import build_report
from forensics.safe import say

from .common import EXIT_OK, EXIT_USAGE


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="self-contained HTML report of a scan",
        description="One HTML file, no network: a summary (counts by verdict, histogram of P(AI), the signals "
                    "that decided most), a compact table sorted by P(AI) (every column sortable) or a gallery, "
                    "a detail panel per image (the image as analysed, each signal's heatmap with its own opacity "
                    "slider, contribution bars, evidence, metadata), reviewer marks kept in the browser, and a "
                    "CSV export of the rows the filter shows. Exit codes: 0 written; 2 no such results file, a file "
                    "that is not a scan's results, or an -o that exists and is not an HTML page.")
    p.add_argument("results", metavar="RESULTS.jsonl", help="output of `forensics scan`")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="HTML file to write")
    p.add_argument("--title", help="page title")
    p.add_argument("--no-thumbnails", action="store_true", help="do not read the source files (smaller page, no images)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.results):
        say(f"forensics report: {args.results}: no such results file (run `forensics scan FILES -o results.jsonl` "
            "first, and give that file here)", file=sys.stderr)
        return EXIT_USAGE
    if os.path.lexists(args.output) and not _is_page(args.output):
        say(f"forensics report: {args.output}: exists and is not an HTML report; nothing was written to it: "
            "choose another -o (such as report.html)", file=sys.stderr)
        return EXIT_USAGE
    summary = build_report(args.results, args.output, thumbnails=not args.no_thumbnails, title=args.title)
    say(summary.format())
    return EXIT_OK


def _is_page(path: str) -> bool:
    """``path`` is a regular file holding an HTML page (a report this command may replace)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            return fh.read(15).lower() == b"<!doctype html>"
    except OSError:
        return False
