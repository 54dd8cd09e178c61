"""The labelled corpus as the fitting scripts see it: rows, sources, and the fit/holdout split.

Every shipped model (the DCT head, the default fusion) is fitted on the ``fit`` half only;
the ``holdout`` half is what honest numbers are measured on. The split is a hash of the
corpus-relative path, so it is stable as files are added.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
SPLIT_SALT = "forensics-split-v1"
SEED = 20240604


def source_of(path: str) -> str:
    """``sd1_laion`` / ``sd1_horror`` / ``camera`` / ``web`` from a corpus path."""
    return Path(path).stem.rsplit("_", 1)[0]


def split_of(path: str) -> str:
    """``fit`` or ``holdout`` (about half each), from a hash of the corpus-relative path."""
    h = int(hashlib.sha256(f"{SPLIT_SALT}:{path}".encode()).hexdigest()[:8], 16)
    return "fit" if h % 2 == 0 else "holdout"


def file_seed(path: str, salt: str) -> int:
    """A deterministic per-file seed for laundering draws."""
    return int.from_bytes(hashlib.sha256(f"{SEED}:{salt}:{path}".encode()).digest()[:4], "little")


def read_corpus(corpus: Path, split: str | None = None) -> list[dict[str, str]]:
    """Labelled ``ai``/``real`` rows (the C2PA ``provenance/`` files are left out: they are
    metadata test cases, not pixel training data), sorted by path, optionally one split only."""
    with open(Path(corpus) / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] in ("ai", "real") and not r["path"].startswith("provenance/")]
    for r in rows:
        r["source"] = source_of(r["path"])
        r["split"] = split_of(r["path"])
    return sorted((r for r in rows if split is None or r["split"] == split), key=lambda r: r["path"])
