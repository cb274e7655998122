"""AST -> IR: params, block calls, `repeat` and `use` are expanded here, every value is
evaluated (by `cnndsl.expr`, never by Python) and checked, and every node gets its module name.

Naming, as the PyTorch backend builds modules (so `state_dict` keys are predictable):
- a labeled statement is named by its label; an unlabeled one by its position in its sequence,
  like `nn.Sequential`, parameterless layers included;
- `repeat N { ... }` splices its copies into the enclosing numbering; a labeled repeat is a
  sequence of its own (`layer1: repeat 3 { ... }` gives `layer1.0`, `layer1.1`, `layer1.2`);
- a label may hold `{expr}` holes, filled like any word: `repeat 8 as i { block{i + 4}: ... }`
  names `block4` ... `block11` (the index `i` counts 0 .. N - 1; it may not reuse the name of a
  param, a block argument or an enclosing index, which it would hide);
- a block call is a sequence of its body, except that a body of exactly one unlabeled statement
  *is* that statement (so `layer1.0.conv1` reaches into a `residual` made by a block);
- inside `residual`, `add` and `concat` the statements of all branches share one numbering;
- the label `_` gives a group or combinator no module of its own: its children join the
  enclosing scope (Inception v3's nested concatenations).
"""

from __future__ import annotations

import functools
import keyword as pykeyword
import re
from dataclasses import dataclass, field
from pathlib import Path

from cnndsl import syntax as S
from cnndsl.errors import CnnError, did_you_mean
from cnndsl.expr import Number, evaluate, format_number, free_names, unparse
from cnndsl.ir import BlockCall, Formal, Network, Node, Opt, parse_dims, whole
from cnndsl.record import checked
from cnndsl.layers import REGISTRY
from cnndsl.layers.blocks import Group, Repeat
from cnndsl.source import Memo, Span, gc_paused, point, shipped

MAX_NODES = 200_000
MAX_REPEAT = 100_000
MAX_CALL_DEPTH = 64
MAX_FILES = 64

# attributes of torch.nn.Module: a child module may not take one of these names
RESERVED = frozenset("""T_destination add_module apply bfloat16 buffers call_super_init children compile cpu
cuda double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half
ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
register_backward_hook register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
set_submodule share_memory state_dict to to_empty train training type xpu zero_grad""".split())
# keyword arguments of cnndsl.parse, parse_file and load beside the params: a param may not shadow them
RESERVED_PARAMS = frozenset({"filename", "allow_outside", "outputs", "weights", "max_params", "max_activations"})
LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
QUOTED = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")  # a quoted label: any PyTorch-style module name


@dataclass
class Scope:
    """One module's namespace: positions count every statement; labels must be unique. A quoted
    number (`"2": bn`) names the statement's position itself: the count goes on from it."""

    pos: int = 0
    names: dict[str, Span] = field(default_factory=dict)

    def take(self, label: S.Word | None) -> str:
        name = label.text if label else str(self.pos)
        if label is not None and label.quoted and name.isdigit():
            if int(name) < self.pos:
                raise CnnError(f"the position \"{name}\" comes after position {self.pos - 1}", label.span,
                               f"positions count up: this statement is at {self.pos} or later")
            self.pos = int(name)
        self.pos += 1
        span = label.span if label else None
        if name in self.names:
            raise CnnError(f"the name '{name}' is used twice in one sequence", span or self.names[name],
                           f"first used at {self.names[name]}")
        self.names[name] = span or Span(file="", line=0, col=0, end_line=0, end_col=0)
        return name


@dataclass
class BlockDef:
    decl: S.BlockDecl
    file: str
    _formals: tuple[Formal, ...] | None = None

    def signature(self) -> str:
        return checked(BlockCall, block=self.decl.name, formals=self.formals(), span=self.decl.span).signature()

    def formals(self) -> tuple[Formal, ...]:
        """The formals as IR data: each default's text, and its value when it is a constant."""
        if self._formals is None:
            out = []
            for n, d in self.decl.formals:
                value = None
                if d is not None and not free_names(d):
                    value = evaluate(d, {})
                out.append(checked(Formal, name=n, default=None if d is None else unparse(d), value=value))
            self._formals = tuple(out)
        return self._formals


