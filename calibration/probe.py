"""A linear probe on the CLIP image embedding, fitted on the user's real and fake images.

UnivFD (Ojha et al., CVPR 2023) showed that a linear classifier on frozen CLIP image features
separates generated from real images far better than zero-shot prompts, and transfers across
generators. ``forensics calibrate --real DIR --fake DIR --probe`` fits one: logistic
regression on the L2-normalised embeddings that ``clip_zeroshot`` computes anyway,
standardised per dimension (without it the L2 penalty swamps the small spread of normalised
embeddings: out-of-fold AUROC 0.84 against 1.00 on the test suite's toy set), with balanced
classes. Its out-of-fold scores become one more fitted feature of the refitted
fusion (stacking, so the fusion learns the probe's weight from scores the probe did not fit),
and every analysis made with that calibration shows a ``clip_probe`` line.

The probe is JSON (coefficients as numbers, never pickle) and records the fingerprint of the
CLIP weights it was fitted on; it is refused with any other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from forensics.errors import CalibrationError
from forensics.fusion.logistic import MAX_CENTER, MAX_GAIN, MAX_WEIGHT, MIN_SCALE, bounded
from forensics.numeric import sigmoid
from forensics.signals.base import SignalResult

from .metrics import binary_metrics

NAME = "clip_probe"
VERSION = "1"
SOURCE = "clip_zeroshot"


class LinearProbe:
    """``logit = ((features - mean) / scale) @ coef + intercept`` on one signal's feature vector.

    Attributes:
        source: the signal whose ``features`` it reads (``clip_zeroshot``).
        fingerprint: that signal's fingerprint at fitting time (weights and prompt hashes).
        mean, scale: per-dimension standardisation learnt on the training embeddings.
        coef, intercept: the fitted linear map.
        C: inverse L2 regularisation strength used.
        metrics: held-out (out-of-fold) metrics of the probe alone.
        data: counts of the images it was fitted on.
    """

    def __init__(self, *, source: str, fingerprint: Mapping[str, Any], mean: Sequence[float], scale: Sequence[float],
                 coef: Sequence[float], intercept: float, C: float, metrics: Mapping[str, Any] | None = None,
                 data: Mapping[str, Any] | None = None):
        self.source = source
        self.fingerprint = dict(fingerprint)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.C = float(C)
        self.metrics = dict(metrics or {})
        self.data = dict(data or {})
        arrays = (self.mean, self.scale, self.coef)
        if (self.coef.ndim != 1 or not self.coef.size or any(a.shape != self.coef.shape for a in arrays)
                or not all(np.all(np.isfinite(a)) for a in arrays) or np.any(self.scale <= 0)
                or not math.isfinite(self.intercept)):
            raise CalibrationError("probe mean, scale and coefficients must be finite vectors of one length (scale > 0)")

    def score(self, features: np.ndarray) -> float:
        if features.shape != self.coef.shape:
            raise CalibrationError(f"probe expects {self.coef.size} features from {self.source}, got {features.shape}")
        return float(((features.astype(np.float64) - self.mean) / self.scale) @ self.coef + self.intercept)

    def derive(self, results: Sequence[SignalResult]) -> SignalResult:
        """The probe's line among an image's signal results: a line derived from its source's
        (the engine adds it after the signals' own, and counts it as the source's evidence kind)."""
        return self.result(next((r for r in results if r.name == self.source), None))

    def result(self, source: SignalResult | None) -> SignalResult:
        """The probe's line for one image, from the source signal's result on it."""
        if source is None:
            return SignalResult.unavailable(NAME, VERSION, f"needs the {self.source} signal, which is not in use")
        if source.status != "ok" or source.features is None:
            # the probe itself is fine; its input is missing, and that signal's own line says why,
            # so this abstains rather than counting the same failure twice
            return SignalResult.abstained(NAME, VERSION, f"no embedding from {self.source} ({source.status})")
        s = self.score(source.features)
        auroc = self.metrics.get("auroc")
        return SignalResult(
            NAME, VERSION, "ok", score=s,
            evidence={"source": self.source, "n_real": self.data.get("n_real"), "n_fake": self.data.get("n_fake"),
                      "held_out_auroc": auroc},
            summary=f"linear probe on the CLIP embedding (your {self.data.get('n_real')} real / "
                    f"{self.data.get('n_fake')} fake images): logit {s:+.2f}",
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": NAME, "version": VERSION, "source": self.source, "fingerprint": self.fingerprint,
                "mean": [float(x) for x in self.mean], "scale": [float(x) for x in self.scale],
                "coef": [float(x) for x in self.coef], "intercept": self.intercept, "C": self.C,
                "metrics": self.metrics, "data": self.data}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LinearProbe":
        if d.get("name") != NAME or d.get("version") != VERSION:
            raise CalibrationError(f"probe {d.get('name')!r} version {d.get('version')!r} is not {NAME} {VERSION}")
        try:  # the bounds of a fusion file's numbers (forensics.fusion.logistic), products included
            mean = [bounded(x, "probe mean", MAX_CENTER) for x in d["mean"]]
            scale = [bounded(x, "probe scale", MAX_CENTER) for x in d["scale"]]
            coef = [bounded(x, "probe coef", MAX_WEIGHT) for x in d["coef"]]
            intercept = bounded(d["intercept"], "probe intercept", MAX_WEIGHT)
        except ValueError as exc:
            raise CalibrationError(str(exc)) from None
        if any(s > 0 and (s < MIN_SCALE or abs(c) / s > MAX_GAIN) for s, c in zip(scale, coef)):
            raise CalibrationError(f"probe scale must be at least {MIN_SCALE:g} and |coef / scale| at most {MAX_GAIN:g}")
        return cls(source=str(d["source"]), fingerprint=dict(d["fingerprint"]), mean=mean, scale=scale, coef=coef,
                   intercept=intercept, C=float(d["C"]), metrics=d.get("metrics"), data=d.get("data"))


def fit_probe(X: np.ndarray, y: np.ndarray, *, source: str, fingerprint: Mapping[str, Any], C: float = 1.0,
              n_splits: int = 5, random_state: int = 0) -> tuple[LinearProbe, np.ndarray]:
    """Fit on feature rows ``X`` and labels ``y`` (1 = AI). Returns the probe fitted on all rows
    and its out-of-fold logits (each from a probe that did not see that row)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts = np.bincount(y, minlength=2)
    if counts.min() < 10:
        raise CalibrationError(f"the CLIP probe needs at least 10 real and 10 fake images with a CLIP embedding; "
                               f"got {counts[0]} real and {counts[1]} fake")

    def model() -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000))

    oof = np.zeros(len(y))
    k = min(n_splits, int(counts.min()))
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=random_state).split(X, y):
        oof[te] = model().fit(X[tr], y[tr]).decision_function(X[te])
    final = model().fit(X, y)
    scaler, lr = final[0], final[1]
    metrics = binary_metrics(y, sigmoid(oof))
    probe = LinearProbe(source=source, fingerprint=fingerprint, mean=scaler.mean_, scale=scaler.scale_,
                        coef=lr.coef_[0], intercept=float(lr.intercept_[0]), C=C, metrics={**metrics, "folds": k},
                        data={"n_real": int(counts[0]), "n_fake": int(counts[1])})
    return probe, oof
