"""DCT / frequency-residual signal: periodic up-sampling traces versus camera and JPEG traces.

Works on full-resolution pixels only (never resized) and needs no downloaded weights: the head
is a standardised logistic regression shipped as JSON (``data/dct_head.json``), refitted by
``forensics.training.fit_pixel_heads`` from laundered copies of the broad training material.

How it works
------------
1. **Tiling.** Up to ``max_tiles`` square tiles of ``tile`` px (default 16 x 256) are placed on a
   ``rows x cols`` grid over the image: one tile centred in each grid cell, its corner snapped to
   the image's 8-px grid (the JPEG block grid). A 12 MP photo costs about what a 1 MP one does.
   Images smaller than ``tile`` use one tile of the largest multiple of 16 that fits; below
   ``min_size`` px the signal abstains.
2. **Features per tile** (luminance; :data:`FEATURE_NAMES`):

   - ``r*``: the 2x2 cross-difference residual ``x[i,j]-x[i+1,j]-x[i,j+1]+x[i+1,j+1]``; its power
     spectrum sampled on the harmonic grid of periods 8 and 16 as log(peak / median of the 5x5
     neighbourhood), grouped into the period-8 fundamental on the axes, other axis harmonics,
     the period-2 points (demosaicing), off-axis period-8 points (2-D up-sampling, e.g. the SD VAE
     decoder's 8x up-sampling), and period-16 axis / off-axis points. Magnitudes are phase-free,
     so a crop offset does not change them.
   - ``a*``: the same groups on the spectrum of ``|residual|`` (periodic *energy*, which is what a
     JPEG block grid leaves: larger jumps at block borders).
   - ``dct_*``: 8x8 block DCT of the tile on the grid shifted by (4, 4) from the image's 8-px grid,
     so the file's own JPEG quantisation lattice does not read as a statistic of the content:
     log spread decay (mid / high zig-zag band versus low), log kurtosis per band, first-digit
     (Benford) Jensen-Shannon divergence per band.
   - ``slope``, ``hf_ratio``: azimuthally averaged power spectrum of the (Hann-windowed) tile:
     log-log slope over 0.05-0.45 cycles/px, and high- versus mid-band log power.
   - ``res_*``: residual level, residual relative to the first-difference level, residual
     kurtosis, and the correlation of the R and B residuals with the G residual.
   - ``co1_abc`` / ``co2_abc`` (features v3): SPAM/SRM-style residual co-occurrence. Luminance
     rounded to integers; first- (``co1``) and second-order (``co2``) differences along rows and
     columns (every second row / column), clipped to [-2, 2]; log frequency of each triple of
     consecutive values, pooled into 39 classes closed under sign flip and reversal (``abc`` =
     the class's smallest triple, digits = value + 2). These carry most of the v3 gain on
     laundered JPEGs and for held-out real sources.

3. **Head.** ``tile logit = intercept + coef . (features - mean) / scale``; the image score is
   the mean tile logit (log-odds of "AI-generated"), identical to applying the head to the mean
   feature vector. Tiles with almost no texture (residual std below 0.25 grey levels) are left
   out; if none is left the signal abstains.

JPEG awareness: the score uses pixels only, so the same pixels give the same score as JPEG or
PNG; the head is fitted on laundered copies where both classes are JPEG re-encoded (and some
kept lossless), and the DCT statistics are taken off the block grid. The file's own JPEG grid
and quality are reported as evidence, not scored.

Evidence keys
-------------
``tiles`` (int, tiles scored), ``tile_size`` (px), ``tiles_flat`` (tiles skipped as textureless),
``period8_peak`` (float, geometric mean over the period-8 harmonic points of the residual power
relative to its local background, normalised so that 1.0 is what noise gives; tile median),
``period8_offaxis_peak`` (same over off-axis period-8 points, the 2-D up-sampling signature),
``period16_peak`` (period-16-only points), ``period2_peak`` (period-2 points, demosaicing),
``jpeg_grid`` (bool, block grid detected in the pixels at the image's own 8-px phase),
``jpeg_grid_strength`` (float, border-jump ratio at that phase; ~1.0 none, >1.15 grid),
``jpeg_ghost_grid`` (bool, a grid at another phase: the image was JPEG-compressed, then cropped),
``jpeg_quality_estimate`` (int or None, IJG quality whose tables are closest to the file's,
as ``jpeg_tables`` reports it; JPEG only),
``spectrum_slope`` (float, median tile log-log slope), ``tile_logit_min`` / ``tile_logit_max``,
``head_probability`` (sigmoid of the score, uncalibrated), ``head_version`` (str),
``heatmap_grid`` (dict: ``rows``, ``cols``, ``cell_height``, ``cell_width`` in px; heatmap cell
(i, j) covers rows ``[i*cell_height, (i+1)*cell_height)`` and the same for columns, last cells
clipped to the image; square cells of a multiple of 8 px, at most 128 a side; a cell's value is
the sigmoid of the mean logit of the scored tiles over its centre, NaN where no scored tile lies:
between the tiles of a large image, and on flat tiles).
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy import fft as sfft

from forensics.artifacts import Artifact, packaged, read_artifact
from forensics.errors import WeightsError
from forensics.formats import JPEG_FORMATS
from forensics.numeric import sigmoid

from ._jpeg import estimate_quality
from .base import BaseSignal, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

HEAD_FORMAT = "forensics.dct-head"
HEAD_FORMAT_VERSION = 1
#: Version of the feature extractor; part of the head file and of the signal version.
FEATURES_VERSION = "3"

_HARMONIC_GROUPS = ("p8_axis1", "p8_axis", "p2", "p8_off", "p16_axis", "p16_off")
_SPECTRAL_NAMES = (
    *(f"r_{g}" for g in _HARMONIC_GROUPS),
    "r_p8_max",
    *(f"a_{g}" for g in _HARMONIC_GROUPS),
    "dct_spread_mid", "dct_spread_high",
    "dct_kurt_low", "dct_kurt_mid", "dct_kurt_high",
    "dct_benford_low", "dct_benford_mid", "dct_benford_high",
    "slope", "hf_ratio",
    "res_level", "res_rel", "res_kurt", "res_corr_rg", "res_corr_bg",
)

#: Residual co-occurrence (SPAM/SRM style): truncation T and row/column step of the sampling.
_COOC_T, _COOC_STEP = 2, 2
_COOC_B = 2 * _COOC_T + 1
_COOC_ORDERS = (1, 2)


@lru_cache(maxsize=1)
def _cooc_classes() -> tuple[np.ndarray, tuple[str, ...]]:
    """Map the 125 triples of truncated residuals to 39 classes closed under sign flip and reversal.

    Returns the (125, 39) 0/1 pooling matrix and the class names ``"abc"`` (digits = value + T of
    the smallest member triple)."""
    b = _COOC_B
    idx = np.arange(b**3)
    a, m, c = idx // (b * b), (idx // b) % b, idx % b
    neg = (b - 1 - a) * b * b + (b - 1 - m) * b + (b - 1 - c)
    rev = c * b * b + m * b + a
    negrev = (b - 1 - c) * b * b + (b - 1 - m) * b + (b - 1 - a)
    canon = np.minimum(np.minimum(idx, neg), np.minimum(rev, negrev))
    uniq, inv = np.unique(canon, return_inverse=True)
    pool = np.zeros((b**3, len(uniq)))
    pool[idx, inv] = 1.0
    names = tuple(f"{u // (b * b)}{(u // b) % b}{u % b}" for u in uniq)
    return pool, names


#: Names of the features per tile, in extractor order: spectral and residual, then co-occurrence.
FEATURE_NAMES: tuple[str, ...] = _SPECTRAL_NAMES + tuple(f"co{o}_{c}" for o in _COOC_ORDERS for c in _cooc_classes()[1])

FLAT_STD = 0.25
_BENFORD = np.log10(1.0 + 1.0 / np.arange(1, 10))


# ---------------------------------------------------------------------------------------------
# tiling

#: Longest side of the dct heatmap, in cells of a multiple of 8 px.
MAP_SIDE = 128


def tile_map(height: int, width: int, tile: int, corners: list[tuple[int, int]], logits: np.ndarray
             ) -> tuple[np.ndarray, int]:
    """``(heatmap, cell)``: the sigmoid of the tile log-odds on square cells of ``cell`` px
    (a multiple of 8, at most :data:`MAP_SIDE` cells a side), each cell taking the mean of the
    tiles over its centre; NaN on cells no scored tile covers (a NaN logit: a flat tile)."""
    cell = 8 * max(1, math.ceil(max(height, width) / (8 * MAP_SIDE)))
    yc = (np.arange(math.ceil(height / cell)) + 0.5) * cell
    xc = (np.arange(math.ceil(width / cell)) + 0.5) * cell
    acc, cnt = np.zeros((yc.size, xc.size)), np.zeros((yc.size, xc.size))
    for (top, left), v in zip(corners, logits):
        if np.isfinite(v):
            box = np.ix_((yc >= top) & (yc < top + tile), (xc >= left) & (xc < left + tile))
            acc[box] += v
            cnt[box] += 1
    out = np.full(acc.shape, np.nan, np.float32)
    seen = cnt > 0
    out[seen] = sigmoid(acc[seen] / cnt[seen])
    return out, cell

def tile_layout(height: int, width: int, tile: int, max_tiles: int) -> tuple[int, int, int, list[tuple[int, int]]]:
    """``(rows, cols, tile_size, [(top, left), ...])`` for an image; row-major, one tile per cell.

    Tile corners lie on the image's 8-px grid; ``tile_size`` shrinks (multiple of 16) for
    images smaller than ``tile``.
    """
    t = min(tile, (min(height, width) // 16) * 16)
    rows = max(1, math.ceil(height / t))
    cols = max(1, math.ceil(width / t))
    if rows * cols > max_tiles:
        s = math.sqrt(max_tiles / (rows * cols))
        rows = max(1, min(rows, math.floor(rows * s)))
        cols = max(1, min(cols, math.floor(cols * s)))
        while rows * cols > max_tiles:  # guard for extreme aspect ratios
            if rows >= cols:
                rows -= 1
            else:
                cols -= 1
    cell_h, cell_w = height / rows, width / cols
    corners = []
    for i in range(rows):
        top = _snap(int((i + 0.5) * cell_h - t / 2), height - t)
        for j in range(cols):
            left = _snap(int((j + 0.5) * cell_w - t / 2), width - t)
            corners.append((top, left))
    return rows, cols, t, corners


def _snap(pos: int, upper: int) -> int:
    pos = min(max(pos, 0), upper)
    return (pos // 8) * 8


# ---------------------------------------------------------------------------------------------
# spectral helpers (cached per tile size)

def _canonical(ky: int, kx: int, t: int) -> tuple[int, int]:
    """Map a full-plane frequency to its rfft2 index (conjugate symmetry for kx < 0)."""
    ky, kx = ky % t, kx % t
    if kx > t // 2:
        ky, kx = (-ky) % t, t - kx
    return ky, kx


@lru_cache(maxsize=8)
def _harmonics(t: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per group: peak (iy, ix) and 5x5-neighbourhood (iy, ix) index arrays into an rfft2 plane."""
    groups: dict[str, list[tuple[int, int]]] = {g: [] for g in _HARMONIC_GROUPS}
    seen: set[tuple[int, int]] = set()

    def add(group: str, fy: int, fx: int) -> None:
        key = _canonical(fy, fx, t)
        if key not in seen:
            seen.add(key)
            groups[group].append((fy, fx))

    s8, s16 = t // 8, t // 16
    for a in range(-3, 5):
        for b in range(-3, 5):
            if a == 0 and b == 0:
                continue
            if abs(a) in (0, 4) and abs(b) in (0, 4):
                add("p2", a * s8, b * s8)
            elif a == 0 or b == 0:
                add("p8_axis1" if abs(a) + abs(b) == 1 else "p8_axis", a * s8, b * s8)
            else:
                add("p8_off", a * s8, b * s8)
    for a in range(-7, 9):
        for b in range(-7, 9):
            if a % 2 == 0 and b % 2 == 0:
                continue
            add("p16_axis" if a == 0 or b == 0 else "p16_off", a * s16, b * s16)
    offs = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if (dy, dx) != (0, 0)]
    out = {}
    for g, pts in groups.items():
        py, px = zip(*(_canonical(fy, fx, t) for fy, fx in pts))
        ny = np.empty((len(pts), len(offs)), dtype=np.intp)
        nx = np.empty_like(ny)
        for k, (fy, fx) in enumerate(pts):
            for m, (dy, dx) in enumerate(offs):
                ny[k, m], nx[k, m] = _canonical(fy + dy, fx + dx, t)
        out[g] = (np.array(py, dtype=np.intp), np.array(px, dtype=np.intp), ny, nx)
    return out


