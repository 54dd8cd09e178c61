"""``forensics scan``: many files into a resumable JSON Lines file (see docs/batch.md)."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import sys
from typing import Any

from forensics.batch.results import read_results
from forensics.batch.scan import DEFAULT_TIMEOUT, expand_inputs, scan
from forensics.image import is_url
from forensics.safe import say

from .common import EXIT_INPUT, EXIT_OK, EXIT_USAGE, add_engine_options, engine, signal_list


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "scan", help="analyse many files into a resumable JSON Lines file",
        description="Analyse folders, globs and @lists of files; one JSON line per file (see docs/batch.md). "
                    "Rerunning the same command resumes: files already in the output with the same bytes "
                    "and settings are skipped. Exit codes: 0 all analysed, 1 some inputs could not be read "
                    "(they have error rows), 2 usage error, 130 interrupted.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image file, folder (recursive), glob pattern or @list.txt")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="JSON Lines file to write or resume")
    p.add_argument("--csv", metavar="FILE", help="also write a flat CSV of the whole output")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                   help="worker processes, each with its own models (default: cores, at most 4); 0 = in this process")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: worker processes on this machine (default); ray: actors on a Ray cluster, "
                        "pip install 'forensics[ray]' (see docs/distributed.md)")
    p.add_argument("--address", metavar="ADDR", help="with --backend ray: the cluster to join (HOST:6379, or auto "
                                                     "on one of its nodes); default: start Ray on this machine")
    p.add_argument("--num-cpus", type=int, metavar="N", help="with --backend ray: CPUs to use, one actor on each "
                                                             "(default: all of the cluster's)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds allowed per file before its worker is stopped (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_engine_options(p)
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    if args.workers < 0:
        print(f"forensics scan: --workers must be 0 or more, got {args.workers}", file=sys.stderr)
        return EXIT_USAGE
    if args.backend != "ray" and (args.address or args.num_cpus is not None):
        print("forensics scan: --address and --num-cpus need --backend ray", file=sys.stderr)
        return EXIT_USAGE
    if args.num_cpus is not None and args.num_cpus < 1:
        print(f"forensics scan: --num-cpus must be 1 or more, got {args.num_cpus}", file=sys.stderr)
        return EXIT_USAGE
    code = _check_paths(args.paths)
    if code:
        return code
    eng = engine(args)  # loads the fusion/calibration files now: a bad one is a usage error
    options = dict(signals=signal_list(args.signals), fusion=eng.fusion, calibration=eng.calibration,
                   max_pixels=args.max_pixels, timeout=args.timeout if args.timeout > 0 else None, csv_path=args.csv,
                   progress=not args.no_progress, base_rate=args.base_rate)
    if args.backend == "ray":
        from forensics import distributed  # imports Ray only now

        with contextlib.redirect_stdout(sys.stderr):  # Ray prints its workers' log lines on stdout: keep it for the summary
            summary = distributed.scan(args.paths, args.output, address=args.address, num_cpus=args.num_cpus, **options)
    else:
        summary = scan(args.paths, args.output, workers=args.workers, **options)
    if args.json:
        print(json.dumps(summary.to_dict()), flush=True)
    else:
        say(summary.format(), multiline=True)
    if summary.errors:
        _name_errors(args.paths, args.output)
    if summary.interrupted:
        return 130
    return EXIT_INPUT if summary.errors else EXIT_OK


def _check_paths(paths: list[str]) -> int:
    """Usage error (exit 2) for a URL, or a PATH that does not exist and is no glob pattern or
    @list (files named inside a list that do not exist become error rows instead)."""
    bad = 0
    for p in paths:
        if p.startswith("@") and len(p) > 1:
            continue  # expand_inputs reports an unreadable list
        if is_url(p):
            say(f"forensics scan: {p}: URLs are never fetched; download the files first", file=sys.stderr)
            bad += 1
        elif not os.path.lexists(p) and not glob.has_magic(p):
            say(f"forensics scan: {p}: no such file or folder", file=sys.stderr)
            bad += 1
    return EXIT_USAGE if bad else 0


def _name_errors(paths: list[str], output: str) -> None:
    """Each input of this run that has an error row, named on stderr with the reason."""
    wanted = {os.path.abspath(f) for f in expand_inputs(paths)}
    for row in read_results(output):
        err, sc = row.get("error"), row.get("scan") if isinstance(row.get("scan"), dict) else {}
        if isinstance(err, dict) and sc.get("path") in wanted:
            msg, source = str(err.get("message")), str(row.get("source"))
            where = "" if msg.startswith(source) else f"{source}: "
            say(f"forensics: error: {where}{msg} ({err.get('type')})", file=sys.stderr)
