"""What the fakes made from reals share: their final encoding (``taesd_fakes``, ``autogan_fakes``,
``probe_fakes``) and the halving of the DCGANs' training photos (``dcgan_fakes``, ``probe_fakes``)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from forensics.training.seeds import hash_seed


def encode_like_reals(rgb: np.ndarray, key: str) -> np.ndarray:
    """The reals' final encoding, drawn from a hash of ``key``: JPEG q60-100 (p 0.85; 4:4:4 with
    p 0.3, else 4:2:0) or lossless."""
    rng = np.random.default_rng(hash_seed(key, 8, "big"))
    if rng.random() >= 0.85:
        return rgb
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(rng.integers(60, 101)), subsampling=int(rng.choice([0, 2], p=[0.3, 0.7])))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def final_encoding(rec: np.ndarray, recipe: str, path: str) -> np.ndarray:
    """The final encoding given to a fake made by ``recipe`` from the real photo at ``path``."""
    return encode_like_reals(rec, f"{recipe}-jpeg|{path}")


def halve(crop: np.ndarray) -> np.ndarray:
    """A ``(2n, 2n, 3)`` uint8 crop halved by 2x2 means, rounded."""
    n = crop.shape[0] // 2
    return (crop.astype(np.float32).reshape(n, 2, n, 2, 3).mean(axis=(1, 3)) + 0.5).astype(np.uint8)