@lru_cache(maxsize=8)
def _radial(t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Radial averaging matrix (rfft2 bins x radial bins), bin centres, bin counts, Hann window."""
    fy = np.fft.fftfreq(t)[:, None]
    fx = np.fft.rfftfreq(t)[None, :]
    rad = np.sqrt(fy**2 + fx**2)
    edges = np.geomspace(0.05, 0.5, 17)
    idx = np.digitize(rad, edges) - 1
    idx[(rad < edges[0]) | (rad >= edges[-1])] = -1
    centres = np.sqrt(edges[:-1] * edges[1:])
    flat = idx.ravel()
    counts = np.bincount(flat[flat >= 0], minlength=len(centres)).astype(np.float64)
    avg = np.zeros((flat.size, len(centres)), dtype=np.float32)
    ok = np.flatnonzero(flat >= 0)
    avg[ok, flat[ok]] = 1.0 / np.maximum(counts[flat[ok]], 1.0)
    w = np.hanning(t).astype(np.float32)
    return avg, centres, counts, np.outer(w, w)


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    n = 8
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * x + 1) * k / (2 * n))
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


@lru_cache(maxsize=1)
def _dct2_matrix() -> np.ndarray:
    """64x64 separable 2-D DCT-II acting on row-major flattened 8x8 blocks."""
    m = _dct_matrix()
    return np.kron(m, m).astype(np.float32)


@lru_cache(maxsize=1)
def _bands() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, v = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    s = (u + v).ravel()
    return (s >= 1) & (s <= 3), (s >= 4) & (s <= 7), s >= 8


# ---------------------------------------------------------------------------------------------
# features

def _cross_diff(x: np.ndarray) -> np.ndarray:
    """2x2 cross-difference over the last two axes, same size (last row and column zero)."""
    r = np.zeros_like(x)
    a = x[..., :-1, :-1] - x[..., 1:, :-1]
    a -= x[..., :-1, 1:]
    a += x[..., 1:, 1:]
    r[..., :-1, :-1] = a
    return r


def _log_power(x: np.ndarray) -> np.ndarray:
    f = sfft.rfft2(x, workers=1)
    return np.log(f.real * f.real + f.imag * f.imag + 1e-3)


def _moments(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Variance and log kurtosis along ``axis``."""
    d = x - x.mean(axis=axis, keepdims=True)
    d2 = d * d
    var = d2.mean(axis=axis)
    m4 = (d2 * d2).mean(axis=axis)
    return var, np.log(m4 / (var * var + 1e-12) + 1e-6)


#: E[log(P / median)] for exponentially distributed power (no periodic component): -gamma - ln(ln 2).
_NOISE_LOG_RATIO = -0.5772156649 - math.log(math.log(2.0))


def _harmonic_features(power_log: np.ndarray, t: int) -> dict[str, np.ndarray]:
    """Mean log(peak / local median) per harmonic group, the max over period-8 points, and the
    mean over all period-8 (``p8_all``) and period-16-only (``p16_all``) points."""
    out: dict[str, np.ndarray] = {}
    p8, p16 = [], []
    for g, (py, px, ny, nx) in _harmonics(t).items():
        ratio = power_log[:, py, px] - np.median(power_log[:, ny, nx], axis=-1)
        out[g] = ratio.mean(axis=1)
        (p16 if g.startswith("p16") else p8).append(ratio)
    p8a = np.concatenate(p8, axis=1)
    out["p8_max"] = p8a.max(axis=1)
    out["p8_all"] = p8a.mean(axis=1)
    out["p16_all"] = np.concatenate(p16, axis=1).mean(axis=1)
    return out


def _benford_js(coef: np.ndarray, bands: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Jensen-Shannon divergence of the first digit of |coef| (>= 1) from Benford, per tile and band.

    ``coef`` is ``(n, blocks, 64)``; every third block is used (plenty for a 9-bin histogram).
    """
    n = coef.shape[0]
    out = []
    for mask in bands:
        a = np.abs(coef[:, ::3][:, :, mask]).reshape(n, -1)
        keep = a >= 1.0
        lg = np.log10(np.where(keep, a, 1.0))
        d = np.clip((a / 10.0 ** np.floor(lg)).astype(np.int64), 1, 9)
        d = np.where(keep, d, 0) + 10 * np.arange(n)[:, None]
        hist = np.bincount(d.ravel(), minlength=10 * n).reshape(n, 10)[:, 1:].astype(np.float64)
        total = hist.sum(axis=1, keepdims=True)
        p = hist / np.maximum(total, 1.0)
        m = 0.5 * (p + _BENFORD)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        kl_q = (_BENFORD * np.log(_BENFORD / m)).sum(axis=1)
        out.append(np.where(total[:, 0] >= 50, 0.5 * (kl_p + kl_q), 0.0))
    return out


def _cooc_features(lum: np.ndarray) -> np.ndarray:
    """Log frequencies of co-occurring triples of truncated pixel differences, ``(n, 78)``.

    Luminance is rounded to integers; first- and second-order differences along rows (every
    ``_COOC_STEP``-th row) and along columns (every ``_COOC_STEP``-th column) are clipped to
    [-T, T]; each run of three consecutive values is one of 125 triples, pooled to 39 classes
    closed under sign flip and reversal (:func:`_cooc_classes`), per order. Integer arithmetic
    throughout, so the result is exact and deterministic.
    """
    n = lum.shape[0]
    b, k_t = _COOC_B, _COOC_T
    q = np.rint(lum).astype(np.int16)
    codes = []
    for src in (q[:, ::_COOC_STEP, :], np.swapaxes(q[:, :, ::_COOC_STEP], 1, 2)):
        for k, order in enumerate(_COOC_ORDERS):
            d = np.diff(src, n=order, axis=-1)
            np.clip(d, -k_t, k_t, out=d)
            d += np.int16(k_t)
            c = d[..., :-2] * np.int16(b * b) + d[..., 1:-1] * np.int16(b) + d[..., 2:]
            c += np.int16(k * b**3)
            codes.append(c.reshape(n, -1))
    n_bins = len(_COOC_ORDERS) * b**3
    allc = np.concatenate(codes, axis=1).astype(np.int32)
    allc += (np.arange(n, dtype=np.int32) * n_bins)[:, None]
    hist = np.bincount(allc.ravel(), minlength=n * n_bins).reshape(n, len(_COOC_ORDERS), b**3).astype(np.float64)
    hist = hist @ _cooc_classes()[0]
    hist /= np.maximum(hist.sum(axis=2, keepdims=True), 1.0)
    return np.log(hist + 1e-4).reshape(n, -1)


def extract_tiles(rgb: np.ndarray, tile: int = 256, max_tiles: int = 16) -> tuple[np.ndarray, tuple[int, int, int, list[tuple[int, int]]]]:
    """Stack the tiles of ``rgb`` as float32 ``(n, t, t, 3)`` plus the layout (see :func:`tile_layout`)."""
    h, w = rgb.shape[:2]
    layout = tile_layout(h, w, tile, max_tiles)
    t = layout[2]
    tiles = np.stack([rgb[y:y + t, x:x + t] for y, x in layout[3]]).astype(np.float32)
    return tiles, layout


def tile_features(tiles: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Feature matrix ``(n, len(FEATURE_NAMES))`` for float32 RGB tiles ``(n, t, t, 3)``.

    Also returns per-tile diagnostics for evidence (residual std, harmonic groups, slope, luminance).
    """
    n, t = tiles.shape[0], tiles.shape[1]
    chans = np.ascontiguousarray(np.moveaxis(tiles, -1, 1), dtype=np.float32)  # (n, 3, t, t)
    lum = chans[:, 0] * np.float32(0.299) + chans[:, 1] * np.float32(0.587) + chans[:, 2] * np.float32(0.114)
    res = _cross_diff(lum)
    inner = res[:, :-1, :-1].reshape(n, -1)
    res_var, res_kurt = _moments(inner, axis=1)
    res_std = np.sqrt(res_var)
    eps = 1e-6

    # periodic structure of the residual and of its magnitude
    hr = _harmonic_features(_log_power(res - res.mean(axis=(1, 2), keepdims=True)), t)
    ab = np.abs(res)
    ha = _harmonic_features(_log_power(ab - ab.mean(axis=(1, 2), keepdims=True)), t)

    # 8x8 block DCT on the grid shifted by (4, 4)
    sub = lum[:, 4:t - 4, 4:t - 4] - np.float32(128.0)
    nb = (t - 8) // 8
    blocks = sub.reshape(n, nb, 8, nb, 8).transpose(0, 1, 3, 2, 4).reshape(n, nb * nb, 64)
    coef = blocks @ _dct2_matrix().T  # (n, blocks, 64), row-major (u, v)
    var, kurt = _moments(coef, axis=1)
    logstd = 0.5 * np.log(var + eps)
    low, mid, high = _bands()

    # azimuthal power spectrum of the image
    idx, centres, counts, win = _radial(t)
    l0 = (lum - lum.mean(axis=(1, 2), keepdims=True)) * win
    lps = _log_power(l0)
    radial = lps.reshape(n, -1) @ idx  # idx: (bins, n_radial) averaging matrix
    lf = np.log(centres)
    lfc = lf - lf.mean()
    slope = (radial - radial.mean(axis=1, keepdims=True)) @ lfc / (lfc @ lfc)
    hf_ratio = radial[:, -4:].mean(axis=1) - radial[:, 4:8].mean(axis=1)

    # residual statistics
    d1 = np.sqrt(_moments((lum[:, :, 1:] - lum[:, :, :-1]).reshape(n, -1), axis=1)[0])
    # colour residual correlation on the top 64 rows of each tile (a fair sample, a quarter of the cost)
    rc = _cross_diff(chans[:, :, :65])[:, :, :64, :-1].reshape(n, 3, -1)
    rc = rc - rc.mean(axis=2, keepdims=True)
    sd = np.sqrt((rc * rc).mean(axis=2)) + eps
    corr_rg = (rc[:, 0] * rc[:, 1]).mean(axis=1) / (sd[:, 0] * sd[:, 1])
    corr_bg = (rc[:, 2] * rc[:, 1]).mean(axis=1) / (sd[:, 2] * sd[:, 1])

    co = _cooc_features(lum)

    cols = [
        *(hr[g] for g in _HARMONIC_GROUPS), hr["p8_max"],
        *(ha[g] for g in _HARMONIC_GROUPS),
        logstd[:, mid].mean(1) - logstd[:, low].mean(1), logstd[:, high].mean(1) - logstd[:, low].mean(1),
        kurt[:, low].mean(1), kurt[:, mid].mean(1), kurt[:, high].mean(1),
        *_benford_js(coef, (low, mid, high)),
        slope, hf_ratio,
        np.log(res_std + eps), np.log(res_std + eps) - np.log(d1 + eps), res_kurt, corr_rg, corr_bg,
        *co.T,
    ]
    feats = np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)
    diag = {"res_std": res_std, "slope": slope, "lum": lum, **{f"r_{g}": v for g, v in hr.items()},
            **{f"a_{g}": v for g, v in ha.items()}}
    return feats, diag


def jpeg_grid(lum: np.ndarray) -> tuple[float, tuple[int, int], float]:
    """Block-border jump ratio at the image's own 8-px phase, the strongest phase, and its ratio.

    ``lum`` is a stack ``(n, h, w)`` of luminance tiles whose corners lie on the 8-px grid.
    For each phase p in 0..7, mean |x[:, k+1] - x[:, k]| over columns with k % 8 == p (within
    tiles), divided by the median over the eight phases; same for rows. A JPEG grid at the image origin puts the
    jump at p = 7 (between blocks). Returns ``(strength at (7, 7), strongest (py, px), its strength)``
    where strength is the geometric mean of the row and column ratios.
    """
    dx = np.abs(np.diff(lum, axis=2)).mean(axis=(0, 1))
    dy = np.abs(np.diff(lum, axis=1)).mean(axis=(0, 2))
    fx = np.array([dx[p::8].mean() for p in range(8)])
    fy = np.array([dy[p::8].mean() for p in range(8)])
    rx = fx / max(np.median(fx), 1e-6)
    ry = fy / max(np.median(fy), 1e-6)
    own = float(np.sqrt(rx[7] * ry[7]))
    py, px = int(np.argmax(ry)), int(np.argmax(rx))
    return own, (py, px), float(np.sqrt(ry[py] * rx[px]))




# ---------------------------------------------------------------------------------------------
# head

def default_head_path() -> Path:
    return packaged("forensics.signals", "dct_head.json")


def load_head(path: str | Path) -> Artifact:
    """Read and strictly check a head JSON file; raise :class:`WeightsError` on any mismatch."""
    head = read_artifact(path, HEAD_FORMAT, HEAD_FORMAT_VERSION, arrays=("mean", "scale", "coef"), what="DCT head",
                         fix="refit it with forensics.training.fit_pixel_heads or pass head_path=")
    names = tuple(head.get("feature_names", ()))
    if names != FEATURE_NAMES:
        raise WeightsError(
            f"DCT head {path}: feature names do not match this extractor (features v{FEATURES_VERSION}); "
            f"head has {len(names)}, extractor {len(FEATURE_NAMES)}; refit with forensics.training.fit_pixel_heads"
        )
    for key in ("mean", "scale", "coef"):
        if head.arrays[key].shape != (len(FEATURE_NAMES),):
            raise WeightsError(f"DCT head {path}: {key!r} needs {len(FEATURE_NAMES)} numbers")
    if not isinstance(head.get("intercept"), (int, float)):
        raise WeightsError(f"DCT head {path}: 'intercept' must be a number")
    return head


class DCTSignal(BaseSignal):
    """Frequency-residual signal; ``score`` is the head's log-odds that the image is AI-generated."""

    name: ClassVar[str] = "dct"
    version: ClassVar[str] = f"1.0+f{FEATURES_VERSION}"
    failure: ClassVar[str] = "frequency analysis failed"
    evidence_kind: ClassVar[str] = "pixels"
    #: not in the default set: out of family it earns no weight in the default fusion
    #: (docs/evaluation.md) and costs about 100 ms an image; it runs, and maps, when named
    by_default = False

    def __init__(self, max_tiles: int = 16, tile: int = 256, min_size: int = 64,
                 head_path: str | Path | None = None) -> None:
        self.max_tiles = max_tiles
        self.tile = tile
        self.min_size = min_size
        self.head_path = head_path
        self._head: Artifact | None = None
        self._lock = threading.Lock()

    def _get_head(self) -> Artifact:
        with self._lock:
            if self._head is None:
                self._head = load_head(self.head_path or default_head_path())
            return self._head

    def fingerprint(self) -> dict[str, Any]:
        head = self._get_head()
        return {"name": self.name, "version": self.version, "features_version": FEATURES_VERSION,
                "head_sha256": head.sha256, "head_version": head.get("version"),
                "tile": self.tile, "max_tiles": self.max_tiles}

    def features(self, rgb: np.ndarray) -> np.ndarray:
        """The image-level features the head is fitted on, for an ``(h, w, 3)`` uint8 image: the
        mean of :func:`tile_features` over the textured tiles (float32; NaN when every tile is flat).
        The score is the head applied to them (the mean tile logit, the head being linear). The
        training pipeline calls this, so training sees what analysis sees."""
        tiles, _ = extract_tiles(rgb, self.tile, self.max_tiles)
        feats, diag = tile_features(tiles)
        keep = diag["res_std"] >= FLAT_STD
        if not keep.any():
            return np.full(len(FEATURE_NAMES), np.nan, np.float32)
        return feats[keep].mean(axis=0).astype(np.float32)

    def analyze(self, image: "LoadedImage") -> SignalResult:
        head = self._get_head()
        h, w = image.height, image.width
        if min(h, w) < self.min_size or self.tile < 16 or self.max_tiles < 1:
            return SignalResult.abstained(
                self.name, self.version,
                f"image is {w}x{h}; the frequency signal needs at least {self.min_size} px on each side",
            )
        return self._analyze(image, head)

    def _analyze(self, image: "LoadedImage", head: Artifact) -> SignalResult:
        tiles, (_, _, t, corners) = extract_tiles(image.rgb, self.tile, self.max_tiles)
        feats, diag = tile_features(tiles)
        mean, scale, coef = (head.arrays[k] for k in ("mean", "scale", "coef"))
        logits = head["intercept"] + ((feats - mean) / scale) @ coef
        textured = diag["res_std"] >= FLAT_STD
        grid_own, grid_phase, grid_best = jpeg_grid(diag["lum"])
        quality = estimate_quality(image.quantization) if image.format in JPEG_FORMATS else None
        if not textured.any():
            return SignalResult.abstained(
                self.name, self.version, "image has no texture for frequency analysis (flat or saturated)",
                evidence={"tiles": int(len(logits)), "tile_size": t, "tiles_flat": int(len(logits))})
        score = float(logits[textured].mean())
        prob = float(sigmoid(score))
        hm, cell = tile_map(image.height, image.width, t, corners, np.where(textured, logits, np.nan))

        def med(key: str) -> float:
            return float(np.median(diag[key][textured]))

        def peak(key: str) -> float:  # geometric-mean peak/background, 1.0 = no periodic trace
            return math.exp(med(key) - _NOISE_LOG_RATIO)

        p8, p8_off, p16, p2 = peak("r_p8_all"), peak("r_p8_off"), peak("r_p16_all"), peak("r_p2")
        own = grid_own > 1.15
        ghost = (not own) and grid_best > 1.15 and grid_phase != (7, 7)
        evidence = {
            "tiles": int(textured.sum()), "tile_size": int(t), "tiles_flat": int((~textured).sum()),
            "period8_peak": round(p8, 3), "period8_offaxis_peak": round(p8_off, 3),
            "period16_peak": round(p16, 3), "period2_peak": round(p2, 3),
            "jpeg_grid": bool(own), "jpeg_grid_strength": round(grid_own, 3),
            "jpeg_ghost_grid": bool(ghost), "jpeg_quality_estimate": quality,
            "spectrum_slope": round(med("slope"), 3),
            "tile_logit_min": round(float(logits[textured].min()), 3),
            "tile_logit_max": round(float(logits[textured].max()), 3),
            "head_probability": round(prob, 4), "head_version": str(head.get("version")),
            "heatmap_grid": {"rows": hm.shape[0], "cols": hm.shape[1], "cell_height": cell, "cell_width": cell},
        }
        parts = [f"period-8 peak {p8:.1f}x background (off-axis {p8_off:.1f}x)"]
        if own:
            parts.append("JPEG grid detected" + (f" (q\u2248{quality})" if quality else ""))
        elif ghost:
            parts.append("misaligned JPEG grid (compressed, then cropped)")
        elif quality:
            parts.append(f"JPEG file (q\u2248{quality}) but no block grid visible in the pixels")
        else:
            parts.append("no JPEG grid")
        # the head's log-odds, like the other pixel signals: a p(AI) here would read as a second
        # verdict beside the fused P(AI) (it stays in the evidence as head_probability)
        parts.append(f"{int(textured.sum())} tiles of {t}px, head log-odds {score:+.2f}")
        return SignalResult(self.name, self.version, "ok", score=score, evidence=evidence,
                            summary="; ".join(parts), heatmap=hm)

