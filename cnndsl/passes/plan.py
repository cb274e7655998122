"""The PyTorch plan of a network, as plain records (no torch): what `cnndsl.backends.torch_module`
builds and `cnndsl.backends.torch_source` writes, so the two cannot disagree.

Every leaf becomes the `Leaf` its class's `module(x, y)` returns; every module of the network a
`ScopeSpec` holding its children by name and a plan of steps: `Call` (run a child), `Fetch` (a
`from LABEL` branch continues from a saved tensor) and `Step` (a combinator's step, found through its
class's declarations: `branches()`, `step`, `form`, `head`). A labeled tensor read further in
(`from LABEL`, `upsample to LABEL`, as `cnndsl.passes.shapes` resolved it) is saved by the module that
owns it (`keep`) and passed into every module in between as an extra forward input (`extra`).
A combinator without a step of its own (a group, a repeat) splices its children's steps into the
enclosing plan.

Module names (and so `state_dict` keys) follow the IR's names: see docs/naming.md.

Example:
    >>> import cnndsl
    >>> d = decode(cnndsl.parse("input 8x8x3; conv1: conv 3x3x4 same relu; res: residual < conv 3x3x4 same >"))
    >>> [op.name for op in d.root.plan], [(op.node.kind, op.paths) for op in d.root.children["res"].plan]
    (['conv1', 'res'], [('residual', [[Call(name='0', flatten=False, save=False, emits_aux=False, parameter=False, args=())]])])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import ClassVar

from cnndsl.errors import CnnError, did_you_mean
from cnndsl.ir import Network, Node, Shape
from cnndsl.layers.base import ACTIVATIONS
from cnndsl.layers.modules import ActFunction, Leaf, act_function
from cnndsl.passes.shapes import Analysis, analyze


@dataclass
class Call:
    """Run the registered child `name`."""

    name: str
    flatten: bool = False
    save: bool = False  # keep the output for `aux from` / `outputs=`
    emits_aux: bool = False  # the child returns (y, aux outputs) in training mode
    parameter: bool = False  # the child is a bare parameter: multiply the input by it
    args: tuple[str, ...] = ()  # saved tensors passed after the input (a module's extra inputs)
    paths: ClassVar[tuple] = ()


@dataclass
class Fetch:
    """`from LABEL`: continue from the saved tensor `label`."""

    label: str
    paths: ClassVar[tuple] = ()


@dataclass
class Step:
    """A combinator's step: the plans of its branches, run by the runtime step `node.step`."""

    node: Node
    paths: list[list]
    act: ActFunction = None
    inplace: bool = False  # a residual's `y += shortcut`: the body ends in a fresh, unsaved tensor
    field: str = ""  # an auxiliary head's name in the training-mode outputs tuple


@dataclass
class ScopeSpec:
    """One module of the network: children in registration order, and the plan that runs them."""

    name: str
    node: Node | None  # None for the network itself
    input: Shape
    output: Shape
    children: dict[str, Leaf | ScopeSpec] = field(default_factory=dict)
    plan: list = field(default_factory=list)
    emits_aux: bool = False
    extra: list[str] = field(default_factory=list)  # labels of outer tensors it takes after its input
    keep: set[str] = field(default_factory=set)  # its children's labels read by modules inside it


class Decoder:
    """IR + shape analysis -> the tree of `ScopeSpec`s."""

    def __init__(self, analysis: Analysis):
        self.rows = {id(r.node): r for r in analysis.rows}
        self.heads: list[Step] = []  # auxiliary heads, in the order their outputs are collected
        self.stack: list[ScopeSpec] = []  # the modules around the node being decoded, outermost first

    def read(self, label: str, up: int) -> None:
        """A tensor `up` modules out: its owner keeps it, every module in between takes it as input."""
        self.stack[-1 - up].keep.add(label)
        for scope in self.stack[len(self.stack) - up:]:
            if label not in scope.extra:
                scope.extra.append(label)

    def seq(self, nodes, scope: ScopeSpec) -> list:
        out: list = []
        for node in nodes:
            out.extend(self.node(node, scope))
        return out

    def node(self, node: Node, scope: ScopeSpec) -> list:
        row = self.rows[id(node)]
        if row.ref is not None:
            self.read(*row.ref)
        if not node.takes_branches:
            leaf = node.module(row.input, row.output)
            if leaf is None:  # `from LABEL`
                return [Fetch(node.ref())]
            scope.children[node.name] = leaf
            return [Call(node.name, flatten=leaf.flatten, parameter=leaf.parameter is not None,
                         args=(node.ref(),) if node.ref() else ())]
        if not node.name:  # no module of its own: its steps join this scope
            return self.steps(node, scope)
        child = ScopeSpec(node.name, node, row.input, row.output)
        self.stack.append(child)
        if node.head:  # the head's module holds its body; the step stays here (for `from`)
            child.plan = [op for b in node.branches() for op in self.seq(b, child)]
            step = Step(node, [[Call(node.name, args=tuple(child.extra))]])
            self.heads.append(step)
            steps: list = [step]
        else:
            child.plan = self.steps(node, child)
            steps = [Call(node.name, args=tuple(child.extra))]
        self.stack.pop()
        finish(child)
        scope.children[node.name] = child
        for c in calls(steps):
            c.emits_aux = child.emits_aux
        return steps

    def steps(self, node: Node, scope: ScopeSpec) -> list:
        if node.step is None:  # a sequence or a repeat: its children, in order
            return [op for b in node.branches() for op in self.seq(b, scope)]
        step = Step(node, [self.seq(b, scope) for b in node.branches()], act_function(getattr(node, "act", None)))
        if node.head:
            self.heads.append(step)  # after its body: the order the outputs are collected in
        return [step]


