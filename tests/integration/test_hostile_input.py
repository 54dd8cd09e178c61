"""Hostile input through the CLI and the API (issue 22): non-regular files, terminal and CSV
injection, non-UTF-8 names, glob loops, odd result rows, absurd fusion numbers, ``-o`` over a
file that is not a results file, and error messages that neither trace back nor quote files."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.errors import ImageLoadError
from forensics.image import load_image
from support.images import encode, natural_rgb

CLI = [sys.executable, "-m", "forensics"]


def run(*args: str, timeout: float = 60, cwd: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a child process, so that a hang fails the test instead of stalling the suite."""
    return subprocess.run([*CLI, *args], capture_output=True, timeout=timeout, cwd=cwd or "/")


# -- 3. only regular files ---------------------------------------------------------------------
@pytest.fixture
def specials(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    rand = tmp_path / "random.png"
    rand.symlink_to("/dev/urandom")
    return fifo, zero, rand


def test_the_api_refuses_fifos_and_devices_before_opening(specials):
    for path in specials:
        with pytest.raises(ImageLoadError, match="not a regular file"):
            load_image(path, max_bytes=1 << 20)


def test_analyze_answers_on_a_fifo_and_a_link_to_a_device(specials, tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(encode(natural_rgb(32, 32), "PNG"))
    proc = run("analyze", "-q", *map(str, specials), str(good), timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert err.count("not a regular file") == 3
    assert "good.png: " in proc.stdout.decode()


def test_analyze_r_and_calibrate_skip_non_regular_files(specials, tmp_path):
    folder = specials[0].parent
    (folder / "good.png").write_bytes(encode(natural_rgb(32, 32), "PNG"))
    proc = run("analyze", "-r", "-q", str(folder), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert [line.split(":")[0] for line in proc.stdout.decode().splitlines()] == [str(folder / "good.png")]
    from forensics.calibration.calibration import expand_sources

    assert expand_sources(folder) == [str(folder / "good.png")]
