"""The engine: run the signals on an image, fuse their scores, explain the result."""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from forensics.fusion import LogisticFusion, default_fusion
from forensics.signals import Signal, SignalResult, create_signal, default_signals

from .attribution import Attribution, AttributionModel, attribute, short
from .basis import Basis, state_basis
from .decision import CalibrationInfo, Decision, DecisionRule, EngineCalibration, FusionInfo, SignalEntry, _round
from .errors import ForensicsError, ImageLoadError
from .image import DEFAULT_MAX_PIXELS, MIN_DECODED_SHARE, ImageSource, LoadedImage, load_image
from .numeric import check_base_rate, logit
from .text import rule_text
from .version import __version__

if TYPE_CHECKING:
    from forensics.signals.base import Claim

log = logging.getLogger(__name__)

SCHEMA = "forensics.analysis"
#: 2: ``headline`` and ``basis`` (what the verdict rests on), ``decision.p_value_floor``, and
#: ``attribution`` (which generator family). 3: ``base_rate``, ``prior_log_odds`` and the
#: thresholds as likelihood ratios (``decision.log_lr_ai``, ``decision.log_lr_real``).
SCHEMA_VERSION = 3
VERDICTS = ("likely_ai", "likely_real", "inconclusive")
NAME_WIDTH = 19


def _found_nothing(s: SignalEntry) -> bool:
    return s.contribution == 0 and s.result.summary.lower().startswith("no ")


