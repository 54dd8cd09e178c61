"""Calibration files: conformal thresholds from known-real images, optionally a refitted fusion.

A calibration is tied to the exact signals (name, version, weights and prompt hashes, and
whether each could run) and fusion it was made with; loading it into an engine whose signals
differ is refused, because the threshold would no longer mean what it says.

It also keeps each calibration real's per-signal contributions. When a signal that scored the
calibration reals abstains on an image (the DCT signal on a thumbnail under 64 pixels, say),
the image's logit lacks that signal's share while the reals' logits include it; the p-value is
then computed against the reals' logits without that signal, so that like is compared with like.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forensics.analysis import Engine
from forensics.decision import CalibrationInfo
from forensics.errors import CalibrationError, FusionError
from forensics.formats import IMAGE_SUFFIXES
from forensics.fusion import LogisticFusion
from forensics.fusion.logistic import MAX_WEIGHT, bounded
from forensics.hashing import sha256_file
from forensics.jsonfile import check_header, read_json
from forensics.numeric import sigmoid
from forensics.signals import Availability, fingerprint_of
from forensics.version import __version__

from .conformal import check_alpha, conformal_p_values, min_reals_possible, min_reals_stable, threshold_for
from .metrics import binary_metrics
from .probe import NAME as PROBE_NAME
from .probe import SOURCE as PROBE_SOURCE
from .probe import LinearProbe, fit_probe

if TYPE_CHECKING:
    from forensics.signals import Signal

log = logging.getLogger(__name__)

FORMAT = "forensics.calibration"
FORMAT_VERSION = 2
#: Largest real logit or contribution a calibration file may hold (a fusion within its bounds
#: gives far less); beyond it the file is refused, so no p-value is computed from 1e308.
MAX_LOGIT = 1e6


class Calibration:
    """A user's calibration. Build with :func:`fit_calibration` or :meth:`load`.

    Attributes:
        kind: ``"conformal"`` (reals only, default fusion kept) or ``"fitted"`` (fusion refitted
            on the user's reals and fakes; conformal threshold from out-of-fold real logits).
        alpha: target false-positive rate.
        real_logits: sorted fused logits of the calibration reals (the conformal reference set).
        real_contributions: per calibration real (in ``real_logits`` order), ``{signal:
            log-odds contribution}`` of the signals that scored it.
        real_decisive: per calibration real, the signals whose decisive evidence fired on it
            (their logit was held at ``decisive_logit`` or above).
        decisive_logit: the fusion's floor for decisive evidence.
        signals: ``{name: {"available": bool, "fingerprint": {...}}}`` at calibration time.
        fusion: refitted :class:`~forensics.fusion.LogisticFusion` or ``None``.
        base_fusion_sha256: sha256 of the fusion the logits were computed with.
        probe: a :class:`~forensics.calibration.probe.LinearProbe` on the CLIP embedding
            (fitted kind with ``probe=True``), whose score the refitted fusion uses, or ``None``.
    """

    def __init__(self, *, kind: str, alpha: float, real_logits: Sequence[float],
                 real_contributions: Sequence[Mapping[str, float]], signals: Mapping[str, Any],
                 real_decisive: Sequence[Sequence[str]] | None = None, decisive_logit: float = 6.91,
                 base_fusion_sha256: str, fusion: "LogisticFusion | None" = None,
                 metrics: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
                 warnings_: Sequence[str] = (), provenance: Mapping[str, Any] | None = None,
                 probe: "LinearProbe | None" = None):
        self.kind = kind
        self.probe = probe
        self.alpha = check_alpha(alpha)
        logits = np.asarray(real_logits, dtype=float)
        decisive = [[]] * logits.size if real_decisive is None else real_decisive
        if len(real_contributions) != logits.size or len(decisive) != logits.size:
            raise CalibrationError(f"{logits.size} real logits but {len(real_contributions)} contribution rows "
                                   f"and {len(decisive)} decisive rows")
        order = np.argsort(logits, kind="stable")
        self.real_logits = logits[order]
        self.real_contributions = [{str(k): float(v) for k, v in real_contributions[i].items() if v != 0.0}
                                   for i in order]
        self.real_decisive = [sorted(map(str, decisive[i])) for i in order]
        self._scored = frozenset().union(*self.real_contributions)  # signals that scored any real
        self.decisive_logit = float(decisive_logit)
        self.signals = dict(signals)
        self.base_fusion_sha256 = base_fusion_sha256
        self.fusion = fusion
        self.metrics = dict(metrics or {})
        self.data = dict(data or {})
        self.warnings = list(warnings_)
        self.provenance = dict(provenance or {})

    @property
    def n_real(self) -> int:
        return int(self.real_logits.size)

    @property
    def threshold_logit(self) -> float:
        return threshold_for(self.real_logits, self.alpha)

    def reference(self, missing: Iterable[str] = ()) -> tuple[np.ndarray, list[str]]:
        """The reals' logits as they would be without the ``missing`` signals, and which of
        those signals had scored any calibration real (the others change nothing). A real on
        which decisive evidence of a remaining signal fired keeps the decisive floor."""
        dropped = sorted(self._scored.intersection(missing))
        if not dropped:
            return self.real_logits, []
        gone = set(dropped)
        ref = np.array([logit - math.fsum(c.get(n, 0.0) for n in dropped)
                        for logit, c in zip(self.real_logits, self.real_contributions)])
        held = np.array([bool(set(fired) - gone) for fired in self.real_decisive])
        if held.any():
            ref[held] = np.maximum(ref[held], self.decisive_logit)
        return ref, dropped

    def p_value(self, logit: float, missing: Iterable[str] = ()) -> float:
        return float(conformal_p_values(self.reference(missing)[0], [logit])[0])

    def assess(self, logit: float, missing: Iterable[str] = ()) -> CalibrationInfo:
        """What an :class:`~forensics.analysis.Analysis` carries about this calibration, for
        the conformal :class:`~forensics.decision.DecisionRule`. ``missing``: signals that did
        not score this image (their share is taken out of the reals)."""
        ref, dropped = self.reference(missing)
        t = threshold_for(ref, self.alpha)
        return CalibrationInfo(self.kind, self.alpha, float(conformal_p_values(ref, [logit])[0]), self.n_real,
                               None if math.isinf(t) else round(t, 6), dropped, self.provenance.get("name"))

    def check(self, signals: Sequence["Signal"], fusion: "LogisticFusion") -> None:
        """Refuse to be used with other signals or another fusion than those it was made with.
        Only the signals ``fusion`` weighs count: one it gives no weight moves no logit, so a
        signal added since (or one dropped) that the fusion does not weigh changes nothing."""
        weighed = set(fusion.features_)
        now: dict[str, Any] = {}
        for sig in signals:
            if sig.name not in weighed:
                continue
            avail = sig.availability() if hasattr(sig, "availability") else Availability.yes()
            now[sig.name] = {"available": avail.ok, "fingerprint": fingerprint_of(sig)}
        problems = []
        for name in sorted((set(now) | set(self.signals)) & weighed):
            then, cur = self.signals.get(name), now.get(name)
            if then is None:
                problems.append(f"{name}: not in the calibration, present now")
            elif cur is None:
                problems.append(f"{name}: in the calibration, absent now")
            elif then != cur:
                problems.append(f"{name}: calibrated with {_short(then)}, now {_short(cur)}")
        if self.fusion is None and fusion.sha256() != self.base_fusion_sha256:
            problems.append(f"fusion: calibrated with sha256 {self.base_fusion_sha256[:12]}, now {fusion.sha256()[:12]}")
        if problems:
            raise CalibrationError(
                "calibration does not match the signals in use, so its threshold would not hold: "
                + "; ".join(problems) + ". Recalibrate with `forensics calibrate` using the current signals."
            )

    # -- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        t = self.threshold_logit
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
            "target_fpr": self.alpha, "n_real": self.n_real,
            "threshold_logit": None if math.isinf(t) else t,
            "real_logits": [float(x) for x in self.real_logits],
            "real_contributions": self.real_contributions,
            "real_decisive": self.real_decisive, "decisive_logit": self.decisive_logit,
            "signals": self.signals, "base_fusion_sha256": self.base_fusion_sha256,
            "fusion": self.fusion.to_dict() if self.fusion is not None else None,
            "probe": self.probe.to_dict() if self.probe is not None else None,
            "metrics": self.metrics, "data": self.data, "warnings": self.warnings, "provenance": self.provenance,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "<dict>") -> "Calibration":
        if isinstance(d, Mapping) and d.get("format") == FORMAT and d.get("format_version") == 1:
            raise CalibrationError(
                f"{source}: calibration format 1 (forensics before 2026-12) lacks each real's per-signal "
                "contributions, which format 2 uses when a signal does not score an image; recalibrate "
                "with `forensics calibrate` on the same images")
        check_header(d, FORMAT, FORMAT_VERSION, source, CalibrationError, "calibration")
        try:
            fusion = LogisticFusion.from_dict(d["fusion"], source=source) if d.get("fusion") else None
            logits = [bounded(x, "real_logits", MAX_LOGIT) for x in d["real_logits"]]
            if not logits:
                raise ValueError("real_logits must be a non-empty list of finite numbers")
            contributions = [{str(k): bounded(v, "real_contributions", MAX_LOGIT) for k, v in dict(c).items()}
                             for c in d["real_contributions"]]
            decisive = [[str(n) for n in fired] for fired in d["real_decisive"]]
            decisive_logit = bounded(d["decisive_logit"], "decisive_logit", MAX_WEIGHT)
            if not isinstance(d["signals"], Mapping) or not all(
                    isinstance(v, Mapping) and isinstance(v.get("available"), bool)
                    and isinstance(v.get("fingerprint"), Mapping) for v in d["signals"].values()):
                raise TypeError("signals must map each name to {available: bool, fingerprint: {...}}")
            kind = str(d["kind"])
            if kind not in ("conformal", "fitted"):
                raise ValueError(f"kind must be 'conformal' or 'fitted', got {kind!r}")
            probe = LinearProbe.from_dict(d["probe"]) if d.get("probe") else None
            if (fusion is not None and PROBE_NAME in fusion.features_) != (probe is not None):
                raise ValueError(f"the fusion {'has' if probe is None else 'lacks'} a {PROBE_NAME} feature but the "
                                 f"file {'has no' if probe is None else 'has a'} probe")
            return cls(kind=kind, alpha=float(d["target_fpr"]), real_logits=logits, probe=probe,
                       real_contributions=contributions, real_decisive=decisive, decisive_logit=decisive_logit,
                       signals=dict(d["signals"]),
                       base_fusion_sha256=str(d["base_fusion_sha256"]), fusion=fusion, metrics=d.get("metrics"),
                       data=d.get("data"), warnings_=d.get("warnings", ()), provenance=d.get("provenance"))
        except (KeyError, TypeError, ValueError, FusionError, CalibrationError) as exc:
            raise CalibrationError(f"{source}: malformed calibration file ({type(exc).__name__}: {exc})") from None

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        return cls.from_dict(read_json(path, CalibrationError, "calibration"), source=str(path))


def _short(state: Mapping[str, Any]) -> str:
    fp = state.get("fingerprint", {})
    bits = [f"version {fp.get('version')}"] + [f"{k} {str(v)[:12]}" for k, v in sorted(fp.items()) if k != "version"]
    return ("available" if state.get("available") else "unavailable") + ", " + ", ".join(bits)


def expand_sources(spec: str | Path | Iterable[Any]) -> list[Any]:
    """A directory (recursive, image suffixes, sorted), a file, or an iterable of sources."""
    if isinstance(spec, (str, Path)):
        p = Path(spec)
        if p.is_dir():
            return sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if p.is_file():
            return [str(p)]
        raise CalibrationError(f"{p}: no such file or directory")
    return list(spec)


def fit_calibration(real: str | Path | Iterable[Any], fake: str | Path | Iterable[Any] | None = None, *,
                    target_fpr: float = 0.05, signals: Sequence[Any] | None = None,
                    fusion: "LogisticFusion | None" = None, n_splits: int = 5, name: str | None = None,
                    plots_dir: str | Path | None = None, random_state: int = 0, probe: bool = False,
                    progress: bool = False) -> Calibration:
    """Calibrate on the user's known-real images (and, optionally, known-fake ones).

    Reals only: the fusion is kept and the conformal reference set is the reals' fused logits.
    Reals and fakes: the non-metadata signals' coefficients are refitted by logistic regression
    (Platt-smoothed targets), metrics come from held-out folds only, and the conformal
    reference set is the reals' out-of-fold logits. ``plots_dir`` receives ROC and
    reliability PNGs (fitted kind only). ``probe=True`` (needs ``fake`` and the
    ``clip_zeroshot`` weights) also fits a linear probe on the CLIP image embeddings
    (:mod:`forensics.calibration.probe`) and refits the fusion with its out-of-fold scores.
    ``progress`` draws a progress bar of the images scored on stderr.
    """
    alpha = check_alpha(target_fpr)
    if probe and fake is None:
        raise CalibrationError("a CLIP probe is fitted on real and fake images: pass fake images too (--fake DIR)")
    engine = Engine(signals, fusion=fusion)
    if probe:
        clip = next((s for s in engine.signals_ if s.name == PROBE_SOURCE), None)
        avail = clip.availability() if clip is not None else None
        if avail is None or not avail.ok:
            raise CalibrationError(f"the CLIP probe needs the {PROBE_SOURCE} signal: "
                                   + (avail.reason if avail is not None else "it is not among the signals in use"))
    real_rows, real_err, real_feats, real_sha = _score_rows(engine, expand_sources(real), "real" if progress else None)
    fake_rows, fake_err, fake_feats, fake_sha = (_score_rows(engine, expand_sources(fake), "fake" if progress else None)
                                                 if fake is not None else ([], [], [], []))
    need = min_reals_possible(alpha)
    if len(real_rows) < need:
        raise CalibrationError(
            f"calibration needs at least {need} readable real images for a target false-positive rate of "
            f"{alpha:g} (got {len(real_rows)}); about {min_reals_stable(alpha)} give a stable rate")
    if fake is not None and (len(fake_rows) < 10 or len(real_rows) < 10):
        raise CalibrationError(f"fitting on real and fake images needs at least 10 of each class; got {len(real_rows)} real and {len(fake_rows)} fake")
    notes = []
    if len(real_rows) < min_reals_stable(alpha):
        notes.append(f"{len(real_rows)} real images give a noisy false-positive rate at alpha={alpha:g}: "
                     f"about {min_reals_stable(alpha)} are needed for {10} reals above the threshold")
        warnings.warn(notes[-1], stacklevel=2)
    errors = [{"source": s, "error": e} for s, e in real_err + fake_err]
    base = engine.fusion_
    sigs = {s.name: {"available": s.availability().ok, "fingerprint": fingerprint_of(s)} for s in engine.signals_}
    data = {"n_real": len(real_rows), "n_fake": len(fake_rows), "n_errors": len(errors), "errors": errors[:50],
            "real": str(real) if isinstance(real, (str, Path)) else "<list>",
            "fake": (str(fake) if isinstance(fake, (str, Path)) else "<list>") if fake is not None else None}
    prov = {"name": name or "calibration", "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "forensics_version": __version__}
    if fake is None:
        expl = [base.explain(r) for r in real_rows]
        logits = np.array([e.logit for e in expl])
        metrics = {"real_logit_quantiles": {q: float(np.quantile(logits, float(q))) for q in ("0.5", "0.9", "0.95", "0.99")}}
        return Calibration(kind="conformal", alpha=alpha, real_logits=logits,
                           real_contributions=[e.contributions for e in expl],
                           real_decisive=[e.decisive for e in expl], decisive_logit=base.decisive_logit, signals=sigs,
                           base_fusion_sha256=base.sha256(), metrics=metrics, data=data,
                           warnings_=notes, provenance=prov)
    fitted_probe = None
    extra: list[str] = []
    if probe:
        fitted_probe = _fit_probe_into(real_rows, fake_rows, real_feats + fake_feats, sigs, n_splits, random_state)
        extra = [PROBE_NAME]
    refit, oof, oof_contrib, metrics = _refit(base, real_rows, fake_rows, alpha, n_splits, random_state, extra)
    if fitted_probe is not None:
        metrics["probe_held_out"] = fitted_probe.metrics
    y = np.r_[np.zeros(len(real_rows), int), np.ones(len(fake_rows), int)]
    if plots_dir is not None:
        from .plots import save_roc, save_reliability

        Path(plots_dir).mkdir(parents=True, exist_ok=True)
        p = sigmoid(oof)
        save_roc(y, p, Path(plots_dir) / "roc.png", title="Held-out ROC (calibration)")
        save_reliability(y, p, Path(plots_dir) / "reliability.png", title="Held-out reliability (calibration)")
    # the images' sha256, so that `forensics evaluate` can leave them out wherever they sit
    refit.provenance_ = {"name": prov["name"], "fitted_on": data, "created": prov["created"],
                         "training_sha256": sorted({h for h in real_sha + fake_sha if h})}
    refit.signals_ = {n: sigs[n]["fingerprint"] for n in metrics["fitted_features"] if n in sigs}
    return Calibration(kind="fitted", alpha=alpha, real_logits=oof[y == 0],
                       real_contributions=[c for c, _ in oof_contrib[:len(real_rows)]],
                       real_decisive=[f for _, f in oof_contrib[:len(real_rows)]],
                       decisive_logit=refit.decisive_logit, signals=sigs, probe=fitted_probe,
                       base_fusion_sha256=base.sha256(), fusion=refit, metrics=metrics, data=data,
                       warnings_=notes, provenance=prov)


def _refit(base: "LogisticFusion", real_rows: list[dict], fake_rows: list[dict], alpha: float, n_splits: int,
           random_state: int, extra: Sequence[str] = ()) -> tuple["LogisticFusion", np.ndarray, list[tuple[dict[str, float], tuple[str, ...]]],
                                       dict[str, Any]]:
    from sklearn.model_selection import StratifiedKFold

    rows = real_rows + fake_rows
    y = np.r_[np.zeros(len(real_rows), int), np.ones(len(fake_rows), int)]
    priors = {n: f for n, f in base.features_.items() if f.kind == "prior" and f.calibrated}
    known = set(base.features_) | set(extra)
    fitted = sorted({n for r in rows for n, v in r.items() if v is not None and n in known} - set(priors))
    if not fitted:
        raise CalibrationError("no signal with a fittable score ran on these images; check `forensics signals`")
    # Several signals fitted together learn with signals dropped at random (the base's drop
    # settings, else LogisticFusion's), so that the others carry on when one does not run, as
    # the README says. A lone fitted signal has no other to hand its weight to: dropping it
    # would only shrink it, so it is fitted without.
    drops = base if base.drop_rate > 0 and base.n_drop_copies > 0 else LogisticFusion()
    drop_rate, n_drop_copies = (drops.drop_rate, drops.n_drop_copies) if len(fitted) > 1 else (0.0, 0)
    params = dict(C=base.C, drop_rate=drop_rate, n_drop_copies=n_drop_copies, clip=base.clip,
                  class_weight=base.class_weight, priors=priors, random_state=random_state)
    oof = np.zeros(len(rows))
    oof_contrib: list[tuple[dict[str, float], tuple[str, ...]]] = [({}, ()) for _ in rows]
    k = min(n_splits, int(np.bincount(y).min()))
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=random_state).split(np.zeros(len(y)), y):
        m = LogisticFusion(**params).fit([rows[i] for i in tr], y[tr], fitted=fitted, platt=True)
        for i in te:
            e = m.explain(rows[i])
            oof[i], oof_contrib[i] = e.logit, (e.contributions, e.decisive)
    p = sigmoid(oof)
    metrics = {"held_out": binary_metrics(y, p), "folds": k, "fitted_features": fitted}
    thresholds = choose_thresholds(y, p, alpha)
    final = LogisticFusion(**params, thresholds=thresholds).fit(rows, y, fitted=fitted, platt=True)
    final.metrics_ = metrics
    return final, oof, oof_contrib, metrics


def choose_thresholds(y: np.ndarray, p: np.ndarray, alpha: float) -> dict[str, float]:
    """Verdict thresholds from held-out probabilities: ``ai`` keeps the real false-positive rate
    at ``alpha``, ``real`` keeps the AI miss rate at ``alpha``; they meet when the two overlap."""
    real_p, ai_p = np.sort(p[y == 0]), np.sort(p[y == 1])
    ai_thr = float(real_p[min(len(real_p) - 1, int(np.ceil((1 - alpha) * len(real_p))))])
    real_thr = float(ai_p[max(0, int(np.floor(alpha * len(ai_p))) - 1)])
    ai_thr = min(max(ai_thr, 1e-6), 1 - 1e-6)
    if real_thr > ai_thr:
        real_thr = ai_thr = (real_thr + ai_thr) / 2
    return {"ai": round(ai_thr, 6), "real": round(min(real_thr, ai_thr), 6)}


def _score_rows(engine: Any, sources: list[Any], bar: str | None = None
                ) -> tuple[list[dict[str, float | None]], list[tuple[str, str]], list[np.ndarray | None], list[str | None]]:
    """Score rows of the readable sources, the unreadable ones, and each row's CLIP embedding
    and sha256 of its bytes (``None`` for in-memory images). ``bar``: the label of a progress
    bar on stderr (none without)."""
    rows, errors, feats, shas = [], [], [], []
    scored = engine.results_many(sources)
    if bar is not None:
        from tqdm import tqdm

        scored = tqdm(scored, total=len(sources), unit="img", file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                      desc=f"calibrate: {bar}")
    for src, results in scored:
        if isinstance(results, Exception):
            errors.append((str(src), str(results)))
            log.warning("%s", results)
        else:
            rows.append({r.name: (r.score if r.status == "ok" else None) for r in results})
            feats.append(next((r.features for r in results if r.name == PROBE_SOURCE and r.status == "ok"), None))
            shas.append(_sha256_of(src))
    return rows, errors, feats, shas


def _sha256_of(src: Any) -> str | None:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(src)).hexdigest()
    if isinstance(src, (str, Path)):
        return sha256_file(src)
    return None


def _fit_probe_into(real_rows: list[dict], fake_rows: list[dict], feats: list[np.ndarray | None],
                    sigs: Mapping[str, Any], n_splits: int, random_state: int) -> "LinearProbe":
    """Fit the CLIP probe and write its out-of-fold score into each row (``None`` where CLIP
    gave no embedding), so the fusion learns its weight from scores it did not fit."""
    rows = real_rows + fake_rows
    y = np.r_[np.zeros(len(real_rows), int), np.ones(len(fake_rows), int)]
    have = [i for i, f in enumerate(feats) if f is not None]
    fitted, oof = fit_probe(np.stack([feats[i] for i in have]) if have else np.zeros((0, 1)), y[have],
                            source=PROBE_SOURCE, fingerprint=sigs[PROBE_SOURCE]["fingerprint"],
                            n_splits=n_splits, random_state=random_state)
    for r in rows:
        r[PROBE_NAME] = None
    for i, score in zip(have, oof):
        rows[i][PROBE_NAME] = float(score)
    return fitted

