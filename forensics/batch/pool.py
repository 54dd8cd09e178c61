"""Worker processes for ``scan`` and ``evaluate``: one :class:`~forensics.analysis.Engine` per
worker (models load once per worker), with crash and hang isolation.

Each worker is a ``spawn``-ed process (safe with threads and with libraries that keep global
state) connected by its own pipe, so the parent always knows which task each worker holds.
When a worker dies (a native crash, the kernel's OOM killer) or a task runs past its time
limit, the worker is killed and replaced, and that task alone comes back as a
:class:`TaskFailed`; the other tasks go on.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import connection
from typing import Any

from forensics.analysis import Engine
from forensics.errors import ForensicsError
from forensics.image import quiet_decoder_warnings
from forensics.safe import LogFormatter
from forensics.malloc import reuse_pixel_buffers

log = logging.getLogger(__name__)

#: Thread-pool variables set in each worker (to ``cpu_count // workers``) unless already set,
#: so that N workers do not each start one BLAS/OpenMP/torch thread per core.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
#: Consecutive workers that may die before reporting ready before the pool gives up.
MAX_START_FAILURES = 3
#: Yielded by a task iterator that has nothing to run yet (a service waiting for requests):
#: the pool asks again after its next event instead of taking the iterator as exhausted.
IDLE = object()


@dataclass(frozen=True)
class TaskFailed:
    """A task that produced no result: ``kind`` is ``WorkerCrashed``, ``Timeout`` or the
    exception type raised by the handler; ``message`` says what happened."""

    kind: str
    message: str


def resolve(target: str) -> Callable[..., Any]:
    """Import ``"module:function"``."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_engine(engine_kwargs: dict[str, Any], warm_up: bool = True):
    """Build an engine and (``warm_up``) run it once on a small generated image, so that lazily
    loaded models are in memory before the first real task starts its clock."""
    engine = Engine(**engine_kwargs)
    engine.signals_, engine.fusion_  # resolve now: a bad signal name fails here, not per file
    if warm_up:
        import numpy as np

        rng = np.random.default_rng(0)
        try:
            engine.analyze(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
        except Exception as exc:  # a signal that cannot warm up still gets its chance per file
            log.debug("warm-up failed: %s", exc)
    return engine


def _worker_main(conn: connection.Connection, engine_kwargs: dict[str, Any], handler: str,
                 quiet_pillow: bool = True) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    reuse_pixel_buffers()
    if quiet_pillow:  # they would garble the parent's progress bar
        quiet_decoder_warnings()
    if not logging.getLogger().handlers:  # spawned: log as the CLI does, file names escaped
        out = logging.StreamHandler()
        out.setFormatter(LogFormatter("%(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.WARNING if quiet_pillow else logging.INFO, handlers=[out])
    try:
        engine = make_engine(engine_kwargs)
        fn = resolve(handler)
        conn.send(("ready", os.getpid()))
    except (BrokenPipeError, EOFError, OSError):  # the parent is gone (killed) while we started
        return
    except BaseException as exc:
        try:
            conn.send(("init_error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone (killed): stop quietly
            return
        if msg is None:
            return
        key, payload = msg
        try:
            result = fn(engine, payload)
        except Exception as exc:
            result = TaskFailed(type(exc).__name__, str(exc))
        try:
            conn.send(("done", key, result))
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, ctx, engine_kwargs: dict[str, Any], handler: str, threads: int):
        self.conn, child = ctx.Pipe(duplex=True)
        # workers stay as quiet about Pillow's warnings as the parent's log level says (`-v`: not)
        quiet = logging.getLogger().getEffectiveLevel() > logging.INFO
        self.proc = ctx.Process(target=_worker_main, args=(child, engine_kwargs, handler, quiet), daemon=True)
        saved = {k: os.environ.get(k) for k in THREAD_ENV}
        for k in THREAD_ENV:
            os.environ.setdefault(k, str(threads))
        try:
            self.proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        self.ready = False
        self.task: tuple[Any, Any] | None = None
        self.started = 0.0

    def send(self, task: tuple[Any, Any]) -> None:
        self.task = task
        self.started = time.monotonic()
        self.conn.send(task)

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerPool:
    """``workers`` processes, each holding one engine built from ``engine_kwargs`` and running
    ``handler(engine, payload)`` (an importable ``"module:function"``) on each task.

    Use as a context manager; :meth:`imap_unordered` yields ``(key, result)`` as tasks finish,
    ``result`` being the handler's return value or a :class:`TaskFailed`.
    """

    def __init__(self, engine_kwargs: dict[str, Any], handler: str, workers: int, *,
                 timeout: float | None = None, start_method: str = "spawn"):
        import multiprocessing

        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.engine_kwargs = engine_kwargs
        self.handler = handler
        self.n_workers = workers
        self.timeout = timeout
        self._ctx = multiprocessing.get_context(start_method)
        self._threads = max(1, (os.cpu_count() or 1) // workers)
        self._workers: list[_Worker] = []
        self._start_failures = 0

    def __enter__(self) -> "WorkerPool":
        self._workers = [self._spawn() for _ in range(self.n_workers)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self.engine_kwargs, self.handler, self._threads)

    def close(self) -> None:
        for w in self._workers:
            try:
                if w.proc.is_alive():
                    w.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + 5
        for w in self._workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            w.kill()
        self._workers = []

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.proc.pid is not None]

    @property
    def ready(self) -> int:
        """How many workers have built their engine and can take a task."""
        return sum(w.ready for w in self._workers)

    def imap_unordered(self, tasks: Iterable[Any], *, wake: Any = None) -> Iterator[tuple[Any, Any]]:
        """Run ``(key, payload)`` tasks; yield ``(key, result)`` in completion order.

        A long-running feeder (``forensics serve``) yields :data:`IDLE` when it has no task
        yet and makes ``wake`` (a connection or file descriptor) readable when one arrives;
        the pool then asks again. Draining ``wake`` is the feeder's job."""
        it = iter(tasks)
        exhausted = False
        requeue: deque[tuple[Any, Any]] = deque()
        while True:
            idle = False
            for w in self._workers:
                if w.ready and w.task is None and not exhausted and not idle:
                    task = requeue.popleft() if requeue else next(it, None)
                    if task is None:
                        exhausted = True
                    elif task is IDLE:
                        idle = True
                    else:
                        try:
                            w.send(task)
                        except (BrokenPipeError, OSError):  # died between tasks: run it elsewhere
                            w.task = None
                            requeue.append(task)
            busy = [w for w in self._workers if w.task is not None]
            if exhausted and not busy and not requeue:
                return
            waits = [w.conn for w in self._workers] + [w.proc.sentinel for w in self._workers]
            if wake is not None and any(w.ready and w.task is None for w in self._workers):
                waits.append(wake)  # only while a worker is free to take what it announces
            wait_s = 1.0
            if self.timeout is not None and busy:
                now = time.monotonic()
                wait_s = max(0.01, min(wait_s, min(w.started + self.timeout - now for w in busy)))
            ready = set(connection.wait(waits, timeout=wait_s))
            for i, w in enumerate(list(self._workers)):
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        msg = None
                    if msg is not None:
                        if msg[0] == "ready":
                            w.ready = True
                            self._start_failures = 0
                        elif msg[0] == "init_error":
                            raise ForensicsError(f"a worker could not build the engine: {msg[1]}")
                        elif msg[0] == "done":
                            key, result = msg[1], msg[2]
                            w.task = None
                            yield key, result
                        continue
                failed: TaskFailed | None = None
                if not w.proc.is_alive():
                    if not w.ready:
                        self._start_failures += 1
                        if self._start_failures >= MAX_START_FAILURES:
                            raise ForensicsError(f"worker processes keep dying while starting ({_death(w.proc.exitcode)}); "
                                                 "run with --workers 0 or -v to see why")
                    failed = TaskFailed("WorkerCrashed", f"the worker process died ({_death(w.proc.exitcode)}) while analysing this input")
                elif w.task is not None and self.timeout is not None and time.monotonic() - w.started > self.timeout:
                    failed = TaskFailed("Timeout", f"analysis took longer than the {self.timeout:g} s limit; the worker was stopped")
                else:
                    continue
                task = w.task
                w.kill()
                self._workers[i] = self._spawn()
                if task is not None:
                    log.warning("%s: %s", task[0], failed.message)
                    yield task[0], failed


def run_inline(engine, handler: str, tasks: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """The same contract as :meth:`WorkerPool.imap_unordered`, in this process (``--workers 0``):
    no isolation from crashes or hangs, for debugging and small jobs."""
    fn = resolve(handler)
    for key, payload in tasks:
        try:
            yield key, fn(engine, payload)
        except Exception as exc:
            yield key, TaskFailed(type(exc).__name__, str(exc))
