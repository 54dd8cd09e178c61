"""forensics: multi-signal AI-generated image forensics.

>>> from forensics import analyze
>>> result = analyze("photo.jpg")
>>> result.probability, result.verdict

Importing this package loads neither torch nor any model; neural signals import their
runtime lazily, when first used.
"""

from __future__ import annotations

from .errors import (
    CalibrationError,
    ForensicsError,
    FusionError,
    ImageLoadError,
    SignalUnavailableError,
    UnknownSignalError,
    WeightsError,
)
from .analysis import Analysis, Engine, SignalEntry
from .api import analyze
from .image import LoadedImage, load_image
from .version import __version__

__all__ = [
    "__version__", "analyze", "Analysis", "Engine", "SignalEntry", "LoadedImage", "load_image", "ForensicsError", "ImageLoadError",
    "UnknownSignalError", "SignalUnavailableError", "WeightsError", "FusionError", "CalibrationError",
]
