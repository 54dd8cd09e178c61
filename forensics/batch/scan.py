"""``forensics scan``: analyse many files into a resumable JSON Lines file.

>>> from forensics.batch.scan import scan
>>> summary = scan(["photos/"], "results.jsonl", workers=2)
>>> summary.by_verdict
{'likely_ai': 3, 'likely_real': 40, 'inconclusive': 5}

One line per input file, written and flushed as each finishes (in completion order). Every
line is a result or error row of ``schema/analysis.schema.json`` with one extra top-level key:

    "scan": {"settings": "<sha256 of the settings>", "path": "<absolute path>",
             "sha256": "<sha256 of the file's bytes, null when unreadable>"}

A rerun skips every file whose absolute path, bytes (sha256) and settings (signal names,
versions, fingerprints and availability; fusion sha256; calibration; max pixels; base rate;
forensics version) already have a row, so a scan killed at any moment (even SIGKILL) resumes where it
stopped, losing and duplicating nothing: a partially written last line is cut off first.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forensics.analysis import SCHEMA_VERSION, Engine, error_row
from forensics.errors import ForensicsError, ImageLoadError
from forensics.formats import has_image_suffix
from forensics.hashing import sha256_file
from forensics.image import DEFAULT_MAX_PIXELS, read_regular
from forensics.version import __version__

from .pool import TaskFailed, WorkerPool, make_engine, run_inline
from .results import ResultsFile, read_results, write_csv

log = logging.getLogger(__name__)

#: Largest @list file read (about a million paths).
MAX_LIST_BYTES = 256 * 1024 * 1024
#: Default per-file time limit in seconds (a worker past it is stopped and replaced).
DEFAULT_TIMEOUT = 300.0
HANDLER = "forensics.batch.scan:analyze_file"
#: A scan backend other than the worker pool: ``runner(files, settings, engine_kwargs)``
#: yields ``(file, analyze_file(...) result or TaskFailed)`` per file (see :func:`scan`).
Runner = Callable[[list[str], str, dict[str, Any]], Iterator[tuple[str, Any]]]


# -- inputs --------------------------------------------------------------------------------
def expand_inputs(specs: Iterable[str | os.PathLike]) -> list[str]:
    """Files named by ``specs``: folders (recursive, image suffixes, sorted), glob patterns,
    ``@list.txt`` files (one path per line; relative paths are relative to the list's folder;
    blank lines and ``#`` comments skipped) and plain paths, which are kept even when they do
    not exist or are not images (they become error rows). Links to folders are not followed
    (so a link loop cannot hang a glob); a file named twice (or through a link) is kept once,
    under the first name, order kept.

    Raises :class:`ForensicsError` when a ``@list`` cannot be read.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(p: str) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)

    for spec in specs:
        spec = os.fspath(spec)
        if spec.startswith("@") and len(spec) > 1:
            listing = Path(spec[1:])
            try:  # a regular file only: a FIFO named as a list would block forever
                lines = read_regular(listing, MAX_LIST_BYTES, ForensicsError, "a file list").decode("utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise ForensicsError(f"{spec}: cannot read the file list (not UTF-8 at byte {exc.start:,}); expected a "
                                     "UTF-8 text file with one path per line") from None
            for line in lines:
                line = line.strip()
                if line and not line.startswith("#"):
                    p = line if os.path.isabs(line) else os.path.join(listing.parent, line)
                    for f in _expand_one(p):
                        add(f)
            continue
        for f in _expand_one(spec):
            add(f)
    return out


def _expand_one(spec: str) -> list[str]:
    if os.path.isdir(spec):
        return _walk(spec)
    if not os.path.lexists(spec) and glob.has_magic(spec):
        matches = _glob(spec)
        if not matches:
            log.warning("%s: the pattern matched nothing", spec)
        files: list[str] = []
        for m in matches:  # a matching folder is walked, a link to one left out; anything else is taken as named
            if os.path.isdir(m) and not has_image_suffix(m):
                files.extend([] if os.path.islink(m) else _walk(m))
            else:
                files.append(m)
        return files
    return [spec]


