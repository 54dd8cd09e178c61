"""Readable text of an :class:`~forensics.analysis.Analysis`: what ``forensics analyze`` prints
and :meth:`Analysis.explain` returns, and the notes printed once per run."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .attribution import short

if TYPE_CHECKING:
    from .analysis import Analysis

#: A calibration whose p-values move in steps coarser than this share of alpha gets a warning:
#: fewer than 10 steps at or below alpha (``n + 1 < 10 / alpha``, the 200 reals wanted at 0.05).
COARSE_STEPS = 10
NAME_WIDTH = 19

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
                     f"{'at or below' if low else 'above'} its likely_real threshold {d['threshold_real']:.2f}"
                     f"{_lr(d, 'real', '<=')} -> {verdict}")
        if d.get("reference_without"):
            line += (f"; {', '.join(d['reference_without'])} did not score this image, so the reals are "
                     "compared without it too")
        return line
    at = f" at base rate {d['base_rate']:g}" if d.get("base_rate") is not None else ""
    return (f"rule: {fusion}{at}, likely_ai at P(AI) >= {d['threshold_ai']:.2f}{_lr(d, 'ai', '>=')}, likely_real "
            f"at P(AI) <= {d['threshold_real']:.2f}{_lr(d, 'real', '<=')}: P(AI) {probability:.3f} -> {verdict}")


def fmt_lr(log_lr: float) -> str:
    """A likelihood ratio from its log: ``12``, ``1/28``."""
    if abs(log_lr) > 700:  # past a float's range
        return f"e^{log_lr:.3g}"
    v = math.exp(log_lr)
    return f"{v:.3g}" if v >= 1 else f"1/{1 / v:.3g}"


def _lr(d: Mapping[str, Any], which: str, op: str) -> str:
    v = d.get(f"log_lr_{which}")
    return "" if v is None else f" (likelihood ratio {op} {fmt_lr(v)})"


def _rule(a: "Analysis") -> str:
    return rule_text(a.decision, a.probability, a.verdict, str(a.fusion.get("name", "custom")),
                     (a.calibration or {}).get("name"))


def _found_nothing(s: Any) -> bool:
    return s.contribution == 0 and s.result.summary.lower().startswith("no ")


def explain(a: "Analysis", *, unavailable: bool = True) -> str:
    """The block for one analysis. ``unavailable=False`` leaves out the signals that cannot run
    here (the CLI lists them once per run instead)."""
    lines = [a.source, f"  {a.headline or a.verdict}", f"  {_rule(a)}"]
    if a.attribution is not None and (a.attribution.status != "not_attempted" or a.verdict == "likely_ai"):
        lines.append(f"  generator: {a.attribution.summary()}")
    ok = [s for s in a.signals if s.result.status == "ok"]
    weighed = [s for s in ok if not (s.in_fusion and _found_nothing(s))]
    weighed.sort(key=lambda s: (not s.in_fusion, -abs(s.contribution), s.name))
    lines.append("  log-odds (+ towards AI, - towards real; with the prior they add up to the logit):")
    for s in weighed:
        mark = "*" if s.in_fusion and not s.calibrated else " "
        num = f"{s.contribution:+7.2f}{mark}" if s.in_fusion else "    n/a "
        tag = " [decisive]" if s.name in a.decisive else ""
        tail = "" if s.in_fusion else " (not weighed by this fusion)"
        lines.append(f"  {num} {s.name:<{NAME_WIDTH}}{tag} {s.result.summary}{tail}")
    lines.append(f"  {a.prior_log_odds:+7.2f}  {'(prior)':<{NAME_WIDTH}} base rate {a.base_rate:g}"
                 + (f", fusion intercept {a.intercept:+.2f}" if a.intercept else ""))
    lines.append(f"  {a.logit:+7.2f}  {'= logit':<{NAME_WIDTH}} P(AI) {a.probability:.3f}")
    nothing = [s.name for s in ok if s.in_fusion and _found_nothing(s)]
    if nothing:
        lines.append(f"  found nothing, no weight: {', '.join(nothing)} (absence proves nothing)")
    for status, label in (("abstained", "did not score"), ("error", "failed")):
        items = [f"{s.name} ({s.result.reason})" for s in a.signals if s.result.status == status]
        if items:
            lines.append(f"  {label}: " + "; ".join(items))
    if unavailable:
        names = [s.name for s in a.signals if s.result.status == "unavailable"]
        if names:
            lines.append(f"  not available here: {', '.join(names)} (`forensics signals` says how to enable them)")
    uncalibrated = [s.name for s in ok if s.in_fusion and not s.calibrated]
    if uncalibrated:
        lines.append(f"  * uncalibrated prior weight: {', '.join(uncalibrated)} "
                     "(fit it with `forensics calibrate --real DIR --fake DIR`)")
    if a.image.get("truncated") or a.image.get("warnings"):
        lines.append("  intake: " + "; ".join(a.image.get("warnings") or ["file is truncated"]))
    return "\n".join(lines)


def quiet_line(a: "Analysis") -> str:
    """One line per file (``forensics analyze -q``)."""
    gen = short(a.attribution.to_dict()) if a.attribution is not None else None
    return f"{a.source}: {a.headline or a.verdict}" + (f"; generator: {gen}" if gen else "")


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
