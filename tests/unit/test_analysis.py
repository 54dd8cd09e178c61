import json
import math

import pytest

from forensics import Engine, ImageLoadError, analyze
from forensics.analysis import validate_row
from forensics.fusion import Feature, LogisticFusion
from support.images import encode, natural_rgb
from support.toy_signals import Brightness, Contrast, Exploding, NoWeights


def fusion_for(**coefs) -> LogisticFusion:
    feats = {n: Feature(n, "prior", c, center=0.5, scale=0.1) for n, c in coefs.items()}
    return LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": -0.25,
        "features": [f.to_dict() for f in feats.values()], "thresholds": {"ai": 0.8, "real": 0.2},
        "provenance": {"name": "test"}})


@pytest.fixture
def png():
    return encode(natural_rgb(128, 160), "PNG")


def test_breakdown_sums_to_logit_and_validates(png):
    eng = Engine([Brightness(), Contrast()], fusion=fusion_for(brightness=1.5, contrast=-0.7))
    a = eng.analyze(png)
    total = a.intercept + math.fsum(s.contribution for s in a.signals)
    assert abs(total - a.logit) < 1e-9
    assert a.probability == pytest.approx(1 / (1 + math.exp(-a.logit)))
    d = a.to_dict()
    validate_row(d)
    assert d["verdict"] in ("likely_ai", "likely_real", "inconclusive")
    # the thresholds as log likelihood ratios: their log-odds less the intercept (-0.25)
    assert d["decision"] == {"method": "fusion_thresholds", "base_rate": 0.5, "threshold_ai": 0.8, "threshold_real": 0.2,
                             "log_lr_ai": pytest.approx(math.log(4) + 0.25), "log_lr_real": pytest.approx(-math.log(4) + 0.25),
                             "small_side": None}
    assert d["base_rate"] == 0.5 and d["prior_log_odds"] == -0.25
    hm = d["signals"][0]["heatmap"]
    assert len(hm) == 16 and len(hm[0]) == 20


def test_one_pass_gives_typed_parts_whose_dicts_are_the_rows(png):
    from forensics.basis import Basis
    from forensics.decision import Decision, DecisionRule, FusionInfo

    eng = Engine([Brightness(), Contrast()], fusion=fusion_for(brightness=1.5, contrast=-0.7))
    a = eng.analyze(png)
    assert isinstance(a.decision, Decision) and isinstance(a.basis, Basis) and isinstance(a.fusion, FusionInfo)
    assert a.calibration is None and a.verdict == a.decision.verdict and a.headline == a.basis.headline
    d = a.to_dict()
    assert (d["decision"], d["basis"], d["fusion"]) == (a.decision.to_dict(), a.basis.to_dict(), a.fusion.to_dict())
    assert d["fusion"] == {"name": "test", "sha256": eng.fusion_.sha256(), "uncalibrated": []}
    # the rule alone, on the fusion's explanation of the scores, gives the engine's decision
    expl = eng.fusion_.explain({s.name: s.result.score for s in a.signals})
    assert DecisionRule(eng.fusion_).decide(expl)[0] == a.decision


def test_an_image_under_448_px_a_side_is_held_to_the_fusions_likely_real_threshold_for_small_images():
    import numpy as np

    fusion = LogisticFusion.from_dict({**fusion_for(brightness=1.0).to_dict(), "thresholds": {"ai": 0.8, "real": 0.6, "real_small": 0.05}})
    eng = Engine([Brightness()], fusion=fusion)
    grey = {shape: eng.analyze(encode(np.full((*shape, 3), 128, np.uint8), "PNG")) for shape in ((448, 600), (600, 447), (300, 300))}
    assert len({a.probability for a in grey.values()}) == 1 and 0.05 < grey[448, 600].probability < 0.6
    big, *small = grey.values()
    assert big.verdict == "likely_real" and big.decision.small_side is None and big.decision.threshold_real == 0.6
    for a in small:
        assert a.verdict == "inconclusive" and a.decision.to_dict()["small_side"] == 448
        assert a.decision.threshold_real == 0.05 and a.decision.log_lr_real == pytest.approx(math.log(0.05 / 0.95) + 0.25)
        validate_row(a.to_dict())
        assert "likely_real (for images under 448 px a side) at P(AI) <= 0.05" in a.explain()
        assert a.headline.startswith("inconclusive: ") and "between the thresholds for an image under 448 px a side (P " in a.headline
    # a fusion without the small images' threshold holds every image to its one likely_real threshold
    plain = Engine([Brightness()], fusion=fusion_for(brightness=1.0)).analyze(encode(np.full((300, 300, 3), 128, np.uint8), "PNG"))
    assert plain.decision.small_side is None and plain.decision.threshold_real == 0.2


def test_failing_and_unavailable_signals_are_isolated(png):
    eng = Engine([Brightness(), Exploding(), NoWeights()], fusion=fusion_for(brightness=1.0, exploding=5.0, no_weights=5.0))
    a = eng.analyze(png)
    assert a.signal("exploding").result.status == "error"
    assert "kaboom on purpose" in a.signal("exploding").result.reason
    assert a.signal("no_weights").result.status == "unavailable"
    assert a.signal("exploding").contribution == 0.0 and a.signal("no_weights").contribution == 0.0
    assert a.degraded and [s.name for s in a.not_run] == ["exploding", "no_weights"]
    validate_row(a.to_dict())


def test_deterministic_for_same_bytes(png):
    eng = Engine([Brightness(), Contrast()], fusion=fusion_for(brightness=1.0, contrast=1.0))
    assert eng.analyze(png).to_json() == Engine([Brightness(), Contrast()], fusion=fusion_for(brightness=1.0, contrast=1.0)).analyze(png).to_json()


def test_analyze_many_keeps_order_and_reports_bad_inputs(tmp_path, png):
    good = tmp_path / "good.png"
    good.write_bytes(png)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    eng = Engine([Brightness()], fusion=fusion_for(brightness=1.0))
    out = list(eng.analyze_many([str(good), str(bad), str(good)], batch_size=2))
    assert [str(s) for s, _ in out] == [str(good), str(bad), str(good)]
    assert isinstance(out[1][1], ImageLoadError) and "bad.jpg" in str(out[1][1])
    assert out[0][1].to_json() == out[2][1].to_json()


def test_default_analyze_on_default_fusion(png):
    a = analyze(png)
    d = json.loads(a.to_json())
    validate_row(d)
    # the breakdown adds up: intercept and contributions give the logit, the logit the probability
    assert d["logit"] == pytest.approx(d["intercept"] + math.fsum(s["contribution"] for s in d["signals"]), abs=1e-5)
    assert d["probability"] == pytest.approx(1.0 / (1.0 + math.exp(-d["logit"])), abs=1e-6)
    assert d["probability"] == pytest.approx(a.probability, abs=1e-6) and d["verdict"] == a.verdict
    assert d["sha256"] == a.sha256


def test_unknown_signal_name_in_analyze(png):
    with pytest.raises(KeyError, match="unknown signal 'nope'"):
        analyze(png, signals=["nope"])
