"""``analyze()``: one call for one image, with engines and calibration files cached."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from forensics.calibration import Calibration
from forensics.fusion import LogisticFusion
from forensics.signals import Signal

from .analysis import Analysis, Engine
from .image import DEFAULT_MAX_PIXELS, ImageSource

_ENGINES: dict[Any, Engine] = {}


def analyze(image: ImageSource, *, signals: Sequence["str | Signal"] | None = None,
            calibration: "Calibration | str | None" = None, fusion: "LogisticFusion | None" = None,
            max_pixels: int = DEFAULT_MAX_PIXELS, base_rate: float = 0.5) -> Analysis:
    """Analyse one image with the given (default: all registered) signals.

    ``image`` is a path, bytes, binary file object, PIL image, numpy array or LoadedImage.
    ``calibration`` is a :class:`~forensics.calibration.Calibration` or the path of a
    calibration JSON file. ``base_rate`` is the share of AI images expected (0.01: one in a
    hundred; default 1/2, even odds): P(AI) follows it, the verdict thresholds (likelihood
    ratios) do not move, and the result states it. Engines (and so loaded models) are cached per signal list; for
    many images use :class:`Engine` or :meth:`Engine.analyze_many`, which batch.
    """
    if isinstance(calibration, str) or hasattr(calibration, "__fspath__"):
        calibration = _load_calibration(calibration)  # type: ignore[arg-type]
    key = (tuple(s if isinstance(s, str) else id(s) for s in signals) if signals is not None else None,
           id(calibration) if calibration is not None else None, id(fusion) if fusion is not None else None,
           max_pixels, base_rate)
    engine = _ENGINES.get(key)
    if engine is None or engine.calibration is not calibration or engine.fusion is not fusion:
        engine = Engine(signals, fusion=fusion, calibration=calibration, max_pixels=max_pixels,  # type: ignore[arg-type]
                        base_rate=base_rate)
        if len(_ENGINES) > 8:
            _ENGINES.clear()
        _ENGINES[key] = engine
    return engine.analyze(image)


_CALIBRATIONS: dict[tuple[str, int, int], "Calibration"] = {}


def _load_calibration(path: Any) -> "Calibration":
    """Calibration file by path, loaded once while the file is unchanged (same engine, same models)."""
    try:
        st = os.stat(path)
    except OSError:
        return Calibration.load(path)  # let it report the missing or unreadable file
    key = (os.path.realpath(path), st.st_mtime_ns, st.st_size)
    if key not in _CALIBRATIONS:
        if len(_CALIBRATIONS) > 8:
            _CALIBRATIONS.clear()
        _CALIBRATIONS[key] = Calibration.load(path)
    return _CALIBRATIONS[key]