def _glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, sorted, except that ``**`` never follows a link
    to a folder (``glob`` does, and loops forever on ``sub/up -> ..``). The folders before the
    first wildcard are taken as they are; the rest is matched a path component at a time."""
    parts = pattern.split(os.sep)
    fixed = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    if "**" not in parts[fixed:]:
        return sorted(glob.glob(pattern))
    root = os.sep.join(parts[:fixed]) or ("." if not pattern.startswith(os.sep) else os.sep)
    rest = [re.compile(fnmatch.translate(p)) if p != "**" else None for p in parts[fixed:]]
    found = []
    for top, dirs, files in os.walk(root):  # followlinks=False
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(top, root)
        base = [] if rel == "." else rel.split(os.sep)
        for name in dirs + sorted(files):
            if not name.startswith(".") and _match(rest, [*base, name]):
                found.append(os.path.join(top, name) if parts[:fixed] else os.path.relpath(os.path.join(top, name)))
    return sorted(found)


def _match(pattern: list[re.Pattern[str] | None], names: list[str]) -> bool:
    """``names`` (path components) match ``pattern`` (``None`` is ``**``: any number of them)."""
    ends = {0}  # positions in names reachable after the pattern's components so far
    for part in pattern:
        if part is None:
            ends = set(range(min(ends), len(names) + 1)) if ends else ends
        else:
            ends = {i + 1 for i in ends if i < len(names) and part.fullmatch(names[i])}
    return len(names) in ends


def _walk(folder: str) -> list[str]:
    """The regular files with an image suffix under ``folder`` (FIFOs, sockets and devices are
    left out: they are never read), sorted; links to folders are not followed."""
    found = []
    for root, dirs, files in os.walk(folder, onerror=lambda e: log.warning("cannot list %s: %s", e.filename, e.strerror)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if has_image_suffix(name) and os.path.isfile(path):
                found.append(path)
    return found


def file_sha256(path: str) -> str | None:
    """sha256 of a regular file's bytes; ``None`` when it is not a regular file or unreadable
    (FIFOs and devices are never opened: reading them could block forever)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return sha256_file(path)
    except OSError:
        return None


