"""Ray sessions for the tests of forensics.distributed: small, and checked gone afterwards."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: Object store bytes per node: these tests move paths and JSON lines, never pixels.
STORE = 150 * 2**20


@contextmanager
def worker_pythonpath():
    """Ray workers import the tests' support signals: they inherit PYTHONPATH from the Ray
    processes started inside this block, which inherit it from the test process."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), saved) if p)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def session_dir() -> str:
    """The folder of the Ray session this process is connected to."""
    import ray

    return ray._private.worker._global_node.get_session_dir_path()


def session_processes(session_dir: str) -> list[int]:
    """Processes whose command line names this Ray session's folder (raylet, GCS, workers)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if session_dir.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


def assert_gone(session_dir: str) -> None:
    deadline = time.monotonic() + 60
    left = session_processes(session_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = session_processes(session_dir)
    assert not left, f"Ray processes left behind: {left}"
