"""Text -> AST. The Lark LALR tables are built once and shared; each parse has its own
transformer, which turns tokens into small, frozen, positioned AST nodes as the parser reduces
(so parsing is re-entrant: threads may parse at once). Nothing here knows any layer: layer
keywords are plain words, looked up later by elaboration.
"""

from __future__ import annotations


import functools
import re
import threading
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Union

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_parser import _Parser as LalrParser

from cnndsl import expr as E
from cnndsl.errors import CnnError
from cnndsl.source import Span, data_path, join, point, position

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NESTING = 100
MAX_STATEMENTS = 50_000  # statements written in one file (parsing takes ~40 us each); `repeat` makes more
MAX_WORD = 1000  # characters in one word (`3x3x{c * 2}`, a label)
MAX_WORDS = 200_000  # words in one file


# ---------------------------------------------------------------- AST


@dataclass(frozen=True)
class Word:
    """A bare word such as `3x3x64`, `s{s}` or `relu`; `pieces` are its text and `{expr}` holes."""

    text: str
    span: Span
    pieces: tuple[Union[str, E.Expr], ...]
    quoted: bool = False  # a quoted label, `"block1-0":`: any module name (docs/naming.md)


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
    title: Word | None = None  # `"Entry flow" < ... >`: display-only, no module of its own


@dataclass(frozen=True)
class Call:
    label: Word | None
    name: Word
    args: tuple[tuple[str | None, E.Expr], ...]
    span: Span


@dataclass(frozen=True)
class Repeat:
    """`repeat N { ... }`, or `repeat N as i { ... }` whose body sees `i` = 0 .. N - 1. N is an
    expression (`repeat n * 2`: `count` is a word of its canonical text) or a hole (`repeat {n}`)."""

    label: Word | None
    count: Word
    body: tuple["Stmt", ...]
    span: Span
    index: Word | None = None


Stmt = Union[Layer, Group, Call, Repeat]


@dataclass(frozen=True)
class NetworkDecl:
    name: str
    span: Span
    title: str | None = None


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
    title: Word | None = None  # `block bottleneck(c) "Bottleneck"`: its name in figures; may hold {holes}


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
    text: str = field(default="", compare=False, repr=False)  # the source, for errors to quote


# ---------------------------------------------------------------- parser
#
# The transformer runs inline in the LALR parser (no parse tree is built) and takes positions
# from tokens: structural keywords and closing brackets are named terminals so they are kept.
# The Lark object (grammar, tables, lexer) is shared; each parse has its own transformer, which
# knows the file and the offset of an `{expr}` hole, so parses in several threads never mix.


_HOLE = re.compile(r"\{([^{}\n]*)\}")
_ARG = re.compile(r"((?:[A-Za-z0-9_.+\-]|\{[^{}\n]*\})+)(?:[ \t]*=[ \t]*((?:[A-Za-z0-9_.+\-]|\{[^{}\n]*\})+))?")


def _depth(span: Span, *children) -> int:
    """The depth of a new expression node over `children`; an error past `E.MAX_DEPTH` (evaluating,
    formatting and comparing expressions recurse, so a 100,000-term sum must not reach them)."""
    depth = 1 + max((getattr(c, "depth", 1) for c in children), default=1)
    if depth > E.MAX_DEPTH:
        raise CnnError(f"expression nested more than {E.MAX_DEPTH} deep", span, "split it with `param` lines")
    return depth


def _bin(op):
    def method(self, items):
        left, right = items
        span = join(left.span, right.span)
        return E.BinOp(op, left, right, span, _depth(span, left, right))
    return method


