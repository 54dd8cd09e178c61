"""What one set of weights is and how its model must be fed (timm's ``PretrainedCfg`` idea).

Each signal declares the :class:`WeightSpec` of the weights it reads on its class
(``weight_specs``), as timm declares ``default_cfgs`` beside each model. Importing this
module is cheap: no torch, no onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forensics.errors import WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

KINDS = ("sumsub_mobilenet", "open_clip")
RESIZE_MODES = ("squash", "shortest_crop")
INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class WeightSpec:
    """What one set of weights is and how its model must be fed (timm's PretrainedCfg idea).

    Attributes:
        name: store folder and ``forensics weights`` name.
        kind: ``sumsub_mobilenet`` (timm backbone + two-layer head, Sumsub's Model5M) or
            ``open_clip`` (an open_clip CLIP model).
        signal: the signal that reads these weights.
        arch: timm model name, or open_clip model config name.
        file: the weight file's name in the source repository / local folder.
        repo, revision: Hugging Face repository and pinned commit (``None`` = add-only).
        sha256: expected sha256 of ``file`` when known in advance (else checked against the
            Hub's LFS record at download, and recorded).
        licence: licence of the weights, as published.
        input_size: square input side.
        resize_mode: ``squash`` (resize both sides to ``input_size``, no crop) or
            ``shortest_crop`` (shorter side to ``input_size``, then centre crop).
        interpolation: ``bilinear`` or ``bicubic`` (Pillow filters, as torchvision on PIL).
        mean, std: per-channel normalisation of [0, 1] pixels.
        labels: class of each model output, in output order (``sumsub_mobilenet``).
        quick_gelu: open_clip activation; OpenAI-trained weights need ``True``.
        model_cfg: an explicit open_clip model config (architectures open_clip does not ship).
        description: one line for ``forensics weights list``.
    """

    name: str
    kind: str
    signal: str
    arch: str
    file: str
    repo: str | None = None
    revision: str | None = None
    sha256: str | None = None
    licence: str = "unknown"
    input_size: int = 224
    resize_mode: str = "squash"
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    labels: tuple[str, ...] = ()
    quick_gelu: bool | None = None
    model_cfg: dict[str, Any] | None = field(default=None, hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise WeightsError(f"weights {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.resize_mode not in RESIZE_MODES:
            raise WeightsError(f"weights {self.name!r}: resize_mode {self.resize_mode!r} is not one of {RESIZE_MODES}")
        if self.interpolation not in INTERPOLATIONS:
            raise WeightsError(f"weights {self.name!r}: interpolation {self.interpolation!r} is not one of {INTERPOLATIONS}")
        if self.kind == "sumsub_mobilenet" and (len(self.labels) != 2 or "fake" not in self.labels or "real" not in self.labels):
            raise WeightsError(f"weights {self.name!r}: labels must name both outputs, 'real' and 'fake', got {self.labels!r}")




def check_name(name: str) -> None:
    """Refuse a weights name that is not a plain folder name."""
    if not name or not all(c.isalnum() or c in "_-." for c in name) or name.startswith("."):
        raise WeightsError(f"weights name {name!r} is not valid; use letters, digits, '_', '-' and '.'")