# -- settings --------------------------------------------------------------------------------
def scan_settings(engine) -> tuple[str, dict[str, Any]]:
    """``(sha256, description)`` of everything that changes a result: each signal's name,
    version, fingerprint and availability, the fusion's sha256, the calibration, the pixel
    limit, the base rate, the forensics version, the result schema's version and the attribution model. Builds no model (signal constructors store arguments only)."""
    sigs = []
    for sig in engine.signals_:
        try:
            fp = sig.fingerprint() if hasattr(sig, "fingerprint") else {}
        except Exception as exc:  # a fingerprint that fails is recorded, not fatal
            fp = {"error": f"{type(exc).__name__}: {exc}"}
        avail = sig.availability()
        sigs.append({"name": sig.name, "version": sig.version, "fingerprint": fp, "available": avail.ok})
    cal = engine.calibration
    desc = {
        "signals": sigs,
        "fusion_sha256": engine.fusion_.sha256(),
        "calibration_sha256": (hashlib.sha256(json.dumps(cal.to_dict(), sort_keys=True).encode()).hexdigest()
                               if cal is not None else None),
        "max_pixels": engine.max_pixels,
        "base_rate": engine.base_rate,
        "forensics": __version__,
        # a resumed scan must not keep rows of another schema or of another attribution model
        "schema_version": SCHEMA_VERSION,
        "attribution": engine.attribution_.fingerprint() if engine.attribution_ is not None else None,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest(), desc


# -- the worker's task -------------------------------------------------------------------------
def analyze_file(engine, payload: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    """Analyse one file (runs in a worker). Returns ``(json_line, brief)``; unreadable inputs
    and unexpected engine failures become error rows, never exceptions."""
    source, settings = payload
    row = scan_row(engine, source, settings)
    return json.dumps(row, allow_nan=False), _brief(row)


def scan_row(engine, source: str, settings: str) -> dict[str, Any]:
    """The output row for one file, ``scan`` key included: a result row, or an error row when
    the file cannot be read or the engine fails on it (never an exception). The worker pool
    and the Ray backend (:mod:`forensics.distributed`) both build their rows here."""
    try:
        mode = os.stat(source).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ImageLoadError(f"{source}: not a regular file (a FIFO, socket or device); expected an image file")
        row = engine.analyze(source).to_dict()
        row["source"] = source
        sha = row["sha256"]
    except FileNotFoundError:
        row, sha = error_row(source, ImageLoadError(f"{source}: no such file")), None
    except OSError as exc:  # a link loop, a name too long, no permission: the reason, no traceback
        row, sha = error_row(source, ImageLoadError(f"{source}: cannot read ({exc.strerror or type(exc).__name__})")), None
    except Exception as exc:  # ImageLoadError, and any engine failure: a row with the reason
        if not isinstance(exc, ImageLoadError):
            # the traceback with -v only (logging at INFO): without it, one line and the row's reason
            log.warning("%s: analysis failed (%s)", source, type(exc).__name__, exc_info=log.isEnabledFor(logging.INFO))
        row, sha = error_row(source, exc), file_sha256(source)
    row["scan"] = {"settings": settings, "path": os.path.abspath(source), "sha256": sha}
    return row


def failed_row(source: str, failed: TaskFailed, settings: str) -> dict[str, Any]:
    """The error row of a file whose worker died (``WorkerCrashed``) or ran past the time
    limit (``Timeout``) on it."""
    row = error_row(source, RuntimeError(f"{source}: {failed.message}"))
    row["error"]["type"] = failed.kind
    row["scan"] = {"settings": settings, "path": os.path.abspath(source), "sha256": file_sha256(source)}
    return row


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {"verdict": row.get("verdict"), "error": row["error"]["type"] if "error" in row else None}


# -- the scan ----------------------------------------------------------------------------------
@dataclass
class ScanSummary:
    """What a scan did. ``by_verdict``/``errors`` count every input file's row in the output
    (analysed now or earlier); ``analysed`` is how many were analysed by this run."""

    output: str
    settings: str
    inputs: int = 0
    analysed: int = 0
    skipped: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_types: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 1
    interrupted: bool = False

    @property
    def rate(self) -> float:
        return self.analysed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "settings": self.settings, "inputs": self.inputs, "analysed": self.analysed,
                "skipped": self.skipped, "by_verdict": self.by_verdict, "errors": self.errors,
                "error_types": self.error_types, "seconds": round(self.seconds, 3), "images_per_second": round(self.rate, 3),
                "workers": self.workers, "interrupted": self.interrupted}

    def format(self) -> str:
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_verdict.items())) or "none"
        lines = [f"{self.inputs} file(s): {self.analysed} analysed in {self.seconds:.1f} s "
                 f"({self.rate:.2f} images/s, {self.workers} worker(s)), {self.skipped} already in {self.output}",
                 f"verdicts: {verdicts}; errors: {self.errors}"
                 + (f" ({', '.join(f'{k} {v}' for k, v in sorted(self.error_types.items()))})" if self.errors else "")]
        if self.interrupted:
            lines.append("interrupted: rerun the same command to finish (rows written so far are kept)")
        return "\n".join(lines)


