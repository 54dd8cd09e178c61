"""The signal contract: what every signal module provides and returns."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from forensics.image import LoadedImage

Status = Literal["ok", "unavailable", "abstained", "error"]
STATUSES: tuple[str, ...] = ("ok", "unavailable", "abstained", "error")
#: What a signal reads, for the verdict's stated basis (``Analysis.basis``): signed or embedded
#: provenance (C2PA, generator metadata, watermarks), the camera's own metadata (EXIF,
#: quantisation tables) or the pixels. A signal that declares none counts as ``"other"``.
EVIDENCE_KINDS: tuple[str, ...] = ("provenance", "camera_metadata", "pixels")


@dataclass(frozen=True)
class Availability:
    """Whether a signal can run here; when not, ``reason`` says how to fix it."""

    ok: bool
    reason: str | None = None

    @classmethod
    def yes(cls) -> "Availability":
        return cls(True, None)

    @classmethod
    def no(cls, reason: str) -> "Availability":
        return cls(False, reason)


@dataclass(frozen=True, eq=False)
class SignalResult:
    """What one signal says about one image.

    Attributes:
        name, version: the signal's id and version.
        status: ``ok`` (score is set), ``unavailable`` (cannot run here: weights or package
            missing), ``abstained`` (ran but has nothing to say about this image, e.g. image too
            small), ``error`` (failed on this image).
        score: raw, uncalibrated score; larger means more AI-like. ``None`` unless ``ok``.
        evidence: JSON-safe dict; each signal documents its keys.
        summary: one human line on what the signal saw.
        heatmap: optional float32 ``(h, w)`` array over the image grid: the sigmoid of each
            cell's log-odds in [0, 1] (1 = AI-like) where the signal looked, NaN where it did not.
        reason: why the status is not ``ok``.
        features: optional float32 vector the score was computed from (the CLIP image
            embedding), for linear probes fitted by calibration; never serialised.
    """

    name: str
    version: str
    status: Status
    score: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    heatmap: np.ndarray | None = field(default=None, repr=False)
    reason: str | None = None
    features: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "ok":
            if self.score is None or not math.isfinite(self.score):
                raise ValueError(f"signal {self.name!r}: an ok result needs a finite score, got {self.score!r}")
        elif self.reason is None:
            raise ValueError(f"signal {self.name!r}: status {self.status!r} needs a reason")
        if self.heatmap is not None:
            hm = self.heatmap
            if hm.ndim != 2 or hm.dtype != np.float32 or not np.all(np.isnan(hm) | ((hm >= 0) & (hm <= 1))):
                raise ValueError(f"signal {self.name!r}: heatmap must be float32 (h, w) in [0, 1], NaN where not measured")
        if self.features is not None:
            f = self.features
            if f.ndim != 1 or f.dtype != np.float32 or not np.all(np.isfinite(f)):
                raise ValueError(f"signal {self.name!r}: features must be a finite float32 vector")
        json.dumps(self.evidence, allow_nan=False)  # evidence must be JSON-safe

    @classmethod
    def unavailable(cls, name: str, version: str, reason: str) -> "SignalResult":
        return cls(name, version, "unavailable", reason=reason, summary=f"unavailable: {reason}")

    @classmethod
    def abstained(cls, name: str, version: str, reason: str, evidence: dict[str, Any] | None = None) -> "SignalResult":
        return cls(name, version, "abstained", evidence=evidence or {}, reason=reason, summary=f"abstained: {reason}")

    @classmethod
    def failed(cls, name: str, version: str, reason: str) -> "SignalResult":
        return cls(name, version, "error", reason=reason, summary=f"error: {reason}")


@dataclass(frozen=True)
class Prior:
    """A signal's fixed weight in the default fusion, for signals that cannot be fitted on the
    corpus (one-sided metadata evidence; neural signals without weights here). The fusion adds
    ``weight * clip((score - center) / scale)`` log-odds; see :class:`forensics.fusion.Feature`.
    ``calibrated=False`` marks a shrunk guess that ``forensics calibrate --fake`` should replace."""

    weight: float
    center: float = 0.0
    scale: float = 1.0
    clip: float | None = None
    calibrated: bool = True
    note: str = ""


@dataclass(frozen=True)
class Claim:
    """What a file states made it, as a provenance signal read it (see
    :meth:`BaseSignal.claimed_generator`); :mod:`forensics.attribution` turns it into a family.

    Attributes:
        generator: the name as the file states it (``"Adobe Firefly"``, ``"ComfyUI"``, ``"SDXL"``).
        evidence: one line on where and how it is stated, with its standing (a signature's state).
        strength: which claim wins when several signals make one, the strongest first: one of
            :data:`CLAIM_STRENGTHS`.
        models: ``(role, file)`` of the model files a front-end's record names
            (``("checkpoint", "sd3.5_large.safetensors")``): the model is the generator then.
    """

    generator: str
    evidence: str
    strength: str
    models: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.strength not in CLAIM_STRENGTHS:
            raise ValueError(f"claim strength must be one of {CLAIM_STRENGTHS}, got {self.strength!r}")


#: Kinds of generator claim, the strongest first: a signed manifest, metadata the generator
#: embedded (parameters, a workflow, a software field), an invisible watermark.
CLAIM_STRENGTHS: tuple[str, ...] = ("signed", "embedded", "watermark")


@runtime_checkable
class Signal(Protocol):
    """A signal module. Constructors store their arguments only; heavy state loads lazily.
    Every built-in is a :class:`BaseSignal`; a plugin may be any class of this shape.

    ``availability()`` is cheap, never downloads, and explains how to fix a ``no``.
    ``analyze()`` must not reopen the file and must be deterministic for the same image; it may
    raise: the engine turns the exception into an ``error`` result (see :class:`BaseSignal`).
    ``analyze_batch()`` is optional; signals with batched inference (neural) provide it.

    Optional class attributes, read when the default fusion is built
    (``forensics.training.fusion_priors --apply``): ``prior`` (a :class:`Prior`; none = fitted on the
    corpus), ``decisive_at`` (a score at or above which the evidence decides the result) and
    ``weight_specs`` (the :class:`~forensics.weights.spec.WeightSpec` of each set of weights the
    signal reads).

    ``by_default = False`` keeps a signal out of the engine's default set: it still runs when
    named (``--signals``, ``Engine(["name"])``).

    Read by the engine when it runs the signal (the declarations of :class:`BaseSignal`, which
    a plugin may also provide): ``evidence_kind``, ``failure``, ``brief(result)``,
    ``edited(result)`` and ``claimed_generator(result)``. The engine reads the pixel signals
    (``evidence_kind`` ``"pixels"``) only on the rows of a truncated file that decoded (see
    :data:`forensics.image.MIN_DECODED_SHARE`).
    """

    name: str
    version: str

    def availability(self) -> Availability: ...

    def analyze(self, image: "LoadedImage") -> SignalResult: ...

    def fingerprint(self) -> dict[str, Any]:
        """Identity of what produced the score (version, weights sha256, prompt hash...)."""
        ...


def fingerprint_of(sig: Signal) -> dict[str, Any]:
    """``{"version": ..., **sig.fingerprint()}``: what fusion and calibration files record to
    refuse being used with another version or other weights of the signal."""
    fp = sig.fingerprint() if hasattr(sig, "fingerprint") else {}
    return {"version": sig.version, **fp}


class BaseSignal:
    """The base class of every built-in signal: what the engine needs from a signal, declared.

    Subclasses set ``name``, ``version``, ``evidence_kind`` (one of :data:`EVIDENCE_KINDS`: what
    the signal reads, for the verdict's stated basis) and ``failure`` (what could not be done,
    for an error result), for the fusion ``prior`` and ``decisive_at``, and implement
    :meth:`analyze`. ``analyze`` may raise on a hostile image: the engine, and only the engine,
    turns the exception into an ``error`` result saying ``failure`` and the exception.

    A signal whose result can carry a verdict by itself (provenance, a camera record) also
    says, for an ok result: :meth:`brief`, :meth:`edited` and, for provenance,
    :meth:`claimed_generator`. The defaults say nothing.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    #: What could not be done, for the error result (``"EXIF could not be read"``).
    failure: ClassVar[str] = "analysis failed"
    prior: ClassVar[Prior | None] = None
    decisive_at: ClassVar[float | None] = None
    evidence_kind: ClassVar[str] = "other"

    def availability(self) -> Availability:
        return Availability.yes()

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    def analyze(self, image: "LoadedImage") -> SignalResult:
        """This signal's result for ``image``; may raise (see the class docstring)."""
        raise NotImplementedError

    def brief(self, result: SignalResult) -> str | None:
        """A few words naming what ``result`` shows ("signed C2PA manifest (Adobe Firefly)"), for
        the headline; ``None`` when it shows nothing worth naming."""
        return None

    def edited(self, result: SignalResult) -> str | None:
        """The editor the file declares changed it ("Adobe Photoshop"), so that it is not called
        a camera original; ``None`` when none is declared."""
        return None

    def claimed_generator(self, result: SignalResult) -> Claim | None:
        """The generator the file states made it, for attribution; ``None`` when it names none."""
        return None
