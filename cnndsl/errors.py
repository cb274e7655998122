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
        param: the param override (a `--set` or a keyword argument) the error is about, if any.

    `notes` are (span, text) pairs shown after the error: the block calls that led to it,
    innermost first (like a compiler's "in this macro invocation"). `texts` maps a file to the
    text the error was found in, to quote its lines (see `source.source_line`).
    """

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None, *,
                 param: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.param = param
        self.notes: list[tuple[Span, str]] = []
        self.texts: dict[str, str] = {}

    def quote(self, texts: dict[str, str]) -> None:
        """Keep the texts of these files, unless the error already holds a file's text."""
        for file, text in texts.items():
            self.texts.setdefault(file, text)

    def render(self) -> str:
        """The error as the CLI prints it: position, message, source line, caret, hint, notes."""
        lines = _located(self.span, "error", self.message, self.texts)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        shown = self.notes if len(self.notes) <= NOTES else [*self.notes[:NOTES - 1], self.notes[-1]]
        for i, (span, text) in enumerate(shown):
            if i == NOTES - 1 and len(self.notes) > NOTES:
                lines.append(f"note: ... {len(self.notes) - NOTES:,} more calls ...")
            lines += _located(span, "note", text, self.texts)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


NOTES = 8  # notes shown; past that, the innermost ones and the outermost call


def _located(span: Span | None, level: str, message: str, texts: dict[str, str]) -> list[str]:
    """`FILE:LINE:COL: level: message`, then the source line with a caret under the span."""
    where = f"{span.file}:{span.line}:{span.col}: " if span else "cnndsl: "
    lines = [f"{where}{level}: {_clip(message)}"]
    text = source_line(span, texts) if span else None
    if text is not None:
        num = str(span.line)
        pad = " " * len(num)
        col = span.col
        width = max(1, (span.end_col - col) if span.end_line == span.line else 1)
        width = min(width, max(1, len(text) - col + 1), SHOWN)
        if len(text) > SHOWN:  # a window of a long line around the caret
            start = max(0, min(col - 1 - SHOWN // 4, len(text) - SHOWN))
            text, col = text[start:start + SHOWN], col - start
        lines.append(f" {num} | {text}")
        lines.append(f" {pad} | {' ' * (col - 1)}{'^' * width}")
    return lines


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
