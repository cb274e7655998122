"""Diagrams: a network drawn the way a lecturer draws it, through Graphviz's `dot`.

Record, then render: a `Recorder` walks the IR once and collects a `Diagram` (nodes, edges,
clusters, all plain data); `emit` turns it into DOT text with the styles of one theme; `render`
pipes the text through `dot`. Nothing here imports torch. A leaf is one node styled by its
class's `family`; a combinator is drawn by the rule of its class's `form` (`DRAW`), a join with
its class's `symbol`.

Conventions (see docs/render.md):
- a `block` call is one node labeled with its call (`bottleneck(128, s=2)`) until `depth` opens it;
  a `repeat` is drawn once with an `x N` mark (all copies with `expand`);
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
import shutil
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class DEdge:
    tail: str
    head: str
    shape: Shape | None
    kind: str = "flow"  # flow, branch, shortcut, aux


@dataclass
class Cluster:
    id: str
    label: str
    style: str = "group"  # group, repeat, aux
    nodes: list[str] = field(default_factory=list)
    children: list[Cluster] = field(default_factory=list)


@dataclass
class Diagram:
    title: str
    rankdir: str
    nodes: dict[str, DNode] = field(default_factory=dict)
    edges: list[DEdge] = field(default_factory=list)
    root: Cluster = field(default_factory=lambda: Cluster("root", ""))

    def families(self) -> list[str]:
        """The styles drawn, in legend order."""
        used = {n.style for n in self.nodes.values()}
        return [f for f in LEGEND if f in used]


Tail = tuple[str, Shape]  # a drawn node whose output feeds what comes next, and that output's shape


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

    def check(self) -> Options:
        if not isinstance(self.depth, int) or self.depth < 0:
            raise CnnError(f"depth must be a whole number >= 0, got {self.depth!r}")
        if self.rankdir not in RANKDIRS:
            raise CnnError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {self.rankdir!r}")
        if self.theme not in THEMES:
            raise CnnError(f"unknown theme {self.theme!r}", hint=f"themes: {', '.join(THEMES)}")
        return self


def options(**kwargs: Any) -> Options:
    """Checked `Options` from keyword arguments; an unknown name is a CnnError."""
    known = Options.__dataclass_fields__
    for key in kwargs:
        if key not in known:
            raise CnnError(f"unknown diagram option {key!r}", hint=f"options: {', '.join(known)}")
    return Options(**kwargs).check()


def _count(n: int) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


class Recorder:
    """Walks the IR once (in the order `analyze` does) and records what to draw."""

    def __init__(self, network: Network, opts: Options):
        from cnndsl.passes.shapes import analyze

        self.opts = opts
        self.rows = {id(r.node): r for r in analyze(network).rows}
        title = opts.title if opts.title is not None else network.title or network.name
        self.diagram = Diagram(title=title, rankdir=opts.rankdir)
        self.clusters = [self.diagram.root]
        self.taps: list[dict[str, list[Tail]]] = [{}]
        self.aux = 0
        self.serial = 0
        start = self.add("input", ["input"], "io", shape="plain")
        self.taps[0]["input"] = [(start, tuple(network.input))]
        end = self.seq(network.body, [(start, tuple(network.input))], 0)
        self.join(end, self.add("output", ["output"], "io", shape="plain"))

    # ---- recording primitives
    def add(self, prefix: str, lines: list[str], style: str, shape: str = "box", caption: str | None = None) -> str:
        self.serial += 1
        nid = f"{prefix}{self.serial}"
        self.diagram.nodes[nid] = DNode(nid, lines, style, aux=self.aux > 0, shape=shape, caption=caption)
        self.clusters[-1].nodes.append(nid)
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

    def close_cluster(self) -> None:
        self.clusters.pop()

    # ---- the walk
    def seq(self, nodes, tails: list[Tail], level: int) -> list[Tail]:
        for n in nodes:
            tails = self.node(n, tails, level)
        return tails

    def node(self, n: Node, tails: list[Tail], level: int, times: int = 1) -> list[Tail]:
        row = self.rows[id(n)]
        collapsed = n.call is not None and not self.opts.expand and level >= self.opts.depth
        if n.ref() is not None:  # `from LABEL` continues from that tensor; `upsample to LABEL` reads its size
            ref = next(t[n.ref()] for t in reversed(self.taps) if n.ref() in t)
            if n.kind == "from":
                return ref
            out = self.leaf(n, row, tails, collapsed, times)
            self.join(ref, out[0][0], "shortcut")
        elif collapsed or not n.takes_branches:
            out = self.leaf(n, row, tails, collapsed, times)
        else:
            scoped = bool(n.name)
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

    def cluster_label(self, n: Node, times: int) -> str:
        """A box around an opened block call, a labeled group or a repeated body; none otherwise."""
        mark = f"  x {times}" if times > 1 else ""
        if n.call is not None:
            named = f"{n.name}: " if n.name and not n.name.isdigit() else ""
            return named + n.call.text() + mark
        if n.form in ("sequence", "aux") and n.name and not n.name.isdigit():
            return n.name + mark
        return mark.strip()

    def leaf(self, n: Node, row, tails: list[Tail], collapsed: bool, times: int) -> list[Tail]:
        lines = [n.call.text()] if collapsed else [n.describe()]
        if collapsed and not n.takes_branches:
            lines.append(n.describe())  # a block whose body is one layer: say which
        if self.opts.params and row.params:
            lines.append(f"{_count(row.params)} params{' each' if times > 1 else ''}")
        style = "block" if collapsed and n.takes_branches else n.family
        shown = lines[0].split(" ")[0].split("(")[0]
        caption = n.name if n.name and not n.name.isdigit() and n.name != shown else None  # not `fc` over `fc 1000`
        nid = self.add(n.kind if not collapsed else "block", lines, style, caption=caption)
        self.diagram.nodes[nid].mark = f"x {times}" if times > 1 else None
        self.join(tails, nid)
        return [(nid, row.output)]

    # ---- one method per combinator form (`cnndsl.layers.blocks.FORMS`), looked up in `DRAW`
    def sequence(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        return self.seq(n.children, tails, level)

    def residual(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        body = self.branch(n.body, tails, level)
        head = self.add("add", ["+", *([n.act] if n.act else [])], "combinator", shape="circle")
        self.join(body, head)
        mark = len(self.diagram.edges)
        short = tails if n.shortcut is None else self.branch(n.shortcut, tails, level)
        self.join(short, head, "shortcut")
        for e in self.diagram.edges[mark:]:  # the whole shortcut path stands out
            e.kind = "shortcut" if e.kind in ("flow", "branch") else e.kind
        return [(head, self.rows[id(n)].output)]

    def joined(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        ends = [t for p in n.branches() for t in self.branch(p, tails, level)]
        label, shape = n.symbol
        head = self.add(n.kind, [label, *([n.act] if n.act else [])], "combinator", shape=shape)
        self.join(ends, head)
        return [(head, self.rows[id(n)].output)]

    def aux_head(self, n: Node, tails: list[Tail], level: int) -> list[Tail]:
        source = self.taps[-1].get(n.tap, tails) if n.tap else tails
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
    "conv": "convolution", "pool": "pooling", "norm": "normalization", "act": "activation",
    "fc": "fully connected", "attention": "attention", "block": "block", "combinator": "add / concat",
    "aux": "aux head", "other": "other",
}

THEMES: dict[str, Theme] = {
    "light": Theme(
        background="white", text="#1f2328", edge="#57606a", edge_label="#57606a", shortcut="#c2185b",
        aux="#8250df", cluster="#8c959f", cluster_fill="#f6f8fa",
        families={
            "conv": ("#cfe2ff", "#3d74b6"), "pool": ("#d3f0d8", "#3f8f52"), "norm": ("#fff1c2", "#b08800"),
            "act": ("#ffe0c7", "#c8641e"), "fc": ("#ecd9f7", "#8250df"), "attention": ("#c9ecef", "#1b8a94"),
            "block": ("#e3e7ff", "#4b5bb8"), "combinator": ("#eceff1", "#57606a"), "aux": ("#f3e8ff", "#8250df"),
            "other": ("#ffffff", "#8c959f"), "io": ("white", "white"),
        }),
    "dark": Theme(
        background="#0d1117", text="#e6edf3", edge="#8b949e", edge_label="#a5b0bb", shortcut="#ff7b9c",
        aux="#c297ff", cluster="#6e7681", cluster_fill="#161b22",
        families={
            "conv": ("#1c3a5e", "#79b8ff"), "pool": ("#1d4428", "#7ee2a8"), "norm": ("#4a3b06", "#e3b341"),
            "act": ("#5a2d0c", "#ffa657"), "fc": ("#3c1e5a", "#d2a8ff"), "attention": ("#0f3f44", "#56d4dd"),
            "block": ("#262c5c", "#a5b4ff"), "combinator": ("#30363d", "#c9d1d9"), "aux": ("#2e1f47", "#c297ff"),
            "other": ("#161b22", "#8b949e"), "io": ("#0d1117", "#0d1117"),
        }),
    "print": Theme(  # black lines on white; families told apart by light grays and the legend
        background="white", text="black", edge="black", edge_label="#333333", shortcut="black",
        aux="black", cluster="#555555", cluster_fill="white",
        families={
            "conv": ("#d9d9d9", "black"), "pool": ("#ffffff", "black"), "norm": ("#f0f0f0", "black"),
            "act": ("#ffffff", "black"), "fc": ("#bfbfbf", "black"), "attention": ("#e6e6e6", "black"),
            "block": ("#cccccc", "black"), "combinator": ("#ffffff", "black"), "aux": ("#ffffff", "black"),
            "other": ("#ffffff", "black"), "io": ("white", "white"),
        }),
}


def _html(n: DNode, small: int, faint: str) -> str:
    first, *rest = [html.escape(s) for s in n.lines]
    top = f'<font point-size="{small}" color="{faint}">{html.escape(n.caption)}</font><br/>' if n.caption else ""
    more = "".join(f'<br/><font point-size="{small}">{s}</font>' for s in rest)
    mark = f"  <b>{n.mark}</b>" if n.mark else ""
    return f"<{top}{first}{mark}{more}>"


def _legend(diagram: Diagram, theme: Theme) -> str:
    cells = []
    for style in diagram.families() + (["aux"] if any(n.aux for n in diagram.nodes.values()) else []):
        fill, border = theme.families[style]
        cells.append(f'<td bgcolor="{fill}" color="{border}" border="1" cellpadding="3">'
                      f'<font point-size="11">{html.escape(LEGEND[style])}</font></td>')
    title = f'<tr><td colspan="{max(1, len(cells))}" border="0"><font point-size="20"><b>' \
            f'{html.escape(diagram.title)}</b></font></td></tr>'
    legend = f"<tr>{''.join(cells)}</tr>" if cells else ""
    return f'<<table border="0" cellspacing="4" cellpadding="2">{title}{legend}</table>>'


def emit(diagram: Diagram, theme_name: str = "light", *, shapes: bool = True, dpi: int | None = None) -> str:
    """DOT text for a recorded diagram."""
    import graphviz

    t = THEMES[theme_name]
    g = graphviz.Digraph(diagram.title or "network")
    graph = {"rankdir": diagram.rankdir, "bgcolor": t.background, "fontname": FONT, "fontcolor": t.text,
             "label": _legend(diagram, t), "labelloc": "t", "labeljust": "c", "ranksep": "0.3", "nodesep": "0.3",
             "newrank": "true", "outputorder": "edgesfirst", "ordering": "out", "pad": "0.3"}
    if dpi:
        graph["dpi"] = str(dpi)
    g.attr("graph", **graph)
    g.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize="14", fontcolor=t.text,
           height="0.36", margin="0.14,0.05", penwidth="1.3")
    g.attr("edge", fontname=FONT, fontsize="11", fontcolor=t.edge_label, color=t.edge, arrowsize="0.7",
           penwidth="1.2")

    def put(target, nid: str) -> None:
        n = diagram.nodes[nid]
        fill, border = t.families[n.style]
        attrs = {"label": _html(n, 11, t.edge_label), "fillcolor": fill, "color": border}
        if n.shape == "circle":
            attrs.update(shape="circle", style="filled", width="0.3", height="0.3", margin="0.02", fixedsize="false")
        elif n.shape == "plain":
            attrs.update(shape="plaintext", style="", fontsize="12")
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
                         fontcolor=t.text, fontsize="13", labeljust="l", margin="10")
                fill(sub, child)

    fill(g, diagram.root)
    for e in diagram.edges:
        attrs: dict[str, str] = {}
        if shapes and e.shape is not None:
            attrs["label"] = " " + fmt_shape(e.shape) + " "
        if e.kind == "flow":
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
            `theme` ("light", "dark", "print"), `title` (default: the network's name), `dpi`.

    Raises:
        CnnError: an unknown or bad option.
    """
    opts = options(**kwargs)
    return emit(Recorder(network, opts).diagram, opts.theme, shapes=opts.shapes, dpi=opts.dpi)


def has_dot() -> bool:
    """Whether Graphviz's `dot` program is on PATH."""
    return shutil.which("dot") is not None


def pipe(dot: str, fmt: str) -> bytes:
    """Run `dot -T<fmt>` on DOT text; a missing `dot` is a CnnError saying how to install Graphviz."""
    import graphviz

    if fmt not in FORMATS or fmt == "dot":
        raise CnnError(f"cannot render to '{fmt}'", hint=f"formats: {', '.join(FORMATS)}")
    renderer = "cairo" if fmt in ("png", "pdf") else None
    try:
        return graphviz.Source(dot).pipe(format=fmt, renderer=renderer)
    except graphviz.ExecutableNotFound:
        raise CnnError(f"Graphviz's `dot` program is needed to render {fmt.upper()} but was not found on PATH",
                       hint=INSTALL_HINT) from None
    except graphviz.CalledProcessError as exc:  # pragma: no cover - a bug in the DOT we wrote
        raise CnnError(f"`dot` failed: {exc.stderr.decode(errors='replace').strip()}") from None


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
