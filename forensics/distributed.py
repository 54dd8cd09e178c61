"""Scale-out on a Ray cluster with Ray Data: ``forensics scan --backend ray`` and
:func:`analyze_dataset` (see docs/distributed.md). Needs ``pip install 'forensics[ray]'``;
Ray is imported only when one of these runs, never by ``import forensics``.

>>> import ray
>>> from forensics.distributed import analyze_dataset
>>> ds = ray.data.read_binary_files("s3://bucket/images/", include_paths=True)
>>> analyze_dataset(ds, path_column="path", bytes_column="bytes").write_parquet("s3://bucket/results/")

Each row of the result has the columns of :data:`RESULT_COLUMNS`; ``result`` is the file's
JSON line exactly as ``forensics scan`` writes it (a result or error row of
``schema/analysis.schema.json`` with its ``scan`` key), so ``forensics report`` and
:func:`~forensics.batch.results.read_results` read those lines as they read a scan's.

How the work is spread: the paths (never the pixels) go to ``map_batches`` with a callable
class, so every Ray actor builds one :class:`~forensics.analysis.Engine` (models load once
per actor) and reads its files itself. An actor that dies (its node lost, a native crash, out
of memory) is restarted by Ray and its batch retried; a file that takes its actor down
``attempts`` times, or runs past ``timeout``, gets a ``WorkerCrashed`` or ``Timeout`` error
row instead of another try (:class:`Attempts`). ``scan`` writes the rows on the driver with
the local pool's :class:`~forensics.batch.results.ResultsFile` code: one row per file (a
row that comes back twice is dropped by its key), resumed after a kill.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from forensics.analysis import error_row
from forensics.batch.pool import THREAD_ENV, TaskFailed, make_engine
from forensics.batch.scan import DEFAULT_TIMEOUT, ScanSummary, failed_row, scan_row, scan_settings
from forensics.batch.scan import scan as _scan
from forensics.calibration import Calibration
from forensics.errors import ForensicsError, ImageLoadError
from forensics.hashing import sha256_bytes
from forensics.image import DEFAULT_MAX_PIXELS, quiet_decoder_warnings
from forensics.malloc import reuse_pixel_buffers

if TYPE_CHECKING:
    import ray.data

log = logging.getLogger(__name__)

#: Columns of :func:`analyze_dataset`'s rows: the input's path, the JSON line (``result``),
#: and flat copies of what a query needs most (null where they do not apply).
RESULT_COLUMNS = ("path", "result", "sha256", "verdict", "probability", "error_type")
#: Files per Ray task. A lost actor costs at most one batch's work again; smaller batches
#: cost more scheduling (about a millisecond a task, against about 100 ms a 3 MP image).
DEFAULT_BATCH_SIZE = 8
#: Times a file may take its actor down (node lost, native crash, out of memory) before it is
#: given a ``WorkerCrashed`` row instead of a third try: a lost node alone does not do that.
DEFAULT_ATTEMPTS = 2


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise ForensicsError("the Ray backend needs Ray: pip install 'forensics[ray]'") from None
    return ray


def bytes_row(engine, path: str, data: bytes, settings: str) -> dict[str, Any]:
    """The row for a file whose bytes were read elsewhere (a Ray reader): as
    :func:`~forensics.batch.scan.scan_row` gives for the same file on disk, with the path
    kept as given (it may name an object in a bucket)."""
    buf = io.BytesIO(data)
    buf.name = path  # load_image names its source, and its errors, after the file object's name
    try:
        row = engine.analyze(buf).to_dict()
        row["source"] = path
    except Exception as exc:  # ImageLoadError, and any engine failure: a row with the reason
        if not isinstance(exc, ImageLoadError):
            log.warning("%s: analysis failed (%s)", path, type(exc).__name__, exc_info=log.isEnabledFor(logging.INFO))
        row = error_row(path, exc)
    row["scan"] = {"settings": settings, "path": path, "sha256": row.get("sha256") or sha256_bytes(data)}
    return row


class Attempts:
    """Which files were started and not finished, across a dataset's actors: one small Ray
    actor (no CPU, on the driver's node) holds it. An actor that dies mid-file leaves that
    file open; when Ray retries the batch, a file already left open ``attempts`` times is
    not analysed again but given a ``WorkerCrashed`` (or, when the watchdog stopped it,
    ``Timeout``) error row, so one poisonous file cannot hold a batch in a retry loop."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}
        self.timeouts: set[str] = set()

    def start(self, key: str) -> tuple[int, bool]:
        """Mark ``key`` started; return how often it was started before without finishing,
        and whether the last of those ran past the time limit."""
        n = self.open.get(key, 0)
        self.open[key] = n + 1
        return n, key in self.timeouts

    def finish(self, key: str) -> None:
        self.open.pop(key, None)
        self.timeouts.discard(key)

    def timed_out(self, key: str) -> None:
        self.timeouts.add(key)


class Analyzer:
    """The callable class given to ``map_batches``: one engine per Ray actor, built once.

    It refuses to start where its own settings (signals, their versions, weights and
    availability, fusion, calibration, forensics version) differ from the driver's, since
    that node would give other results for the same bytes. With a ``timeout``, a watchdog
    thread ends the actor's process when one file runs past it (Ray then restarts the actor
    and retries the batch, and :class:`Attempts` turns that file into a ``Timeout`` row).
    """

    def __init__(self, engine_kwargs: dict[str, Any], settings: str, path_column: str,
                 bytes_column: str | None = None, *, attempts_ledger: Any = None, attempts: int = DEFAULT_ATTEMPTS,
                 timeout: float | None = None, cwd: str | None = None, quiet: bool = True):
        # relative paths mean what they mean on the driver, as for the local pool's workers
        self.cwd = cwd if cwd is not None and os.path.isdir(cwd) else None
        self.cwd_missing = cwd if cwd is not None and self.cwd is None else None
        if self.cwd is not None:
            os.chdir(self.cwd)  # this process is the actor's alone
        reuse_pixel_buffers()
        if quiet:
            quiet_decoder_warnings()
        self.engine = make_engine(engine_kwargs)
        own, _ = scan_settings(self.engine)
        if own != settings:
            raise ForensicsError(
                f"the forensics install on Ray node {socket.gethostname()} gives other settings ({own[:12]}) than the "
                f"driver's ({settings[:12]}): its signals, weights, fusion or forensics version differ; install the "
                "same forensics version and weights on every node")
        self.settings = settings
        self.path_column = path_column
        self.bytes_column = bytes_column
        self.ledger = attempts_ledger
        self.attempts = attempts
        self.timeout = timeout
        self._current: tuple[str, str, float] | None = None  # (ledger key, path, start)
        if timeout is not None:
            threading.Thread(target=self._watch, name="forensics-timeout", daemon=True).start()

    def _watch(self) -> None:
        import ray

        while True:
            time.sleep(min(1.0, self.timeout / 4))
            current = self._current
            if current is not None and time.monotonic() - current[2] > self.timeout:
                log.warning("%s: analysis ran past the %g s limit; ending this actor", current[1], self.timeout)
                try:
                    if self.ledger is not None:
                        ray.get(self.ledger.timed_out.remote(current[0]), timeout=30)
                finally:
                    os._exit(70)

    def _begin(self, key: str) -> TaskFailed | None:
        """Register ``key`` with the ledger; the failure to report instead of analysing it, if any."""
        if self.ledger is None:
            return None
        import ray

        try:
            before, timed_out = ray.get(self.ledger.start.remote(key))
        except ray.exceptions.RayError as exc:  # the ledger is gone: analyse without it
            log.warning("the attempts ledger is unreachable (%s); analysing %s anyway", type(exc).__name__, key)
            self.ledger = None
            return None
        if timed_out:
            return TaskFailed("Timeout", f"analysis took longer than the {self.timeout:g} s limit; the Ray actor was stopped")
        if before >= self.attempts:
            return TaskFailed("WorkerCrashed", f"the Ray actor died while analysing this input, {before} times "
                                               "(a native crash, or out of memory)")
        return None

    def __call__(self, batch):
        import pyarrow as pa

        missing = [c for c in (self.path_column, self.bytes_column) if c and c not in batch.column_names]
        if missing:
            raise ForensicsError(f"the dataset has no column {missing[0]!r} (columns: {', '.join(batch.column_names)}); "
                                 "pass path_column= / bytes_column= naming its columns")
        paths = batch.column(self.path_column).to_pylist()
        blobs = batch.column(self.bytes_column).to_pylist() if self.bytes_column else [None] * len(paths)
        cols: dict[str, list[Any]] = {c: [] for c in RESULT_COLUMNS}
        for path, data in zip(paths, blobs):
            path = str(path)
            if data is None and self.cwd_missing is not None and not os.path.isabs(path):
                raise ForensicsError(f"{path}: relative paths are read from {self.cwd_missing}, the driver's working "
                                     f"directory, which Ray node {socket.gethostname()} does not have; use absolute "
                                     "paths on a file system every node mounts at the same place")
            key = path if data is not None else os.path.abspath(path)
            failed = self._begin(key)
            if failed is not None:
                row = failed_row(path, failed, self.settings)
                if data is not None:
                    row["scan"].update(path=path, sha256=sha256_bytes(data))
            else:
                self._current = (key, path, time.monotonic())
                try:
                    row = (scan_row(self.engine, path, self.settings) if data is None
                           else bytes_row(self.engine, path, data, self.settings))
                finally:
                    self._current = None
            if self.ledger is not None:
                self.ledger.finish.remote(key)  # in order after start(): calls from one caller run in order
            cols["path"].append(path)
            cols["result"].append(json.dumps(row, allow_nan=False))
            cols["sha256"].append(row["scan"]["sha256"])
            cols["verdict"].append(row.get("verdict"))
            cols["probability"].append(row.get("probability"))
            cols["error_type"].append(row["error"]["type"] if "error" in row else None)
        return pa.table(cols, schema=_schema())


def _schema():
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("result", pa.string()), ("sha256", pa.string()),
                      ("verdict", pa.string()), ("probability", pa.float64()), ("error_type", pa.string())])


