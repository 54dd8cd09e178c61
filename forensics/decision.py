"""The verdict rule, in one place: the fusion's thresholds, or a calibration's conformal test.

The engine makes one pass: the signals' results, the fusion's explanation of them
(:class:`~forensics.fusion.Explanation`), then one :class:`DecisionRule` turns that
explanation into a :class:`Decision` (the verdict and the numbers it rests on), then
:mod:`forensics.basis` states it in words and :mod:`forensics.attribution` names a generator.
The typed parts of an :class:`~forensics.analysis.Analysis` live here too; each ``to_dict()``
is the object of the result schema.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .fusion.logistic import SMALL_SIDE, real_threshold_key
from .numeric import check_base_rate

if TYPE_CHECKING:
    from forensics.fusion import Explanation, LogisticFusion
    from forensics.signals import SignalResult


#: Largest heatmap side written to JSON; larger maps are block-averaged down.
JSON_HEATMAP_MAX_SIDE = 64


def _round(v: float | None, nd: int = 6) -> float | None:
    if v is None:
        return None
    return round(float(v), nd)


def _finite_or_none(v: float) -> float | None:
    return _round(v) if math.isfinite(v) else None


def _heatmap_json(hm: np.ndarray | None) -> list[list[float | None]] | None:
    """Rows of the map, block-averaged to at most :data:`JSON_HEATMAP_MAX_SIDE` a side over the
    cells measured; ``null`` where none was."""
    if hm is None:
        return None
    h, w = hm.shape
    step = max(1, math.ceil(max(h, w) / JSON_HEATMAP_MAX_SIDE))
    if step > 1:
        hh, ww = h // step * step, w // step * step
        blocks = hm[:hh, :ww].reshape(hh // step, step, ww // step, step).astype(np.float64)
        seen = np.isfinite(blocks).sum(axis=(1, 3))
        total = np.where(np.isfinite(blocks), blocks, 0.0).sum(axis=(1, 3))
        hm = np.where(seen > 0, total / np.maximum(seen, 1), np.nan)
    return [[round(float(x), 3) if math.isfinite(x) else None for x in row] for row in hm]


@dataclass(frozen=True, eq=False)
class SignalEntry:
    """One signal's line in an :class:`~forensics.analysis.Analysis`: its result and its share
    of the logit."""

    result: "SignalResult"
    contribution: float
    calibrated: bool
    in_fusion: bool

    @property
    def name(self) -> str:
        return self.result.name

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "name": r.name,
            "version": r.version,
            "status": r.status,
            "score": _round(r.score),
            "contribution": _round(self.contribution),
            "calibrated": self.calibrated,
            "in_fusion": self.in_fusion,
            "summary": r.summary,
            "reason": r.reason,
            "evidence": r.evidence,
            "heatmap": _heatmap_json(r.heatmap),
        }


@dataclass(frozen=True)
class FusionInfo:
    """Which fusion weighed the signals: its ``name``, the ``sha256`` of its canonical JSON and
    the signals it weighs with uncalibrated prior weights."""

    name: str
    sha256: str
    uncalibrated: list[str]

    @classmethod
    def of(cls, fusion: "LogisticFusion") -> "FusionInfo":
        return cls(fusion.provenance_.get("name", "custom"), fusion.sha256(), fusion.uncalibrated)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "uncalibrated": self.uncalibrated}


@dataclass(frozen=True)
class CalibrationInfo:
    """What an analysis carries about the calibration that decided it: its ``kind``, ``alpha``,
    the image's conformal ``p_value`` against ``n_real`` known reals, the logit threshold
    (``None`` when no logit can reach it), the signals the reals were compared without
    (``reference_without``, those that did not score this image) and the calibration's ``name``."""

    kind: str
    alpha: float
    p_value: float
    n_real: int
    threshold_logit: float | None
    reference_without: list[str]
    name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "alpha": self.alpha, "p_value": self.p_value, "n_real": self.n_real,
                "threshold_logit": self.threshold_logit, "reference_without": self.reference_without, "name": self.name}


