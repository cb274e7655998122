"""Volume drawings: the paper figure (LeNet's stacks of maps, AlexNet's boxes, ResNet's arcs), generated.

Every feature map H x W x C is a box in oblique projection: H is its height, W recedes at 45
degrees (drawn half length), C is its thickness along the flow. Sizes are log-scaled with a floor,
so that LeNet's 28x28x6 and ResNet's 7x7x2048 both read:

    height(H) = FLOOR + SPATIAL * log2(H)        depth(W) = (FLOOR + SPATIAL * log2(W)) / 2
    thickness(C) = 2 + CHANNEL * log2(C)         a vector of N (fc, or 1x1xN): a bar 8 wide,
                                                 BAR_FLOOR + BAR * log2(N) high

A conv, pooling or fc layer draws its output; batch norm, activations, dropout, flatten, SE and
identity fold into the box before them (named under it). Pooling is a narrowing from the box before;
`kernels` adds a pyramid from each convolution's window on its input to its output. A residual is an
arc over its body into a `+`, dashed for a projection shortcut; join branches (`concat`, `add`,
`mul`) are parallel rows in source order, top to bottom, meeting in the joined map; an auxiliary
head hangs below its tap, dashed. A block call is one box until `depth` opens it (an opened call is
bracketed with its call), and a repeat is drawn once with `x N`, as in the Graphviz style.

The drawing is laid out once into plain shapes (polygons, lines, text), then written as SVG or
TikZ; PNG and PDF come from the SVG through `rsvg-convert` (Debian: librsvg2-bin). Nothing here
imports torch or needs Graphviz.

Example:
    >>> import cnndsl
    >>> svg = to_svg(cnndsl.parse("input 32x32x3; conv 3x3x16 same relu"))
    >>> 'data-shape="32x32x16"' in svg
    True
"""

from __future__ import annotations

import html
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from cnndsl.backends.graphviz import FONT, THEMES, Start, Theme, check_common, checked_options, parse_fit
from cnndsl.errors import CnnError
from cnndsl.ir import Network, Node, Shape, fmt_shape

FORMATS = ("svg", "png", "pdf", "tex")
FLOOR, SPATIAL, CHANNEL, BAR_FLOOR, BAR = 8.0, 14.0, 5.0, 8.0, 9.0
GAP, FAN, ARC, TEXT, SMALL = 26.0, 34.0, 10.0, 13.0, 11.0
CONVERT_HINT = ("install librsvg's converter: `apt-get install librsvg2-bin` (Debian/Ubuntu), `brew install librsvg` "
                "(macOS); `-o FILE.svg` and `-o FILE.tex` work without it")


def height(n: int) -> float:
    return FLOOR + SPATIAL * math.log2(n)


def thickness(c: int) -> float:
    return 2.0 + CHANNEL * math.log2(c)


def bar(n: int) -> float:
    return BAR_FLOOR + BAR * math.log2(n)


def text_width(text: str, size: float) -> float:
    """An estimate, the same everywhere (no font metrics): wide glyphs (Hangul, CJK) count double."""
    return sum(size * (1.0 if ord(ch) >= 0x1100 else 0.58) for ch in text)


# ---------------------------------------------------------------- the drawing: plain shapes

@dataclass
class Canvas:
    theme: Theme
    items: list[tuple] = field(default_factory=list)  # (kind, attrs)

    def add(self, kind: str, **attrs: Any) -> None:
        self.items.append((kind, attrs))

    def text(self, x: float, y: float, s: str, size: float = TEXT, color: str | None = None, bold: bool = False) -> None:
        """Text centred on x, its baseline at y."""
        self.add("text", x=x, y=y, s=s, size=size, color=color or self.theme.text, bold=bold)


def _rgb(color: str) -> tuple[int, int, int]:
    named = {"white": "#ffffff", "black": "#000000"}
    c = named.get(color, color).lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def shade(color: str, k: float) -> str:
    """`color` mixed towards white (k > 0) or black (k < 0)."""
    return "#" + "".join(f"{round(v + (255 - v) * k if k > 0 else v * (1 + k)):02x}" for v in _rgb(color))


# ---------------------------------------------------------------- layout elements

class Element:
    width = up = down = 0.0
    half = text_h = 0.0  # the half height of the tallest box, the height of the text under the boxes
    mark: str | None = None

    def __init__(self) -> None:
        self.hangers: list[Seq] = []  # auxiliary heads fed from here
        self.x = self.cy = 0.0

    def measure(self) -> None:
        pass

    def place(self, x: float, cy: float, c: Canvas, base: float) -> None:
        self.x, self.cy = x, cy

    @property
    def entry(self) -> float:
        return self.x

    @property
    def exit(self) -> float:
        return self.x + self.width

    def vols(self) -> list[Vol]:
        return []

    def first(self) -> Vol | None:
        """The box an arrow into this element meets, where a narrowing or a pyramid may end."""
        return None

    def last(self) -> Vol | None:
        """The box this element's output is: where the next one's narrowing or pyramid starts, and aux heads hang."""
        return None