@dataclass(frozen=True, eq=False)
class Analysis:
    """The engine's answer for one image. ``to_dict()`` follows ``schema/analysis.schema.json``."""

    source: str
    sha256: str
    image: dict[str, Any]
    probability: float
    logit: float
    intercept: float
    #: The verdict and the numbers of the rule that gave it (see :mod:`forensics.decision`).
    decision: Decision
    signals: list[SignalEntry]
    fusion: FusionInfo
    #: The calibration's part in the decision, when one decided it.
    calibration: CalibrationInfo | None = None
    versions: dict[str, str] = field(default_factory=dict)
    decisive: tuple[str, ...] = ()
    #: Which generator family the image most resembles (see :mod:`forensics.attribution`).
    attribution: Attribution | None = None
    #: The verdict in plain words (``basis.headline``) and what it rests on (see :mod:`forensics.basis`).
    basis: Basis = Basis("none", (), "")

    @property
    def verdict(self) -> str:
        return self.decision.verdict

    @property
    def base_rate(self) -> float:
        """The share of AI images the decision assumed (1/2 = even odds)."""
        return self.decision.base_rate

    @property
    def headline(self) -> str:
        return self.basis.headline

    @property
    def prior_log_odds(self) -> float:
        """The fusion's intercept plus the base rate's log-odds: the logit before any evidence."""
        return self.intercept + logit(self.base_rate)

    def __repr__(self) -> str:
        return f"<Analysis {self.source!r}: {self.verdict} P(AI)={self.probability:.3f} ({self.headline})>"

    def explain(self, *, unavailable: bool = True) -> str:
        """The readable block ``forensics analyze`` prints for this image: headline, decision
        rule, each signal's log-odds contribution with its evidence line. ``unavailable=False``
        leaves out the line naming the signals that cannot run here, which the command prints
        once per run instead of once per file."""
        rule = rule_text(self.decision.to_dict(), self.probability, self.verdict, self.fusion.name,
                         self.calibration.name if self.calibration is not None else None)
        lines = [self.source, f"  {self.headline or self.verdict}", f"  {rule}"]
        if self.attribution is not None and (self.attribution.status != "not_attempted" or self.verdict == "likely_ai"):
            lines.append(f"  generator: {self.attribution.summary()}")
        ok = [s for s in self.signals if s.result.status == "ok"]
        weighed = [s for s in ok if not (s.in_fusion and _found_nothing(s))]
        weighed.sort(key=lambda s: (not s.in_fusion, -abs(s.contribution), s.name))
        lines.append("  log-odds (+ towards AI, - towards real; with the prior they add up to the logit):")
        for s in weighed:
            mark = "*" if s.in_fusion and not s.calibrated else " "
            num = f"{s.contribution:+7.2f}{mark}" if s.in_fusion else "    n/a "
            tag = " [decisive]" if s.name in self.decisive else ""
            tail = "" if s.in_fusion else " (not weighed by this fusion)"
            lines.append(f"  {num} {s.name:<{NAME_WIDTH}}{tag} {s.result.summary}{tail}")
        lines.append(f"  {self.prior_log_odds:+7.2f}  {'(prior)':<{NAME_WIDTH}} base rate {self.base_rate:g}"
                     + (f", fusion intercept {self.intercept:+.2f}" if self.intercept else ""))
        lines.append(f"  {self.logit:+7.2f}  {'= logit':<{NAME_WIDTH}} P(AI) {self.probability:.3f}")
        nothing = [s.name for s in ok if s.in_fusion and _found_nothing(s)]
        if nothing:
            lines.append(f"  found nothing, no weight: {', '.join(nothing)} (absence proves nothing)")
        for status, label in (("abstained", "did not score"), ("error", "failed")):
            items = [f"{s.name} ({s.result.reason})" for s in self.signals if s.result.status == status]
            if items:
                lines.append(f"  {label}: " + "; ".join(items))
        if unavailable:
            names = [s.name for s in self.signals if s.result.status == "unavailable"]
            if names:
                lines.append(f"  not available here: {', '.join(names)} (`forensics signals` says how to enable them)")
        uncalibrated = [s.name for s in ok if s.in_fusion and not s.calibrated]
        if uncalibrated:
            lines.append(f"  * uncalibrated prior weight: {', '.join(uncalibrated)} "
                         "(fit it with `forensics calibrate --real DIR --fake DIR`)")
        if self.image.get("truncated") or self.image.get("warnings"):
            lines.append("  intake: " + "; ".join(self.image.get("warnings") or ["file is truncated"]))
        return "\n".join(lines)

    def quiet_line(self) -> str:
        """One line for this image (``forensics analyze -q``): its headline and the generator named."""
        gen = short(self.attribution.to_dict()) if self.attribution is not None else None
        return f"{self.source}: {self.headline or self.verdict}" + (f"; generator: {gen}" if gen else "")

    @property
    def not_run(self) -> list[SignalEntry]:
        """Signals that could not run (unavailable or failed); abstentions are not failures."""
        return [s for s in self.signals if s.result.status in ("unavailable", "error")]

    @property
    def degraded(self) -> bool:
        return bool(self.not_run)

    def signal(self, name: str) -> SignalEntry:
        for s in self.signals:
            if s.name == name:
                return s
        raise KeyError(f"no signal {name!r} in this analysis (have: {', '.join(s.name for s in self.signals)})")

    def heatmap(self, name: str) -> np.ndarray | None:
        """Signal ``name``'s map over the image: the sigmoid of each cell's log-odds, in [0, 1],
        where it looked; NaN where it did not (outside the region it read, filler rows)."""
        return self.signal(name).result.heatmap

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "sha256": self.sha256,
            "image": self.image,
            "probability": _round(self.probability),
            "logit": _round(self.logit),
            "intercept": _round(self.intercept),
            "base_rate": self.base_rate,
            "prior_log_odds": _round(self.prior_log_odds),
            "verdict": self.verdict,
            "headline": self.headline,
            "basis": self.basis.to_dict(),
            "decisive": list(self.decisive),
            "decision": self.decision.to_dict(),
            "degraded": self.degraded,
            "not_run": [{"name": s.name, "status": s.result.status, "reason": s.result.reason} for s in self.not_run],
            "signals": [s.to_dict() for s in self.signals],
            "fusion": self.fusion.to_dict(),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "versions": self.versions,
            "attribution": None if self.attribution is None else self.attribution.to_dict(),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)


def error_row(source: str, exc: BaseException) -> dict[str, Any]:
    """JSON row for an input that could not be analysed (the schema's error form)."""
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "source": source,
            "error": {"type": type(exc).__name__, "message": str(exc)}}


