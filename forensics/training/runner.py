"""Run the training pipeline's stages in order, from the manifests into a cache, and keep a manifest of the cache.

Each stage is one module of ``forensics.training`` run as ``python -m`` in its own process (torch
and the worker pools stay out of this one), with its output in ``CACHE/<stage>.log``. The runner
stops at the first stage that fails, naming it and its log. Before a stage runs, every input it
declares must exist (else the error names the stage that writes it); after it, every output it
declares must exist.

``CACHE/manifest.json`` records, for each output file (in the cache, or a shipped file in the
repository, named relative to the repository so that a checkout elsewhere finds it), its size, sha256, the stage that wrote it and the code version of that stage (a
sha256 over the stage's module and the shared modules); for each stage, its inputs' sha256.
A stage whose outputs are all as recorded, with the same inputs and the same code version, is
up to date and skipped (``force`` runs it again).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from forensics.errors import ForensicsError
from forensics.hashing import sha256_file
from forensics.training import pixel_signals

MANIFEST = "manifest.json"
FORMAT = "forensics.training.cache"
FORMAT_VERSION = 1


class PipelineError(ForensicsError, RuntimeError):
    """A stage cannot run (unknown name, a missing input) or failed."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the pipeline: the command that runs it and the files it reads and writes.

    ``command``, ``inputs`` and ``outputs`` take the run's :class:`Config`. ``sources`` are the
    files whose bytes make the stage's code version."""

    name: str
    command: Callable[[Config], list[str]]
    inputs: Callable[[Config], list[Path]]
    outputs: Callable[[Config], list[Path]]
    sources: tuple[Path, ...] = ()


@dataclasses.dataclass(frozen=True)
class Config:
    """Where a run reads and writes: the extracted sources, the cache, the mirror, the corpus, the repository."""

    train_dir: Path
    cache: Path
    mirror: Path
    corpus: Path
    repo: Path


def code_version(stage: Stage) -> str:
    """sha256 over the stage's name, its sources' names and bytes (16 hex digits)."""
    h = hashlib.sha256(stage.name.encode())
    for p in stage.sources:
        h.update(b"\0" + p.name.encode() + b"\0" + Path(p).read_bytes())
    return h.hexdigest()[:16]


class Manifest:
    """``CACHE/manifest.json``: every output file and every stage run, written after each stage."""

    def __init__(self, cache: Path, repo: Path) -> None:
        self.cache = cache
        self.repo = repo
        self.path = cache / MANIFEST
        data = json.loads(self.path.read_text()) if self.path.is_file() else {}
        if data and (data.get("format"), data.get("format_version")) != (FORMAT, FORMAT_VERSION):
            raise PipelineError(f"{self.path} is not a {FORMAT} v{FORMAT_VERSION} manifest; move it away to start afresh")
        self.files: dict[str, dict] = data.get("files", {})
        self.stages: dict[str, dict] = data.get("stages", {})

    def key(self, path: Path) -> str:
        """A file's name in the manifest: relative to the cache when it lies in it, ``repo:`` and its
        path in the repository when it lies there, else its absolute path."""
        path = Path(path).resolve()
        for base, prefix in ((self.cache, ""), (self.repo, "repo:")):
            if path.is_relative_to(base.resolve()):
                return prefix + path.relative_to(base.resolve()).as_posix()
        return str(path)

    def digest(self, path: Path) -> str:
        """sha256 of ``path``, from the manifest when its size and modification time are as recorded."""
        st = path.stat()
        rec = self.files.get(self.key(path))
        if rec and rec["size"] == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns:
            return rec["sha256"]
        return sha256_file(path)

    def up_to_date(self, stage: Stage, cfg: Config) -> bool:
        rec = self.stages.get(stage.name)
        if not rec or rec.get("code_version") != code_version(stage):
            return False
        for p in stage.outputs(cfg):
            f = self.files.get(self.key(p))
            if not p.is_file() or not f or f["stage"] != stage.name or p.stat().st_size != f["size"] or self.digest(p) != f["sha256"]:
                return False
        return rec.get("inputs") == {self.key(p): self.digest(p) for p in stage.inputs(cfg)}

    def record(self, stage: Stage, cfg: Config, version: str, inputs: dict[str, str], started: float, seconds: float) -> None:
        """Record ``stage``'s outputs, written by code of ``version`` (taken before it ran) from ``inputs``."""
        outs = []
        for p in stage.outputs(cfg):
            st = p.stat()
            key = self.key(p)
            self.files[key] = {"size": st.st_size, "sha256": sha256_file(p), "stage": stage.name, "code_version": version,
                               "mtime_ns": st.st_mtime_ns}
            outs.append(key)
        self.stages[stage.name] = {"code_version": version, "inputs": inputs, "outputs": outs,
                                   "finished": dt.datetime.fromtimestamp(started + seconds, dt.timezone.utc).isoformat(
                                       timespec="seconds"),
                                   "seconds": round(seconds, 1)}
        self.write()

    def write(self) -> None:
        data = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "files": dict(sorted(self.files.items())), "stages": self.stages}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, self.path)