def check_label(label: S.Word, written: str | None = None) -> None:
    """Raise a positioned error unless `label` is a usable module name; `written` is the label's
    source text when it held `{expr}` holes (`label.text` is then the filled-in name)."""
    t = label.text
    if t == "_" and not label.quoted:
        return
    if label.quoted:
        if not QUOTED.match(t):
            raise CnnError(f"'{t}' is not a valid label" + (f" (the label {written})" if written else ""),
                           label.span, "a quoted label holds letters, digits, '_' and '-', and starts with a "
                                       "letter, a digit or '_'")
    elif not LABEL.match(t) or pykeyword.iskeyword(t):
        raise CnnError(f"'{t}' is not a valid label" + (f" (the label {written})" if written else ""), label.span,
                       "a label starts with a letter and holds letters, digits and '_'; quote it for any other "
                       "module name, like \"block1-0\":")
    if t in RESERVED:
        raise CnnError(f"'{t}' is reserved (it is an attribute of torch.nn.Module)", label.span,
                       f"choose another name, like '{t}_'")
    if t == "input":  # only quoted: unquoted, `input` is the input line's keyword
        raise CnnError("'input' is reserved: `from input` and `upsample to input` read the network's input",
                       label.span, "choose another name, like 'input_'")


def check_indices(stmts, visible: dict[str, str]) -> None:
    """Refuse a `repeat ... as NAME` whose NAME would hide a visible name (`visible`: name -> what
    it is, e.g. "the param 'w'"). Lexical: a block's body sees the params and its arguments."""
    for s in stmts:
        if isinstance(s, S.Repeat):
            if s.index is not None:
                name = s.index.text
                if name in visible:
                    raise CnnError(f"the repeat index '{name}' would hide {visible[name]}", s.index.span,
                                   "choose another name for the index")
                check_indices(s.body, {**visible, name: f"the index '{name}' of an enclosing repeat"})
            else:
                check_indices(s.body, visible)
        elif isinstance(s, (S.Layer, S.Group)) and s.branches:
            for b in s.branches:
                check_indices(b, visible)