class Engine:
    """Holds signal instances (models load once per engine) and the fusion/calibration.

    Parameters:
        signals: names or :class:`~forensics.signals.Signal` instances; ``None`` = every
            registered signal.
        fusion: a :class:`~forensics.fusion.LogisticFusion`; ``None`` = the embedded default.
        calibration: a :class:`~forensics.calibration.Calibration` (its refitted fusion, if any,
            replaces ``fusion``; its conformal threshold decides the verdict).
        max_pixels: refusal limit passed to :func:`~forensics.image.load_image`.
        attribution: ``True`` (the packaged pixel model), an
            :class:`~forensics.attribution.AttributionModel`, or ``False`` (provenance only).
        base_rate: the share of AI images expected among the inputs (0.01: one in a hundred);
            it sets the prior log-odds, so P(AI) follows it, while the verdict thresholds are
            likelihood ratios and mean the same at every base rate. Default 1/2 (even odds).
    """

    def __init__(self, signals: Sequence["str | Signal"] | None = None, *, fusion: "LogisticFusion | None" = None,
                 calibration: "EngineCalibration | None" = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                 attribution: "bool | AttributionModel" = True, base_rate: float = 0.5):
        self.signals = signals
        self.fusion = fusion
        self.calibration = calibration
        self.max_pixels = max_pixels
        self.attribution = attribution
        self.base_rate = base_rate

    # lazily resolved state ---------------------------------------------------------------
    @property
    def signals_(self) -> list["Signal"]:
        if not hasattr(self, "_signals"):
            if self.signals is None:
                resolved = default_signals()
            else:
                resolved = [create_signal(s) if isinstance(s, str) else s for s in self.signals]
            names = [s.name for s in resolved]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ForensicsError(f"signals listed twice: {sorted(dup)}")
            self._signals = resolved
        return self._signals

    @property
    def fusion_(self) -> "LogisticFusion":
        if not hasattr(self, "_fusion"):
            if self.calibration is not None and self.calibration.fusion is not None:
                self._fusion = self.calibration.fusion
            elif self.fusion is not None:
                self._fusion = self.fusion
            else:
                self._fusion = default_fusion()
            self._fusion_info = FusionInfo.of(self._fusion)
        return self._fusion

    @property
    def rule_(self) -> DecisionRule:
        """The verdict rule: the fusion's thresholds, or the calibration's conformal test."""
        if not hasattr(self, "_rule"):
            self._rule = DecisionRule(self.fusion_, self.calibration)
        return self._rule

    @property
    def derived_(self) -> list[Any]:
        """Lines derived from other signals' results: the calibration's probe, which reads
        ``clip_zeroshot``'s embedding (each has ``source`` and ``derive(results)``)."""
        probe = self.calibration.probe if self.calibration is not None else None
        return [probe] if probe is not None else []

    @property
    def attribution_(self) -> AttributionModel | None:
        if not hasattr(self, "_attribution"):
            a = self.attribution
            self._attribution = AttributionModel() if a is True else (a or None)
        return self._attribution

    # public -----------------------------------------------------------------------------
    def load(self, src: ImageSource) -> LoadedImage:
        return load_image(src, max_pixels=self.max_pixels)

    def analyze(self, src: ImageSource) -> Analysis:
        """Analyse one image. Raises :class:`ImageLoadError` when it cannot be read."""
        image = self.load(src)
        return self._fuse(image, self.signal_results(image))

    def predict_proba(self, sources: Iterable[ImageSource], *, batch_size: int = 16,
                      errors: str = "nan") -> np.ndarray:
        """``(n, 2)`` array of [P(real), P(AI)] per source, like scikit-learn's ``predict_proba``
        (the fused probability at the engine's base rate; decisive evidence included). By
        default (``errors="nan"``) an unreadable source gets a row of NaN and one
        :class:`UserWarning` names the unreadable sources, so that one bad file does not lose
        the batch; ``errors="raise"`` raises the :class:`ImageLoadError` of the first one."""
        if errors not in ("raise", "nan"):
            raise ValueError(f"errors must be 'raise' or 'nan', got {errors!r}")
        out, bad = [], []
        for _, res in self.analyze_many(sources, batch_size=batch_size):
            if isinstance(res, ImageLoadError):
                if errors == "raise":
                    raise res
                out.append((math.nan, math.nan))
                bad.append(f"row {len(out) - 1}: {res}")
            else:
                out.append((1.0 - res.probability, res.probability))
        if bad:
            more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
            warnings.warn(f"predict_proba: {len(bad)} of {len(out)} input(s) could not be read and have NaN rows "
                          f"(errors='raise' raises instead): {'; '.join(bad[:3])}{more}", UserWarning, stacklevel=2)
        return np.array(out, dtype=np.float64).reshape(-1, 2)

    def signal_results(self, image: LoadedImage) -> list["SignalResult"]:
        """Every signal's result for one loaded image, without fusion."""
        return [self._run(sig, [image])[0] for sig in self._prepared()]

    def results_many(self, sources: Iterable[ImageSource], *, batch_size: int = 16
                     ) -> Iterator[tuple[Any, "list[SignalResult] | ImageLoadError"]]:
        """``(source, signal results)`` per input, in order, batching signals that support it;
        an input that cannot be read gives ``(source, ImageLoadError)``."""
        for src, item, results in self._iter(sources, batch_size):
            yield src, (item if isinstance(item, ImageLoadError) else results)

    def analyze_many(self, sources: Iterable[ImageSource], *, batch_size: int = 16
                     ) -> Iterator[tuple[Any, "Analysis | ImageLoadError"]]:
        """``(source, Analysis)`` per input, in order; unreadable inputs give ``(source, ImageLoadError)``."""
        for src, item, results in self._iter(sources, batch_size):
            yield src, (item if isinstance(item, ImageLoadError) else self._fuse(item, results))

    # internals --------------------------------------------------------------------------
    def _prepared(self) -> list["Signal"]:
        signals = self.signals_
        if not getattr(self, "_checked", False):
            self.fusion_.check_signals(signals)
            if self.calibration is not None:
                self.calibration.check(signals, self.fusion_)
            self._checked = True
        return signals

    def _iter(self, sources: Iterable[ImageSource], batch_size: int):
        batch: list[tuple[Any, LoadedImage | ImageLoadError]] = []
        for src in sources:
            try:
                batch.append((src, self.load(src)))
            except ImageLoadError as exc:
                batch.append((src, exc))
            except Exception as exc:  # a bug must not sink the batch: report it on this input
                log.error("unexpected %s reading %s", type(exc).__name__, src, exc_info=log.isEnabledFor(logging.INFO))
                batch.append((src, ImageLoadError(f"{src}: unexpected {type(exc).__name__} while reading ({exc})")))
            if len(batch) >= batch_size:
                yield from self._run_batch(batch)
                batch = []
        if batch:
            yield from self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[Any, LoadedImage | ImageLoadError]]):
        images = [b for _, b in batch if isinstance(b, LoadedImage)]
        per_signal = [self._run(sig, images) for sig in self._prepared()] if images else []
        i = 0
        for src, item in batch:
            if isinstance(item, ImageLoadError):
                yield src, item, None
            else:
                yield src, item, [res[i] for res in per_signal]
                i += 1

    def _run(self, sig: "Signal", images: list[LoadedImage]) -> list["SignalResult"]:
        try:
            avail = sig.availability()
        except Exception as exc:
            return [SignalResult.failed(sig.name, sig.version, f"availability check failed: {type(exc).__name__}: {exc}")] * len(images)
        if not avail.ok:
            return [SignalResult.unavailable(sig.name, sig.version, avail.reason or "unavailable")] * len(images)
        if getattr(sig, "evidence_kind", "other") != "pixels" or all(im.decoded_box is None for im in images):
            return self._analyze(sig, images)
        # a pixel signal reads only what decoded of a truncated file, and nothing below MIN_DECODED_SHARE
        out: list["SignalResult | None"] = [None] * len(images)
        todo = []
        for i, im in enumerate(images):
            if im.decoded_share < MIN_DECODED_SHARE:
                out[i] = SignalResult.abstained(sig.name, sig.version, f"{truncated_words(im)}, below the "
                                                f"{MIN_DECODED_SHARE * 100:.0f} % pixel signals need", {"decoded_share": im.decoded_share})
            else:
                todo.append(i)
        for i, res in zip(todo, self._analyze(sig, [images[i].decoded_part() for i in todo]) if todo else []):
            out[i] = _place_heatmap(res, images[i])
        return out  # type: ignore[return-value]

    def _analyze(self, sig: "Signal", images: list[LoadedImage]) -> list["SignalResult"]:
        batch_fn = getattr(sig, "analyze_batch", None)
        if batch_fn is not None and len(images) > 1:
            try:
                out = list(batch_fn(images))
                if len(out) == len(images):
                    return out
                log.warning("signal %s returned %d results for %d images; retrying one by one", sig.name, len(out), len(images))
            except Exception as exc:  # fall back to per-image isolation
                log.warning("signal %s failed on a batch (%s); retrying one by one", sig.name, exc)
        results = []
        for image in images:
            try:
                results.append(sig.analyze(image))
            except Exception as exc:  # the one place where a signal's exception becomes an error result
                log.debug("signal %s failed on %s", sig.name, image.source, exc_info=True)
                said = f"{type(exc).__name__}: {exc}"
                failure = getattr(sig, "failure", None)
                results.append(SignalResult.failed(sig.name, sig.version, f"{failure} ({said})" if failure else said))
        return results

    def _fuse(self, image: LoadedImage, results: list["SignalResult"]) -> Analysis:
        """One pass: the signals' results (and the lines derived from them), the fusion's
        explanation, the decision rule, the basis, the attribution."""
        results = [*results, *(d.derive(results) for d in self.derived_)]
        fusion = self.fusion_
        scores = {r.name: (r.score if r.status == "ok" else None) for r in results}
        base_rate = check_base_rate(self.base_rate)
        expl = fusion.explain(scores, base_rate=base_rate)
        entries = []
        for r in results:
            feat = fusion.features_.get(r.name)
            entries.append(SignalEntry(r, expl.contributions.get(r.name, 0.0),
                                       calibrated=bool(feat and feat.calibrated), in_fusion=feat is not None))
        decision, calib = self.rule_.decide(expl, base_rate, short_side=min(image.width, image.height))
        said = self._declared(results)
        basis = state_basis(decision=decision, probability=expl.probability, entries=entries, kinds=said.kinds,
                            briefs=said.briefs, decisive=expl.decisive, edits=said.edits,
                            truncated=truncated_words(image) if image.truncated else None)
        return Analysis(
            source=image.source, sha256=image.sha256, image=image.describe(), probability=expl.probability,
            logit=expl.logit, intercept=expl.intercept, decision=decision, signals=entries,
            fusion=self._fusion_info, calibration=calib, versions={"forensics": __version__},
            decisive=expl.decisive, basis=basis,
            attribution=attribute(results, said.claims, decision.verdict, self.attribution_),
        )

    def _declared(self, results: list["SignalResult"]) -> Declared:
        """What each result's signal declares about it (see :class:`Declared`): the signals in
        use, in the order of their results, then the calibration's derived lines."""
        out = Declared()
        for sig, r in zip(self._prepared(), results):
            out.kinds[r.name] = getattr(sig, "evidence_kind", "other")
            if r.status != "ok":
                continue
            for attr in ("brief", "edited", "claimed_generator"):
                fn = getattr(sig, attr, None)
                try:
                    said = fn(r) if fn is not None else None
                except Exception:  # a plugin's wording must not sink the analysis
                    log.debug("signal %s: %s() failed", r.name, attr, exc_info=True)
                    continue
                if attr == "brief":
                    out.briefs[r.name] = said
                elif attr == "edited" and said is not None:
                    out.edits[r.name] = said
                elif said is not None:
                    out.claims.append(said)
        for d, r in zip(self.derived_, results[len(self._prepared()):]):  # a derived line counts as the signal it reads
            out.kinds[r.name] = out.kinds.get(d.source, "other")
        return out


