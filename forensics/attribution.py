"""Generator attribution: which generator family an AI image most resembles, and on what basis.

Two bases, the stronger first:

* ``provenance``: what the file itself states. A C2PA AI claim (the software agent that
  created the content, walking the ingredient chain), embedded generation parameters or a
  workflow, or a generator named in a software field (``generator_metadata``), or an open
  pipeline's invisible watermark (``watermark``). The name is the file's claim, reported as
  stated, with the manifest's validation state; a claim can be forged, so it is only as good
  as its signature.
* ``pixels``: a multinomial logistic regression on ``effnet_probe``'s pooled channel means
  (``data/attribution.json``, fitted by ``forensics.training.fit_attribution`` on the 15 generator
  families of the training material, laundered as the pixel signals are). Its probabilities
  say which trained family the image resembles most. A second, small logistic model, fitted on
  families held out of the multinomial, turns the spread of those probabilities into the share
  ``unknown``: the probability that the image comes from a family the model never saw. Each
  family's share is its probability times ``1 - unknown``; a family is named only when its
  share reaches ``min_share`` (0.5): it is then more likely than every other answer together.

Attribution abstains unless the verdict is ``likely_ai``: naming a generator for an image that
may be real would claim more than the evidence holds.

``Attribution.to_dict()`` is the ``attribution`` object of the result schema:
``status`` (``attributed``, ``unknown``, ``not_attempted``), ``basis`` (``provenance``,
``pixels`` or ``None``), ``family`` and ``label`` (the named family; ``None`` unless
attributed), ``candidates`` (up to three ``{family, label, share}``, best first), ``unknown``
(the share left to families not trained on; ``None`` for provenance), ``evidence`` (one line
on what it rests on) and ``model`` (the pixel model's version and sha256).
"""

from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from forensics.signals.base import CLAIM_STRENGTHS

from .artifacts import Artifact, packaged, read_artifact
from .errors import WeightsError

if TYPE_CHECKING:
    from forensics.signals import SignalResult
    from forensics.signals.base import Claim

FORMAT = "forensics.attribution"
FORMAT_VERSION = 1
TOP = 3
_LOCK = threading.Lock()

#: Display names of the families: the pixel model's (the training material's lineages) and
#: those that only provenance names.
FAMILY_LABELS: dict[str, str] = {
    "sd1": "Stable Diffusion 1.x", "sdxl": "SDXL", "sd35": "Stable Diffusion 3.5", "cascade": "Stable Cascade",
    "flux": "FLUX.1", "midjourney_v3": "Midjourney v3", "midjourney": "Midjourney", "dalle2": "DALL-E 2",
    "dalle3": "DALL-E 3", "dalle": "DALL-E", "gpt4o": "GPT-4o / gpt-image-1 (OpenAI)", "ldm": "CompVis latent diffusion",
    "glid3": "GLID-3-XL", "dalle_mini": "DALL-E mini (Craiyon)", "disco": "Disco Diffusion", "vqgan_clip": "VQGAN+CLIP",
    "majesty": "Majesty Diffusion", "adobe_firefly": "Adobe Firefly", "google_imagen": "Google Imagen / Gemini",
    "novelai": "NovelAI", "ideogram": "Ideogram", "leonardo": "Leonardo.Ai", "meta_ai": "Meta AI",
    "microsoft_image_creator": "Microsoft Image Creator (DALL-E)", "sd2": "Stable Diffusion 2.x",
    "sd3": "Stable Diffusion 3", "hunyuan": "Hunyuan-DiT / HunyuanImage", "hidream": "HiDream-I1",
    "qwen_image": "Qwen-Image", "wan": "Wan 2.x", "lumina": "Lumina", "pixart": "PixArt", "kolors": "Kolors",
    "auraflow": "AuraFlow", "stylegan2": "StyleGAN2 / StyleGAN2-ADA", "animegan": "AnimeGAN", "cyclegan": "CycleGAN",
    "pix2pix": "pix2pix", "stargan2": "StarGAN v2", "gemini": "Gemini 3 Pro Image",
}

