"""Fusion and calibration files (issue 22, item 9): every number finite and within documented
bounds, products included, so that no file can make every analysis fail with inf - inf."""

from __future__ import annotations

import json

import pytest

from forensics.calibration import Calibration
from forensics.errors import CalibrationError, FusionError
from forensics.fusion import LogisticFusion
from forensics.fusion.logistic import MAX_CENTER, MAX_GAIN, MAX_WEIGHT


def fusion_dict(**feature) -> dict:
    feat = {"name": "exif", "kind": "prior", "coef": 1.5, **feature}
    return {"format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
            "features": [feat, {"name": "npr", "kind": "fitted", "coef": 1.0, "clip": 5.0}],
            "thresholds": {"ai": 0.9, "real": 0.2}}


@pytest.mark.parametrize("feature, what", [
    ({"coef": 1e308, "scale": 1e-300}, "coef"),
    ({"coef": 1e308}, "coef"),
    ({"scale": 1e-300}, "scale"),
    ({"center": -1e300}, "center"),
    ({"clip": 1e300}, "clip"),
    ({"coef": 90.0, "clip": 900.0}, "coef x clip"),
    ({"coef": 90.0, "scale": 1e-5}, "coef / scale"),
    ({"decisive_at": 1e300}, "decisive_at"),
])
def test_absurd_fusion_numbers_are_refused(feature, what, tmp_path):
    path = tmp_path / "fusion.json"
    path.write_text(json.dumps(fusion_dict(**feature)))
    with pytest.raises(FusionError, match=f"{what}.*(bound|at most|at least)"):
        LogisticFusion.load(path)


@pytest.mark.parametrize("key, value", [("intercept", 1e308), ("intercept", -1e200)])
def test_absurd_intercept_and_params_are_refused(key, value):
    d = fusion_dict()
    d[key] = value
    with pytest.raises(FusionError, match=f"{key}.*at most"):
        LogisticFusion.from_dict(d)
    d = fusion_dict()
    d["params"] = {"decisive_logit": 1e300}
    with pytest.raises(FusionError, match="decisive_logit.*at most"):
        LogisticFusion.from_dict(d)


def test_bounded_numbers_always_give_a_finite_logit():
    d = fusion_dict(coef=MAX_WEIGHT, scale=MAX_WEIGHT / MAX_GAIN, center=-MAX_CENTER)
    d["intercept"] = MAX_WEIGHT
    model = LogisticFusion.from_dict(d)
    ex = model.explain({"exif": 1e12, "npr": -1e300})
    assert ex.logit == ex.logit and abs(ex.logit) < float("inf")


def test_the_default_fusion_is_within_the_bounds():
    from forensics.fusion import default_fusion

    assert default_fusion().features_


def test_absurd_calibration_numbers_are_refused():
    from forensics.calibration.calibration import FORMAT, FORMAT_VERSION

    base = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": "conformal", "target_fpr": 0.05,
            "real_logits": [0.0, 1.0], "real_contributions": [{}, {}], "real_decisive": [[], []], "decisive_logit": 6.91,
            "signals": {}, "base_fusion_sha256": "0" * 64}
    assert Calibration.from_dict(base).n_real == 2
    for key, value in [("real_logits", [1e308, 0.0]), ("real_contributions", [{"exif": -1e300}, {}]),
                       ("decisive_logit", 1e300)]:
        with pytest.raises(CalibrationError, match=f"{key}.*at most"):
            Calibration.from_dict({**base, key: value})
