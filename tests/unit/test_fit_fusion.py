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
