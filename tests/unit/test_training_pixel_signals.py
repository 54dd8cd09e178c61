"""The pipeline's one line per pixel signal (forensics.training.pixel_signals): a signal fitted by a
stage is read from the arrays that stage wrote; a signal marked ``AS_SHIPPED`` is scored by the stage
``signal_scores`` as analysis scores it, and reaches the fusion's rows with no other change."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forensics import Engine
from forensics.training import fit_fusion, signal_scores
from forensics.training.pixel_data import CONDITIONS, laundered
from forensics.training.pixel_signals import AS_SHIPPED, PIXEL_SIGNALS, OutOfFamily, cache_files, pixel_scores
from support.images import encode, natural_rgb


def test_every_built_in_pixel_signal_is_configured():
    """Every built-in pixel signal with a shipped model has its line; those on user-installed
    weights enter the fusion with their declared priors instead."""
    from forensics.signals import BUILTIN, create_signal

    signals = [create_signal(n) for n in BUILTIN]
    shipped = {s.name for s in signals if s.evidence_kind == "pixels" and not getattr(s, "weight_specs", ())}
    assert shipped == set(PIXEL_SIGNALS)
    assert cache_files() == ("oof_heads.npz", "oof_npr.npz")


def test_out_of_family_arrays_are_read_per_condition(tmp_path):
    n = 3
    crops = sorted({c if c != "png" else "orig" for c in CONDITIONS})
    np.savez(tmp_path / "oof_heads.npz", **{f"eff_{c}": np.arange(n) + 10.0 * i for i, c in enumerate(crops)})
    np.savez(tmp_path / "oof_npr.npz", **{c: -np.arange(n) - 10.0 * i for i, c in enumerate(crops)})
    scores = pixel_scores(tmp_path, [{} for _ in range(n)])
    assert set(scores) == {"effnet_probe", "npr"}  # no dct arrays: a cache made without pixel_data --dct
    for i, c in enumerate(crops):
        assert scores["effnet_probe"][c].tolist() == (np.arange(n) + 10.0 * i).tolist()
        assert scores["npr"][c].tolist() == (-np.arange(n) - 10.0 * i).tolist()
    assert scores["npr"]["png"].tolist() == scores["npr"]["orig"].tolist()  # a lossless re-save: the same pixels


@pytest.fixture
def cache(tmp_path):
    """A cache of three images (rows.json as pixel_data writes it) and the pixel signals' arrays."""
    rows = []
    for i, (fmt, kw) in enumerate((("PNG", {}), ("JPEG", {"quality": 92}), ("WEBP", {"quality": 80}))):
        f = tmp_path / f"img{i}.{fmt.lower()}"
        f.write_bytes(encode(natural_rgb(300, 340, seed=i), fmt, **kw))
        rows.append({"file": str(f), "path": f"train/{f.name}", "label": "ai" if i % 2 else "real",
                     "family": "x" if i % 2 else "real:y", "group": f"train/{i}", "split": "fit"})
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    crops = {"orig", "jpeg90", "downscale05", "q75"}
    np.savez(tmp_path / "oof_heads.npz", **{f"eff_{c}": np.zeros(3) for c in crops})
    np.savez(tmp_path / "oof_npr.npz", **{c: np.zeros(3) for c in crops})
    return tmp_path


def test_a_signal_marked_as_shipped_is_scored_as_analysis_scores_it(cache, monkeypatch):
    """One line, ``"dct": AS_SHIPPED``, and the fusion's rows carry dct's score on every condition:
    the very score analysis gives the condition's bytes."""
    monkeypatch.setitem(PIXEL_SIGNALS, "dct", AS_SHIPPED)
    assert signal_scores.main(["--cache", str(cache), "--workers", "1"]) == 0
    rows = json.loads((cache / "rows.json").read_text())
    S = fit_fusion.score_rows(cache, rows)
    engine = Engine(signals=["dct"])
    for i, row in enumerate(rows):
        data = open(row["file"], "rb").read()
        for c in CONDITIONS:
            expected = engine.signal_results(engine.load(laundered(data, c)))[0]
            assert expected.status == "ok"
            assert S[c][i]["dct"] == expected.score
            assert "exif" in S[c][i]  # beside the metadata signals' scores


def test_a_signal_fitted_by_a_stage_is_read_from_its_arrays(cache, monkeypatch):
    monkeypatch.setitem(PIXEL_SIGNALS, "dct", OutOfFamily("oof_dct.npz", "{crop}"))
    np.savez(cache / "oof_dct.npz", **{c: np.array([0.5, np.nan, -1.5]) for c in ("orig", "jpeg90", "downscale05", "q75")})
    assert signal_scores.main(["--cache", str(cache), "--workers", "1"]) == 0
    S = fit_fusion.score_rows(cache, json.loads((cache / "rows.json").read_text()))
    assert [S["png"][i]["dct"] for i in range(3)] == [0.5, None, -1.5]
    assert "dct" not in json.loads((cache / "signal_scores.json").read_text())[0]["orig"]