class Vol(Element):
    """One feature map (a box) or vector (a bar), with its shape and words under it."""

    def __init__(self, shape: Shape, style: str, lines: list[str], kind: str = "", kernel=None, aux: bool = False):
        super().__init__()
        self.shape, self.style, self.lines, self.kind, self.kernel, self.aux = shape, style, lines, kind, kernel, aux
        flat = len(shape) != 3 or shape[0] == shape[1] == 1
        self.w = 8.0 if flat else thickness(shape[2])
        self.h = bar(shape[-1]) if flat else height(shape[0])
        self.o = 5.0 if flat else height(shape[1]) / 2
        self.extra: list[str] = []  # folded layers
        self.shapes = True  # the shape written under the box

    def texts(self) -> list[tuple[str, float]]:
        out = ([(fmt_shape(self.shape), TEXT)] if self.shapes else []) + [(s, SMALL) for s in self.lines]
        return out + ([(", ".join(self.extra), SMALL)] if self.extra else [])

    def measure(self) -> None:
        self.half = (self.h + self.o) / 2
        self.width = max(self.w + self.o, *(text_width(s, z) for s, z in self.texts()))
        self.up = self.half + (TEXT + 4 if self.mark else 0)
        self.text_h = sum(z + 3 for _, z in self.texts()) + 6
        self.down = self.half + self.text_h

    @property
    def left(self) -> float:
        return self.x + (self.width - self.w - self.o) / 2

    @property
    def face(self) -> tuple[float, float]:
        """Top and bottom of the front face."""
        top = self.cy - self.half + self.o
        return top, top + self.h

    def place(self, x: float, cy: float, c: Canvas, base: float) -> None:
        super().place(x, cy, c, base)
        self.base = base
        t = c.theme
        fill, line = t.families[self.style]
        if self.aux:
            line = t.aux
        l, o, w = self.left, self.o, self.w
        top, bot = self.face
        attrs = {"stroke": line, "dash": self.aux, "cls": "volume", "shape": fmt_shape(self.shape), "layer": self.kind,
                 "geometry": (round(w, 1), round(self.h, 1), round(o, 1))}
        c.add("volume", faces=[
            ([(l, top), (l + w, top), (l + w, bot), (l, bot)], fill),
            ([(l, top), (l + o, top - o), (l + w + o, top - o), (l + w, top)], shade(fill, 0.45)),
            ([(l + w, top), (l + w + o, top - o), (l + w + o, bot - o), (l + w, bot)], shade(fill, -0.12)),
        ], **attrs)
        mid = x + self.width / 2
        if self.mark:
            c.text(mid, top - o - 6, self.mark, TEXT, bold=True, color=t.shortcut)
        y = base + 6
        for i, (s, z) in enumerate(self.texts()):
            y += z + 3
            c.text(mid, y - 3, s, z, bold=i == 0 and self.shapes, color=t.text if z == TEXT else t.edge_label)

    @property
    def entry(self) -> float:
        return self.left

    @property
    def exit(self) -> float:
        return self.left + self.w + self.o / 2

    def vols(self) -> list[Vol]:
        return [self]

    def first(self) -> Vol:
        return self

    def last(self) -> Vol:
        return self


class Sym(Element):
    """The join of a residual or an `add` / `mul`: a circled symbol."""

    r = 9.0

    def __init__(self, symbol: str):
        super().__init__()
        self.symbol = symbol
        self.extra: list[str] = []  # the activation after the join, and what folds into it

    def measure(self) -> None:
        note = ", ".join(self.extra)
        self.width = max(2 * self.r, text_width(note, SMALL))
        self.up, self.half = self.r, self.r
        self.down = self.r + (SMALL + 6 if note else 0)

    def place(self, x: float, cy: float, c: Canvas, base: float) -> None:
        super().place(x, cy, c, base)
        t, mid = c.theme, x + self.width / 2
        c.add("circle", cx=mid, cy=cy, r=self.r, fill=t.background, stroke=t.edge)
        c.text(mid, cy + 4.5, self.symbol, TEXT, bold=True, color=t.edge)
        if self.extra:
            c.text(mid, cy + self.r + SMALL + 3, ", ".join(self.extra), SMALL, color=t.edge_label)

    @property
    def entry(self) -> float:
        return self.x + self.width / 2 - self.r

    @property
    def exit(self) -> float:
        return self.x + self.width / 2 + self.r


