"""AST -> canonical text, for `cnndsl fmt`. Comments survive.

The layout: one statement per line, except statements the source wrote on one line (`gap;
dropout 0.2; fc 10`), which stay joined; two-space indentation in `{ }` bodies and multi-line
`< >` groups, with `|` and `>` at the statement's indentation; a group written on one line stays
on one line; single spaces between words; expressions in block calls and params spaced
canonically (`width * 2`); words (`3x3x{c}`) kept as written; at most one blank line in a row;
trailing comments two spaces after the code. Formatting is idempotent, and the formatted
program elaborates to the same IR.
"""

from __future__ import annotations

from cnndsl import syntax as S
from cnndsl.expr import unparse

INDENT = "  "
WIDTH = 100


class _Printer:
    def __init__(self, program: S.Program):
        self.out: list[str] = []
        self.comments = {c.line: c for c in program.comments}  # at most one comment per line
        self.done: set[int] = set()
        self.last_line = 0  # last source line accounted for
        self.trailing: dict[int, int] = {}  # output line index -> length of its code part

    # ---- comments and blank lines between source lines
    def flush(self, before: int, indent: str, blank_ok: bool = True) -> None:
        """Emit own-line comments and (collapsed) blank lines found between the last printed
        source line and line `before`."""
        pending_blank = False
        for line in range(self.last_line + 1, before):
            c = self.comments.get(line)
            if c is not None and line not in self.done:
                if pending_blank and blank_ok and self.out and self.out[-1] != "":
                    self.out.append("")
                pending_blank = False
                self.out.append(indent + c.text)
                self.done.add(line)
                blank_ok = True
            elif c is None:
                pending_blank = True
        if pending_blank and blank_ok and self.out and self.out[-1] != "" and not self.out[-1].endswith(("{", "<")):
            self.out.append("")
        self.last_line = max(self.last_line, before - 1)

    def emit(self, indent: str, text: str, line: int) -> None:
        """Emit one output line made from source `line`, with that line's trailing comment."""
        self.flush(line, indent)
        c = self.comments.get(line)
        if c is not None and line not in self.done:
            self.trailing[len(self.out)] = len(indent + text)
            text = f"{text}  {c.text}"
            self.done.add(line)
        self.out.append(indent + text)
        self.last_line = max(self.last_line, line)

    # ---- items
    def program(self, items) -> str:
        self.seq(items, "", top=True)
        self.flush(max(self.comments, default=0) + 1, "")
        while self.out and self.out[-1] == "":
            self.out.pop()
        self.align()
        return "\n".join(self.out) + "\n" if self.out else ""

    def align(self) -> None:
        """Line up the trailing comments of consecutive lines (as gofmt does)."""
        runs: list[list[int]] = []
        for i in sorted(self.trailing):
            if runs and runs[-1][-1] == i - 1 and abs(self.trailing[i] - self.trailing[i - 1]) <= 24:
                runs[-1].append(i)
            else:
                runs.append([i])
        for run in runs:
            col = max(self.trailing[i] for i in run) + 2
            for i in run:
                code = self.out[i][:self.trailing[i]]
                self.out[i] = code.ljust(col) + self.out[i][self.trailing[i]:].lstrip()

    def seq(self, items, indent: str, top: bool = False) -> None:
        """A sequence of items; items that began on the same source line stay on one line."""
        i = 0
        items = list(items)
        while i < len(items):
            run = [items[i]]
            while (i + len(run) < len(items) and self.single(run[-1]) and self.single(items[i + len(run)])
                   and items[i + len(run)].span.line == run[-1].span.end_line):
                run.append(items[i + len(run)])
            if len(run) > 1:
                text = "; ".join(self.inline(x) for x in run)
                if len(indent) + len(text) <= WIDTH:
                    self.emit(indent, text, run[0].span.line)
                    self.last_line = max(self.last_line, run[-1].span.end_line)
                    i += len(run)
                    continue
            self.item(items[i], indent)
            i += 1

    def single(self, item) -> bool:
        """Can `item` print on one line (as it was written on one line)?"""
        return item.span.line == item.span.end_line and not self.has_comment_inside(item)

    def has_comment_inside(self, item) -> bool:
        return any(line in self.comments for line in range(item.span.line, item.span.end_line)) if (
            item.span.end_line > item.span.line) else False

    def item(self, it, indent: str) -> None:
        if isinstance(it, S.BlockDecl) and not (self.single(it) and len(indent + self.inline(it)) <= WIDTH):
            formals = ", ".join(n if d is None else f"{n}={unparse(d)}" for n, d in it.formals)
            self.emit(indent, f"block {it.name}({formals}){self.title(it)} {{", it.span.line)
            self.seq(it.body, indent + INDENT)
            self.emit(indent, "}", it.span.end_line)
        elif isinstance(it, S.Repeat) and not self.single(it):
            self.emit(indent, f"{self.label(it)}{self.repeat_head(it)} {{", it.span.line)
            self.seq(it.body, indent + INDENT)
            self.emit(indent, "}", it.span.end_line)
        elif isinstance(it, (S.Layer, S.Group)) and self.branches(it) is not None and not self.single(it):
            self.multiline_group(it, indent)
        else:
            text = self.inline(it)
            self.emit(indent, text, it.span.line)
            self.last_line = max(self.last_line, it.span.end_line)

    def multiline_group(self, it, indent: str) -> None:
        head = self.label(it) + self.title(it).lstrip()
        if isinstance(it, S.Layer):
            head += " ".join([it.head.text, *(self.arg(a) for a in it.args)]) + " "
        self.emit(indent, f"{head}<", it.span.line)
        for k, branch in enumerate(self.branches(it)):
            if k == 0:
                self.seq(branch, indent + INDENT)
                continue
            if not branch:
                self.out.append(indent + "|")
                continue
            first = branch[0]
            self.flush(first.span.line, indent + INDENT)
            # the `|` goes on the line of the branch's first statement(s)
            run = 0
            while (run < len(branch) and self.single(branch[run])
                   and branch[run].span.line == first.span.line):
                run += 1
            if run:
                self.emit(indent, "| " + "; ".join(self.inline(x) for x in branch[:run]), first.span.line)
                self.last_line = max(self.last_line, branch[run - 1].span.end_line)
                self.seq(branch[run:], indent + INDENT)
            else:
                self.out.append(indent + "|")
                self.seq(branch, indent + INDENT)
        post = " ".join(self.arg(a) for a in it.post) if isinstance(it, S.Layer) else ""
        self.emit(indent, f"> {post}".rstrip(), self.group_end_line(it))

    def group_end_line(self, it) -> int:
        if isinstance(it, S.Layer) and it.post:
            return it.post[0].span.line
        return it.span.end_line

    @staticmethod
    def branches(it):
        return it.branches if isinstance(it, (S.Layer, S.Group)) else None

    # ---- one-line forms
    @staticmethod
    def label(it) -> str:
        label = getattr(it, "label", None)
        if label is None:
            return ""
        return f'"{label.text}": ' if label.quoted else f"{label.text}: "

    @staticmethod
    def title(it) -> str:
        """` "Bottleneck"` after a block's header, or before a display-only group's `<`."""
        title = getattr(it, "title", None)
        return "" if title is None else f' "{title.text}"' + (" " if isinstance(it, S.Group) else "")

    @staticmethod
    def repeat_head(it: S.Repeat) -> str:
        return f"repeat {it.count.text}" + (f" as {it.index.text}" if it.index is not None else "")

    @staticmethod
    def arg(a: S.Arg) -> str:
        return a.value.text if a.key is None else f"{a.key.text}={a.value.text}"

    def inline(self, it) -> str:
        if isinstance(it, S.NetworkDecl):
            return f"network {it.name}" + (f' "{it.title}"' if it.title is not None else "")
        if isinstance(it, S.InputDecl):
            return f"input {it.dims.text}"
        if isinstance(it, S.ParamDecl):
            return f"param {it.name} = {unparse(it.value)}"
        if isinstance(it, S.UseDecl):
            return f'use "{it.path}"'
        if isinstance(it, S.BlockDecl):
            formals = ", ".join(n if d is None else f"{n}={unparse(d)}" for n, d in it.formals)
            return f"block {it.name}({formals}){self.title(it)} {{ {'; '.join(self.inline(s) for s in it.body)} }}"
        label = self.label(it)
        if isinstance(it, S.Call):
            args = ", ".join(unparse(e) if k is None else f"{k}={unparse(e)}" for k, e in it.args)
            return f"{label}{it.name.text}({args})"
        if isinstance(it, S.Repeat):
            return f"{label}{self.repeat_head(it)} {{ {'; '.join(self.inline(s) for s in it.body)} }}"
        words = []
        if isinstance(it, S.Layer):
            words = [it.head.text, *(self.arg(a) for a in it.args)]
        if isinstance(it, S.Group) and it.title is not None:
            words.append(f'"{it.title.text}"')
        if it.branches is not None:
            inner = " | ".join("; ".join(self.inline(s) for s in b) for b in it.branches)
            words.append(f"< {inner} >")
        if isinstance(it, S.Layer):
            words.extend(self.arg(a) for a in it.post)
        return label + " ".join(words)


def format_program(program: S.Program) -> str:
    """The canonical text of a parsed program."""
    return _Printer(program).program(program.items)


def format_text(text: str, filename: str = "<string>") -> str:
    """The canonical text of `text` (raises CnnError on a syntax error)."""
    return format_program(S.parse_program(text, filename))
