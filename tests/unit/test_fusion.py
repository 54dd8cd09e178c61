import json
import math

import numpy as np
import pytest

from forensics import FusionError
from forensics.fusion import Feature, LogisticFusion, default_fusion, platt_scale


def synthetic(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = rng.normal(y * 1.5, 1.0)
    b = rng.normal(y * 0.8, 1.0) * 10 + 3  # another scale and offset
    rows = [{"a": float(x1), "b": float(x2)} for x1, x2 in zip(a, b)]
    return rows, y


@pytest.fixture(scope="module")
def fitted():
    rows, y = synthetic()
    prior = {"meta": Feature("meta", "prior", 12.0, note="decisive when present")}
    return LogisticFusion(priors=prior).fit(rows, y), rows, y


def test_contributions_sum_to_logit(fitted):
    model, rows, _ = fitted
    for r in rows[:50] + [{"a": 1.0, "b": None, "meta": 1.0}, {}]:
        e = model.explain(r)
        assert abs(e.intercept + math.fsum(e.contributions.values()) - e.logit) < 1e-9
        manual = model.intercept_ + sum(model.features_[n].coef * model.features_[n].z(v) for n, v in r.items() if v is not None)
        assert abs(manual - e.logit) < 1e-9


def test_the_base_rate_shifts_the_prior_and_the_thresholds_are_likelihood_ratios(fitted):
    from forensics.decision import DecisionRule

    model, rows, _ = fitted
    assert model.thresholds_at(0.5) == model.thresholds_
    lr = model.log_lr_thresholds()
    for b in (0.01, 0.3, 0.5, 0.97):
        shift = math.log(b / (1 - b))
        for r in rows[:40]:
            e, even = model.explain(r, base_rate=b), model.explain(r)
            assert e.prior_log_odds == pytest.approx(model.intercept_ + shift)
            assert e.logit == pytest.approx(even.logit + shift) and e.log_lr == even.log_lr
            want = "likely_ai" if e.log_lr >= lr["ai"] else "likely_real" if e.log_lr <= lr["real"] else "inconclusive"
            if min(abs(e.log_lr - lr["ai"]), abs(e.log_lr - lr["real"])) > 1e-9:  # not on a threshold, where rounding decides
                assert DecisionRule(model).decide(e, b)[0].verdict == want
    with pytest.raises(ValueError, match="base_rate must be a share of AI images strictly between 0 and 1"):
        model.explain(rows[0], base_rate=0.0)


def test_no_evidence_gets_the_prior_and_decisive_evidence_holds_at_any_base_rate(fitted):
    model, _, _ = fitted
    for b in (0.01, 0.5):
        assert model.explain({}, base_rate=b).probability == pytest.approx(1 / (1 + math.exp(-model.intercept_) * (1 - b) / b))
    decisive = LogisticFusion.from_dict({**model.to_dict(), "features": [
        {**f.to_dict(), "decisive_at": 0.9} if f.name == "meta" else f.to_dict() for f in model.features_.values()]})
    e = decisive.explain({"a": -3.0, "meta": 1.0}, base_rate=0.001)
    assert e.decisive == ("meta",) and e.logit == pytest.approx(decisive.decisive_logit)


def test_feature_names_sorted_and_checked(fitted):
    model, _, _ = fitted
    assert list(model.feature_names_in_) == ["a", "b", "meta"]
    e = model.explain({"a": 0.0, "zzz": 3.0})
    assert e.unknown == ("zzz",) and set(e.missing) == {"b", "meta"}


def test_missing_signal_contributes_zero_and_still_separates(fitted):
    model, rows, y = fitted
    from sklearn.metrics import roc_auc_score

    only_a = [{"a": r["a"]} for r in rows]
    p = model.predict_proba(only_a)[:, 1]
    assert roc_auc_score(y, p) > 0.8
    assert model.explain({"a": 0.3}).contributions["b"] == 0.0


def test_fitted_contributions_are_bounded_by_clipping(fitted):
    model, _, _ = fitted
    worst = model.explain({"a": -1e6, "b": 1e6 * -np.sign(model.features_["b"].coef), "meta": 1.0})
    bound = sum(abs(model.features_[n].coef) * model.clip for n in ("a", "b"))
    assert worst.contributions["a"] + worst.contributions["b"] == pytest.approx(-bound)
    assert worst.contributions["meta"] == 12.0


def test_json_round_trip_gives_identical_probabilities(fitted, tmp_path):
    model, rows, _ = fitted
    path = tmp_path / "fusion.json"
    model.save(path)
    again = LogisticFusion.load(path)
    assert np.array_equal(model.predict_proba(rows), again.predict_proba(rows))
    assert json.loads(path.read_text())["format"] == "forensics.fusion"


def test_fit_refuses_too_few_labels():
    rows, y = synthetic(n=6)
    with pytest.raises(FusionError, match="at least 5 of each"):
        LogisticFusion().fit(rows[:6], [0, 0, 0, 1, 1, 1])


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"format": "something.else"}))
    with pytest.raises(FusionError, match=r"not a fusion file \(format 'something.else'"):
        LogisticFusion.load(p)
    p.write_text(json.dumps({"format": "forensics.fusion", "format_version": 1, "features": [{"name": "a"}]}))
    with pytest.raises(FusionError, match="malformed fusion file"):
        LogisticFusion.load(p)


