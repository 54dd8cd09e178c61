"""The verdict in plain words, and what it rests on.

A probability alone claims more than the evidence: ``P(AI) = 0.01`` on an AI image without
metadata reads as "cleared" when all it says is that the pixel signals found nothing. So each
:class:`~forensics.analysis.Analysis` carries a ``headline`` that names the verdict in plain
words and its basis, and a machine-readable ``basis``:

============================  =================  ==============================================
headline starts with          ``basis.kind``     when
============================  =================  ==============================================
``AI-generated:``             ``provenance``     decisive evidence fired (signed C2PA claim of
                                                 AI origin, embedded generation parameters, a
                                                 decoded watermark)
``likely AI:``                the kind that      ``likely_ai`` without decisive evidence: pixel
                              pushed most        evidence, or a provenance claim that failed
                                                 its integrity check
``likely camera original:``   ``provenance`` or  ``likely_real`` resting on a signed capture
                              ``camera_metadata``  claim or on the camera's own record (EXIF,
                                                 camera-style JPEG tables) that moved the logit
                                                 at least ``NAMED_PUSH`` towards real
``likely real, edited (X):``  the same           the same, in a file an editor declares it
                                                 changed (a signed C2PA edit history, an
                                                 editor in EXIF Software): not an original
``likely real, not an intact  the same           the same, in a truncated file
original:``
``no AI evidence found:``     ``pixels``         ``likely_real`` on the pixel signals alone.
                                                 Never "real": the pixel signals miss some
                                                 generators, and nothing vouches for a camera
``inconclusive:``             the kind that      between the thresholds (or not rare enough
                              moved most         among the calibration's known reals); "for
                                                 an image under 448 px a side" where the
                                                 stricter likely_real threshold applied
============================  =================  ==============================================

The rest of the headline says what was and was not there ("no provenance, no camera
record", "signed edit history (Adobe Photoshop); no AI claim") and what the pixel signals
say beside it ("pixel signals also lean real (effnet_probe -2.25, npr -0.48)"). A truncated
file's headline starts with how much of it decoded ("truncated: 6 % decoded; ..."). The
number in brackets is the one that decided: the fused P(AI) under the fusion's thresholds, the
conformal p-value under a calibration.

Which kind a signal is comes from its class (``evidence_kind``), the words for a finding
from its ``brief(result)``, and the editor a file declares from its ``edited(result)`` (see
:class:`forensics.signals.Signal`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .decision import Decision, SignalEntry

BASIS_KINDS = ("provenance", "camera_metadata", "pixels", "other", "none")
#: Log-odds the camera's record (or a capture claim) must move the logit towards real before
#: the headline calls the image a likely camera original.
NAMED_PUSH = 0.5
KIND_WORDS = {"provenance": "provenance", "camera_metadata": "camera metadata", "pixels": "pixel evidence",
              "other": "signal evidence"}


@dataclass(frozen=True)
class Basis:
    """``kind`` (one of :data:`BASIS_KINDS`), the ``signals`` the verdict rests on (strongest
    first) and the ``headline``."""

    kind: str
    signals: tuple[str, ...]
    headline: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "signals": list(self.signals)}


def fmt_p(p: float) -> str:
    """A probability for a headline: two decimals, three near 0 and 1."""
    return f"{p:.3f}" if p < 0.01 or p > 0.99 else f"{p:.2f}"


def fmt_pv(p: float) -> str:
    """A conformal p-value for a headline: two significant digits (0.024, 0.066, 0.5)."""
    return f"{p:.2g}"


def state_basis(*, decision: Decision, probability: float, entries: Sequence[SignalEntry],
                kinds: Mapping[str, str], briefs: Mapping[str, str | None], decisive: Sequence[str],
                edits: Mapping[str, str] | None = None, truncated: str | None = None) -> Basis:
    """The headline and basis of one analysis (see the module docstring): ``decision`` (the
    verdict and the rule's numbers), the fused ``probability``, each signal's ``entries``, what
    the signals declare (``kinds``, ``briefs``, ``edits``: the editors signals found declared,
    ``{signal: "Adobe Photoshop"}``), the ``decisive`` signals; ``truncated``: the words for a
    truncated file (``"truncated: 6 % decoded"``), which start the headline."""
    basis = _state_basis(decision, probability, entries, kinds, briefs, decisive, edits or {}, truncated)
    if truncated:
        return Basis(basis.kind, basis.signals, f"{truncated}; {basis.headline}")
    return basis


def _state_basis(decision: Decision, probability: float, entries: Sequence[SignalEntry],
                 kinds: Mapping[str, str], briefs: Mapping[str, str | None], decisive: Sequence[str],
                 edits: Mapping[str, str], truncated: str | None) -> Basis:
    verdict = decision.verdict
    scored = [e for e in entries if e.result.status == "ok" and e.in_fusion]
    kind_of = {e.name: kinds.get(e.name, "other") for e in entries}

    def total(kind: str, sign: int) -> float:
        return math.fsum(e.contribution for e in scored if kind_of[e.name] == kind and e.contribution * sign > 0)

    def named(kind: str, sign: int) -> list[SignalEntry]:
        out = [e for e in scored if kind_of[e.name] == kind and e.contribution * sign > 0 and briefs.get(e.name)]
        return sorted(out, key=lambda e: -abs(e.contribution))

    pixel_kinds = [k for k in ("pixels", "other") if any(kind_of[e.name] == k for e in scored)]
    pixel_kind = pixel_kinds[0] if pixel_kinds else None
    pixels = [e for e in scored if kind_of[e.name] in ("pixels", "other")]
    conformal = decision.conformal
    if conformal:
        n, pv, alpha = decision.n_real, decision.p_value, decision.alpha
    number = f"P {fmt_p(probability)}"

    def status_of(kind: str) -> str | None:
        found = [briefs[e.name] for e in entries if kind_of[e.name] == kind and briefs.get(e.name)]
        if found:
            return " + ".join(found)  # type: ignore[arg-type]
        ran = [e for e in entries if kind_of[e.name] == kind and e.result.status == "ok"]
        if not ran:
            return None
        return "no provenance" if kind == "provenance" else "no camera record"

    def tail(*kinds_: str) -> str:
        parts = [s for k in kinds_ if (s := status_of(k))]
        return "; " + ", ".join(parts) if parts else ""

    def words(es: Sequence[SignalEntry]) -> str:
        return " + ".join(str(briefs.get(e.name) or e.name) for e in es)

    def dominant(sign: int) -> str | None:
        sums = {k: total(k, sign) * sign for k in ("provenance", "camera_metadata", "pixels", "other")}
        for k in ("provenance", "camera_metadata"):  # metadata is named only for a finding
            if not named(k, sign):
                sums[k] = 0.0
        best = max(sums, key=lambda k: (sums[k], k == pixel_kind))
        return best if sums[best] > 0 else None

    if verdict == "likely_ai":
        if decisive:
            return Basis("provenance", tuple(decisive), "AI-generated: " + "; ".join(
                str(briefs.get(d) or f"decisive evidence from {d}") for d in decisive))
        reason = f"p {fmt_pv(pv)} against {n} known-real images" if conformal else number
        kind = dominant(+1) or pixel_kind or "none"
        es = [e for e in scored if kind_of[e.name] == kind and e.contribution > 0]
        es.sort(key=lambda e: -e.contribution)
        if kind == "provenance" and named("provenance", +1):
            return Basis(kind, tuple(e.name for e in es), f"likely AI: {words(named('provenance', +1))} ({reason})"
                         + tail("camera_metadata"))
        what = KIND_WORDS.get(kind, "no single signal")
        return Basis(kind, tuple(e.name for e in es), f"likely AI: {what} ({reason})" + tail("provenance", "camera_metadata"))

    if verdict == "likely_real":
        editors = ", ".join(dict.fromkeys(edits.values()))
        # an original: neither declared edited nor cut short
        start = (f"likely real, edited ({editors})" if editors else "likely real, not an intact original" if truncated
                 else "likely camera original")
        for kind in ("provenance", "camera_metadata"):
            found = named(kind, -1)
            if found and -total(kind, -1) >= NAMED_PUSH:
                # a provenance finding beside the camera record (a signed edit history) is named too
                told = [str(briefs[e.name]) for e in entries if kind == "camera_metadata"
                        and kind_of[e.name] == "provenance" and briefs.get(e.name)]
                return Basis(kind, tuple(e.name for e in found), f"{start}: {words(found)}" + _agree(pixel_kind, pixels)
                             + "".join(f"; {t}" for t in told))
        if pixel_kind is not None:
            es = sorted((e for e in scored if kind_of[e.name] in ("pixels", "other") and e.contribution < 0),
                        key=lambda e: e.contribution)
            who = "pixel signals" if pixel_kind == "pixels" else "the signals"
            return Basis(pixel_kind, tuple(e.name for e in es), f"no AI evidence found: {who} see none ({number})"
                         + tail("provenance", "camera_metadata"))
        return Basis("none", (), f"no AI evidence found: no pixel signal ran ({number})" + tail("provenance", "camera_metadata"))

    # inconclusive
    if decisive:  # only under a calibration whose reals include such scores
        return Basis("provenance", tuple(decisive), f"inconclusive: {'; '.join(str(briefs.get(d) or d) for d in decisive)} "
                     f"says AI, but p {fmt_pv(pv)} > alpha {alpha:g} against {n} known-real images" if conformal else
                     f"inconclusive: {'; '.join(str(briefs.get(d) or d) for d in decisive)}")
    small = f" for an image under {decision.small_side} px a side" if decision.small_side else ""
    if conformal:
        reason = f"not rare among {n} known-real images (p {fmt_pv(pv)} > alpha {alpha:g}){small}, {number}"
    else:
        reason = f"between the thresholds{small} ({number})"
    # metadata is named as the basis only for a finding (a claim, a camera record) that moved the
    # logit more than the pixel signals did; otherwise the pixel signals are what was weighed
    moved = {k: abs(math.fsum(e.contribution for e in scored if kind_of[e.name] == k))
             for k in ("provenance", "camera_metadata", "pixels", "other")}
    for k in ("provenance", "camera_metadata"):
        if not any(briefs.get(e.name) for e in scored if kind_of[e.name] == k):
            moved[k] = 0.0
    kind = max(moved, key=lambda k: (moved[k], k == pixel_kind))
    if moved[kind] == 0:
        kind = pixel_kind or "none"
    if kind == "none":
        if not scored:
            return Basis("none", (), f"inconclusive: no signal could score this image ({number})")
        return Basis("none", (), f"inconclusive: no finding either way ({number}); no pixel signal ran"
                     + tail("provenance", "camera_metadata"))
    es = sorted((e for e in scored if kind_of[e.name] == kind), key=lambda e: -abs(e.contribution))
    if kind in ("provenance", "camera_metadata"):  # a finding (see above): the signals that found it
        other = "camera_metadata" if kind == "provenance" else "provenance"
        es = [e for e in es if briefs.get(e.name)]
        lean = -1 if math.fsum(e.contribution for e in es) < 0 else 1
        return Basis(kind, tuple(e.name for e in es), f"inconclusive: {words(es)}, {reason}"
                     + _agree(pixel_kind, pixels, lean) + tail(other))
    return Basis(kind, tuple(e.name for e in es), f"inconclusive: {KIND_WORDS[kind]} {reason}" + tail("provenance", "camera_metadata"))


def _agree(pixel_kind: str | None, pixels: Sequence[SignalEntry], finding: int = -1) -> str:
    """What the pixel signals say beside a metadata finding that leans real (``finding`` -1) or
    AI (+1), and which of them say it: ``"; pixel signals also lean real (effnet_probe -2.25,
    npr -0.48)"``."""
    if pixel_kind is None:
        return "; no pixel signal ran"
    total = math.fsum(e.contribution for e in pixels)
    if total == 0:
        return ""
    who = "pixel signals" if pixel_kind == "pixels" else "other signals"
    lean = ("also " if (total > 0) == (finding > 0) else "") + ("lean AI" if total > 0 else "lean real")
    which = ", ".join(f"{e.name} {e.contribution:+.2f}" for e in sorted(pixels, key=lambda e: -abs(e.contribution)))
    return f"; {who} {lean} ({which})"
