"""Installing the neural signals' weights: download or add, convert, verify, write the store.

The published PyTorch weights are converted to ONNX once, by ``forensics weights download``
(Hugging Face Hub, pinned revision, sha256 checked against the Hub's LFS record) or
``forensics weights add NAME PATH`` (a local copy). The conversion is checked against the
torch output (max abs difference <= :data:`forensics.weights.convert.PARITY_TOL`) before
anything is written, so the signals run on onnxruntime alone: ``analyze()`` imports no torch
and never downloads.

Which weights exist is declared by the signals (each signal class's ``weight_specs``); how
each kind is converted is :data:`forensics.weights.convert.CONVERTERS`.

Downloads and conversion need the ``convert`` extra (torch, timm, open-clip-torch, onnx,
huggingface_hub); running the signals needs only the ``neural`` extra (onnxruntime).

Importing this module is cheap: no torch, no onnxruntime, no huggingface_hub.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forensics.errors import SignalUnavailableError, WeightsError
from forensics.hashing import sha256_file
from forensics.signals import signal_class, signal_names
from forensics.version import __version__

from .spec import WeightSpec
from .store import SIDECAR, SIDECAR_FORMAT, SIDECAR_VERSION, home, read_sidecar, weights_dir

log = logging.getLogger(__name__)


def specs() -> dict[str, WeightSpec]:
    """Every :class:`WeightSpec` the registered signals declare (``weight_specs`` on the class),
    in signal order. A signal that cannot be imported declares none."""
    out: dict[str, WeightSpec] = {}
    for name in signal_names():
        try:
            cls = signal_class(name)
        except ImportError as exc:
            log.warning("%s", exc)
            continue
        for s in getattr(cls, "weight_specs", ()):
            out.setdefault(s.name, s)
    return out


def spec(name: str) -> WeightSpec:
    """The built-in :class:`WeightSpec` called ``name``."""
    known = specs()
    try:
        return known[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(known), n=2)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise WeightsError(f"unknown weights {name!r}{hint} (known: {', '.join(known)})") from None


# ---------------------------------------------------------------------------------------
# Installing: download / add -> convert -> verify -> write the store folder atomically
# ---------------------------------------------------------------------------------------


def add(name: str, path: str | os.PathLike, *, root: str | os.PathLike | None = None,
        weight_spec: WeightSpec | None = None, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Install weights ``name`` from a local copy: a Sumsub/open_clip folder or the weight file.

    The file is loaded strictly (``torch.load(weights_only=True)`` or safetensors), converted
    to ONNX, checked against the torch output, and written with its sidecar. Returns the
    sidecar. ``weight_spec`` overrides the built-in table (custom or test architectures).
    """
    s = weight_spec or spec(name)
    if s.name != name:
        s = replace(s, name=name)
    src = Path(path).expanduser()
    folder = None
    if src.is_dir():
        folder = src
        src = src / s.file
        if not src.is_file():
            found = sorted(p.name for p in folder.iterdir() if p.suffix in (".pt", ".pth", ".bin", ".safetensors"))
            raise WeightsError(f"{folder}: no {s.file} in this folder (found: {', '.join(found) or 'no weight files'}); "
                               f"pass the folder laid out like {s.repo or 'the source repository'} or the file itself")
    elif not src.is_file():
        raise WeightsError(f"{src}: no such file or folder; expected {s.file} or a folder holding it")
    digest = sha256_file(src)
    if s.sha256 and digest != s.sha256:
        raise WeightsError(f"{src}: sha256 {digest} does not match the published {s.sha256} for {name!r}; "
                           "the file is corrupt or a different model")
    check = UPSTREAM_CHECKS.get(s.kind)
    upstream = check(folder or src.parent, s) if check is not None else None
    converter = _converter(s.kind)
    target = weights_dir(name, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        extra = converter(src, s, tmp)
        side = _sidecar(s, digest, src, source or {"how": "add", "path": str(src)}, extra, upstream)
        (tmp / SIDECAR).write_text(json.dumps(side, indent=2, sort_keys=True) + "\n")
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("installed weights %s in %s", name, target)
    return side


def _swap_in(new: Path, target: Path) -> None:
    """Move the complete folder ``new`` to ``target``. An existing install is renamed aside
    first and put back if ``new`` cannot take its place, then deleted: the store holds the old
    install or the new one, never a deleted one. (Linux cannot rename a folder over a
    non-empty one; between the two renames, a reader finds the weights not installed.)"""
    if not target.exists():
        new.rename(target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    target.rename(aside)  # over the empty folder mkdtemp made
    try:
        new.rename(target)
    except BaseException:
        aside.rename(target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def download(name: str, *, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Fetch weights ``name`` from the Hugging Face Hub (pinned revision, standard HF cache),
    check the sha256 against the Hub's LFS record, then install as :func:`add` does.
    Honours ``HF_HUB_OFFLINE`` (the HF cache only)."""
    s = spec(name)
    if not s.repo:
        raise WeightsError(f"weights {name!r} have no published source; use `forensics weights add {name} PATH`")
    if not s.revision:
        raise WeightsError(f"weights {name!r} ({s.repo}) have no pinned revision to download and check; download "
                           f"{s.file} from {s.repo} yourself, then `forensics weights add {name} PATH`")
    try:
        import huggingface_hub as hf
        from huggingface_hub import constants
    except ImportError:
        raise WeightsError("downloading needs huggingface_hub: `pip install 'forensics[convert]'`") from None
    offline = bool(constants.HF_HUB_OFFLINE)
    try:
        path = hf.hf_hub_download(s.repo, s.file, revision=s.revision, local_files_only=offline)
        for extra_file in UPSTREAM_FILES.get(s.kind, ()):
            try:
                hf.hf_hub_download(s.repo, extra_file, revision=s.revision, local_files_only=offline)
            except Exception as exc:  # the weights are enough; the cross-check is skipped
                log.warning("%s: %s not fetched (%s); label order taken from the built-in table", s.repo, extra_file, exc)
    except Exception as exc:
        where = "the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "the Hugging Face Hub"
        raise WeightsError(f"{s.repo}@{s.revision[:12]}/{s.file}: could not be fetched from {where} "
                           f"({type(exc).__name__}: {exc}); or get the file another way and run "
                           f"`forensics weights add {name} PATH`") from None
    digest = sha256_file(path)
    expected, checked = s.sha256, "built-in table"
    if expected is None and not offline:
        try:
            info = hf.HfApi().get_paths_info(s.repo, [s.file], revision=s.revision)
            lfs = getattr(info[0], "lfs", None) if info else None
            if lfs is not None:
                expected, checked = lfs.sha256, "Hub LFS record"
        except Exception as exc:
            log.warning("%s: LFS sha256 not available (%s)", s.repo, exc)
    if expected is not None and digest != expected:
        raise WeightsError(f"{path}: sha256 {digest} does not match the {checked} {expected}; delete it from "
                           "the Hugging Face cache and download again")
    source = {"how": "download", "repo": s.repo, "revision": s.revision, "path": path,
              "sha256_checked_against": checked if expected else "nothing (offline, no pinned sha256)"}
    return add(name, Path(path).parent, root=root, weight_spec=s, source=source)


def _converter(kind: str) -> Callable[[Path, WeightSpec, Path], dict[str, Any]]:
    """The converter of weights of ``kind`` (importing torch: only when installing)."""
    missing = [m for m in ("torch", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise WeightsError(f"converting weights needs {', '.join(missing)}: `pip install 'forensics[convert]'`")
    from .convert import CONVERTERS  # torch and onnx load here, never on `forensics weights list`

    return CONVERTERS[kind]


def _sumsub_config(folder: Path, s: WeightSpec) -> dict[str, Any] | None:
    """Sumsub's ``config.json`` beside the weights, cross-checked against the pinned labels."""
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{cfg_path}: unreadable ({exc})") from None
    id2label = cfg.get("id2label") if isinstance(cfg, dict) else None
    if not isinstance(id2label, dict) or set(id2label) != {"0", "1"}:
        raise WeightsError(f"{cfg_path}: expected id2label with keys '0' and '1', got {id2label!r}")
    # Sumsub's pipeline.py reports id2label["0"] with softmax[:, 1] and id2label["1"] with
    # softmax[:, 0]; so output 1 is what id2label["0"] names.
    implied = (_label_kind(id2label["1"]), _label_kind(id2label["0"]))
    if implied != s.labels:
        raise WeightsError(f"{cfg_path}: id2label {id2label} implies output order {implied} under Sumsub's "
                           f"pipeline, but {s.name!r} pins {s.labels}; refusing to guess which output is 'fake'")
    return {"config.json": cfg}


def _label_kind(label: Any) -> str | None:
    """``fake`` / ``real`` for a class name such as ``AI`` or ``Real``; ``None`` if unclear."""
    words = set(re.findall(r"[a-z]+", str(label).lower()))
    fake = bool(words & {"ai", "fake", "synthetic", "generated", "artificial"})
    real = bool(words & {"real", "human", "authentic", "natural", "photo", "camera"})
    if fake == real or words & {"not", "non"}:
        return None
    return "fake" if fake else "real"


#: Files published beside the weights of a kind, fetched by :func:`download`.
UPSTREAM_FILES: dict[str, tuple[str, ...]] = {"sumsub_mobilenet": ("config.json",)}
#: Per kind: read and cross-check those files in the source folder (``None`` when absent).
UPSTREAM_CHECKS: dict[str, Callable[[Path, WeightSpec], dict[str, Any] | None]] = {"sumsub_mobilenet": _sumsub_config}


def _sidecar(s: WeightSpec, digest: str, src: Path, source: dict[str, Any], extra: dict[str, Any],
             upstream: dict[str, Any] | None) -> dict[str, Any]:
    d = asdict(s)
    side: dict[str, Any] = {
        "format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION,
        "name": s.name, "kind": s.kind, "signal": s.signal, "arch": s.arch, "file": src.name, "sha256": digest,
        "input_size": s.input_size, "resize_mode": s.resize_mode, "interpolation": s.interpolation,
        "mean": list(s.mean), "std": list(s.std), "labels": list(s.labels), "quick_gelu": s.quick_gelu,
        "licence": s.licence, "model_cfg": d["model_cfg"],
        "source": {"repo": s.repo, "revision": s.revision, **source},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "forensics_version": __version__,
    }
    if upstream:
        side["upstream"] = upstream
    side.update(extra)
    return side


# ---------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------


def status(root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """One row per known weights (built-ins, then other installed folders): what needs them,
    where they are looked for, whether installed, sha256, licence, source."""
    known = specs()
    names = list(known)
    base = (Path(root) if root is not None else home()) / "weights"
    if base.is_dir():
        names += sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in known)
    rows = []
    for name in names:
        s = known.get(name)
        row: dict[str, Any] = {
            "name": name, "signal": s.signal if s else None, "dir": str(weights_dir(name, root)),
            "file": s.file if s else None, "licence": s.licence if s else None,
            "source": f"{s.repo}@{s.revision}" if s and s.repo else None,
            "description": s.description if s else "",
        }
        try:
            side = read_sidecar(name, root, s)
        except SignalUnavailableError:
            row.update(installed=False, problem=None, sha256=s.sha256 if s else None)
        except WeightsError as exc:
            row.update(installed=False, problem=str(exc), sha256=None)
        else:
            src = side["source"]
            row.update(installed=True, problem=None, sha256=side["sha256"], licence=side["licence"],
                       signal=side.get("signal"), file=side["file"], backend="onnxruntime",
                       installed_from=(f"{src['repo']}@{src['revision']}" if src.get("how") == "download"
                                       else f"local copy {src.get('path')}"),
                       parity_max_abs=side["onnx"].get("parity_max_abs"))
        rows.append(row)
    return rows