class _ToAst(Transformer):
    """One parse of one file. Method names are the grammar's rules; helpers start with `_`."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self.dl = self.dc = 0  # where an `{expr}` hole being parsed begins: its positions are shifted
        self._lalr = None

    def _run(self, text: str, start: str):
        lark = _lark()
        if self._lalr is None:  # the parse table is shared; the callbacks are this instance's methods
            self._lalr = LalrParser(lark.parser.parser.parser.parse_table,
                                    lark._parse_tree_builder.create_callback(self))
        return self._lalr.parse(lark.parser._make_lexer_thread(text), start)

    def _program(self, text: str) -> tuple:
        try:
            return self._run(text, "start")
        except UnexpectedInput as exc:
            raise _syntax_error(exc, self.file, text) from None

    def _expr(self, text: str, line: int, col: int) -> E.Expr:
        """Parse one expression, positioned as if it began at (line, col) of this file."""
        saved = self.dl, self.dc
        self.dl, self.dc = line - 1, col - 1
        try:
            return self._run(text, "expr")
        except UnexpectedInput as exc:
            raise _syntax_error(exc, self.file, text, line - 1, col - 1) from None
        finally:
            self.dl, self.dc = saved

    def _span(self, t: Token) -> Span:
        if self.dl or self.dc:
            dc = self.dc if t.line == 1 else 0
            return Span(self.file, t.line + self.dl, t.column + dc, t.end_line + self.dl, t.end_column + dc)
        return Span(self.file, t.line, t.column, t.end_line, t.end_column)

    def _word(self, tok: Token) -> Word:
        span = self._span(tok)
        text = str(tok)
        if len(text) > MAX_WORD:  # later stages (numbers, did-you-mean) must never see megabyte words
            raise CnnError(f"word too long ({len(text):,} characters)", span, f"the limit is {MAX_WORD}")
        if "{" not in text:
            return Word(text, span, (text,))
        pieces: list = []
        pos = 0
        for m in _HOLE.finditer(text):
            if m.start() > pos:
                pieces.append(text[pos:m.start()])
            pieces.append(self._expr(m.group(1), span.line, span.col + m.start(1)))
            pos = m.end()
        if pos < len(text):
            pieces.append(text[pos:])
        return Word(text, span, tuple(pieces))

    def _args(self, tok: Token) -> tuple[Arg, ...]:
        """Split an ARGS token (`  3x3x64 s2 r=16`) into positioned arguments."""
        text, line, col = str(tok), tok.line, tok.column
        out = []
        for m in _ARG.finditer(text):
            first = self._word(Token("WORD", m.group(1), None, line, col + m.start(1), line, col + m.end(1)))
            if m.group(2) is None:
                out.append(Arg(None, first, first.span))
            else:
                value = self._word(Token("WORD", m.group(2), None, line, col + m.start(2), line, col + m.end(2)))
                out.append(Arg(first, value, join(first.span, value.span)))
        return tuple(out)

    def _string(self, tok: Token) -> Word:
        """The text between a STRING's quotes as a word (its holes positioned inside the quotes)."""
        inner = Token("WORD", str(tok)[1:-1], None, tok.line, tok.column + 1, tok.end_line, tok.end_column - 1)
        return replace(self._word(inner), span=self._span(tok), quoted=True)

    def _label(self, stmt, label: Token):
        if label.type == "STRING":  # `"block1-0":` the text between the quotes, positioned inside them
            lw = self._string(label)
        else:
            lw = self._word(label)
        return type(stmt)(**{**stmt.__dict__, "label": lw, "span": join(lw.span, stmt.span)})

    # ---- the grammar's rules
    def start(self, items):
        return tuple(i for i in items if i is not None)

    body = start

    def stmt(self, items):
        label, core = items
        if isinstance(core, tuple):  # a bare `< ... >` group
            core = Group(None, core[0], core[1])
        return core if label is None else self._label(core, label)

    def layer(self, items):
        head, args, group, post = items
        head_span = self._span(head)
        end = head_span
        args = self._args(args) if args is not None else ()
        if args:
            end = args[-1].span
        branches = None
        if group is not None:
            branches, end = group
        post = self._args(post) if post is not None else ()
        if post:
            end = post[-1].span
        return Layer(None, self._word(head), args, branches, post, join(head_span, end))

    def group(self, items):
        lt, *bodies, gt = items
        return tuple(bodies), join(self._span(lt), self._span(gt))

    def titled(self, items):
        title, (bodies, span) = items
        return Group(None, bodies, join(self._span(title), span), self._string(title))

    def call(self, items):
        name, *actuals, rpar = items
        return Call(None, self._word(name), tuple(a for a in actuals if a is not None),
                    join(self._span(name), self._span(rpar)))

    def positional(self, items):
        return (None, items[0])

    def keyword(self, items):
        return (str(items[0]), items[1])

    def repeat(self, items):
        kw, count, _as, index, body, rbrace = items
        if isinstance(count, Token):  # `repeat {n}`
            count = self._word(count)
        else:  # `repeat n * 2`, written back in its canonical form
            count = Word(E.unparse(count), count.span, (count,))
        return Repeat(None, count, body, join(self._span(kw), self._span(rbrace)),
                      None if index is None else Word(str(index), self._span(index), (str(index),)))

    def network(self, items):
        kw, name, title = items
        end = title if title is not None else name
        return NetworkDecl(str(name), join(self._span(kw), self._span(end)),
                           str(title)[1:-1] if title is not None else None)

    def input(self, items):
        return InputDecl(self._word(items[1]), join(self._span(items[0]), self._span(items[1])))

    def param(self, items):
        return ParamDecl(str(items[1]), items[2], join(self._span(items[0]), items[2].span))

    def use(self, items):
        return UseDecl(str(items[1])[1:-1], join(self._span(items[0]), self._span(items[1])))

    def block(self, items):
        kw, name, *formals, title, body, rbrace = items
        return BlockDecl(str(name), tuple(f for f in formals if f is not None), body,
                         join(self._span(kw), self._span(rbrace)), None if title is None else self._string(title))

    def formal(self, items):
        return (str(items[0]), items[1])

    def number(self, items):
        text = str(items[0])
        if len(text) > E.MAX_DIGITS:  # int() of thousands of digits is slow, and past 4300 a ValueError
            raise CnnError(f"number too large ({len(text)} characters)", self._span(items[0]),
                           f"values must stay below {E.LIMIT:,}")
        value = float(text) if any(c in text for c in ".eE") else int(text)
        return E.Num(value, self._span(items[0]))

    def var(self, items):
        return E.Var(str(items[0]), self._span(items[0]))

    def func(self, items):
        name, *args, rpar = items
        args = tuple(a for a in args if a is not None)
        span = join(self._span(name), self._span(rpar))
        return E.Func(str(name), args, span, _depth(span, *args))

    def neg(self, items):
        span = join(self._span(items[0]), items[1].span)
        return E.Neg(items[1], span, _depth(span, items[1]))

    def pos(self, items):
        return items[0]

    add, sub, mul, div, floordiv, mod = _bin("+"), _bin("-"), _bin("*"), _bin("/"), _bin("//"), _bin("%")


