"""``forensics weights``: list, download and add the neural signals' weights.

Exit codes: 0 success; 1 the weights could not be fetched, read or converted (the message
says why and what to do).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from forensics.errors import ForensicsError
from forensics.safe import say
from forensics.weights.install import add, download, status
from forensics.weights.store import home


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``weights`` subcommand (with ``list``, ``download``, ``add``) to ``subparsers``."""
    w = subparsers.add_parser("weights", help="list, download or add the neural signals' weights",
                              description="Weights live in $FORENSICS_HOME/weights (default ~/.cache/forensics). "
                                          "Downloads happen only here, never during analysis.")
    wsub = w.add_subparsers(dest="weights_command", metavar="{list,download,add}", required=True)

    ls = wsub.add_parser("list", help="what each signal needs, where it looks, sha256, licence")
    ls.add_argument("--json", action="store_true", help="one JSON array")
    ls.set_defaults(func=cmd_list)

    dl = wsub.add_parser("download", help="fetch from the Hugging Face Hub (pinned revision) and convert")
    dl.add_argument("name", metavar="NAME")
    dl.set_defaults(func=cmd_download)

    ad = wsub.add_parser("add", help="install a local copy (the repository folder or the weight file)")
    ad.add_argument("name", metavar="NAME")
    ad.add_argument("path", metavar="PATH")
    ad.set_defaults(func=cmd_add)
    return w


def cmd_list(args: argparse.Namespace) -> int:
    rows = status()
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
        return 0
    say(f"weight store: {home() / 'weights'}")
    for r in rows:
        state = "installed" if r["installed"] else ("BROKEN" if r["problem"] else "not installed")
        say(f"\n{r['name']}  [{state}]  used by: {r['signal'] or '-'}", multiline=True)
        if r["description"]:
            say(f"  {r['description']}")
        say(f"  file:    {r['file'] or '-'}   source: {r['source'] or 'local only'}")
        say(f"  dir:     {r['dir']}")
        if r.get("installed_from"):
            say(f"  from:    {r['installed_from']}")
        say(f"  sha256:  {r['sha256'] or '(recorded at install)'}")
        say(f"  licence: {r['licence'] or '-'}")
        if r["problem"]:
            say(f"  problem: {r['problem']}")
    return 0


def _installed(side: dict[str, Any]) -> int:
    say(f"installed {side['name']}: {side['file']} sha256 {side['sha256']}")
    say(f"  onnx {side['onnx']['file']} (torch vs onnxruntime max abs diff {side['onnx']['parity_max_abs']:.2e})")
    say(f"  licence: {side['licence']}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    try:
        return _installed(download(args.name))
    except ForensicsError as exc:
        say(f"forensics weights download: error: {exc}", file=sys.stderr)
        return 1


def cmd_add(args: argparse.Namespace) -> int:
    try:
        return _installed(add(args.name, args.path))
    except ForensicsError as exc:
        say(f"forensics weights add: error: {exc}", file=sys.stderr)
        return 1
