"""The verdict's headline and basis: plain words that never claim more than the evidence."""

import json
import math
import warnings

import numpy as np
import pytest
from PIL import PngImagePlugin

from forensics import Engine
from forensics.analysis import validate_row
from forensics.calibration import fit_calibration
from forensics.fusion import Feature, LogisticFusion
from forensics.signals import create_signal
from forensics.signals.base import EVIDENCE_KINDS
from forensics.signals.registry import signal_names
from forensics.text import calibration_note
from support.images import camera_exif, encode, natural_rgb
from support.toy_signals import Brightness


class PixelBrightness(Brightness):
    """A pixel signal of the test: mean brightness."""

    name = "pixel_brightness"
    evidence_kind = "pixels"


def fusion(intercept: float, thresholds=(0.9, 0.3), **coefs) -> LogisticFusion:
    feats = []
    for n, c in coefs.items():
        if n.endswith("brightness"):  # centred on 0.5: bright images push towards AI
            feats.append(Feature(n, "prior", c, center=0.5, scale=0.1))
        else:  # the metadata signals' priors as the default fusion has them
            feats.append(Feature(n, "prior", c, decisive_at=0.9 if n in ("generator_metadata", "c2pa") else None))
    return LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": intercept,
        "features": [f.to_dict() for f in feats], "thresholds": {"ai": thresholds[0], "real": thresholds[1]},
        "provenance": {"name": "test"}})


def grey(level: int, fmt: str = "PNG", **kw) -> bytes:
    rgb = natural_rgb(96, 128, seed=1).astype(np.int16)
    rgb = np.clip(rgb - rgb.mean() + level, 0, 255).astype(np.uint8)
    return encode(rgb, fmt, **kw)


def test_every_registered_signal_declares_what_it_reads():
    for name in signal_names():
        assert getattr(create_signal(name), "evidence_kind", None) in EVIDENCE_KINDS, name


def test_embedded_generation_parameters_say_ai_generated():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15")
    eng = Engine(["generator_metadata", "exif"], fusion=fusion(-1.0, generator_metadata=12.0, exif=1.5))
    a = eng.analyze(encode(natural_rgb(64, 64), "PNG", pnginfo=info))
    assert a.verdict == "likely_ai" and a.decisive == ("generator_metadata",)
    assert a.headline == "AI-generated: embedded generation parameters (Automatic1111-compatible UI)"
    assert a.basis.to_dict() == {"kind": "provenance", "signals": ["generator_metadata"]}
    validate_row(a.to_dict())


def test_camera_record_and_camera_tables_say_likely_camera_original():
    qtable = [3] * 64  # flat tables: no IJG quality makes them, as camera firmware's
    jpeg = grey(128, "JPEG", exif=camera_exif(), qtables=[qtable, qtable])
    eng = Engine(["exif", "jpeg_tables"], fusion=fusion(-1.0, exif=1.5, jpeg_tables=1.0))
    a = eng.analyze(jpeg)
    assert a.verdict == "likely_real", a.probability
    assert a.headline == ("likely camera original: camera EXIF (Canon EOS 5D Mark IV, 60% complete) + "
                          "camera-style JPEG tables; no pixel signal ran")
    assert a.basis.to_dict() == {"kind": "camera_metadata", "signals": ["exif", "jpeg_tables"]}


def test_pixels_alone_never_read_as_real():
    """An image the pixel signals find nothing on, with no provenance and no camera record:
    "no AI evidence found", and the headline says what was not there."""
    eng = Engine([PixelBrightness(), "exif", "c2pa"], fusion=fusion(0.0, pixel_brightness=1.0, exif=1.5, c2pa=12.0))
    a = eng.analyze(grey(40))
    assert a.verdict == "likely_real", a.probability
    assert a.headline == f"no AI evidence found: pixel signals see none (P {a.probability:.2f}); no provenance, no camera record"
    assert "real" not in a.headline
    assert a.basis.to_dict() == {"kind": "pixels", "signals": ["pixel_brightness"]}


def test_pixel_evidence_of_ai_and_inconclusive():
    eng = Engine([PixelBrightness(), "exif"], fusion=fusion(0.0, pixel_brightness=1.0, exif=1.5))
    ai = eng.analyze(grey(230))
    assert ai.verdict == "likely_ai"
    assert ai.headline == f"likely AI: pixel evidence (P {ai.probability:.2f}); no camera record"
    mid = eng.analyze(grey(128))
    assert mid.verdict == "inconclusive", mid.probability
    assert mid.headline == f"inconclusive: pixel evidence between the thresholds (P {mid.probability:.2f}); no camera record"