class Seq(Element):
    """Elements left to right, joined by arrows (a narrowing into a pooled map, a pyramid into a conv)."""

    def __init__(self, items: list[Element], label: str | None = None, kernels: bool = False, aux: bool = False):
        super().__init__()
        self.items, self.label, self.kernels, self.aux = items, label, kernels, aux

    def measure(self) -> None:
        for e in self.items:
            e.measure()
        self.half = max((e.half for e in self.items), default=0.0)
        self.text_h = max((e.text_h for e in self.items), default=0.0)
        self.width = sum(e.width for e in self.items) + GAP * max(0, len(self.items) - 1)
        label = text_width(self.label, TEXT) if self.label else 0.0
        self.width = max(self.width, label)
        self.up = max((e.up for e in self.items), default=0.0)
        # below the common text line (the parent may lower it to its own: items keep their depth under it)
        self.down = self.half + max([self.text_h] + [e.down - e.half for e in self.items])
        self.down += 24 if self.label else 0
        self.lanes = self.hang()
        self.down += sum(self.lanes)

    def hang(self) -> list[float]:
        """Auxiliary heads below, each in the first lane where it meets no other: lane heights."""
        x, spans, lanes = 0.0, [], []
        for e in self.items:
            for h in e.hangers:
                h.measure()
                lane = next((i for i, end in enumerate(spans) if end < x), len(spans))
                if lane == len(spans):
                    spans.append(0.0)
                    lanes.append(0.0)
                spans[lane] = x + e.width / 2 + 20 + h.width + GAP
                lanes[lane] = max(lanes[lane], h.up + h.down + 20)
                h.lane = lane
            x += e.width + GAP
        return lanes

    def place(self, x: float, cy: float, c: Canvas, base: float | None = None) -> None:
        super().place(x, cy, c, base or 0.0)
        base = cy + self.half if base is None else base
        start, cursor = len(c.items), x
        for e in self.items:
            e.place(cursor, cy, c, base)
            cursor += e.width + GAP
        under = Canvas(c.theme)  # arrows and narrowings go under the boxes, pyramids over them
        for a, b in zip(self.items, self.items[1:]):
            self.connect(a, b, under, c)
        c.items[start:start] = under.items
        self.base = base
        if self.label:
            y = base + self.down - self.half - sum(self.lanes) - 14
            c.add("line", points=[(x, y - 5), (x, y), (x + self.width, y), (x + self.width, y - 5)],
                  stroke=c.theme.cluster, dash=self.aux, arrow=False, width=1, cls="group")
            c.text(x + self.width / 2, y + 15, self.label, TEXT, color=c.theme.text)
        self.place_hangers(c)

    def place_hangers(self, c: Canvas) -> None:
        top = self.base + self.down - self.half - sum(self.lanes)
        for e in self.items:
            for h in e.hangers:
                lane_top = top + sum(self.lanes[:h.lane]) + 10
                host = e.last() or e
                hx = host.x + host.width / 2
                hcy = lane_top + h.up
                h.place(hx + 20, hcy, c)
                y0 = host.base + host.text_h if isinstance(host, Vol) else host.cy + host.down
                c.add("line", points=[(hx, y0), (hx, hcy), (h.entry, hcy)], stroke=c.theme.aux, dash=True, arrow=True)

    def connect(self, a: Element, b: Element, c: Canvas, over: Canvas) -> None:
        t = c.theme
        stroke = t.aux if self.aux else t.edge
        a, b = a.last() or a, b.first() or b
        if isinstance(a, Vol) and isinstance(b, Vol) and len(a.shape) == len(b.shape) == 3:
            (at, ab), (bt, bb) = a.face, b.face
            ax, bx = a.left + a.w, b.left
            if b.style == "pool":  # a narrowing: the front and top faces of a funnel
                c.add("polygon", points=[(ax, at), (bx, bt), (bx, bb), (ax, ab)], fill=t.families["pool"][0],
                      stroke=t.families["pool"][1], opacity=0.35, dash=False)
                c.add("line", points=[(ax + a.o, at - a.o), (bx + b.o, bt - b.o)], stroke=t.families["pool"][1],
                      dash=False, arrow=False)
                return
            if self.kernels and b.kernel:
                self.pyramid(a, b, over)
        y = self.cy
        c.add("line", points=[(a.exit, y), (b.entry, y)], stroke=stroke, dash=self.aux, arrow=True)

    @staticmethod
    def pyramid(a: Vol, b: Vol, c: Canvas) -> None:
        """The window of `b`'s kernel on `a`'s H x W face, lines to a point of `b`'s."""
        (kh, kw), (at, ab), (bt, bb) = b.kernel, a.face, b.face
        vh = min(height(kh) / 2, 0.6 * a.h)  # log-scaled as the boxes are, at half size
        vo = min(height(kw) / 4, 0.6 * a.o)
        fx, fy = a.left + a.w + a.o / 2, (at + ab) / 2 - a.o / 2  # the face's centre
        corners = [(fx - vo / 2, fy - vh / 2 + vo / 2), (fx + vo / 2, fy - vh / 2 - vo / 2),
                   (fx + vo / 2, fy + vh / 2 - vo / 2), (fx - vo / 2, fy + vh / 2 + vo / 2)]
        apex = (b.left + b.o / 2, (bt + bb) / 2 - b.o / 2)
        line = c.theme.families["conv"][1]
        c.add("polygon", points=corners, fill=shade(c.theme.families["conv"][0], -0.25), stroke=line, opacity=1.0,
              dash=False)
        for p in corners:
            c.add("line", points=[p, apex], stroke=line, dash=False, arrow=False, width=0.7, cls="kernel")

    @property
    def entry(self) -> float:
        return self.items[0].entry if self.items else self.x

    @property
    def exit(self) -> float:
        return self.items[-1].exit if self.items else self.x

    def vols(self) -> list[Vol]:
        return [v for e in self.items for v in e.vols()]

    def first(self) -> Vol | None:
        return self.items[0].first() if self.items else None

    def last(self) -> Vol | None:
        return self.items[-1].last() if self.items else None


