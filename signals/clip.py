"""``clip_zeroshot``: CLIP zero-shot "AI-generated image" vs "real photograph".

The image tower of an open_clip model runs on onnxruntime (converted once by ``forensics
weights download clip_vit_b32_openai`` / ``forensics weights add clip_vit_b32_openai PATH``);
the prompt embeddings were computed at that time from ``data/clip_prompts.json`` and stored
beside it. If the packaged prompt set changes, its hash no longer matches the stored one and
the signal is unavailable until the weights are added again.

Preprocessing is read from the sidecar (OpenAI CLIP: shorter side to 224, bicubic, centre
crop, OpenAI mean/std; quick-gelu was pinned at conversion).

Score: raw cosine margin = mean cosine similarity to the ``ai`` prompts minus mean cosine
similarity to the ``real`` prompts (larger = more AI-like), uncalibrated.

Evidence keys:
    ``sim_ai``, ``sim_real``: the two mean cosine similarities.
    ``prompts_sha256``: hash of the prompt set (first 16 hex); ``n_prompts``: ``{"ai", "real"}``.
    ``weights``: ``{"name", "sha256"}``; ``input_size``, ``resize_mode``; ``backend``: ``onnxruntime``.

:meth:`ClipZeroShotSignal.embed` returns L2-normalised image embeddings, and each ok result
carries its image's embedding in ``features``: ``forensics calibrate --fake DIR --probe`` fits
a linear probe on them (UnivFD-style; ``forensics.calibration.probe``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forensics.artifacts import packaged, read_artifact
from forensics.errors import SignalUnavailableError, WeightsError
from forensics.image import LoadedImage
from forensics.signals.base import Availability, Prior, SignalResult
from forensics.signals.neural import WeightsSignal, chunks, preprocess_batch
from forensics.weights.spec import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, WeightSpec

PROMPTS_FORMAT = "forensics.clip_prompts"
PROMPTS_FORMAT_VERSION = 1
#: the packaged prompt set
PROMPTS = packaged("forensics.signals", "clip_prompts.json")


def load_prompts(path: Path | None = None) -> dict[str, Any]:
    """The prompt set at ``path`` (the packaged one, ``PROMPTS``, by default), read by the
    artifact reader, with its ``sha256``: the hash of the canonical JSON of ``prompts``, so
    whitespace edits do not change it and any wording edit does.

    Raises:
        WeightsError: the file is not a prompt set of this format, or a class has no prompts.
    """
    path = PROMPTS if path is None else path
    data = read_artifact(path, PROMPTS_FORMAT, PROMPTS_FORMAT_VERSION, what="CLIP prompt set")
    prompts = data.get("prompts")
    for cls in ("ai", "real"):
        if not isinstance(prompts, dict) or not isinstance(prompts.get(cls), list) or not prompts[cls] \
                or not all(isinstance(p, str) and p.strip() for p in prompts[cls]):
            raise WeightsError(f"{path}: the CLIP prompt set needs a non-empty list of prompts for class {cls!r}")
    canon = json.dumps({"ai": prompts["ai"], "real": prompts["real"]}, sort_keys=True, separators=(",", ":"))
    return {"prompts": {"ai": list(prompts["ai"]), "real": list(prompts["real"])},
            "sha256": hashlib.sha256(canon.encode()).hexdigest()}


class ClipZeroShotSignal(WeightsSignal):
    """CLIP zero-shot margin on onnxruntime.

    Parameters:
        weights: installed open_clip weights name (default ``clip_vit_b32_openai``).
        home: weight store root (default ``$FORENSICS_HOME`` / ``~/.cache/forensics``).
        threads: onnxruntime intra-op threads (``None`` = ``$FORENSICS_THREADS``, else ``$OMP_NUM_THREADS``, else onnxruntime's default).
        batch_size: most images per forward pass.
    """

    name = "clip_zeroshot"
    version = "1"
    # The zero-shot margin on CLIP's logit scale (x100), half weight, bounded to +-4 log-odds.
    prior = Prior(0.5, scale=0.01, clip=8.0, calibrated=False,
                  note="CLIP prompt margin x100 at half weight; uncalibrated until `forensics calibrate --fake`")
    weight_specs = (WeightSpec(
        name="clip_vit_b32_openai", kind="open_clip", signal="clip_zeroshot", arch="ViT-B-32",
        file="open_clip_model.safetensors", repo="timm/vit_base_patch32_clip_224.openai",
        revision="ab5b8ef490e86faa07d3523926b842c765de1de5",
        licence="MIT (OpenAI CLIP); the Hub repository card says Apache-2.0",
        input_size=224, resize_mode="shortest_crop", interpolation="bicubic",
        mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD, quick_gelu=True,
        description="OpenAI CLIP ViT-B/32 (open_clip format), image tower + prompt embeddings",
    ),)

    def __init__(self, weights: str = "clip_vit_b32_openai", *, home: str | None = None, threads: int | None = None,
                 batch_size: int = 16) -> None:
        super().__init__(weights, home=home, threads=threads, batch_size=batch_size)
        self._text: tuple[np.ndarray, np.ndarray] | None = None

    def availability(self) -> Availability:
        problem = self.model.check()
        if problem is None:
            side = self.model.sidecar
            if side["kind"] != "open_clip" or "text_embeddings" not in side:
                problem = f"weights {self.weights!r} are not open_clip weights with prompt embeddings"
            elif side["text_embeddings"]["prompts_sha256"] != load_prompts()["sha256"]:
                problem = (f"the prompt set changed since weights {self.weights!r} were installed; rerun "
                           f"`forensics weights add {self.weights} PATH` (or `forensics weights download {self.weights}`) "
                           "to recompute the prompt embeddings")
        return Availability.no(problem) if problem else Availability.yes()

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "prompts_sha256": load_prompts()["sha256"]}

    def _text_means(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean prompt embedding of each class (loaded once; mean of cosines = cosine with the mean)."""
        if self._text is None:
            side = self.model.sidecar
            te = side["text_embeddings"]
            path = Path(side["_dir"]) / te["file"]
            emb = np.load(path, allow_pickle=False).astype(np.float64)
            classes = np.asarray(te["classes"])
            if emb.shape[0] != len(classes):
                raise WeightsError(f"{path}: {emb.shape[0]} rows for {len(classes)} prompts; reinstall the weights")
            self._text = (emb[classes == "ai"].mean(axis=0), emb[classes == "real"].mean(axis=0))
        return self._text

    def embed(self, images: Sequence[LoadedImage]) -> np.ndarray:
        """L2-normalised image embeddings, ``float32 (len(images), dim)``.

        Raises:
            SignalUnavailableError: the weights are not installed (the message says how).
        """
        avail = self.availability()
        if not avail.ok:
            raise SignalUnavailableError(f"{self.name}: {avail.reason}")
        side = self.model.sidecar
        out = []
        for part in chunks(list(images), self.batch_size):
            feats = self.model.run(preprocess_batch(part, side, self.threads)).astype(np.float64)
            feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
            out.append(feats.astype(np.float32))
        dim = int(side["text_embeddings"]["dim"])
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def analyze(self, image: LoadedImage) -> SignalResult:
        return self.analyze_batch([image])[0]

    def analyze_batch(self, images: Sequence[LoadedImage]) -> list[SignalResult]:
        runnable, small = self.split_small(images)
        try:
            emb = self.embed([images[i] for i in runnable]).astype(np.float64)
            ai, real = self._text_means()
        except (SignalUnavailableError, WeightsError) as exc:
            return [SignalResult.unavailable(self.name, self.version, str(exc))] * len(images)
        side = self.model.sidecar
        te = side["text_embeddings"]
        n = {"ai": te["classes"].count("ai"), "real": te["classes"].count("real")}
        base = {**self.model.evidence(), "prompts_sha256": te["prompts_sha256"][:16], "n_prompts": n}
        results: dict[int, SignalResult] = dict(small)
        for i, row in zip(runnable, emb):
            sim_ai, sim_real = float(row @ ai), float(row @ real)
            margin = sim_ai - sim_real
            results[i] = SignalResult(
                self.name, self.version, "ok", score=margin,
                evidence={"sim_ai": sim_ai, "sim_real": sim_real, **base},
                summary=f"CLIP zero-shot: cosine margin {margin:+.4f} (AI prompts {sim_ai:.3f}, real prompts {sim_real:.3f})",
                features=row.astype(np.float32),
            )
        return [results[i] for i in range(len(images))]