class Elaborator:
    def __init__(self, program: S.Program, overrides: dict[str, object], *, allow_outside: bool = False):
        self.program = program
        self.overrides = dict(overrides)
        self.allow_outside = allow_outside
        self.blocks: dict[str, BlockDef] = {}
        self.nodes = 0
        self.files: list[str] = []
        self.call_stack: list[str] = []
        self.texts = {program.file: program.text}  # of every file parsed for this program, for errors
        self.conditional = 0  # `residual if_same` nodes made: `elaborate` then resolves them by shape

    # ------------------------------------------------------------ entry
    def network(self) -> Network:
        try:
            return self._network()
        except CnnError as err:
            err.quote(self.texts)
            raise

    def _network(self) -> Network:
        p = self.program
        top = Span(file=p.file, line=1, col=1, end_line=1, end_col=2)
        name, title, input_decl, stmts = None, None, None, []
        params: dict[str, Number] = {}
        declared: dict[str, S.ParamDecl] = {}
        self.load_uses(p, [self._resolved(p.file)])
        for item in p.items:
            if isinstance(item, S.NetworkDecl):
                if name is not None:
                    raise CnnError("the network is named twice", item.span)
                name, title = item.name, item.title
            elif isinstance(item, S.InputDecl):
                if input_decl is not None:
                    raise CnnError("'input' given twice", item.span)
                input_decl = item
            elif isinstance(item, S.ParamDecl):
                self.param(item, params, declared)
            elif isinstance(item, S.BlockDecl):
                self.add_block(item, p.file)
            elif isinstance(item, S.UseDecl):
                pass
            else:
                stmts.append(item)
        unknown = [k for k in self.overrides if k not in declared]
        if unknown:
            k = unknown[0]
            known = f"the params are {', '.join(declared)}" if declared else "the program declares no params"
            raise CnnError(f"{k}={self.overrides[k]}: no param '{k}'; {known}", None, did_you_mean(k, declared),
                           param=k)
        if input_decl is None:
            raise CnnError("the program has no 'input' line", top, "add one like `input 224x224x3` (H x W x C)")
        dims = self.word(input_decl.dims, params)
        nums = parse_dims(dims) if Opt.DIMS.match(dims) else None
        if not nums or len(nums) not in (1, 3):
            raise CnnError(f"input must be H x W x C (like 224x224x3), got '{dims}'", input_decl.dims.span)
        shape = tuple(whole(n, "input size", input_decl.dims.span) for n in nums)
        visible = {n: f"the param '{n}'" for n in declared}
        check_indices(stmts, visible)
        for b in self.blocks.values():
            args = {n: f"the argument '{n}' of block '{b.decl.name}'" for n, _ in b.decl.formals}
            check_indices(b.decl.body, {**visible, **args})
        body = self.stmts(stmts, params, Scope())
        return checked(Network, name=name or Path(p.file).stem.replace("-", "_") or "network", title=title,
                       input=shape, params=params, body=tuple(body), span=top)

    def param(self, item: S.ParamDecl, params: dict[str, Number], declared: dict[str, S.ParamDecl]) -> None:
        """Declare the param `item`: its value (the override, else its expression over the params
        before it) into `params`."""
        if item.name in RESERVED_PARAMS:
            raise CnnError(f"'{item.name}' is reserved and cannot be a param", item.span,
                           f"cnndsl.parse and cnndsl.load take a keyword argument '{item.name}'; "
                           "choose another name")
        if item.name in declared:
            raise CnnError(f"param '{item.name}' declared twice", item.span)
        declared[item.name] = item
        if item.name in self.overrides:
            params[item.name] = self.override_value(item.name)
        else:
            params[item.name] = evaluate(item.value, params)

    def override_value(self, name: str) -> Number:
        """The value given for the param `name`: a number, or a string holding a constant expression."""
        value = self.overrides[name]
        if isinstance(value, str):
            try:
                value = evaluate(S.parse_expr(value, "<--set>"), {})
            except CnnError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CnnError(f"{name}={self.overrides[name]}: param '{name}' must be a number", None,
                           "give a number or a constant expression, like 32 or 0.5 * 64", param=name)
        return value

    # ------------------------------------------------------------ use / blocks
    def _resolved(self, file: str) -> str:
        try:
            return str(Path(file).resolve())
        except (OSError, RuntimeError):
            return file

    def load_uses(self, program: S.Program, stack: list[str]) -> None:
        for item in program.items:
            if not isinstance(item, S.UseDecl):
                continue
            if program.file.startswith("<"):
                base = Path.cwd()
            else:
                base = Path(program.file).resolve().parent
            rel = Path(item.path)
            if not item.path:
                raise CnnError("empty path in 'use'", item.span)
            if rel.is_absolute() and not self.allow_outside:
                raise CnnError(f"'use' of an absolute path: {item.path}", item.span,
                               "use a path relative to this file (or allow it with --allow-outside)")
            target = (base / rel).resolve()
            if rel.suffix != ".cnn" or target.suffix != ".cnn":  # nor a link named .cnn to another file
                raise CnnError(f"'use' reads .cnn files only: {item.path}", item.span,
                               "a used file holds blocks, like `use \"blocks/resnet.cnn\"`")
            library = shipped().get(rel.stem) if rel.name == item.path and rel.suffix == ".cnn" else None
            if library is not None and not target.exists():  # `use "googlenet.cnn"`: a shipped network's blocks
                target = library = library.resolve()
            elif not self.allow_outside and not target.is_relative_to(base):
                raise CnnError(f"'use' reaches outside this file's folder: {item.path}", item.span,
                               "keep used files beside or below the program (or allow it with --allow-outside)")
            key = str(target)
            if key in stack:
                chain = " -> ".join(Path(s).name for s in [*stack[stack.index(key):], key])
                raise CnnError(f"import cycle: {chain}", item.span)
            if key in self.files:
                continue
            if len(self.files) >= MAX_FILES:
                raise CnnError(f"more than {MAX_FILES} files used", item.span)
            self.files.append(key)
            text = read_source(target, item.span)
            shown = str(Path(program.file).parent / rel) if not program.file.startswith("<") else item.path
            if target == library:  # its own `use` lines start beside it
                shown = str(target)
            used = _parsed(text, shown)
            self.texts[used.file] = text
            self.load_uses(used, [*stack, key])  # only its blocks are taken: a whole network's other lines are not
            for sub in used.items:
                if isinstance(sub, S.BlockDecl):
                    self.add_block(sub, used.file)

    def add_block(self, decl: S.BlockDecl, file: str) -> None:
        if decl.name in REGISTRY:
            raise CnnError(f"a block may not be named like the layer '{decl.name}'", decl.span)
        old = self.blocks.get(decl.name)
        if old is not None and old.decl is not decl:
            raise CnnError(f"block '{decl.name}' is defined twice", decl.span, f"first at {old.decl.span}")
        seen = set()
        for n, _ in decl.formals:
            if n in seen:
                raise CnnError(f"argument '{n}' appears twice", decl.span)
            seen.add(n)
        self.blocks[decl.name] = BlockDef(decl, file)

    # ------------------------------------------------------------ statements
    def word(self, w: S.Word, env: dict[str, Number]) -> str:
        if len(w.pieces) == 1 and isinstance(w.pieces[0], str):
            return w.pieces[0]
        return "".join(p if isinstance(p, str) else format_number(evaluate(p, env)) for p in w.pieces)

    def opts(self, args, env) -> list[Opt]:
        return [Opt(a.key.text if a.key else None, self.word(a.value, env), a.value.span if a.key is None else a.span)
                for a in args]

    def count(self, n: int, span: Span) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise CnnError(f"the program makes more than {MAX_NODES:,} layers", span,
                           "is a repeat count or a recursion larger than meant?")

    def stmts(self, stmts, env, scope: Scope) -> list[Node]:
        out: list[Node] = []
        for s in stmts:
            node = self.stmt(s, env, scope)
            out.append(node)
        return out

    def stmt(self, s: S.Stmt, env, scope: Scope, call: BlockCall | None = None, name: str | None = None) -> Node:
        label = s.label
        if label is not None:
            if len(label.pieces) > 1 or not isinstance(label.pieces[0], str):  # `block{i + 4}`
                label = S.Word(self.word(label, env), label.span, (), label.quoted)
                check_label(label, s.label.text)
            else:
                check_label(label)
        titled = isinstance(s, S.Group) and s.title is not None
        if titled and label is not None:
            raise CnnError('a titled group is display-only: it takes no label', label.span,
                           f'write `{label.text}: < ... >` for a module, or `"{s.title.text}" < ... >` for a title')
        inline = titled or label is not None and label.text == "_"
        unnamed = isinstance(s, S.Layer) and not getattr(REGISTRY.get(s.head.text), "named", True)
        if unnamed and label is not None:
            raise CnnError(f"'{s.head.text}' takes no label: it makes no module", label.span)
        if name is None and not inline and not unnamed and not (isinstance(s, S.Repeat) and label is None):
            name = scope.take(label)
        if isinstance(s, S.Layer):
            return self.layer(s, env, scope, name or "", call, inline)
        if isinstance(s, S.Group):
            if len(s.branches) != 1:
                raise CnnError(f"a group takes one branch, got {len(s.branches)}", s.span,
                               "did you mean `concat < ... | ... >` or `add < ... | ... >`?")
            inner = scope if inline else Scope()
            children = self.stmts(s.branches[0], env, inner)
            self.count(1, s.span)
            title = self.word(s.title, env) if titled else None
            return checked(Group, name="" if inline else name, span=s.span, call=call, children=tuple(children),
                           title=title)
        if isinstance(s, S.Call):
            return self.call(s, env, scope, name, inline)
        if isinstance(s, S.Repeat):
            n = whole(_number(self.word(s.count, env), s.count.span, "repeat count"), "repeat count",
                      s.count.span, minimum=0)
            if n > MAX_REPEAT:
                raise CnnError(f"repeat count {n:,} is over the limit of {MAX_REPEAT:,}", s.count.span)
            inner = scope if (label is None or inline) else Scope()
            copies = []
            for i in range(n):
                before = self.nodes
                local = env if s.index is None else {**env, s.index.text: i}
                copies.append(tuple(self.stmts(s.body, local, inner)))
                if i == 0 and (self.nodes - before) * n > MAX_NODES:  # refuse before expanding the rest
                    self.count((self.nodes - before) * n, s.span)
            node = checked(Repeat, span=s.span, count=n, copies=tuple(copies))
            if label is None or inline:
                return node
            return checked(Group, name=name, span=s.span, call=call, children=(node,))
        raise TypeError(s)  # pragma: no cover

    def layer(self, s: S.Layer, env, scope: Scope, name, call, inline) -> Node:
        kw = s.head.text
        cls = REGISTRY.get(kw)
        if cls is None:
            hint = did_you_mean(kw, [*REGISTRY, *self.blocks])
            if kw in self.blocks:
                hint = f"'{kw}' is a block: call it as {self.blocks[kw].signature()}"
            raise CnnError(f"unknown layer '{kw}'", s.head.span, hint)
        opts = self.opts(s.args, env)
        if s.branches is not None:
            if not cls.takes_branches:
                raise CnnError(f"'{kw}' takes no < ... > group", s.span)
            inner = scope if inline else Scope()
            branches = [tuple(self.stmts(b, env, inner)) for b in s.branches]
            fields = cls.decode_branches(kw, opts, branches, self.opts(s.post, env), s.span)
            if fields.get("tap") is not None and fields["tap"] not in scope.names:
                raise CnnError(f"'aux from {fields['tap']}': no earlier statement is labeled '{fields['tap']}'",
                               s.span, did_you_mean(fields["tap"], scope.names))
        else:
            if cls.takes_branches:
                raise CnnError(f"'{kw}' needs a < ... > group", s.head.span,
                               f"like `{kw} < conv 3x3x64 same | conv 1x1x64 >`" if kw != "residual" else
                               "like `residual < conv 3x3x64 same bn relu; conv 3x3x64 same bn >`")
            if inline:
                raise CnnError("the label '_' (no module of its own) is for groups and combinators", s.label.span)
            fields = decoded(cls, kw, opts, s.span)
        self.count(1, s.span)
        self.conditional += bool(fields.get("if_same"))
        return checked(cls, name="" if inline else name, span=s.span, call=call, **fields)

    def call(self, s: S.Call, env, scope: Scope, name, inline) -> Node:
        bname = s.name.text
        block = self.blocks.get(bname)
        if block is None:
            hint = did_you_mean(bname, self.blocks)
            if bname in REGISTRY:
                hint = f"'{bname}' is a layer; write it without parentheses"
            raise CnnError(f"unknown block '{bname}'", s.name.span, hint)
        sig = block.signature()
        formals = block.decl.formals
        bound: dict[str, Number] = {}
        given: list[str] = []
        positional = [e for k, e in s.args if k is None]
        if any(k is None for k, _ in s.args[len(positional):]):
            raise CnnError("positional argument after a keyword argument", s.span, f"the block is {sig}")
        if len(positional) > len(formals):
            raise CnnError(f"{bname}() takes {len(formals)} arguments, got {len(positional)}", s.span,
                           f"the block is {sig}")
        for (fname, _), e in zip(formals, positional):
            bound[fname] = evaluate(e, env)
            given.append(fname)
        for k, e in s.args[len(positional):]:
            if k not in dict(formals):
                raise CnnError(f"{bname}() has no argument '{k}'", s.span, f"the block is {sig}")
            if k in bound:
                raise CnnError(f"{bname}() got '{k}' twice", s.span, f"the block is {sig}")
            bound[k] = evaluate(e, env)
            given.append(k)
        local = dict(env)
        for fname, default in formals:
            if fname not in bound:
                if default is None:
                    raise CnnError(f"{bname}() is missing the argument '{fname}'", s.span, f"the block is {sig}")
                bound[fname] = evaluate(default, {**env, **bound})
        local.update(bound)
        if len(self.call_stack) >= MAX_CALL_DEPTH:
            chain = " -> ".join(self.call_stack[-4:])
            raise CnnError(f"block calls nested more than {MAX_CALL_DEPTH} deep ({chain} -> ...)", s.span,
                           "does a block call itself?")
        text = checked(BlockCall, block=bname, formals=block.formals(), args=tuple((f, bound[f]) for f, _ in formals),
                       given=tuple(given), keywords=len(given) - len(positional), span=s.span,
                       title=None if block.decl.title is None else self.word(block.decl.title, local))
        self.call_stack.append(bname)
        try:
            body = block.decl.body
            if len(body) == 1 and body[0].label is None and not isinstance(body[0], S.Repeat) and not inline:
                return self.stmt(body[0], local, Scope(), call=text, name=name)
            inner = scope if inline else Scope()
            children = self.stmts(body, local, inner)
            self.count(1, s.span)
            return checked(Group, name="" if inline else name, span=s.span, call=text, children=tuple(children))
        except CnnError as err:  # an error in the body: say which call got there
            if err.span is not None and err.span != s.span:
                err.notes.append((s.span, f"in the call '{text.text()}'"))
            raise
        finally:
            self.call_stack.pop()


