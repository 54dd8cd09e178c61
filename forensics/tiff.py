"""Bounds on TIFF-structured metadata (EXIF, TIFF files) checked before any parser materialises it.

An IFD entry declares a type and a count; parsers (piexif, Pillow) turn the values into Python
objects, a tuple of ints for a numeric array. Nothing stops a file from giving a hundred tags a
million LONG values each at one shared offset: 4 MB of bytes become gigabytes of ints.
:func:`overreach` walks the IFDs (reading only the entry tables, never the values) and says
what is wrong when the declared values need more than the data holds:

* more than :data:`MAX_ENTRIES` entries in all, or more than :data:`MAX_IFDS` IFDs;
* one entry declaring more bytes than the whole data (piexif builds a ``struct`` format string
  of one letter per declared value before it finds the data short: 4 GB for a count of 2**32);
* values (those not inline in their entry) declaring more bytes in all than the data holds
  plus :data:`SLACK_BYTES` (values that overlap: nothing a real writer produces at scale);
* more than :data:`MAX_VALUES` numeric values in all (a numeric array becomes one Python int
  or fraction per value; 1,000,000 is about 40 MB).
"""

from __future__ import annotations

import struct

#: Bytes per value of each TIFF type (1 BYTE ... 13 IFD, 16-18 BigTIFF types).
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
#: Types kept as one bytes object by the parsers (ASCII, UNDEFINED), not one object per value.
BLOB_TYPES = {2, 7}
#: Pointer tags to sub-IFDs: Exif, GPS, Interoperability.
SUB_IFDS = {0x8769, 0x8825, 0xA005}
MAX_IFDS = 64
MAX_ENTRIES = 10_000
MAX_VALUES = 1_000_000
SLACK_BYTES = 64 * 1024


def overreach(data: bytes | None, *, pillow: bool = False) -> str | None:
    """What makes ``data`` (TIFF-structured EXIF) too costly to parse, or ``None`` when its
    declared values fit. Read as piexif reads it: little-endian after ``II``, big-endian after
    anything else, the magic number unchecked (a file of another kind is read as garbage IFDs,
    which is what piexif would do with it). ``pillow``: bound what Pillow reads instead (a TIFF
    file's own tags): it skips a value past the end of the data without reading it."""
    if not data or len(data) < 8:
        return None
    order = "<" if data[:2] == b"II" else ">"
    (first,) = struct.unpack(order + "I", data[4:8])
    n = len(data)
    queue, seen = [first], set()
    entries = values = value_bytes = 0
    while queue:
        off = queue.pop()
        if off in seen or off < 8 or off + 2 > n:
            continue
        seen.add(off)
        if len(seen) > MAX_IFDS:
            return f"EXIF declares more than {MAX_IFDS} IFDs"
        (count,) = struct.unpack(order + "H", data[off:off + 2])
        count = min(count, (n - off - 2) // 12)  # entries past the end are not read by anyone
        entries += count
        if entries > MAX_ENTRIES:
            return f"EXIF declares more than {MAX_ENTRIES:,} tags"
        for i in range(count):
            tag, typ, cnt, val = struct.unpack(order + "HHII", data[off + 2 + 12 * i:off + 14 + 12 * i])
            unit = TYPE_SIZES.get(typ)
            if unit is None:
                continue
            size = unit * cnt
            past_end = size > 4 and val + size > n
            if pillow and past_end:
                continue
            if size > n:  # piexif builds a struct format of cnt letters before it finds the data short
                return f"EXIF tag {tag:#06x} declares {size:,} bytes of values in {n:,} bytes"
            if size > 4 and not past_end:
                value_bytes += size
            if typ not in BLOB_TYPES:
                values += cnt
            if tag in SUB_IFDS and cnt == 1 and typ in (4, 13):
                queue.append(val)
        if value_bytes > n + SLACK_BYTES:
            return (f"EXIF declares {value_bytes:,} bytes of values in {n:,} bytes "
                    "(values overlap: a memory amplifier)")
        if values > MAX_VALUES:
            return f"EXIF declares {values:,} numeric values (more than {MAX_VALUES:,})"
        nxt = off + 2 + 12 * count
        if nxt + 4 <= n:
            queue.append(struct.unpack(order + "I", data[nxt:nxt + 4])[0])
    return None
