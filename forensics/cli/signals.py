"""``forensics signals``: which signals can run here, and how to enable the rest."""

from __future__ import annotations

import argparse
import json
from typing import Any

from forensics.safe import say
from forensics.signals import create_signal, plugin_errors, signal_names

from .common import EXIT_OK


def register(sub: Any) -> None:
    s = sub.add_parser("signals", help="list signals and whether they can run here")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_signals)


def cmd_signals(args: argparse.Namespace) -> int:
    rows = []
    for name in signal_names():
        try:
            sig = create_signal(name)
            avail = sig.availability()
            rows.append({"name": name, "version": sig.version, "available": avail.ok, "reason": avail.reason})
        except Exception as exc:
            rows.append({"name": name, "version": None, "available": False, "reason": f"cannot load: {exc}"})
    for name, err in sorted(plugin_errors().items()):
        if not any(r["name"] == name for r in rows):
            rows.append({"name": name, "version": None, "available": False, "reason": f"plugin error: {err}"})
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        for r in rows:
            state = "available" if r["available"] else "unavailable"
            say(f"{r['name']:<20} {r['version'] or '-':<8} {state}" + (f": {r['reason']}" if r["reason"] else ""))
    return EXIT_OK
