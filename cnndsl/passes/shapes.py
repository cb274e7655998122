"""Shape inference, figures and receptive fields in one walk over the IR.

Every node is visited once, in forward order; each kind's own rules (`shape`, `params`, `macs`,
`flops`, `rf` on its class, or `infer` for combinators) give its row. Nothing is built or run.

Example:
    >>> import cnndsl
    >>> a = analyze(cnndsl.parse("input 32x32x3; conv 3x3x16 same; maxpool 2"))
    >>> [(r.path, r.output) for r in a.rows]
    [('0', (32, 32, 16)), ('1', (16, 16, 16))]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cnndsl.errors import CnnError
from cnndsl.ir import Network, Node, Shape
from cnndsl.layers.blocks import Aux, Container, Repeat


@dataclass(frozen=True)
class Row:
    """Figures of one node. For a combinator, `params`/`macs`/`flops`/`activations` include its
    children; `own_*` are the node's own share (e.g. the addition of a residual)."""

    path: str  # dotted module name, as in state_dict keys ("" for a node with no module)
    depth: int
    node: Node
    input: Shape
    output: Shape
    params: int
    macs: int
    flops: int
    activations: int
    rf: int  # receptive field size (pixels of the input seen by one output)
    jump: int  # effective stride: input pixels between neighbouring outputs
    aux: bool  # inside an auxiliary head: skipped in eval mode
    own_params: int
    own_macs: int
    own_flops: int
    own_activations: int


@dataclass(frozen=True)
class Analysis:
    network: Network
    rows: tuple[Row, ...]  # pre-order: a combinator comes before its children
    output: Shape
    params: int
    aux_params: int
    macs: int  # eval-mode forward, auxiliary heads skipped
    flops: int
    activations: int
    peak_activation: int  # the largest single output tensor, in elements
    rf: int
    jump: int


@dataclass
class _Frame:
    entry: tuple[int, int]
    parallel: bool
    ends: list = field(default_factory=list)


class Walk:
    """The walker handed to combinators' `infer`: `seq` runs a child sequence and records rows."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.prefix: list[str] = []
        self.taps: list[dict[str, tuple]] = [{}]
        self.frames: list[_Frame] = []
        self.r, self.j = 1, 1
        self.aux = 0

    def path(self, name: str) -> str:
        return ".".join([*self.prefix, name]) if name else ".".join(self.prefix)

    def tapped(self, label: str, node: Node) -> Shape:
        shape, r, j = self.taps[-1][label]
        self.r, self.j = r, j
        return shape

    def seq(self, nodes, x: Shape, aux: bool = False) -> Shape:
        fr = self.frames[-1] if self.frames else None
        if fr is not None and fr.parallel:
            self.r, self.j = fr.entry
        self.aux += aux
        for n in nodes:
            x = self.node(n, x)
        self.aux -= aux
        if fr is not None and fr.parallel:
            fr.ends.append((self.r, self.j))
        return x

    def node(self, node: Node, x: Shape) -> Shape:
        index = len(self.rows)
        row = {"path": self.path(node.name), "depth": len(self.prefix), "node": node, "input": x,
               "aux": self.aux > 0 or isinstance(node, Aux)}
        self.rows.append(row)
        if isinstance(node, Container):
            entry = (self.r, self.j)
            scoped = bool(node.name)
            if scoped:
                self.prefix.append(node.name)
                self.taps.append({})
            parallel = not isinstance(node, (Repeat, Aux)) and len(node.branches()) > 1 or (
                node.kind == "residual")
            self.frames.append(_Frame(entry, parallel))
            y = node.infer(x, self)
            fr = self.frames.pop()
            if scoped:
                self.prefix.pop()
                self.taps.pop()
            if isinstance(node, Aux):
                self.r, self.j = entry
            elif fr.parallel:
                ends = fr.ends + ([entry] if node.kind == "residual" and len(node.branches()) == 1 else [])
                self.r = max(e[0] for e in ends)
                self.j = max(e[1] for e in ends)
            for c in self.rows[index + 1:]:
                c.setdefault("parent", index)
            direct = [c for c in self.rows[index + 1:] if c["parent"] == index]
            own_flops = node.flops(x, y)
            own_act = math.prod(y) if node.kind in ("residual", "add", "concat") else 0
            row.update(output=y, own_params=0, own_macs=0, own_flops=own_flops, own_activations=own_act)
            for key in ("params", "macs", "flops", "activations"):
                total = row[f"own_{key}"] + sum(c[key] for c in direct if key == "params" or not c["aux"] or row["aux"])
                row[key] = total
        else:
            y = node.shape(x)
            p, m = node.params(x), node.macs(x, y)
            f = node.flops(x, y) + 2 * m
            act = math.prod(y) * node.parts()
            row.update(output=y, params=p, macs=m, flops=f, activations=act,
                       own_params=p, own_macs=m, own_flops=f, own_activations=act)
            k, s = node.rf(x)
            self.r += (k - 1) * self.j
            self.j *= s
        row["rf"], row["jump"] = self.r, self.j
        if node.name:
            self.taps[-1][node.name] = (y, self.r, self.j)
        return y


def analyze(network: Network) -> Analysis:
    """Shapes, figures and receptive fields of every node of `network`.

    Raises:
        CnnError: a shape that cannot work, at the statement's position.
    """
    walk = Walk()
    try:
        y = walk.seq(network.body, tuple(network.input))
    except RecursionError:  # pragma: no cover - nesting is bounded by the parser
        raise CnnError("the network is nested too deeply", network.span) from None
    rows = []
    top = [r for r in walk.rows if r.setdefault("parent", None) is None]
    for r in walk.rows:
        r = {k: v for k, v in r.items() if k != "parent"}
        rows.append(Row(**r))
    params = sum(r["params"] for r in top)
    aux_params = sum(r["params"] for r in top if r["aux"]) + sum(
        r.params for r in rows if isinstance(r.node, Aux) and r.depth > 0)
    main = [r for r in top if not r["aux"]]
    leaves = [r for r in rows if not isinstance(r.node, Container) and not r.aux]
    return Analysis(
        network=network, rows=tuple(rows), output=y, params=params, aux_params=aux_params,
        macs=sum(r["macs"] for r in main), flops=sum(r["flops"] for r in main),
        activations=sum(r["activations"] for r in main),
        peak_activation=max((math.prod(r.output) for r in leaves), default=0),
        rf=walk.r, jump=walk.j)


def infer_shapes(network: Network) -> Shape:
    """The output shape of `network` (raises CnnError if a shape cannot work)."""
    return analyze(network).output