class Residual(Element):
    """A body with an arc over it into a `+`; the arc is dashed for a projection shortcut."""

    def __init__(self, body: Seq, projection: str | None, after: list[str]):
        super().__init__()
        self.body, self.projection, self.plus = body, projection, Sym("+")
        self.plus.extra = list(after)  # the activation after the `+`, named as a figure names it

    def measure(self) -> None:
        self.body.measure()
        self.plus.measure()
        self.width = GAP / 2 + self.body.width + GAP + self.plus.width
        self.text_h = max(self.body.text_h, self.plus.down - self.plus.half)
        self.up = self.body.up + ARC + 4 + (TEXT + 4 if self.projection or self.mark else 0)
        self.down, self.half = max(self.body.down, self.plus.down), self.body.half

    def place(self, x: float, cy: float, c: Canvas, base: float) -> None:
        super().place(x, cy, c, base)
        t = c.theme
        start = len(c.items)
        self.body.place(x + GAP / 2, cy, c, base)
        px = x + GAP / 2 + self.body.width + GAP
        self.plus.place(px, cy, c, base)
        under = Canvas(t)  # the main path, under the body's boxes
        under.add("line", points=[(x, cy), (self.body.entry, cy)], stroke=t.edge, dash=False, arrow=True)
        under.add("line", points=[(self.body.exit, cy), (px, cy)], stroke=t.edge, dash=False, arrow=True)
        c.items[start:start] = under.items
        apex = cy - self.body.up - ARC
        x0, x1 = x + 2, px + self.plus.width / 2
        # a cubic with both control points at height `top` rises 3/4 of the way to it
        c.add("arc", x0=x0, x1=x1, y=cy, top=cy + (apex - cy) / 0.75, stroke=t.shortcut,
              dash=self.projection is not None)
        top = apex
        note = " ".join(s for s in (self.mark, self.projection) if s)
        if note:
            c.text((x0 + x1) / 2, top - 6, note, SMALL if not self.mark else TEXT, bold=bool(self.mark),
                   color=t.shortcut)

    def vols(self) -> list[Vol]:
        return self.body.vols()


class Parallel(Element):
    """Join branches as rows, in source order top to bottom, meeting in `join`."""

    def __init__(self, branches: list[Seq], join: Element):
        super().__init__()
        self.branches, self.join = branches, join

    def measure(self) -> None:
        for b in self.branches:
            b.measure()
        self.join.measure()
        self.span = max(b.width for b in self.branches)
        self.width = FAN + self.span + FAN + self.join.width
        total = sum(b.up + b.down for b in self.branches) + 10 * (len(self.branches) - 1)
        self.up = max(total / 2, self.join.up)
        self.down = max(total / 2, self.join.down)
        self.total = total
        self.half, self.text_h = self.join.half, self.join.text_h

    def place(self, x: float, cy: float, c: Canvas, base: float) -> None:
        super().place(x, cy, c, base)
        t = c.theme
        jx = x + FAN + self.span + FAN
        y, placed = cy - self.total / 2, []
        for b in self.branches:
            placed.append((len(c.items), b, y + b.up))
            b.place(x + FAN, y + b.up, c)
            y += b.up + b.down + 10
        self.join.place(jx, cy, c, base)
        for start, b, bcy in reversed(placed):  # the lines go under each branch's boxes
            lines = Canvas(t)
            lines.add("line", points=[(x, cy), (x + FAN / 2, cy), (x + FAN / 2, bcy), (b.entry, bcy)], stroke=t.edge,
                      dash=False, arrow=bool(b.items), cls="branch")
            lines.add("line", points=[(b.exit, bcy), (jx - FAN / 2, bcy), (jx - FAN / 2, cy), (self.join.entry, cy)],
                      stroke=t.edge, dash=False, arrow=True)
            c.items[start:start] = lines.items

    @property
    def exit(self) -> float:
        return self.join.exit

    def vols(self) -> list[Vol]:
        return [v for b in self.branches for v in b.vols()] + self.join.vols()

    def last(self) -> Vol | None:
        return self.join.last()


