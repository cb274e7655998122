"""One error type for everything a user can get wrong, and its one renderer.

Every user-facing error reads::

    tiny.cnn:3:1: error: unknown layer 'conb'
        3 | conb 3x3x64
          | ^^^^
    hint: did you mean 'conv'?
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from cnndsl.source import Span, source_line


class CnnError(Exception):
    """A problem in a `.cnn` program or in the arguments given to cnndsl.

    Args:
        message: what is wrong, in one line.
        span: where (``None`` for errors without a position, e.g. a bad command-line flag).
        hint: what to do about it, if there is something to say.
    """

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def render(self) -> str:
        """The error as the CLI prints it: position, message, source line, caret, hint."""
        where = f"{self.span.file}:{self.span.line}:{self.span.col}: " if self.span else "cnndsl: "
        lines = [f"{where}error: {_clip(self.message)}"]
        text = source_line(self.span) if self.span else None
        if text is not None:
            num = str(self.span.line)
            pad = " " * len(num)
            col = self.span.col
            width = max(1, (self.span.end_col - col) if self.span.end_line == self.span.line else 1)
            width = min(width, max(1, len(text) - col + 1), SHOWN)
            if len(text) > SHOWN:  # a window of a long line around the caret
                start = max(0, min(col - 1 - SHOWN // 4, len(text) - SHOWN))
                text, col = text[start:start + SHOWN], col - start
            lines.append(f" {num} | {text}")
            lines.append(f" {pad} | {' ' * (col - 1)}{'^' * width}")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


SHOWN = 200  # longest message part and source line an error shows (a word can be megabytes long)


def _clip(text: str) -> str:
    """`text` with every run of more than SHOWN characters without a space shortened in the middle."""
    if len(text) <= SHOWN:
        return text
    return re.sub(r"\S{%d,}" % (SHOWN + 1), lambda m: f"{m.group()[:SHOWN // 2]}...({len(m.group()):,} characters)",
                  text)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint naming the closest of `choices`, or None."""
    best = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{best[0]}'?" if best else None
