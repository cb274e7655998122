"""Source files and positions: every AST node, IR node and error carries a `Span`."""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

from typing import NamedTuple

class Span(NamedTuple):
    """A region of a source file, 1-based lines and columns, end exclusive.
    (A NamedTuple: one is made per token, so it must be cheap; JSON shows it as an array.)"""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def source_line(span: Span, texts: dict[str, str]) -> str | None:
    """The text of the span's first line, without its newline, or None if `texts` (file -> text)
    does not hold the span's file. There is no process-wide table of texts: an error carries the
    texts it was found in (`CnnError.texts`), so threads parsing different texts under one name
    (a server's requests) each quote their own."""
    text = texts.get(span.file)
    if text is None:
        return None
    lines = text.split("\n")
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1].rstrip("\r").expandtabs(1)
    return None


def position(text: str | bytes, offset: int, known: tuple[int, int] = (1, 0)) -> tuple[int, int]:
    """The 1-based (line, column) of `offset` in `text`. `known` is a (line, offset) already
    worked out at or before `offset`, so that a scan through many offsets stays linear."""
    nl = "\n" if isinstance(text, str) else b"\n"
    line, start = known
    return line + text.count(nl, start, offset), offset - (text.rfind(nl, 0, offset) + 1) + 1


def point(file: str, text: str, offset: int) -> Span:
    """A one-character span at `offset` in `text`."""
    line, col = position(text, offset)
    return Span(file, line, col, line, col + 1)


def join(a: Span, b: Span) -> Span:
    """From the start of `a` to the end of `b`."""
    return Span(a.file, a.line, a.col, b.end_line, b.end_col)


def data_path(folder: str, name: str = "") -> Path:
    """`grammars/` or `architectures/`: inside the installed package (the wheel force-includes
    them as `cnndsl/<folder>`), or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for base in (here / folder, here.parent / folder):
        if base.is_dir():
            return base / name if name else base
    raise FileNotFoundError(f"cnndsl is installed without its {folder}/ folder")


def shipped() -> dict[str, Path]:
    """The shipped architectures by name, sorted: `resnet50` -> `.../architectures/resnet50.cnn`."""
    try:
        base = data_path("architectures")
    except FileNotFoundError:
        return {}
    return {p.stem: p for p in sorted(base.glob("*.cnn"))}


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while a large, acyclic structure is built (the
    AST, the IR, the analysis rows): its full collections rescan every object made so far, which
    makes building 10,000 statements superlinear. Reference counting still frees everything."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Memo(dict):
    """A process-wide table of results of a pure function, for what a warm process (the
    playground) meets again on every edit; emptied when it reaches `most` entries, so it stays
    small whatever programs come. Reads and writes are single dict operations: threads may share it."""

    def __init__(self, most: int = 4096):
        super().__init__()
        self.most = most

    def keep(self, key, value):
        """Remember `value` under `key`; returns `value`."""
        if len(self) >= self.most:
            self.clear()
        self[key] = value
        return value
