"""What the two recipes of fakes made from reals (``taesd_fakes``, ``autogan_fakes``) share."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from forensics.training.seeds import hash_seed


def final_encoding(rec: np.ndarray, recipe: str, path: str) -> np.ndarray:
    """The reals' final encoding, given to a fake made from the real photo at ``path``: JPEG
    q60-100 (p 0.85; 4:4:4 with p 0.3, else 4:2:0) or lossless, drawn from a hash of the recipe
    and the path."""
    rng = np.random.default_rng(hash_seed(f"{recipe}-jpeg|{path}", 8, "big"))
    if rng.random() < 0.85:
        buf = io.BytesIO()
        Image.fromarray(rec).save(buf, "JPEG", quality=int(rng.integers(60, 101)), subsampling=int(rng.choice([0, 2], p=[0.3, 0.7])))
        rec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return rec
