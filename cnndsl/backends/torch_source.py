"""IR -> standalone PyTorch source (`cnndsl compile`), from the same records as the in-memory module.

`cnndsl.passes.plan.decode` gives the module tree (`ScopeSpec`s of `Leaf` / `TorchCall` records
and plans); this module renders it: every module that runs more than a straight sequence becomes an
`nn.Module` class, a straight unlabeled sequence an `nn.Sequential`, a leaf its `nn.*` call.

One class per `block`: all modules a block's calls made that share one structure become one
class; the numbers that differ between the calls become constructor arguments, named after the
block's formal arguments where a number equals one (or a whole multiple or divisor of one),
`in_chs` / `out_chs` where it is the module's input / output channels. A block whose calls
differ in structure (ResNet's first bottleneck of a stage has a projection shortcut) gives one
class per structure (`Bottleneck`, `Bottleneck2`).

The text is laid out as `ruff format` (line length 88) would, so it passes `ruff format --check`.

Values and code are kept apart: the records hold plain values (a `str` there is a string, such
as an upsampling mode); `slotify` turns values into code (numbers written out, strings quoted);
after it, and in the `E` expressions built here, a `str` is code: a name checked against `IDENT`,
or a module name quoted by `quote`. Nothing else reaches the text.
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnndsl.backends.torch_module import camel
from cnndsl.errors import CnnError
from cnndsl.ir import Network, fmt_shape
from cnndsl.layers.modules import RUNTIME_CLASSES, Leaf, TorchCall
from cnndsl.passes.plan import Call, Decoded, Fetch, ScopeSpec, Step, decode

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # a module name: a label (quoted ones may hold '-') or a position
WIDTH = 88
RESERVED = frozenset({"torch", "nn", "F", "OrderedDict", "namedtuple", "self", "x", "aux", "Tensor"})


def ident(text: str) -> str:
    """`text` if it is a safe Python identifier, else a CnnError (never reaches the code)."""
    if not IDENT.match(text) or keyword.iskeyword(text):
        raise CnnError(f"cannot use '{text}' as a Python name in generated source")
    return text


def quote(text: str) -> str:
    """A double-quoted literal of a module name (letters, digits, '_' and '-' only)."""
    if not NAME.match(text):
        raise CnnError(f"cannot use '{text}' as a module name in generated source")
    return f'"{text}"'


def comment(text: str) -> str:
    return "# " + re.sub(r"[\x00-\x1f\x7f]", " ", text)


# ---------------------------------------------------------------------------------------------
# expressions, laid out as ruff format does


@dataclass
class Slot:
    """An int literal of a class body that may differ between the modules sharing the class."""

    index: int


@dataclass
class E:
    """A call `func(args, key=value)` (func None: a tuple)."""

    func: str | None
    args: list = field(default_factory=list)
    kwargs: list[tuple[str, Any]] = field(default_factory=list)


def flat(e, subst) -> str:
    if isinstance(e, Slot):
        return subst(e)
    if isinstance(e, str):
        return e
    if isinstance(e, E):
        items = [flat(a, subst) for a in e.args] + [f"{k}={flat(v, subst)}" for k, v in e.kwargs]
        if e.func is None:
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        return f"{e.func}({', '.join(items)})"
    raise TypeError(e)  # pragma: no cover


def layout(e, indent: int, prefix: str, suffix: str, subst) -> list[str]:
    """Lines of `prefix + e + suffix` at `indent`, split like ruff format when too long."""
    pad = " " * indent
    one = pad + prefix + flat(e, subst) + suffix
    if len(one) <= WIDTH or not isinstance(e, E) or not (e.args or e.kwargs):
        return [one]
    items = [("", a) for a in e.args] + [(f"{k}=", v) for k, v in e.kwargs]
    inner = ", ".join(p + flat(v, subst) for p, v in items)
    head = pad + prefix + (e.func or "") + "("
    if len(pad) + 4 + len(inner) <= WIDTH and not (e.func is None and len(items) == 1):
        return [head, pad + "    " + inner, pad + ")" + suffix]
    lines = [head]
    for p, v in items:
        lines += layout(v, indent + 4, p, ",", subst)
    return lines + [pad + ")" + suffix]


# ---------------------------------------------------------------------------------------------
# records -> expressions with raw values; ints become slots when a class is written


def raw_call(tc: TorchCall) -> E:
    func = ident(tc.cls) if tc.cls in RUNTIME_CLASSES else f"nn.{ident(tc.cls)}"
    return E(func, list(tc.args), [(ident(k), v) for k, v in tc.kwargs])


def leaf_expr(leaf: Leaf) -> E:
    if leaf.parameter is not None:
        return E("nn.Parameter", [E("torch.full", list(leaf.parameter))])
    if len(leaf.parts) == 1:
        return raw_call(leaf.parts[0][1])
    return E("nn.Sequential", [E("OrderedDict", [], [(ident(n), raw_call(tc)) for n, tc in leaf.parts])])


def slotify(v, slots: list):
    """The code of the value `v`, every int replaced by a `Slot` (its value appended to `slots`)
    and every string quoted."""
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        slots.append(v)
        return Slot(len(slots) - 1)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):  # a string value (`mode="nearest"`), never code
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, tuple):
        return E(None, [slotify(i, slots) for i in v])
    if isinstance(v, E):
        return E(v.func, [slotify(a, slots) for a in v.args], [(k, slotify(x, slots)) for k, x in v.kwargs])
    raise CnnError(f"cannot write the value {v!r} into generated source")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# forward bodies


class Forward:
    """The statements of one `forward`, from a scope's plan."""

    def __init__(self, extra: list[str] = ()):
        # the outer tensors the module takes after x: `skip`, `skip2`, ... (U-Net's `up1(x, skip)`)
        self.inputs = {label: "skip" if i == 0 else f"skip{i + 1}" for i, label in enumerate(extra)}
        self.lines: list[str] = []
        self.indent = 2
        self.depth = 0
        self.uses: set[str] = set()
        self.aux = False

    def emit(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    def var(self, label: str) -> str:
        """The variable holding the labeled tensor: a forward input, or a saved output."""
        return self.inputs.get(label) or saved(label)

    def ref(self, name: str) -> str:
        if IDENT.match(name) and not keyword.iskeyword(name):
            return f"self.{name}"
        return f"getattr(self, {quote(name)})"

    def sfx(self) -> str:
        return "" if self.depth == 0 else f"_{self.depth}"

    def seq(self, ops: list, src: str, dst: str) -> str:
        cur = src
        for op in ops:
            if isinstance(op, Fetch):  # `from LABEL`: the branch continues from a saved tensor
                cur = self.var(op.label)
            else:
                cur = self.call(op, cur, dst) if isinstance(op, Call) else FORMS[op.node.form](self, op, cur, dst)
        return cur

    def call(self, op: Call, cur: str, dst: str) -> str:
        if op.parameter:
            self.emit(f"{dst} = {cur} * {self.ref(op.name)}")
            return dst
        arg = f"torch.flatten({cur}, 1)" if op.flatten else cur
        arg = ", ".join([arg, *(self.var(a) for a in op.args)])
        if op.emits_aux:
            self.aux = True
            self.emit("if self.training:")
            self.emit(f"    {dst}, more = {self.ref(op.name)}({arg})")
            self.emit("    aux.extend(more)")
            self.emit("else:")
            self.emit(f"    {dst} = {self.ref(op.name)}({arg})")
        else:
            self.emit(f"{dst} = {self.ref(op.name)}({arg})")
        if op.save:
            self.emit(f"{saved(op.name)} = {dst}")
        return dst

    def act(self, act, var: str) -> None:
        if act is None:
            return
        fn, kwargs = act
        ns, _, name = fn.partition(".")
        self.uses.add(ns)
        extra = "".join(f", {ident(k)}={v!r}" for k, v in kwargs)
        self.emit(f"{var} = {ident(ns)}.{ident(name)}({var}{extra})")

    def residual_step(self, op: Step, cur: str, dst: str) -> str:
        idn = f"identity{self.sfx()}"
        self.emit(f"{idn} = {cur}")
        self.depth += 1
        y = self.seq(op.paths[0], idn, dst)
        s = idn if len(op.paths) == 1 else self.seq(op.paths[1], idn, f"shortcut{self.sfx()}")
        self.depth -= 1
        if op.inplace and y == dst:
            self.emit(f"{dst} += {s}")
        else:
            self.emit(f"{dst} = {y} + {s}")
        self.act(op.act, dst)
        return dst

    def join_step(self, op: Step, cur: str, dst: str) -> str:
        starts = [cur] * len(op.paths)
        if op.node.chunks:  # `split`: each branch on its own chunk of the channels
            starts = [f"c{i}{self.sfx()}" for i in range(len(op.paths))]
            self.emit(f"{', '.join(starts)} = {cur}.chunk({len(starts)}, 1)")
        self.depth += 1
        names = [self.seq(path, start, f"b{i}{self.sfx()}") for i, (path, start) in enumerate(zip(op.paths, starts))]
        self.depth -= 1
        template, sep = op.node.code
        self.emit(f"{dst} = {template.format(sep.join(names))}")
        self.act(op.act, dst)
        return dst

    def aux_step(self, op: Step, cur: str, dst: str) -> str:
        self.aux = True
        src = cur if op.node.tap is None else saved(op.node.tap)
        self.emit("if self.training:")
        self.indent += 1
        self.depth += 1
        head = self.seq(op.paths[0], src, f"head{self.sfx()}")
        self.depth -= 1
        self.emit(f"aux.append({head})")
        self.indent -= 1
        return cur


# a combinator's form (`cnndsl.layers.blocks.FORMS`) -> how its step is written; `sequence` and
# `repeat` have no step (their children's steps are spliced into the plan)
FORMS = {"residual": Forward.residual_step, "join": Forward.join_step, "aux": Forward.aux_step}


def saved(name: str) -> str:
    """The variable holding a saved output: `out_layer2`, `out_3`, `out_block1_x2d_0` (`block1-0`)."""
    if not NAME.match(name):
        raise CnnError(f"cannot use '{name}' as a module name in generated source")
    return f"out_{name.replace('-', '_x2d_')}"


# ---------------------------------------------------------------------------------------------
# classes


@dataclass
class Instance:
    """One module of the network that becomes an instance of a generated class."""

    spec: ScopeSpec
    family: str
    init: list  # (child name, raw expression)
    forward: Forward
    result: str
    skeleton: str
    cls: ClassDef | None = None
    args: list = field(default_factory=list)  # raw values of the class's parameters


@dataclass
class ClassDef:
    name: str
    instances: list[Instance]
    params: list[tuple[str, int | None]] = field(default_factory=list)  # (name, default)
    slot_text: list[str] = field(default_factory=list)


def height(spec: ScopeSpec) -> int:
    return 1 + max((height(c) for c in spec.children.values() if isinstance(c, ScopeSpec)), default=0)


class Emitter:
    def __init__(self, decoded: Decoded):
        self.d = decoded
        self.exprs: dict[int, Any] = {}  # id(spec) -> its constructor call (raw)
        self.classes: list[ClassDef] = []
        self.taken = set(RESERVED)
        self.counts: dict[str, int] = {}
        self.runtime: set[str] = set()
        self.root: Instance | None = None

    def specs(self, spec: ScopeSpec, out: list) -> list:
        for c in spec.children.values():
            if isinstance(c, ScopeSpec):
                self.specs(c, out)
        out.append(spec)
        return out

    def child(self, c) -> Any:
        if isinstance(c, Leaf):
            self.runtime.update(tc.cls for _, tc in c.parts if tc.cls in RUNTIME_CLASSES)
            return leaf_expr(c)
        return self.exprs[id(c)]

    def run(self) -> str:
        every = self.specs(self.d.root, [])
        levels: dict[int, list[ScopeSpec]] = {}
        for spec in every:
            levels.setdefault(height(spec), []).append(spec)
        for h in sorted(levels):
            groups: dict[tuple[str, str], list[Instance]] = {}
            for spec in levels[h]:
                init = [(n, self.child(c)) for n, c in spec.children.items()]
                if spec.node is not None and spec.node.call is None and _plain(spec):
                    self.exprs[id(spec)] = _sequential(init)
                    continue
                fwd = Forward(spec.extra)
                y = fwd.seq(spec.plan, "x", "x")
                fam = self.family(spec)
                skel = fam + "\n" + "\n".join(f"{n}={flat(slotify(e, []), lambda s: '#')}" for n, e in init)
                inst = Instance(spec, fam, init, fwd, y, skel + "\n" + "\n".join(fwd.lines) + "\n" + y)
                groups.setdefault((fam, inst.skeleton), []).append(inst)
            for (fam, _), group in groups.items():
                self.counts[fam] = self.counts.get(fam, 0) + 1
                name = fam if self.counts[fam] == 1 else f"{fam}{self.counts[fam]}"
                while name in self.taken:
                    name += "_"
                self.taken.add(name)
                cd = self.make_class(name, group)
                self.classes.append(cd)
                for inst in group:
                    self.exprs[id(inst.spec)] = self.constructor(cd, inst)
                    if inst.spec is self.d.root:
                        self.root = inst
        return self.render()

    def family(self, spec: ScopeSpec) -> str:
        node = spec.node
        if node is None:
            return camel(self.d.network.name)
        if node.call:
            return camel(node.call.block)
        if spec.name and not spec.name.isdigit():
            return camel(spec.name)
        return camel(node.kind)

    def constructor(self, cd: ClassDef, inst: Instance) -> E:
        args, kwargs = [], []
        for (p, default), v in zip(cd.params, inst.args):
            if default is None:
                args.append(v)
            elif v != default:
                kwargs.append((p, v))
        return E(cd.name, args, kwargs)

    def make_class(self, name: str, group: list[Instance]) -> ClassDef:
        """The class shared by `group`; numbers that differ between its modules become arguments."""
        cd = ClassDef(name, group)
        per = []
        for inst in group:
            slots: list[int] = []
            for _, e in inst.init:
                slotify(e, slots)
            per.append(slots)
        columns = [list(col) for col in zip(*per)]
        ins = [inst.spec.input[-1] for inst in group]
        outs = [inst.spec.output[-1] for inst in group]
        formals = block_values(group)
        params: dict[str, tuple[list, int | None]] = {}

        def use(pname: str, vals: list, default=None) -> str:
            params.setdefault(pname, (vals, default))
            return pname

        generic: list[str] = []
        for col in columns:
            if all(v == col[0] for v in col):
                cd.slot_text.append(str(col[0]))
                continue
            text = None
            for fname, fvals, fdefault in formals:
                if col == fvals:
                    text = use(fname, fvals, fdefault)
                elif all(f > 0 and v % f == 0 for v, f in zip(col, fvals)) and len(
                        {v // f for v, f in zip(col, fvals)}) == 1:
                    text = f"{use(fname, fvals, fdefault)} * {col[0] // fvals[0]}"
                elif all(v > 0 and f > 0 and f % v == 0 for v, f in zip(col, fvals)) and len(
                        {f // v for v, f in zip(col, fvals)}) == 1:
                    text = f"{use(fname, fvals, fdefault)} // {fvals[0] // col[0]}"
                if text:
                    break
            if text is None and col == ins:
                text = use("in_chs", ins)
            if text is None and col == outs:
                text = use("out_chs", outs)
            if text is None:
                text = next((p for p in generic if params[p][0] == col), None)
            if text is None:
                text = f"arg{len(generic) + 1}"
                generic.append(text)
                use(text, col)
            cd.slot_text.append(text)
        order = ["in_chs", *[f[0] for f in formals], "out_chs", *generic]
        plist = [(p, params[p][1]) for p in order if p in params]
        required = False  # defaults only on a tail of the list
        for i in range(len(plist) - 1, -1, -1):
            if plist[i][1] is None:
                required = True
            elif required:
                plist[i] = (plist[i][0], None)
        cd.params = plist
        for k, inst in enumerate(group):
            inst.cls = cd
            inst.args = [params[p][0][k] for p, _ in plist]
        return cd

    # ---- text
    def render(self) -> str:
        bodies = [self.class_text(cd) for cd in self.classes]
        uses_f = any("F" in inst.forward.uses for cd in self.classes for inst in cd.instances[:1])
        ordered = any("OrderedDict(" in t for t in bodies)
        outputs = bool(self.d.aux_fields and not self.d.features)
        std = [n for n, on in (("OrderedDict", ordered), ("namedtuple", outputs)) if on]
        parts = [self.header()]
        if std:
            parts.append(f"from collections import {', '.join(std)}\n\n")
        parts.append("import torch\n" + ("import torch.nn.functional as F\n" if uses_f else "") + "from torch import nn\n")
        for cls in sorted(self.runtime):
            parts.append("\n\n" + runtime_source(cls))
        if outputs:
            rname = self.root.cls.name
            names = ", ".join(quote(f) for f in ("out", *self.d.aux_fields))
            line = f"{rname}Outputs = namedtuple({quote(rname + 'Outputs')}, [{names}])"
            if len(line) > WIDTH:
                line = "\n".join(layout(E("namedtuple", [quote(rname + "Outputs"), f"[{names}]"]), 0,
                                        f"{rname}Outputs = ", "", str))
            parts.append(("\n\n" if self.runtime else "\n") + line + "\n")
        for t in bodies:
            parts.append("\n\n" + t)
        return "".join(parts)

    def header(self) -> str:
        net = self.d.network
        src = Path(net.span.file).name if net.span.file else "<string>"
        return (f'"""{_safe_doc(net.name)}: PyTorch source generated by cnndsl from {_safe_doc(src)}.\n\n'
                f"Input {fmt_shape(net.input)} (H x W x C), output {fmt_shape(self.d.analysis.output)}; "
                "the state_dict keys\nequal those of the module cnndsl.load builds.\n"
                '"""\n\n')

    def class_text(self, cd: ClassDef) -> str:
        first = cd.instances[0]
        node = first.spec.node

        def subst(s: Slot) -> str:
            return cd.slot_text[s.index]

        sig = "".join(f", {p}: int" if d is None else f", {p}: int = {d}" for p, d in cd.params)
        lines = [f"class {cd.name}(nn.Module):", f'    """{self.doc(first)}"""', ""]
        head = f"    def __init__(self{sig}) -> None:"
        if len(head) > WIDTH:
            inner = "self" + sig
            if 8 + len(inner) <= WIDTH:
                lines += ["    def __init__(", f"        {inner}", "    ) -> None:"]
            else:
                lines += ["    def __init__(", *[f"        {a.strip()}," for a in inner.split(", ")], "    ) -> None:"]
        else:
            lines.append(head)
        lines.append("        super().__init__()")
        slots: list[int] = []
        for name, e in first.init:
            expr = slotify(e, slots)
            if IDENT.match(name) and not keyword.iskeyword(name):
                lines += layout(expr, 8, f"self.{name} = ", "", subst)
            else:
                register = "self.register_parameter" if expr.func == "nn.Parameter" else "self.add_module"
                lines += layout(E(register, [quote(name), expr]), 8, "", "", subst)
        extra = "".join(f", {v}: torch.Tensor" for v in first.forward.inputs.values())
        lines += ["", f"    def forward(self, x: torch.Tensor{extra}):"]
        if node is None and "input" in first.spec.keep:
            lines.append(f"        {saved('input')} = x")
        if first.forward.aux:
            lines.append("        aux = []")
        lines += first.forward.lines
        y = first.result
        if node is None and self.d.features:
            items = ", ".join(f"({quote(f)}, {saved(f)})" for f in self.d.features)
            lines += layout(E("OrderedDict", [f"[{items}]"]), 8, "return ", "", subst)
        elif (node is None and self.d.aux_fields) or (node is not None and first.spec.emits_aux):
            ret = f"{cd.name}Outputs({y}, *aux)" if node is None else f"{y}, tuple(aux)"
            lines += ["        if self.training:", f"            return {ret}", f"        return {y}"]
        else:
            lines.append(f"        return {y}")
        return "\n".join(lines) + "\n"

    def doc(self, inst: Instance) -> str:
        node = inst.spec.node
        if node is None:
            return _safe_doc(f"The network `{self.d.network.name}`.")
        if node.call:
            formals = block_formals(node)
            sig = node.call.block + ("(" + ", ".join(f for f, _ in formals) + ")" if formals else "")
            return _safe_doc(f"The block `{sig}`.")
        what = "group" if node.kind == "group" else node.describe()
        label = f"`{inst.spec.name}`: " if not inst.spec.name.isdigit() else ""
        return _safe_doc(f"{label}{what}, line {node.span.line} of the source.")


def _plain(spec: ScopeSpec) -> bool:
    """A straight run of all its children in order, nothing else: an `nn.Sequential`."""
    names = list(spec.children)
    if spec.emits_aux or spec.extra or not names or len(spec.plan) != len(names):
        return False
    positional = names == [str(i) for i in range(len(names))]
    if not positional and not all(IDENT.match(n) and not keyword.iskeyword(n) for n in names):
        return False
    return all(isinstance(op, Call) and not (op.flatten or op.save or op.emits_aux or op.parameter or op.args)
               and op.name == n
               for op, n in zip(spec.plan, names))


def _sequential(init: list) -> E:
    if all(n.isdigit() for n, _ in init):
        return E("nn.Sequential", [e for _, e in init])
    return E("nn.Sequential", [E("OrderedDict", [], [(ident(n), e) for n, e in init])])


def _safe_doc(text: str) -> str:
    return re.sub(r'[\x00-\x1f\x7f\\"]', " ", text)


def runtime_source(cls: str) -> str:
    from cnndsl.backends import runtime

    return inspect.getsource(getattr(runtime, ident(cls)))


# ---------------------------------------------------------------------------------------------
# block formal arguments, for naming constructor arguments: from the IR's block calls alone


def block_formals(node) -> list[tuple[str, int | float | None]]:
    """[(formal name, its constant default or None)] of the block that made `node`, the names
    usable as Python parameters."""
    return [(f.name, f.value) for f in node.call.formals
            if IDENT.match(f.name) and not keyword.iskeyword(f.name) and f.name not in RESERVED | {"in_chs", "out_chs"}]


def block_values(group: list[Instance]) -> list[tuple[str, list, int | None]]:
    """(formal, its value in each module of `group`, its literal default) for a block's class:
    the formals whose values are ints in every module."""
    node = group[0].spec.node
    if node is None or node.call is None:
        return []
    out = []
    for fname, default in block_formals(node):
        vals = [inst.spec.node.call.value(fname) for inst in group]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            d = default if isinstance(default, int) and not isinstance(default, bool) else None
            out.append((fname, vals, d))
    return out


def emit(network: Network) -> str:
    """Standalone PyTorch source of `network`: one class per block and per module with its own
    forward, the network's class named after it; no import of cnndsl; the same state_dict keys
    and outputs as `cnndsl.build(network)`."""
    return Emitter(decode(network)).run()
