"""What reaches a terminal: control characters in text from files (labels, column names, definitions) escaped, and
counts with their nouns."""

from __future__ import annotations

import re

# C0 controls but newline and tab, DEL, C1 controls, and the bidirectional overrides that reorder what is shown
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``), so that it cannot move the cursor,
    set the terminal's title or reorder the line; newlines and tabs stay."""
    return _CONTROL.sub(_escaped, text)


class Escaping:
    """A text stream that escapes control characters in everything written to it (the command's standard output)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape(text))
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def counted(n: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``: a count and its noun, plural unless one."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
