"""``forensics evaluate``: metrics on a labelled folder under laundering conditions."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from forensics.evaluation.evaluate import DEFAULT_CONDITIONS, evaluate
from forensics.safe import say

from .common import EXIT_INPUT, EXIT_OK, EXIT_USAGE, add_engine_options, engine, signal_list


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate", help="metrics on a labelled folder under laundering conditions",
        description="AUROC, AP, TPR at 1 %/5 % FPR, Brier and ECE for the fused probability and each signal's raw "
                    "score, overall and per source/generator, under laundering conditions. Files the fusion was "
                    "fitted on are excluded. Exit codes: 0 ok, 1 some images failed, 2 usage error.")
    p.add_argument("--labels", required=True, metavar="CSV", help="labels CSV: path,label[,source,generator] (paths relative to it)")
    p.add_argument("-o", "--output", metavar="DIR", help="write evaluation.md, metrics.json and ROC/reliability PNGs here")
    p.add_argument("--conditions", default=",".join(DEFAULT_CONDITIONS), metavar="NAMES",
                   help=f"comma-separated laundering conditions (default {','.join(DEFAULT_CONDITIONS)})")
    p.add_argument("--include-training", action="store_true", help="also use the files the fusion was fitted on (optimistic!)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N images (deterministic sample)")
    p.add_argument("--sample-per-class", type=int, metavar="N", help="at most N images per label (deterministic)")
    p.add_argument("--seed", type=int, default=0, help="sampling and laundering seed (default 0)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                   help="worker processes (default: cores, at most 4); 0 = in this process")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print metrics.json instead of the Markdown table")
    add_engine_options(p, with_base_rate=False)  # metrics are read at the fusion's own even odds
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    for flag in ("limit", "sample_per_class"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            print(f"forensics evaluate: --{flag.replace('_', '-')} must be at least 1, got {v}", file=sys.stderr)
            return EXIT_USAGE
    eng = engine(args)
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    ev = evaluate(args.labels, args.output, conditions=conditions, signals=signal_list(args.signals),
                  fusion=eng.fusion, calibration=eng.calibration, max_pixels=args.max_pixels,
                  include_training=args.include_training, limit=args.limit, sample_per_class=args.sample_per_class,
                  seed=args.seed, workers=max(0, args.workers), progress=not args.no_progress)
    for n in ev.notes:
        say(n, file=sys.stderr, multiline=True)
    print(f"evaluate: used {ev.n_used} of {ev.n_labelled} labelled images; {ev.n_excluded_training} excluded as the "
          f"fusion's training files" if not ev.include_training else
          f"evaluate: used {ev.n_used} of {ev.n_labelled} labelled images, training files included", file=sys.stderr)
    if args.json:
        print(json.dumps(ev.to_dict(), indent=2))
    else:
        say(ev.markdown(), multiline=True)
    if args.output:
        say(f"wrote {args.output}/evaluation.md, metrics.json and plots", file=sys.stderr)
    for err in ev.errors[:20]:
        say(f"forensics: error: {err['path']} ({err['condition']}): {err['error']}", file=sys.stderr)
    return EXIT_INPUT if ev.errors else EXIT_OK