@dataclass
class Declared:
    """What the signals declare about their results on one image: each result's evidence kind,
    the ``brief`` words of each ok result, the editors named (``edited``) and the generator
    claims (``claimed_generator``). See :class:`forensics.signals.BaseSignal`."""

    kinds: dict[str, str] = field(default_factory=dict)
    briefs: dict[str, str | None] = field(default_factory=dict)
    edits: dict[str, str] = field(default_factory=dict)
    claims: list["Claim"] = field(default_factory=list)


def truncated_words(image: LoadedImage) -> str:
    """``truncated: 6 % decoded``: how much of a truncated file decoded (rounded down, so that
    a file missing rows never reads 100 %)."""
    return f"truncated: {math.floor(image.decoded_share * 100)} % decoded"


def _place_heatmap(res: "SignalResult", image: LoadedImage) -> "SignalResult":
    """A result on the decoded part of ``image`` with its heatmap put back over the whole
    image: NaN cells over the part that did not decode, on the signal's own cells (its
    ``heatmap_grid`` evidence, updated to the whole image) or, without one, at the map's scale."""
    hm, box = res.heatmap, image.decoded_box
    if hm is None or box is None:
        return res
    left, top, right, bottom = box
    grid = res.evidence.get("heatmap_grid")
    if isinstance(grid, dict) and all(isinstance(grid.get(k), int) and grid[k] > 0 for k in ("cell_height", "cell_width")):
        ch, cw = grid["cell_height"], grid["cell_width"]
        rows, cols = -(-image.height // ch), -(-image.width // cw)
        r0, c0 = top // ch, left // cw
        pad = ((r0, max(0, rows - r0 - hm.shape[0])), (c0, max(0, cols - c0 - hm.shape[1])))
        placed = np.pad(hm, pad, constant_values=np.nan)[:rows, :cols]
        return replace(res, heatmap=placed, evidence={**res.evidence, "heatmap_grid": {**grid, "rows": rows, "cols": cols}})
    per_row, per_col = hm.shape[0] / (bottom - top), hm.shape[1] / (right - left)
    pad = ((round(top * per_row), round((image.height - bottom) * per_row)),
           (round(left * per_col), round((image.width - right) * per_col)))
    return replace(res, heatmap=np.pad(hm, pad, constant_values=np.nan))


def result_schema() -> dict[str, Any]:
    """The JSON Schema of :meth:`Analysis.to_dict` and of error rows (``schema/analysis.schema.json``)."""
    return json.loads(resources.files("forensics").joinpath("schema", "analysis.schema.json").read_text())


def validate_row(row: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``row`` does not follow the result schema."""
    import jsonschema

    jsonschema.validate(row, result_schema())
