"""Signal modules: each turns a :class:`~forensics.image.LoadedImage` into a :class:`SignalResult`."""

from .base import STATUSES, Availability, BaseSignal, Prior, Signal, SignalResult, fingerprint_of
from .registry import (
    BUILTIN,
    ENTRY_POINT_GROUP,
    create_signal,
    default_signals,
    plugin_errors,
    signal_class,
    signal_names,
    signal_table,
)

__all__ = [
    "STATUSES", "Availability", "BaseSignal", "Prior", "Signal", "SignalResult", "fingerprint_of", "BUILTIN", "ENTRY_POINT_GROUP",
    "create_signal", "default_signals", "plugin_errors", "signal_class", "signal_names", "signal_table",
]
