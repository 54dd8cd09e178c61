"""``forensics signals``: which signals can run here, and how to enable the rest."""

from __future__ import annotations

import argparse
import json
from typing import Any

from forensics.safe import say
from forensics.signals import signal_table

from .common import EXIT_OK


def register(sub: Any) -> None:
    s = sub.add_parser("signals", help="list signals and whether they can run here")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_signals)


def cmd_signals(args: argparse.Namespace) -> int:
    rows = signal_table()
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        for r in rows:
            state = "available" if r["available"] else "unavailable"
            say(f"{r['name']:<20} {r['version'] or '-':<8} {state}" + (f": {r['reason']}" if r["reason"] else ""))
    return EXIT_OK
