"""Diagrams: a network drawn the way a lecturer draws it, through Graphviz's `dot`.

Record, then render: a `Recorder` walks the IR once and collects a `Diagram` (nodes, edges,
clusters, all plain data); `emit` turns it into DOT text with the styles of one theme; `render`
pipes the text through `dot`. Nothing here imports torch. A leaf is one node styled by its
class's `family`; a combinator is drawn by the rule of its class's `form` (`DRAW`), a join with
its class's `symbol`.

Conventions (see docs/render.md):
- a layer says the lecture's words (its `words`: `3x3 conv, 64 /2`); a batch norm or activation right
  after a convolution or fc layer folds into its node (`BN, ReLU` under it) unless `fold` is off;
- a `block` call is one node named by the block's title (`Bottleneck x 3`) or its call
  (`bottleneck(128, s=2)`) until `depth` opens it; a `repeat` is drawn once with an `x N` mark (all
  copies with `expand`); a layer with a `gate` (`se`) opens into it as a side branch at depth;
- every edge carries the shape of the tensor on it, H x W x C (`56x56x256`);
- a residual's sum and a concat's join are explicit nodes; shortcut edges are curved and colored;
  auxiliary heads hang off the main path, dashed, and end in an `aux output` node;
- node colors by layer family, with a legend of the families drawn.

Example:
    >>> import cnndsl
    >>> dot = to_dot(cnndsl.parse("input 32x32x3; conv 3x3x16 same relu"))
    >>> "32x32x16" in dot
    True
"""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

from cnndsl.errors import CnnError
from cnndsl.ir import Network, Node, Shape, fmt_shape

# Korean first, then broad fallbacks: SVG viewers take the first installed; Pango (PNG, PDF) does too.
FONT = "NanumGothic,Noto Sans CJK KR,Noto Sans,DejaVu Sans,sans-serif"
FORMATS = ("svg", "png", "pdf", "dot")
RANKDIRS = ("TB", "LR")
INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
                "`conda install graphviz`, or https://graphviz.org/download/; `-o FILE.dot` works without it")


# ---------------------------------------------------------------- the record

@dataclass
class DNode:
    id: str
    lines: list[str]  # first line is the main label; the rest are printed smaller
    style: str  # a key of Theme.families, or "io"
    aux: bool = False
    shape: str = "box"
    caption: str | None = None  # the statement's label (`inception3a`), printed small above
    mark: str | None = None  # `x 3` for a repeated body drawn once
    folded: list[str] = field(default_factory=list)  # what is fused or folded into it: `BN`, `ReLU`


@dataclass
class DEdge:
    tail: str
    head: str
    shape: Shape | None
    kind: str = "flow"  # flow, branch, shortcut, aux
    cut: bool = False  # ends a column of a fitted drawing: it takes no part in ranking


@dataclass
class Cluster:
    id: str
    label: str
    style: str = "group"  # group, repeat, aux
    nodes: list[str] = field(default_factory=list)
    children: list[Cluster] = field(default_factory=list)

    def all_nodes(self) -> list[str]:
        return self.nodes + [nid for c in self.children for nid in c.all_nodes()]


@dataclass
class Diagram:
    title: str
    rankdir: str
    nodes: dict[str, DNode] = field(default_factory=dict)
    edges: list[DEdge] = field(default_factory=list)
    root: Cluster = field(default_factory=lambda: Cluster("root", ""))
    rows: list[list[str]] = field(default_factory=list)  # nodes on one rank, in this order left to right
    fit: tuple[int, int] | None = None  # the target size in pixels, for `--fit`
    pad: tuple[float, float] = (0.3, 0.3)  # inches around the drawing, across and along: what a fit widens
    font: float = 1.0  # every font size times this: a fit's text reaches MIN_TEXT_PX at the target size

    def families(self) -> list[str]:
        """The styles drawn, in legend order."""
        used = {n.style for n in self.nodes.values()}
        return [f for f in LEGEND if f in used]


Tail = tuple[str, Shape]  # a drawn node whose output feeds what comes next, and that output's shape

FOLDED = ("norm", "act")  # families folded into the layer before them (`3x3 conv, 64` over `BN, ReLU`)
HOSTS = ("conv", "depthwise", "fc")  # the styles that take them
RATIOS = {"16:9": (1920, 1080), "4:3": (1440, 1080)}


