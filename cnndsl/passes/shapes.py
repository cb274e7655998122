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
from fractions import Fraction
from typing import NamedTuple

from cnndsl.errors import CnnError, did_you_mean
from cnndsl.ir import Network, Node, Shape
from cnndsl.source import Memo, gc_paused


WEIGHTED = ("conv", "fc")  # the layer families papers count in a network's depth


class Row(NamedTuple):
    """Figures of one node. For a combinator, `params`/`macs`/`flops`/`activations` include its
    children; `own_*` are the node's own share (e.g. the addition of a residual). A named tuple:
    a network has thousands of rows, made anew on every edit in the playground."""

    path: str  # dotted module name, as in state_dict keys; a node with no module repeats its parent's
    depth: int  # module nesting depth (a node with no module does not add a level)
    node: Node
    input: Shape
    output: Shape
    params: int
    macs: int
    flops: int
    activations: int
    rf: int | float | None  # receptive field along H (input pixels seen by one output); None: global (see `Walk`)
    jump: int | float | None  # effective stride along H: input pixels between neighbouring outputs (below 1 after
    # upsampling); None: global
    aux: bool  # inside an auxiliary head: skipped in eval mode
    own_params: int
    own_macs: int
    own_flops: int
    own_activations: int
    parent: int | None = None  # index in `Analysis.rows` of the enclosing node
    ref: tuple[str, int] | None = None  # a tensor read besides the input: (label, modules up to its owner)


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
    peak_activation: int  # the largest single tensor an eval-mode forward writes, in elements
    rf: int | float  # the receptive field people quote: the deepest spatial layer's on the main path
    jump: int | float
    rf_at: str  # that layer: the first top-level statement reaching `rf` ("" when nothing but the input is spatial)
    weight_layers: int  # the depth papers quote: conv and fc layers on the longest path, auxiliary heads left out

    def children(self, index: int | None) -> list[int]:
        """Indices of the rows directly inside row `index` (`None`: the top level)."""
        return [i for i, r in enumerate(self.rows) if r.parent == index]


@dataclass
class _Frame:
    entry: tuple[int, int, bool, int]  # the walk's (r, j, global, weight layers) where the branches start
    parallel: bool
    index: int
    node: Node
    ends: list = field(default_factory=list)
    kids: list = field(default_factory=list)