def _engine_kwargs(signals, fusion, calibration, max_pixels, base_rate) -> dict[str, Any]:
    if isinstance(calibration, (str, os.PathLike)):
        calibration = Calibration.load(calibration)
    return {"signals": list(signals) if signals is not None else None, "fusion": fusion,
            "calibration": calibration, "max_pixels": max_pixels, "base_rate": base_rate}


def _ledger(ray):
    """The :class:`Attempts` actor, on this driver's node (a lost worker node must not take it along)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=True)
    return ray.remote(num_cpus=0, max_restarts=-1, scheduling_strategy=here)(Attempts).remote()


def _map(ds: "ray.data.Dataset", engine_kwargs: dict[str, Any], settings: str, *, path_column: str,
         bytes_column: str | None, batch_size: int, actors: int | tuple[int, int] | None, cpus_per_actor: float,
         attempts: int, timeout: float | None, cwd: str | None = None) -> "ray.data.Dataset":
    ray = _import_ray()
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive or None, got {timeout}")
    if not ray.is_initialized():
        ray.init()
    if actors is None:  # autoscale, so that the CPUs of a read stage before this one are not all held
        actors = (1, max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_actor)))
    pool = (ray.data.ActorPoolStrategy(min_size=actors[0], max_size=actors[1]) if isinstance(actors, tuple)
            else ray.data.ActorPoolStrategy(size=actors))
    # BLAS/OpenMP threads per actor: Ray sets OMP_NUM_THREADS to the actor's CPUs, which OpenBLAS,
    # MKL and onnxruntime (signals/neural.py) follow. Variables set here travel to the actors,
    # as the local pool's workers inherit them; a runtime_env only then, since it costs each
    # actor a fresh worker process instead of one Ray has started already.
    env = {k: os.environ[k] for k in THREAD_ENV if k in os.environ}
    quiet = logging.getLogger().getEffectiveLevel() > logging.INFO
    # Ray Data's own defaults restart a dead actor and retry its batch without limit; the
    # ledger is what stops a file that kills its actor every time.
    return ds.map_batches(
        Analyzer, fn_constructor_kwargs={"engine_kwargs": engine_kwargs, "settings": settings, "path_column": path_column,
                                         "bytes_column": bytes_column, "attempts_ledger": _ledger(ray),
                                         "attempts": attempts, "timeout": timeout, "cwd": cwd, "quiet": quiet},
        batch_size=batch_size, batch_format="pyarrow", compute=pool, num_cpus=cpus_per_actor,
        runtime_env={"env_vars": env} if env else None)


def analyze_dataset(ds: "ray.data.Dataset", *, path_column: str = "path", bytes_column: str | None = None,
                    calibration: "Calibration | str | os.PathLike | None" = None, signals: Sequence[Any] | None = None,
                    fusion: Any = None, max_pixels: int = DEFAULT_MAX_PIXELS, batch_size: int = DEFAULT_BATCH_SIZE,
                    actors: int | tuple[int, int] | None = None, cpus_per_actor: float = 1,
                    attempts: int = DEFAULT_ATTEMPTS, timeout: float | None = DEFAULT_TIMEOUT,
                    base_rate: float = 0.5) -> "ray.data.Dataset":
    """The result rows (columns :data:`RESULT_COLUMNS`) of every image in ``ds``, lazily.

    ``path_column`` names each file; without ``bytes_column`` the actors read the files from
    that path themselves (a file system every node sees; a relative path from this process's
    working directory, which the node must have too), with it they analyse those bytes
    (``ray.data.read_binary_files(..., include_paths=True)`` gives ``path`` and ``bytes``).
    ``signals`` (names or instances), ``fusion``, ``calibration`` (object or JSON file) and
    ``max_pixels`` and ``base_rate`` (the share of AI images expected, which sets the prior
    odds) are the engine options, as for :class:`~forensics.analysis.Engine`.
    ``actors`` is a fixed pool size or a ``(min, max)`` range to autoscale in (default: from
    one to one per ``cpus_per_actor`` CPUs of the cluster now). A fixed pool that takes every
    CPU leaves none for the tasks of a reader before it (``read_binary_files``), and the
    dataset then waits forever: leave them some, or let the pool autoscale. A dead actor is restarted and its batch
    retried by Ray; a file its actor died on ``attempts`` times, or that ran past
    ``timeout`` seconds, gets an error row (``WorkerCrashed``, ``Timeout``) on the next try.

    Settings are checked on every actor against this process's (see :class:`Analyzer`). The
    rows are those ``forensics scan`` writes for the same files and options. Starts Ray
    (``ray.init()``) when it is not started yet.
    """
    engine_kwargs = _engine_kwargs(signals, fusion, calibration, max_pixels, base_rate)
    settings, _ = scan_settings(make_engine(engine_kwargs, warm_up=False))
    return _map(ds, engine_kwargs, settings, path_column=path_column, bytes_column=bytes_column, batch_size=batch_size,
                actors=actors, cpus_per_actor=cpus_per_actor, attempts=attempts, timeout=timeout,
                cwd=os.getcwd() if bytes_column is None else None)


# -- forensics scan --backend ray ------------------------------------------------------------------
def scan(paths: Iterable[str | os.PathLike], output: str | os.PathLike, *, address: str | None = None,
         num_cpus: int | None = None, signals: Sequence[Any] | None = None, fusion: Any = None,
         calibration: Any = None, max_pixels: int = DEFAULT_MAX_PIXELS, timeout: float | None = DEFAULT_TIMEOUT,
         batch_size: int = DEFAULT_BATCH_SIZE, attempts: int = DEFAULT_ATTEMPTS,
         csv_path: str | os.PathLike | None = None, progress: bool = False, base_rate: float = 0.5) -> ScanSummary:
    """:func:`forensics.batch.scan.scan` with its files analysed on a Ray cluster.

    ``address`` is the cluster to join (``"HOST:6379"``, or ``"auto"`` on one of its nodes;
    Ray Client ``ray://`` addresses are untested);
    without it, a Ray session already started in this process is used, else a local one is
    started (with ``num_cpus`` CPUs, no dashboard) and shut down at the end. ``num_cpus`` is
    how many CPUs the scan uses, one actor on each (default: every CPU of the cluster at the
    start). The output, its resuming and its rows are the local pool's; ``timeout`` and
    ``attempts`` are as for :func:`analyze_dataset`. When Ray itself fails (the driver loses
    the cluster) the scan stops with :class:`ForensicsError`: the rows written are kept, and
    rerunning the same command finishes the scan.
    """
    if num_cpus is not None and num_cpus < 1:
        raise ValueError(f"num_cpus must be at least 1, got {num_cpus}")
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False)
        except ConnectionError as exc:
            raise ForensicsError(f"cannot join the Ray cluster at {address}: {exc}; start one with `ray start --head` "
                                 "or check --address") from None
        started = True
    try:
        actors = num_cpus or max(1, int(ray.cluster_resources().get("CPU", 1)))

        def runner(files: list[str], settings: str, engine_kwargs: dict[str, Any]) -> Iterator[tuple[str, Any]]:
            return _run(files, settings, engine_kwargs, actors=actors, batch_size=batch_size, attempts=attempts,
                        timeout=timeout)

        return _scan(paths, output, workers=actors, signals=signals, fusion=fusion, calibration=calibration,
                     max_pixels=max_pixels, timeout=timeout, csv_path=csv_path, progress=progress, runner=runner,
                     base_rate=base_rate)
    finally:
        if started:
            ray.shutdown()


def _run(files: list[str], settings: str, engine_kwargs: dict[str, Any], *, actors: int, batch_size: int,
         attempts: int, timeout: float | None) -> Iterator[tuple[str, Any]]:
    """``(file, (json_line, brief))`` per file as the rows stream back, each file once: a
    row that comes back a second time (a batch retried after its rows were sent) is dropped."""
    ray = _import_ray()
    ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=math.ceil(len(files) / batch_size))
    relative = any(not os.path.isabs(f) for f in files)  # else the actors need not share the driver's directory
    out = _map(ds, engine_kwargs, settings, path_column="path", bytes_column=None, batch_size=batch_size, actors=actors,
               cpus_per_actor=1, attempts=attempts, timeout=timeout, cwd=os.getcwd() if relative else None)
    ctx = out.context
    ctx.enable_progress_bars = False  # scan draws its own
    ctx.print_on_execution_start = False
    seen: set[str] = set()
    try:
        for batch in out.iter_batches(batch_size=None, batch_format="pyarrow"):
            for path, line, verdict, err in zip(*(batch.column(c).to_pylist()
                                                  for c in ("path", "result", "verdict", "error_type"))):
                key = os.path.abspath(path)
                if key in seen:
                    log.debug("%s: a second row came back and is dropped", path)
                    continue
                seen.add(key)
                yield path, (line, {"verdict": verdict, "error": err})
    except ray.exceptions.RayError as exc:
        ours = _forensics_error(exc)
        if ours is not None:  # an actor refused to start (another install): rerunning would not help
            raise ForensicsError(f"the Ray scan stopped: {ours}") from None
        text = str(exc).strip()
        raise ForensicsError(f"the Ray scan stopped ({type(exc).__name__}: {text.splitlines()[0] if text else 'no message'}); "
                             "the rows written so far are kept: rerun the same command to finish") from None


def _forensics_error(exc: BaseException) -> str | None:
    """The message of a ForensicsError raised on an actor, as Ray's error text quotes it."""
    for line in str(exc).splitlines():
        name, sep, message = line.strip().partition(": ")
        if sep and name.startswith("forensics.errors."):
            return message
    return None
