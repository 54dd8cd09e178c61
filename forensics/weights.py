"""Weight management for the neural signals: a per-user store, sidecars, download and add.

Layout (``$FORENSICS_HOME``, default ``~/.cache/forensics``)::

    weights/<name>/sidecar.json          preprocessing, labels, hashes, licence, provenance
    weights/<name>/model.onnx            the published PyTorch weights converted once
    weights/<name>/text_embeddings.npy   CLIP only: prompt embeddings computed at add time

The published PyTorch weights are converted to ONNX once, by ``forensics weights download``
(Hugging Face Hub, pinned revision, sha256 checked against the Hub's LFS record) or
``forensics weights add NAME PATH`` (a local copy). The conversion is checked against the
torch output (max abs difference <= :data:`PARITY_TOL`) before anything is written, so the
signals run on onnxruntime alone: ``analyze()`` imports no torch and never downloads.

Downloads and conversion need the ``convert`` extra (torch, timm, open-clip-torch, onnx,
huggingface_hub); running the signals needs only the ``neural`` extra (onnxruntime).

Importing this module is cheap: no torch, no onnxruntime, no huggingface_hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import SignalUnavailableError, WeightsError

log = logging.getLogger(__name__)

HOME_ENV = "FORENSICS_HOME"
SIDECAR = "sidecar.json"
SIDECAR_FORMAT = "forensics.weights"
SIDECAR_VERSION = 1
#: Largest allowed difference between the torch and the onnxruntime output at conversion.
PARITY_TOL = 1e-4

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

KINDS = ("sumsub_mobilenet", "open_clip")
RESIZE_MODES = ("squash", "shortest_crop")
INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class WeightSpec:
    """What one set of weights is and how its model must be fed (timm's PretrainedCfg idea).

    Attributes:
        name: store folder and ``forensics weights`` name.
        kind: ``sumsub_mobilenet`` (timm backbone + two-layer head, Sumsub's Model5M) or
            ``open_clip`` (an open_clip CLIP model).
        signal: the signal that reads these weights.
        arch: timm model name, or open_clip model config name.
        file: the weight file's name in the source repository / local folder.
        repo, revision: Hugging Face repository and pinned commit (``None`` = add-only).
        sha256: expected sha256 of ``file`` when known in advance (else checked against the
            Hub's LFS record at download, and recorded).
        licence: licence of the weights, as published.
        input_size: square input side.
        resize_mode: ``squash`` (resize both sides to ``input_size``, no crop) or
            ``shortest_crop`` (shorter side to ``input_size``, then centre crop).
        interpolation: ``bilinear`` or ``bicubic`` (Pillow filters, as torchvision on PIL).
        mean, std: per-channel normalisation of [0, 1] pixels.
        labels: class of each model output, in output order (``sumsub_mobilenet``).
        quick_gelu: open_clip activation; OpenAI-trained weights need ``True``.
        model_cfg: an explicit open_clip model config (architectures open_clip does not ship).
        description: one line for ``forensics weights list``.
    """

    name: str
    kind: str
    signal: str
    arch: str
    file: str
    repo: str | None = None
    revision: str | None = None
    sha256: str | None = None
    licence: str = "unknown"
    input_size: int = 224
    resize_mode: str = "squash"
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    labels: tuple[str, ...] = ()
    quick_gelu: bool | None = None
    model_cfg: dict[str, Any] | None = field(default=None, hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise WeightsError(f"weights {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.resize_mode not in RESIZE_MODES:
            raise WeightsError(f"weights {self.name!r}: resize_mode {self.resize_mode!r} is not one of {RESIZE_MODES}")
        if self.interpolation not in INTERPOLATIONS:
            raise WeightsError(f"weights {self.name!r}: interpolation {self.interpolation!r} is not one of {INTERPOLATIONS}")
        if self.kind == "sumsub_mobilenet" and (len(self.labels) != 2 or "fake" not in self.labels or "real" not in self.labels):
            raise WeightsError(f"weights {self.name!r}: labels must name both outputs, 'real' and 'fake', got {self.labels!r}")


def _sumsub(name: str, variant: str, file: str, revision: str, what: str) -> WeightSpec:
    return WeightSpec(
        name=name, kind="sumsub_mobilenet", signal=name, arch="tf_mobilenetv3_large_100", file=file,
        repo=f"Sumsub/Sumsub-ffs-synthetic-1.0_{variant}", revision=revision, licence="CC-BY-SA-3.0",
        input_size=224, resize_mode="squash", interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD,
        # Output order of the model's two logits. Sumsub's pipeline.py reports id2label["0"]
        # with softmax[:, 1]; config.json's id2label is cross-checked against this at add time.
        labels=("real", "fake"),
        description=f"Sumsub 'For Fake's Sake' {what} detector (MobileNetV3-large, 5M parameters)",
    )


#: Every set of weights the built-in signals know how to use.
SPECS: dict[str, WeightSpec] = {
    "sumsub_sd5": _sumsub("sumsub_sd5", "sd_5", "diffusions5M.pt", "f552c6db2ce5291b239157d76f8f6400b5d3a7fb",
                          "Stable Diffusion 1.4/1.5/2.1"),
    "sumsub_mj5": _sumsub("sumsub_mj5", "mj_5", "midjourney5M.pt", "10693910b9807e22e6db600e9c2c9431f6e56729",
                          "Midjourney"),
    "clip_vit_b32_openai": WeightSpec(
        name="clip_vit_b32_openai", kind="open_clip", signal="clip_zeroshot", arch="ViT-B-32",
        file="open_clip_model.safetensors", repo="timm/vit_base_patch32_clip_224.openai",
        revision="ab5b8ef490e86faa07d3523926b842c765de1de5",
        licence="MIT (OpenAI CLIP); the Hub repository card says Apache-2.0",
        input_size=224, resize_mode="shortest_crop", interpolation="bicubic",
        mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD, quick_gelu=True,
        description="OpenAI CLIP ViT-B/32 (open_clip format), image tower + prompt embeddings",
    ),
}


def home() -> Path:
    """The per-user store: ``$FORENSICS_HOME`` or ``~/.cache/forensics``."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "forensics"


def weights_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The store folder of weights ``name`` (it may not exist)."""
    _check_name(name)
    return (Path(root) if root is not None else home()) / "weights" / name


def spec(name: str) -> WeightSpec:
    """The built-in :class:`WeightSpec` called ``name``."""
    try:
        return SPECS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(SPECS), n=2)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise WeightsError(f"unknown weights {name!r}{hint} (known: {', '.join(SPECS)})") from None


def how_to_get(name: str) -> str:
    """The commands that install weights ``name``, for unavailable reasons."""
    s = SPECS.get(name)
    cmds = []
    if s is not None and s.repo:
        cmds.append(f"run `forensics weights download {name}` (needs internet and `pip install 'forensics[convert]'`)")
    cmds.append(f"`forensics weights add {name} PATH` with a local copy of {s.file if s else 'the weights'}")
    return " or ".join(cmds)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-." for c in name) or name.startswith("."):
        raise WeightsError(f"weights name {name!r} is not valid; use letters, digits, '_', '-' and '.'")


# ---------------------------------------------------------------------------------------
# Sidecar: read and check (runtime side; cheap, no model loading)
# ---------------------------------------------------------------------------------------

_REQUIRED = ("format", "format_version", "name", "kind", "arch", "file", "sha256", "input_size", "resize_mode",
             "interpolation", "mean", "std", "licence", "source", "onnx")


def read_sidecar(name: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The checked sidecar of installed weights ``name``.

    Raises:
        SignalUnavailableError: not installed (the message says how to install them).
        WeightsError: the sidecar or a file it names is malformed or missing.
    """
    folder = weights_dir(name, root)
    path = folder / SIDECAR
    if not path.is_file():
        raise SignalUnavailableError(f"no weights {name!r} in {folder.parent}: {how_to_get(name)}")
    try:
        side = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable sidecar ({exc}); reinstall: {how_to_get(name)}") from None
    if not isinstance(side, dict) or side.get("format") != SIDECAR_FORMAT:
        raise WeightsError(f"{path}: not a {SIDECAR_FORMAT} sidecar; reinstall: {how_to_get(name)}")
    if side.get("format_version") != SIDECAR_VERSION:
        raise WeightsError(f"{path}: sidecar format_version {side.get('format_version')!r}, this forensics "
                           f"reads {SIDECAR_VERSION}; reinstall: {how_to_get(name)}")
    missing = [k for k in _REQUIRED if k not in side]
    if missing:
        raise WeightsError(f"{path}: sidecar lacks {', '.join(missing)}; reinstall: {how_to_get(name)}")
    for art in _artefacts(side):
        if not (folder / art).is_file():
            raise WeightsError(f"{folder / art}: missing (named by the sidecar); reinstall: {how_to_get(name)}")
    side["_dir"] = str(folder)
    return side


def _artefacts(side: dict[str, Any]) -> list[str]:
    files = [side["onnx"]["file"]]
    if "text_embeddings" in side:
        files.append(side["text_embeddings"]["file"])
    return files


RUNTIME_INSTALL = "`pip install 'forensics[neural]'`"


def runtime_problem() -> str | None:
    """Why the onnxruntime backend cannot run here, or ``None`` (checks without importing)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return f"onnxruntime is not installed: {RUNTIME_INSTALL}"
    return None


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
    upstream = _upstream_config(folder or src.parent, s)
    convert = _convert_module()
    target = weights_dir(name, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        if s.kind == "sumsub_mobilenet":
            extra = convert.convert_sumsub(src, s, tmp)
        else:
            from forensics.signals.clip import load_prompts

            extra = convert.convert_open_clip(src, s, tmp, load_prompts())
        side = _sidecar(s, digest, src, source or {"how": "add", "path": str(src)}, extra, upstream)
        (tmp / SIDECAR).write_text(json.dumps(side, indent=2, sort_keys=True) + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("installed weights %s in %s", name, target)
    return side


def download(name: str, *, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Fetch weights ``name`` from the Hugging Face Hub (pinned revision, standard HF cache),
    check the sha256 against the Hub's LFS record, then install as :func:`add` does.
    Honours ``HF_HUB_OFFLINE`` (the HF cache only)."""
    s = spec(name)
    if not s.repo or not s.revision:
        raise WeightsError(f"weights {name!r} have no published source; use `forensics weights add {name} PATH`")
    try:
        import huggingface_hub as hf
        from huggingface_hub import constants
    except ImportError:
        raise WeightsError("downloading needs huggingface_hub: `pip install 'forensics[convert]'`") from None
    offline = bool(constants.HF_HUB_OFFLINE)
    try:
        path = hf.hf_hub_download(s.repo, s.file, revision=s.revision, local_files_only=offline)
        if s.kind == "sumsub_mobilenet":
            try:
                hf.hf_hub_download(s.repo, "config.json", revision=s.revision, local_files_only=offline)
            except Exception as exc:  # the weights are enough; the label cross-check is skipped
                log.warning("%s: config.json not fetched (%s); label order taken from the built-in table", s.repo, exc)
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


def _convert_module():
    missing = [m for m in ("torch", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise WeightsError(f"converting weights needs {', '.join(missing)}: `pip install 'forensics[convert]'`")
    from . import convert

    return convert


def _upstream_config(folder: Path, s: WeightSpec) -> dict[str, Any] | None:
    """Sumsub's ``config.json`` beside the weights, cross-checked against the pinned labels."""
    if s.kind != "sumsub_mobilenet":
        return None
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


def _sidecar(s: WeightSpec, digest: str, src: Path, source: dict[str, Any], extra: dict[str, Any],
             upstream: dict[str, Any] | None) -> dict[str, Any]:
    from . import __version__

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
    names = list(SPECS)
    base = (Path(root) if root is not None else home()) / "weights"
    if base.is_dir():
        names += sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in SPECS)
    rows = []
    for name in names:
        s = SPECS.get(name)
        row: dict[str, Any] = {
            "name": name, "signal": s.signal if s else None, "dir": str(weights_dir(name, root)),
            "file": s.file if s else None, "licence": s.licence if s else None,
            "source": f"{s.repo}@{s.revision}" if s and s.repo else None,
            "description": s.description if s else "",
        }
        try:
            side = read_sidecar(name, root)
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