class Walk:
    """The walker handed to combinators' `infer`: `seq` runs a child sequence and records rows.

    Receptive fields follow Araujo et al. (Distill 2019): a layer of kernel extent k and stride s
    maps (r, j) to (r + (k - 1) * j, j * s); parallel branches start from the same (r, j) and the
    join keeps the largest of each. An upsampling layer's stride is a fraction: upsampling by f
    divides the jump by f (kept exact, as a `Fraction`; rows show it as an int or a float, see
    `exact`). A global pooling (a pool whose window covers the whole map down to 1x1) or anything
    flat (flatten, fc) makes the path global: every output sees the whole input, and its rows carry
    no figure; so do a join's whose branches are global.

    The depth papers quote (VGG-16, ResNet-50) counts the weight layers (conv, fc) one after another:
    a sequence adds them up, a join keeps its longest branch (so a projection shortcut, shorter than
    the body it runs beside, is not counted, and an Inception module counts 2), and an auxiliary
    head is left out.

    Labels: `taps` holds, per module scope (the root, then each named combinator inside), the
    labeled outputs seen so far, with the walk's state there; the labels of a parallel branch are
    dropped when the branch ends (into `hidden`, for the error), so `from LABEL` reads only
    enclosing sequences.
    """

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.prefix: list[str] = []
        self.taps: list[dict[str, tuple]] = [{}]
        self.frames: list[_Frame] = []
        self.top: list[int] = []
        self.r, self.j, self.g = 1, 1, False
        self.d = 0  # weight layers (conv, fc) on the longest path so far
        self.aux = 0
        self.head_io: tuple = ()  # (input, output, r, j, g, d) of the last auxiliary head's body
        self.input: Shape = ()
        self.hidden: dict[str, Node] = {}  # labels inside a finished branch -> their node
        self.network: Network | None = None

    def path(self, name: str) -> str:
        return ".".join([*self.prefix, name]) if name else ".".join(self.prefix)

    def tapped(self, label: str, node: Node) -> Shape:
        scope = self.taps[-2] if node.name else self.taps[-1]  # the sequence the tapping node sits in
        if label not in scope:
            raise CnnError(f"'aux from {label}': no earlier statement labeled '{label}' in this sequence", node.span)
        shape, self.r, self.j, self.g, self.d, _ = scope[label]
        return shape

    def resolve(self, node: Node) -> tuple[Shape, int, tuple]:
        """The shape of the tensor `node.ref()` names, how many modules up its owner is, and the
        walk's state there (receptive field, jump, global, weight layers)."""
        label = node.ref()
        for level in range(len(self.taps) - 1, -1, -1):
            if label in self.taps[level]:
                shape, *state, owner = self.taps[level][label]
                if owner.takes_branches and owner.head:
                    raise CnnError(f"'{node.describe()}': '{label}' is an auxiliary head, whose output exists "
                                   "only in training", node.span, "label the statement before the head")
                return shape, len(self.taps) - 1 - level, tuple(state)
        if label == "input":
            return self.input, len(self.taps) - 1, (1, 1, False, 0)
        seen = [k for t in self.taps for k in t if not k.isdigit()]
        if label in self.hidden:
            where = self.hidden[label].span
            raise CnnError(f"'{node.describe()}': '{label}' is inside another branch (line {where.line})",
                           node.span, "a branch reads only labels of the sequences around it")
        later = _labels(self.network.body)
        if label in later:
            where = later[label].span
            raise CnnError(f"'{node.describe()}': '{label}' comes later (line {where.line})", node.span,
                           "a statement reads only earlier labels")
        guess = did_you_mean(label, seen)
        raise CnnError(f"'{node.describe()}': no earlier statement is labeled '{label}'", node.span,
                       guess or (f"the labels here are: {', '.join(seen)}" if seen else "label the statement to read"))

    def seq(self, nodes, x: Shape, aux: bool = False) -> Shape:
        fr = self.frames[-1] if self.frames else None
        branch = fr is not None and fr.parallel
        if branch:
            self.r, self.j, self.g, self.d = fr.entry
            before = set(self.taps[-1])
        self.aux += aux
        x0 = x
        for i, n in enumerate(nodes):
            if n.kind == "from" and not (i == 0 and branch and getattr(fr.node, "takes_from", False)):
                raise CnnError("'from' starts a branch of concat, add or mul", n.span,
                               "like `concat < from down3 | convtranspose 2x2x512 s2 >`")
            x = self.node(n, x)
        self.aux -= aux
        if aux:
            self.head_io = (x0, x, self.r, self.j, self.g, self.d)
        if branch:
            fr.ends.append((self.r, self.j, self.g, self.d))
            for k in set(self.taps[-1]) - before:
                self.hidden[k] = self.taps[-1].pop(k)[-1]
        return x

    def node(self, node: Node, x: Shape) -> Shape:
        index = len(self.rows)
        parent = self.frames[-1] if self.frames else None
        (parent.kids if parent else self.top).append(index)
        if not node.takes_branches:
            return self.leaf(node, x, parent)
        row = {"path": self.path(node.name), "depth": len(self.prefix), "node": node, "input": x,
               "aux": self.aux > 0 or node.head, "parent": parent.index if parent else None}
        self.rows.append(row)
        entry = (self.r, self.j, self.g, self.d)
        scoped = bool(node.name)
        if scoped:
            self.prefix.append(node.name)
            self.taps.append({})
        fr = _Frame(entry, node.parallel, index, node)
        self.frames.append(fr)
        y = node.infer(x, self)
        self.frames.pop()
        if scoped:
            self.prefix.pop()
            self.taps.pop()
        out, end = y, None  # what the row shows: a head's own input, output and receptive field
        if node.head:  # the main path goes on as it was
            row["input"], out, *end = self.head_io
            self.r, self.j, self.g, self.d = entry
        elif node.parallel:  # a join: the widest branch; a residual's identity shortcut is one
            ends = fr.ends + ([entry] if len(node.branches()) == 1 else [])
            self.r = max(e[0] for e in ends)
            self.j = max(e[1] for e in ends)
            self.g = all(e[2] for e in ends)
            self.d = max(e[3] for e in ends)
        # a join writes a tensor of its own (the sum, the product, the concatenation), then its activation
        own_act = math.prod(y) * (1 + (node.act is not None)) if node.parallel else 0
        row.update(output=out, own_params=0, own_macs=0, own_flops=node.flops(x, y), own_activations=own_act)
        kids = [self.rows[i] for i in fr.kids]
        counted = kids if row["aux"] else [c for c in kids if not c["aux"]]  # eval mode skips aux heads
        row["params"] = sum(c["params"] for c in kids)
        row["macs"] = sum(c["macs"] for c in counted)
        row["flops"] = row["own_flops"] + sum(c["flops"] for c in counted)
        row["activations"] = own_act + sum(c["activations"] for c in counted)
        r, j, g, _ = end or (self.r, self.j, self.g, self.d)
        row["rf"], row["jump"] = (None, None) if g else (exact(r), exact(j))
        return self.tap(node, y)

    def leaf(self, node: Node, x: Shape, parent: _Frame | None) -> Shape:
        """A layer's row (most rows are layers: one dict made at once)."""
        ref = node.ref()
        if ref is not None:
            shape, up, state = self.resolve(node)
            ref = (ref, up)
            if node.kind == "from":  # the branch continues from the labeled tensor
                x = shape
                self.r, self.j, self.g, self.d = state
            y = node.shape_to(x, shape)
            y, k, s, p, m, f, act = measure(node, x, y, *node.rf_to(x, y))
        else:
            y, k, s, p, m, f, act = figures(node, x)
        if len(y) != 3 or (node.family == "pool" and y[:2] == (1, 1) and k >= x[0] > 1):
            self.g = True  # flat, or a global pooling
        elif not self.g:
            self.r += (k - 1) * self.j
            self.j *= s
        self.d += node.family in WEIGHTED
        g = self.g
        self.rows.append({
            "path": self.path(node.name), "depth": len(self.prefix), "node": node, "input": x, "output": y,
            "params": p, "macs": m, "flops": f, "activations": act,
            "rf": None if g else exact(self.r), "jump": None if g else exact(self.j), "aux": self.aux > 0,
            "own_params": p, "own_macs": m, "own_flops": f, "own_activations": act,
            "parent": parent.index if parent else None, "ref": ref})
        return self.tap(node, y)

    def tap(self, node: Node, y: Shape) -> Shape:
        """Keep a labeled node's output and the walk's state there (for `from LABEL`); returns `y`."""
        if node.name:
            self.taps[-1][node.name] = (y, self.r, self.j, self.g, self.d, node)
        return y


