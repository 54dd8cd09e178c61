"""The pixel signals the default fusion may weigh, and where the pipeline finds their scores.

``PIXEL_SIGNALS`` is the pipeline's one line per pixel signal. A signal whose model a stage of
this pipeline fits names the file that stage writes into the cache and the array of each crop in
it (:class:`OutOfFamily`): scores of images a model fitted without their fold gave them. A
signal whose model this material does not fit (no learned weights, or weights from elsewhere) is
:data:`AS_SHIPPED`: the stage ``signal_scores`` runs it as analysis does, beside the metadata
signals, on every image in every condition. ``fit_fusion`` and ``eval_generalisation`` read
both kinds through :func:`pixel_scores`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class OutOfFamily:
    """Scores a stage wrote into ``CACHE/file``: array ``key`` with ``{crop}`` the condition's crop."""

    file: str
    key: str


@dataclass(frozen=True)
class AsShipped:
    """Scored by ``signal_scores`` with the shipped model, as analysis scores it."""


AS_SHIPPED = AsShipped()

PIXEL_SIGNALS: dict[str, OutOfFamily | AsShipped] = {
    "dct": OutOfFamily("oof_heads.npz", "dct_{crop}"),  # fit_pixel_heads (only from a cache made with pixel_data --dct)
    "effnet_probe": OutOfFamily("oof_heads.npz", "eff_{crop}"),  # fit_pixel_heads
    "npr": OutOfFamily("oof_npr.npz", "{crop}"),  # train_npr --oof
}


def as_shipped() -> tuple[str, ...]:
    """The pixel signals ``signal_scores`` runs."""
    return tuple(s for s, where in PIXEL_SIGNALS.items() if where is AS_SHIPPED)


def cache_files() -> tuple[str, ...]:
    """The cache files holding the out-of-family scores, in the order of ``PIXEL_SIGNALS``."""
    return tuple(dict.fromkeys(w.file for w in PIXEL_SIGNALS.values() if isinstance(w, OutOfFamily)))


def pixel_scores(cache: Path, signal_scores: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    """``{signal: {condition: scores}}`` for every condition of ``pixel_data.CONDITIONS``, NaN
    where a signal gave no score; ``signal_scores`` is ``CACHE/signal_scores.json`` (one dict of
    ``{condition: {signal: score}}`` per row). A signal whose arrays the cache lacks is left out."""
    # imported here: pixel_data sets the thread count of the process that imports it, and the
    # runner, which imports this module, must not pass that on to every stage
    from forensics.training.pixel_data import CONDITIONS, SAME_PIXELS

    files = {}
    for f in cache_files():
        with np.load(cache / f) as npz:  # each member read once (an NpzFile decompresses it at every access)
            files[f] = {k: np.asarray(npz[k], dtype=np.float64) for k in npz.files}
    out: dict[str, dict[str, np.ndarray]] = {}
    for s, where in PIXEL_SIGNALS.items():
        if isinstance(where, OutOfFamily):
            keys = {c: where.key.format(crop=SAME_PIXELS.get(c, c)) for c in CONDITIONS}
            if all(k in files[where.file] for k in keys.values()):
                out[s] = {c: files[where.file][k] for c, k in keys.items()}
        else:
            out[s] = {c: np.array([np.nan if (v := r.get(c, {}).get(s)) is None else v for r in signal_scores])
                      for c in CONDITIONS}
    return out
