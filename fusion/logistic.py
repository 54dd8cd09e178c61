"""Logistic-regression fusion of signal scores, with an exact per-signal breakdown.

Each feature is one signal's raw score. A feature is either

* ``fitted``: standardised, ``z = clip((score - center) / scale, -clip, clip)``, with a
  coefficient learnt by :meth:`LogisticFusion.fit`; or
* ``prior``: a fixed, documented weight on ``(score - center) / scale``. One-sided metadata
  evidence enters this way (its score is 0 when there is no evidence, so absence contributes
  nothing), and so do signals that could not be fitted here (no weights), marked uncalibrated.

``logit = intercept + logit(base_rate) + sum(coef_i * z_i)``. The intercept is the prior
log-odds at even odds (0 when every fitted input is a log-odds with 0 meaning no evidence), the
base rate (default 1/2, adding 0) is the share of AI images the user expects, and the sum is
the evidence's log likelihood ratio. A signal that did not run has ``z_i = 0`` and so
contributes exactly 0; an image without evidence gets the prior. The verdict thresholds are
stored as probabilities at the fusion's own prior (base rate 1/2) and applied as likelihood
ratios (:meth:`LogisticFusion.log_lr_thresholds`), so that they mean the same at every base
rate while P(AI) follows it. A fusion may hold a stricter likely_real threshold, ``real_small``,
for images whose shorter side is under :data:`SMALL_SIDE` px, where the pixel evidence that an
image is real is weaker (:mod:`forensics.decision` applies it).

A prior feature may be *decisive* (``decisive_at``): when its score reaches that value (a
signed C2PA claim of AI origin, embedded generation parameters, a decoded watermark), its
contribution is raised, if needed, until the logit reaches ``decisive_logit`` (default 6.91,
P >= 0.999), whatever the other signals say. The raise is part of that feature's contribution,
so the breakdown still adds up exactly and shows what decided. :meth:`fit` trains on copies of the data in which fitted features
are dropped at random (``drop_rate``), so that the remaining coefficients still give a
meaningful probability when a signal is missing (mean imputation learnt end to end, rather
than one model per subset of signals, which would multiply files and fits).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from forensics.errors import FusionError
from forensics.jsonfile import check_header, read_json
from forensics.numeric import check_base_rate, logit, sigmoid
from forensics.signals import fingerprint_of

FORMAT = "forensics.fusion"
FORMAT_VERSION = 1
#: Images whose shorter side is under this many pixels get the ``real_small`` likely_real
#: threshold where a fusion has one: ``effnet_probe``'s full region (two 224-px windows a side).
SMALL_SIDE = 448
#: The thresholds a fusion may hold; ``ai`` and ``real`` always.
THRESHOLD_KEYS = ("ai", "real", "real_small")


def real_threshold_key(thresholds: Mapping[str, float], short_side: int | None) -> str:
    """Which likely_real threshold of ``thresholds`` applies to an image whose shorter side is
    ``short_side`` px (``None``: not known): ``real_small`` under :data:`SMALL_SIDE` where the
    fusion has one, else ``real``."""
    return "real_small" if short_side is not None and short_side < SMALL_SIDE and "real_small" in thresholds else "real"
#: Bounds on a fusion file's numbers (a file beyond them is refused when loaded): finite numbers
#: such as coef 1e308 with scale 1e-300 would make every logit inf - inf. ``|coef|``,
#: ``|intercept|`` and ``decisive_logit`` at most MAX_WEIGHT; ``|center|`` and ``|decisive_at|`` at
#: most MAX_CENTER; ``scale`` within [MIN_SCALE, MAX_CENTER]; ``clip`` in (0, MAX_CLIP]; and the
#: products: ``|coef| x clip`` (clipped) or ``|coef| / scale`` (unclipped) at most MAX_GAIN.
MAX_WEIGHT = 100.0
MAX_CENTER = 1e6
MIN_SCALE = 1e-6
MAX_CLIP = 1e3
MAX_GAIN = 1e4


@dataclass(frozen=True)
class Feature:
    """One signal's place in the fusion."""

    name: str
    kind: str  # "fitted" or "prior"
    coef: float
    center: float = 0.0
    scale: float = 1.0
    clip: float | None = None
    calibrated: bool = True
    note: str = ""
    decisive_at: float | None = None

    def z(self, score: float) -> float:
        v = (score - self.center) / self.scale
        if self.clip is not None:
            v = min(max(v, -self.clip), self.clip)
        return v

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "coef": self.coef, "center": self.center,
                "scale": self.scale, "clip": self.clip, "calibrated": self.calibrated, "note": self.note,
                "decisive_at": self.decisive_at}


