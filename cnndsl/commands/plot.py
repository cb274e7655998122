"""`cnndsl plot FILE... -o OUT.png|svg [--sweep k=v1,v2 ...] [--accuracy FILE.csv]`: compare networks on one chart.

One bubble per network at (MACs, params) on log axes, its area proportional to the activation
memory of a forward pass (float32), labeled by name: the cost half of Canziani et al. 2016, "An
Analysis of Deep Neural Network Models for Practical Applications" (arXiv:1605.07678). With
`--sweep`, every point of the grid is drawn and the points along the last swept param are joined
as a curve (one curve per value of the other params): the MobileNet width/resolution trade-off.
Files that do not declare every swept param are drawn as single bubbles, for comparison.
`--accuracy FILE.csv` draws Canziani et al.'s own chart: the user's accuracy against MACs.
Labels are placed clear of each other and of every bubble; colours follow the network's name.
Needs matplotlib (`pip install 'cnndsl[plot]'`); imports no torch.
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

from cnndsl.commands import add_set, display, load
from cnndsl.errors import CnnError

FORMATS = ("png", "svg", "pdf")
FONTS = ("NanumGothic", "Noto Sans CJK KR", "DejaVu Sans")  # the first installed ones are used, in order
BYTES = 4  # float32 activations


def add_parser(sub):
    p = sub.add_parser("plot", help="chart networks by MACs and params (matplotlib)",
                       description="One bubble per network at (MACs, params), log axes, sized by activation "
                                   "memory. With --sweep, the grid's points are joined as curves.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a .cnn file, or a shipped architecture by name")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.png, OUT.svg or OUT.pdf")
    add_set(p)
    p.add_argument("--sweep", action="append", default=[], metavar="K=V1,V2",
                   help="sweep a param over values, e.g. --sweep width=0.5,0.75,1 (repeatable: a grid)")
    p.add_argument("--title", help="the chart's title; any Unicode")
    p.add_argument("--xlabel", help="the x axis's label; any Unicode (Korean is drawn with NanumGothic when installed)")
    p.add_argument("--ylabel", help="the y axis's label; any Unicode")
    p.add_argument("--accuracy", metavar="FILE.csv",
                   help="plot accuracy against MACs (Canziani et al.): a CSV with the header name,accuracy "
                        "(MACs from the FILE of that network name) or name,accuracy,params,macs")
    return p


@dataclass(frozen=True)
class Point:
    name: str  # the network's title (`network NAME "TITLE"`), else its name
    set: dict[str, str]  # the swept values that made it ({} without --sweep)
    macs: int
    params: int
    memory: int  # activation bytes of one forward pass (eval mode)


def sweep_axes(items: list[str]) -> dict[str, list[str]]:
    """`["alpha=1,0.5"]` -> {"alpha": ["1", "0.5"]}; the sweep pass's parser when it is there."""
    try:
        from cnndsl.sweep import parse_axes
    except ImportError:  # pragma: no cover - the sweep pass (issue 4) not installed
        parse_axes = None
    if parse_axes is not None:
        return parse_axes(items)
    axes: dict[str, list[str]] = {}
    for item in items:
        key, eq, values = item.partition("=")
        vals = [v.strip() for v in values.split(",")]
        if not eq or not key.strip().isidentifier() or not all(vals) or key.strip() in axes:
            raise CnnError(f"--sweep takes NAME=V1,V2,... once per name, got '{item}'", hint="like --sweep width=16,32")
        axes[key.strip()] = vals
    return axes


