import json

import numpy as np
import pytest

from forensics import CalibrationError, Engine
from forensics.calibration import Calibration, conformal_p_values, fit_calibration, threshold_for
from forensics.fusion import Feature, LogisticFusion
from support.images import encode
from support.toy_signals import Brightness, Contrast, ContrastLargeOnly


def test_conformal_fpr_holds_on_fresh_draws():
    rng = np.random.default_rng(0)
    realised = []
    for _ in range(200):
        cal = rng.normal(0, 1, 200)  # real scores seen at calibration time
        fresh = rng.normal(0, 1, 2000)  # new real images
        realised.append(np.mean(conformal_p_values(cal, fresh) <= 0.05))
    assert abs(np.mean(realised) - 0.05) <= 0.02
    # and the AI class (shifted) is flagged far more often
    assert np.mean(conformal_p_values(cal, rng.normal(2.5, 1, 2000)) <= 0.05) > 0.5


def test_threshold_matches_p_values():
    rng = np.random.default_rng(1)
    real = rng.normal(0, 1, 99)
    t = threshold_for(real, 0.05)
    assert conformal_p_values(real, [t])[0] <= 0.05
    assert conformal_p_values(real, [np.nextafter(t, -np.inf)])[0] > 0.05
    assert threshold_for(real[:10], 0.05) == np.inf  # 1/11 > 0.05: unreachable


def folder(tmp_path, name, levels, seed):
    d = tmp_path / name
    d.mkdir()
    rng = np.random.default_rng(seed)
    for i, lv in enumerate(levels):
        arr = np.clip(rng.normal(lv, 30, (48, 48, 3)), 0, 255).astype(np.uint8)
        (d / f"{i:03d}.png").write_bytes(encode(arr, "PNG"))
    return d


def toy_fusion():
    return LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
        "features": [Feature("brightness", "prior", 4.0, center=0.5, scale=0.2, calibrated=False).to_dict(),
                     Feature("contrast", "prior", 0.5, center=0.2, scale=0.1, calibrated=True).to_dict()],
        "thresholds": {"ai": 0.8, "real": 0.2}, "provenance": {"name": "toy"}})


def test_too_few_reals_says_how_many(tmp_path):
    real = folder(tmp_path, "real", [100] * 5, 0)
    with pytest.raises(CalibrationError, match=r"at least 19 readable real images .* 0\.05 \(got 5\); about 200"):
        fit_calibration(real, target_fpr=0.05, signals=[Brightness(), Contrast()], fusion=toy_fusion())