_DECODED = Memo()  # (keyword, its arguments' keys and values) -> the node's fields


def decoded(cls: type[Node], kw: str, opts: list[Opt], span: Span) -> dict:
    """`cls.decode(kw, opts, span)`, remembered: a statement is met again and again with the same
    words (in a block body, a repeat, the next edit of the same program in the playground), and
    decoding is a pure function of them (the fields hold no position: `span` is for errors, which
    are not remembered). The fields are shared between nodes: never mutate them."""
    key = (kw, *[(o.key, o.value) for o in opts])
    fields = _DECODED.get(key)
    return _DECODED.keep(key, cls.decode(kw, opts, span)) if fields is None else fields


@functools.lru_cache(maxsize=64)
def _parsed(text: str, file: str) -> S.Program:
    """A used file's AST, parsed once per text (a warm process, the playground, re-elaborates a
    program on every edit; its `use`d files rarely change). The AST is immutable."""
    return S.parse_program(text, file)


def _number(text: str, span: Span, what: str):
    from cnndsl.ir import parse_number

    v = parse_number(text)
    if v is None:
        raise CnnError(f"{what} must be a number, got '{text}'", span)
    return v


def read_source(path: Path, span: Span | None = None) -> str:
    """A `.cnn` file's text, with clear errors for missing, binary, non-UTF-8 or huge files."""
    where = span or Span(file=str(path), line=1, col=1, end_line=1, end_col=2)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        hint = None
        if span is None and path.parent == Path("."):  # a name on the command line: a shipped one misspelt?
            names = shipped()
            guess = did_you_mean(path.name.removesuffix(".cnn"), names)
            hint = f"{guess + ' ' if guess else ''}(`cnndsl list` shows the {len(names)} shipped architectures)"
        raise CnnError(f"no such file: {path}", span, hint) from None
    except OSError as exc:
        raise CnnError(f"cannot read {path}: {exc.strerror}", span) from None
    if path.is_dir():
        raise CnnError(f"{path} is a folder, not a .cnn file", span)
    if size > S.MAX_FILE_BYTES:
        raise CnnError(f"file too large ({size:,} bytes; the limit is {S.MAX_FILE_BYTES:,})", where)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CnnError(f"cannot read {path}: {exc.strerror}", span) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CnnError("the file is not UTF-8 text", point(str(path), data, exc.start), "save it as UTF-8") from None


