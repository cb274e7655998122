"""`cnndsl check FILE... [--set k=v]... [--ir]`: validate programs (syntax, names, values, shapes)."""

from __future__ import annotations

import sys

from cnndsl.commands import add_set, display, load


def add_parser(sub):
    p = sub.add_parser("check", help="validate programs and print a one-line summary each",
                       description="Parse, elaborate and shape-check each program.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a .cnn file, or a shipped architecture by name")
    add_set(p)
    p.add_argument("--ir", action="store_true", help="print the IR as JSON instead of a summary")
    return p


def run(args) -> int:
    from cnndsl.ir import fmt_shape
    from cnndsl.passes.shapes import analyze

    for path in args.files:
        net = load(path, args)
        a = analyze(net)
        if args.ir:
            sys.stdout.write(net.model_dump_json(indent=1) + "\n")
        else:
            layers = sum(1 for r in a.rows if not r.node.takes_branches)
            print(f"{display(path)}: ok: {net.name}, {fmt_shape(net.input)} -> {fmt_shape(a.output)}, "
                  f"{layers} layers, {a.params:,} params, {a.macs:,} MACs")
    return 0
