"""``forensics calibrate``: conformal thresholds (and a refitted fusion) from the user's images."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from forensics.calibration import fit_calibration
from forensics.safe import say

from .common import EXIT_INPUT, EXIT_OK, signal_list


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
    c.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():  # recorded in cal.warnings and printed below, once
        warnings.simplefilter("ignore", UserWarning)
        cal = fit_calibration(args.real, args.fake, target_fpr=args.target_fpr, signals=signal_list(args.signals),
                              name=args.name, plots_dir=args.plots, probe=args.probe)
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