_FIGURES = Memo()  # (kind, fields, input) -> figures: layers repeat (blocks, repeats, edits)
_PLACE = frozenset({"name", "span", "call"})  # where a node is, not what it computes


def figures(node: Node, x: Shape) -> tuple:
    """A layer's (output, kernel extent, stride, params, MACs, FLOPs, activations) on input `x`,
    remembered: they are a pure function of the layer's kind, its fields and `x` (not of its name or
    position), and a network repeats a few layers many times."""
    try:
        key = (type(node), x, *[v for k, v in node.__dict__.items() if k not in _PLACE])
        hit = _FIGURES.get(key)
    except TypeError:  # a field that is not hashable: compute, do not remember
        key, hit = None, None
    if hit is not None:
        return hit
    y = node.shape(x)
    out = measure(node, x, y, *node.rf(x))
    return out if key is None else _FIGURES.keep(key, out)


def measure(node: Node, x: Shape, y: Shape, k, s) -> tuple:
    """`figures`' tuple for a layer whose output `y` and receptive-field step (`k`, `s`) are known."""
    p, m = node.params(x), node.macs(x, y)
    return y, k, s, p, m, node.flops(x, y) + 2 * m, math.prod(y) * node.parts()


def exact(v: int | Fraction) -> int | float:
    """A receptive field or jump as a plain number: upsampling divides the jump."""
    if type(v) is int:
        return v
    return int(v) if v == int(v) else float(v)


def _labels(nodes) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for n in nodes:
        if n.name and not n.name.isdigit():
            out.setdefault(n.name, n)
        for b in n.branches():
            for k, v in _labels(b).items():
                out.setdefault(k, v)
    return out


def analyze(network: Network) -> Analysis:
    """Shapes, figures and receptive fields of every node of `network`, in one linear walk.

    Raises:
        CnnError: a shape that cannot work, at the statement's position.
    """
    walk = Walk()
    walk.input = tuple(network.input)
    walk.network = network
    with gc_paused():
        try:
            y = walk.seq(network.body, tuple(network.input))
        except RecursionError:  # pragma: no cover - nesting is bounded by the parser
            raise CnnError("the network is nested too deeply", network.span) from None
        except CnnError as err:
            err.quote(network.texts)  # its line, from the text this network was parsed from
            raise
        rows = tuple(Row(**r) for r in walk.rows)
    top = [rows[i] for i in walk.top]
    main = [r for r in top if not r.aux]
    # an auxiliary head's parameters: the outermost `aux` rows (a head inside a head counts once)
    aux_params = sum(r.params for r in rows if r.node.takes_branches and r.node.head
                     and (r.parent is None or not rows[r.parent].aux))
    peak = max((math.prod(r.output) for r in rows if not r.aux and (r.own_activations or not r.node.takes_branches)),
               default=0)
    # the figure people quote: where the main path's receptive field stops growing before it turns global
    spatial = [r for r in rows if r.depth == 0 and r.node.name and not r.aux and r.rf is not None]
    rf, jump = (spatial[-1].rf, spatial[-1].jump) if spatial else (1, 1)
    at = next((r.path for r in spatial if r.rf == rf), "")
    return Analysis(
        network=network, rows=rows, output=y, params=sum(r.params for r in top), aux_params=aux_params,
        macs=sum(r.macs for r in main), flops=sum(r.flops for r in main),
        activations=sum(r.activations for r in main), peak_activation=peak, rf=rf, jump=jump, rf_at=at,
        weight_layers=walk.d)
