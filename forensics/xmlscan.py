"""Field values in XMP text, found in time linear in the text.

The pattern ``field\\s*(?:=\\s*"([^"]*)"|>([^<]*)<)`` retried at every occurrence of ``field``
scans to the next quote or ``<`` each time: a packet of ``field="`` repeated, with no closing
quote, costs the square of its length (minutes for 2 MB). :func:`xml_field_values` reads the
same values, remembering where the next quote, ``>`` and ``<`` are, so each character is looked
at a bounded number of times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SPACE = re.compile(r"\s*")
_QUOTE = re.compile(r"[\"']")


class _Next:
    """Positions of the next match of a one-character pattern, for starts that only grow."""

    def __init__(self, text: str, pattern: re.Pattern[str]):
        self.text, self.pattern = text, pattern
        self.start, self.found = -1, -1

    def __call__(self, start: int) -> int:
        if not (self.start >= 0 and self.start <= start and (self.found < 0 or self.found >= start)):
            m = self.pattern.search(self.text, start)
            self.start, self.found = start, m.start() if m else -1
        return self.found


def xml_field_values(text: str, field: str) -> Iterator[str]:
    """Values of ``field`` in ``text``: the attribute form ``field="value"`` (either quote),
    the element form ``<field>value<``, and the language alternative
    ``<field><rdf:Alt><rdf:li ...>value<``. Values are returned as written (not unescaped)."""
    quote, gt, lt = _Next(text, _QUOTE), _Next(text, re.compile(">")), _Next(text, re.compile("<"))
    pos = 0
    while True:
        i = text.find(field, pos)
        if i < 0:
            return
        pos = i + len(field)
        j = _SPACE.match(text, pos).end()
        if text.startswith("=", j):
            k = _SPACE.match(text, j + 1).end()
            if k < len(text) and text[k] in "\"'":
                end = quote(k + 1)
                if end >= 0:
                    yield text[k + 1:end]
                    pos = end + 1
        elif text.startswith(">", j):
            k = _SPACE.match(text, j + 1).end()
            if text.startswith("<rdf:Alt>", k):
                li = _SPACE.match(text, k + 9).end()
                if text.startswith("<rdf:li", li):
                    open_end = gt(li + 7)
                    end = lt(open_end + 1) if open_end >= 0 else -1
                    if end >= 0:
                        yield text[open_end + 1:end]
                        pos = end + 1
            else:
                end = lt(j + 1)
                if end >= 0:
                    yield text[j + 1:end]
                    pos = end + 1
