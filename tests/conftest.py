"""Shared fixtures. Tests that need the labelled corpus skip cleanly when it is absent."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def corpus_path() -> Path:
    """``$FORENSICS_CORPUS``, else ``../shared/corpus`` beside the checkout."""
    env = os.environ.get("FORENSICS_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = corpus_path()
    if not (path / "labels.csv").is_file():
        pytest.skip(f"labelled corpus not found at {path} (set FORENSICS_CORPUS)")
    return path


@pytest.fixture(scope="session")
def corpus_labels(corpus_dir: Path) -> list[dict[str, str]]:
    with open(corpus_dir / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))
