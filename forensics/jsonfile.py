"""Reading the engine's JSON files (fusion, calibration): one header check, clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .artifacts import strict_loads
from .image import read_regular


#: Largest fusion or calibration file read.
MAX_JSON_BYTES = 64 * 1024 * 1024


def read_json(path: str | Path, error: type[Exception], what: str) -> Any:
    """Parse strict JSON: ``NaN`` and ``Infinity`` (which Python's json accepts) are refused.
    Only a regular file of at most :data:`MAX_JSON_BYTES` is read."""
    data = read_regular(path, MAX_JSON_BYTES, error, f"a {what} file")
    try:
        return strict_loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:  # its text would quote the file's bytes
        raise error(f"{path}: cannot read {what} file (not UTF-8 at byte {exc.start:,})") from None
    except (ValueError, RecursionError) as exc:  # json's messages give a place, never the content
        raise error(f"{path}: cannot read {what} file ({exc})") from None


def check_header(data: Any, fmt: str, version: int, source: str, error: type[Exception], what: str) -> None:
    """Raise ``error`` unless ``data`` is a mapping with ``format == fmt`` and ``format_version == version``."""
    if not isinstance(data, Mapping) or data.get("format") != fmt:
        got = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise error(f"{source}: not a {what} file (format {got!r}, expected {fmt!r})")
    if data.get("format_version") != version:
        raise error(f"{source}: {what} format version {data.get('format_version')!r} is not supported (expected {version})")