#: Generator names as provenance states them -> family id. Front-ends that run many open
#: models (ComfyUI, Automatic1111...) name no family; they keep their own name.
_NAMED: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.I), f) for p, f in (
    (r"firefly", "adobe_firefly"), (r"gpt-4o|gpt-image|chatgpt", "gpt4o"), (r"dall[\s\-·.]?e[\s\-]?3", "dalle3"),
    (r"dall[\s\-·.]?e[\s\-]?2", "dalle2"), (r"microsoft|bing", "microsoft_image_creator"), (r"dall[\s\-·.]?e", "dalle"),
    (r"midjourney", "midjourney"), (r"imagen|gemini|google ai", "google_imagen"), (r"novel\s?ai", "novelai"),
    (r"ideogram", "ideogram"), (r"leonardo", "leonardo"), (r"meta\s?ai", "meta_ai"), (r"\bflux", "flux"),
    (r"^StableDiffusionV1$", "sd1"), (r"^SDXL$", "sdxl"),
)]
#: Model file names as front-ends record them (a ComfyUI loader's file, an A1111/Forge ``Model:``)
#: -> family, the first match on the file's own name winning (then on its folders). The names
#: of the official releases and their common repackagings (docs/metadata.md lists them); a
#: fine-tune named after its base (``juggernautXL``) is found, one that is not is left unnamed.
MODEL_FILES: list[tuple[str, str]] = [
    (r"aura[-_ ]?flow", "auraflow"), (r"pixart", "pixart"), (r"kolors", "kolors"), (r"lumina", "lumina"),
    (r"hidream", "hidream"), (r"qwen[-_ ]?image", "qwen_image"), (r"hunyuan", "hunyuan"),
    (r"(?:^|[^a-z])wan[-_ ]?2", "wan"), (r"cascade|stable[-_ ]?cascade|^stage_[abc]", "cascade"), (r"flux", "flux"),
    (r"sd3\.5|sd3_5|sd35|stable[-_ ]?diffusion[-_ ]?3\.5", "sd35"), (r"sd3|stable[-_ ]?diffusion[-_ ]?3", "sd3"),
    (r"sd_?xl|sdxl|xl[-_]?base|xl[-_]?refiner|(?:^|[^a-z])xl(?:[^a-z]|$)|[a-z]xl[-_ v.]|pony|illustrious|noobai", "sdxl"),
    (r"v2-[01]|sd-?v?2[._-]?[01]|sd2[01]|512-base-ema|768-v-ema", "sd2"),
    (r"v1-[45]|sd-?v?1[._-]?[45]|sd15|sd_15|sd1\.5", "sd1"),
]
_MODEL_FAMILIES = [(re.compile(p, re.I), f) for p, f in MODEL_FILES]
_ROLE_WORDS = {"checkpoint": "checkpoint", "diffusion_model": "diffusion model", "lora": "LoRA"}


def family_label(family: str) -> str:
    return FAMILY_LABELS.get(family, family)


def model_family(file: str) -> str | None:
    """The family of a model file name (``"SD3\\sd3.5_large.safetensors"`` -> ``"sd35"``) from
    :data:`MODEL_FILES`, or ``None``: its own name first, then the folders it sits in."""
    parts = re.split(r"[\\/]", file)
    for part in (parts[-1], "/".join(parts[:-1])):
        for pat, fam in _MODEL_FAMILIES:
            if part and pat.search(part):
                return fam
    return None


def _family_of_name(name: str) -> tuple[str, str]:
    """``(family id, label)`` for a generator name as a file states it."""
    for pat, fam in _NAMED:
        if pat.search(name):
            return fam, family_label(fam)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "unnamed", name


