"""``forensics.training.probe_upscaled``: the enlarged variants show the central region (or a drawn
one) blown up by the factor asked for, at most 512 px, and the same draws for the same path; the
learned upscaler draws on the central region enlarged x4, over a multiple of 128 px."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.requires("torch")


def test_the_central_region_is_enlarged_pixel_for_pixel():
    from forensics.training.probe_upscaled import enlarged

    rgb = np.random.default_rng(0).integers(0, 256, (400, 300, 3), dtype=np.uint8)
    out = enlarged(rgb, 2, None, Image.NEAREST)
    assert out.shape == (512, 512, 3)
    # the region is 258 px (256 and a 2-px margin), from (71, 21); enlarged to 516 and centred: 2 px off
    i, j = np.meshgrid(np.arange(512), np.arange(512), indexing="ij")
    assert np.array_equal(out, rgb[71 + (i + 2) // 2, 21 + (j + 2) // 2])


def test_a_small_image_stays_whole_and_is_enlarged_up_to_the_crop():
    from forensics.training.probe_upscaled import enlarged

    rgb = np.random.default_rng(1).integers(0, 256, (100, 60, 3), dtype=np.uint8)
    assert enlarged(rgb, 3, None, Image.BICUBIC).shape == (300, 180, 3)
    assert enlarged(rgb, 4, None, Image.BICUBIC).shape == (400, 240, 3)


def test_the_variants_are_drawn_by_the_path_alone():
    from forensics.training.probe_upscaled import variants

    rgb = np.random.default_rng(2).integers(0, 256, (640, 480, 3), dtype=np.uint8)
    a, b = variants(rgb, "train/ai/x.png"), variants(rgb.copy(), "train/ai/x.png")
    c = variants(rgb, "train/real/y.png")
    for v in ("upq75", "upaug"):
        assert np.array_equal(a[v], b[v])
        assert max(a[v].shape[:2]) <= 512
    assert not all(np.array_equal(a[v], c[v]) for v in ("upq75", "upaug"))


def test_the_learned_upscaler_draws_on_the_central_region_enlarged_x4():
    """With a generator that draws nothing (the identity), the result is the central region's x4
    bilinear enlargement as the ``detail`` task hands it over, over a multiple of 128 px."""
    import torch

    from forensics.training.probe_upscaled import enlarged, learned

    smooth = np.asarray(Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 20, 3), dtype=np.uint8))
                        .resize((200, 300), Image.BICUBIC))
    out = learned(smooth, torch.nn.Identity())
    assert out.shape == (512, 512, 3)
    ref = enlarged(smooth, 4, None, Image.BILINEAR)
    assert np.abs(out.astype(int) - ref.astype(int)).mean() < 2
    assert learned(np.zeros((100, 90, 3), np.uint8), torch.nn.Identity()).shape == (384, 256, 3)
    assert learned(np.zeros((20, 20, 3), np.uint8), torch.nn.Identity()) is None