def declared_params(text: str, filename: str) -> dict[str, Number]:
    """The params' values as the program declares them, without overrides and without elaborating the
    rest (what the playground's sliders reset to). Raises CnnError where the text or a param is wrong."""
    program = S.parse_program(text, filename)
    elaborator, params, declared = Elaborator(program, {}), {}, {}
    for item in program.items:
        if isinstance(item, S.ParamDecl):
            elaborator.param(item, params, declared)
    return params


def parse_path(path: Path, overrides: dict[str, object], *, allow_outside: bool = False) -> Network:
    """`parse_text` of the file at `path` (its name in error positions, `use` relative to it)."""
    return parse_text(read_source(path), str(path), overrides, allow_outside=allow_outside)


def parse_text(text: str, filename: str, overrides: dict[str, object], *, allow_outside: bool = False) -> Network:
    """`cnndsl.parse` with the overrides as a dict, so that no param name (one that arrived in a
    web request, say) can be taken for one of `parse`'s own keyword arguments."""
    with gc_paused():  # the AST is acyclic: the cyclic collector would only rescan it
        program = S.parse_program(text, filename)
    return elaborate(program, overrides, allow_outside=allow_outside)


def elaborate(program: S.Program, overrides: dict[str, object] | None = None, *,
              allow_outside: bool = False) -> Network:
    """The IR of a parsed program, with `overrides` replacing param values. Each `residual if_same`
    is then decided by shape (`cnndsl.passes.resolve`), so no later stage sees the flag.

    Raises:
        CnnError: the program is not valid (positioned), or an override names no param or is
            not a number (with `param` set, and no position).
    """
    with gc_paused():  # the AST and IR are acyclic: the cyclic collector would only rescan them
        elaborator = Elaborator(program, overrides or {}, allow_outside=allow_outside)
        network = elaborator.network().keep_texts(elaborator.texts)
    if elaborator.conditional:
        from cnndsl.passes.resolve import resolve_residuals

        network = resolve_residuals(network)
    return network
