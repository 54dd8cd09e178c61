"""The per-user weight store and its sidecars (runtime side: cheap, no model loading).

Layout (``$FORENSICS_HOME``, default ``~/.cache/forensics``)::

    weights/<name>/sidecar.json          preprocessing, labels, hashes, licence, provenance
    weights/<name>/model.onnx            the published PyTorch weights converted once
    weights/<name>/text_embeddings.npy   CLIP only: prompt embeddings computed at add time

Importing this module is cheap: no torch, no onnxruntime, no huggingface_hub.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from forensics.artifacts import read_artifact
from forensics.errors import SignalUnavailableError, WeightsError

from .spec import WeightSpec, check_name

HOME_ENV = "FORENSICS_HOME"
SIDECAR = "sidecar.json"
SIDECAR_FORMAT = "forensics.weights"
SIDECAR_VERSION = 1


def home() -> Path:
    """The per-user store: ``$FORENSICS_HOME`` or ``~/.cache/forensics``."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "forensics"


def weights_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The store folder of weights ``name`` (it may not exist)."""
    check_name(name)
    return (Path(root) if root is not None else home()) / "weights" / name


def how_to_get(name: str, s: WeightSpec | None = None) -> str:
    """The commands that install weights ``name`` (whose built-in spec is ``s``, if any), for
    unavailable reasons."""
    cmds = []
    if s is not None and s.repo:
        cmds.append(f"run `forensics weights download {name}` (needs internet and `pip install 'forensics[convert]'`)")
    cmds.append(f"`forensics weights add {name} PATH` with a local copy of {s.file if s else 'the weights'}")
    return " or ".join(cmds)


# ---------------------------------------------------------------------------------------
# Sidecar: read and check (runtime side; cheap, no model loading)
# ---------------------------------------------------------------------------------------

_REQUIRED = ("format", "format_version", "name", "kind", "arch", "file", "sha256", "input_size", "resize_mode",
             "interpolation", "mean", "std", "licence", "source", "onnx")


def read_sidecar(name: str, root: str | os.PathLike | None = None, s: WeightSpec | None = None) -> dict[str, Any]:
    """The checked sidecar of installed weights ``name`` (built-in spec ``s``, for the messages).

    Raises:
        SignalUnavailableError: not installed (the message says how to install them).
        WeightsError: the sidecar or a file it names is malformed or missing.
    """
    folder = weights_dir(name, root)
    path = folder / SIDECAR
    if not path.is_file():
        raise SignalUnavailableError(f"no weights {name!r} in {folder.parent}: {how_to_get(name, s)}")
    fix = f"reinstall: {how_to_get(name, s)}"
    side = dict(read_artifact(path, SIDECAR_FORMAT, SIDECAR_VERSION, what="sidecar", fix=fix).data)
    missing = [k for k in _REQUIRED if k not in side]
    if missing:
        raise WeightsError(f"{path}: sidecar lacks {', '.join(missing)}; {fix}")
    for art in _artefacts(side):
        if not (folder / art).is_file():
            raise WeightsError(f"{folder / art}: missing (named by the sidecar); {fix}")
    side["_dir"] = str(folder)
    return side


def _artefacts(side: dict[str, Any]) -> list[str]:
    files = [side["onnx"]["file"]]
    if "text_embeddings" in side:
        files.append(side["text_embeddings"]["file"])
    return files


RUNTIME_INSTALL = "`pip install onnxruntime` (a dependency of forensics; reinstall it)"


def runtime_problem() -> str | None:
    """Why the onnxruntime backend cannot run here, or ``None`` (checks without importing)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return f"onnxruntime is not installed: {RUNTIME_INSTALL}"
    return None
