import json

import numpy as np
import pytest

from forensics.calibration.probe import LinearProbe, fit_probe
from forensics.errors import CalibrationError
from forensics.signals import SignalResult


def clusters(n=40, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    X = rng.normal(0, 1, (2 * n, dim)) + y[:, None] * np.linspace(0, 1.2, dim)
    X[:, 3] *= 0.01  # a dimension with a tiny spread, as normalised embeddings have
    return X.astype(np.float32), y


def test_probe_scores_equal_scikit_learns_and_survive_json():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = clusters()
    probe, oof = fit_probe(X, y, source="clip_zeroshot", fingerprint={"weights_sha256": "abc"})
    ref = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000)).fit(X, y)
    ours = np.array([probe.score(x) for x in X])
    np.testing.assert_allclose(ours, ref.decision_function(X), atol=1e-5)  # sklearn keeps float32 inputs in float32
    again = LinearProbe.from_dict(json.loads(json.dumps(probe.to_dict())))
    assert [again.score(x) for x in X] == list(ours)
    assert oof.shape == (80,) and probe.metrics["auroc"] > 0.8 and probe.metrics["folds"] == 5


def test_probe_result_follows_its_source():
    X, y = clusters()
    probe, _ = fit_probe(X, y, source="clip_zeroshot", fingerprint={})
    ok = SignalResult("clip_zeroshot", "1", "ok", score=0.1, features=X[0])
    assert probe.result(ok).status == "ok" and probe.result(ok).score == pytest.approx(probe.score(X[0]))
    failed = probe.result(SignalResult.failed("clip_zeroshot", "1", "RuntimeError: boom"))
    assert failed.status == "abstained" and failed.reason == "no embedding from clip_zeroshot (error)"
    assert probe.result(None).reason == "needs the clip_zeroshot signal, which is not in use"
    with pytest.raises(CalibrationError, match="expects 16 features"):
        probe.score(X[0][:8])


def test_probe_refuses_too_few_images_and_bad_numbers():
    X, y = clusters(n=6)
    with pytest.raises(CalibrationError, match="at least 10 real and 10 fake .* got 6 real and 6 fake"):
        fit_probe(X, y, source="clip_zeroshot", fingerprint={})
    X, y = clusters()
    d = fit_probe(X, y, source="clip_zeroshot", fingerprint={})[0].to_dict()
    d["scale"][2] = 0.0
    with pytest.raises(CalibrationError, match="scale > 0"):
        LinearProbe.from_dict(d)