# ---------------------------------------------------------------- the walk: IR -> elements

@dataclass(frozen=True)
class Options:
    depth: int = 0
    expand: bool = False
    shapes: bool = True
    kernels: bool = False
    theme: str = "light"
    title: str | None = None
    fit: str | None = None
    focus: str | None = None

    def check(self) -> Options:
        return check_common(self)


def options(**kwargs: Any) -> Options:
    """Checked `Options` from keyword arguments; an unknown name is a CnnError."""
    return checked_options(Options, "volumes", **kwargs)


class Builder:
    """Walks the IR once and builds the elements: one method per combinator form (`DRAW`)."""

    def __init__(self, network: Network, opts: Options):
        self.opts = opts
        self.rows, body, x, level, self.title = Start.of(network, opts)
        self.aux = 0
        self.last: Vol | Sym | None = None  # where a norm or an activation after it folds
        self.taps: list[dict[str, Element]] = [{}]
        first = self.vol(x, "other", ["input"], "input")
        self.top = [first, *self.seq(body, level)]

    def vol(self, shape: Shape, style: str, lines: list[str], kind: str, kernel=None) -> Vol:
        v = Vol(shape, style, lines, kind, kernel, aux=self.aux > 0)
        v.shapes = self.opts.shapes
        self.last = v
        return v

    def seq(self, nodes, level: int) -> list[Element]:
        out: list[Element] = []
        for n in nodes:
            out.extend(self.node(n, level, out))
        return out

    def node(self, n: Node, level: int, before: list[Element], times: int = 1) -> list[Element]:
        row = self.rows[id(n)]
        collapsed = n.call is not None and not self.opts.expand and level >= self.opts.depth
        if not n.takes_branches:
            made = self.leaf(n, row)
        elif collapsed:
            made = [self.vol(row.output, "block", [n.call.text()], "block")]
            if n.form == "residual":
                projection = "projection" if n.shortcut is not None else None
                made = [Residual(Seq(made, aux=self.aux > 0), projection, n.join_words())]
                self.last = made[0].plus
        else:
            if n.name:
                self.taps.append({})
            made = DRAW[n.form](self, n, level + (n.call is not None), before)
            if n.name:
                self.taps.pop()
            label = n.call.text() if n.call is not None else None
            if n.name and not n.name.isdigit() and n.form == "sequence":
                label = f"{n.name}: {label}" if label else n.name
            if label and made and n.form != "aux":
                made = [Seq(made, label, self.opts.kernels, aux=self.aux > 0)]
        if times > 1 and made:
            if len(made) == 1 and not isinstance(made[0], Seq):
                made[0].mark = f"x {times}"
            elif len(made) == 1 and made[0].label:  # an opened call: `basic(64)  x 2` under its boxes
                made[0].label += f"  x {times}"
            else:
                made = [Seq(made, f"x {times}", self.opts.kernels, aux=self.aux > 0)]
        if n.name and made:
            self.taps[-1][n.name] = made[-1]
        return made

    def leaf(self, n: Node, row) -> list[Element]:
        """A layer (a one-layer block call too, in the layer's words) draws its output; others fold."""
        if n.kind == "from":  # a branch from an earlier tensor: drawn as that tensor, named
            return [self.vol(row.output, "other", [n.describe()], n.kind)]
        main, *fused = n.words(row.input, row.output)  # the layer's own words, as the graph style writes them
        if n.family in ("conv", "pool", "fc"):
            kernel = n.kernel if n.family == "conv" else None
            v = self.vol(row.output, n.family, [main], n.kind, kernel)
            v.extra = fused
            return [v]
        if self.last is not None and n.kind != "identity":
            self.last.extra.extend([main, *fused])
        return []

    def sequence(self, n: Node, level: int, before: list[Element]) -> list[Element]:
        return self.seq(n.children, level)

    def repeat(self, n: Node, level: int, before: list[Element]) -> list[Element]:
        if self.opts.expand or n.count <= 1:
            return [e for copy in n.copies for e in self.seq(copy, level)]
        copy = n.copies[0]
        if len(copy) == 1:
            return self.node(copy[0], level, before, times=n.count)
        return [Seq(self.seq(copy, level), f"x {n.count}", self.opts.kernels, aux=self.aux > 0)]

    def residual(self, n: Node, level: int, before: list[Element]) -> list[Element]:
        body = Seq(self.seq(n.body, level), kernels=self.opts.kernels, aux=self.aux > 0)
        projection = None
        if n.shortcut is not None:
            short = [v for e in self.seq(n.shortcut, level) for v in e.vols()]
            projection = ", ".join(v.lines[0] for v in short) or "shortcut"
        made = Residual(body, projection, n.join_words())
        self.last = made.plus
        return [made]

    def joined(self, n: Node, level: int, before: list[Element]) -> list[Element]:
        branches = []
        for path in n.branches():
            items = self.seq(path, level)
            branches.append(Seq(items, kernels=self.opts.kernels, aux=self.aux > 0))
        out = self.rows[id(n)].output
        join = self.vol(out, "combinator", [n.kind], n.kind) if n.kind == "concat" else Sym(n.symbol[0])
        join.extra.extend(n.join_words())
        self.last = join
        return [Parallel(branches, join)]

    def aux_head(self, n: Node, level: int, before: list[Element]) -> list[Element]:
        host = self.taps[-2].get(n.tap) if n.tap and n.name else self.taps[-1].get(n.tap) if n.tap else None
        host = host or (before[-1] if before else None)
        self.aux += 1
        last = self.last
        head = Seq(self.seq(n.body, level), n.name if n.name and not n.name.isdigit() else None,
                   self.opts.kernels, aux=True)
        self.aux -= 1
        self.last = last
        if host is not None:
            host.hangers.append(head)
        return []