def _cache_file(grammar: str) -> str | bool:
    """Lark's analysis of the grammar, cached on disk (2-3x faster start); off if not writable."""
    import hashlib
    import tempfile

    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"cnndsl-grammar-{digest}.lark-cache"
    try:
        path.touch(exist_ok=True)
    except OSError:
        return False
    return str(path)


_LARK_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    """The grammar, its LALR tables and its lexer, built once (under a lock: two threads starting
    at once must not both write the cache file). Its own tree-building callbacks are not used."""
    with _LARK_LOCK:
        grammar = data_path("grammars", "cnn.lark").read_text(encoding="utf-8")
        return Lark(grammar, parser="lalr", lexer="contextual", start=["start", "expr"],
                    maybe_placeholders=True, cache=_cache_file(grammar))


# Token kinds as a user would call them, for syntax errors.
_TOKEN_NAMES = {
    "_SEP": "end of statement", "$END": "end of file", "WORD": "a word", "NAME": "a name",
    "NUMBER": "a number", "STRING": "a quoted string", "LT": "'<'", "GT": "'>'",
    "VBAR": "'|'", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "ARGS": "arguments",
    "HOLE": "a {expression}", "COLON": "':'", "COMMA": "','", "EQUAL": "'='",
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
            opened = _unclosed(text)
            if opened is not None and not line_offset and not col_offset:
                ch, pos = opened
                close = {"<": ">", "{": "}", "(": ")"}[ch]
                return CnnError(f"'{ch}' is never closed", point(file, text, pos), f"close it with '{close}'")
            lines = text.split("\n")
            line = len(lines) + line_offset
            col = len(lines[-1]) + 1 + col_offset
            if not lines[-1] and len(lines) > 1:
                line, col = line - 1, len(lines[-2]) + 1
            span = Span(file=file, line=line, col=col, end_line=line, end_col=col + 1)
            return CnnError("unexpected end of file", span, "the statement is not finished")
        if tok.type == "ARGS":  # several words lexed as one: blame the first
            m = _ARG.search(str(tok))
            tok = Token("WORD", m.group(0), tok.start_pos, tok.line, tok.column + m.start(), tok.line,
                        tok.column + m.end())
        shown = "end of line" if tok.type == "_SEP" else repr(str(tok))
        msg = f"unexpected {shown}"
        wants = sorted(_describe(t) for t in expected if not t.startswith("__"))
        if tok.type in ("GT", "VBAR") and _unclosed(text[:exc.pos_in_stream]) is None:
            hint = f"this '{tok}' is outside any < ... > group"
        elif tok.type == "RBRACE" and _unclosed(text[:exc.pos_in_stream]) is None:
            hint = "this '}' closes nothing"
        elif str(tok) == "*" and text[max(0, exc.pos_in_stream - 1):exc.pos_in_stream + 1] == "**":
            hint = "'**' is not part of the expression language; write the product out"
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


_BRACKETS = re.compile(r'#[^\n]*|"[^"\n]*"|[<>(){}]')
_REPEAT_HEAD = re.compile(r"(^|\s)repeat\s+(\{[^{}\n]*\}|[^{}<>;\n]+?)(\s+as\s+[A-Za-z_]\w*)?$")  # its `{` opens a body


def _unclosed(text: str) -> tuple[str, int] | None:
    """The innermost bracket still open at the end of `text`, as (char, offset), skipping
    comments, strings and `{expr}` holes inside words."""
    stack: list[tuple[str, int]] = []
    pairs = {">": "<", ")": "(", "}": "{"}
    skip = -1
    for m in _BRACKETS.finditer(text):
        c, pos = m.group(), m.start()
        if c[0] in '#"' or pos <= skip:
            continue
        if c == "{":
            before = text[:pos].rstrip(" \t")
            if not (before.endswith(")") or _REPEAT_HEAD.search(before)):
                end = text.find("}", pos)  # a hole in a word: skip to its end
                if end != -1 and "\n" not in text[pos:end]:
                    skip = end
                    continue
            stack.append((c, pos))
        elif c in "<(":
            stack.append((c, pos))
        elif stack and stack[-1][0] == pairs[c]:
            stack.pop()
    return stack[-1] if stack else None


def parse_expr(text: str, file: str = "<string>", line: int = 1, col: int = 1) -> E.Expr:
    """Parse one expression; positions are reported as if it began at (line, col)."""
    return _ToAst(file)._expr(text, line, col)


def _check_limits(text: str, file: str) -> None:
    if len(text) > MAX_FILE_BYTES:
        raise CnnError(f"file too large ({len(text):,} characters)", Span(
            file=file, line=1, col=1, end_line=1, end_col=2), f"the limit is {MAX_FILE_BYTES:,}")
    nul = text.find("\x00")
    if nul >= 0:
        raise CnnError("file contains a NUL byte; is it a binary file?", point(file, text, nul))
    # a statement starts a line or follows ';' (an upper bound: a ';' in a comment counts too); checked
    # before parsing, so a giant file is refused in milliseconds instead of parsed for seconds
    if text.count(";") + text.count("\n") >= MAX_STATEMENTS:
        for i, m in enumerate(re.finditer(r"^[ \t]*[^\s#]|;", text, re.M)):
            if i == MAX_STATEMENTS:
                raise CnnError(f"the file has more than {MAX_STATEMENTS:,} statements", point(file, text, m.start()),
                               "use `repeat` or blocks for repeated structure")
    if len(text) > 2 * MAX_WORDS:  # parsing costs time and memory per word: a cheap count first
        words = sum(1 for m in re.finditer(r"[^\s;<>|(),=#]+|#[^\n]*", text) if m.group()[0] != "#")
        if words > MAX_WORDS:
            raise CnnError(f"the file has more than {MAX_WORDS:,} words ({words:,})", Span(
                file=file, line=1, col=1, end_line=1, end_col=2), "use `repeat` or blocks for repeated structure")
    if len(text) > MAX_WORD:  # the lexer's regex needs memory in proportion to a word: refuse long ones first
        for m in re.finditer(r'[^\s;<>|(),:="#]{%d,}|#[^\n]*' % (MAX_WORD + 1), text):
            if m.group()[0] != "#":
                raise CnnError(f"word too long ({len(m.group()):,} characters)", point(file, text, m.start()),
                               f"the limit is {MAX_WORD}")
    depth = 0
    for m in re.finditer(r'#[^\n]*|"[^"\n]*"|\{[^{}\n]*\}|[<>{}]', text):
        c = m.group()
        if c in "<{":
            depth += 1
            if depth > MAX_NESTING:
                raise CnnError(f"groups nested more than {MAX_NESTING} deep", point(file, text, m.start()),
                               "flatten the structure or use `repeat`")
        elif c in ">}":
            depth -= 1


def parse_program(text: str, file: str = "<string>") -> Program:
    """Parse a whole `.cnn` text into a `Program`.

    Raises:
        CnnError: a syntax error, positioned, with a hint where one helps.
    """
    try:
        return _parse_program(text, file)
    except CnnError as err:
        err.quote({file: text})
        raise


def _parse_program(text: str, file: str) -> Program:
    _check_limits(text, file)
    comments: list[Comment] = []
    known = (1, 0)  # the line of an offset already passed: linear in the text, not quadratic
    for m in re.finditer(r'"[^"\n]*"|\{[^{}\n]*\}|(#[^\n]*)', text):
        if m.group(1):
            line, col = position(text, m.start(), known)
            known = (line, m.start())
            comments.append(Comment(line, col, m.group(1).rstrip()))
    items = _ToAst(file)._program(text)
    return Program(file, items or (), tuple(comments), text)
