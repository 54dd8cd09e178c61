"""``forensics analyze``: a readable block, one line (``-q``), JSON Lines or CSV per file."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from importlib import resources
from typing import Any

from forensics.analysis import VERDICTS, error_row
from forensics.batch.results import csv_header, csv_record
from forensics.batch.scan import expand_inputs
from forensics.calibration.probe import NAME as PROBE_NAME
from forensics.errors import ImageLoadError
from forensics.safe import for_terminal, say
from forensics.text import LEGEND, calibration_note, unavailable_note

from .common import EXIT_INPUT, EXIT_OK, EXIT_USAGE, add_engine_options, engine

#: ``--fail-on``: a file got one of the named verdicts.
EXIT_MATCH = 3
STDIN = "<stdin>"

EPILOG = LEGEND + f"""
Inputs: image files; `-` reads one image from standard input; a folder needs -r (or use
`forensics scan DIR -o results.jsonl` for a resumable batch with worker processes). URLs are
never fetched.

Output: --format text (default) prints one block per file; -q one line per file; --format
jsonl one JSON object per file (schema: forensics/schema/analysis.schema.json; --json is the
same); --format csv one row per file. Signals that cannot run here, and a calibration too small
for its alpha, are noted once per run on stderr.

Exit codes: 0 every file analysed; 1 some inputs could not be read (each is named on stderr,
the others are still reported); 2 usage or configuration error; {EXIT_MATCH} --fail-on matched
at least one file (this wins over 1).
"""


def register(sub: Any) -> None:
    a = sub.add_parser("analyze", help="analyse image files", description="Analyse image files; one result per file.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("files", nargs="*", metavar="FILE", help="image file, folder (with -r), or - for standard input")
    a.add_argument("--sample", action="store_true", help="also analyse the sample image shipped with the package")
    a.add_argument("-r", "--recursive", action="store_true", help="analyse the image files in folders, recursively")
    a.add_argument("--format", choices=("text", "jsonl", "csv"), help="output format (default text)")
    a.add_argument("--json", action="store_true", help="the same as --format jsonl")
    a.add_argument("-q", "--quiet", action="store_true", help="text format, one line per file: FILE: headline")
    a.add_argument("--fail-on", metavar="VERDICTS",
                   help=f"exit {EXIT_MATCH} when a file gets one of these verdicts (comma-separated: {', '.join(VERDICTS)})")
    add_engine_options(a)
    a.set_defaults(func=cmd_analyze)


def _sample_path() -> str:
    return str(resources.files("forensics").joinpath("data", "sample.jpg"))


def _usage(msg: str) -> int:
    say(f"forensics analyze: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _inputs(args: argparse.Namespace) -> tuple[list[str], list[Any]] | str:
    """``(labels, sources)`` in order, or a usage error message. A folder without ``-r`` stays
    in the list and becomes that input's error."""
    labels: list[str] = []
    sources: list[Any] = []
    for f in list(args.files) + ([_sample_path()] if args.sample else []):
        if f == "-":
            if STDIN in labels:
                return "`-` (standard input) can be given once"
            if sys.stdin.isatty():  # waiting for an image typed on a terminal helps nobody
                return "`-` reads an image from standard input, which is a terminal here; pipe or redirect a file into it"
            labels.append(STDIN)
            sources.append(sys.stdin.buffer)
        elif args.recursive and os.path.isdir(f):
            found = expand_inputs([f])
            if not found:
                say(f"forensics analyze: {f}: no image files in this folder", file=sys.stderr)
            labels += found
            sources += found
        else:
            labels.append(f)
            sources.append(f)
    return labels, sources


def _error(label: str, exc: ImageLoadError, recursive: bool) -> ImageLoadError:
    if label != STDIN and os.path.isdir(label) and not recursive:
        return ImageLoadError(f"{label}: is a folder; pass -r to analyse the images in it, or run "
                              f"`forensics scan {label} -o results.jsonl` for a resumable batch")
    return exc


def cmd_analyze(args: argparse.Namespace) -> int:
    fmt = args.format or ("jsonl" if args.json else "text")
    if args.json and args.format not in (None, "jsonl"):
        return _usage(f"--json is --format jsonl; it cannot be combined with --format {args.format}")
    if args.quiet and fmt != "text":
        return _usage(f"-q is one line of text per file; it cannot be combined with --format {fmt}")
    fail_on: set[str] = set()
    if args.fail_on is not None:
        fail_on = {v.strip() for v in args.fail_on.split(",") if v.strip()}
        unknown = sorted(fail_on - set(VERDICTS))
        if unknown or not fail_on:
            return _usage(f"--fail-on takes verdicts among {', '.join(VERDICTS)}; got {args.fail_on!r}")
    got = _inputs(args)
    if isinstance(got, str):
        return _usage(got)
    labels, sources = got
    if not labels:
        if args.files or args.sample:
            return EXIT_INPUT  # only empty folders: said on stderr
        return _usage("give at least one FILE (or - for standard input), or --sample")
    eng = engine(args)
    reasons = {}
    for sig in eng.signals_:  # once per run, not per file: availability does not depend on the image
        avail = sig.availability()
        if not avail.ok:
            reasons[sig.name] = avail.reason or "unavailable"
    for note in (unavailable_note(reasons),
                 calibration_note(eng.calibration.n_real, eng.calibration.alpha) if eng.calibration is not None else None):
        if note:
            say(f"forensics: note: {note}", file=sys.stderr, multiline=True)
    writer = csv.writer(sys.stdout, lineterminator="\n") if fmt == "csv" else None
    names = [s.name for s in eng.signals_]
    if eng.calibration is not None and eng.calibration.probe is not None:
        names.append(PROBE_NAME)
    if writer is not None:
        writer.writerow(csv_header(names))
    failed = matched = 0
    first = True
    for label, (_, res) in zip(labels, eng.analyze_many(sources)):
        if isinstance(res, ImageLoadError):
            failed += 1
            res = _error(label, res, args.recursive)
            say(f"forensics: error: {res}", file=sys.stderr)
            if fmt == "jsonl":
                print(json.dumps(error_row(label, res)), flush=True)
            elif writer is not None:
                writer.writerow(csv_record(error_row(label, res), names))
            continue
        if label == STDIN:
            res = _relabel(res, STDIN)
        matched += res.verdict in fail_on
        if fmt == "jsonl":
            print(res.to_json(), flush=True)
        elif writer is not None:
            writer.writerow(csv_record(res.to_dict(), names))
            sys.stdout.flush()
        elif args.quiet:
            print(for_terminal(res).quiet_line(), flush=True)
        else:
            print(("" if first else "\n") + for_terminal(res).explain(unavailable=False), flush=True)
        first = False
    if matched:
        return EXIT_MATCH
    return EXIT_INPUT if failed else EXIT_OK


def _relabel(res: Any, source: str) -> Any:
    import dataclasses

    return dataclasses.replace(res, source=source)
