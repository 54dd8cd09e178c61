"""Readable text of the engine's results: the decision rule in words (for
:meth:`Analysis.explain <forensics.analysis.Analysis.explain>` and the report), the legend,
and the notes ``forensics analyze`` prints once per run. It reads plain values and result
rows, never the engine, so :mod:`forensics.analysis` sits above it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: A calibration whose p-values move in steps coarser than this share of alpha gets a warning:
#: fewer than 10 steps at or below alpha (``n + 1 < 10 / alpha``, the 200 reals wanted at 0.05).
COARSE_STEPS = 10

LEGEND = """\
Reading a result:
  The first line under the file name is the verdict in plain words and what it rests on:
  "AI-generated" (decisive provenance: a signed C2PA claim, embedded generation parameters or
  a decoded watermark), "likely AI", "inconclusive", "likely camera original" (a signed capture
  claim, or the camera's own EXIF and JPEG tables) or "no AI evidence found" (the pixel signals
  found none; nothing vouches for a camera, so this is not "real").
  Each signal line starts with its contribution in log-odds (natural log of the odds): + pushes
  towards AI, - towards real, and the contributions plus the prior add up to the logit,
  P(AI) = 1 / (1 + e^-logit). +0.7 doubles the odds, +2.3 multiplies them by 10, and 0 is no
  weight; * marks a prior weight not yet calibrated on labelled images. The prior is the
  log-odds of the base rate (--base-rate, the share of AI images you expect; 0.5 = even odds,
  log-odds 0) plus the fusion's intercept; a signal that did not run adds nothing, so an image
  without evidence gets the prior. The verdict thresholds are likelihood ratios (what the
  evidence must multiply the odds by), the same at every base rate; P(AI) follows the base
  rate. An evidence line may quote the signal's own raw score ("probe log-odds -0.42"): that
  is its input to the fusion, not its contribution, and no signal's own probability is printed
  beside the fused P(AI).
"""


def rule_text(decision: Mapping[str, Any], probability: float, verdict: str, fusion_name: str,
              calibration_name: str | None = None) -> str:
    """The decision rule and how this image fared under it, in one line: the fusion's
    thresholds, or the calibration's conformal test (with the fused P(AI) and why it is or is
    not called real, so that the two numbers tell one story)."""
    d = decision
    fusion = f"{fusion_name} fusion"
    if d.get("method") == "conformal":
        n, p, alpha = d["n_real"], d["p_value"], d["alpha"]
        k = max(0, round(p * (n + 1)) - 1)  # reals at least as high: p = (1 + k) / (n + 1)
        floor = d.get("p_value_floor", 1.0 / (n + 1))
        name = f" {calibration_name!r}" if calibration_name and calibration_name != "calibration" else ""  # the default name says nothing
        seen = (f"none of them scores as high; {floor:.4f} is the smallest p-value {n} reals can give" if k == 0
                else f"{k} of them score as high or higher")
        line = (f"rule: calibration{name} on {n} known-real images flags likely_ai at p <= {alpha:g}: "
                f"p {p:.4f} ({seen})")
        if p <= alpha:
            line += f" -> likely_ai; P(AI) {probability:.3f} from the {fusion}"
        else:
            low = probability <= d["threshold_real"]
            at = f" at base rate {d['base_rate']:g}" if d.get("base_rate") is not None else ""
            line += (f" -> not flagged; P(AI) {probability:.3f} from the {fusion}{at} is "
                     f"{'at or below' if low else 'above'} its likely_real threshold{_small(d)} {d['threshold_real']:.2f}"
                     f"{_lr(d, 'real', '<=')} -> {verdict}")
        if d.get("reference_without"):
            line += (f"; {', '.join(d['reference_without'])} did not score this image, so the reals are "
                     "compared without it too")
        return line
    at = f" at base rate {d['base_rate']:g}" if d.get("base_rate") is not None else ""
    return (f"rule: {fusion}{at}, likely_ai at P(AI) >= {d['threshold_ai']:.2f}{_lr(d, 'ai', '>=')}, likely_real{_small(d)} "
            f"at P(AI) <= {d['threshold_real']:.2f}{_lr(d, 'real', '<=')}: P(AI) {probability:.3f} -> {verdict}")


def _small(d: Mapping[str, Any]) -> str:
    """The note on the stricter likely_real threshold of images under ``small_side`` px a side."""
    return f" (for images under {d['small_side']} px a side)" if d.get("small_side") else ""


def fmt_lr(log_lr: float) -> str:
    """A likelihood ratio from its log: ``12``, ``1/28``."""
    if abs(log_lr) > 700:  # past a float's range
        return f"e^{log_lr:.3g}"
    v = math.exp(log_lr)
    return f"{v:.3g}" if v >= 1 else f"1/{1 / v:.3g}"


def _lr(d: Mapping[str, Any], which: str, op: str) -> str:
    v = d.get(f"log_lr_{which}")
    return "" if v is None else f" (likelihood ratio {op} {fmt_lr(v)})"


def unavailable_note(reasons: Mapping[str, str]) -> str | None:
    """The once-per-run list of signals that cannot run here, with how to enable each."""
    if not reasons:
        return None
    lines = [f"{len(reasons)} signal(s) not available here, adding nothing to any result: "
             f"{', '.join(reasons)}"]
    lines += [f"  {name}: {why}" for name, why in reasons.items()]
    return "\n".join(lines)


def calibration_note(n_real: int, alpha: float) -> str | None:
    """The once-per-run warning for a calibration too small for its alpha: ``n`` reals give
    p-values in steps of ``1/(n+1)``, the smallest reachable value; fewer than
    :data:`COARSE_STEPS` of them at or below alpha make the false-positive rate coarse, and
    every image above all the reals (decisive ones too) shows the same floor."""
    floor = 1.0 / (n_real + 1)
    steps = math.floor(alpha * (n_real + 1) + 1e-9)
    if steps >= COARSE_STEPS:
        return None
    need = math.ceil(COARSE_STEPS / alpha) - 1
    if steps == 0:
        return (f"calibration: {n_real} known-real images give p-values of at least 1/{n_real + 1} = {floor:.4f}, above "
                f"alpha {alpha:g}: nothing can be flagged; calibrate with at least {math.ceil(1 / alpha) - 1} reals")
    return (f"calibration: {n_real} known-real images give p-values in steps of 1/{n_real + 1} = {floor:.4f}, "
            f"the smallest reachable; alpha {alpha:g} is only {steps} step(s), so the false-positive rate is coarse "
            f"and every image above all the reals shows p = {floor:.4f}; about {need} reals give {COARSE_STEPS} steps")
