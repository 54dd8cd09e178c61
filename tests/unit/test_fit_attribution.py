"""The attribution refit's ``unknown`` model (forensics.training.fit_attribution.fit_unknown): a
weighted L2 logistic regression whose coefficients keep the signs that make the share of "a family
never seen" grow as the family probabilities spread."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from forensics.attribution import unknown_inputs
from forensics.signals.effnet_views import MEANS, WIDTH
from forensics.training.fit_attribution import UNKNOWN_SIGNS, family_weights, features_version, fit_unknown, material

from support.images import encode, natural_rgb


def records(rng: np.random.Generator, k: int, n: int, peak_known: float, peak_unseen: float) -> list[dict]:
    """Family probabilities over ``k`` families: peaked for images of a known family, flatter for unseen ones."""
    out = []
    for label, peak in ((0, peak_known), (1, peak_unseen)):
        for i in range(n):
            p = rng.dirichlet(np.full(k, 0.3))
            p = peak * np.eye(k)[rng.integers(k)] + (1 - peak) * p
            out.append({"x": unknown_inputs(p), "label": label, "family": f"f{i % 4}"})
    return out


def test_where_the_data_agree_with_the_signs_it_is_the_plain_weighted_fit():
    recs = records(np.random.default_rng(0), 21, 300, 0.8, 0.2)
    model = fit_unknown(recs)
    x = np.array([r["x"] for r in recs])
    y = np.array([r["label"] for r in recs])
    key = np.array([f"{r['family']}|{r['label']}" for r in recs])
    plain = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(x, y, sample_weight=family_weights(key))
    assert np.all(np.sign(plain.coef_[0]) * np.array(UNKNOWN_SIGNS) >= 0)
    assert model.coef == pytest.approx(plain.coef_[0], abs=1e-3)
    assert model.intercept == pytest.approx(plain.intercept_[0], abs=1e-3)


def test_a_sign_the_data_would_flip_is_held_and_an_even_spread_is_the_most_unknown():
    rng = np.random.default_rng(1)
    recs = records(rng, 21, 300, 0.8, 0.2)
    # unseen families that the multinomial mistakes confidently for one it knows: unconstrained, the
    # fit gives the margin a positive weight and the entropy a negative one
    recs += records(rng, 21, 300, 0.0, 0.97)[300:]
    model = fit_unknown(recs)
    assert np.all(model.coef * np.array(UNKNOWN_SIGNS) >= 0)
    k = 21
    spread = np.full(k, 1.0 / k)
    peaked = np.full(k, 0.01 / (k - 1))
    peaked[0] = 0.99
    probs = np.random.default_rng(2).dirichlet(np.full(k, 0.5), 200)
    shares = model.share(np.vstack([spread, peaked, probs]))
    assert shares[0] == shares.max() > shares[1]


def test_the_extra_images_features_are_reused_only_while_the_code_behind_them_is_the_same(tmp_path):
    """``CACHE/attribution_extra.npz`` holds the probe's features of images outside the material; a
    refit reuses them only while the probe's code, its backbone and the material's processing are
    those that computed them (``features_version``)."""
    cache, corpus, train = tmp_path / "cache", tmp_path / "corpus", tmp_path / "train"
    for d in (cache, corpus, train / "ai"):
        d.mkdir(parents=True)
    (corpus / "labels.csv").write_text("path,label,source,generator\n")
    (train / "ai" / "beta.png").write_bytes(encode(natural_rgb(300, 260, seed=1), "PNG"))
    (train / "labels.csv").write_text("path,label,source,generator\nai/beta.png,ai,someone/beta,Stable Diffusion beta (2022)\n")
    (cache / "rows.json").write_text("[]")
    np.savez(cache / "features.npz", **{f"eff_{v}": np.zeros((0, WIDTH), np.float32) for v in ("aug", "web", "q75", "orig")})
    rows, x = material(cache, corpus, train, 1)
    assert [r["path"] for r in rows] == ["train/ai/beta.png"] and x["orig"].shape == (1, MEANS)
    store = dict(np.load(cache / "attribution_extra.npz"))
    assert str(store["version"]) == features_version()
    np.savez(cache / "attribution_extra.npz", **{**store, "orig": store["orig"] + 1})
    assert np.array_equal(material(cache, corpus, train, 1)[1]["orig"], x["orig"] + 1)  # the same code: reused
    np.savez(cache / "attribution_extra.npz", **{**store, "orig": store["orig"] + 1, "version": np.array("older code")})
    assert np.array_equal(material(cache, corpus, train, 1)[1]["orig"], x["orig"])  # other code: computed again
