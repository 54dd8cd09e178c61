"""Keep glibc from mapping and faulting in every image's pixel buffers afresh.

By default glibc serves allocations of tens of MB (an image's planes) with ``mmap()`` and, once
freed, trims or unmaps them, so the next image page-faults the same amount of memory in again.
On this project's 2-core VM that made a 1 MP DCT analysis take 73 ms instead of 40-45 ms and a
one-worker scan 8.8 s instead of 5.6 s, in runs that came and went (docs/benchmarks.md).

:func:`reuse_pixel_buffers` raises glibc's mmap and trim thresholds so that buffers under
256 MB are reused from the heap. The price is memory: up to about 512 MB of freed buffers
stay with the process instead of going back to the system. Processes the engine owns call it (the ``forensics`` command,
scan and evaluate workers); a program that embeds the library can call it too, or set the
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` environment variables itself. It is
never called on import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def reuse_pixel_buffers() -> bool:
    """Set glibc's mmap threshold to 256 MB and trim threshold to 512 MB in this process.
    Returns ``True`` when applied; ``False`` off glibc or when the user set either variable in
    :data:`ENV` (their choice stands)."""
    if not sys.platform.startswith("linux") or any(k in os.environ for k in ENV):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        gnu = libc.gnu_get_libc_version  # glibc only (musl has mallopt as a stub)
    except (OSError, AttributeError):
        return False
    gnu.restype = ctypes.c_char_p
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("glibc %s malloc thresholds %s", gnu().decode(), "set" if ok else "refused")
    return ok
