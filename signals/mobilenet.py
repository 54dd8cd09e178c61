"""``sumsub_sd5``: Sumsub's "For Fake's Sake" MobileNetV3 synthetic-image classifier.

The published PyTorch weights (``Sumsub/Sumsub-ffs-synthetic-1.0_sd_5``, CC-BY-SA-3.0) are
converted once to ONNX by ``forensics weights download sumsub_sd5`` or ``forensics weights
add sumsub_sd5 DIR``; this module runs them with onnxruntime (no torch). Sumsub's other
public models, built the same way (a timm backbone with ``num_classes=0`` under ``model.``,
a Linear-ReLU-Linear head under ``clf.``), run through the same class:
``MobileNetSignal(weights="sumsub_mj5")`` (the Midjourney sibling) and
``MobileNetSignal(weights="sumsub_synthetic2")`` (``Sumsub/Sumsub-ffs-synthetic-2.0``, a
ConvNeXt-Large CLIP backbone; add-only: no revision is pinned, so ``forensics weights add``
installs a downloaded ``synthetic.pt``).

Preprocessing is read from the sidecar (Sumsub's pipelines: squash without crop; 224 px,
bilinear, ImageNet mean/std for the 1.0 models, 384 px, bicubic, CLIP mean/std for 2.0), as
is the output order of the two logits.

Score: ``log(p_fake / (1 - p_fake))`` = ``logit_fake - logit_real``; larger = more AI-like.

Evidence keys:
    ``p_fake``: softmax probability of the ``fake`` output.
    ``weights``: ``{"name", "sha256"}`` (sha256 of the published weight file, first 16 hex).
    ``input_size``, ``resize_mode``: the model's input as fed.
    ``labels``: output order pinned by the sidecar.
    ``backend``: ``onnxruntime``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forensics.errors import SignalUnavailableError, WeightsError
from forensics.image import LoadedImage
from forensics.numeric import sigmoid
from forensics.signals.base import Availability, Prior, SignalResult
from forensics.signals.neural import WeightsSignal, chunks, preprocess_batch
from forensics.weights.spec import IMAGENET_MEAN, IMAGENET_STD, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, WeightSpec
from forensics.weights.store import how_to_get


def _sumsub(name: str, variant: str, file: str, revision: str, what: str) -> WeightSpec:
    return WeightSpec(
        name=name, kind="sumsub_mobilenet", signal=name, arch="tf_mobilenetv3_large_100", file=file,
        repo=f"Sumsub/Sumsub-ffs-synthetic-1.0_{variant}", revision=revision, licence="CC-BY-SA-3.0",
        input_size=224, resize_mode="squash", interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD,
        # Output order of the model's two logits. Sumsub's pipeline.py reports id2label["0"]
        # with softmax[:, 1]; config.json's id2label is cross-checked against this at add time.
        labels=("real", "fake"),
        description=f"Sumsub 'For Fake's Sake' {what} detector (MobileNetV3-large, 5M parameters)",
    )


class MobileNetSignal(WeightsSignal):
    """Sumsub MobileNetV3 classifier on onnxruntime.

    Parameters:
        weights: installed weights name (``sumsub_sd5``, ``sumsub_mj5``, ``sumsub_synthetic2``); also the signal name.
        home: weight store root (default ``$FORENSICS_HOME`` / ``~/.cache/forensics``).
        threads: onnxruntime intra-op threads (``None`` = ``$FORENSICS_THREADS``, else ``$OMP_NUM_THREADS``, else all cores).
        batch_size: most images per forward pass in :meth:`analyze_batch`.
    """

    version = "1"
    # No weights to fit here: half-trust the model's own logit, bounded to +-4 log-odds.
    prior = Prior(0.5, clip=8.0, calibrated=False,
                  note="Sumsub sd_5 logit at half weight; uncalibrated until `forensics calibrate --fake`")
    weight_specs = (
        _sumsub("sumsub_sd5", "sd_5", "diffusions5M.pt", "f552c6db2ce5291b239157d76f8f6400b5d3a7fb",
                "Stable Diffusion 1.4/1.5/2.1"),
        _sumsub("sumsub_mj5", "mj_5", "midjourney5M.pt", "10693910b9807e22e6db600e9c2c9431f6e56729", "Midjourney"),
        WeightSpec(
            name="sumsub_synthetic2", kind="sumsub_mobilenet", signal="sumsub_synthetic2",
            arch="convnext_large_mlp.clip_laion2b_soup_ft_in12k_in1k_384", file="synthetic.pt",
            repo="Sumsub/Sumsub-ffs-synthetic-2.0", licence="as published on the model card",
            input_size=384, resize_mode="squash", interpolation="bicubic", mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD,
            # output 0 is the real-photo probability in the public loader, as for the 1.0 models
            labels=("real", "fake"),
            description="Sumsub 'For Fake's Sake' 2.0 synthetic-image detector (ConvNeXt-Large CLIP, 200M parameters)",
        ),
    )

    def __init__(self, weights: str = "sumsub_sd5", *, home: str | None = None, threads: int | None = None,
                 batch_size: int = 16) -> None:
        super().__init__(weights, home=home, threads=threads, batch_size=batch_size)

    @property
    def name(self) -> str:
        return self.weights

    def availability(self) -> Availability:
        problem = self.model.check()
        if problem is None and self.model.sidecar["kind"] != "sumsub_mobilenet":
            problem = f"weights {self.weights!r} are {self.model.sidecar['kind']}, not a Sumsub MobileNet; {how_to_get(self.weights, self.weight_spec)}"
        return Availability.no(problem) if problem else Availability.yes()

    def analyze(self, image: LoadedImage) -> SignalResult:
        return self.analyze_batch([image])[0]

    def analyze_batch(self, images: Sequence[LoadedImage]) -> list[SignalResult]:
        avail = self.availability()
        if not avail.ok:
            return [SignalResult.unavailable(self.name, self.version, avail.reason or "unavailable")] * len(images)
        side = self.model.sidecar
        fake = side["labels"].index("fake")
        real = side["labels"].index("real")
        runnable, small = self.split_small(images)
        results: list[SignalResult | None] = [small.get(i) for i in range(len(images))]
        base = self.model.evidence()
        for part in chunks(runnable, self.batch_size):
            try:
                logits = self.model.run(preprocess_batch([images[i] for i in part], side, self.threads)).astype(np.float64)
            except (SignalUnavailableError, WeightsError) as exc:
                for i in part:
                    results[i] = SignalResult.unavailable(self.name, self.version, str(exc))
                continue
            for i, row in zip(part, logits):
                score = float(row[fake] - row[real])
                p_fake = sigmoid(score)
                results[i] = SignalResult(
                    self.name, self.version, "ok", score=score,
                    evidence={"p_fake": p_fake, **base, "labels": list(side["labels"])},
                    summary=f"{side['name']} classifier: P(fake) = {p_fake:.3f}",
                )
        return [r for r in results if r is not None]