def walk(ops: list):
    """Every step of a plan, nested ones included (not into child modules)."""
    for op in ops:
        yield op
        for p in op.paths:
            yield from walk(p)


def calls(ops: list) -> list[Call]:
    return [op for op in walk(ops) if isinstance(op, Call)]


def sequences(ops: list):
    """Every straight sequence of steps in a plan (the plan itself, each branch, each aux body)."""
    yield ops
    for op in ops:
        for p in op.paths:
            yield from sequences(p)


def finish(scope: ScopeSpec, keep: tuple[str, ...] = ()) -> None:
    """Mark saved outputs, in-place activations and additions, and whether aux outputs leave the scope."""
    taps = {op.node.tap for op in walk(scope.plan) if isinstance(op, Step) and op.node.head and op.node.tap}
    taps |= set(keep) | scope.keep
    for c in calls(scope.plan):
        c.save = c.name in taps
    scope.emits_aux = any((isinstance(op, Step) and op.node.head) or (isinstance(op, Call) and op.emits_aux)
                          for op in walk(scope.plan))

    def fresh(seq: list) -> bool:  # the sequence ends in a new tensor nobody else reads
        last = seq[-1] if seq else None
        if not isinstance(last, Call) or last.save or last.emits_aux:
            return False
        leaf = scope.children.get(last.name)
        return isinstance(leaf, Leaf) and leaf.fresh

    for seq in sequences(scope.plan):
        for i, op in enumerate(seq):
            if isinstance(op, Step) and op.node.form == "residual":
                op.inplace = fresh(op.paths[0])
            elif isinstance(op, Call) and i > 0 and fresh(seq[:i]):
                leaf = scope.children.get(op.name)
                if isinstance(leaf, Leaf) and len(leaf.parts) == 1 and leaf.parts[0][0] == "act":
                    tc = leaf.parts[0][1]
                    if INPLACE_ACTIVATIONS.get(tc.cls, False):
                        scope.children[op.name] = replace(leaf, parts=(("act", replace(
                            tc, kwargs=(*tc.kwargs, ("inplace", True)))),))


INPLACE_ACTIVATIONS = {a.module: a.inplace for a in ACTIVATIONS.values()}  # torch.nn class -> takes `inplace`
FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class Decoded:
    """The whole network, decoded: the root scope, aux output fields, and feature outputs."""

    network: Network
    analysis: Analysis
    root: ScopeSpec
    aux_fields: tuple[str, ...]  # training-mode outputs after `out`, in order
    features: tuple[str, ...]  # `outputs=` labels (empty: the normal output)


def decode(network: Network, outputs: list[str] | tuple[str, ...] | None = None) -> Decoded:
    """The module tree of `network` as plain records (no torch).

    Args:
        outputs: labels of top-level statements whose outputs to return (a feature extractor);
            everything after the last is dropped, and auxiliary heads are not built.

    Raises:
        CnnError: an unknown output label, or a shape that cannot work.
    """
    analysis = analyze(network)
    d = Decoder(analysis)
    root = ScopeSpec("", None, tuple(network.input), analysis.output)
    d.stack.append(root)
    root.plan = d.seq(network.body, root)
    features: tuple[str, ...] = ()
    if outputs is not None:
        features = _truncate(root, list(outputs))
        d.heads = []
    finish(root, keep=features)
    fields: list[str] = []
    for step in d.heads:
        name = step.node.name if FIELD.match(step.node.name or "") else ""
        if not name or name in fields or name == "out":
            name = f"aux{len(fields) + 1}"
        while name in fields:
            name += "_"
        fields.append(name)
        step.field = name
    return Decoded(network, analysis, root, tuple(fields), features)


def _truncate(root: ScopeSpec, outputs: list[str]) -> tuple[str, ...]:
    """Keep the top-level statements up to the last of `outputs`; errors name the option, not a line."""
    top = {op.name: i for i, op in enumerate(root.plan) if isinstance(op, Call)}
    labels = [n for n in top if not n.isdigit()]
    listed = f"the labels are: {', '.join(labels)}" if labels else "no statement is labeled: label the statements"
    if not outputs:
        raise CnnError("outputs=: names no statement", hint=listed)
    for name in outputs:
        if name not in top:
            guess = did_you_mean(name, labels)
            raise CnnError(f"outputs=: no top-level statement is named '{name}'",
                           hint=f"{guess} {listed}" if guess else listed)
    if len(set(outputs)) != len(outputs):
        raise CnnError("outputs=: names a statement twice")
    last = max(top[n] for n in outputs)
    root.plan = [op for op in root.plan[:last + 1] if not (isinstance(op, Step) and op.node.head)]
    used = {c.name for c in calls(root.plan)}
    root.children = {k: v for k, v in root.children.items() if k in used}
    return tuple(outputs)