def test_reals_only_calibration_end_to_end(tmp_path):
    rng = np.random.default_rng(2)
    real = folder(tmp_path, "real", rng.normal(100, 20, 60), 0)
    with pytest.warns(UserWarning, match="noisy false-positive rate"):
        cal = fit_calibration(real, target_fpr=0.05, signals=[Brightness(), Contrast()], fusion=toy_fusion())
    path = tmp_path / "cal.json"
    cal.save(path)
    eng = Engine([Brightness(), Contrast()], fusion=toy_fusion(), calibration=Calibration.load(path))
    bright = encode(np.full((48, 48, 3), 250, np.uint8), "PNG")
    a = eng.analyze(bright)
    assert a.decision.method == "conformal" and a.decision.n_real == 60
    assert a.calibration.p_value == pytest.approx(1 / 61)
    assert a.verdict == "likely_ai"
    typical = eng.analyze(str(sorted(real.iterdir())[0]))
    assert typical.calibration.p_value > 0.05 and typical.verdict != "likely_ai"


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_changed_signal_version_is_refused(tmp_path):
    real = folder(tmp_path, "real", [100 + i for i in range(25)], 0)
    cal = fit_calibration(real, target_fpr=0.05, signals=[Brightness(), Contrast()], fusion=toy_fusion())
    path = tmp_path / "cal.json"
    cal.save(path)

    class Brightness2(Brightness):
        version = "2"

    eng = Engine([Brightness2(), Contrast()], fusion=toy_fusion(), calibration=Calibration.load(path))
    with pytest.raises(CalibrationError, match=r"brightness: calibrated with available, version 1, now available, version 2"):
        eng.analyze(encode(np.zeros((8, 8, 3), np.uint8), "PNG"))


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_a_signal_the_fusion_does_not_weigh_does_not_void_the_calibration(tmp_path):
    real = folder(tmp_path, "real", [100 + i for i in range(25)], 0)
    cal = fit_calibration(real, target_fpr=0.05, signals=[Brightness(), Contrast()], fusion=toy_fusion())
    path = tmp_path / "cal.json"
    cal.save(path)

    class Sharpness(Brightness):  # a signal added since, which the fusion gives no weight
        name = "sharpness"

    image = encode(np.zeros((8, 8, 3), np.uint8), "PNG")
    a = Engine([Brightness(), Contrast(), Sharpness()], fusion=toy_fusion(), calibration=Calibration.load(path)).analyze(image)
    assert a.decision.method == "conformal" and a.signal("sharpness").in_fusion is False
    with pytest.raises(CalibrationError, match="contrast: in the calibration, absent now"):  # a weighed one still counts
        Engine([Brightness()], fusion=toy_fusion(), calibration=Calibration.load(path)).analyze(image)


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_real_and_fake_refit_with_held_out_metrics(tmp_path):
    rng = np.random.default_rng(3)
    real = folder(tmp_path, "real", rng.normal(90, 25, 40), 0)
    fake = folder(tmp_path, "fake", rng.normal(150, 25, 40), 1)
    cal = fit_calibration(real, fake, target_fpr=0.05, signals=[Brightness(), Contrast()], fusion=toy_fusion(),
                          plots_dir=tmp_path / "plots")
    assert cal.kind == "fitted" and cal.fusion is not None
    held = cal.metrics["held_out"]
    assert held["auroc"] > 0.9 and held["n"] == 80
    assert set(cal.metrics["fitted_features"]) == {"brightness"}  # contrast stays a calibrated prior
    assert cal.fusion.features_["brightness"].calibrated
    assert (tmp_path / "plots" / "roc.png").stat().st_size > 1000
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.array_equal(again.real_logits, cal.real_logits)


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_signal_abstaining_on_an_image_is_taken_out_of_the_reference(tmp_path):
    """Contrast pulls every calibration real's logit down; on a thumbnail it abstains. Compared
    with the reals' full logits the thumbnail would look far more AI-like than any of them."""
    fusion = LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
        "features": [Feature("brightness", "prior", 4.0, center=0.5, scale=0.2).to_dict(),
                     Feature("contrast", "prior", -3.0, center=0.0, scale=0.1).to_dict()],
        "thresholds": {"ai": 0.8, "real": 0.2}, "provenance": {"name": "toy"}})
    rng = np.random.default_rng(4)
    real = folder(tmp_path, "real", rng.normal(100, 20, 60), 0)
    signals = [Brightness(), ContrastLargeOnly()]
    cal = fit_calibration(real, target_fpr=0.05, signals=signals, fusion=fusion)
    eng = Engine(signals, fusion=fusion, calibration=Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))))
    thumb = np.clip(rng.normal(100, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
    a = eng.analyze(encode(thumb, "PNG"))
    assert a.signal("contrast").result.status == "abstained"
    assert a.logit > cal.real_logits.max()  # the unadjusted comparison would flag it at p = 1/61
    assert a.decision.reference_without == ("contrast",) and a.calibration.reference_without == ["contrast"]
    assert a.calibration.p_value > 0.2 and a.verdict != "likely_ai"
    full = eng.analyze(str(sorted(real.iterdir())[0]))
    assert full.calibration.reference_without == []


def test_malformed_calibration_file(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"format": "forensics.calibration", "format_version": 2, "kind": "conformal"}')
    with pytest.raises(CalibrationError, match="malformed calibration file"):
        Calibration.load(p)


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
@pytest.mark.parametrize("patch,match", [
    ({"signals": {"brightness": "yes"}}, r"signals must map each name"),
    ({"real_contributions": [{"brightness": "x"}]}, "malformed calibration file"),
    ({"target_fpr": 2}, r"target false-positive rate must be in \(0, 1\)"),
    ({"format_version": 1}, r"calibration format 1 .* recalibrate with `forensics calibrate`"),
    ({"format_version": 3}, "calibration format version 3 is not supported"),
])
def test_malformed_calibration_fields_are_refused_clearly(tmp_path, patch, match):
    real = folder(tmp_path, "real", [100 + i for i in range(25)], 0)
    cal = fit_calibration(real, target_fpr=0.05, signals=[Brightness(), Contrast()], fusion=toy_fusion())
    p = tmp_path / "c.json"
    p.write_text(json.dumps({**cal.to_dict(), **patch}))
    with pytest.raises(CalibrationError, match=match):
        Calibration.load(p)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.07, 0.1, 0.29, 0.57])
