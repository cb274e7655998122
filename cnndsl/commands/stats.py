"""`cnndsl stats FILE... [--set k=v]... [--json|--markdown|--csv] [--depth N] [--sweep k=v1,v2]...
[--max-params N] [--max-macs N] [--columns A,B,... [--units human] [--transpose]]`: exact params, MACs, FLOPs, memory and receptive field, per layer
and in total, computed statically (torch is never imported)."""

from __future__ import annotations

import sys

from cnndsl.commands import add_set, display, load
from cnndsl.errors import CnnError


def add_parser(sub):
    p = sub.add_parser(
        "stats", help="params, MACs, FLOPs, memory and receptive field, per layer and in total",
        description="Per-layer and total figures of each program, computed from the IR without torch. "
                    "One file: a per-layer table; several: a comparison. MACs = FlopCounterMode total / 2.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a .cnn file, or a shipped architecture by name")
    add_set(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="fmt", action="store_const", const="json",
                     help="one JSON object per file (a list for several files or a sweep)")
    fmt.add_argument("--markdown", dest="fmt", action="store_const", const="markdown", help="markdown tables")
    fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv", help="one CSV row per layer")
    p.set_defaults(fmt="text")
    p.add_argument("--depth", type=int, metavar="N",
                   help="show N levels of nesting (1: top-level statements only, blocks folded); "
                        f"text and markdown default to {TEXT_DEPTH}, json and csv to every layer")
    p.add_argument("--columns", metavar="A,B,...",
                   help="a summary of the chosen figures instead of the per-layer table: "
                        "params, aux_params, macs, flops, activations, peak, memory, depth (weight layers, "
                        "as the papers count them), rf, stride, input, output")
    p.add_argument("--units", choices=("exact", "human"), default="exact",
                   help="with --columns: exact counts (25,557,032) or units (25.6M, 4.09G) in text and markdown")
    p.add_argument("--transpose", action="store_true",
                   help="one row per network, the figures as columns (a slide's table); implies --columns "
                        f"{','.join(DEFAULT_COLUMNS)} unless given")
    p.add_argument("--sweep", action="append", default=[], metavar="K=V1,V2",
                   help="evaluate every combination of these param values (repeatable), sorted by MACs")
    p.add_argument("--max-params", metavar="N", help="with --sweep: keep combinations with at most N params (25M)")
    p.add_argument("--max-macs", metavar="N", help="with --sweep: keep combinations with at most N MACs (4.1G)")
    return p


TEXT_DEPTH = 2  # a 1,000-row table helps nobody on a terminal; json/csv stay complete
DEFAULT_COLUMNS = ("params", "macs", "depth", "rf")


def run(args) -> int:
    from cnndsl.backends.table import compare_table, layer_csv_table, layer_table, render, summary_table
    from cnndsl.stats import compute

    if args.depth is not None and args.depth < 1:
        raise CnnError(f"--depth must be at least 1, got {args.depth}", hint="--depth 1 shows top-level statements")
    columns = _columns(args)
    if columns and (args.depth is not None or args.sweep):
        flag = "--depth" if args.depth is not None else "--sweep"
        raise CnnError(f"{flag} does not apply to a summary table (--columns, --transpose)",
                       hint="leave one of them out")
    if args.depth is None and args.fmt in ("text", "markdown"):
        args.depth = TEXT_DEPTH
    if args.sweep:
        return _sweep(args)
    if args.max_params or args.max_macs:
        raise CnnError("--max-params and --max-macs filter a --sweep", hint="add --sweep NAME=V1,V2,...")
    stats = [folded(compute(load(path, args)), args.depth) for path in args.files]
    out = sys.stdout
    names = [s.network for s in stats] if len({s.network for s in stats}) == len(stats) else [
        display(p) for p in args.files]
    if columns:  # json: the table's records
        table = summary_table(stats, names, columns, args.units, args.transpose)
        out.write(render(table, args.fmt) + "\n")
    elif args.fmt == "json":
        if len(stats) == 1:
            out.write(stats[0].model_dump_json(indent=1) + "\n")
        else:
            out.write("[\n" + ",\n".join(s.model_dump_json(indent=1) for s in stats) + "\n]\n")
    elif args.fmt == "csv":
        out.write(render(layer_csv_table(stats), "csv") + "\n")
    else:
        parts = [render(layer_table(s), args.fmt) for s in stats]
        if len(stats) > 1:
            parts = [render(compare_table(stats, names), args.fmt)]
        out.write("\n\n".join(parts) + "\n")
    return 0


def _columns(args) -> list[str]:
    """The figures `--columns` names (checked), `DEFAULT_COLUMNS` for a bare `--transpose`, else none."""
    from cnndsl.backends.table import FIGURES

    if args.columns is None:
        if args.transpose:
            return list(DEFAULT_COLUMNS)
        if args.units != "exact":
            raise CnnError("--units applies to a summary", hint="add --columns params,macs,depth,rf or --transpose")
        return []
    columns = [c.strip() for c in args.columns.split(",")]
    for c in columns:
        if c not in FIGURES:
            raise CnnError(f"--columns: unknown figure '{c}'", hint=f"choose from {', '.join(FIGURES)}")
    return columns


def folded(stats, depth):
    """`stats` with only the layers at most `depth` levels deep (totals unchanged)."""
    if depth is None:
        return stats
    return stats.model_copy(update={"layers": [layer for layer in stats.layers if layer.depth < depth]})


def _sweep(args) -> int:
    import json

    import cnndsl
    from cnndsl.backends.table import render, sweep_table
    from cnndsl.commands import parse_sets
    from cnndsl.sweep import parse_axes, sweep

    axes = parse_axes(args.sweep)
    base = parse_sets(args.sets)
    both = sorted(set(base) & set(axes))
    if both:
        raise CnnError(f"'{both[0]}' is both --set and --sweep", hint="give it in one of them")
    points = []
    for path in args.files:
        def make(path=path, **combo):
            return cnndsl.parse_file(path, allow_outside=args.allow_outside, **base, **combo)
        points += sweep(make, axes, max_params=args.max_params, max_macs=args.max_macs)
    if len(args.files) > 1:
        points.sort(key=lambda p: (p.stats.macs, p.stats.params))
    if args.fmt == "json":
        objs = [{"set": p.set, **folded(p.stats, args.depth).model_dump()} for p in points]
        sys.stdout.write(json.dumps(objs, indent=1) + "\n")
    else:
        table = sweep_table(points, list(axes))
        if not points:
            table.footer.insert(0, "no combination is within the budget")
        sys.stdout.write(render(table, args.fmt) + "\n")
    return 0