@dataclass(frozen=True)
class Explanation:
    """Per-signal log-odds contributions; ``prior_log_odds + sum(contributions) == logit``,
    the prior being the intercept plus the log-odds of the base rate (0 at 1/2)."""

    intercept: float
    contributions: dict[str, float]
    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    decisive: tuple[str, ...] = ()
    base_rate: float = 0.5

    @property
    def prior_log_odds(self) -> float:
        return self.intercept + logit(self.base_rate)

    @property
    def log_lr(self) -> float:
        """The evidence: the log likelihood ratio the signals add to the prior."""
        return math.fsum(self.contributions.values())

    @property
    def logit(self) -> float:
        return self.prior_log_odds + self.log_lr

    @property
    def probability(self) -> float:
        return sigmoid(self.logit)


class LogisticFusion:
    """Logistic regression over signal scores (scikit-learn shaped).

    Parameters:
        C: inverse L2 regularisation strength of the fitted coefficients.
        drop_rate: probability that each fitted feature is dropped in each augmented copy.
        n_drop_copies: augmented copies of the training rows.
        clip: bound on standardised fitted features (robust to out-of-range scores).
        priors: ``{name: Feature}`` for prior-weighted features kept as they are by ``fit``.
        thresholds: ``{"ai": p, "real": p}`` verdict thresholds on the probability at base rate
            1/2, applied as likelihood ratios at any other (:meth:`log_lr_thresholds`), and
            optionally ``"real_small"``, the likely_real threshold for images whose shorter side
            is under :data:`SMALL_SIDE` px (at most ``real``).
        decisive_logit: the least logit when a decisive feature fires (6.91: P >= 0.999).
        class_weight: ``"balanced"`` weighs each class by ``n / (2 * n_class)``, so the fitted
            intercept assumes even prior odds instead of the training set's class ratio.
        fit_intercept: learn the intercept; ``False`` keeps it at 0, the prior log-odds at even
            odds, so that an image without evidence gets P(AI) = 0.5.
        with_mean: centre each fitted feature at its mean over the training rows; ``False``
            keeps ``center = 0``, for scores that are already log-odds at even odds (0 = no
            evidence either way), so that a contribution has the sign of its score.
        random_state: seed of the drop augmentation.

    Fitted attributes: ``features_`` (dict by name), ``intercept_``, ``feature_names_in_``
    (sorted), ``coef_`` (array in that order), ``metrics_``, ``provenance_`` and ``signals_``
    (``{name: fingerprint}`` of the signals whose scores the fitted coefficients were learnt
    on; set by whoever fits, checked by :meth:`check_signals`).
    """

    def __init__(self, *, C: float = 1.0, drop_rate: float = 0.3, n_drop_copies: int = 4,
                 clip: float = 5.0, priors: Mapping[str, Feature] | None = None,
                 thresholds: Mapping[str, float] | None = None, decisive_logit: float = 6.91,
                 class_weight: str | None = None, fit_intercept: bool = True, with_mean: bool = True,
                 random_state: int = 0):
        self.C = C
        self.drop_rate = drop_rate
        self.n_drop_copies = n_drop_copies
        self.clip = clip
        self.priors = priors
        self.thresholds = thresholds
        self.decisive_logit = decisive_logit
        self.class_weight = class_weight
        self.fit_intercept = fit_intercept
        self.with_mean = with_mean
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------------
    def fit(self, rows: Sequence[Mapping[str, float | None]], y: Sequence[int],
            *, fitted: Sequence[str] | None = None, platt: bool = False) -> "LogisticFusion":
        """Fit coefficients of the ``fitted`` features (default: every feature seen in ``rows``
        that is not a prior) on score rows (``None`` = signal did not run) and labels (1 = AI).
        ``platt=True`` uses Platt's smoothed targets ``(N+ + 1)/(N+ + 2)`` and ``1/(N- + 2)``,
        which keeps small training sets from producing over-confident probabilities."""
        y_arr = np.asarray(y, dtype=int)
        if len(rows) != len(y_arr):
            raise FusionError(f"got {len(rows)} score rows but {len(y_arr)} labels")
        counts = np.bincount(y_arr, minlength=2)
        if set(np.unique(y_arr)) - {0, 1} or counts.min() < 5:
            raise FusionError(f"fusion needs labels 0 (real) and 1 (AI) with at least 5 of each; got {counts[0]} real, {counts[1]} AI")
        priors = dict(self.priors or {})
        names = sorted(fitted) if fitted is not None else sorted({k for r in rows for k in r} - set(priors))
        if not names:
            raise FusionError("no fitted features: every signal in the rows is a prior")
        X = np.array([[_num(r.get(n)) for n in names] for r in rows], dtype=float)
        seen = np.isfinite(X).any(axis=0)
        if not seen.all():
            raise FusionError(f"features {[n for n, ok in zip(names, seen) if not ok]} have no scores in the training rows")
        center = np.nanmean(X, axis=0) if self.with_mean else np.zeros(len(names))
        scale = np.nanstd(X, axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        Z = np.clip((X - center) / scale, -self.clip, self.clip)
        Z = np.where(np.isnan(Z), 0.0, Z)
        offset = np.array([self._prior_sum(priors, r) for r in rows])
        target = y_arr.astype(float)
        if platt:
            target = np.where(y_arr == 1, (counts[1] + 1) / (counts[1] + 2), 1 / (counts[0] + 2))
        if self.class_weight not in (None, "balanced"):
            raise FusionError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        weight = len(y_arr) / (2.0 * counts[y_arr]) if self.class_weight == "balanced" else np.ones(len(y_arr))
        rng = np.random.default_rng(self.random_state)
        Zs = [Z] + [Z * (rng.random(Z.shape) >= self.drop_rate) for _ in range(self.n_drop_copies)]
        reps = len(Zs)
        coef, intercept = _fit_logistic(np.vstack(Zs), np.tile(target, reps), np.tile(offset, reps),
                                        np.tile(weight, reps) / reps, self.C, fit_intercept=self.fit_intercept)
        feats = {n: Feature(n, "fitted", float(c), float(m), float(s), self.clip)
                 for n, c, m, s in zip(names, coef, center, scale)}
        feats.update(priors)
        self._set_state(feats, float(intercept), dict(self.thresholds or {"ai": 0.5, "real": 0.5}), {}, {})
        return self

    def split_logit(self, rows: Sequence[Mapping[str, float | None]]) -> tuple[np.ndarray, np.ndarray]:
        """``(part, offset)`` of each row's logit: ``part`` = intercept + fitted contributions,
        ``offset`` = prior contributions, so ``logit = part + offset``; ``part`` is NaN where a
        decisive feature fires (the rule, not the weights, sets that logit). What
        :func:`platt_scale` reads."""
        self._check_fitted()
        fitted = [n for n, f in self.features_.items() if f.kind == "fitted"]
        part, offset = [], []
        for e in map(self.explain, rows):
            part.append(math.nan if e.decisive else e.intercept + math.fsum(e.contributions[n] for n in fitted))
            offset.append(math.fsum(v for n, v in e.contributions.items() if n not in fitted))
        return np.array(part, dtype=float), np.array(offset, dtype=float)

    def rescale(self, a: float, b: float) -> None:
        """Fold a recalibration into the fitted part: ``logit = a * part + b + offset``
        (:meth:`split_logit`). The fitted coefficients are multiplied by ``a`` and the intercept
        becomes ``a * intercept + b``; the priors keep their declared weights and the breakdown
        stays exact."""
        self._check_fitted()
        if not (math.isfinite(a) and a > 0 and math.isfinite(b)):
            raise FusionError(f"a recalibration needs a finite scale a > 0 and a finite shift; got a = {a}, b = {b}")
        feats = {n: replace(f, coef=f.coef * a) if f.kind == "fitted" else f for n, f in self.features_.items()}
        signals = self.signals_
        self._set_state(feats, self.intercept_ * a + b, self.thresholds_, self.metrics_, self.provenance_)
        self.signals_ = signals

    @staticmethod
    def _prior_sum(priors: Mapping[str, Feature], row: Mapping[str, float | None]) -> float:
        return math.fsum(f.coef * f.z(v) for n, f in priors.items() if (v := row.get(n)) is not None)

    def _set_state(self, feats: dict[str, Feature], intercept: float, thresholds: dict[str, float],
                   metrics: dict[str, Any], provenance: dict[str, Any]) -> None:
        self.features_ = feats
        self.intercept_ = intercept
        self.feature_names_in_ = np.array(sorted(feats))
        self.coef_ = np.array([feats[n].coef for n in self.feature_names_in_])
        self.thresholds_ = thresholds
        self.metrics_ = metrics
        self.provenance_ = provenance
        self.signals_: dict[str, dict[str, Any]] = {}

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise FusionError("this LogisticFusion is not fitted: call fit() or load a fusion file")

    # -- prediction ----------------------------------------------------------------------
    def explain(self, scores: Mapping[str, float | None], *, base_rate: float = 0.5) -> Explanation:
        """Per-feature log-odds contributions for one image's scores (``None`` = did not run),
        at ``base_rate`` (the share of AI images expected; 1/2 = even odds). Scores of signals
        the fusion does not know are listed in ``unknown`` and contribute 0. A decisive feature
        raises the logit at this base rate to ``decisive_logit``."""
        self._check_fitted()
        prior = self.intercept_ + logit(check_base_rate(base_rate))
        contrib: dict[str, float] = {}
        missing, fired = [], []
        for name in map(str, self.feature_names_in_):
            feat = self.features_[name]
            v = scores.get(name)
            if v is None or not math.isfinite(v):
                missing.append(name)
                contrib[name] = 0.0
            else:
                contrib[name] = feat.coef * feat.z(float(v))
                if feat.decisive_at is not None and v >= feat.decisive_at:
                    fired.append(name)
        if fired:
            deficit = self.decisive_logit - (prior + math.fsum(contrib.values()))
            if deficit > 0:
                contrib[max(fired, key=lambda n: contrib[n])] += deficit
        unknown = tuple(sorted(k for k in scores if k not in self.features_))
        return Explanation(self.intercept_, contrib, tuple(missing), unknown, tuple(fired), float(base_rate))

    def decision_function(self, rows: Sequence[Mapping[str, float | None]], *, base_rate: float = 0.5) -> np.ndarray:
        return np.array([self.explain(r, base_rate=base_rate).logit for r in rows])

    def predict_proba(self, rows: Sequence[Mapping[str, float | None]], *, base_rate: float = 0.5) -> np.ndarray:
        """``(n, 2)`` array of [P(real), P(AI)] like scikit-learn, at ``base_rate``."""
        p = np.array([sigmoid(v) for v in self.decision_function(rows, base_rate=base_rate)])
        return np.column_stack([1 - p, p])

    def log_lr_thresholds(self) -> dict[str, float]:
        """The verdict thresholds as log likelihood ratios (the evidence the signals must add to
        the prior): the stored probabilities' log-odds less the intercept. The same at every
        base rate."""
        self._check_fitted()
        return {k: logit(p) - self.intercept_ for k, p in self.thresholds_.items()}

    def thresholds_at(self, base_rate: float = 0.5) -> dict[str, float]:
        """The verdict thresholds as probabilities at ``base_rate`` (the stored ones at 1/2)."""
        self._check_fitted()
        shift = logit(check_base_rate(base_rate))
        return {k: p if shift == 0 else float(sigmoid(logit(p) + shift)) for k, p in self.thresholds_.items()}

    def check_signals(self, signals: Sequence[Any]) -> None:
        """Refuse signals whose fingerprint differs from the one a fitted coefficient was learnt on:
        the coefficient would scale scores of another model."""
        self._check_fitted()
        for sig in signals:
            then = self.signals_.get(sig.name)
            now = fingerprint_of(sig)
            if then is not None and then != now:
                diff = ", ".join(f"{k} {str(then.get(k))[:16]} -> {str(now.get(k))[:16]}"
                                 for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k))
                raise FusionError(
                    f"fusion {self.provenance_.get('name', 'custom')!r} was fitted on another {sig.name!r} ({diff}); "
                    "refit it (forensics.training.fit_fusion for the default) or calibrate with `forensics calibrate --fake`")

    @property
    def uncalibrated(self) -> list[str]:
        self._check_fitted()
        return sorted(n for n, f in self.features_.items() if not f.calibrated)

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "intercept": self.intercept_,
            "features": [self.features_[n].to_dict() for n in self.feature_names_in_],
            "thresholds": self.thresholds_,
            "params": {"C": self.C, "drop_rate": self.drop_rate, "n_drop_copies": self.n_drop_copies,
                       "clip": self.clip, "decisive_logit": self.decisive_logit, "class_weight": self.class_weight,
                       "fit_intercept": self.fit_intercept, "with_mean": self.with_mean, "random_state": self.random_state},
            "signals": self.signals_,
            "metrics": self.metrics_,
            "provenance": self.provenance_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> "LogisticFusion":
        check_header(data, FORMAT, FORMAT_VERSION, source, FusionError, "fusion")
        try:
            feats = {}
            for f in data["features"]:
                feat = Feature(str(f["name"]), str(f["kind"]), _finite(f["coef"]), _finite(f.get("center", 0.0)),
                               _finite(f.get("scale", 1.0)), None if f.get("clip") is None else _finite(f["clip"]),
                               bool(f.get("calibrated", True)), str(f.get("note", "")),
                               None if f.get("decisive_at") is None else _finite(f["decisive_at"]))
                if feat.kind not in ("fitted", "prior") or feat.scale <= 0:
                    raise ValueError(f"bad feature {feat.name!r}")
                _check_bounds(feat)
                feats[feat.name] = feat
            thresholds = {k: _finite(data["thresholds"][k]) for k in ("ai", "real", *(set(data["thresholds"]) & {"real_small"}))}
            unknown = sorted(set(data["thresholds"]) - set(THRESHOLD_KEYS))
            if unknown:
                raise ValueError(f"unknown thresholds {unknown}")
            intercept = bounded(data["intercept"], "intercept", MAX_WEIGHT)
            params = dict(data.get("params") or {})
            unknown = sorted(set(params) - _PARAMS)
            if unknown:
                raise ValueError(f"unknown params {unknown}")
            for k in ("C", "drop_rate", "clip", "decisive_logit"):
                if k in params:
                    params[k] = bounded(params[k], k, MAX_WEIGHT if k == "decisive_logit" else MAX_CENTER)
            model = cls(**params)
            signals = {str(k): dict(v) for k, v in dict(data.get("signals") or {}).items()}
            metrics, provenance = dict(data.get("metrics") or {}), dict(data.get("provenance") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise FusionError(f"{source}: malformed fusion file ({type(exc).__name__}: {exc})") from None
        if not 0 <= thresholds.get("real_small", thresholds["real"]) <= thresholds["real"] <= thresholds["ai"] <= 1:
            raise FusionError(f"{source}: thresholds must satisfy 0 <= real_small <= real <= ai <= 1, got {thresholds}")
        model._set_state(feats, intercept, thresholds, metrics, provenance)
        model.signals_ = signals
        return model

    def sha256(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict`: the identity that analyses, scans
        and calibrations record."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "LogisticFusion":
        return cls.from_dict(read_json(path, FusionError, "fusion"), source=str(path))


_PARAMS = {"C", "drop_rate", "n_drop_copies", "clip", "decisive_logit", "class_weight", "fit_intercept", "with_mean",
           "random_state"}


def platt_scale(part: Sequence[float], offset: Sequence[float], y: Sequence[int], *,
                balanced: bool = True, shift: bool = True) -> tuple[float, float]:
    """Platt scaling of a fusion's fitted part on rows it was not fitted on (held-out
    families): the ``(a, b)`` that maximise the likelihood of ``sigmoid(a * part + b + offset)``,
    classes weighed equally when ``balanced``; rows whose ``part`` is NaN (decisive) are left
    out. ``shift=False`` keeps ``b = 0``: a scale alone keeps a fusion's neutral point (no
    evidence, P = 0.5) where it is. A fusion fitted on the generators it knows is off in scale or shift on the next one;
    :meth:`LogisticFusion.rescale` then applies the scale it has there."""
    part, offset, y_arr = (np.asarray(v, dtype=float) for v in (part, offset, y))
    keep = np.isfinite(part)
    part, offset, y_arr = part[keep], offset[keep], y_arr[keep].astype(int)
    counts = np.bincount(y_arr, minlength=2)
    if counts.min() < 5:
        raise FusionError(f"Platt scaling needs at least 5 rows of each class; got {counts[0]} real, {counts[1]} AI")
    weight = len(y_arr) / (2.0 * counts[y_arr]) if balanced else np.ones(len(y_arr))
    coef, b = _fit_logistic(part[:, None], y_arr.astype(float), offset, weight, 1e6, fit_intercept=shift)
    if not coef[0] > 0:
        raise FusionError(f"Platt scaling found no positive scale (a = {coef[0]:.3g}): the fitted part does not rank these rows")
    return float(coef[0]), b


def _finite(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"expected a number, got {type(v).__name__} {v!r}"[:120])
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(f"expected a finite number, got {x}")
    return x


def bounded(v: Any, name: str, limit: float) -> float:
    """``v`` as a finite float of size at most ``limit``, else ``ValueError`` naming the bound."""
    x = _finite(v)
    if abs(x) > limit:
        raise ValueError(f"{name} {x:g} is not at most {limit:g} in size (the documented bound)")
    return x


def _check_bounds(f: Feature) -> None:
    """Raise ``ValueError`` when a feature's numbers, or their products, exceed the bounds."""
    where = f"feature {f.name!r}:"
    bounded(f.coef, f"{where} coef", MAX_WEIGHT)
    bounded(f.center, f"{where} center", MAX_CENTER)
    if f.decisive_at is not None:
        bounded(f.decisive_at, f"{where} decisive_at", MAX_CENTER)
    if not MIN_SCALE <= f.scale <= MAX_CENTER:
        raise ValueError(f"{where} scale {f.scale:g} is not at least {MIN_SCALE:g} and at most {MAX_CENTER:g}")
    if f.clip is not None:
        if not 0 < f.clip <= MAX_CLIP:
            raise ValueError(f"{where} clip {f.clip:g} is not above 0 and at most {MAX_CLIP:g}")
        if abs(f.coef) * f.clip > MAX_GAIN:
            raise ValueError(f"{where} |coef x clip| {abs(f.coef) * f.clip:g} is not at most {MAX_GAIN:g}")
    elif abs(f.coef) / f.scale > MAX_GAIN:
        raise ValueError(f"{where} |coef / scale| {abs(f.coef) / f.scale:g} is not at most {MAX_GAIN:g}")


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _fit_logistic(Z: np.ndarray, y: np.ndarray, offset: np.ndarray, weight: np.ndarray, C: float, *,
                  fit_intercept: bool = True) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression with a fixed per-row offset (the prior features' sum),
    targets in [0, 1] and row weights; scikit-learn's objective
    ``0.5*||w||^2 + C * sum(weight * logloss)``, which its ``LogisticRegression`` cannot take
    with offsets or soft targets. Without ``fit_intercept`` the intercept stays 0."""
    from scipy.optimize import minimize

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        t = Z @ w + b + offset
        ll = weight * (np.logaddexp(0, t) - y * t)
        p = sigmoid(t)
        g = weight * (p - y)
        return 0.5 * w @ w + C * ll.sum(), np.append(w + C * (Z.T @ g), C * g.sum() if fit_intercept else 0.0)

    res = minimize(loss, np.zeros(Z.shape[1] + 1), jac=True, method="L-BFGS-B")
    return res.x[:-1], float(res.x[-1])
