"""DCT / frequency-residual signal: behaviour on images made here, plus a corpus check."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensics.errors import WeightsError
from forensics.image import load_image
from forensics.signals.dct import FEATURE_NAMES, DCTSignal, default_head_path, load_head, tile_layout
from forensics.signals.jpeg_tables import JpegTablesSignal
from support.images import encode


def natural(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Camera-like texture: 1/f noise plus a little white sensor noise."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    amp = 1.0 / np.maximum(np.sqrt(fy**2 + fx**2), 1.0 / max(h, w))
    out = np.empty((h, w, 3))
    base = np.real(np.fft.ifft2(amp * np.exp(2j * np.pi * rng.random((h, w)))))
    for c in range(3):
        out[..., c] = base
    out = (out - out.mean()) / out.std() * 40 + 128 + rng.normal(0, 2.0, (h, w, 3))
    return np.clip(out, 0, 255).astype(np.uint8)


def upsampled8(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A texture plus a fixed 8x8 pattern repeated over the image, as an 8x up-sampling decoder leaves."""
    base = natural(h, w, seed).astype(np.float64)
    cell = np.random.default_rng(99).normal(0, 3.0, (8, 8))
    pattern = np.tile(cell, (h // 8 + 1, w // 8 + 1))[:h, :w]
    return np.clip(base + pattern[..., None], 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def signal() -> DCTSignal:
    return DCTSignal()


def test_constructor_stores_params_only() -> None:
    s = DCTSignal(max_tiles=4, tile=128, head_path="nowhere.json")
    assert (s.max_tiles, s.tile, s.head_path) == (4, 128, "nowhere.json")
    assert s.availability().ok


def test_deterministic_ok_result_with_heatmap(signal: DCTSignal) -> None:
    data = encode(natural(512, 768), "PNG")
    a, b = signal.analyze(load_image(data)), signal.analyze(load_image(data))
    assert a.status == "ok" and a.score == b.score
    assert a.evidence == b.evidence
    json.dumps(a.evidence, allow_nan=False)
    grid = a.evidence["heatmap_grid"]
    assert a.heatmap.shape == (grid["rows"], grid["cols"]) == (512 // 8, 768 // 8) and grid["cell_height"] == 8
    # six 256-px tiles cover the image: every cell was measured
    assert a.heatmap.dtype == np.float32 and a.heatmap.min() >= 0 and a.heatmap.max() <= 1
    assert a.evidence["tiles"] == 6 and a.evidence["tile_size"] == 256
    assert abs(a.evidence["head_probability"] - 1 / (1 + np.exp(-a.score))) < 1e-3
    assert "period-8 peak" in a.summary


def test_a_large_image_is_mapped_only_where_tiles_were_read(signal: DCTSignal) -> None:
    image = load_image(encode(natural(1200, 1600), "PNG"))
    res = signal.analyze(image)
    _, _, t, corners = tile_layout(1200, 1600, signal.tile, signal.max_tiles)
    cell = res.evidence["heatmap_grid"]["cell_height"]
    read = np.zeros(res.heatmap.shape, bool)
    for top, left in corners:  # a cell is measured when its centre lies in a tile
        centre_y = (np.arange(read.shape[0]) + 0.5) * cell
        centre_x = (np.arange(read.shape[1]) + 0.5) * cell
        read |= ((centre_y >= top) & (centre_y < top + t))[:, None] & ((centre_x >= left) & (centre_x < left + t))[None, :]
    assert 0 < read.mean() < 1  # 16 tiles of 256 px do not cover 1600x1200
    assert np.isnan(res.heatmap[~read]).all() and np.isfinite(res.heatmap[read]).all()


def test_tiles_capped_on_a_large_image(signal: DCTSignal) -> None:
    rows, cols, t, corners = tile_layout(3000, 4000, 256, 16)
    assert rows * cols <= 16 and t == 256 and len(corners) == rows * cols
    assert all(y % 8 == 0 and x % 8 == 0 and y + t <= 3000 and x + t <= 4000 for y, x in corners)
    rgb = np.tile(natural(750, 1000), (4, 4, 1))  # 3000 x 4000, cheap to make
    r = signal.analyze(load_image(rgb))
    assert r.status == "ok" and r.evidence["tiles"] + r.evidence["tiles_flat"] <= 16
    # extreme aspect ratio still respects the cap
    rows, cols, _, _ = tile_layout(256, 40000, 256, 16)
    assert rows * cols <= 16


def test_small_images(signal: DCTSignal) -> None:
    r = signal.analyze(load_image(natural(40, 300)))
    assert r.status == "abstained" and "at least 64 px" in r.reason
    r = signal.analyze(load_image(natural(100, 150)))
    assert r.status == "ok" and r.evidence["tile_size"] == 96


def test_flat_image_abstains(signal: DCTSignal) -> None:
    r = signal.analyze(load_image(np.full((300, 300, 3), 200, np.uint8)))
    assert r.status == "abstained" and "no texture" in r.reason


def test_jpeg_grid_detected_on_q50_not_on_lossless(signal: DCTSignal) -> None:
    rgb = natural(512, 512, seed=3)
    jpg = signal.analyze(load_image(encode(rgb, "JPEG", quality=50)))
    png = signal.analyze(load_image(encode(rgb, "PNG")))
    assert jpg.evidence["jpeg_grid"] is True
    assert 45 <= jpg.evidence["jpeg_quality_estimate"] <= 55
    assert "JPEG grid detected (q\u224850)" in jpg.summary
    assert png.evidence["jpeg_grid"] is False and png.evidence["jpeg_quality_estimate"] is None


@pytest.mark.parametrize("quality", [5, 30, 75, 95])
def test_dct_reads_the_jpeg_quality_jpeg_tables_reads(signal: DCTSignal, quality: int) -> None:
    """One estimator: at quality 5 Pillow clips the luminance table at 255, which a mean-ratio
    estimate over that table alone read as 9."""
    image = load_image(encode(natural(256, 256, seed=5), "JPEG", quality=quality))
    assert signal.analyze(image).evidence["jpeg_quality_estimate"] == quality
    assert JpegTablesSignal().analyze(image).evidence["estimated_quality"] == quality


def test_misaligned_grid_reported_as_ghost(signal: DCTSignal) -> None:
    rgb = natural(520, 520, seed=4)
    once = np.asarray(Image.open(io.BytesIO(encode(rgb, "JPEG", quality=50))))[3:, 5:]
    r = signal.analyze(load_image(encode(np.ascontiguousarray(once), "PNG")))
    assert r.evidence["jpeg_grid"] is False and r.evidence["jpeg_ghost_grid"] is True


def test_period8_trace_raises_peak(signal: DCTSignal) -> None:
    plain = signal.analyze(load_image(encode(natural(512, 512, seed=5), "PNG")))
    up = signal.analyze(load_image(encode(upsampled8(512, 512, seed=5), "PNG")))
    assert up.evidence["period8_offaxis_peak"] > 3 * plain.evidence["period8_offaxis_peak"]
    assert plain.evidence["period8_peak"] < 2.0


def test_same_pixels_same_score_png_or_jpeg(signal: DCTSignal) -> None:
    jpg = encode(natural(400, 400, seed=6), "JPEG", quality=85)
    pixels = np.asarray(Image.open(io.BytesIO(jpg)))
    a = signal.analyze(load_image(jpg))
    b = signal.analyze(load_image(encode(pixels, "PNG")))
    assert a.score == b.score


def test_shipped_head_matches_extractor(signal: DCTSignal) -> None:
    head = load_head(default_head_path())
    assert head["feature_names"] == list(FEATURE_NAMES)
    assert head["format"] == "forensics.dct-head" and "fit_metrics" in head and "provenance" in head
    fp = signal.fingerprint()
    assert fp["head_sha256"] == head.sha256 and fp["version"] == signal.version


def test_bad_head_fails_strictly(tmp_path) -> None:
    head = json.loads(default_head_path().read_text())
    head["feature_names"] = head["feature_names"][:-1]
    path = tmp_path / "head.json"
    path.write_text(json.dumps(head))
    with pytest.raises(WeightsError, match="feature names do not match"):
        load_head(path)
    with pytest.raises(WeightsError, match="feature names do not match.*refit"):  # the engine makes it an error result
        DCTSignal(head_path=path).analyze(load_image(natural(128, 128)))
    with pytest.raises(WeightsError, match="cannot read the DCT head"):
        load_head(tmp_path / "missing.json")


def test_registered_as_builtin() -> None:
    from forensics.signals import create_signal, signal_names

    assert "dct" in signal_names()
    assert isinstance(create_signal("dct"), DCTSignal)


def test_features_are_what_the_head_scores(signal: DCTSignal) -> None:
    """``features`` is the mean over the textured tiles, and the head applied to it gives the score
    analysis reports (the head is linear, so the mean tile logit); a flat image has no features."""
    from forensics.signals.dct import FLAT_STD, extract_tiles, tile_features

    rgb = natural(600, 800, seed=3)
    rgb[:300, :400] = 128  # one flat quarter: its tiles are left out of the mean
    feats = signal.features(rgb)
    tiles, _ = extract_tiles(rgb, 256, 16)
    per_tile, diag = tile_features(tiles)
    textured = diag["res_std"] >= FLAT_STD
    assert 0 < textured.sum() < len(textured)
    assert feats.dtype == np.float32 and feats.shape == (len(FEATURE_NAMES),)
    np.testing.assert_allclose(feats, per_tile[textured].mean(axis=0), rtol=1e-6)
    head = load_head(default_head_path())
    mean, scale, coef = (head.arrays[k] for k in ("mean", "scale", "coef"))
    score = signal.analyze(load_image(encode(rgb, "PNG"))).score
    assert head["intercept"] + ((feats - mean) / scale) @ coef == pytest.approx(score, abs=1e-4)
    assert np.isnan(signal.features(np.full((300, 300, 3), 128, np.uint8))).all()


def _source_folds(rows: list[dict[str, str]], k: int = 5) -> np.ndarray:
    """Fold id per file: stratified by source, each source's files ordered by a seeded hash of the path."""
    from forensics.training.corpus import file_seed

    fold = np.empty(len(rows), dtype=int)
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_source.setdefault(r["source"], []).append(i)
    for idx in by_source.values():
        idx.sort(key=lambda i: file_seed(rows[i]["path"], "fold"))
        for j, i in enumerate(idx):
            fold[i] = j % k
    return fold


def _laundered_features(job: tuple[str, str, str, int | None, int]) -> np.ndarray:
    """``DCTSignal.features`` of one laundered copy: the training recipe (``train``) or an
    evaluation condition; a NaN row when the file is smaller than the crop."""
    from forensics.evaluation.laundering import LaunderingError, launder, launder_random

    fpath, kind, condition, crop, seed = job
    data = Path(fpath).read_bytes()
    try:
        out = launder_random(data, seed=seed, crop=256) if kind == "train" else launder(data, condition, seed=seed, crop=crop)
    except LaunderingError:
        return np.full(len(FEATURE_NAMES), np.nan)
    return DCTSignal().features(load_image(out).rgb)


@pytest.mark.corpus
def test_heldout_auroc_on_laundered_jpeg90(corpus_dir, corpus_labels) -> None:
    """Fit on three of the five folds (two random laundered 256 px copies each), score the
    held-out fold 0 laundered to JPEG q90 at 256 px. A deterministic subsample (fold 4 is left
    out) extracted on two processes keeps it quick. Features v2 (without the residual
    co-occurrence) score 0.796 here, v3 0.837."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from forensics.training.corpus import read_corpus

    rows = read_corpus(corpus_dir)
    fold = _source_folds(rows)
    jobs, labels, is_test = [], [], []
    for i, (r, f) in enumerate(zip(rows, fold)):
        path = str(corpus_dir / r["path"])
        if f == 0:
            jobs.append((path, "eval", "jpeg90", 256, i))
            labels.append(r["label"] == "ai")
            is_test.append(True)
        elif f in (1, 2, 3):
            for k in range(2):  # two copies per file, each with its own recipe draw
                jobs.append((path, "train", "", 256, 2 * i + k))
                labels.append(r["label"] == "ai")
                is_test.append(False)
    # forked workers find this test module's function where the parent imported it
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as ex:
        x = np.array(list(ex.map(_laundered_features, jobs, chunksize=16)))
    y, is_test = np.array(labels), np.array(is_test)
    ok = np.isfinite(x).all(axis=1)  # files smaller than the crop
    tr, te = ok & ~is_test, ok & is_test
    sc = StandardScaler().fit(x[tr])
    lr = LogisticRegression(C=1.0, max_iter=5000).fit(sc.transform(x[tr]), y[tr])
    auc = roc_auc_score(y[te], lr.decision_function(sc.transform(x[te])))
    assert auc > 0.80, auc
