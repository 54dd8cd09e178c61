"""The README's set-up commands are the ones CI runs."""

import subprocess
import sys
from pathlib import Path

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

