"""Models shipped inside the package (``signals/data``): a JSON head beside an ONNX graph.

Unlike the neural signals' user-installed weights (``forensics weights``), these files come with
every install, so the signals that use them run on the core install. The JSON records the
graph's sha256; the graph is checked against it once, when its session is created, and a
mismatch is an error, never a silent fallback. Sessions are shared per process.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from forensics.errors import WeightsError
from forensics.hashing import sha256_file

_SESSIONS: dict[tuple[str, int | None], Any] = {}
_HEADS: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def data_path(name: str) -> Path:
    """Path of a file in ``forensics/signals/data``."""
    return Path(str(resources.files("forensics.signals") / "data" / name))


def read_head(path: str | os.PathLike, fmt: str, version: int, arrays: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON head at ``path``, checked (format, version, finite arrays of one length), with
    ``_arrays`` (float64 arrays named ``arrays``), ``_sha256`` and ``_graph`` (the path of the
    ONNX graph it names in ``graph.file``, beside it); cached per path."""
    key = str(path)
    with _LOCK:
        if key in _HEADS:
            return _HEADS[key]
    try:
        raw = Path(path).read_bytes()
        head = json.loads(raw)
        if head.get("format") != fmt or head.get("format_version") != version:
            raise ValueError(f"expected format {fmt!r} version {version}, got {head.get('format')!r} "
                             f"version {head.get('format_version')!r}")
        head["_arrays"] = tuple(np.asarray(head[a], dtype=np.float64) for a in arrays)
        if arrays and (len({a.shape for a in head["_arrays"]}) != 1 or not all(np.isfinite(a).all() for a in head["_arrays"])):
            raise ValueError(f"arrays {', '.join(arrays)} must be finite and of one length")
        head["_graph"] = Path(path).parent / str(head["graph"]["file"])
        str(head["graph"]["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: unreadable head ({type(exc).__name__}: {exc}); reinstall forensics") from None
    head["_sha256"] = hashlib.sha256(raw).hexdigest()
    with _LOCK:
        _HEADS[key] = head
    return head


def session(path: str | os.PathLike, sha256: str, threads: int | None = None):
    """An onnxruntime session of the graph at ``path`` (created once per process and thread
    count), after checking its sha256 against ``sha256``."""
    key = (str(path), threads)
    with _LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            digest = sha256_file(path)
            if digest != sha256:
                raise WeightsError(f"{path}: sha256 {digest} differs from the recorded {sha256}; reinstall forensics")
            sess = _SESSIONS[key] = new_session(path, threads)
    return sess


def new_session(path: str | os.PathLike, threads: int | None):
    """An onnxruntime CPU session with this project's settings: sequential, no busy-waiting
    between runs (it would steal the cores that decoding needs), warnings off."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
