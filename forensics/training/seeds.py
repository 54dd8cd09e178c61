"""The one per-file hash seed of the training pipeline.

Every draw of the pipeline (a laundering, a crop, a split, a fold, a family cap) is seeded by a
hash of a text naming what is drawn and for which file, so the same files give the same draws on
any machine and in any order. Each caller keeps its own text (and so its own stream): changing one
would change the shipped models.
"""

from __future__ import annotations

import hashlib
from typing import Literal


def hash_seed(text: str, nbytes: int = 8, byteorder: Literal["little", "big"] = "little") -> int:
    """The first ``nbytes`` of the sha256 of ``text`` as an unsigned integer."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:nbytes], byteorder)
