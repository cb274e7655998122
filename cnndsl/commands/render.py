"""`cnndsl render FILE [-o OUT.svg|.png|.pdf|.dot|.tex] ...`: a network's diagram (Graphviz) or volume drawing."""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

from cnndsl.commands import add_set, load
from cnndsl.errors import CnnError

FORMATS = {"graph": ("svg", "png", "pdf", "dot"), "volumes": ("svg", "png", "pdf", "tex")}


def add_parser(sub):
    p = sub.add_parser("render", help="draw a network's diagram (SVG, PNG, PDF or DOT)",
                       description="Draw the network as a Graphviz diagram: block calls and repeats collapsed, "
                                   "tensor shapes (H x W x C) on the edges, colors by layer family. "
                                   "The format follows the suffix of -o; without -o the DOT text is printed.")
    p.add_argument("file", metavar="FILE", help="a .cnn file, or a shipped architecture by name")
    p.add_argument("-o", "--output", metavar="OUT", help="OUT.svg, OUT.png, OUT.pdf, OUT.dot (graph) or OUT.tex (volumes)")
    p.add_argument("--style", choices=tuple(FORMATS), default="graph",
                   help="graph: a Graphviz diagram (default); volumes: the paper figure, a 3D box per feature map")
    add_set(p)
    p.add_argument("--depth", type=int, default=0, metavar="N", help="open block calls N levels deep (default 0)")
    p.add_argument("--expand", action="store_true", help="open every block and repeat: one node per layer")
    p.add_argument("--rankdir", choices=("TB", "LR"), help="top to bottom (default) or left to right (graph style)")
    p.add_argument("--no-shapes", dest="shapes", action="store_false", help="leave the shapes off the edges")
    p.add_argument("--params", action="store_true", help="show each node's parameter count (graph style)")
    p.add_argument("--kernels", action="store_true", help="kernel pyramids from each conv's window (volumes style)")
    p.add_argument("--theme", choices=("light", "dark", "print"), default="light", help="colors (default light)")
    p.add_argument("--fit", metavar="RATIO", help="fit a slide: 16:9, 4:3 or WxH pixels; a long chain is laid out in "
                                                 "columns, fonts sized so text reads at that size")
    p.add_argument("--focus", metavar="LABEL", help="draw only that statement, opened (a label, or a nested name "
                                                    "such as layer1.0)")
    p.add_argument("--no-fold", dest="fold", action="store_false",
                   help="draw batch norms and activations as nodes of their own (default: folded into the layer before)")
    p.add_argument("--title", help="the diagram's title (default: the program's `network NAME \"TITLE\"`, else its name); any Unicode")
    return p


def output_format(path: str, style: str = "graph") -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS[style]:
        raise CnnError(f"cannot tell the format of '{path}'" if fmt not in {f for fs in FORMATS.values() for f in fs}
                       else f"--style {style} cannot write .{fmt}", hint=f"end the name in .{', .'.join(FORMATS[style])}")
    return fmt


def run(args) -> int:
    if args.depth < 0:
        raise CnnError(f"--depth must be 0 or more, got {args.depth}")
    for option, style, given in (("--kernels", "volumes", args.kernels), ("--rankdir", "graph", args.rankdir),
                                 ("--params", "graph", args.params), ("--no-fold", "graph", not args.fold)):
        if given and args.style != style:
            raise CnnError(f"{option} applies to --style {style} only")
    fmt = output_format(args.output, args.style) if args.output else {"graph": "dot", "volumes": "svg"}[args.style]
    net = load(args.file, args)
    shared = dict(depth=args.depth, expand=args.expand, shapes=args.shapes, theme=args.theme, title=args.title,
                  **{k: v for k, v in (("fit", args.fit), ("focus", args.focus)) if v is not None})
    if args.style == "volumes":
        from cnndsl.backends.volumes import render

        data = render(net, fmt, kernels=args.kernels, **shared)
    else:
        from cnndsl.backends.graphviz import render

        data = render(net, fmt, rankdir=args.rankdir or "TB", params=args.params, fold=args.fold, **shared)
    if args.output:
        try:
            Path(args.output).write_bytes(data)
        except OSError as exc:
            raise CnnError(f"cannot write '{args.output}': {exc.strerror}") from None
        print(f"wrote {args.output}{measured(data, fmt)}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0


def measured(data: bytes, fmt: str) -> str:
    """The picture's size as its file states it: ` (1419x811 px)` for PNG (the IHDR chunk), the root's
    width and height for SVG (` (553x1023 pt)`), the page for PDF; `""` for DOT."""
    if fmt == "png" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return f" ({width}x{height} px)"
    if fmt == "svg":
        root = re.search(rb"<svg\b[^>]*", data)
        dims = [re.search(rb'\s%s="([\d.]+)([a-z]*)"' % key, root[0]) for key in (b"width", b"height")] if root else []
        if dims and all(dims):
            (w, wu), (h, hu) = ((d[1].decode(), d[2].decode() or "px") for d in dims)
            return f" ({w}x{h} {wu})" if wu == hu else f" ({w}{wu} x {h}{hu})"
    if fmt == "pdf":
        box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", data)
        if box:
            x0, y0, x1, y1 = (float(v) for v in box.groups())
            return f" ({x1 - x0:g}x{y1 - y0:g} pt)"
    return ""