def points(path: str, args, axes: dict[str, list[str]]) -> list[Point]:
    """The network at `path` evaluated at every combination of `axes` (the last axis varying fastest)."""
    from cnndsl.passes.shapes import analyze

    out = []
    for combo in itertools.product(*axes.values()):
        chosen = dict(zip(axes, combo))
        net = load(path, args, chosen)
        a = analyze(net)
        out.append(Point(net.title or net.name, chosen, a.macs, a.params, a.activations * BYTES))
    return out


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise CnnError("`cnndsl plot` needs matplotlib, which is not installed",
                       hint="pip install 'cnndsl[plot]'  (or: pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    matplotlib.rcParams["font.family"] = [f for f in FONTS if f in installed] or ["sans-serif"]
    matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, editable on a slide
    return plt


def _si(value: float, _pos=None) -> str:
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= div:
            return f"{value / div:g}{unit}"
    return f"{value:g}"


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")


def color(name: str) -> str:
    """A network's colour, the same on every run and in every chart: picked by a hash of its name."""
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


def _log_limits(values: list[float], pad: float = 0.35) -> tuple[float, float]:
    """Log-axis limits hugging the data: `pad` decades beyond the smallest and the largest value."""
    lo, hi = math.log10(min(values)), math.log10(max(values))
    return 10 ** (lo - pad), 10 ** (hi + pad)


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in display pixels


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _hits_circle(box: Box, cx: float, cy: float, r: float) -> bool:
    nx, ny = min(max(cx, box[0]), box[2]), min(max(cy, box[1]), box[3])
    return (nx - cx) ** 2 + (ny - cy) ** 2 < r * r


def place_labels(fig, ax, labels: list[tuple[str, float, float, float, str]], circles: list[tuple[float, float, float]],
                 obstacles: list[Box], size: int = 11) -> None:
    """Write each label (text, x, y, bubble radius in pixels, colour) near its bubble where its box
    meets no other label, no bubble (`circles`: x, y, radius in pixels) and no other text, inside the axes:
    spots tried on rings of growing distance around the bubble, eight directions each; a label set off
    its bubble gets a leader line."""
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    bubbles = [ax.transData.transform((x, y)).tolist() + [r] for x, y, r in circles]
    taken = list(obstacles)
    gap = 3 * fig.dpi / 72
    for text, x, y, r, colour in sorted(labels, key=lambda item: (item[1], item[2])):
        probe = ax.text(0, 0, text, fontsize=size)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        w, h = extent.width, extent.height
        cx, cy = ax.transData.transform((x, y))
        chosen = None
        for ring in range(12):
            d = r + gap + ring * h
            for k in range(8):
                a = math.pi / 4 * k + (math.pi / 8 if ring % 2 else 0)
                # the box's side nearest the bubble sits at distance d along the direction a
                bx = cx + d * math.cos(a) - w / 2 + math.copysign(w / 2, math.cos(a)) * (abs(math.cos(a)) > 0.3)
                by = cy + d * math.sin(a) - h / 2 + math.copysign(h / 2, math.sin(a)) * (abs(math.sin(a)) > 0.3)
                box = (bx, by, bx + w, by + h)
                if not (frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1):
                    continue
                if any(_overlaps(box, t) for t in taken) or any(_hits_circle(box, *b) for b in bubbles):
                    continue
                chosen = (box, ring)
                break
            if chosen:
                break
        box, ring = chosen or ((cx + r, cy + r, cx + r + w, cy + r + h), 0)
        taken.append(box)
        pos = ax.transData.inverted().transform((box[0], box[1]))
        leader = {"arrowprops": {"arrowstyle": "-", "color": colour, "lw": 0.8, "shrinkA": 0, "shrinkB": r}} \
            if ring else {}
        ax.annotate(text, (x, y), xytext=pos, textcoords="data", fontsize=size, ha="left",
                    va="bottom", color="#1f2328", **leader)


def draw(series: list[tuple[str, list[Point]]], output: str, title: str | None = None,
         xlabel: str | None = None, ylabel: str | None = None, accuracy: list | None = None) -> None:
    """Write the chart of `series` (label, points of one file) to `output`; with `accuracy`
    (`Accuracy` rows), accuracy against MACs, bubbles sized by params (Canziani et al.'s chart)."""
    fig = chart(series, title, xlabel, ylabel, accuracy)
    fig.savefig(output)
    fig.clf()


def chart(series, title=None, xlabel=None, ylabel=None, accuracy=None):
    """The matplotlib figure `draw` writes."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=150)
    if accuracy:
        pts = [(a.name, a.macs, a.accuracy, a.params) for a in accuracy]
        biggest = max(p[3] for p in pts) or 1
        sizes = [60 + 1400 * p[3] / biggest for p in pts]
        where = [(name, x, y, s, color(name), "") for (name, x, y, _), s in zip(pts, sizes)]
        default = ("MACs per image (multiply-accumulates)", "accuracy (%)",
                   "accuracy against cost: bubble area = parameters")
    else:
        everything = [p for _, ps in series for p in ps]
        biggest = max(p.memory for p in everything) or 1
        where = []
        for label, ps in series:
            keys = list(ps[0].set)
            groups: dict[tuple, list[Point]] = {}  # a sweep: one curve per value of the other params
            for p in ps:
                groups.setdefault(tuple(p.set[k] for k in keys[:-1]), []).append(p)
            for fixed, line in groups.items():
                fixed_text = ", ".join(f"{k}={v}" for k, v in zip(keys[:-1], fixed))
                c = color(f"{label} {fixed_text}".strip())
                if keys:
                    ax.plot([p.macs for p in line], [p.params for p in line], "-", color=c, alpha=0.8, zorder=2,
                            label=f"{label} {fixed_text}".strip())
                where += [(label if (not keys or (p is ps[0])) else "", p.macs, p.params,
                           60 + 1400 * p.memory / biggest, c, p.set[keys[-1]] if keys else "") for p in line]
        default = ("MACs per image (multiply-accumulates)", "parameters",
                   "cost of the networks: bubble area = activation memory (float32)")
    for name, x, y, s, c, _ in where:
        ax.scatter([x], [y], color=c, alpha=0.45, s=s, edgecolors=c, linewidths=1.2, zorder=3)
    ax.set_xscale("log")
    ax.set_xlim(*_log_limits([w[1] for w in where]))
    if accuracy:
        ys = [w[2] for w in where]
        span = max(max(ys) - min(ys), 1)
        ax.set_ylim(min(ys) - 0.2 * span, max(ys) + 0.2 * span)
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0) if max(ys) > 1 else PercentFormatter(1))
    else:
        ax.set_yscale("log")
        ax.set_ylim(*_log_limits([w[2] for w in where]))
        ax.yaxis.set_major_formatter(FuncFormatter(_si))
    ax.xaxis.set_major_formatter(FuncFormatter(_si))
    ax.set_xlabel(xlabel or default[0], fontsize=12)
    ax.set_ylabel(ylabel or default[1], fontsize=12)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.set_title(title or default[2], fontsize=14)
    if any(ax.get_lines()):
        last = next(list(p.set)[-1] for _, ps in series for p in ps if p.set)
        ax.legend(fontsize=9, loc="upper left", title=f"curves: along {last} (values under the bubbles)",
                  title_fontsize=9)
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    obstacles = []
    for _, x, y, s, c, value in where:  # a swept value sits under its bubble
        if value:
            t = ax.annotate(value, (x, y), textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8,
                            color=c)
            obstacles.append(tuple(t.get_window_extent(renderer).extents))
    legend = ax.get_legend()
    if legend:
        obstacles.append(tuple(legend.get_window_extent(renderer).extents))
    radius = fig.dpi / 72 / 2  # a marker of size s (points squared) is a circle of diameter sqrt(s) points
    place_labels(fig, ax, [(name, x, y, math.sqrt(s) * radius, c) for name, x, y, s, c, _ in where if name],
                 [(x, y, math.sqrt(s) * radius) for _, x, y, s, _, _ in where], obstacles)
    return fig


@dataclass(frozen=True)
class Accuracy:
    """One row of an `--accuracy` CSV: `name,accuracy[,params,macs]`."""

    name: str
    accuracy: float
    params: int
    macs: int


def read_accuracy(path: str, known: dict[str, Point]) -> list[Accuracy]:
    """The rows of `path`; a row without params and MACs takes them from the network of that name
    (or title) among the FILEs. A bad row is an error naming the file and the line."""
    import csv

    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise CnnError(f"--accuracy: cannot read '{path}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CnnError(f"--accuracy: '{path}' is not UTF-8 text") from None
    if not rows or [c.strip() for c in rows[0][:2]] != ["name", "accuracy"] or \
            [c.strip() for c in rows[0][2:]] not in ([], ["params", "macs"]):
        raise CnnError(f"{path}:1: the header must be `name,accuracy` or `name,accuracy,params,macs`",
                       hint="one network a line, like `resnet50,76.1`")
    width = len(rows[0])
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != width:
            raise CnnError(f"{path}:{line}: expected {width} values, got {len(row)}")
        name = row[0].strip()
        numbers = []
        for what, text in zip(("accuracy", "params", "macs"), row[1:]):
            try:
                value = float(text)
            except ValueError:
                raise CnnError(f"{path}:{line}: {what} '{text.strip()}' is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise CnnError(f"{path}:{line}: {what} must be a non-negative number, got '{text.strip()}'")
            numbers.append(value)
        if width == 2:
            if name not in known:
                raise CnnError(f"{path}:{line}: no network '{name}' among the FILEs to take its MACs from",
                               hint="name a FILE's network, or give params and macs columns")
            numbers += [known[name].params, known[name].macs]
        if numbers[2] <= 0:
            raise CnnError(f"{path}:{line}: macs must be positive for a log axis")
        out.append(Accuracy(name, numbers[0], int(numbers[1]), int(numbers[2])))
    if not out:
        raise CnnError(f"{path}: no rows under the header")
    return out


def run(args) -> int:
    fmt = Path(args.output).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise CnnError(f"cannot tell the format of '{args.output}'", hint=f"end the name in .{', .'.join(FORMATS)}")
    axes = sweep_axes(args.sweep)
    _pyplot()  # a missing matplotlib is reported before any work
    series = []
    for path in args.files:  # a file that lacks a swept param is one plain bubble (a baseline)
        swept = axes if all(k in load(path, args).params for k in axes) else {}
        series.append((path, swept))
    if axes and not any(swept for _, swept in series):
        points(args.files[0], args, axes)  # raises the positioned "no param" error
    series = [(pts[0].name, pts) for pts in (points(path, args, swept) for path, swept in series)]
    accuracy = None
    if args.accuracy:
        known = {}
        for path, pts in zip(args.files, (pts for _, pts in series)):
            net = load(path, args)
            known.update({net.name: pts[0], pts[0].name: pts[0]})
        accuracy = read_accuracy(args.accuracy, known)
    try:
        draw(series, args.output, args.title, args.xlabel, args.ylabel, accuracy)
    except OSError as exc:
        raise CnnError(f"cannot write '{args.output}': {exc.strerror}") from None
    for label, pts in series:
        for p in pts:
            extra = " ".join(f"{k}={v}" for k, v in p.set.items())
            print(f"{label}{' ' + extra if extra else ''}: {p.params:,} params, {p.macs:,} MACs, "
                  f"{p.memory / 2**20:.1f} MiB activations")
    print(f"wrote {args.output} ({', '.join(display(f) for f in args.files)})")
    return 0
