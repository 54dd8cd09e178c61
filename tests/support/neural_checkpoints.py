"""Checkpoints built by the tests in the exact public file formats (random weights, never shipped).

* :func:`sumsub_folder` writes a folder laid out like ``Sumsub/Sumsub-ffs-synthetic-1.0_sd_5``:
  ``config.json``, ``diffusions5M.pt`` (a ``torch.save``'d state dict of Model5M: the timm
  backbone under ``model.`` and the head under ``clf.``; float16 conv/linear weights beside
  float32 batch-norm tensors and int64 counters, like the public file), ``diffusions5M.py``
  and ``pipeline.py`` (stand-ins; never imported).
* :func:`tiny_clip_checkpoint` writes an open_clip state dict of a tiny CLIP config.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

MODEL5M_SOURCE = '''import timm
import torch


class Model5M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.model = timm.create_model("tf_mobilenetv3_large_100", pretrained=False, num_classes=0)
        self.clf = torch.nn.Sequential(torch.nn.Linear(1280, 128), torch.nn.ReLU(inplace=True), torch.nn.Linear(128, 2))

    def forward(self, image):
        return self.clf(self.model(image))
'''

#: Sumsub's config.json names the labels; its pipeline pairs id2label["0"] with softmax[:, 1].
SUMSUB_CONFIG = {"id2label": {"0": "AI", "1": "Real"}, "label2id": {"AI": "0", "Real": "1"}}

TINY_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


class Model5M(torch.nn.Module):
    """The public Model5M architecture (same module names as the published file)."""

    def __init__(self) -> None:
        super().__init__()
        import timm

        self.model = timm.create_model("tf_mobilenetv3_large_100", pretrained=False, num_classes=0)
        self.clf = torch.nn.Sequential(torch.nn.Linear(1280, 128), torch.nn.ReLU(inplace=True), torch.nn.Linear(128, 2))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.clf(self.model(image))


def model5m(seed: int = 0) -> Model5M:
    torch.manual_seed(seed)
    m = Model5M()
    with torch.no_grad():  # non-trivial batch-norm statistics, so preprocessing errors show up
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
    return m.eval()


def mixed_state_dict(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    """float16 for conv/linear weights, float32 for the rest, int64 counters: the public mix."""
    out = {}
    for k, v in m.state_dict().items():
        if v.dtype == torch.float32 and v.ndim >= 2:
            v = v.half()
        out[k] = v.clone()
    return out


def sumsub_folder(dest: Path, seed: int = 0, config: dict | None = None) -> tuple[Path, Model5M]:
    """A Sumsub-style folder with a random-weight Model5M; returns the folder and the model
    (its float32 weights rounded through float16 exactly as saved)."""
    dest.mkdir(parents=True, exist_ok=True)
    m = model5m(seed)
    state = mixed_state_dict(m)
    torch.save(state, dest / "diffusions5M.pt")
    m.load_state_dict(state)  # the reference now holds the same (float16-rounded) values
    (dest / "config.json").write_text(json.dumps(config or SUMSUB_CONFIG, indent=2))
    (dest / "diffusions5M.py").write_text(MODEL5M_SOURCE)
    (dest / "pipeline.py").write_text("# stand-in for Sumsub's pipeline.py; forensics never imports it\n")
    return dest, m


def tiny_clip(seed: int = 0, quick_gelu: bool = True):
    import open_clip

    torch.manual_seed(seed)
    return open_clip.CLIP(**json.loads(json.dumps(TINY_CLIP_CFG)), quick_gelu=quick_gelu).eval()


def tiny_clip_checkpoint(dest: Path, seed: int = 0, quick_gelu: bool = True):
    """``open_clip_pytorch_model.bin`` (a plain state dict, as open_clip publishes) of a tiny CLIP."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    m = tiny_clip(seed, quick_gelu)
    torch.save(m.state_dict(), dest)
    return dest, m
