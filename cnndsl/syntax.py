"""Text -> AST. The Lark LALR parser is built once; a Transformer turns its tree into small,
frozen, positioned AST nodes. Nothing here knows any layer: layer keywords are plain words,
looked up later by elaboration.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Union

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from cnndsl import expr as E
from cnndsl.errors import CnnError
from cnndsl.source import Span, data_path, remember

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 100


# ---------------------------------------------------------------- AST


@dataclass(frozen=True)
class Word:
    """A bare word such as `3x3x64`, `s{s}` or `relu`; `pieces` are its text and `{expr}` holes."""

    text: str
    span: Span
    pieces: tuple[Union[str, E.Expr], ...]


@dataclass(frozen=True)
class Arg:
    key: Word | None
    value: Word
    span: Span


@dataclass(frozen=True)
class Layer:
    label: Word | None
    head: Word
    args: tuple[Arg, ...]
    branches: tuple[tuple["Stmt", ...], ...] | None
    post: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class Group:
    label: Word | None
    branches: tuple[tuple["Stmt", ...], ...]
    span: Span


@dataclass(frozen=True)
class Call:
    label: Word | None
    name: Word
    args: tuple[tuple[str | None, E.Expr], ...]
    span: Span


@dataclass(frozen=True)
class Repeat:
    label: Word | None
    count: Word
    body: tuple["Stmt", ...]
    span: Span


Stmt = Union[Layer, Group, Call, Repeat]


@dataclass(frozen=True)
class NetworkDecl:
    name: str
    span: Span


@dataclass(frozen=True)
class InputDecl:
    dims: Word
    span: Span


@dataclass(frozen=True)
class ParamDecl:
    name: str
    value: E.Expr
    span: Span


@dataclass(frozen=True)
class UseDecl:
    path: str
    span: Span


@dataclass(frozen=True)
class BlockDecl:
    name: str
    formals: tuple[tuple[str, E.Expr | None], ...]
    body: tuple[Stmt, ...]
    span: Span


Item = Union[NetworkDecl, InputDecl, ParamDecl, UseDecl, BlockDecl, Layer, Group, Call, Repeat]


@dataclass(frozen=True)
class Comment:
    line: int
    col: int
    text: str


@dataclass(frozen=True)
class Program:
    file: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = field(default=())


# ---------------------------------------------------------------- parser


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = data_path("grammars", "cnn.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", start=["start", "expr"],
                propagate_positions=True, maybe_placeholders=True, cache=False)


def _span(file: str, meta_or_token) -> Span:
    m = meta_or_token
    if isinstance(m, Token):
        return Span(file=file, line=m.line, col=m.column, end_line=m.end_line, end_col=m.end_column)
    return Span(file=file, line=m.line, col=m.column, end_line=m.end_line, end_col=m.end_column)


_HOLE = re.compile(r"\{([^{}\n]*)\}")


@v_args(meta=True)
class _ToAst(Transformer):
    def __init__(self, file: str, line_offset: int = 0, col_offset: int = 0):
        super().__init__()
        self.file = file
        self.dl = line_offset
        self.dc = col_offset

    def sp(self, m) -> Span:
        if self.dl or self.dc:  # positions inside a {hole}: shift onto the hole's line
            return Span(file=self.file, line=m.line + self.dl, col=m.column + self.dc,
                        end_line=m.end_line + self.dl, end_col=m.end_column + self.dc)
        return _span(self.file, m)

    # ---- words and statements
    def word(self, tok: Token) -> Word:
        span = self.sp(tok)
        text = str(tok)
        if "{" not in text:
            return Word(text, span, (text,))
        pieces: list = []
        pos = 0
        for m in _HOLE.finditer(text):
            if m.start() > pos:
                pieces.append(text[pos:m.start()])
            pieces.append(parse_expr(m.group(1), self.file, span.line, span.col + m.start(1)))
            pos = m.end()
        if pos < len(text):
            pieces.append(text[pos:])
        if "{" in "".join(p for p in pieces if isinstance(p, str)) or "}" in "".join(
                p for p in pieces if isinstance(p, str)):
            raise CnnError("unbalanced '{' in word", span)
        return Word(text, span, tuple(pieces))

    def start(self, meta, items):
        return tuple(i for i in items if i is not None)

    def body(self, meta, items):
        return tuple(i for i in items if i is not None)

    def stmt(self, meta, items):
        label, core = items
        if isinstance(core, tuple):  # a bare `< ... >` group
            core = Group(None, core, self.sp(meta))
        if label is None:
            return core
        lw = self.word(label)
        return type(core)(**{**core.__dict__, "label": lw, "span": Span(
            file=self.file, line=lw.span.line, col=lw.span.col,
            end_line=core.span.end_line, end_col=core.span.end_col)})

    def arg(self, meta, items):
        key, value = items
        if value is None:
            w = self.word(key)
            return Arg(None, w, w.span)
        return Arg(self.word(key), self.word(value), self.sp(meta))

    def layer(self, meta, items):
        head, *rest = items
        args, post, branches = [], [], None
        for it in rest:
            if isinstance(it, Arg):
                (post if branches is not None else args).append(it)
            elif isinstance(it, tuple):
                branches = it
        return Layer(None, self.word(head), tuple(args), branches, tuple(post), self.sp(meta))

    def group(self, meta, bodies):
        return tuple(bodies)

    def call(self, meta, items):
        name, *actuals = items
        return Call(None, self.word(name), tuple(a for a in actuals if a is not None), self.sp(meta))

    def positional(self, meta, items):
        return (None, items[0])

    def keyword(self, meta, items):
        return (str(items[0]), items[1])

    def repeat(self, meta, items):
        count, body = items
        return Repeat(None, self.word(count), body, self.sp(meta))

    # ---- header items
    def network(self, meta, items):
        return NetworkDecl(str(items[0]), self.sp(meta))

    def input(self, meta, items):
        return InputDecl(self.word(items[0]), self.sp(meta))

    def param(self, meta, items):
        return ParamDecl(str(items[0]), items[1], self.sp(meta))

    def use(self, meta, items):
        return UseDecl(str(items[0])[1:-1], self.sp(meta))

    def block(self, meta, items):
        name, *formals, body = items
        return BlockDecl(str(name), tuple(f for f in formals if f is not None), body, self.sp(meta))

    def formal(self, meta, items):
        return (str(items[0]), items[1])

    # ---- expressions
    def number(self, meta, items):
        text = str(items[0])
        value = float(text) if any(c in text for c in ".eE") else int(text)
        return E.Num(value, self.sp(meta))

    def var(self, meta, items):
        return E.Var(str(items[0]), self.sp(meta))

    def func(self, meta, items):
        name, *args = items
        return E.Func(str(name), tuple(a for a in args if a is not None), self.sp(meta))

    def neg(self, meta, items):
        return E.Neg(items[0], self.sp(meta))

    def pos(self, meta, items):
        return items[0]

    def _bin(op):  # noqa: N805 - a factory of methods
        def method(self, meta, items):
            return E.BinOp(op, items[0], items[1], self.sp(meta))
        return method

    add, sub, mul, div, floordiv, mod = _bin("+"), _bin("-"), _bin("*"), _bin("/"), _bin("//"), _bin("%")


# Token kinds as a user would call them, for syntax errors.
_TOKEN_NAMES = {
    "_SEP": "end of statement", "$END": "end of file", "WORD": "a word", "NAME": "a name",
    "NUMBER": "a number", "STRING": "a quoted string", "LESSTHAN": "'<'", "MORETHAN": "'>'",
    "VBAR": "'|'", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'",
    "COLON": "':'", "COMMA": "','", "EQUAL": "'='",
}


def _describe(tok_type: str) -> str:
    if tok_type in _TOKEN_NAMES:
        return _TOKEN_NAMES[tok_type]
    return f"'{tok_type.lower()}'" if tok_type.isupper() else tok_type


def _syntax_error(exc: UnexpectedInput, file: str, text: str, line_offset=0, col_offset=0) -> CnnError:
    line = (exc.line or 1) + line_offset
    col = (exc.column or 1) + col_offset if exc.line == 1 or not line_offset else (exc.column or 1)
    hint = None
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
        if ch == "*" and text[exc.pos_in_stream:exc.pos_in_stream + 2] == "**":
            hint = "'**' is not part of the expression language; write the product out"
        elif ch in "{}":
            hint = "expressions go in braces inside a word, like 3x3x{c}"
        span = Span(file=file, line=line, col=col, end_line=line, end_col=col + 1)
        return CnnError(msg, span, hint)
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        tok = getattr(exc, "token", None)
        expected = set(getattr(exc, "expected", ()) or ())
        if tok is None or tok.type == "$END":
            msg = "unexpected end of file"
            if "MORETHAN" in expected:
                hint = "a group opened with '<' is not closed with '>'"
            elif "RBRACE" in expected:
                hint = "a '{' body is not closed with '}'"
            elif "RPAR" in expected:
                hint = "a '(' is not closed with ')'"
            lines = text.split("\n")
            line = len(lines) + line_offset
            col = len(lines[-1]) + 1 + col_offset
            if not lines[-1] and len(lines) > 1:
                line, col = line - 1, len(lines[-2]) + 1
            span = Span(file=file, line=line, col=col, end_line=line, end_col=col + 1)
            return CnnError(msg, span, hint)
        shown = "end of line" if tok.type == "_SEP" else repr(str(tok))
        msg = f"unexpected {shown}"
        wants = sorted(_describe(t) for t in expected if not t.startswith("__"))
        if tok.type == "MORETHAN" and "MORETHAN" not in expected:
            hint = "this '>' closes no group"
        elif "MORETHAN" in expected and tok.type in ("RBRACE", "$END"):
            hint = "a group opened with '<' is not closed with '>'"
        elif tok.type == "COLON":
            hint = "a label is one word before the statement, like `stem: conv 3x3x64`"
        elif wants and len(wants) <= 6:
            hint = "expected " + ", ".join(wants)
        span = Span(file=file, line=tok.line + line_offset,
                    col=tok.column + (col_offset if line_offset or col_offset else 0),
                    end_line=tok.line + line_offset,
                    end_col=(tok.end_column or tok.column + 1) + (col_offset if line_offset or col_offset else 0))
        return CnnError(msg, span, hint)
    return CnnError(str(exc).splitlines()[0], Span(file=file, line=line, col=col, end_line=line, end_col=col + 1))


def parse_expr(text: str, file: str = "<string>", line: int = 1, col: int = 1) -> E.Expr:
    """Parse one expression; positions are reported as if it began at (line, col)."""
    try:
        tree = _parser().parse(text, start="expr")
    except UnexpectedInput as exc:
        raise _syntax_error(exc, file, text, line - 1, col - 1) from None
    try:
        return _ToAst(file, line - 1, col - 1).transform(tree)
    except VisitError as exc:
        raise exc.orig_exc from None


def _check_limits(text: str, file: str) -> None:
    if len(text) > MAX_FILE_BYTES:
        raise CnnError(f"file too large ({len(text):,} characters)", Span(
            file=file, line=1, col=1, end_line=1, end_col=2), f"the limit is {MAX_FILE_BYTES:,}")
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        col = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise CnnError("file contains a NUL byte; is it a binary file?", Span(
            file=file, line=line, col=col, end_line=line, end_col=col + 1))
    depth = 0
    for m in re.finditer(r'#[^\n]*|"[^"\n]*"|\{[^{}\n]*\}|[<>{}]', text):
        c = m.group()
        if c in "<{":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, m.start()) + 1
                col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
                raise CnnError(f"groups nested more than {MAX_NESTING} deep", Span(
                    file=file, line=line, col=col, end_line=line, end_col=col + 1),
                    "flatten the structure or use `repeat`")
        elif c in ">}":
            depth -= 1


def parse_program(text: str, file: str = "<string>") -> Program:
    """Parse a whole `.cnn` text into a `Program`.

    Raises:
        CnnError: a syntax error, positioned, with a hint where one helps.
    """
    remember(file, text)
    _check_limits(text, file)
    comments: list[Comment] = []
    for m in re.finditer(r'"[^"\n]*"|\{[^{}\n]*\}|(#[^\n]*)', text):
        if m.group(1):
            line = text.count("\n", 0, m.start()) + 1
            col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
            comments.append(Comment(line, col, m.group(1).rstrip()))
    try:
        tree = _parser().parse(text, start="start")
    except UnexpectedInput as exc:
        raise _syntax_error(exc, file, text) from None
    try:
        items = _ToAst(file).transform(tree)
    except VisitError as exc:
        raise exc.orig_exc from None
    return Program(file, items, tuple(comments))
