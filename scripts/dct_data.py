"""Corpus features for the DCT signal, for ``eval_dct.py`` (the feature study on the corpus; the
shipped head is fitted on the broad material by ``fit_pixel_heads.py``).

Reads ``labels.csv`` from the corpus, launders every ``ai``/``real`` file (provenance files are
left out) and extracts the image-level feature vector exactly as ``DCTSignal`` does at inference
(mean of the textured tiles' features). Results are cached under ``out/`` keyed by the corpus
listing, the recipe and the feature version, so the two scripts share one extraction.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from forensics.image import load_image  # noqa: E402
from forensics.evaluation.laundering import TRAINING_RECIPE, LaunderingError, launder, launder_random  # noqa: E402
from forensics.signals.dct import FEATURE_NAMES, FEATURES_VERSION, extract_tiles, tile_features  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import DEFAULT_CORPUS, REPO, SEED, file_seed, read_corpus  # noqa: E402,F401

CROP = 256          # both classes are cut to this size (the crop area alone scores AUROC 0.75)
TRAIN_VARIANTS = 4  # random laundered copies per training file
TILE, MAX_TILES, FLAT_STD = 256, 16, 0.25
EVAL_CONDITIONS = {  # name -> (laundering condition, crop)
    "original": ("original", None),
    "png_full": ("png", None),
    "jpeg90": ("jpeg90", CROP),
    "jpeg75": ("jpeg75", CROP),
    "downscale05": ("downscale05", CROP),
    "lossless_crop": ("png", CROP),
}


def image_features(data: bytes) -> np.ndarray:
    """Mean feature vector over textured tiles (NaN row when every tile is flat)."""
    rgb = load_image(data).rgb
    tiles, _ = extract_tiles(rgb, TILE, MAX_TILES)
    feats, diag = tile_features(tiles)
    keep = diag["res_std"] >= FLAT_STD
    if not keep.any():
        return np.full(len(FEATURE_NAMES), np.nan)
    return feats[keep].mean(axis=0)


def _job(args: tuple[str, str, str, int | None, int]) -> np.ndarray:
    fpath, kind, condition, crop, seed = args
    data = Path(fpath).read_bytes()
    try:
        if kind == "train":
            out = launder_random(data, seed=seed, crop=CROP)
        else:
            out = launder(data, condition, seed=seed, crop=crop)
    except LaunderingError:
        return np.full(len(FEATURE_NAMES), np.nan)  # too small for the crop
    return image_features(out)


def corpus_features(corpus: Path, *, with_eval: bool, workers: int = 2, cache_dir: Path | None = None,
                    split: str | None = None) -> dict:
    """Features for the training variants (and the evaluation conditions when ``with_eval``),
    of every corpus file or of one split (``fit`` / ``holdout``, see ``scripts/corpus.py``).

    Returns ``{"rows": [...], "train": (n_files, TRAIN_VARIANTS, F), "eval": {cond: (n_files, F)}}``;
    rows whose laundering failed (image smaller than the crop) hold NaN.
    """
    rows = read_corpus(corpus, split)
    key = hashlib.sha256(json.dumps([
        [r["path"] for r in rows], TRAINING_RECIPE, CROP, TRAIN_VARIANTS, SEED, FEATURES_VERSION,
        list(FEATURE_NAMES), EVAL_CONDITIONS, TILE, MAX_TILES, FLAT_STD,
    ], sort_keys=True, default=str).encode()).hexdigest()[:16]
    cache_dir = cache_dir or REPO / "out"
    cache_dir.mkdir(parents=True, exist_ok=True)
    result: dict = {"rows": rows}
    jobs: dict[str, list] = {}
    cache = cache_dir / f"dct_features_{key}_train.npy"
    if cache.is_file():
        result["train"] = np.load(cache)
    else:
        jobs["train"] = [(str(corpus / r["path"]), "train", "", CROP, file_seed(r["path"], f"train{k}"))
                         for r in rows for k in range(TRAIN_VARIANTS)]
    if with_eval:
        result["eval"] = {}
        for cond, (lc, crop) in EVAL_CONDITIONS.items():
            c = cache_dir / f"dct_features_{key}_{cond}.npy"
            if c.is_file():
                result["eval"][cond] = np.load(c)
            else:
                jobs[cond] = [(str(corpus / r["path"]), "eval", lc, crop, file_seed(r["path"], cond)) for r in rows]
    flat = [(name, j) for name, js in jobs.items() for j in js]
    if flat:
        print(f"extracting features for {len(flat)} laundered images on {workers} workers...", flush=True)
        with ProcessPoolExecutor(workers) as ex:
            vecs = list(ex.map(_job, [j for _, j in flat], chunksize=8))
        start = 0
        for name, js in jobs.items():
            arr = np.stack(vecs[start:start + len(js)])
            start += len(js)
            if name == "train":
                arr = arr.reshape(len(rows), TRAIN_VARIANTS, -1)
                result["train"] = arr
            else:
                result["eval"][name] = arr
            np.save(cache_dir / f"dct_features_{key}_{name}.npy", arr)
    return result


def folds(rows: list[dict[str, str]], k: int = 5) -> np.ndarray:
    """Fold id per file: stratified by source, deterministic (sorted by a seeded hash of the path)."""
    fold = np.empty(len(rows), dtype=int)
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_source.setdefault(r["source"], []).append(i)
    for idx in by_source.values():
        idx.sort(key=lambda i: file_seed(rows[i]["path"], "fold"))
        for j, i in enumerate(idx):
            fold[i] = j % k
    return fold


def training_matrix(train: np.ndarray, labels: np.ndarray, files: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten ``(n_files, variants, F)`` to rows, dropping NaN rows; returns X, y, file index."""
    n, v, f = train.shape
    x = train.reshape(n * v, f)
    y = np.repeat(labels, v)
    g = np.repeat(files, v)
    ok = np.isfinite(x).all(axis=1)
    return x[ok], y[ok], g[ok]


def fit_lr(x: np.ndarray, y: np.ndarray, c: float) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(x), y)
    return scaler, lr