@pytest.mark.parametrize("n", [99, 199, 1000])
def test_threshold_is_the_exact_p_value_boundary(alpha, n):
    real = np.random.default_rng(n).normal(0, 1, n)
    t = threshold_for(real, alpha)
    assert conformal_p_values(real, [t])[0] <= alpha
    below = conformal_p_values(real, [real[real < t].max()])[0]
    assert below > alpha  # the next real down is already over alpha: no rank lost to rounding


def test_decisive_floor_survives_when_another_signal_is_taken_out():
    # intercept 0; the first real's decisive "meta" evidence was lifted from 1.0 to 4.91 so that
    # its logit reached the floor 6.91 (a contributed 2.0)
    cal = Calibration(kind="conformal", alpha=0.05, real_logits=[6.91, -2.0, -3.0],
                      real_contributions=[{"a": 2.0, "meta": 4.91}, {"a": -1.0}, {"a": -2.0}],
                      real_decisive=[["meta"], [], []], decisive_logit=6.91, signals={}, base_fusion_sha256="x")
    ref, dropped = cal.reference(["a"])
    assert dropped == ["a"]
    assert sorted(ref.tolist()) == pytest.approx([-1.0, -1.0, 6.91])  # the floor still holds
    ref2, _ = cal.reference(["a", "meta"])  # now its decisive evidence is what is missing
    assert sorted(ref2.tolist()) == pytest.approx([-1.0, -1.0, 0.0])


class BrightnessAgain(Brightness):
    """A second signal that reads the same evidence as ``brightness``."""

    name = "brightness_again"


def _uncalibrated(*names):
    return LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
        "features": [Feature(n, "prior", 1.0, center=0.5, scale=0.2, calibrated=False).to_dict() for n in names],
        "thresholds": {"ai": 0.8, "real": 0.2}, "provenance": {"name": "toy"},
        "params": {"drop_rate": 0.0, "n_drop_copies": 0}})  # as the shipped default fusion


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_refit_learns_with_signals_dropped_at_random(tmp_path):
    """The README: refitted weights are "learnt with signals dropped at random, so the remaining
    ones still give a meaningful probability". Two signals carry the same evidence. Fitted with
    both always present, either alone gives little more than half the log-odds of brightness
    fitted alone (0.57 here); learnt with drops, clearly more (0.65)."""
    rng = np.random.default_rng(5)
    real = folder(tmp_path, "real", rng.normal(90, 25, 40), 0)
    fake = folder(tmp_path, "fake", rng.normal(150, 25, 40), 1)
    pair = fit_calibration(real, fake, target_fpr=0.05, signals=[Brightness(), BrightnessAgain()],
                           fusion=_uncalibrated("brightness", "brightness_again")).fusion
    lone = fit_calibration(real, fake, target_fpr=0.05, signals=[Brightness()], fusion=_uncalibrated("brightness")).fusion
    assert (pair.drop_rate, pair.n_drop_copies) == (LogisticFusion().drop_rate, LogisticFusion().n_drop_copies)
    assert pair.to_dict()["params"]["drop_rate"] == 0.3
    assert (lone.drop_rate, lone.n_drop_copies) == (0.0, 0)  # nothing to hand its weight to
    alone = pair.explain({"brightness": 0.7}).logit - pair.intercept_
    reference = lone.explain({"brightness": 0.7}).logit - lone.intercept_
    assert 0.62 < alone / reference < 1