@dataclass(frozen=True)
class Candidate:
    family: str
    label: str
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "label": self.label, "share": round(self.share, 4)}


@dataclass(frozen=True)
class Attribution:
    """Which generator family an image most resembles; see the module docstring."""

    status: str
    basis: str | None
    evidence: str
    candidates: tuple[Candidate, ...] = ()
    unknown: float | None = None
    model: dict[str, Any] | None = None

    @property
    def family(self) -> str | None:
        return self.candidates[0].family if self.status == "attributed" else None

    @property
    def label(self) -> str | None:
        return self.candidates[0].label if self.status == "attributed" else None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "basis": self.basis, "family": self.family, "label": self.label,
                "candidates": [c.to_dict() for c in self.candidates],
                "unknown": None if self.unknown is None else round(self.unknown, 4),
                "evidence": self.evidence, "model": self.model}

    def summary(self) -> str:
        """One line for the CLI and the report."""
        return describe(self.to_dict()) or f"not attempted: {self.evidence}"


def describe(d: Mapping[str, Any] | None) -> str | None:
    """One line from an attribution object (``Attribution.to_dict()``, or a results row's);
    ``None`` when none was attempted."""
    if not d or d.get("status") not in ("attributed", "unknown"):
        return None
    if d.get("basis") == "provenance":
        return f"{d['label']} (provenance: {d['evidence']})"
    ranked = ", ".join(f"{c['label']} {c['share']:.2f}" for c in d.get("candidates") or [])
    head = d["label"] if d["status"] == "attributed" else "unknown generator"
    return f"{head} (pixels; shares: {ranked}; unknown family {d['unknown']:.2f})"


def short(d: Mapping[str, Any] | None) -> str | None:
    """The named family's label, ``"unknown"``, or ``None`` when none was attempted."""
    if not d or d.get("status") not in ("attributed", "unknown"):
        return None
    return d["label"] if d["status"] == "attributed" else "unknown"


def provenance_attribution(claims: Sequence["Claim"]) -> Attribution | None:
    """What the file itself says made it, from the signals' claims, the strongest first (see
    :data:`~forensics.signals.base.CLAIM_STRENGTHS`); ``None`` when it says nothing."""
    if not claims:
        return None
    claim = min(claims, key=lambda c: CLAIM_STRENGTHS.index(c.strength))
    fam, label = _family_of_name(claim.generator)
    ev = claim.evidence
    if claim.models:  # a front-end's file names the model it ran: the model is the generator, the front-end the tool
        named = [(m, f) for m in claim.models if (f := model_family(m[1])) is not None]
        (role, file), f = named[0] if named else (claim.models[0], None)
        which = f"{_ROLE_WORDS.get(role, 'model')} {file}"
        ev += f", {which}"
        fam, label = (f, f"{family_label(f)} via {claim.generator}") if f else (fam, f"{claim.generator} ({which})")
    return Attribution("attributed", "provenance", ev, (Candidate(fam, label, 1.0),))


