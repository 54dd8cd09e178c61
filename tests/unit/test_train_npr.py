"""The networks ``forensics.training.train_npr`` trains: both give the ``npr`` signal's logit map
(one logit per 8-px cell), and the LaDeDa-style ``local`` network reads only a small neighbourhood."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.requires("torch")


@pytest.mark.parametrize("name", ["npr", "local"])
def test_each_network_gives_a_logit_per_8px_cell(name):
    import torch

    from forensics.training.train_npr import NETS

    torch.manual_seed(0)
    net = NETS[name]().eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 1, 8, 12)


def test_the_local_network_reads_13_px_around_each_cell():
    """A pixel changed in one corner moves the cells next to it and no cell two cells away or
    more (receptive field 13 px: gradient 3, two stride-2 3x3 convolutions, a 2x2 mean)."""
    import torch

    from forensics.training.train_npr import LocalNet

    torch.manual_seed(0)
    net = LocalNet().eval()
    x = torch.rand(1, 3, 64, 64)
    y = x.clone()
    y[0, :, 0, 0] = 1 - y[0, :, 0, 0]
    with torch.no_grad():
        moved = (net(x) - net(y)).abs()[0, 0] > 1e-6
    assert moved[0, 0]
    assert not moved[2:, :].any() and not moved[:, 2:].any()


def test_each_recipe_adds_its_sets_in_the_fold_of_the_photo_they_came_from(tmp_path):
    """``taesd`` adds its fakes of the rows it names; ``pix2pix`` adds the redrawn frames as AI and
    the frames themselves (with the reals' final encoding) as reals, both naming the same photos."""
    import json

    import numpy as np

    from forensics.training.train_npr import recipe_sets

    rows = [{"path": f"train/real/p{i}.jpg", "label": "real", "family": "real:x"} for i in range(4)]
    rng = np.random.default_rng(0)
    taesd = rng.integers(0, 256, (4, 128, 128, 3), dtype=np.uint8)
    np.save(tmp_path / "crop_taesd.npy", taesd)
    (tmp_path / "taesd.json").write_text(json.dumps({"rows": [2, 0], "size": 128}))
    frames = rng.integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    fakes = rng.integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    np.save(tmp_path / "frame256.npy", frames)
    np.save(tmp_path / "crop_pix2pix256.npy", fakes)
    (tmp_path / "pix2pix.json").write_text(json.dumps({"rows": [3, 1]}))

    [(name, label, src, images)] = list(recipe_sets(tmp_path, "taesd", rows))
    assert (name, label, src.tolist()) == ("taesd", 1.0, [0, 2])
    assert np.array_equal(images, taesd[[0, 2]])

    made = list(recipe_sets(tmp_path, "pix2pix", rows))
    assert [(name, label, src.tolist()) for name, label, src, _ in made] == [
        ("pix2pix_frame256", 1.0, [3, 1]), ("real_frame256", 0.0, [3, 1])]
    assert np.array_equal(made[0][3], fakes)
    assert made[1][3].shape == frames.shape and not np.array_equal(made[1][3], frames)  # JPEG most of the time