def select(stages: Sequence[Stage], start: str | None, stop: str | None) -> list[Stage]:
    """The stages from ``start`` through ``stop`` (both included; the first and the last by default)."""
    names = [s.name for s in stages]
    for given in (start, stop):
        if given is not None and given not in names:
            raise PipelineError(f"unknown stage {given!r}; the stages are {', '.join(names)}")
    lo = names.index(start) if start else 0
    hi = names.index(stop) + 1 if stop else len(names)
    if lo >= hi:
        raise PipelineError(f"--from {start} comes after --to {stop}; the stages are {', '.join(names)}")
    return list(stages[lo:hi])


def run(stages: Sequence[Stage], cfg: Config, *, start: str | None = None, stop: str | None = None, force: bool = False,
        log: Callable[[str], None] = print) -> list[str]:
    """Run ``stages`` from ``start`` through ``stop`` in order; return the names of those that ran.

    Raises :class:`PipelineError` naming the stage and its log when one fails, or naming the
    stage that writes an input that is missing."""
    todo = select(stages, start, stop)
    cfg.cache.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(cfg.cache, cfg.repo)
    writer = {manifest.key(p): s.name for s in stages for p in s.outputs(cfg)}
    ran = []
    for n, stage in enumerate(todo, 1):
        head = f"[{n}/{len(todo)}] {stage.name}"
        if not force and manifest.up_to_date(stage, cfg):
            log(f"{head}: up to date, skipped")
            continue
        missing = [p for p in stage.inputs(cfg) if not p.is_file()]
        if missing:
            by = writer.get(manifest.key(missing[0]))
            hint = f"; stage {by} writes it: run from {by}" if by else ""
            raise PipelineError(f"stage {stage.name} needs {missing[0]}, which does not exist{hint}")
        inputs = {manifest.key(p): manifest.digest(p) for p in stage.inputs(cfg)}
        version = code_version(stage)
        logfile = cfg.cache / f"{stage.name}.log"
        log(f"{time.strftime('%H:%M:%S')} {head} (log {logfile})")
        started, t0 = time.time(), time.monotonic()
        with open(logfile, "w") as fh:
            rc = subprocess.run(stage.command(cfg), stdout=fh, stderr=subprocess.STDOUT, cwd=cfg.repo).returncode
        if rc != 0:
            raise PipelineError(f"stage {stage.name} failed (exit {rc}); see {logfile}, then resume with --from {stage.name}")
        absent = [p for p in stage.outputs(cfg) if not p.is_file()]
        if absent:
            raise PipelineError(f"stage {stage.name} exited 0 but did not write {absent[0]}; see {logfile}")
        seconds = time.monotonic() - t0
        manifest.record(stage, cfg, version, inputs, started, seconds)
        ran.append(stage.name)
        log(f"  done in {seconds / 60:.1f} min")
    return ran


def module_stage(name: str, args: Callable[[Config], list[str]], inputs: Callable[[Config], list[Path]],
                 outputs: Callable[[Config], list[Path]]) -> Stage:
    """A stage run as ``python -m forensics.training.<name> ARGS``; its code version covers its
    module and the package's shared modules."""
    here = Path(__file__).resolve().parent
    sources = tuple(here / f"{m}.py" for m in dict.fromkeys((name, *SHARED)))
    return Stage(name, lambda c: [sys.executable, "-m", f"forensics.training.{name}", *args(c)], inputs, outputs, sources)


#: the modules every stage shares: a change in one makes every stage out of date
SHARED = ("corpus", "seeds", "folds", "metrics", "pixel_data", "pixel_signals", "fakes")
CROPS = ("aug", "q75", "orig", "jpeg90", "downscale05")


