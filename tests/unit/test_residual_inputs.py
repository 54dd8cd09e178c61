"""``forensics.training.residual_inputs``: what the backbone reads of a crop in each form."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.requires("torch")


def test_each_residual_removes_what_it_is_built_to_remove_and_amplifies_the_rest():
    from forensics.training.backbones import pixels
    from forensics.training.residual_inputs import GAIN, residual

    rng = np.random.default_rng(5)
    flat = pixels(np.full((33, 31, 3), 140, np.uint8))
    blocks = pixels(np.kron(rng.integers(0, 256, (16, 15, 3)), np.ones((2, 2, 1))).astype(np.uint8))
    noise = pixels(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))

    assert residual(noise, "rgb") is noise
    assert float(residual(flat, "highpass").abs().max()) < 1e-6
    assert residual(flat, "npr").shape == (1, 3, 32, 30)      # an odd last row and column dropped
    assert float(residual(blocks, "npr").abs().max()) < 1e-6  # 2x2-constant: nothing up-sampling left

    # a faint pattern comes out GAIN times stronger, a strong one clipped to the backbone's range
    faint = pixels((128 + 4 * (-1) ** np.add.outer(np.arange(32), np.arange(32)))[..., None].repeat(3, 2).astype(np.uint8))
    r = residual(faint, "npr")
    assert np.allclose(r.abs().numpy(), GAIN * 4 / 127.5, atol=1e-5)
    assert float(residual(noise, "highpass").abs().max()) == 1.0
    with pytest.raises(ValueError, match="unknown input"):
        residual(noise, "dct")