def test_a_signal_without_a_declared_kind_is_other_evidence():
    eng = Engine([Brightness()], fusion=fusion(0.0, brightness=1.0))
    a = eng.analyze(grey(40))
    assert a.basis.kind == "other"
    assert a.headline.startswith("no AI evidence found: the signals see none")


def test_repr_is_short_and_explain_is_the_cli_block():
    eng = Engine([PixelBrightness(), "exif"], fusion=fusion(0.0, pixel_brightness=1.0, exif=1.5))
    a = eng.analyze(grey(40))
    assert repr(a) == f"<Analysis '<bytes>': likely_real P(AI)={a.probability:.3f} ({a.headline})>"
    text = a.explain()
    lines = text.splitlines()
    assert lines[0] == "<bytes>" and lines[1] == f"  {a.headline}"
    # intercept 0: the thresholds' likelihood ratios are their odds, 0.9/0.1 = 9 and 0.3/0.7 = 1/2.33
    assert lines[2] == (f"  rule: test fusion at base rate 0.5, likely_ai at P(AI) >= 0.90 (likelihood ratio >= 9), "
                        f"likely_real at P(AI) <= 0.30 (likelihood ratio <= 1/2.33): P(AI) {a.probability:.3f} -> likely_real")
    c = a.signal("pixel_brightness").contribution
    assert f"  {c:+7.2f}  pixel_brightness" in text and f"  {a.logit:+7.2f}  = logit" in text


def test_predict_proba_is_sklearn_shaped(tmp_path):
    eng = Engine([PixelBrightness()], fusion=fusion(0.0, pixel_brightness=1.0))
    good = tmp_path / "a.png"
    good.write_bytes(grey(200))
    p = eng.predict_proba([str(good), grey(40)])
    assert p.shape == (2, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert p[0, 1] == pytest.approx(eng.analyze(str(good)).probability) and p[0, 1] > p[1, 1]
    with pytest.raises(ValueError, match="no such file"):
        eng.predict_proba([str(tmp_path / "missing.png")], errors="raise")
    with pytest.warns(UserWarning, match=r"1 of 2 input\(s\) could not be read and have NaN rows.*row 0: .*missing.png: no such file"):
        q = eng.predict_proba([str(tmp_path / "missing.png"), str(good)])  # the default: a NaN row, the batch kept
    assert np.isnan(q[0]).all() and q[1, 1] == pytest.approx(p[0, 1])
    assert eng.predict_proba([]).shape == (0, 2)


def test_calibrated_decision_tells_one_story(tmp_path):
    reals = []
    for i in range(40):
        reals.append(grey(110 + i))  # brightness 110..149: the known reals
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 40 reals is small for alpha 0.05: warned
        cal = fit_calibration(reals, target_fpr=0.05, signals=[PixelBrightness()],
                              fusion=fusion(0.0, pixel_brightness=1.0))
    eng = Engine([PixelBrightness()], fusion=fusion(0.0, pixel_brightness=1.0), calibration=cal)
    high = eng.analyze(grey(230))  # brighter than every real
    assert high.verdict == "likely_ai"
    assert high.decision.p_value == pytest.approx(1 / 41) == high.decision.p_value_floor
    assert high.headline == "likely AI: pixel evidence (p 0.024 against 40 known-real images)"
    assert ("none of them scores as high; 0.0244 is the smallest p-value 40 reals can give) -> likely_ai; "
            f"P(AI) {high.probability:.3f} from the test fusion") in high.explain()
    mid = eng.analyze(grey(145))  # among the brightest reals: not rare, and P is not low
    assert mid.verdict == "inconclusive" and mid.decision.p_value == pytest.approx(6 / 41)
    assert mid.headline.startswith("inconclusive: pixel evidence not rare among 40 known-real images (p ")
    assert "p 0.1463 (5 of them score as high or higher) -> not flagged" in mid.explain()
    assert (f"-> not flagged; P(AI) {mid.probability:.3f} from the test fusion at base rate 0.5 is above its likely_real "
            "threshold 0.30 (likelihood ratio <= 1/2.33) -> inconclusive") in mid.explain()
    validate_row(json.loads(mid.to_json()))


def test_coarse_calibration_warning_names_the_floor():
    assert calibration_note(60, 0.05) == (
        "calibration: 60 known-real images give p-values in steps of 1/61 = 0.0164, the smallest reachable; "
        "alpha 0.05 is only 3 step(s), so the false-positive rate is coarse and every image above all the reals "
        "shows p = 0.0164; about 199 reals give 10 steps")
    assert calibration_note(199, 0.05) is None and calibration_note(1000, 0.01) is None
    assert "nothing can be flagged" in calibration_note(10, 0.05)
    assert math.isclose(1 / 61, 0.01639, rel_tol=1e-3)
