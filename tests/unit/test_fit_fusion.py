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
