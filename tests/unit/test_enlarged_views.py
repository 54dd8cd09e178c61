"""``forensics.training.enlarged_views``: the enlarged view shows the central region (or a drawn one)
blown up by the factor asked for, at most 512 px, the same draw for the same path; and
``fit_pixel_heads.training_set`` weighs those views as it says, the total weight unchanged."""

from __future__ import annotations

import numpy as np
from PIL import Image

from forensics.training.enlarged_views import enlarged, upaug
from forensics.training.fit_pixel_heads import TRAIN_VARIANTS, training_set


def test_the_central_region_is_enlarged_pixel_for_pixel():
    rgb = np.random.default_rng(0).integers(0, 256, (400, 300, 3), dtype=np.uint8)
    out = enlarged(rgb, 2, None, Image.NEAREST)
    assert out.shape == (512, 512, 3)
    # the region is 258 px (256 and a 2-px margin), from (71, 21); enlarged to 516 and centred: 2 px off
    i, j = np.meshgrid(np.arange(512), np.arange(512), indexing="ij")
    assert np.array_equal(out, rgb[71 + (i + 2) // 2, 21 + (j + 2) // 2])


def test_a_small_image_stays_whole_and_is_enlarged_up_to_the_crop():
    rgb = np.random.default_rng(1).integers(0, 256, (100, 60, 3), dtype=np.uint8)
    assert enlarged(rgb, 3, None, Image.BICUBIC).shape == (300, 180, 3)
    assert enlarged(rgb, 4, None, Image.BICUBIC).shape == (400, 240, 3)


def test_the_enlarged_view_is_drawn_by_the_path_alone():
    rgb = np.random.default_rng(2).integers(0, 256, (640, 480, 3), dtype=np.uint8)
    a, b = upaug(rgb, "train/ai/x.png"), upaug(rgb.copy(), "train/ai/x.png")
    assert np.array_equal(a, b) and max(a.shape[:2]) <= 512
    assert not np.array_equal(a, upaug(rgb, "train/real/y.png"))


def test_the_enlarged_rows_weigh_half_a_variant_row_and_the_total_is_kept():
    """Two families of two images each, plus a fake without an enlarged view: the fake gets no
    ``upaug`` row, each other image one at half a variant row's weight, and the weights still add up
    to what they did without them."""
    rows = [{"label": lab, "family": fam} for lab, fam in
            (("ai", "a"), ("ai", "a"), ("real", "r"), ("real", "r"), ("ai", "fake"))]
    y = np.array([r["label"] == "ai" for r in rows], int)
    rng = np.random.default_rng(0)
    feats = {f"eff_{v}": rng.normal(size=(5, 3)) for v in (*TRAIN_VARIANTS, "upaug")}
    feats["eff_upaug"][4] = np.nan
    idx = np.arange(5)
    x0, t0, w0 = training_set(rows, feats, y, idx, "eff", up_weight=0)
    x, t, w = training_set(rows, feats, y, idx, "eff", up_weight=0.5)
    n = len(TRAIN_VARIANTS) * 5
    assert len(x0) == n and len(x) == n + 4 and np.isfinite(x).all()
    assert np.array_equal(x[n:], feats["eff_upaug"][:4]) and np.array_equal(t[n:], y[:4])
    assert np.isclose((w * len(w)).sum(), (w0 * len(w0)).sum())
    assert np.allclose(w[n:], 0.5 * w[:4]) and np.allclose(w[:n] / w0, w[0] / w0[0])


