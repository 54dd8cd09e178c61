"""One-time conversion of published PyTorch weights to ONNX (``forensics weights add/download``).

Needs the ``convert`` extra (torch, timm, open-clip-torch, onnx, onnxscript, onnxruntime).
Weights are read with ``torch.load(weights_only=True)`` or safetensors and loaded strictly:
a missing or unexpected key is a :class:`~forensics.errors.WeightsError`, never a silent
partial load. Each export is run on onnxruntime and compared with the torch output; above
:data:`PARITY_TOL` nothing is installed. :data:`CONVERTERS` names the converter of each kind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from forensics.errors import WeightsError
from forensics.hashing import sha256_file
from forensics.signals.clip import load_prompts

from .spec import WeightSpec

log = logging.getLogger(__name__)

#: Largest allowed difference between the torch and the onnxruntime output at conversion.
PARITY_TOL = 1e-4
OPSET = 18
ONNX_FILE = "model.onnx"
TEXT_EMBEDDINGS_FILE = "text_embeddings.npy"
_PARITY_BATCH = 3


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain tensor state dict from a safetensors file or a ``torch.save``'d dict (no code run)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise WeightsError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a plain tensor state dict loadable with torch.load(weights_only=True) "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); TorchScript archives and "
                           "pickled modules are refused") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def _dtype_counts(state: dict[str, torch.Tensor]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in state.values():
        key = str(v.dtype).removeprefix("torch.")
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _strict(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    result = module.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} key(s): {', '.join(result.missing_keys[:6])}")
    if result.unexpected_keys:
        problems.append(f"unexpected {len(result.unexpected_keys)} key(s): {', '.join(result.unexpected_keys[:6])}")
    if problems:
        raise WeightsError(f"{what}: state dict does not match the architecture ({'; '.join(problems)}); "
                           "refusing a partial load")


# ---------------------------------------------------------------------------------------
# Sumsub "For Fake's Sake" 5M models: timm backbone (num_classes=0) + Linear-ReLU-Linear
# ---------------------------------------------------------------------------------------


class SumsubModel(torch.nn.Module):
    """Sumsub's Model5M: ``timm.create_model(arch, num_classes=0)`` then a two-layer head."""

    def __init__(self, arch: str, hidden: int, n_out: int) -> None:
        super().__init__()
        import timm

        self.backbone = timm.create_model(arch, pretrained=False, num_classes=0)
        # timm's pooled-feature width (MobileNetV3: 1280 after conv_head; num_features is 960)
        self.n_features = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.head = torch.nn.Sequential(torch.nn.Linear(self.n_features, hidden), torch.nn.ReLU(),
                                        torch.nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


#: The first weight of each supported timm backbone: MobileNet/EfficientNet, ConvNeXt.
STEM_KEYS = ("conv_stem.weight", "stem.0.weight")


def build_sumsub(path: Path, s: WeightSpec) -> tuple[SumsubModel, dict[str, Any]]:
    """Load a Sumsub checkpoint strictly. The backbone prefix is where its stem weight
    (:data:`STEM_KEYS`) sits; the head is the two remaining Linear layers, ordered by their shapes."""
    state = load_state_dict(path)
    what = f"{path} ({s.name}, {s.arch})"
    stems = [(k, stem) for k in state for stem in STEM_KEYS if k == stem or k.endswith("." + stem)]
    if len(stems) != 1:
        raise WeightsError(f"{what}: expected one backbone stem key ({' or '.join(STEM_KEYS)}), found {len(stems)}; "
                           f"first keys: {', '.join(list(state)[:5])}")
    prefix = stems[0][0][: -len(stems[0][1])]
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    rest = {k: v for k, v in state.items() if not k.startswith(prefix)}
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in rest.items():
        layer, _, param = k.rpartition(".")
        layers.setdefault(layer, {})[param] = v
    if len(layers) != 2 or any(set(p) != {"weight", "bias"} or p["weight"].ndim != 2 for p in layers.values()):
        raise WeightsError(f"{what}: expected a head of two Linear layers beside the backbone, found keys "
                           f"{', '.join(sorted(rest)) or 'none'}")
    (first, p1), (second, p2) = sorted(layers.items(), key=lambda kv: kv[1]["weight"].shape[0], reverse=True)
    hidden, n_in = p1["weight"].shape
    if p2["weight"].shape[1] != hidden or p2["weight"].shape[0] != len(s.labels):
        raise WeightsError(f"{what}: head shapes {tuple(p1['weight'].shape)} -> {tuple(p2['weight'].shape)} do not "
                           f"chain into {len(s.labels)} outputs")
    model = SumsubModel(s.arch, int(hidden), len(s.labels))
    if model.n_features != n_in:
        raise WeightsError(f"{what}: head expects {n_in} features, {s.arch} gives {model.n_features}")
    _strict(model.backbone, backbone, what)
    _strict(model.head, {"0.weight": p1["weight"], "0.bias": p1["bias"],
                         "2.weight": p2["weight"], "2.bias": p2["bias"]}, what)
    model.float().eval()
    layout = {"backbone_prefix": prefix, "head": [first, second], "hidden": int(hidden), "dtypes": _dtype_counts(state)}
    return model, layout


def convert_sumsub(path: Path, s: WeightSpec, out: Path) -> dict[str, Any]:
    model, layout = build_sumsub(path, s)
    onnx_info = export(model, s.input_size, out / ONNX_FILE, output="logits")
    return {"state_dict": layout, "onnx": onnx_info}


# ---------------------------------------------------------------------------------------
# open_clip: image tower to ONNX, prompt embeddings to .npy
# ---------------------------------------------------------------------------------------


class _ImageTower(torch.nn.Module):
    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(x)


def build_open_clip(path: Path, s: WeightSpec) -> tuple[torch.nn.Module, dict[str, Any]]:
    """An open_clip model with ``s.arch``'s config (or ``s.model_cfg``), the pinned quick_gelu,
    and the checkpoint loaded strictly."""
    import open_clip

    cfg = s.model_cfg or open_clip.get_model_config(s.arch)
    if cfg is None:
        raise WeightsError(f"open_clip has no model config {s.arch!r}; known: {', '.join(open_clip.list_models()[:8])}...")
    if cfg.get("custom_text") or cfg.get("text_cfg", {}).get("hf_model_name"):
        raise WeightsError(f"{s.arch}: custom/HF text towers are not supported; use a CLIP with the built-in text tower")
    cfg = json.loads(json.dumps(cfg))
    if s.quick_gelu is None:
        raise WeightsError(f"weights {s.name!r}: quick_gelu must be pinned (true for OpenAI-trained weights)")
    model = open_clip.CLIP(**cfg, quick_gelu=bool(s.quick_gelu))
    state = load_state_dict(path)
    if next(iter(state)).startswith("module."):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    _strict(model, state, f"{path} ({s.name}, open_clip {s.arch})")
    model.float().eval()
    return model, cfg


def convert_open_clip(path: Path, s: WeightSpec, out: Path) -> dict[str, Any]:
    """The image tower to ONNX, and the embeddings of the packaged prompt set."""
    from open_clip.tokenizer import SimpleTokenizer

    prompts = load_prompts()
    model, cfg = build_open_clip(path, s)
    image_size = cfg.get("vision_cfg", {}).get("image_size", s.input_size)
    if image_size != s.input_size:
        raise WeightsError(f"weights {s.name!r}: model image_size {image_size} differs from the pinned input size {s.input_size}")
    onnx_info = export(_ImageTower(model), s.input_size, out / ONNX_FILE, output="image_features")
    tokenizer = SimpleTokenizer(context_length=cfg.get("text_cfg", {}).get("context_length", 77))
    texts, classes = [], []
    for cls in ("ai", "real"):
        for p in prompts["prompts"][cls]:
            texts.append(p)
            classes.append(cls)
    with torch.inference_mode():
        emb = model.encode_text(tokenizer(texts)).float()
        emb = torch.nn.functional.normalize(emb, dim=-1).numpy().astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, emb, allow_pickle=False)
    (out / TEXT_EMBEDDINGS_FILE).write_bytes(buf.getvalue())
    return {
        "onnx": onnx_info,
        "model_cfg": cfg,
        "text_embeddings": {"file": TEXT_EMBEDDINGS_FILE, "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                            "prompts_sha256": prompts["sha256"], "classes": classes, "dim": int(emb.shape[1])},
    }


# ---------------------------------------------------------------------------------------
# Export + parity
# ---------------------------------------------------------------------------------------


def export(model: torch.nn.Module, size: int, dest: Path, *, output: str) -> dict[str, Any]:
    """Export ``model`` (NCHW float32 input, dynamic batch) to ONNX and check it on onnxruntime
    against torch on a fixed batch; raise :class:`WeightsError` above the tolerance."""
    import onnxruntime as ort

    model.eval()
    example = torch.zeros(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with contextlib.redirect_stdout(io.StringIO()), torch.inference_mode(False):
        prog = torch.onnx.export(model, (example,), input_names=["pixels"], output_names=[output],
                                 dynamic_shapes=({0: batch},), opset_version=OPSET, dynamo=True, verbose=False)
    prog.save(str(dest))
    rng = np.random.default_rng(0)  # fixed probe batch: conversion is reproducible
    probe = rng.standard_normal((_PARITY_BATCH, 3, size, size)).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(probe)).numpy()
    sess = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"pixels": probe})[0]
    err = float(np.abs(got - ref).max())
    if not err <= PARITY_TOL:
        raise WeightsError(f"ONNX export of {type(model).__name__} differs from torch by {err:.3g} "
                           f"(> {PARITY_TOL:g}); not installed")
    import onnx

    return {"file": dest.name, "sha256": sha256_file(dest), "opset": OPSET, "input": "pixels", "output": output,
            "parity_max_abs": err, "parity_batch": _PARITY_BATCH, "torch": torch.__version__,
            "onnx": onnx.__version__, "exporter": "torch.onnx dynamo"}


#: Converter of each weights kind: ``(weight file, spec, output folder) -> sidecar entries``.
CONVERTERS: dict[str, Callable[[Path, WeightSpec, Path], dict[str, Any]]] = {
    "sumsub_mobilenet": convert_sumsub,
    "open_clip": convert_open_clip,
}
