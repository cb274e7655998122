"""Run the tutorials' programs and commands, and draw their figures.

`docs/tutorial.ko.md` and `docs/tutorial.md` follow one convention, which `tests/test_tutorial.py` checks:

- A ```cnn or ```python block whose first line is `# file: NAME` is a file a student types in. Every such
  file of a tutorial is written to one scratch folder (the names are unique within a tutorial).
- A ```console block holds commands, each a line `$ cnndsl ...` or `$ python NAME.py`, followed by the
  exact output (stdout and stderr) it prints. The commands run in the scratch folder in the order written.
- `$ cnndsl render FILE ... -o NAME.png` draws the figure shown as `img/tutorial/LANG/NAME.png`; the test
  compares the DOT text of that command with `img/tutorial/LANG/NAME.dot`, written beside the PNG.
- In the prose, an inline code span `EXPR = VALUE` (or `EXPR ≈ VALUE`) is hand arithmetic: the test
  evaluates EXPR. A span that is only a figure (`4,864`, `96x96x64`, `44.2M`) must be printed by a
  command of the same chapter (`## ` section). Both tutorials hold the same programs (comments and
  titles aside), the same commands and outputs, and the same spans, in the same order.

    python docs/tutorial_figures.py            draw every figure (PNG through Graphviz `dot`, and its DOT)
    python docs/tutorial_figures.py --update   first rewrite every command's output in both tutorials

The test only compares; this script is the one place that writes the expected outputs and figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
TUTORIALS = {"ko": DOCS / "tutorial.ko.md", "en": DOCS / "tutorial.md"}
FIGURES = DOCS / "img" / "tutorial"

FENCE = re.compile(r"^```(\w*)\s*$")
FILE_LINE = re.compile(r"^# file: (\S+)$")
SPAN = re.compile(r"`([^`\n]+)`")
CLAIM = re.compile(r"^(?P<expr>[\d\s()+\-*/.]*[+\-*/][\d\s()+\-*/.]*?)\s*(?P<rel>=|≈)\s*(?P<value>\d[\d,]*(?:\.\d+)?)$")
FIGURE = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?[KMG]?|\d+x\d+(?:x\d+)?)$")
TOKEN = re.compile(r"\d[\dx.,]*[KMG]?")


@dataclass
class Block:
    lang: str  # the fence's info string: cnn, python, console, ...
    start: int  # index of the first line inside the fence
    lines: list[str]
    chapter: str


@dataclass
class Command:
    line: str  # without the "$ "
    expected: str  # the output written under it
    chapter: str


def parse(text: str) -> tuple[list[Block], list[tuple[str, str]]]:
    """The fenced blocks, and the prose as (chapter, text) pieces between them."""
    blocks, prose = [], []
    chapter, inside, lines = "", None, []
    for i, line in enumerate(text.split("\n")):
        if inside is None:
            if line.startswith("## "):
                chapter = line[3:].strip()
            m = FENCE.match(line)
            if m:
                inside, start, lines = m.group(1), i + 1, []
            else:
                prose.append((chapter, line))
        elif line.rstrip() == "```":
            blocks.append(Block(inside, start, lines, chapter))
            inside = None
        else:
            lines.append(line)
    if inside is not None:
        raise ValueError(f"an unclosed ``` block opened on line {start}")
    return blocks, prose


def files(blocks: list[Block]) -> dict[str, str]:
    """The files a student types in: name -> text."""
    out: dict[str, str] = {}
    for b in blocks:
        if b.lang in ("cnn", "python") and b.lines and FILE_LINE.match(b.lines[0]):
            name = FILE_LINE.match(b.lines[0]).group(1)
            if name in out:
                raise ValueError(f"two files named {name}")
            out[name] = "\n".join(b.lines) + "\n"
    return out


def commands(blocks: list[Block]) -> list[Command]:
    out: list[Command] = []
    for b in blocks:
        if b.lang != "console":
            continue
        if not b.lines or not b.lines[0].startswith("$ "):
            raise ValueError(f"a console block on line {b.start} must start with a '$ ' command")
        for line in b.lines:
            if line.startswith("$ "):
                out.append(Command(line[2:], "", b.chapter))
            else:
                out[-1].expected += line + "\n"
    for c in out:
        c.expected = c.expected.rstrip("\n")
    return out


def figure_name(argv: list[str]) -> str | None:
    """NAME of `cnndsl render ... -o NAME.png`, else None."""
    if argv[:2] == ["cnndsl", "render"] and "-o" in argv:
        out = argv[argv.index("-o") + 1]
        if not out.endswith(".png") or "/" in out:
            raise ValueError(f"a tutorial figure is drawn to a bare NAME.png, not {out}")
        return out[: -len(".png")]
    return None


def run(line: str, folder: Path, png: Path | None = None) -> tuple[str, str | None]:
    """Run one tutorial command in `folder`: (what it prints, the DOT text of a figure or None).
    A figure is drawn as the command says (in `folder`), and copied to `png` when one is given."""
    from cnndsl import cli

    argv = shlex.split(line)
    figure = figure_name(argv)
    buf = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        if figure is not None:
            at = argv.index("-o")
            args = argv[1:at] + argv[at + 2:]
            dot = io.StringIO()
            with contextlib.redirect_stdout(dot):  # without -o, render prints the DOT text
                status = cli.main(args)
            if status == 0:  # the command as written (it says what it wrote), then the copy shown
                status = cli.main(argv[1:])
            if status:
                raise RuntimeError(f"`{line}` exited {status}: {buf.getvalue()}")
            if png is not None:
                shutil.copyfile(folder / argv[at + 1], png)
            return buf.getvalue().rstrip("\n"), dot.getvalue()
        if argv[0] == "cnndsl":
            cli.main(argv[1:])
        elif argv[0] == "python" and len(argv) == 2:
            runpy.run_path(argv[1], run_name="__main__")
        else:
            raise ValueError(f"a tutorial command is `cnndsl ...` or `python FILE.py`, not `{line}`")
    return buf.getvalue().rstrip("\n"), None


def write_files(blocks: list[Block], folder: Path) -> None:
    for name, text in files(blocks).items():
        (folder / name).write_text(text, encoding="utf-8")


def refresh(lang: str, folder: Path, rewrite: bool) -> None:
    """Draw one tutorial's figures (PNG and DOT); with `rewrite`, also rewrite the output under every
    command. Every command runs, in order, in `folder`."""
    path = TUTORIALS[lang]
    text = path.read_text(encoding="utf-8")
    blocks, _ = parse(text)
    write_files(blocks, folder)
    (FIGURES / lang).mkdir(parents=True, exist_ok=True)
    consoles = [b for b in blocks if b.lang == "console"]
    new_blocks = []
    for b in consoles:
        new = []
        for c in commands([b]):
            name = figure_name(shlex.split(c.line))
            out, dot = run(c.line, folder, FIGURES / lang / f"{name}.png" if name else None)
            if dot is not None:
                (FIGURES / lang / f"{name}.dot").write_text(dot, encoding="utf-8")
            new += [f"$ {c.line}"] + (out.split("\n") if out else [])
        new_blocks.append(new)
    if rewrite:
        lines = text.split("\n")
        for b, new in reversed(list(zip(consoles, new_blocks))):
            lines[b.start: b.start + len(b.lines)] = new
        path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--update", action="store_true", help="also rewrite every command's output in both tutorials")
    args = ap.parse_args(argv)
    for lang in TUTORIALS:
        with tempfile.TemporaryDirectory() as tmp:
            refresh(lang, Path(tmp), args.update)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(DOCS.parent))
    sys.exit(main())