def test_unfitted_model_says_so():
    with pytest.raises(FusionError, match="not fitted"):
        LogisticFusion().explain({})


def test_default_fusion_loads():
    model = default_fusion()
    assert model.thresholds_["real"] <= model.thresholds_["ai"]


def test_balanced_class_weight_centres_the_intercept():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(300, int), np.ones(60, int)]  # 1:5 imbalance
    rows = [{"a": float(v)} for v in rng.normal(y * 1.0, 1.0)]
    plain = LogisticFusion(drop_rate=0.0).fit(rows, y)
    balanced = LogisticFusion(drop_rate=0.0, class_weight="balanced").fit(rows, y)
    assert plain.intercept_ < -1.0  # learnt the 1:5 base rate
    assert abs(balanced.intercept_) < 0.35  # even odds, up to the feature's own offset


def test_default_fusion_matches_the_shipped_signals():
    """A changed DCT head or feature version without a refit of the fusion fails here."""
    from forensics.signals import create_signal, fingerprint_of

    model = default_fusion()
    assert set(model.signals_) == {n for n, f in model.features_.items() if f.kind == "fitted"}
    for name, recorded in model.signals_.items():
        assert recorded == fingerprint_of(create_signal(name))


def test_default_fusion_decisive_evidence_outweighs_every_pixel_signal():
    model = default_fusion()
    pixels_say_real = {n: -1e9 for n, f in model.features_.items() if f.kind == "fitted" or not f.calibrated}
    for decisive in ("c2pa", "generator_metadata", "watermark"):
        e = model.explain({decisive: 1.0, **pixels_say_real})
        assert e.probability >= 0.999 and e.decisive == (decisive,), decisive
        assert abs(e.intercept + math.fsum(e.contributions.values()) - e.logit) < 1e-9
    # below the decisive level the prior is an ordinary weight, and nothing is lifted
    e = model.explain({"generator_metadata": 0.4, **pixels_say_real})
    from forensics.signals import create_signal

    weight = create_signal("generator_metadata").prior.weight
    assert e.decisive == () and e.contributions["generator_metadata"] == pytest.approx(0.4 * weight)


def test_decisive_floor_only_raises():
    feats = [Feature("meta", "prior", 12.0, decisive_at=1.0).to_dict(), Feature("a", "prior", 1.0).to_dict()]
    model = LogisticFusion.from_dict({"format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
                                      "features": feats, "thresholds": {"ai": 0.8, "real": 0.2}})
    assert model.explain({"meta": 1.0, "a": 3.0}).contributions["meta"] == 12.0  # already above the floor
    lifted = model.explain({"meta": 1.0, "a": -30.0})
    assert lifted.logit == pytest.approx(model.decisive_logit) and lifted.contributions["meta"] > 12.0


