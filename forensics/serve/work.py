"""The service's analyses: the scan's :class:`~forensics.batch.pool.WorkerPool` fed from a
bounded queue by one thread, so that a file that crashes or hangs a worker gets its own error
and the worker is replaced while the service goes on."""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from forensics.analysis import Engine
from forensics.batch.pool import IDLE, TaskFailed, WorkerPool
from forensics.errors import ForensicsError, ImageLoadError

log = logging.getLogger(__name__)

HANDLER = "forensics.serve.work:analyze_upload"
#: Files one ``/v1/analyze/batch`` request may carry.
MAX_BATCH_FILES = 16
#: Engines for other signal lists that a worker keeps (each loads its own models).
MAX_ENGINES = 4
_UNSUPPORTED = ("files are not supported", "not a recognised image")


class QueueFull(ForensicsError):
    """Every place in the queue is taken; ``retry_after`` estimates when one frees, in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Upload:
    """One file to analyse: its bytes, the name to report it under, and the request's options."""

    data: bytes
    name: str
    signals: tuple[str, ...] | None = None
    heatmaps: bool = True
    panel: bool = False


@dataclass(frozen=True)
class Failure:
    """An upload that got no result: the HTTP status, an error type and a message."""

    status: int
    type: str
    message: str


_ENGINES: dict[tuple[str, ...], Engine] = {}


def _engine_for(engine: Engine, signals: tuple[str, ...] | None) -> Engine:
    if signals is None:
        return engine
    if signals not in _ENGINES:
        if len(_ENGINES) >= MAX_ENGINES:
            _ENGINES.clear()
        _ENGINES[signals] = Engine(list(signals), fusion=engine.fusion, calibration=engine.calibration,
                                   max_pixels=engine.max_pixels, base_rate=engine.base_rate)
    return _ENGINES[signals]


def analyze_upload(engine: Engine, up: Upload) -> dict[str, Any] | Failure:
    """Runs in a worker: the ``forensics analyze --json`` row of ``up`` (``{"result": row,
    "panel": ...}`` with ``up.panel``), or a :class:`Failure` (415 for a format that is not
    supported, 422 for an unreadable image)."""
    eng = _engine_for(engine, up.signals)
    try:
        image = eng.load(up.data)
    except ImageLoadError as exc:
        message = str(exc).replace("<bytes>", up.name, 1)
        return Failure(415 if any(u in message for u in _UNSUPPORTED) else 422, "ImageLoadError", message)
    row = eng.analyze(dataclasses.replace(image, source=up.name)).to_dict()
    if not up.heatmaps:
        for s in row["signals"]:
            s["heatmap"] = None
    if not up.panel:
        return row
    from forensics.batch.report import panel_row

    return {"result": row, "panel": panel_row(row, up.name, image.rgb, None)}


def status_of(result: Any) -> Failure | None:
    """The :class:`Failure` a pool result stands for (``None`` for a result): a worker that
    died on the file is a 500, one stopped at the time limit a 504."""
    if isinstance(result, Failure):
        return result
    if isinstance(result, TaskFailed):
        if result.kind == "Timeout":
            return Failure(504, "Timeout", result.message)
        if result.kind == "WorkerCrashed":
            return Failure(500, "WorkerCrashed", result.message)
        return Failure(500, result.kind, f"the analysis failed: {result.message}")
    return None


class Dispatcher:
    """``workers`` worker processes behind a queue of at most ``queue`` waiting uploads.

    :meth:`submit` returns a :class:`~concurrent.futures.Future` of the pool's result, or
    raises :class:`QueueFull`; one thread feeds the pool and settles the futures."""

    def __init__(self, engine_kwargs: dict[str, Any], *, workers: int, timeout: float | None, queue: int):
        if queue < 1:
            raise ValueError(f"queue must be at least 1, got {queue}")
        self.pool = WorkerPool(engine_kwargs, HANDLER, workers, timeout=timeout)
        self.workers = workers
        self.queue = queue
        self._waiting: collections.deque[tuple[int, Upload]] = collections.deque()
        self._futures: dict[int, Future] = {}
        self._started: dict[int, float] = {}
        self._durations: collections.deque[float] = collections.deque(maxlen=64)
        self._lock = threading.Lock()
        self._next = 0
        self._stop = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="forensics-serve-dispatch", daemon=True)
        self.error: str | None = None

    def start(self) -> None:
        self.pool.__enter__()
        self._thread.start()

    def close(self, wait: float = 5.0) -> None:
        """Stop taking uploads; the thread ends once the running ones finish (or after
        ``wait`` seconds: the worker processes are daemons and end with the service)."""
        self._stop = True
        self._poke()
        self._thread.join(wait)
        if not self._thread.is_alive():
            self.pool.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    @property
    def depth(self) -> int:
        """Uploads waiting or running."""
        return len(self._futures)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def ready(self) -> int:
        return self.pool.ready

    def retry_after(self) -> int:
        """Seconds until the queue has probably moved on: the recent mean time per file
        times the files ahead, over the workers (at least 1)."""
        mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
        return max(1, math.ceil(mean * (len(self._waiting) + 1) / self.workers))

    def submit(self, up: Upload) -> Future:
        if self.error is not None or self._stop:
            raise ForensicsError(self.error or "the service is stopping")
        with self._lock:
            if len(self._waiting) >= self.queue:
                raise QueueFull(f"all {self.queue} places in the queue are taken", self.retry_after())
            key = self._next
            self._next += 1
            fut: Future = Future()
            self._futures[key] = fut
            self._waiting.append((key, up))
        self._poke()
        return fut

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):  # a full pipe wakes the thread as well
            pass

    def _tasks(self):
        while True:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except (BlockingIOError, OSError):
                pass
            if self._stop:
                return
            with self._lock:
                task = self._waiting.popleft() if self._waiting else None
            if task is None:
                yield IDLE
            else:
                self._started[task[0]] = time.monotonic()
                yield task

    def _run(self) -> None:
        try:
            for key, result in self.pool.imap_unordered(self._tasks(), wake=self._wake_r):
                started = self._started.pop(key, None)
                if started is not None:
                    self._durations.append(time.monotonic() - started)
                fut = self._futures.pop(key, None)
                if fut is not None:
                    fut.set_result(result)
        except Exception as exc:  # the workers cannot start: every waiting upload fails
            self.error = f"the analysis workers failed: {exc}"
            log.error("%s", self.error)
        with self._lock:
            pending, self._futures = self._futures, {}
            self._waiting.clear()
        for fut in pending.values():
            fut.set_result(Failure(503, "Unavailable", self.error or "the service is stopping"))
