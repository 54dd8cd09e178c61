"""The results file of ``forensics scan``: JSON Lines, locked while written, recovered after a
kill; reading it back (latest row per file) and flattening it to CSV."""

from __future__ import annotations

import csv
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forensics.attribution import short
from forensics.errors import ForensicsError
from forensics.safe import csv_row

log = logging.getLogger(__name__)

#: fsync the output at least this often (seconds) and at the end. A killed process loses
#: nothing already written; fsync bounds what a power cut can take.
FSYNC_INTERVAL = 2.0


class ResultsFile:
    """The JSON Lines output, locked for this process while open. On open, a partially
    written last line (the process was killed mid-write, or the machine lost power) is cut
    off; complete lines that are not JSON are counted and left alone (readers skip them)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self.bad_lines = 0
        self.dropped_bytes = 0
        self._fd: int | None = None
        self._last_sync = time.monotonic()
        self._unsynced = 0

    def __enter__(self) -> "ResultsFile":
        if self.path.is_dir():
            raise ForensicsError(f"{self.path}: is a directory; -o expects a file name such as results.jsonl")
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise ForensicsError(f"{self.path}: cannot open the output ({exc.strerror or exc})") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise ForensicsError(f"{self.path}: another scan is writing this file; wait for it or choose another -o") from None
        try:
            self._recover()
        except BaseException:  # Ctrl-C while reading back a large file: release it
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recover(self) -> None:
        assert self._fd is not None
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode):
            raise ForensicsError(f"{self.path}: not a regular file; -o expects a file name such as results.jsonl")
        size = st.st_size
        data = os.pread(self._fd, size, 0) if size else b""
        if data and not is_results_data(data):  # never cut or append to someone's file
            raise ForensicsError(f"{self.path}: exists and is not a results file of `forensics scan` (its first line "
                                 "is not a JSON row); nothing was written to it: choose another -o")
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        if tail:
            row = _parse(tail)
            if row is not None:  # a complete row that lost only its newline
                os.write(self._fd, b"\n")
                data += b"\n"
            else:
                os.ftruncate(self._fd, cut)
                os.fsync(self._fd)
                self.dropped_bytes = len(tail)
                log.warning("%s: cut off a partially written last line (%d bytes); that file will be analysed again",
                            self.path, len(tail))
                data = data[:cut]
        for line in data.splitlines():
            if not line.strip():
                continue
            row = _parse(line)
            if row is None:
                self.bad_lines += 1
            else:
                self.rows.append(row)
        if self.bad_lines:
            log.warning("%s: %d line(s) are not JSON rows and are ignored", self.path, self.bad_lines)

    def append(self, line: str) -> None:
        assert self._fd is not None
        data = (line.rstrip("\n") + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._unsynced += 1
        if time.monotonic() - self._last_sync >= FSYNC_INTERVAL:
            self.sync()

    def sync(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)  # releases the lock
            self._fd = None


#: How every row the engine writes begins (``json.dumps`` of a row: ``schema`` comes first).
ROW_START = b'{"schema": "forensics.analysis"'


def is_results_data(data: bytes) -> bool:
    """``data`` (a file's first bytes or all of it) starts as a results file: with a JSON object
    line, or a row cut by a kill (blank lines first are allowed). An image, a CSV or a text file
    does not."""
    head = data.lstrip(b"\r\n")
    return head.startswith(ROW_START) or _parse(head.split(b"\n", 1)[0]) is not None


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def read_results(path: str | os.PathLike, *, latest: bool = True) -> list[dict[str, Any]]:
    """Rows of a scan's JSON Lines file, skipping lines that are not JSON objects. With
    ``latest`` only the last row per file is kept (a file rescanned under new settings, or
    changed on disk, has several), in first-seen order."""
    rows = []
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                row = _parse(line)
                if row is not None:
                    rows.append(row)
    if not latest:
        return rows
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_key[row_key(row)] = row
    return list(by_key.values())


def row_key(row: dict[str, Any]) -> str:
    scan = row.get("scan") if isinstance(row.get("scan"), dict) else {}
    return str(scan.get("path") or row.get("source"))


# -- flat records --------------------------------------------------------------------------------
#: Columns of :func:`flatten`, before the per-signal ``contribution_<name>`` and ``score_<name>``.
FLAT_COLUMNS = ("source", "path", "sha256", "probability", "logit", "verdict", "basis", "headline", "generator",
                "generator_basis", "decisive",
                "p_value", "format", "width", "height", "truncated", "decoded_share", "degraded", "error_type",
                "error_message")
#: Columns of the CSV (``analyze --format csv``, ``scan --csv``), before each signal's
#: ``contribution_<name>`` and the closing ``error`` ("type: message").
CSV_COLUMNS = ("source", "sha256", "probability", "verdict", "basis", "headline", "generator", "generator_basis",
               "decisive", "p_value", "decoded_share")


def signal_names_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every signal name in ``rows``, in first-seen order."""
    names: list[str] = []
    for row in rows:
        for s in row.get("signals") or []:
            if isinstance(s, dict) and isinstance(s.get("name"), str) and s["name"] not in names:
                names.append(s["name"])
    return names


def flatten(row: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """One result or error row as a flat record: :data:`FLAT_COLUMNS`, then for each of
    ``names`` its ``contribution_<name>`` (log-odds; 0 when it did not score) and
    ``score_<name>`` (raw score; ``None`` when it did not score). Rows written before schema 2
    have no ``basis`` or ``headline`` (``None``)."""
    scan = row.get("scan") if isinstance(row.get("scan"), dict) else {}
    image = row.get("image") if isinstance(row.get("image"), dict) else {}
    decision = row.get("decision") if isinstance(row.get("decision"), dict) else {}
    basis = row.get("basis") if isinstance(row.get("basis"), dict) else {}
    err = row.get("error") if isinstance(row.get("error"), dict) else None
    att = row.get("attribution") if isinstance(row.get("attribution"), dict) else {}
    generator = short(att)
    out: dict[str, Any] = {
        "source": row.get("source"), "path": scan.get("path") or row.get("source"),
        "sha256": row.get("sha256") or scan.get("sha256"), "probability": row.get("probability"),
        "logit": row.get("logit"), "verdict": row.get("verdict"), "basis": basis.get("kind"),
        "headline": row.get("headline"), "generator": generator,
        "generator_basis": att.get("basis") if generator else None,
        "decisive": ",".join(str(d) for d in row.get("decisive") or []) if err is None else None,
        "p_value": decision.get("p_value"), "format": image.get("format"), "width": image.get("width"),
        "height": image.get("height"), "truncated": image.get("truncated"),
        "decoded_share": image.get("decoded_share"), "degraded": row.get("degraded"),
        "error_type": err.get("type") if err else None, "error_message": err.get("message") if err else None,
    }
    by_name = {s.get("name"): s for s in row.get("signals") or [] if isinstance(s, dict)}
    for n in names:
        s = by_name.get(n) or {}
        out[f"contribution_{n}"] = s.get("contribution") if err is None else None
        out[f"score_{n}"] = s.get("score")
    return out


def read_table(path: str | os.PathLike, *, latest: bool = True, as_frame: bool | str = "auto") -> Any:
    """A scan's results as one flat record per file (see :func:`flatten`): a pandas DataFrame
    when pandas is installed (``as_frame="auto"``) or asked for (``True``), else a list of
    dicts (``False``, or ``"auto"`` without pandas). Exported as ``forensics.batch.read_results``."""
    if as_frame not in (True, False, "auto"):
        raise ValueError(f"as_frame must be True, False or 'auto', got {as_frame!r}")
    rows = read_results(path, latest=latest)
    names = signal_names_of(rows)
    records = [flatten(r, names) for r in rows]
    if as_frame is False:
        return records
    try:
        import pandas as pd
    except ImportError:
        if as_frame is True:
            raise ImportError("as_frame=True needs pandas: pip install 'forensics[pandas]'") from None
        return records
    columns = [*FLAT_COLUMNS, *(f"{k}_{n}" for n in names for k in ("contribution", "score"))]
    return pd.DataFrame.from_records(records, columns=columns)


# -- CSV ---------------------------------------------------------------------------------------
def csv_header(names: Sequence[str]) -> list[str]:
    """The CSV's header: :data:`CSV_COLUMNS`, ``contribution_<name>`` for each of ``names``, ``error``."""
    return csv_row([*CSV_COLUMNS, *(f"contribution_{n}" for n in names), "error"])


def csv_record(row: dict[str, Any], names: Sequence[str]) -> list[str]:
    """One result or error row as the CSV's cells (escaped and formula-neutralised), in
    :func:`csv_header`'s order."""
    flat = flatten(row, names)
    err = f"{flat['error_type']}: {flat['error_message']}" if flat["error_type"] is not None else None
    return csv_row([*(flat[c] for c in CSV_COLUMNS), *(flat[f"contribution_{n}"] for n in names), err])


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """``rows`` as the CSV (:func:`csv_header`, :func:`csv_record`), one signal column per
    signal seen. Written to a temporary file and renamed, so it is never half-written."""
    names = signal_names_of(rows)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fh = open(tmp, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise ForensicsError(f"{tmp}: cannot write the CSV ({exc.strerror or exc})") from None
    with fh:
        w = csv.writer(fh)
        w.writerow(csv_header(names))
        for row in rows:
            w.writerow(csv_record(row, names))
    os.replace(tmp, path)