DRAW = {"sequence": Builder.sequence, "residual": Builder.residual, "join": Builder.joined,
        "aux": Builder.aux_head, "repeat": Builder.repeat}


# ---------------------------------------------------------------- the picture: rows, title, writers

MARGIN, TITLE, ROWGAP = 24.0, 26.0, 30.0


@dataclass
class Picture:
    width: float
    height: float
    canvas: Canvas
    size: tuple[int, int] | None = None  # the target size of `fit WxH`, in pixels


def wrap(items: list[Element], width: float) -> list[list[Element]]:
    """Greedy rows of `items`, each at most `width` wide where it can be; a group wider than that is
    cut into pieces, each bracketed with the group's label."""
    rows: list[list[Element]] = [[]]
    used = 0.0
    for e in items:
        for unit in cut(e, width):
            if rows[-1] and used + GAP + unit.width > width:
                rows.append([])
                used = 0.0
            used += unit.width + (GAP if rows[-1] else 0.0)
            rows[-1].append(unit)
    return rows


def cut(e: Element, width: float) -> list[Element]:
    if not isinstance(e, Seq) or e.width <= width or len(e.items) < 2:
        return [e]
    pieces = [Seq(row, e.label, e.kernels, e.aux) for row in wrap(e.items, width)]
    for piece in pieces:
        piece.measure()
    pieces[-1].hangers = e.hangers
    return pieces


def size(rows: list[Seq], title_w: float) -> tuple[float, float]:
    """The picture's width and height with these rows (measured here)."""
    for r in rows:
        r.measure()
    width = max(max(r.width for r in rows), title_w) + 2 * MARGIN
    return width, sum(r.up + r.down for r in rows) + ROWGAP * (len(rows) - 1) + 2 * MARGIN + TITLE


def layout(b: Builder) -> Picture:
    opts, theme = b.opts, THEMES[b.opts.theme]
    for e in b.top:
        e.measure()
    title_w = text_width(b.title, 20)
    target = parse_fit(opts.fit) if opts.fit else None
    best: list[list[Element]] = [b.top]
    if target is not None:  # of every way to wrap the row, the one whose aspect is nearest the target's
        aim = target[0] / target[1]

        def miss(rows: list[list[Element]]) -> tuple[float, int]:  # an estimate: rows as measured alone
            w = max(max(sum(e.width for e in r) + GAP * (len(r) - 1) for r in rows), title_w) + 2 * MARGIN
            h = sum(max(e.up for e in r) + max(e.half for e in r) + max(e.down - e.half for e in r) for r in rows)
            return abs(math.log(w / (h + ROWGAP * (len(rows) - 1) + 2 * MARGIN + TITLE) / aim)), len(rows)

        total = sum(e.width for e in b.top) + GAP * (len(b.top) - 1)
        widths = {sum(e.width for e in b.top[i:j]) + GAP * (j - i - 1)
                  for i in range(len(b.top)) for j in range(i + 1, len(b.top) + 1)}
        widths |= {total / n for n in range(2, 25)}
        best = min((wrap(b.top, w) for w in sorted(widths)), key=miss)
    rows = [Seq(r, kernels=opts.kernels) for r in best]
    width, height = size(rows, title_w)
    dx = dy = 0.0
    if target is not None:  # padded to the exact aspect, the drawing centred
        aim = target[0] / target[1]
        dx, dy = max(0.0, height * aim - width) / 2, max(0.0, width / aim - height) / 2
    c = Canvas(theme)
    c.add("rect", w=width + 2 * dx, h=height + 2 * dy, fill=theme.background)
    c.text(width / 2 + dx, MARGIN + 14 + dy, b.title, 20, bold=True)
    dx += (width - 2 * MARGIN - max(r.width for r in rows)) / 2  # the rows centred under a wider title
    y = MARGIN + TITLE + dy
    previous: Seq | None = None
    for r in rows:
        r.place(MARGIN + dx, y + r.up, c)
        if previous is not None:  # down from the end of a row, back to the start of the next
            turn = y - ROWGAP / 2
            right = previous.x + previous.width + 12  # clear of the last box's words
            c.add("line", points=[(previous.exit, previous.cy), (right, previous.cy), (right, turn), (MARGIN + dx - 12, turn), (MARGIN + dx - 12, r.cy),
                                  (r.entry, r.cy)], stroke=theme.edge, dash=False, arrow=True)
        previous = r
        y += r.up + r.down + ROWGAP
    return Picture(width + 2 * dx, height + 2 * dy, c, target if opts.fit and "x" in opts.fit else None)


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _pts(points) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)


