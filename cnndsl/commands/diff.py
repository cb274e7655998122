"""`cnndsl diff A B [--set k=v]... [--set-a k=v]... [--set-b k=v]... [--json|--markdown|--csv]`:
line two networks up stage by stage and show what differs and what each difference costs
(the algorithm is `cnndsl.passes.diff`).
"""

from __future__ import annotations

import sys

from cnndsl.commands import add_set, display, load, parse_sets
from cnndsl.errors import CnnError
from cnndsl.passes.diff import diff


def add_parser(sub):
    p = sub.add_parser("diff", help="line two networks up stage by stage and show what differs and what it costs",
                       description="Align A and B by label, then position; list added, removed and changed "
                                   "layers with the params and MACs each difference costs.")
    p.add_argument("a", metavar="A", help="a .cnn file, or a shipped architecture by name")
    p.add_argument("b", metavar="B", help="the file to compare with (may be A again, with other --set-b values)")
    add_set(p)
    p.add_argument("--set-a", dest="sets_a", action="append", default=[], metavar="K=V",
                   help="override a param of A only")
    p.add_argument("--set-b", dest="sets_b", action="append", default=[], metavar="K=V",
                   help="override a param of B only (`cnndsl diff mobilenet mobilenet --set-b alpha=0.5`)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="fmt", action="store_const", const="json", help="a JSON object")
    fmt.add_argument("--markdown", dest="fmt", action="store_const", const="markdown", help="a markdown table")
    fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv", help="one CSV row per difference")
    p.set_defaults(fmt="text")
    return p


def run(args) -> int:
    import json

    from cnndsl.backends.table import diff_table, render, signed
    from cnndsl.stats import compute

    for flag, sets in (("--set-a", args.sets_a), ("--set-b", args.sets_b)):
        both = sorted(set(parse_sets(sets)) & set(parse_sets(args.sets)))
        if both:
            raise CnnError(f"'{both[0]}' is given by --set and {flag}")
    a_net = load(args.a, args, parse_sets(args.sets_a), "--set-a")
    b_net = load(args.b, args, parse_sets(args.sets_b), "--set-b")
    changes = diff(a_net, b_net)
    sa, sb = compute(a_net), compute(b_net)
    totals = []
    for title, key in (("params", "params"), ("MACs", "macs"), ("FLOPs", "flops")):
        va, vb = getattr(sa, key), getattr(sb, key)
        pct = f", {100 * (vb - va) / va:+.1f}%" if va else ""
        totals.append({"figure": title, "a": f"{va:,}", "b": f"{vb:,}", "delta": f"{signed(vb - va)}{pct}"})
    if args.fmt == "json":
        obj = {"a": {"file": display(args.a), "network": sa.network, "params": sa.params, "macs": sa.macs,
                     "flops": sa.flops},
               "b": {"file": display(args.b), "network": sb.network, "params": sb.params, "macs": sb.macs,
                     "flops": sb.flops},
               "changes": [c.record() for c in changes]}
        sys.stdout.write(json.dumps(obj, indent=1) + "\n")
        return 0
    a_name, b_name = _names(args, sa, sb)
    table = diff_table(changes, a_name, b_name, totals)
    if not changes:
        table.footer.insert(0, "no differences")
    table.title = f"{a_name} -> {b_name}"
    sys.stdout.write(render(table, args.fmt) + "\n")
    return 0


def _names(args, sa, sb) -> tuple[str, str]:
    a = sa.network + "".join(f" {s}" for s in args.sets_a)
    b = sb.network + "".join(f" {s}" for s in args.sets_b)
    if a == b:
        a, b = display(args.a), display(args.b)
    return a, b