@dataclass(frozen=True)
class Decision:
    """The verdict and the rule's numbers: ``method`` ``fusion_thresholds`` (P(AI) against the
    fusion's thresholds at ``base_rate``; ``threshold_ai`` and ``log_lr_ai`` set) or
    ``conformal`` (the calibration's p-value against ``alpha``; ``alpha``, ``p_value``,
    ``n_real``, ``reference_without`` and ``p_value_floor`` set, the fusion's likely_real
    threshold kept). ``small_side`` is set (to :data:`~forensics.fusion.logistic.SMALL_SIDE`)
    when the image's shorter side is under it and the fusion's stricter likely_real threshold
    for such images is the ``threshold_real`` applied."""

    method: str
    verdict: str
    base_rate: float
    threshold_real: float
    log_lr_real: float | None
    threshold_ai: float | None = None
    log_lr_ai: float | None = None
    alpha: float | None = None
    p_value: float | None = None
    n_real: int | None = None
    reference_without: tuple[str, ...] = ()
    small_side: int | None = None

    @property
    def conformal(self) -> bool:
        return self.method == "conformal"

    @property
    def p_value_floor(self) -> float | None:
        """The smallest p-value ``n_real`` reals can give: an image above every real gets it."""
        return None if self.n_real is None else 1.0 / (self.n_real + 1)

    def to_dict(self) -> dict[str, Any]:
        if self.conformal:
            return {"method": self.method, "base_rate": self.base_rate, "alpha": self.alpha, "p_value": self.p_value,
                    "n_real": self.n_real, "threshold_real": self.threshold_real, "log_lr_real": self.log_lr_real,
                    "reference_without": list(self.reference_without), "p_value_floor": self.p_value_floor,
                    "small_side": self.small_side}
        return {"method": self.method, "base_rate": self.base_rate, "threshold_ai": self.threshold_ai,
                "threshold_real": self.threshold_real, "log_lr_ai": self.log_lr_ai, "log_lr_real": self.log_lr_real,
                "small_side": self.small_side}


class ConformalReference(Protocol):
    """What the conformal rule needs of a calibration (:class:`forensics.calibration.Calibration`)."""

    def assess(self, logit: float, missing: Iterable[str] = ()) -> CalibrationInfo: ...


class EngineCalibration(ConformalReference, Protocol):
    """What an engine reads of a calibration (:class:`forensics.calibration.Calibration`, which
    sits above the engine): its refitted ``fusion`` (or ``None``), its ``probe`` (a line derived
    from another signal's result, or ``None``) and its check against the signals in use."""

    fusion: "LogisticFusion | None"
    probe: Any

    def check(self, signals: Sequence[Any], fusion: "LogisticFusion") -> None: ...


class DecisionRule:
    """The verdict rule of an engine: the fusion's thresholds, or, with a ``calibration``, its
    conformal test (likely_ai when the image is rare enough among the calibration's reals;
    else likely_real at or below the fusion's likely_real threshold; else inconclusive). An
    image whose shorter side is under :data:`~forensics.fusion.logistic.SMALL_SIDE` px is held
    to the fusion's ``real_small`` threshold where it has one: on so few pixels the evidence
    that an image is real is weaker (docs/evaluation.md)."""

    def __init__(self, fusion: "LogisticFusion", calibration: ConformalReference | None = None) -> None:
        self.fusion = fusion
        self.calibration = calibration

    def decide(self, expl: "Explanation", base_rate: float = 0.5, short_side: int | None = None
               ) -> tuple[Decision, CalibrationInfo | None]:
        """The decision on one explained image at ``base_rate``, and the calibration's part;
        ``short_side``: the image's shorter side in pixels (``None``: not known, no small-image rule)."""
        base_rate = check_base_rate(base_rate)
        thresholds, lrs = self.fusion.thresholds_at(base_rate), self.fusion.log_lr_thresholds()
        which = real_threshold_key(thresholds, short_side)
        p = expl.probability
        real = p <= thresholds[which]
        common = dict(base_rate=base_rate, threshold_real=thresholds[which], log_lr_real=_finite_or_none(lrs[which]),
                      small_side=SMALL_SIDE if which == "real_small" else None)
        if self.calibration is None:
            verdict = "likely_ai" if p >= thresholds["ai"] else "likely_real" if real else "inconclusive"
            return Decision("fusion_thresholds", verdict, threshold_ai=thresholds["ai"], log_lr_ai=_finite_or_none(lrs["ai"]),
                            **common), None
        # the conformal test compares logits at even odds, as the calibration's reals were scored
        calib = self.calibration.assess(expl.intercept + expl.log_lr, expl.missing)
        verdict = "likely_ai" if calib.p_value <= calib.alpha else "likely_real" if real else "inconclusive"
        return Decision("conformal", verdict, alpha=calib.alpha, p_value=calib.p_value, n_real=calib.n_real,
                        reference_without=tuple(calib.reference_without), **common), calib
