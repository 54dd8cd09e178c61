"""Signal registry: one table of built-ins plus the ``forensics.signals`` entry-point group.

Third-party packages register a signal with::

    [project.entry-points."forensics.signals"]
    my_signal = "my_package.module:MySignal"

Each plugin is imported in isolation: a broken plugin is reported by :func:`plugin_errors`
and ``forensics signals``, never fatal. Set ``FORENSICS_NO_PLUGINS=1`` to skip autoloading.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
from importlib.metadata import entry_points
from typing import Any

from forensics.errors import UnknownSignalError

from .base import Signal

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "forensics.signals"
NO_PLUGINS_ENV = "FORENSICS_NO_PLUGINS"

#: Built-in signals, in display order: name -> "module:Class".
BUILTIN: dict[str, str] = {
    "dct": "forensics.signals.dct:DCTSignal",
    "effnet_probe": "forensics.signals.effnet_probe:EffnetProbeSignal",
    "npr": "forensics.signals.npr:NprSignal",
    "exif": "forensics.signals.exif:ExifSignal",
    "jpeg_tables": "forensics.signals.jpeg_tables:JpegTablesSignal",
    "generator_metadata": "forensics.signals.generator_metadata:GeneratorMetadataSignal",
    "c2pa": "forensics.signals.provenance:C2paSignal",
    "watermark": "forensics.signals.watermark:WatermarkSignal",
    "sumsub_sd5": "forensics.signals.mobilenet:MobileNetSignal",
    "clip_zeroshot": "forensics.signals.clip:ClipZeroShotSignal",
}

_plugin_cache: tuple[dict[str, str], dict[str, str]] | None = None


def _plugins() -> tuple[dict[str, str], dict[str, str]]:
    """Entry-point targets and load errors: ({name: "module:Class"}, {name: error})."""
    global _plugin_cache
    if _plugin_cache is None:
        found: dict[str, str] = {}
        errors: dict[str, str] = {}
        if os.environ.get(NO_PLUGINS_ENV, "").strip() not in ("", "0"):
            _plugin_cache = (found, errors)
            return _plugin_cache
        try:
            eps = entry_points(group=ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken distribution's metadata
            errors["<entry points>"] = f"{type(exc).__name__}: {exc}"
            eps = []
        for ep in eps:
            if ep.name in BUILTIN:
                errors[ep.name] = f"plugin {ep.value!r} ignored: the name is taken by a built-in signal"
            else:
                found[ep.name] = ep.value
        _plugin_cache = (found, errors)
    return _plugin_cache


def reset_plugin_cache() -> None:
    """Forget discovered plugins (after installing one in a running process, or in tests)."""
    global _plugin_cache
    _plugin_cache = None


def signal_names(*, include_plugins: bool = True) -> list[str]:
    """Registered signal names: built-ins in table order, then plugins sorted."""
    names = list(BUILTIN)
    if include_plugins:
        names += sorted(_plugins()[0])
    return names


def plugin_errors() -> dict[str, str]:
    """Plugins that could not be registered or imported, with the reason."""
    return dict(_plugins()[1])


def _target(name: str) -> str:
    if name in BUILTIN:
        return BUILTIN[name]
    plugins = _plugins()[0]
    if name in plugins:
        return plugins[name]
    known = signal_names()
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownSignalError(f"unknown signal {name!r}{hint} (registered: {', '.join(known)})")


def signal_class(name: str) -> type:
    """Import and return the class registered under ``name``."""
    target = _target(name)
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
    except Exception as exc:
        if name not in BUILTIN:
            _plugins()[1][name] = f"{type(exc).__name__}: {exc}"
        raise ImportError(f"signal {name!r}: cannot import {target!r} ({type(exc).__name__}: {exc})") from exc
    return cls


def signal_table() -> list[dict[str, Any]]:
    """Each registered signal, then each plugin that could not be registered: ``name``,
    ``version``, ``available`` (can it run here) and ``reason`` (why not, and how to fix it).
    What ``forensics signals`` prints and ``forensics serve`` answers on ``/v1/signals``."""
    rows = []
    for name in signal_names():
        try:
            sig = create_signal(name)
            avail = sig.availability()
            rows.append({"name": name, "version": sig.version, "available": avail.ok, "reason": avail.reason})
        except Exception as exc:
            rows.append({"name": name, "version": None, "available": False, "reason": f"cannot load: {exc}"})
    for name, err in sorted(plugin_errors().items()):
        if not any(r["name"] == name for r in rows):
            rows.append({"name": name, "version": None, "available": False, "reason": f"plugin error: {err}"})
    return rows


def create_signal(name: str, **params: Any) -> Signal:
    """Instantiate the signal registered under ``name`` with ``params``."""
    return signal_class(name)(**params)


def default_signals() -> list[Signal]:
    """One instance of every registered signal that imports, except those whose class sets
    ``by_default = False``; broken plugins are skipped and logged."""
    out: list[Signal] = []
    for name in signal_names():
        try:
            cls = signal_class(name)
        except ImportError as exc:
            if name in BUILTIN:
                raise
            log.warning("%s", exc)
            continue
        if getattr(cls, "by_default", True):
            out.append(cls())
    return out