def parse_fit(text: str) -> tuple[int, int]:
    """The target size in pixels of `--fit`: `16:9` (1920x1080), `4:3` (1440x1080), `W:H` (at 1080
    pixels high) or `WxH` pixels."""
    for sep in (":", "x"):
        a, _, b = text.partition(sep)
        if a.isdigit() and b.isdigit() and int(a) > 0 and int(b) > 0 and max(int(a), int(b)) <= 20_000:
            if sep == ":":
                return RATIOS.get(text, (round(1080 * int(a) / int(b)), 1080))
            return int(a), int(b)
    raise CnnError(f"--fit must be a ratio such as 16:9 or 4:3, or a size in pixels such as 1920x1080, got {text!r}")


@dataclass(frozen=True)
class Options:
    depth: int = 0
    expand: bool = False
    rankdir: str = "TB"
    shapes: bool = True
    params: bool = False
    theme: str = "light"
    title: str | None = None
    dpi: int | None = None
    fold: bool = True
    fit: str | None = None
    focus: str | None = None

    def check(self) -> Options:
        if self.rankdir not in RANKDIRS:
            raise CnnError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {self.rankdir!r}")
        return check_common(self)


def check_common(opts):
    """The checks both drawing styles' options share: depth, theme, fit."""
    if not isinstance(opts.depth, int) or opts.depth < 0:
        raise CnnError(f"depth must be a whole number >= 0, got {opts.depth!r}")
    if opts.theme not in THEMES:
        raise CnnError(f"unknown theme {opts.theme!r}", hint=f"themes: {', '.join(THEMES)}")
    if opts.fit is not None:
        parse_fit(opts.fit)
    return opts


def checked_options(cls, what: str, **kwargs: Any):
    """Checked options of dataclass `cls` from keyword arguments; an unknown name is a CnnError."""
    known = cls.__dataclass_fields__
    for key in kwargs:
        if key not in known:
            raise CnnError(f"unknown {what} option {key!r}", hint=f"options: {', '.join(known)}")
    return cls(**kwargs).check()


def options(**kwargs: Any) -> Options:
    """Checked `Options` from keyword arguments; an unknown name is a CnnError."""
    return checked_options(Options, "diagram", **kwargs)


def _count(n: int) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