def svg(p: Picture) -> str:
    """The picture as SVG text: deterministic, one `<g class="volume">` per box with its shape."""
    out, markers = [], {}

    def marker(color: str) -> str:
        if color not in markers:
            markers[color] = f"arrow{len(markers)}"
        return markers[color]

    esc = html.escape
    for kind, a in p.canvas.items:
        dash = ' stroke-dasharray="4 3"' if a.get("dash") else ""
        if kind == "rect":
            out.append(f'<rect width="{_n(a["w"])}" height="{_n(a["h"])}" fill="{a["fill"]}"/>')
        elif kind == "volume":
            w, h, o = a["geometry"]
            faces = "".join(f'<polygon points="{_pts(pts)}" fill="{fill}"/>' for pts, fill in a["faces"])
            out.append(f'<g class="volume" data-shape="{a["shape"]}" data-kind="{a["layer"]}" data-size="{w} {h} {o}" '
                       f'stroke="{a["stroke"]}" stroke-width="1" stroke-linejoin="round"{dash}>{faces}</g>')
        elif kind == "polygon":
            out.append(f'<polygon points="{_pts(a["points"])}" fill="{a["fill"]}" fill-opacity="{a["opacity"]}" '
                       f'stroke="{a["stroke"]}" stroke-width="0.8"{dash}/>')
        elif kind == "line":
            end = f' marker-end="url(#{marker(a["stroke"])})"' if a["arrow"] else ""
            cls = f' class="{a["cls"]}"' if a.get("cls") else ""
            out.append(f'<polyline{cls} points="{_pts(a["points"])}" fill="none" stroke="{a["stroke"]}" '
                       f'stroke-width="{a.get("width", 1.2)}"{dash}{end}/>')
        elif kind == "arc":
            x0, x1, y, top = a["x0"], a["x1"], a["y"], a["top"]
            out.append(f'<path class="shortcut" d="M{_n(x0)},{_n(y)} C{_n(x0)},{_n(top)} {_n(x1)},{_n(top)} '
                       f'{_n(x1)},{_n(y - 9)}" fill="none" stroke="{a["stroke"]}" stroke-width="1.8"{dash} '
                       f'marker-end="url(#{marker(a["stroke"])})"/>')
        elif kind == "circle":
            out.append(f'<circle cx="{_n(a["cx"])}" cy="{_n(a["cy"])}" r="{_n(a["r"])}" fill="{a["fill"]}" '
                       f'stroke="{a["stroke"]}" stroke-width="1.2"/>')
        elif kind == "text":
            weight = ' font-weight="bold"' if a["bold"] else ""
            out.append(f'<text x="{_n(a["x"])}" y="{_n(a["y"])}" font-size="{_n(a["size"])}" text-anchor="middle" '
                       f'fill="{a["color"]}"{weight}>{esc(a["s"])}</text>')
    defs = "".join(f'<marker id="{m}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
                   for color, m in markers.items())
    w, h = (p.size if p.size else (p.width, p.height))
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(w)}" height="{_n(h)}" '
            f'viewBox="0 0 {_n(p.width)} {_n(p.height)}" font-family="{esc(FONT)}">')
    return "\n".join([head, f"<defs>{defs}</defs>", *out, "</svg>"]) + "\n"


TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
               "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "×": r"$\times$"}


