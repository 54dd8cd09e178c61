"""Command-line interface: a thin layer over the library, one module per subcommand.

Exit codes: 0 success; 1 some inputs could not be read (the others are still reported);
2 usage or configuration error (bad option, unknown signal, unreadable or mismatched
calibration or fusion file, too few readable images to calibrate, a scan PATH that does not
exist, an -o that exists and is not a file of the kind the command writes); 3 ``analyze --fail-on`` matched a file; 70 internal error (a bug: one line, the traceback with ``-v``);
130 ``scan`` interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from forensics.errors import ForensicsError, ImageLoadError
from forensics.image import quiet_decoder_warnings
from forensics.malloc import reuse_pixel_buffers
from forensics.safe import LogFormatter, say
from forensics.version import __version__

from . import analyze, calibrate, evaluate, report, scan, serve, signals, weights
from .common import EXIT_INPUT, EXIT_INTERNAL, EXIT_USAGE

#: The subcommand modules, in ``--help`` order: each has ``register(subparsers)``, which adds
#: its parser(s) and sets ``func`` (returning an exit code) as the parser default.
SUBCOMMANDS = (analyze, signals, calibrate, scan, report, serve, evaluate, weights)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="forensics", description="Was this image generated? Multi-signal forensic analysis, offline.")
    p.add_argument("--version", action="version", version=f"forensics {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and signal failures to stderr")
    sub = p.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    reuse_pixel_buffers()
    if not args.verbose:
        quiet_decoder_warnings()
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into `head` and closed: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INPUT
    except ImageLoadError as exc:
        say(f"forensics: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except ForensicsError as exc:  # an unknown signal name is one (UnknownSignalError); a bug is not
        say(f"forensics: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: named in one line, the traceback only with -v
        if args.verbose:
            raise
        say(f"forensics: internal error ({type(exc).__name__}: {str(exc)[:200]}); "
            "rerun with -v for the traceback, and please report it", file=sys.stderr)
        return EXIT_INTERNAL