class Recorder:
    """Walks the IR once (in the order `analyze` does) and records what to draw."""

    def __init__(self, network: Network, opts: Options):
        self.opts = opts
        self.rows, body, x, level, title = Start.of(network, opts)
        self.diagram = Diagram(title=title, rankdir=opts.rankdir)
        self.clusters = [self.diagram.root]
        self.taps: list[dict[str, list[Tail]]] = [{}]
        self.aux = 0
        self.serial = 0
        self.host: str | None = None  # the last layer drawn, while a norm or activation may fold into it
        start = self.add("input", ["input"], "io", shape="plain")
        self.taps[0]["input"] = [(start, tuple(network.input))]
        end = self.seq(body, [(start, x)], level)
        self.join(end, self.add("output", ["output"], "io", shape="plain"))

    # ---- recording primitives
    def add(self, prefix: str, lines: list[str], style: str, shape: str = "box", caption: str | None = None) -> str:
        self.serial += 1
        nid = f"{prefix}{self.serial}"
        self.diagram.nodes[nid] = DNode(nid, lines, style, aux=self.aux > 0, shape=shape, caption=caption)
        self.clusters[-1].nodes.append(nid)
        self.host = None
        return nid

    def join(self, tails: list[Tail], head: str, kind: str = "flow") -> None:
        if self.aux:
            kind = "aux"
        for tail, shape in tails:
            self.diagram.edges.append(DEdge(tail, head, shape, kind))

    def open_cluster(self, label: str, style: str = "group") -> None:
        self.serial += 1
        c = Cluster(f"cluster_{self.serial}", label, style)
        self.clusters[-1].children.append(c)
        self.clusters.append(c)
        self.host = None

    def close_cluster(self) -> None:
        self.clusters.pop()
        self.host = None

    # ---- the walk
    def seq(self, nodes, tails: list[Tail], level: int) -> list[Tail]:
        for n in nodes:
            tails = self.node(n, tails, level)
        return tails

    def node(self, n: Node, tails: list[Tail], level: int, times: int = 1) -> list[Tail]:
        row = self.rows[id(n)]
        collapsed = n.call is not None and not self.opts.expand and level >= self.opts.depth
        if n.ref() is not None:  # `from LABEL` continues from that tensor; `upsample to LABEL` reads its size
            ref = self.tensor(n.ref(), row.output)
            if n.kind == "from":
                return ref
            out = self.leaf(n, row, tails, times, level)
            self.join(ref, out[0][0], "shortcut")
        elif not n.takes_branches:
            out = self.leaf(n, row, tails, times, level)
        elif collapsed:
            out = self.block(n, row, tails, times)
        else:
            scoped = bool(n.name)  # a module: its labels are its own
            if scoped:
                self.taps.append({})
            label = self.cluster_label(n, times)
            if label:
                self.open_cluster(label, "repeat" if times > 1 else "aux" if n.head else "group")
            out = DRAW[n.form](self, n, tails, level + (n.call is not None))
            if label:
                self.close_cluster()
            if scoped:
                self.taps.pop()
        if n.name:
            self.taps[-1][n.name] = out
        return out

    def tensor(self, label: str, shape) -> list[Tail]:
        """The drawn tensor `label` names (the innermost module's first); one outside a `--focus`ed
        statement is drawn as a plain node of its name."""
        found = next((t[label] for t in reversed(self.taps) if label in t), None)
        if found is None:
            found = self.taps[0][label] = [(self.add("tensor", [label], "io", shape="plain"), shape)]
        return found

    def cluster_label(self, n: Node, times: int) -> str:
        """A box around an opened block call, a labeled or titled group or a repeated body; none otherwise."""
        mark = f"  x {times}" if times > 1 else ""
        named = f"{n.name}: " if n.name and not n.name.isdigit() else ""
        if n.call is not None:
            return named + (n.call.title or n.call.text()) + mark
        if n.form == "sequence" and n.title:
            return named + n.title + mark
        if n.form in ("sequence", "aux") and named:
            return n.name + mark
        return mark.strip()

    def caption(self, n: Node, shown: str) -> str | None:
        """The label printed small above a node: not a position, nor the layer's own word (`fc`)."""
        return n.name if n.name and not n.name.isdigit() and n.name != shown.split(" ")[0] else None

    def leaf(self, n: Node, row, tails: list[Tail], times: int, level: int) -> list[Tail]:
        main, *fused = n.words(row.input, row.output)
        if self.opts.fold and n.family in FOLDED and self.host and times == 1 and [t for t, _ in tails] == [self.host]:
            self.diagram.nodes[self.host].folded += [main, *fused]
            return [(self.host, row.output)]
        opened = self.opts.expand or level < self.opts.depth or self.opts.focus is not None
        gate = n.side_branch(row.input) if opened else ()
        if gate:
            return self.gated(n, row, tails, gate)
        lines = [main]
        if self.opts.params and row.params:
            lines.append(f"{_count(row.params)} params{' each' if times > 1 else ''}")
        style = n.style(row.input, row.output)
        title = n.call.title if n.call is not None else None
        nid = self.add(n.kind, lines, style, caption=title or self.caption(n, main))
        node = self.diagram.nodes[nid]
        node.folded = fused
        node.mark = f"x {times}" if times > 1 else None
        self.join(tails, nid)
        self.host = nid if style in HOSTS and times == 1 else None
        return [(nid, row.output)]

    def block(self, n: Node, row, tails: list[Tail], times: int) -> list[Tail]:
        """A block call drawn collapsed: one node, its title or its call."""
        lines = [n.call.title or n.call.text()]
        if self.opts.params and row.params:
            lines.append(f"{_count(row.params)} params{' each' if times > 1 else ''}")
        nid = self.add("block", lines, "block", caption=self.caption(n, lines[0]))
        self.diagram.nodes[nid].mark = f"x {times}" if times > 1 else None
        self.join(tails, nid)
        return [(nid, row.output)]

    def gated(self, n: Node, row, tails: list[Tail], gate) -> list[Tail]:
        """A gate opened: its steps as a side branch, multiplying the main path (squeeze-and-excitation)."""
        self.open_cluster(n.name if n.name and not n.name.isdigit() else n.words(row.input, row.output)[0])
        side = tails
        for i, (words, style, shape) in enumerate(gate):
            nid = self.add(n.kind, words[:1], style)
            self.diagram.nodes[nid].folded = words[1:]
            self.join(side, nid, "branch" if i == 0 else "flow")
            side = [(nid, shape)]
        head = self.add("mul", ["×"], "combinator", shape="circle")
        self.join(side, head)
        self.join(tails, head)
        self.close_cluster()
        return [(head, row.output)]

    # ---- one method per combinator form (`cnndsl.layers.blocks.FORMS`), looked up in `DRAW`
    def sequence(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        return self.seq(n.children, tails, level)

    def residual(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        body = self.branch(n.body, tails, level)
        head = self.add("add", ["+", *n.join_words()], "combinator", shape="circle")
        self.join(body, head)
        mark = len(self.diagram.edges)
        short = tails if n.shortcut is None else self.branch(n.shortcut, tails, level)
        self.join(short, head, "shortcut")
        for e in self.diagram.edges[mark:]:  # the whole shortcut path stands out
            e.kind = "shortcut" if e.kind in ("flow", "branch") else e.kind
        return [(head, self.rows[id(n)].output)]

    def joined(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        ends, firsts = [], []
        for p in n.branches():  # side by side in the order written: a concat's channel order
            count = len(self.diagram.nodes)
            ends += self.branch(p, tails, level)
            if len(self.diagram.nodes) > count:
                firsts.append(list(self.diagram.nodes)[count])
        self.diagram.rows.append(firsts)
        label, shape = n.symbol
        head = self.add(n.kind, [label, *n.join_words()], "combinator", shape=shape)
        self.join(ends, head)
        return [(head, self.rows[id(n)].output)]

    def aux_head(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        # `from LABEL` names a statement of the sequence the head is in: the scope below this head's own
        outer = self.taps[-2] if n.name else self.taps[-1]
        source = outer.get(n.tap, tails) if n.tap else tails
        self.aux += 1
        ends = self.seq(n.body, source, level)
        self.join(ends, self.add("auxout", ["aux output"], "io", shape="plain"))
        self.aux -= 1
        return tails

    def repeat(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        if self.opts.expand or n.count <= 1:
            for copy in n.copies:
                tails = self.seq(copy, tails, level)
            return tails
        copy = n.copies[0]
        if len(copy) == 1:
            out = self.node(copy[0], tails, level, times=n.count)
        else:
            self.open_cluster(f"x {n.count}", "repeat")
            out = self.seq(copy, tails, level)
            self.close_cluster()
        return [(nid, self.rows[id(n)].output) for nid, _ in out]

    def branch(self, nodes, tails: list[Tail], level: int) -> list[Tail]:
        """A parallel path: its first edges are marked `branch` so they may bend."""
        mark = len(self.diagram.edges)
        out = self.seq(nodes, tails, level)
        for e in self.diagram.edges[mark:]:
            if e.kind == "flow" and any(e.tail == t for t, _ in tails):
                e.kind = "branch"
        return out


DRAW = {"sequence": Recorder.sequence, "residual": Recorder.residual, "join": Recorder.joined,
        "aux": Recorder.aux_head, "repeat": Recorder.repeat}


class Start(NamedTuple):
    """Where a drawing's walk begins (both styles): the analysis rows by node, the statements, their
    input and level (-1 under `focus`: the one statement, opened one level more than asked), and
    the title."""

    rows: dict[int, Any]
    body: tuple
    input: Shape
    level: int
    title: str

    @classmethod
    def of(cls, network: Network, opts) -> Start:
        from cnndsl.passes.shapes import analyze

        rows = analyze(network).rows
        by_node = {id(r.node): r for r in rows}
        title = opts.title if opts.title is not None else network.title or network.name
        if opts.focus is None:
            return cls(by_node, network.body, tuple(network.input), 0, title)
        row = find_row(rows, opts.focus, network)
        return cls(by_node, (row.node,), row.input, -1, opts.title if opts.title is not None else f"{title}: {row.path}")


def find_row(rows, focus: str, network: Network):
    """The row of the statement `focus` names: a module path (`layer1.0`), else the first whose path
    ends in it (`1` in mobilenet is `blocks.1`)."""
    named = [r for r in rows if r.node.name]
    for r in named:
        if r.path == focus:
            return r
    for r in named:
        if r.path.endswith("." + focus):
            return r
    top = [n.name for n in network.body if n.name and not n.name.isdigit()]
    raise CnnError(f"--focus: no statement '{focus}' in {network.name}",
                   hint=f"labels at the top: {', '.join(top)}; a nested one is written `layer1.0`" if top else None)


# ---------------------------------------------------------------- fitting a slide

# Rough sizes in inches, for choosing the columns only (`ratio` then makes the aspect exact): one rank
# along the flow, one node across it, per direction; and the title with its legend.
RANK = {"TB": 0.78, "LR": 2.5}
ACROSS = {"TB": 2.1, "LR": 0.62}
TITLE = 0.9
SMALL = 11  # the smallest font drawn, in points: edge labels, captions, folded parts
MIN_TEXT_PX = 14  # at a fit's target size


def snake(diagram: Diagram, size: tuple[int, int]) -> None:
    """Break the flow into columns (rows with `LR`) side by side so that the drawing's aspect comes
    near `size`'s: each break is an edge that is the only one across its rank and leaves no box
    cut in two. The break edges take no part in ranking, so each column is ranked from the top."""
    level = _levels(diagram)
    ranks = max(level.values()) + 1
    across: list[list[DEdge]] = [[] for _ in range(ranks + 1)]  # the edges across each rank boundary
    for e in diagram.edges:
        for b in range(level[e.tail] + 1, level[e.head] + 1):
            across[b].append(e)
    inside = [False] * (ranks + 1)  # a rank boundary inside a top-level box
    for c in diagram.root.children:
        ls = [level[n] for n in c.all_nodes()]
        for b in range(min(ls) + 1, max(ls) + 1):
            inside[b] = True
    # a break: every edge across it leaves one node of the rank before, on the main path
    cuts = [b for b in range(2, ranks - 1) if not inside[b] and len({e.tail for e in across[b]}) == 1
            and all(e.kind in ("flow", "branch") and level[e.tail] == b - 1 for e in across[b])]
    wide = [0] * ranks
    for lv in level.values():
        wide[lv] += 1
    target = size[0] / size[1]

    def aspect(bounds: list[int]) -> float:
        spans = list(zip([0, *bounds], [*bounds, ranks]))
        along = max(b - a for a, b in spans) * RANK[diagram.rankdir]
        across = sum(max(wide[a:b]) * ACROSS[diagram.rankdir] + 0.3 for a, b in spans)
        w, h = (across, along) if diagram.rankdir == "TB" else (along, across)
        return w / (h + TITLE)

    best: list[int] = []
    for k in range(2, min(len(cuts) + 1, 16) + 1):
        bounds: list[int] = []
        for j in range(1, k):  # the break nearest to an even share of the ranks
            later = [b for b in cuts if not bounds or b > bounds[-1] + 1]
            if later:
                bounds.append(min(later, key=lambda b: abs(b - j * ranks / k)))
        if abs(math.log(aspect(bounds) / target)) < abs(math.log(aspect(best) / target)):
            best = bounds
    for b in best:  # each column ranked on its own, from the top
        for e in across[b]:
            e.cut = True
    diagram.fit = size


def _levels(diagram: Diagram) -> dict[str, int]:
    """Each node's rank as `dot` would give it: the longest path to it from a node with no input."""
    into: dict[str, list[str]] = {n: [] for n in diagram.nodes}
    out: dict[str, list[str]] = {n: [] for n in diagram.nodes}
    for e in diagram.edges:
        into[e.head].append(e.tail)
        out[e.tail].append(e.head)
    waiting = {n: len(v) for n, v in into.items()}
    level = {n: 0 for n in diagram.nodes}
    ready = [n for n, k in waiting.items() if k == 0]
    while ready:
        n = ready.pop()
        for m in out[n]:
            level[m] = max(level[m], level[n] + 1)
            waiting[m] -= 1
            if waiting[m] == 0:
                ready.append(m)
    return level


# ---------------------------------------------------------------- styles

@dataclass(frozen=True)
class Theme:
    background: str
    text: str
    edge: str
    edge_label: str
    shortcut: str
    aux: str
    cluster: str
    cluster_fill: str
    families: dict[str, tuple[str, str]]  # style -> (fill, border)


LEGEND = {  # style -> legend text, in legend order
    "conv": "convolution", "depthwise": "depthwise conv", "pool": "pooling", "norm": "normalization", "act": "activation",
    "fc": "fully connected", "attention": "attention", "block": "block", "combinator": "add / concat",
    "aux": "aux head", "other": "other",
}

THEMES: dict[str, Theme] = {
    "light": Theme(
        background="white", text="#1f2328", edge="#57606a", edge_label="#57606a", shortcut="#c2185b",
        aux="#8250df", cluster="#8c959f", cluster_fill="#f6f8fa",
        families={
            "conv": ("#cfe2ff", "#3d74b6"), "depthwise": ("#9ec5fe", "#1f4e8c"), "pool": ("#d3f0d8", "#3f8f52"), "norm": ("#fff1c2", "#b08800"),
            "act": ("#ffe0c7", "#c8641e"), "fc": ("#ecd9f7", "#8250df"), "attention": ("#c9ecef", "#1b8a94"),
            "block": ("#e3e7ff", "#4b5bb8"), "combinator": ("#eceff1", "#57606a"), "aux": ("#f3e8ff", "#8250df"),
            "other": ("#ffffff", "#8c959f"), "io": ("white", "white"),
        }),
    "dark": Theme(
        background="#0d1117", text="#e6edf3", edge="#8b949e", edge_label="#a5b0bb", shortcut="#ff7b9c",
        aux="#c297ff", cluster="#6e7681", cluster_fill="#161b22",
        families={
            "conv": ("#1c3a5e", "#79b8ff"), "depthwise": ("#0c2a52", "#b6d8ff"), "pool": ("#1d4428", "#7ee2a8"), "norm": ("#4a3b06", "#e3b341"),
            "act": ("#5a2d0c", "#ffa657"), "fc": ("#3c1e5a", "#d2a8ff"), "attention": ("#0f3f44", "#56d4dd"),
            "block": ("#262c5c", "#a5b4ff"), "combinator": ("#30363d", "#c9d1d9"), "aux": ("#2e1f47", "#c297ff"),
            "other": ("#161b22", "#8b949e"), "io": ("#0d1117", "#0d1117"),
        }),
    "print": Theme(  # black lines on white; families told apart by light grays and the legend
        background="white", text="black", edge="black", edge_label="#333333", shortcut="black",
        aux="black", cluster="#555555", cluster_fill="white",
        families={
            "conv": ("#d9d9d9", "black"), "depthwise": ("#a6a6a6", "black"), "pool": ("#ffffff", "black"), "norm": ("#f0f0f0", "black"),
            "act": ("#ffffff", "black"), "fc": ("#bfbfbf", "black"), "attention": ("#e6e6e6", "black"),
            "block": ("#cccccc", "black"), "combinator": ("#ffffff", "black"), "aux": ("#ffffff", "black"),
            "other": ("#ffffff", "black"), "io": ("white", "white"),
        }),
}


def _html(n: DNode, small: str, faint: str) -> str:
    first, *rest = [html.escape(s) for s in n.lines]
    top = f'<font point-size="{small}" color="{faint}">{html.escape(n.caption)}</font><br/>' if n.caption else ""
    rest = ([html.escape(", ".join(n.folded))] if n.folded else []) + rest
    more = "".join(f'<br/><font point-size="{small}">{s}</font>' for s in rest)
    mark = f"  <b>{n.mark}</b>" if n.mark else ""
    return f"<{top}{first}{mark}{more}>"


def _legend(diagram: Diagram, theme: Theme, pt) -> str:
    cells = []
    for style in diagram.families() + (["aux"] if any(n.aux for n in diagram.nodes.values()) else []):
        fill, border = theme.families[style]
        cells.append(f'<td bgcolor="{fill}" color="{border}" border="1" cellpadding="3">'
                      f'<font point-size="{pt(11)}">{html.escape(LEGEND[style])}</font></td>')
    title = f'<tr><td colspan="{max(1, len(cells))}" border="0"><font point-size="{pt(20)}"><b>' \
            f'{html.escape(diagram.title)}</b></font></td></tr>'
    legend = f"<tr>{''.join(cells)}</tr>" if cells else ""
    return f'<<table border="0" cellspacing="4" cellpadding="2">{title}{legend}</table>>'


def emit(diagram: Diagram, theme_name: str = "light", *, shapes: bool = True, dpi: int | None = None) -> str:
    """DOT text for a recorded diagram."""
    import graphviz

    t = THEMES[theme_name]

    def pt(size: float) -> str:
        return f"{size * diagram.font:.3g}"

    g = graphviz.Digraph(diagram.title or "network")
    graph = {"rankdir": diagram.rankdir, "bgcolor": t.background, "fontname": FONT, "fontcolor": t.text,
             "label": _legend(diagram, t, pt), "labelloc": "t", "labeljust": "c", "ranksep": "0.3", "nodesep": "0.3",
             "newrank": "true", "outputorder": "edgesfirst", "ordering": "out",
             "pad": f"{diagram.pad[0]:.3f},{diagram.pad[1]:.3f}"}
    if dpi:
        graph["dpi"] = str(dpi)
    if diagram.fit:  # the target size at 96 dpi (the pad has made the aspect its own)
        w, h = diagram.fit
        graph.update(size=f"{w / 96:.3f},{h / 96:.3f}!", dpi="96")
    g.attr("graph", **graph)
    g.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize=pt(14), fontcolor=t.text,
           height="0.36", margin="0.14,0.05", penwidth="1.3")
    g.attr("edge", fontname=FONT, fontsize=pt(SMALL), fontcolor=t.edge_label, color=t.edge, arrowsize="0.7",
           penwidth="1.2")

    def put(target, nid: str) -> None:
        n = diagram.nodes[nid]
        fill, border = t.families[n.style]
        attrs = {"label": _html(n, pt(SMALL), t.edge_label), "fillcolor": fill, "color": border}
        if n.shape == "circle":
            attrs.update(shape="circle", style="filled", width="0.3", height="0.3", margin="0.02", fixedsize="false")
        elif n.shape == "plain":
            attrs.update(shape="plaintext", style="", fontsize=pt(12))
        if n.aux:
            attrs.update(style=attrs.get("style", "rounded,filled") + ",dashed", color=t.aux)
        target.node(nid, **attrs)

    def fill(target, cluster: Cluster) -> None:
        for nid in cluster.nodes:
            put(target, nid)
        for child in cluster.children:
            with target.subgraph(name=child.id) as sub:
                style = "rounded,filled" if child.style == "group" else "rounded,dashed"
                sub.attr(label=child.label, style=style, color=t.aux if child.style == "aux" else t.cluster,
                         fillcolor=t.cluster_fill,
                         fontcolor=t.text, fontsize=pt(13), labeljust="l", margin="10")
                fill(sub, child)

    fill(g, diagram.root)
    pairs = dict.fromkeys((a, b) for row in diagram.rows for a, b in pairwise(row))  # each once: `dot` fails on twins
    for a, b in pairs:
        with g.subgraph() as same:
            same.attr(rank="same")
            same.edge(a, b, style="invis")
    for e in diagram.edges:
        attrs: dict[str, str] = {}
        if shapes and e.shape is not None:
            attrs["label"] = " " + fmt_shape(e.shape) + " "
        if e.cut:
            attrs.update(constraint="false", weight="0")
        elif e.kind == "flow":
            attrs["weight"] = "8"
        elif e.kind == "shortcut":
            attrs.update(color=t.shortcut, fontcolor=t.shortcut, penwidth="1.8", weight="0")
        elif e.kind == "aux":
            attrs.update(style="dashed", color=t.aux, fontcolor=t.aux)
        g.edge(e.tail, e.head, **attrs)
    return g.source


# ---------------------------------------------------------------- public entry points

def to_dot(network: Network, **kwargs: Any) -> str:
    """Graphviz DOT source of the network's diagram.

    Args:
        network: the IR.
        **kwargs: `depth` (block calls opened, default 0), `expand` (open everything),
            `rankdir` ("TB" or "LR"), `shapes` (edge labels), `params` (param counts on nodes),
            `theme` ("light", "dark", "print"), `title` (default: the network's name), `dpi`,
            `fold` (batch norms and activations folded into the layer before; default True),
            `fit` ("16:9", "4:3", "1920x1080": columns, fonts and padding for that size; measured
            with `dot` when it is installed), `focus` (a statement's label or path, drawn alone).

    Raises:
        CnnError: an unknown or bad option.
    """
    opts = options(**kwargs)
    diagram = Recorder(network, opts).diagram
    text = emit(diagram, opts.theme, shapes=opts.shapes, dpi=opts.dpi)
    if opts.fit:
        snake(diagram, parse_fit(opts.fit))
        text = emit(diagram, opts.theme, shapes=opts.shapes, dpi=opts.dpi)
        if has_dot():  # measured: fonts grown until the smallest reads at the target size, then padded
            (tw, th), (px, py) = diagram.fit, diagram.pad
            w, h = _size(text)
            for _ in range(3):
                small = SMALL * diagram.font * tw / max(w, tw / th * h) / 72  # in pixels at the target size
                if small >= MIN_TEXT_PX + 1 or diagram.font >= 3:  # a margin for the rounding of sizes
                    break
                diagram.font = min(3.0, diagram.font * MIN_TEXT_PX / small * 1.15)
                w, h = _size(emit(diagram, opts.theme, shapes=opts.shapes, dpi=opts.dpi))
            grow = tw / th * h - w
            diagram.pad = (px + grow / 2, py) if grow > 0 else (px, py - grow * th / tw / 2)
            text = emit(diagram, opts.theme, shapes=opts.shapes, dpi=opts.dpi)
    return text


def _size(dot: str) -> tuple[float, float]:
    """The laid-out drawing's width and height in inches, pad included (`dot -Tplain`)."""
    first = _dot(dot, "plain").split(b"\n", 1)[0].split()
    pad = [float(v) for v in re.search(r'pad="([\d.]+),([\d.]+)"', dot).groups()]
    return float(first[2]) + 2 * pad[0], float(first[3]) + 2 * pad[1]


def has_dot() -> bool:
    """Whether Graphviz's `dot` program is on PATH."""
    return shutil.which("dot") is not None


# The longest `dot` may take to lay out one drawing, in seconds; None: no limit (the command line). The
# playground's server sets it for its worker threads, so a huge program cannot hold one for minutes.
LAYOUT_SECONDS: ContextVar[float | None] = ContextVar("LAYOUT_SECONDS", default=None)


def pipe(dot: str, fmt: str) -> bytes:
    """Run `dot -T<fmt>` on DOT text; a missing `dot` is a CnnError saying how to install Graphviz."""
    if fmt not in FORMATS or fmt == "dot":
        raise CnnError(f"cannot render to '{fmt}'", hint=f"formats: {', '.join(FORMATS)}")
    return _dot(dot, f"{fmt}:cairo" if fmt in ("png", "pdf") else fmt)


def _dot(dot: str, target: str) -> bytes:
    """`dot -T<target>` on DOT text, within `LAYOUT_SECONDS`."""
    seconds = LAYOUT_SECONDS.get()
    try:
        done = subprocess.run(["dot", f"-T{target}"], input=dot.encode("utf-8"), capture_output=True,
                              timeout=seconds, check=True)
    except FileNotFoundError:
        raise CnnError(f"Graphviz's `dot` program is needed to render {target.split(':')[0].upper()} but was not "
                       "found on PATH", hint=INSTALL_HINT) from None
    except subprocess.TimeoutExpired:
        raise CnnError(f"laying out the diagram took over {seconds:g} s",
                       hint="draw fewer levels (a smaller depth, blocks folded) or render it with `cnndsl render`") \
            from None
    except subprocess.CalledProcessError as exc:  # pragma: no cover - a bug in the DOT we wrote
        raise CnnError(f"`dot` failed: {exc.stderr.decode(errors='replace').strip()}") from None
    return done.stdout


def to_svg(network: Network, **kwargs: Any) -> str:
    """The diagram as SVG text (needs Graphviz's `dot`); Jupyter shows a `Network` with it."""
    return pipe(to_dot(network, **kwargs), "svg").decode("utf-8")


def render(network: Network, fmt: str, **kwargs: Any) -> bytes:
    """The diagram in `fmt` (svg, png, pdf or dot) as bytes; PNGs are drawn at 150 dpi for slides."""
    if fmt == "dot":
        return to_dot(network, **kwargs).encode("utf-8")
    if fmt == "png":
        kwargs.setdefault("dpi", 150)
    return pipe(to_dot(network, **kwargs), fmt)
