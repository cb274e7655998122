"""`cnndsl plot FILE... -o OUT.png|svg [--sweep k=v1,v2 ...]`: compare networks on one chart.

One bubble per network at (MACs, params) on log axes, its area proportional to the activation
memory of a forward pass (float32), labeled by name: the cost half of Canziani et al. 2016, "An
Analysis of Deep Neural Network Models for Practical Applications" (arXiv:1605.07678). With
`--sweep`, every point of the grid is drawn and the points along the last swept param are joined
as a curve (one curve per value of the other params): the MobileNet width/resolution trade-off.
Files that do not declare every swept param are drawn as single bubbles, for comparison.
Needs matplotlib (`pip install 'cnndsl[plot]'`); imports no torch.
"""

from __future__ import annotations

import itertools
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
    return p


@dataclass(frozen=True)
class Point:
    name: str  # the network's name
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
        out.append(Point(net.name, chosen, a.macs, a.params, a.activations * BYTES))
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


def _place_names(fig, ax, names: list[tuple[str, Point]], size: int = 11) -> None:
    """Label each bubble, trying four spots around it so that close networks' names do not overlap."""
    scale = fig.dpi / 72
    spots = [(8, 6, "left"), (8, -16, "left"), (-8, 6, "right"), (-8, -16, "right")]
    taken: list[tuple[float, float, float, float]] = []
    for label, p in sorted(names, key=lambda n: (n[1].macs, n[1].params)):
        x, y = ax.transData.transform((p.macs, p.params))
        w, h = len(label) * size * 0.62 * scale, size * 1.2 * scale
        for dx, dy, align in spots:
            x0 = x + dx * scale - (w if align == "right" else 0)
            y0 = y + dy * scale
            box = (x0, y0, x0 + w, y0 + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
                break
        taken.append(box)
        ax.annotate(label, (p.macs, p.params), textcoords="offset points", xytext=(dx, dy), fontsize=size,
                    ha=align, color="#1f2328", fontweight="bold")


def draw(series: list[tuple[str, list[Point]]], output: str, title: str | None = None) -> None:
    """Write the chart of `series` (label, points of one file) to `output`."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    everything = [p for _, pts in series for p in pts]
    biggest = max(p.memory for p in everything) or 1
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=150)
    colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 10)
    names: list[tuple[str, Point]] = []
    for label, pts in series:
        keys = list(pts[0].set)
        # a sweep: one curve per value of the other params, along the last swept param
        groups: dict[tuple, list[Point]] = {}
        for p in pts:
            groups.setdefault(tuple(p.set[k] for k in keys[:-1]), []).append(p)
        for fixed, line in groups.items():
            color = next(colors)
            ax.scatter([p.macs for p in line], [p.params for p in line], color=color, alpha=0.45,
                       s=[60 + 1400 * p.memory / biggest for p in line], edgecolors=color, linewidths=1.2, zorder=3)
            if keys:
                fixed_text = ", ".join(f"{k}={v}" for k, v in zip(keys[:-1], fixed))
                ax.plot([p.macs for p in line], [p.params for p in line], "-", color=color, alpha=0.8, zorder=2,
                        label=f"{label} {fixed_text}".strip())
                for p in line:
                    ax.annotate(p.set[keys[-1]], (p.macs, p.params), textcoords="offset points", xytext=(0, -14),
                                ha="center", fontsize=8, color=color)
        names += [(label, p) for p in (pts[:1] if keys else pts)]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(0.25)
    _place_names(fig, ax, names)
    ax.xaxis.set_major_formatter(FuncFormatter(_si))
    ax.yaxis.set_major_formatter(FuncFormatter(_si))
    ax.set_xlabel("MACs per image (multiply-accumulates)", fontsize=12)
    ax.set_ylabel("parameters", fontsize=12)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.set_title(title or "cost of the networks: bubble area = activation memory (float32)", fontsize=14)
    if any(p.set for p in everything):
        last = next(list(p.set)[-1] for p in everything if p.set)
        ax.legend(fontsize=9, loc="best", title=f"curves: along {last} (values under the bubbles)",
                  title_fontsize=9)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


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
    try:
        draw(series, args.output, args.title)
    except OSError as exc:
        raise CnnError(f"cannot write '{args.output}': {exc.strerror}") from None
    for label, pts in series:
        for p in pts:
            extra = " ".join(f"{k}={v}" for k, v in p.set.items())
            print(f"{label}{' ' + extra if extra else ''}: {p.params:,} params, {p.macs:,} MACs, "
                  f"{p.memory / 2**20:.1f} MiB activations")
    print(f"wrote {args.output} ({', '.join(display(f) for f in args.files)})")
    return 0
