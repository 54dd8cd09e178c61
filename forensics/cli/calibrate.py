"""``forensics calibrate``: conformal thresholds (and a refitted fusion) from the user's images."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any

from forensics.calibration import fit_calibration
from forensics.calibration.calibration import FORMAT
from forensics.errors import ForensicsError
from forensics.image import read_regular
from forensics.jsonfile import MAX_JSON_BYTES
from forensics.safe import say

from .common import EXIT_INPUT, EXIT_OK, EXIT_USAGE, signal_list


def register(sub: Any) -> None:
    c = sub.add_parser("calibrate", help="calibrate on your own known-real (and optionally known-fake) images")
    c.add_argument("--real", required=True, metavar="DIR", help="folder of images known to be real")
    c.add_argument("--fake", metavar="DIR", help="folder of images known to be generated (refits the fusion)")
    c.add_argument("--target-fpr", type=float, default=0.05, metavar="ALPHA", help="false-positive rate to hold (default 0.05)")
    c.add_argument("-o", "--output", required=True, metavar="FILE", help="calibration JSON to write")
    c.add_argument("--plots", metavar="DIR", help="write roc.png and reliability.png here (with --fake)")
    c.add_argument("--probe", action="store_true",
                   help="with --fake: also fit a linear probe on the CLIP image embedding (needs clip_zeroshot's weights)")
    c.add_argument("--name", help="name recorded in the file")
    c.add_argument("--signals", metavar="NAMES", help="comma-separated signal names (default: all)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar (one is drawn on stderr by default)")
    c.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    if os.path.lexists(args.output) and not _is_calibration(args.output):
        say(f"forensics calibrate: {args.output}: exists and is not a calibration file; nothing was written to it: "
            "choose another -o (such as calibration.json)", file=sys.stderr)
        return EXIT_USAGE
    with warnings.catch_warnings():  # recorded in cal.warnings and printed below, once
        warnings.simplefilter("ignore", UserWarning)
        cal = fit_calibration(args.real, args.fake, target_fpr=args.target_fpr, signals=signal_list(args.signals),
                              name=args.name, plots_dir=args.plots, probe=args.probe, progress=not args.no_progress)
    cal.save(args.output)
    say(f"wrote {args.output}: {cal.kind} calibration on {cal.n_real} real"
          + (f" and {cal.data['n_fake']} fake" if cal.data.get("n_fake") else "") + f" images, target FPR {cal.alpha:g}")
    keys = ("auroc", "average_precision", "tpr_at_fpr_5pct", "brier", "ece")
    for label, key in (("held-out", "held_out"), ("CLIP probe alone, held-out", "probe_held_out")):
        held = cal.metrics.get(key)
        if held:
            say(f"{label}: " + ", ".join(f"{k} {v}" for k, v in held.items() if k in keys))
    for w in cal.warnings:
        say(f"warning: {w}", file=sys.stderr)
    for e in cal.data.get("errors", []):
        say(f"forensics: error: {e['error']}", file=sys.stderr)
    return EXIT_INPUT if cal.data.get("n_errors") else EXIT_OK


def _is_calibration(path: str) -> bool:
    """``path`` is a calibration file (any version) this command may replace."""
    try:
        data = read_regular(path, MAX_JSON_BYTES)
        return json.loads(data).get("format") == FORMAT
    except (ForensicsError, ValueError, AttributeError):
        return False
