"""Command-line interface: a thin layer over the library.

Exit codes: 0 success; 1 some inputs could not be read (the others are still reported);
2 usage or configuration error (bad option, unknown signal, unreadable or mismatched
calibration or fusion file, too few readable images to calibrate).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from importlib import resources
from typing import Any

from .errors import ForensicsError, ImageLoadError

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2

#: Modules that add subcommands: each has ``register(subparsers)`` that adds its parser(s)
#: and sets ``func`` (returning an exit code) as the parser default.
SUBCOMMAND_MODULES: tuple[str, ...] = ("forensics.scan", "forensics.report", "forensics.evaluate", "forensics.cli_weights")


def _sample_path() -> str:
    return str(resources.files("forensics").joinpath("data", "sample.jpg"))


def _signal_list(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _engine(args: argparse.Namespace):
    from .analysis import Engine

    calibration = fusion = None
    if getattr(args, "calibration", None):
        from forensics.calibration import Calibration

        calibration = Calibration.load(args.calibration)
    if getattr(args, "fusion", None):
        from forensics.fusion import LogisticFusion

        fusion = LogisticFusion.load(args.fusion)
    return Engine(_signal_list(args.signals), fusion=fusion, calibration=calibration, max_pixels=args.max_pixels)


def format_analysis(a: Any) -> str:
    """Readable multi-line summary of an :class:`~forensics.analysis.Analysis`."""
    d = a.decision
    if d["method"] == "conformal":
        rule = f"calibrated: p-value {d['p_value']:.4f} vs alpha {d['alpha']:g} over {d['n_real']} known-real images"
        if d.get("reference_without"):
            rule += f", compared without {', '.join(d['reference_without'])} (not scored here)"
    else:
        rule = f"{a.fusion['name']} fusion: AI if P >= {d['threshold_ai']:.2f}, real if P <= {d['threshold_real']:.2f}"
    lines = [f"{a.source}", f"  P(AI) = {a.probability:.3f}   {a.verdict}   ({rule})"]
    if a.decisive:
        lines.append(f"  decided by: {', '.join(a.decisive)} (decisive evidence; see its line below)")
    for s in sorted(a.signals, key=lambda s: -abs(s.contribution)):
        r = s.result
        if r.status == "ok":
            mark = "" if s.calibrated or not s.in_fusion else " *"
            head = f"{s.contribution:+7.2f}{mark}" if s.in_fusion else "   (n/a)"
        else:
            head = f"{r.status:>9}"
        lines.append(f"  {s.name:<20} {head:<10} {r.summary}")
    lines.append(f"  {'(intercept)':<20} {a.intercept:+7.2f}")
    uncalibrated = [s.name for s in a.signals if s.result.status == "ok" and s.in_fusion and not s.calibrated]
    if uncalibrated:
        lines.append(f"  * uncalibrated prior weight: {', '.join(uncalibrated)} (fit it with `forensics calibrate --real DIR --fake DIR`)")
    if a.image.get("truncated") or a.image.get("warnings"):
        lines.append("  intake: " + "; ".join(a.image.get("warnings") or ["file is truncated"]))
    if a.degraded:
        lines.append(f"  degraded: {len(a.not_run)} signal(s) could not run: {', '.join(s.name for s in a.not_run)}")
    return "\n".join(lines)


def cmd_analyze(args: argparse.Namespace) -> int:
    files = list(args.files) + ([_sample_path()] if args.sample else [])
    if not files:
        print("forensics analyze: give at least one FILE, or --sample", file=sys.stderr)
        return EXIT_USAGE
    engine = _engine(args)
    failed = 0
    for src, res in engine.analyze_many(files):
        if isinstance(res, ImageLoadError):
            failed += 1
            print(f"forensics: error: {res}", file=sys.stderr)
            if args.json:
                from .analysis import error_row

                print(json.dumps(error_row(str(src), res)), flush=True)
            continue
        print(res.to_json() if args.json else format_analysis(res), flush=True)
        if not args.json:
            print()
    return EXIT_INPUT if failed else EXIT_OK


def cmd_signals(args: argparse.Namespace) -> int:
    from forensics.signals import create_signal, plugin_errors, signal_names

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
            print(f"{r['name']:<20} {r['version'] or '-':<8} {state}" + (f": {r['reason']}" if r["reason"] else ""))
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    from forensics.calibration import fit_calibration

    with warnings.catch_warnings():  # recorded in cal.warnings and printed below, once
        warnings.simplefilter("ignore", UserWarning)
        cal = fit_calibration(args.real, args.fake, target_fpr=args.target_fpr, signals=_signal_list(args.signals),
                              name=args.name, plots_dir=args.plots, probe=args.probe)
    cal.save(args.output)
    print(f"wrote {args.output}: {cal.kind} calibration on {cal.n_real} real"
          + (f" and {cal.data['n_fake']} fake" if cal.data.get("n_fake") else "") + f" images, target FPR {cal.alpha:g}")
    keys = ("auroc", "average_precision", "tpr_at_fpr_5pct", "brier", "ece")
    for label, key in (("held-out", "held_out"), ("CLIP probe alone, held-out", "probe_held_out")):
        held = cal.metrics.get(key)
        if held:
            print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in held.items() if k in keys))
    for w in cal.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for e in cal.data.get("errors", []):
        print(f"forensics: error: {e['error']}", file=sys.stderr)
    return EXIT_INPUT if cal.data.get("n_errors") else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="forensics", description="Was this image generated? Multi-signal forensic analysis, offline.")
    p.add_argument("--version", action="version", version=f"forensics {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and signal failures to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="analyse image files", description="Analyse image files; one result per file.")
    a.add_argument("files", nargs="*", metavar="FILE")
    a.add_argument("--sample", action="store_true", help="also analyse the sample image shipped with the package")
    a.add_argument("--json", action="store_true", help="one JSON object per file (JSON Lines)")
    _common(a)
    a.set_defaults(func=cmd_analyze)

    s = sub.add_parser("signals", help="list signals and whether they can run here")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_signals)

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
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    from .image import DEFAULT_MAX_PIXELS

    p.add_argument("--signals", metavar="NAMES", help="comma-separated signal names (default: all registered)")
    p.add_argument("--calibration", metavar="FILE", help="calibration JSON from `forensics calibrate`")
    p.add_argument("--fusion", metavar="FILE", help="fusion JSON to use instead of the embedded default")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N", help="refuse images above N pixels")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from .malloc import reuse_pixel_buffers

    reuse_pixel_buffers()
    if not args.verbose:
        from .image import quiet_decoder_warnings

        quiet_decoder_warnings()
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into `head` and closed: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INPUT
    except ImageLoadError as exc:
        print(f"forensics: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (ForensicsError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"forensics: error: {msg}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