def test_fusion_refuses_a_signal_it_was_not_fitted_on():
    from forensics import Engine
    from support.toy_signals import Brightness

    rows, y = synthetic()
    model = LogisticFusion().fit([{"brightness": r["a"]} for r in rows], y)
    model.signals_ = {"brightness": {"version": "0"}}
    with pytest.raises(FusionError, match=r"fitted on another 'brightness' \(version 0 -> 1\)"):
        Engine([Brightness()], fusion=model).analyze(np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("patch,match", [
    ({"params": {"C": 1.0, "bogus": 3}}, r"unknown params \['bogus'\]"),
    ({"params": {"C": None}}, "expected a number, got NoneType"),
    ({"intercept": "0.5"}, "expected a number, got str"),
    ({"signals": ["dct"]}, "malformed fusion file"),
])
def test_malformed_fusion_fields_are_refused_clearly(tmp_path, patch, match):
    good = LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
        "features": [Feature("a", "prior", 1.0).to_dict()], "thresholds": {"ai": 0.8, "real": 0.2}}).to_dict()
    path = tmp_path / "f.json"
    path.write_text(json.dumps({**good, **patch}))
    with pytest.raises(FusionError, match=match):
        LogisticFusion.load(path)


def test_nan_in_a_fusion_file_is_refused(tmp_path):
    good = LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
        "features": [Feature("a", "prior", 1.0).to_dict()], "thresholds": {"ai": 0.8, "real": 0.2}}).to_dict()
    path = tmp_path / "f.json"
    path.write_text(json.dumps(good).replace('"coef": 1.0', '"coef": NaN'))
    with pytest.raises(FusionError, match="NaN is not a number this file may hold"):
        LogisticFusion.load(path)


def test_the_shipped_priors_are_the_ones_the_signals_declare():
    """A prior and its decisive threshold live on the signal's class; the fusion file follows."""
    from forensics.fusion import signal_priors

    shipped = default_fusion().features_
    declared = signal_priors()
    assert declared == {n: f for n, f in shipped.items() if f.kind == "prior"}
    assert declared["generator_metadata"].decisive_at == 0.9 and declared["watermark"].decisive_at == 1.0


