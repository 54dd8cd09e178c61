"""The learned pixel signals (effnet_probe, npr) on real bytes: windows, exact heatmaps,
determinism, and the shipped heads' scores reproduced bit for bit on corpus files."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import piexif
import pytest

from forensics import Engine
from forensics.image import load_image
from forensics.artifacts import packaged
from forensics.signals.effnet_probe import CELL, EffnetProbeSignal
from forensics.signals.effnet_views import MEANS, POOLS, WIDTH, halve, pooled, windows
from forensics.signals.npr import NprSignal, region

from support.images import encode, natural_rgb


@pytest.mark.parametrize(("h", "w", "expected"), [
    (100, 90, [(0, 0, 100, 90)]),
    (224, 300, [(0, 0, 224, 224), (0, 76, 224, 224)]),
    (1000, 600, [(276, 76, 224, 224), (276, 300, 224, 224), (500, 76, 224, 224), (500, 300, 224, 224)]),
])
def test_effnet_windows_tile_the_central_region_at_native_resolution(h, w, expected):
    assert windows(h, w) == expected


def test_npr_region_is_central_and_even():
    assert region(300, 257) == (22, 0, 256, 256)
    assert region(101, 90) == (0, 0, 100, 90)


def test_halved_view_is_the_mean_of_each_2x2_block():
    """The halved view of decoded JPEG bytes: each value the exact mean of a 2x2 block (what
    Pillow's box reduction gives, before it rounds); an odd last row or column is dropped."""
    from PIL import Image

    rgb = load_image(encode(natural_rgb(101, 150, seed=4), "JPEG", quality=80)).rgb
    half = halve(rgb)
    assert half.shape == (50, 75, 3) and half.dtype == np.float32
    assert half[3, 7, 1] == rgb[6:8, 14:16, 1].astype(np.float64).mean()
    pil = np.asarray(Image.fromarray(rgb[:100]).reduce(2))
    assert np.array_equal(np.floor(half + 0.5).astype(np.uint8), pil)


def test_pooled_gives_each_channel_s_mean_then_its_spread():
    """Per channel, in POOLS order, over windows and positions: a channel alternating +1 / -1 has
    mean 0 and standard deviation 1, a constant one no spread, and a second window counts as
    more positions of the same channels."""
    cols = np.tile(np.array([1.0, -1.0], np.float32), (6, 3))  # (6, 6): +1, -1, +1, ... along each row
    maps = [np.stack([cols, np.full((6, 6), 5.0, np.float32), cols.T])[None],
            np.stack([np.zeros((1, 4, 1), np.float32), np.full((1, 4, 1), 2.0, np.float32)])]
    feats = pooled(maps)
    assert feats.dtype == np.float32 and feats.shape == (len(POOLS) * 4,)
    by_pool = dict(zip(POOLS, feats.reshape(len(POOLS), 4)))
    assert by_pool.keys() == {"mean", "std"}
    assert np.array_equal(by_pool["mean"], [0, 5, 0, 1]) and np.array_equal(by_pool["std"], [1, 0, 1, 1])


WEIGHT_SCALE = 0.25


@pytest.fixture(scope="module")
def probe_heads(tmp_path_factory):
    """The shipped probe, and the same probe in the other view layout (native windows only, or
    with the halved region beside them), written beside a link to the shipped backbone. The
    heatmap holds each cell's sigmoid in float32, which reaches 0 or 1 beyond about 16 log-odds,
    and the shipped weights take a few cells of these synthetic images past that: both heads
    are written with their weights scaled by WEIGHT_SCALE, which the decomposition holds for
    as it does for any weights."""
    head = json.loads(packaged("forensics.signals", "effnet_probe.json").read_text())
    d = tmp_path_factory.mktemp("probe")
    (d / head["graph"]["file"]).symlink_to(packaged("forensics.signals", head["graph"]["file"]))
    shipped = {**head, "coef": [c * WEIGHT_SCALE for c in head["coef"]]}
    other = dict(shipped)
    if head["views"] == ["native", "halved"]:
        other["views"] = ["native"]
        other.update({k: shipped[k][:WIDTH] for k in ("mean", "scale", "coef")})
    else:
        other["views"] = ["native", "halved"]  # each view carries half the weight
        other.update({k: head[k] + head[k] for k in ("mean", "scale")}, coef=[c / 2 for c in shipped["coef"]] * 2)
    (d / "shipped.json").write_text(json.dumps(shipped))
    (d / "other.json").write_text(json.dumps(other))
    return {"shipped": d / "shipped.json", "other": d / "other.json"}


@pytest.mark.parametrize(("size", "flat"), [((448, 448), False), ((700, 900), False), ((448, 448), True)])
@pytest.mark.parametrize("which", ["shipped", "other"])
def test_effnet_heatmap_is_the_exact_decomposition_of_the_score(size, flat, which, probe_heads):
    """With four full 224-px windows that do not overlap (and the halved view over the same
    region), the logit is the mean of the per-cell logits that the heatmap shows, the channels'
    spread included, and the cells no window saw are NaN (not measured). A flat grey image
    leaves channels with no spread at all, which carry nothing to any cell."""
    rgb = np.full((*size, 3), 128, np.uint8) if flat else natural_rgb(*size, seed=3)
    res = EffnetProbeSignal(head_path=probe_heads[which]).analyze(load_image(encode(rgb, "PNG")))
    assert res.status == "ok"
    views = res.evidence["views"]
    assert views in (["native"], ["native", "halved"])
    assert any(k.startswith("halved:") for k in res.evidence["levels"]) == (views == ["native", "halved"])
    assert res.features.shape == (MEANS,)  # the native view's channel means, which attribution reads
    hm = res.heatmap
    assert hm.shape == (-(-size[0] // CELL), -(-size[1] // CELL))
    top, left, rh, rw = res.evidence["region"]
    cells = hm[top // CELL:(top + rh) // CELL, left // CELL:(left + rw) // CELL].astype(np.float64)
    logits = np.log(cells) - np.log1p(-cells)
    assert np.isclose(logits.mean(), res.score, atol=1e-3)
    outside = np.ones(hm.shape, bool)
    outside[top // CELL:(top + rh) // CELL, left // CELL:(left + rw) // CELL] = False
    assert np.isnan(hm[outside]).all()


def test_npr_heatmap_mean_is_the_score():
    rgb = natural_rgb(320, 320, seed=5)
    res = NprSignal().analyze(load_image(encode(rgb, "PNG")))
    top, left, h, w = res.evidence["region"]
    cells = res.heatmap[top // 8:(top + h) // 8, left // 8:(left + w) // 8].astype(np.float64)
    assert np.isclose((np.log(cells) - np.log1p(-cells)).mean(), res.score, atol=1e-3)


@pytest.mark.parametrize("cls", [EffnetProbeSignal, NprSignal])
def test_pixel_signals_abstain_on_thumbnails_and_are_deterministic(cls):
    small = cls().analyze(load_image(encode(natural_rgb(40, 200, seed=1), "PNG")))
    assert small.status == "abstained" and "64 px" in small.reason
    data = encode(natural_rgb(300, 260, seed=2), "PNG")
    a, b = cls().analyze(load_image(data)), cls().analyze(load_image(data))
    assert a.score == b.score and np.array_equal(a.heatmap, b.heatmap, equal_nan=True)


@pytest.mark.parametrize(("name", "head"), [("effnet_probe", "effnet_probe.json"), ("npr", "npr.json")])
def test_shipped_scores_are_reproduced_bit_for_bit(corpus_dir, name, head):
    """The training pipeline recorded these scores from its own features; analysis must give
    exactly the same float, or the shipped weights were fitted on something analysis never sees."""
    ref = json.loads(packaged("forensics.signals", head).read_text())["reference_scores"]["scores"]
    assert len(ref) >= 8
    engine = Engine(signals=[name])
    for path, expected in ref.items():
        assert engine.analyze(corpus_dir / path).signal(name).result.score == expected, path


def test_same_photo_as_jpeg_and_png_gets_the_same_verdict_rate(corpus_dir):
    """100 corpus reals, each as its own JPEG (EXIF stripped losslessly) and as a PNG of the
    same pixels: the pixel signals see identical pixels, so no verdict may hinge on the container."""
    with open(corpus_dir / "labels.csv", newline="") as fh:
        reals = [r["path"] for r in csv.DictReader(fh) if r["label"] == "real"][:100]
    engine = Engine([s.name for s in Engine().signals_] + ["dct", "npr"])  # the default set, dct and npr by name
    jpeg_ai = png_ai = 0
    for p in reals:
        raw = (corpus_dir / p).read_bytes()
        out = io.BytesIO()
        piexif.remove(raw, out)
        jpeg = out.getvalue()
        a = engine.analyze(jpeg)
        b = engine.analyze(encode(load_image(jpeg).rgb, "PNG"))
        for s in ("dct", "effnet_probe", "npr"):
            assert a.signal(s).result.score == b.signal(s).result.score, (p, s)
        jpeg_ai += a.verdict == "likely_ai"
        png_ai += b.verdict == "likely_ai"
    assert abs(jpeg_ai - png_ai) <= 2, (jpeg_ai, png_ai)


def test_effnet_heatmap_localises_a_generated_half(corpus_dir):
    """Side by side, a generated half and a camera half (holdout corpus files, never fitted on):
    the heatmap is higher over the generated half in most composites."""
    from PIL import Image

    from forensics.training.corpus import read_corpus

    rows = read_corpus(corpus_dir, "holdout")
    ai = [r["path"] for r in rows if r["source"] == "sd1_laion"][:6]
    cams = [r["path"] for r in rows if r["source"] == "camera"]
    signal, wins = EffnetProbeSignal(), 0
    pairs = 0
    for a, b in zip(ai, cams):
        left = np.asarray(Image.open(corpus_dir / a).convert("RGB"))[:448, :224]
        right = np.asarray(Image.open(corpus_dir / b).convert("RGB"))
        if right.shape[0] < 448 or right.shape[1] < 224:
            continue
        hm = signal.analyze(load_image(encode(np.concatenate([left, right[:448, :224]], axis=1), "PNG"))).heatmap
        wins += hm[:, :28].mean() > hm[:, 28:].mean()
        pairs += 1
    assert pairs >= 4 and wins >= pairs - 1, (wins, pairs)
