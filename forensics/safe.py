"""Safe output: the one layer every terminal line and every CSV cell the project writes goes through.

Text drawn from files (names, EXIF Make/Model, a checkpoint name, a C2PA ``softwareAgent``)
is hostile: a name holding ``ESC[2J`` clears the reader's screen, one holding a newline
forges an extra ``-q`` line, and a CSV cell starting with ``=`` is a formula to a spreadsheet.

* :func:`escape` writes every control character (C0, DEL, C1, the line and paragraph
  separators U+2028/U+2029, and the bidirectional overrides U+202A-U+202E and U+2066-U+2069,
  which make a name read backwards) as a Python-style escape (``\\x1b``, ``\\n``, ``\\u0085``, ``\\u2028``); the bytes
  of a non-UTF-8 file name (which Python holds as lone surrogates, ``\\udcff``) as ``\\xff``;
  and a backslash as ``\\\\``, so the escaped text is lossless: :func:`unescape` gives it back.
* :func:`csv_cell` neutralises formulas the way OWASP recommends (a cell starting with ``=``,
  ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``); the text is then escaped.
  Numbers the engine formats itself are written as they are.
* :func:`for_terminal` is a copy of an analysis (any dataclass, dict, list) whose every
  string is escaped, for text built from it (``Analysis.explain``) to carry no live control
  characters while keeping its own line breaks.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

#: What :func:`escape` rewrites: backslash, C0 controls, DEL, C1 controls, U+2028/U+2029, the
#: bidirectional embeddings, overrides and isolates, lone surrogates.
_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _one(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def escape(text: Any) -> str:
    """``text`` (any value, as ``str``) with no live control characters, losslessly."""
    return _UNSAFE.sub(_one, "" if text is None else str(text))


_ESCAPED = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})")


def unescape(text: str) -> str:
    """The inverse of :func:`escape`: ``\\xNN`` from 0x80 up (only a name's bytes are written so)
    comes back as that byte's surrogate, as Python reads a non-UTF-8 name."""
    def back(m: re.Match[str]) -> str:
        tok = m.group(1)
        if len(tok) == 1:
            return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}[tok]
        code = int(tok[1:], 16)
        return chr(0xDC00 + code) if tok[0] == "x" and code >= 0x80 else chr(code)
    return _ESCAPED.sub(back, text)


def lines(text: str) -> str:
    """Multi-line text built by the engine: each line escaped, the line breaks kept."""
    return "\n".join(escape(line) for line in text.split("\n"))


def csv_cell(value: Any) -> str:
    """One CSV cell: empty for ``None``; floats as ``%.6g``; text escaped and formula-neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    raw = str(value)
    return ("'" if raw.startswith(FORMULA_START) else "") + escape(raw)


def csv_row(values: Any) -> list[str]:
    return [csv_cell(v) for v in values]


def for_terminal(obj: Any) -> Any:
    """A copy of ``obj`` (dataclasses, dicts, lists, tuples) with every string escaped."""
    if isinstance(obj, str):
        return escape(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: for_terminal(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj) if f.init})
    if isinstance(obj, dict):
        return {for_terminal(k): for_terminal(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(for_terminal(v) for v in obj)
    return obj


def say(text: Any, *, file: Any = None, multiline: bool = False) -> None:
    """Print ``text`` escaped, and flush: the one way the CLI writes text that may hold names
    or file content to a terminal. One line (a newline in a name is shown as ``\\n``), or with
    ``multiline`` the engine's own line breaks kept (each line escaped)."""
    import sys

    text = "" if text is None else str(text)
    print(lines(text) if multiline else escape(text), file=file or sys.stdout, flush=True)


class LogFormatter(logging.Formatter):
    """A formatter whose messages are escaped (a logged file name is text from a file); the
    traceback ``-v`` adds keeps its line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)