def stages() -> list[Stage]:
    """The pipeline, in order (docs/pixels.md, "Reproducing")."""
    def cache(*names: str) -> Callable[[Config], list[Path]]:
        return lambda c: [c.cache / n for n in names]

    def data(c: Config, *names: str) -> list[Path]:
        return [c.repo / "signals" / "data" / n for n in names]

    def probe(c: Config) -> list[Path]:
        """The probe's backbone and the code that reads an image through it (its windows)."""
        return [*data(c, "effnet_lite0.onnx"), c.repo / "signals" / "effnet_views.py"]

    material = ("rows.json", "features.npz", *(f"crop_{k}.npy" for k in CROPS))
    fakes = ("taesd.json", "crop_taesd.npy", "autogan.json", "crop_autogan.npy")
    return [
        module_stage("pixel_data", lambda c: ["--corpus", str(c.corpus), "--train-dir", str(c.train_dir), "--out", str(c.cache)],
                     lambda c: [c.corpus / "labels.csv", c.train_dir / "labels.csv", *probe(c)],
                     cache(*material)),
        module_stage("taesd_fakes", lambda c: ["--cache", str(c.cache), "--taesd", str(c.mirror / "madebyollin+taesd" / "repo")],
                     cache("rows.json", "crop_orig.npy"), cache("crop_taesd.npy", "taesd.json")),
        module_stage("autogan_fakes", lambda c: ["--cache", str(c.cache)],
                     cache("rows.json", "crop_aug.npy", "crop_orig.npy"), cache("crop_autogan.npy", "autogan.json")),
        module_stage("pix2pix_fakes", lambda c: ["--cache", str(c.cache)], cache("rows.json", "crop_aug.npy"),
                     cache("pix2pix_net.npz", "frame256.npy", "crop_pix2pix256.npy", "pix2pix.json")),
        module_stage("fake_features", lambda c: ["--cache", str(c.cache)],
                     lambda c: [*cache("rows.json", *fakes, "frame256.npy", "crop_pix2pix256.npy", "pix2pix.json")(c),
                                *probe(c)],
                     cache("fake_features.npz")),
        module_stage("enlarged_views", lambda c: ["--cache", str(c.cache)],
                     lambda c: [*cache("rows.json")(c), *probe(c)], cache("enlarged_features.npz")),
        module_stage("fit_pixel_heads", lambda c: ["--cache", str(c.cache)],
                     lambda c: [*cache("rows.json", "features.npz", "fake_features.npz", "enlarged_features.npz")(c),
                                *data(c, "effnet_lite0.onnx")],
                     lambda c: [c.cache / "oof_heads.npz", *data(c, "effnet_probe.json")]),
        module_stage("train_npr", lambda c: ["--cache", str(c.cache), "--oof"],
                     cache("rows.json", *(f"crop_{k}.npy" for k in CROPS), *fakes),
                     lambda c: [c.cache / "oof_npr.npz", *data(c, "npr.onnx", "npr.json")]),
        module_stage("signal_scores", lambda c: ["--cache", str(c.cache)], cache("rows.json"), cache("signal_scores.json")),
        module_stage("fit_fusion", lambda c: ["--cache", str(c.cache)],
                     lambda c: [*cache("rows.json", *pixel_signals.cache_files(), "signal_scores.json")(c),
                                *data(c, "effnet_probe.json", "npr.json", "npr.onnx")],
                     lambda c: [c.cache / "fused_oof.npz", c.repo / "fusion" / "data" / "default_fusion.json"]),
        module_stage("eval_generalisation", lambda c: ["--cache", str(c.cache)],
                     cache("rows.json", *pixel_signals.cache_files(), "signal_scores.json", "fused_oof.npz"),
                     lambda c: [c.cache / "evaluation_summary.json", c.repo / "docs" / "generated" / "evaluation.md"]),
        module_stage("fit_attribution", lambda c: ["--cache", str(c.cache), "--corpus", str(c.corpus), "--train-dir", str(c.train_dir)],
                     lambda c: [*cache("rows.json", "features.npz", "fused_oof.npz")(c), c.corpus / "labels.csv",
                                c.train_dir / "labels.csv", *probe(c)],
                     lambda c: [c.cache / "attribution_extra.npz", c.repo / "forensics" / "data" / "attribution.json",
                                c.repo / "docs" / "generated" / "attribution.md", c.repo / "docs" / "generated" / "attribution_confusion.svg"]),
    ]
