"""The README's set-up commands are the ones CI runs, and what the docs show the engine printing is what it prints."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci_lines = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.startswith("python3 -m venv")]
    assert len(ci_lines) == 1
    assert ci_lines[0] in readme


def test_the_checkout_imports_as_the_installed_package():
    """Python started in the checkout's root finds ``forensics/`` there before any installed copy:
    that tree alone must hold the whole package, signals, fusion and calibration included."""
    code = ("import forensics, forensics.fusion, forensics.signals.dct, forensics.calibration; "
            "print(forensics.__file__); print(forensics.fusion.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    package, fusion = (Path(line) for line in out.stdout.splitlines())
    assert package.parent == REPO / "forensics"
    assert fusion.resolve() == REPO / "fusion" / "__init__.py"


def analyze_prints(cwd: Path, home: Path, *args: str) -> list[str]:
    """The lines ``forensics analyze ARGS`` prints on stdout, run in ``cwd`` with the weights store
    ``home`` (an empty one stands for a fresh install)."""
    out = subprocess.run([sys.executable, "-m", "forensics", "analyze", *args], cwd=cwd,
                         env={**os.environ, "FORENSICS_HOME": str(home)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.parametrize("doc", ["README.md", "docs/reading.md"])
def test_the_docs_show_what_analyze_sample_prints(doc, tmp_path):
    """The ``forensics analyze --sample`` block of the README and of docs/reading.md is the shipped
    engine's output (its file-name line apart), so a refit that moves the sample's figures fails
    here until the docs show the new ones. An empty weights store stands for a fresh install."""
    text = (REPO / doc).read_text()
    block = text.split("$ forensics analyze --sample\n", 1)[1].split("\n\n", 1)[0].split("\n```", 1)[0]
    shown = block.splitlines()
    shown = shown[next(i for i, ln in enumerate(shown) if ln.endswith("forensics/data/sample.jpg")) + 1:]
    assert analyze_prints(REPO, tmp_path, "--sample")[1:] == shown


def test_reading_shows_what_analyze_prints_for_its_corpus_examples(corpus_dir, tmp_path):
    """docs/reading.md's examples on corpus files, one line per file and the first lines of a
    block, are what the shipped engine prints for those files."""
    text = (REPO / "docs" / "reading.md").read_text()
    names = {"Firefly_tabby_cat.jpg": "provenance", "camera_0001.jpg": "real", "sd1_horror_0015.png": "ai", "web_0001.jpg": "real"}
    for name, folder in names.items():
        (tmp_path / name).symlink_to(corpus_dir / folder / name)
    quiet = text.split(f"$ forensics analyze -q {' '.join(names)}\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert analyze_prints(tmp_path, tmp_path / "home", "-q", *names) == quiet
    first = text.split("$ forensics analyze sd1_horror_0015.png        # the block's first lines\n", 1)[1]
    first = first.split("\n```", 1)[0].splitlines()
    assert len(first) == 4 and analyze_prints(tmp_path, tmp_path / "home", "sd1_horror_0015.png")[:4] == first
