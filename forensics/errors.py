"""Exception hierarchy.

Every error the engine raises derives from :class:`ForensicsError` and also from the
built-in exception that matches its meaning, so ``except ValueError`` keeps working.
Messages say what failed, what was received, what was expected and how to fix it.
"""

from __future__ import annotations


class ForensicsError(Exception):
    """Base class of every error raised by ``forensics``."""


class ImageLoadError(ForensicsError, ValueError):
    """An input could not be read as an image (missing, empty, corrupt, too large, unsupported)."""


class UnknownSignalError(ForensicsError, KeyError):
    """A signal name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class SignalUnavailableError(ForensicsError, RuntimeError):
    """A signal cannot run here (weights or an optional package missing)."""


class WeightsError(ForensicsError, ValueError):
    """Weights or their sidecar are missing, malformed, or do not match the expected format."""


class FusionError(ForensicsError, ValueError):
    """A fusion model file or its inputs are invalid."""


class CalibrationError(ForensicsError, ValueError):
    """A calibration cannot be fitted or loaded (too few images, wrong signal versions, bad file)."""
