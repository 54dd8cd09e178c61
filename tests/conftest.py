"""Shared fixtures and markers.

* ``corpus``: tests that read the labelled corpus (the ``corpus_dir`` fixture) skip cleanly
  when it is absent.
* ``neural``: every test in ``tests/neural`` (golden tests that build checkpoints with torch,
  timm and open_clip and convert them with ONNX). Without those packages the folder is not
  collected (its modules import them) and the session header says so.
* ``requires("pkg", ...)``: a test that needs packages of the test extra skips without them.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NEURAL = Path(__file__).resolve().parent / "neural"
NEURAL_PACKAGES = ("torch", "timm", "open_clip", "onnx", "onnxscript", "onnxruntime")
NEURAL_MISSING = [m for m in NEURAL_PACKAGES if importlib.util.find_spec(m) is None]
collect_ignore_glob = ["neural/*"] if NEURAL_MISSING else []
EXTRA = "the test extra: pip install -e '.[test]'"


def pytest_report_header(config: pytest.Config) -> str | None:
    if NEURAL_MISSING:
        return f"tests/neural not collected: {', '.join(NEURAL_MISSING)} missing ({EXTRA})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if NEURAL in item.path.parents:
            item.add_marker(pytest.mark.neural)
        if "corpus_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.corpus)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        missing = [m for m in mark.args if importlib.util.find_spec(m) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)} ({EXTRA})")


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


# -- the browser tests: the system Chromium, driven through Playwright (nothing is downloaded) ----
CHROMIUM = os.environ.get("FORENSICS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (the report's and the serve page's tests); skips without it."""
    if not os.path.isfile(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (the test extra has it)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()