def tikz(p: Picture) -> str:
    """The picture as one `tikzpicture` (needs only `\\usepackage{tikz}`), scaled to the line width."""
    colors: dict[str, str] = {}

    def col(c: str) -> str:
        if c not in colors:
            colors[c] = f"cnn{len(colors)}"
        return colors[c]

    def pt(x: float, y: float) -> str:
        return f"({_n(x * 0.75)},{_n(-y * 0.75)})"

    def text(s: str) -> str:
        return "".join(TEX_SPECIAL.get(ch, ch) for ch in s)

    body = []
    for kind, a in p.canvas.items:
        dash = ",dashed" if a.get("dash") else ""
        if kind == "rect":
            body.append(f"\\fill[{col(a['fill'])}] (0,0) rectangle {pt(a['w'], a['h'])};")
        elif kind == "volume":
            for pts, fill in a["faces"]:
                path = " -- ".join(pt(*q) for q in pts)
                body.append(f"\\filldraw[fill={col(fill)},draw={col(a['stroke'])},line join=round{dash}] "
                            f"{path} -- cycle;")
        elif kind == "polygon":
            path = " -- ".join(pt(*q) for q in a["points"])
            body.append(f"\\filldraw[fill={col(a['fill'])},fill opacity={a['opacity']},draw={col(a['stroke'])},"
                        f"line width=0.6pt{dash}] {path} -- cycle;")
        elif kind == "line":
            arrow = ",-stealth" if a["arrow"] else ""
            path = " -- ".join(pt(*q) for q in a["points"])
            body.append(f"\\draw[{col(a['stroke'])},line width={_n(a.get('width', 1.2) * 0.75)}pt{dash}{arrow}] {path};")
        elif kind == "arc":
            x0, x1, y, top = a["x0"], a["x1"], a["y"], a["top"]
            body.append(f"\\draw[{col(a['stroke'])},line width=1.35pt{dash},-stealth] {pt(x0, y)} "
                        f".. controls {pt(x0, top)} and {pt(x1, top)} .. {pt(x1, y - 9)};")
        elif kind == "circle":
            body.append(f"\\filldraw[fill={col(a['fill'])},draw={col(a['stroke'])}] {pt(a['cx'], a['cy'])} "
                        f"circle ({_n(a['r'] * 0.75)}pt);")
        elif kind == "text":
            size = a["size"] * 0.75
            font = f"\\fontsize{{{_n(size)}}}{{{_n(size * 1.2)}}}\\selectfont\\sffamily" + ("\\bfseries" if a["bold"] else "")
            body.append(f"\\node[anchor=base,inner sep=0,text={col(a['color'])},font={font}] at "
                        f"{pt(a['x'], a['y'])} {{{text(a['s'])}}};")
    defs = [f"\\definecolor{{{name}}}{{HTML}}{{{shade(c, 0)[1:].upper()}}}" for c, name in colors.items()]
    return "\n".join([
        "% cnndsl volume drawing: a tikzpicture for \\input in a slide (needs only \\usepackage{tikz}),",
        "% scaled to the line width: \\begin{frame}\\input{this-file}\\end{frame}",
        "\\resizebox{\\linewidth}{!}{%", "\\begin{tikzpicture}[x=1pt,y=1pt]", *defs, *body, "\\end{tikzpicture}%", "}"]) + "\n"


# ---------------------------------------------------------------- public entry points

def picture(network: Network, **kwargs: Any) -> Picture:
    return layout(Builder(network, options(**kwargs)))


def to_svg(network: Network, **kwargs: Any) -> str:
    """The volume drawing as SVG text (no Graphviz needed); options as `render`."""
    return svg(picture(network, **kwargs))


def to_tikz(network: Network, **kwargs: Any) -> str:
    """The volume drawing as a TikZ picture for a beamer slide."""
    return tikz(picture(network, **kwargs))


def convert(svg_text: str, fmt: str, zoom: float = 1.5) -> bytes:
    """PNG (at `zoom` x 96 dpi) or PDF from SVG text, through librsvg's `rsvg-convert`."""
    exe = shutil.which("rsvg-convert")
    if exe is None:
        raise CnnError(f"librsvg's `rsvg-convert` program is needed to render {fmt.upper()} volumes but was not found "
                       "on PATH", hint=CONVERT_HINT)
    args = [exe, "-f", fmt] + (["-z", str(zoom)] if fmt == "png" else [])
    done = subprocess.run(args, input=svg_text.encode("utf-8"), capture_output=True, check=False)
    if done.returncode != 0:  # pragma: no cover - a bug in the SVG we wrote
        raise CnnError(f"`rsvg-convert` failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def render(network: Network, fmt: str, **kwargs: Any) -> bytes:
    """The volume drawing in `fmt` (svg, png, pdf or tex) as bytes."""
    if fmt not in FORMATS:
        raise CnnError(f"cannot draw volumes as '{fmt}'", hint=f"formats: {', '.join(FORMATS)}")
    p = picture(network, **kwargs)
    if fmt == "tex":
        return tikz(p).encode("utf-8")
    text = svg(p)
    return text.encode("utf-8") if fmt == "svg" else convert(text, fmt)