def test_fusion_priors_apply_rewrites_a_prior_without_the_corpus(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from forensics.fusion import DEFAULT_FUSION

    repo = Path(__file__).resolve().parents[2]
    shipped = repo / "fusion" / "data" / DEFAULT_FUSION
    data = json.loads(shipped.read_text())
    exif = next(f for f in data["features"] if f["name"] == "exif")
    exif["coef"] = 3.0  # as if the signal's prior had been 3.0
    path = tmp_path / "fusion.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    script = [sys.executable, "-m", "forensics.training.fusion_priors", "--fusion", str(path)]
    assert subprocess.run(script, capture_output=True).returncode == 1  # out of date
    out = subprocess.run([*script, "--apply"], capture_output=True, text=True, check=True).stdout
    assert "changed exif" in out
    assert path.read_text() == shipped.read_text()


def test_platt_scale_recovers_the_scale_of_held_out_rows_and_rescale_keeps_priors(fitted):
    import copy

    model, _, _ = fitted
    model = copy.deepcopy(model)
    rows, _ = synthetic(n=6000, seed=3)
    logit = model.decision_function(rows)
    y = (np.random.default_rng(4).random(len(rows)) < 1 / (1 + np.exp(-(0.4 * logit - 0.3)))).astype(int)
    part, offset = model.split_logit(rows + [{"a": 0.0, "meta": 1.0}])
    assert np.allclose(part[:-1], logit) and np.all(offset[:-1] == 0) and offset[-1] == 12.0
    a, b = platt_scale(part[:-1], offset[:-1], y, balanced=False)  # the generating scale and shift
    assert a == pytest.approx(0.4, abs=0.05) and b == pytest.approx(-0.3, abs=0.1)
    before = {n: f.coef for n, f in model.features_.items()}
    model.rescale(a, b)
    assert model.features_["meta"].coef == before["meta"]
    for n in ("a", "b"):
        assert model.features_[n].coef == pytest.approx(before[n] * a)
    assert np.allclose(model.decision_function(rows), a * logit + b)
    e = model.explain({"a": 0.0, "meta": 1.0})
    assert abs(e.intercept + math.fsum(e.contributions.values()) - e.logit) < 1e-9
    assert e.contributions["meta"] == 12.0


def test_platt_scale_leaves_decisive_rows_out_and_refuses_what_it_cannot_rank():
    from forensics.fusion import signal_priors

    rows, y = synthetic()
    model = LogisticFusion(priors=signal_priors()).fit(rows, y)
    decisive = next(n for n, f in signal_priors().items() if f.decisive_at is not None)
    part, _ = model.split_logit([{"a": 1.0, decisive: signal_priors()[decisive].decisive_at}])
    assert np.isnan(part).all()
    part, offset = model.split_logit(rows)
    with pytest.raises(FusionError, match="positive scale"):
        platt_scale(part, offset, 1 - np.asarray(y))
    with pytest.raises(FusionError, match="a > 0"):
        model.rescale(-1.0, 0.0)


def test_neutral_point_fit_keeps_no_evidence_at_even_odds_and_signs_with_the_scores(tmp_path):
    """Scores that are log-odds at even odds, fitted without intercept or centring: no evidence
    is P = 0.5, each contribution has its score's sign, and the settings survive a file."""
    rng = np.random.default_rng(7)
    y = np.r_[np.zeros(300, int), np.ones(100, int)]
    rows = [{"a": float(v), "b": float(w)} for v, w in zip(rng.normal(np.where(y, 2.5, -1.0), 1.5),
                                                           rng.normal(np.where(y, 1.0, -0.5), 1.0))]
    model = LogisticFusion(class_weight="balanced", fit_intercept=False, with_mean=False).fit(rows, y)
    assert model.intercept_ == 0.0
    assert all(model.features_[n].center == 0.0 and model.features_[n].coef > 0 for n in ("a", "b"))
    assert model.predict_proba([{}])[0, 1] == 0.5
    for r in rows[:50]:
        e = model.explain(r)
        assert all(np.sign(e.contributions[n]) == np.sign(r[n]) for n in ("a", "b"))
    path = tmp_path / "neutral.json"
    model.save(path)
    again = LogisticFusion.load(path)
    assert (again.fit_intercept, again.with_mean) == (False, False)
    assert again.fit(rows, y).intercept_ == 0.0
    centred = LogisticFusion(class_weight="balanced").fit(rows, y)
    assert centred.features_["a"].center == pytest.approx(np.mean([r["a"] for r in rows]))


def test_platt_scale_without_shift_keeps_the_neutral_point():
    rng = np.random.default_rng(5)
    part = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.5 * part + 0.8)))).astype(int)
    a, b = platt_scale(part, np.zeros(4000), y, balanced=False, shift=False)
    assert b == 0.0 and a > 0
    a_shift, b_shift = platt_scale(part, np.zeros(4000), y, balanced=False)
    assert b_shift == pytest.approx(0.8, abs=0.15) and a_shift == pytest.approx(0.5, abs=0.05)


def test_a_fusion_may_hold_a_likely_real_threshold_for_small_images_at_most_its_own(fitted):
    model, _, _ = fitted
    d = model.to_dict()
    small = LogisticFusion.from_dict({**d, "thresholds": {**d["thresholds"], "real_small": 0.01}})
    assert small.thresholds_["real_small"] == 0.01 and small.to_dict()["thresholds"]["real_small"] == 0.01
    assert small.thresholds_at(0.9)["real_small"] == pytest.approx(1 / (1 + 99 / 9))
    with pytest.raises(FusionError, match="real_small <= real"):
        LogisticFusion.from_dict({**d, "thresholds": {**d["thresholds"], "real_small": d["thresholds"]["real"] + 0.01}})
    with pytest.raises(FusionError, match="unknown thresholds"):
        LogisticFusion.from_dict({**d, "thresholds": {**d["thresholds"], "real_tiny": 0.01}})