def scan(paths: Iterable[str | os.PathLike], output: str | os.PathLike, *, workers: int = 1,
         signals: Sequence[Any] | None = None, fusion: Any = None, calibration: Any = None,
         max_pixels: int = DEFAULT_MAX_PIXELS, timeout: float | None = DEFAULT_TIMEOUT,
         csv_path: str | os.PathLike | None = None, progress: bool = False,
         runner: Runner | None = None, base_rate: float = 0.5) -> ScanSummary:
    """Analyse every file named by ``paths`` (see :func:`expand_inputs`) into ``output``.

    ``workers`` processes (``0`` = in this process, without crash or hang isolation) each
    hold one engine built from ``signals``/``fusion``/``calibration``/``max_pixels``/``base_rate`` (as for
    :class:`~forensics.analysis.Engine`; objects must be picklable). ``timeout`` limits the
    seconds per file. ``csv_path`` also writes the flat CSV of the whole output. ``progress``
    draws a progress bar on stderr. A ``KeyboardInterrupt`` stops the scan cleanly (rows
    written so far are kept and synced; ``interrupted`` is set).

    ``runner`` replaces the worker pool with another backend (``forensics.distributed``
    passes Ray's): ``runner(files, settings, engine_kwargs)`` yields ``(file, result)`` once
    per file still to analyse, ``result`` being :func:`analyze_file`'s return value or a
    :class:`~forensics.batch.pool.TaskFailed`; ``workers`` is then only reported. Resuming,
    writing and counting stay here, the same for every backend.
    """
    if workers < 0:
        raise ValueError(f"workers must be 0 (in this process) or more, got {workers}")
    engine_kwargs = {"signals": signals, "fusion": fusion, "calibration": calibration, "max_pixels": max_pixels,
                     "base_rate": base_rate}
    settings, _ = scan_settings(Engine(**engine_kwargs))
    files = expand_inputs(paths)
    summary = ScanSummary(output=str(output), settings=settings, inputs=len(files), workers=workers)
    t0 = time.monotonic()
    try:
        out, todo, kept = _resume(output, files, settings)
    except KeyboardInterrupt:  # reading back a large output or hashing its files: nothing written yet
        summary.interrupted = True
        summary.seconds = time.monotonic() - t0
        return summary
    with closing(out):  # opened by _resume
        summary.skipped = len(kept)
        for row in kept:
            _count(summary, _brief(row))
        bar = _progress(len(files), len(kept), progress)
        tasks = ((f, (f, settings)) for f in todo)
        n_workers = min(workers, len(todo))
        try:
            if runner is not None:
                results = runner(todo, settings, engine_kwargs) if todo else iter(())
                try:
                    _consume(results, out, summary, bar, settings, TaskFailed)
                finally:
                    close = getattr(results, "close", None)
                    if close is not None:  # a generator stopped early (Ctrl-C, an error): let it clean up
                        close()
            elif n_workers == 0:
                results = run_inline(make_engine(engine_kwargs, warm_up=False), HANDLER, tasks) if todo else iter(())
                _consume(results, out, summary, bar, settings, TaskFailed)
            else:
                with WorkerPool(engine_kwargs, HANDLER, n_workers, timeout=timeout) as pool:
                    _consume(pool.imap_unordered(tasks), out, summary, bar, settings, TaskFailed)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            if bar is not None:
                bar.close()
            out.sync()
    summary.seconds = time.monotonic() - t0
    if csv_path is not None:
        write_csv(read_results(output), csv_path)
    return summary


def _resume(output: str | os.PathLike, files: list[str], settings: str) -> tuple[ResultsFile, list[str], list[dict[str, Any]]]:
    """The output, open and locked; the files still to analyse; the rows kept for the others
    (same path, bytes and settings)."""
    out = ResultsFile(output).__enter__()
    try:
        done: dict[str, dict[str, Any]] = {}
        for row in out.rows:
            sc = row.get("scan")
            if isinstance(sc, dict) and sc.get("settings") == settings and sc.get("path"):
                done[sc["path"]] = row
        todo: list[str] = []
        kept: list[dict[str, Any]] = []
        for f in files:
            prev = done.get(os.path.abspath(f))
            if prev is not None and prev["scan"].get("sha256") == file_sha256(f):
                kept.append(prev)
            else:
                todo.append(f)
    except BaseException:
        out.close()
        raise
    return out, todo, kept


def _consume(results: Iterator[tuple[str, Any]], out: ResultsFile, summary: ScanSummary, bar, settings: str,
             failed_type: type) -> None:
    for source, result in results:
        if isinstance(result, failed_type):  # the worker crashed or timed out on this file
            row = failed_row(source, result, settings)
            line, brief = json.dumps(row, allow_nan=False), _brief(row)
        else:
            line, brief = result
        out.append(line)
        summary.analysed += 1
        _count(summary, brief)
        if bar is not None:
            bar.update(1)
            if summary.errors:
                bar.set_postfix(errors=summary.errors, refresh=False)


def _count(summary: ScanSummary, brief: dict[str, Any]) -> None:
    if brief.get("error"):
        summary.errors += 1
        summary.error_types[brief["error"]] = summary.error_types.get(brief["error"], 0) + 1
    elif brief.get("verdict"):
        summary.by_verdict[brief["verdict"]] = summary.by_verdict.get(brief["verdict"], 0) + 1


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="img", file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                smoothing=0.1, desc="scan")