class AttributionModel:
    """The pixel attribution model: standardised multinomial logistic regression over
    generator families, and the logistic ``unknown`` model over its probabilities."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = path

    def _model(self) -> Artifact:
        if not hasattr(self, "_loaded"):
            with _LOCK:
                if not hasattr(self, "_loaded"):
                    self._loaded = _read_model(self.path or packaged("forensics", "attribution.json"))
        return self._loaded

    @property
    def families(self) -> list[str]:
        return list(self._model()["families"])

    def fingerprint(self) -> dict[str, Any]:
        m = self._model()
        return {"version": m["version"], "sha256": m.sha256, "source": m["features"]["signal"],
                "source_version": m["features"]["signal_version"]}

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax over the trained families for one pooled feature vector."""
        m = self._model()
        mean, scale, coef, intercept = (m.arrays[a] for a in ("mean", "scale", "coef", "intercept"))
        if features.shape != mean.shape:
            raise ValueError(f"attribution expects {mean.shape[0]} features, got shape {features.shape}")
        z = coef @ ((features.astype(np.float64) - mean) / scale) + intercept
        z -= z.max()
        p = np.exp(z)
        return p / p.sum()

    def unknown_share(self, probs: np.ndarray) -> float:
        """Probability that an image with these family probabilities is of no trained family."""
        u = self._model()["unknown"]
        x = np.asarray(unknown_inputs(probs))
        t = float(u["intercept"] + np.asarray(u["coef"]) @ x)
        return 1.0 / (1.0 + math.exp(-t)) if t >= 0 else math.exp(t) / (1.0 + math.exp(t))

    def attribute(self, features: np.ndarray) -> Attribution:
        m = self._model()
        probs = self.probabilities(features)
        unknown = self.unknown_share(probs)
        shares = probs * (1.0 - unknown)
        order = np.argsort(-shares, kind="stable")[:TOP]
        cands = tuple(Candidate(m["families"][i], family_label(m["families"][i]), float(shares[i])) for i in order)
        named = cands[0].share >= m["min_share"]
        text = (f"{m['features']['signal']} features resemble {cands[0].label} most (share {cands[0].share:.2f}; "
                + (f"named at {m['min_share']:.2f} or more)" if named else f"below the {m['min_share']:.2f} needed to name it)"))
        return Attribution("attributed" if named else "unknown", "pixels", text, cands, unknown,
                           {"version": m["version"], "sha256": m.sha256})


def unknown_inputs(probs: np.ndarray) -> list[float]:
    """What the ``unknown`` model reads from the family probabilities: the log of the largest,
    the margin over the second, and the entropy over its maximum."""
    p = np.sort(np.clip(probs, 1e-12, 1.0))[::-1]
    return [float(np.log(p[0])), float(p[0] - p[1]), float(-(p * np.log(p)).sum() / math.log(len(p)))]


def _read_model(path: Any) -> Artifact:
    m = read_artifact(path, FORMAT, FORMAT_VERSION, arrays=("mean", "scale", "coef", "intercept"), what="attribution model")
    try:
        k, d = len(m["families"]), int(m["features"]["dim"])
        shapes = tuple(m.arrays[a].shape for a in ("mean", "scale", "coef", "intercept"))
        if shapes != ((d,), (d,), (k, d), (k,)) or (m.arrays["scale"] <= 0).any():
            raise ValueError(f"arrays of shapes {shapes} for {k} families and {d} features")
        if len(m["unknown"]["coef"]) != 3 or not 0 < float(m["min_share"]) <= 1:
            raise ValueError("unknown model or min_share malformed")
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: unreadable attribution model ({type(exc).__name__}: {exc}); reinstall forensics") from None
    return m


def attribute(results: Sequence["SignalResult"], claims: Sequence["Claim"], verdict: str,
              model: AttributionModel | None) -> Attribution:
    """The attribution of an analysed image: provenance when the file states its generator
    (``claims``, what the provenance signals read), else the pixel model on the features of the
    signal it was fitted on; none unless ``verdict`` is ``likely_ai``."""
    if verdict != "likely_ai":
        return Attribution("not_attempted", None, f"the verdict is {verdict}; only likely_ai images are attributed")
    prov = provenance_attribution(claims)
    if prov is not None:
        return prov
    if model is None:
        return Attribution("not_attempted", None, "pixel attribution is off in this engine")
    m = model._model()
    source, version = m["features"]["signal"], m["features"]["signal_version"]
    src = next((r for r in results if r.name == source and r.status == "ok"), None)
    if src is None or src.features is None:
        return Attribution("not_attempted", None, f"no provenance names a generator, and {source} did not run")
    if src.version != version:
        return Attribution("not_attempted", None, f"the attribution model reads {source} {version}, this engine runs {src.version}")
    return model.attribute(src.features)
