"""Model artifacts: one reader for their JSON files, one cache of onnxruntime sessions.

Every model file the engine reads at analysis time is a JSON document with a ``format`` name
and a ``format_version``, often beside an ONNX graph whose sha256 it records: the heads
shipped in ``signals/data`` (``effnet_probe``, ``npr``, ``dct``), the attribution model in
``forensics/data``, the default fusion, and the sidecars of user-installed weights.
:func:`read_artifact` reads one of them (strict JSON: no ``NaN``, no ``Infinity``), checks its
format, version and, when the caller knows it, its sha256, and gives named arrays as finite
float64; :func:`session` opens an ONNX graph once per process and thread count, after checking
its bytes against the recorded sha256. A mismatch is an error, never a silent fallback.

Files a user hands the engine (``--fusion``, ``--calibration``) are read with
:func:`forensics.jsonfile.read_json` instead, which also refuses FIFOs, devices and huge files.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import WeightsError
from .hashing import sha256_bytes, sha256_file

_LOCK = threading.Lock()
_ARTIFACTS: dict[tuple[Any, ...], "Artifact"] = {}
_SESSIONS: dict[tuple[str, str, int | None], Any] = {}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this file may hold")


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON, refusing ``NaN`` and ``Infinity`` (which Python's json accepts)."""
    return json.loads(text, parse_constant=_refuse_constant)


def packaged(package: str, name: str) -> Path:
    """Path of ``name`` in the ``data`` folder of ``package`` (``"forensics.signals"``)."""
    return Path(str(resources.files(package) / "data" / name))


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX graph file and the sha256 its artifact records for it."""

    path: Path
    sha256: str


@dataclass(frozen=True, eq=False)
class Artifact:
    """One checked model file: its ``path``, parsed JSON ``data``, the ``sha256`` of its bytes
    and the ``arrays`` asked for (finite float64, by name)."""

    path: Path
    data: Mapping[str, Any]
    sha256: str
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def graph(self, key: str = "graph") -> OnnxGraph:
        """The ONNX graph this artifact names in ``data[key]`` (``{"file", "sha256"}``), beside it."""
        return OnnxGraph(self.path.parent / str(self.data[key]["file"]), str(self.data[key]["sha256"]))


def read_artifact(path: str | os.PathLike, fmt: str, version: int, *, arrays: tuple[str, ...] = (),
                  sha256: str | None = None, what: str = "model file", fix: str = "reinstall forensics") -> Artifact:
    """The artifact at ``path``, checked: ``format == fmt``, ``format_version == version``, the
    bytes' sha256 equal to ``sha256`` (when given), each of ``arrays`` a finite array. Cached
    per path, file size and modification time.

    Raises:
        WeightsError: naming the file, what is wrong with it, and ``fix``.
    """
    p = Path(path)
    try:
        st = p.stat()
        key: tuple[Any, ...] = (str(p), st.st_size, st.st_mtime_ns, fmt, version, arrays)
    except OSError as exc:
        raise WeightsError(f"{p}: cannot read the {what} ({exc.strerror or exc}); {fix}") from None
    with _LOCK:
        art = _ARTIFACTS.get(key)
    if art is None:
        art = _read(p, fmt, version, arrays, what, fix)
        with _LOCK:
            _ARTIFACTS[key] = art
    if sha256 is not None and art.sha256 != sha256:
        raise WeightsError(f"{p}: sha256 {art.sha256} differs from the recorded {sha256}; {fix}")
    return art


def _read(p: Path, fmt: str, version: int, arrays: tuple[str, ...], what: str, fix: str) -> Artifact:
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{p}: cannot read the {what} ({exc.strerror or exc}); {fix}") from None
    try:
        data = strict_loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"a JSON object expected, got {type(data).__name__}")
        if data.get("format") != fmt or data.get("format_version") != version:
            raise ValueError(f"expected format {fmt!r} version {version}, got {data.get('format')!r} "
                             f"version {data.get('format_version')!r}")
        named = {a: np.asarray(data[a], dtype=np.float64) for a in arrays}
        bad = [a for a, v in named.items() if not np.isfinite(v).all()]
        if bad:
            raise ValueError(f"arrays {', '.join(bad)} must be finite")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise WeightsError(f"{p}: unreadable {what} ({type(exc).__name__}: {exc}); {fix}") from None
    return Artifact(p, data, sha256_bytes(raw), named)


def session(graph: OnnxGraph, threads: int | None = None, *, fix: str = "reinstall forensics"):
    """The onnxruntime session of ``graph``, created once per process and thread count after
    checking the file's sha256 against the recorded one (a mismatch raises
    :class:`WeightsError` ending in ``fix``)."""
    key = (str(graph.path), graph.sha256, threads)
    with _LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            try:
                digest = sha256_file(graph.path)
            except OSError as exc:
                raise WeightsError(f"{graph.path}: cannot read the ONNX graph ({exc.strerror or exc}); {fix}") from None
            if digest != graph.sha256:
                raise WeightsError(f"{graph.path}: sha256 {digest} differs from the recorded {graph.sha256}; {fix}")
            sess = _SESSIONS[key] = new_session(graph.path, threads)
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
