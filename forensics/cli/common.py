"""What the subcommands share: exit codes and the engine options."""

from __future__ import annotations

import argparse

from forensics.analysis import Engine
from forensics.calibration import Calibration
from forensics.fusion import LogisticFusion
from forensics.image import DEFAULT_MAX_PIXELS
from forensics.numeric import check_base_rate

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2
#: a bug (sysexits' EX_SOFTWARE): one line on stderr, the traceback only with -v
EXIT_INTERNAL = 70


def signal_list(text: str | None) -> list[str] | None:
    """``--signals a,b`` as a list of names; ``None`` (every registered signal) when not given."""
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def base_rate(text: str) -> float:
    """``--base-rate``: a share strictly between 0 and 1, else a usage error."""
    try:
        return check_base_rate(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"the base rate must be a share of AI images strictly between 0 and 1 "
                                         f"(0.01 = one in a hundred), got {text!r}") from None


def add_engine_options(p: argparse.ArgumentParser, *, with_base_rate: bool = True) -> None:
    """``--signals``, ``--calibration``, ``--fusion``, ``--max-pixels`` and (``with_base_rate``)
    ``--base-rate``, read by :func:`engine`."""
    p.add_argument("--signals", metavar="NAMES", help="comma-separated signal names (default: all registered)")
    p.add_argument("--calibration", metavar="FILE", help="calibration JSON from `forensics calibrate`")
    p.add_argument("--fusion", metavar="FILE", help="fusion JSON to use instead of the embedded default")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N", help="refuse images above N pixels")
    if not with_base_rate:
        return
    p.add_argument("--base-rate", type=base_rate, default=0.5, metavar="B",
                   help="share of AI images expected among the inputs (default 0.5, even odds; 0.01 = one in a "
                        "hundred): P(AI) follows it, the verdict thresholds are likelihood ratios and do not move")


def engine(args: argparse.Namespace) -> Engine:
    """The engine the options of :func:`add_engine_options` describe (files are read now)."""
    calibration = Calibration.load(args.calibration) if getattr(args, "calibration", None) else None
    fusion = LogisticFusion.load(args.fusion) if getattr(args, "fusion", None) else None
    return Engine(signal_list(args.signals), fusion=fusion, calibration=calibration, max_pixels=args.max_pixels,
                  base_rate=getattr(args, "base_rate", 0.5))
