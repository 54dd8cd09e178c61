"""The default fusion's rule for weighing a pixel signal (forensics.training.fit_fusion): the AUROC's
standard error it uses agrees with a bootstrap near the rule's bound (Hanley and McNeil's
formula understates it for AUROCs far from 0.5, where the rule's decision does not hinge on it)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from forensics.training.metrics import auroc_se


@pytest.mark.parametrize(("shift", "n_pos", "n_neg"), [(0.0, 200, 1500), (-0.4, 46, 1500), (1.0, 80, 300)])
def test_auroc_standard_error_matches_a_bootstrap(shift, n_pos, n_neg):
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(shift, 1, n_pos), rng.normal(0, 1, n_neg)
    auc = roc_auc_score(np.r_[np.ones(n_pos), np.zeros(n_neg)], np.r_[pos, neg])
    boot = [roc_auc_score(np.r_[np.ones(n_pos), np.zeros(n_neg)],
                          np.r_[rng.choice(pos, n_pos), rng.choice(neg, n_neg)]) for _ in range(400)]
    assert auroc_se(auc, n_pos, n_neg) == pytest.approx(np.std(boot), rel=0.2)


def test_a_family_ranked_at_chance_is_not_below_it_but_a_reversed_one_is():
    assert 0.49 + 1.96 * auroc_se(0.49, 200, 1500) > 0.5
    assert 0.39 + 1.96 * auroc_se(0.39, 46, 1500) < 0.5


def test_a_size_matched_real_is_its_frame_to_the_probe_and_its_laundered_photo_to_the_metadata(tmp_path):
    from forensics.training.fit_fusion import size_matched_rows

    np.savez(tmp_path / "oof_heads.npz", real256_src=np.array([2, 0]), eff_real256_orig=np.array([-1.0, np.nan]),
             eff_real256_q75=np.array([0.5, -2.0]))
    S = {c: [{"exif": f"{c}{i}", "effnet_probe": 9.0, "npr": 9.0} for i in range(3)] for c in ("orig", "png", "q75")}
    src, rows = size_matched_rows(tmp_path, S)
    assert src.tolist() == [2, 0]
    assert rows["real256_q75"] == [{"exif": "q752", "effnet_probe": 0.5}, {"exif": "q750", "effnet_probe": -2.0}]
    # lossless: the frame as made beside the photo re-saved without its metadata; no score is not run
    assert rows["real256_png"] == [{"exif": "png2", "effnet_probe": -1.0}, {"exif": "png0", "effnet_probe": None}]


def test_the_small_images_likely_real_threshold_comes_from_the_held_out_ai_images_analysed_under_448_px():
    from forensics.training.fit_fusion import thresholds

    rng = np.random.default_rng(0)
    p = np.r_[rng.uniform(0, 0.5, 100), rng.uniform(0.5, 1, 100), rng.uniform(0, 1, 270)]
    y = np.r_[np.zeros(100, int), np.ones(370, int)]
    family = np.array(["camera"] * 100 + ["diffusion"] * 100 + ["gan"] * 270)
    side = np.r_[np.full(200, 512), np.full(270, 256)]
    gan = np.sort(p[200:])
    thr = thresholds(y, p, family, side)
    # every family weighed alike: 3 % of the AI weight is reached at the gan family's 17th lowest (each 1/540 of it);
    # 1 % of the small ones' weight (the gan family's alone) at its 3rd lowest (each 1/270)
    assert thr["real"] == round(float(gan[16]), 6) and thr["real_small"] == round(float(gan[2]), 6)
    assert "real_small" not in thresholds(y, p, family, np.full(470, 448))


def test_an_images_short_side_is_the_one_analysed_in_each_condition():
    from forensics.training.fit_fusion import short_sides

    rows = [{"height": 1000, "width": 300}, {"height": 600, "width": 901}, {"error": "unreadable"}]
    assert short_sides(rows, "orig").tolist() == short_sides(rows, "png").tolist() == [300, 600, 0]
    assert short_sides(rows, "q75").tolist() == [300, 512, 0]
    assert short_sides(rows, "downscale05").tolist() == [150, 300, 0]
    assert short_sides(rows, "real256_q75").tolist() == [256, 256, 256]
