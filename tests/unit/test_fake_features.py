"""The probe's extra rows (``forensics.training.fake_features``, ``fit_pixel_heads.with_extra``): each
fake and its real come from one photo, keep that photo's fold, and only the sets the probe
learns from are trained on; the reals get their final encoding the same way every time."""

from __future__ import annotations

import json

import numpy as np

from forensics.training.fake_features import set_images
from forensics.training.fit_pixel_heads import vs_size_matched, with_extra


def tiny_cache(tmp_path):
    rows = [{"path": f"train/real/p{i}.jpg", "label": "real", "family": "real:x"} for i in range(4)]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    fakes = rng.integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    np.save(tmp_path / "frame256.npy", frames)
    np.save(tmp_path / "crop_pix2pix256.npy", fakes)
    (tmp_path / "pix2pix.json").write_text(json.dumps({"rows": [3, 1]}))
    return rows, frames, fakes


def test_each_frame_and_its_fake_come_from_the_row_pix2pix_json_names(tmp_path):
    rows, frames, fakes = tiny_cache(tmp_path)
    made = list(set_images("pix2pix_frame256", tmp_path, rows))
    assert [(i, key) for i, key, _ in made] == [(3, "pix2pix_frame256/train/real/p3.jpg"), (1, "pix2pix_frame256/train/real/p1.jpg")]
    assert all(np.array_equal(rgb, fakes[k]) for k, (_, _, rgb) in enumerate(made))
    reals = list(set_images("real_frame256", tmp_path, rows))
    assert [i for i, _, _ in reals] == [3, 1]
    again = list(set_images("real_frame256", tmp_path, rows))
    assert all(np.array_equal(a[2], b[2]) and a[2].shape == (256, 256, 3) for a, b in zip(reals, again))
    # the reals are given the reals' final encoding (JPEG most of the time), not kept as made
    assert any(not np.array_equal(rgb, frames[k]) for k, (_, _, rgb) in enumerate(reals))


def test_extra_rows_keep_their_photo_s_fold_and_lack_what_their_set_lacks():
    rows = [{"label": "real", "family": "real:a"}, {"label": "ai", "family": "sd1"}, {"label": "real", "family": "real:b"}]
    feats = {"eff_aug": np.zeros((3, 2)), "eff_q75": np.ones((3, 2))}
    y, fold, trainable = np.array([0, 1, 0]), np.array([4, 0, 2]), np.array([True, True, False])
    blocks = [("pix2pix_frame256", "ai", np.array([2, 0]), {"eff_aug": np.full((2, 2), 7.0)}, True),
              ("real256", "real", np.array([0]), {"eff_q75": np.full((1, 2), 5.0)}, False)]
    r, f, yy, ff, tt = with_extra(rows, feats, y, fold, trainable, blocks)
    assert [x["family"] for x in r[3:]] == ["pix2pix_frame256", "pix2pix_frame256", "real256"]
    assert yy.tolist() == [0, 1, 0, 1, 1, 0]
    assert ff.tolist() == [4, 0, 2, 2, 4, 4]
    assert tt.tolist() == [True, True, False, False, True, False]  # a row of a held-back photo, a set never trained on
    assert np.array_equal(f["eff_aug"][3:5], np.full((2, 2), 7.0)) and np.isnan(f["eff_aug"][5]).all()
    assert np.isnan(f["eff_q75"][3:5]).all() and np.array_equal(f["eff_q75"][5], [5.0, 5.0])


def test_a_family_is_ranked_against_the_size_matched_reals_alone():
    rows = [{"family": "gan"}, {"family": "gan"}, {"family": "real:a"}]
    y = np.array([1, 1, 0])
    scores = np.array([1.0, 3.0, 10.0])  # the material's real scores higher than both fakes
    assert vs_size_matched(rows, y, scores, np.array([0.0, 2.0, np.nan])) == {"gan": 0.75}


def test_rows_made_from_no_one_photo_are_never_held_out_and_always_trained_on():
    rows = [{"label": "real", "family": "real:a"}]
    feats = {"eff_aug": np.zeros((1, 2))}
    blocks = [("dcgan_tconv", "ai", np.array([-1, -1]), {"eff_aug": np.ones((2, 2))}, True)]
    _, _, _, fold, trainable = with_extra(rows, feats, np.array([0]), np.array([3]), np.array([False]), blocks)
    assert fold.tolist() == [3, -1, -1] and trainable.tolist() == [False, True, True]
