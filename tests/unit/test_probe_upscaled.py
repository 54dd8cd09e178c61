"""``forensics.training.probe_upscaled``: the test condition is drawn by the path alone, and the
learned upscaler draws on the central region enlarged x4, over a multiple of 128 px."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.requires("torch")


def test_the_enlarged_test_condition_is_drawn_by_the_path_alone():
    from forensics.training.probe_upscaled import upq75

    rgb = np.random.default_rng(2).integers(0, 256, (640, 480, 3), dtype=np.uint8)
    a, b = upq75(rgb, "train/ai/x.png"), upq75(rgb.copy(), "train/ai/x.png")
    assert np.array_equal(a, b) and a.shape == (512, 512, 3)
    assert any(not np.array_equal(a, upq75(rgb, f"train/real/{k}.png")) for k in range(3))


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
