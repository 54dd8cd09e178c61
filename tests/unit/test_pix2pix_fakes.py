"""``forensics.training.pix2pix_fakes``: the generator redraws a photo from a copy that keeps
neither its colour nor its detail finer than 4 px, at the size it was given."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.requires("torch")


def test_the_generators_input_keeps_no_colour_and_no_detail_under_4px():
    import torch

    from forensics.training.pix2pix_fakes import degrade

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(-0.5, 0.5, (1, 3, 32, 32)).astype(np.float32))
    # move every pixel, and the colour, while keeping each 4x4 block's mean luminance
    shift = torch.from_numpy(rng.uniform(-0.2, 0.2, (1, 1, 32, 32)).astype(np.float32))
    shift -= torch.nn.functional.avg_pool2d(shift, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    lum = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    tint = torch.tensor([0.114, 0.0, -0.299]).view(1, 3, 1, 1)  # no luminance
    assert abs(float((tint * lum).sum())) < 1e-6
    y = x + shift + tint
    a, b = degrade(x), degrade(y)
    assert torch.equal(a[:, 0], a[:, 1]) and torch.equal(a[:, 0], a[:, 2])
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(x, y, atol=1e-2)


def test_a_frame_is_redrawn_at_its_own_size_and_the_same_way_twice():
    import torch

    from forensics.training.pix2pix_fakes import UNet, translate

    torch.manual_seed(0)
    net = UNet().eval()
    rgb = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    out = translate(net, rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out, translate(net, rgb))


def test_the_label_map_task_gives_flat_regions_of_four_levels_per_channel():
    """``flatten`` keeps colour but no detail under 4 px, and draws it in at most four levels per
    channel: a smooth gradient becomes a few flat bands with hard edges between them."""
    import torch

    from forensics.training.pix2pix_fakes import flatten, translate, UNet

    ramp = torch.linspace(-1, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64).clone()
    ramp[:, 1] *= -1  # a colour, not a grey
    flat = flatten(ramp)
    assert flat.shape == ramp.shape
    levels = torch.unique(flat)
    assert 2 < len(levels) <= 4 and torch.allclose(levels, torch.round((levels + 1) * 1.5) / 1.5 - 1)
    assert flat[0, 0, 0, 0] < flat[0, 0, 0, -1] and flat[0, 1, 0, 0] > flat[0, 1, 0, -1]  # each channel keeps its own
    assert int((flat[0, 0, 0, 1:] != flat[0, 0, 0, :-1]).sum()) == len(levels) - 1  # bands, not a ramp
    torch.manual_seed(0)
    rgb = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    net = UNet().eval()
    assert not np.array_equal(translate(net, rgb, "flat"), translate(net, rgb))


@pytest.mark.parametrize("arch", ["resnet", "resnet_resize", "esrgan"])
def test_every_other_design_redraws_at_its_own_size_and_loads_back_as_saved(arch, tmp_path):
    """CycleGAN's design (either up-sampling) and the ESRGAN-style upscaler: same size out, the
    same image twice, and the tensors ``save`` writes (numpy, no pickle) give back the very same
    generator."""
    import torch

    from forensics.training.pix2pix_fakes import ARCHS, load, save, translate

    torch.manual_seed(0)
    net = ARCHS[arch]().eval()
    rgb = np.random.default_rng(2).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    out = translate(net, rgb)
    assert out.shape == rgb.shape and np.array_equal(out, translate(net, rgb))
    save(net, tmp_path / "g.npz")
    assert np.array_equal(translate(load(tmp_path / "g.npz", arch), rgb), out)
    with pytest.raises(RuntimeError):  # another design's tensors do not fit
        load(tmp_path / "g.npz", "unet")
