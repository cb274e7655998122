"""`cnndsl diff A B [--set k=v]... [--set-a k=v]... [--set-b k=v]... [--json|--markdown|--csv]`:
line two networks up stage by stage and show what differs and what each difference costs.

Alignment works on module trees (a node without a module of its own, such as an unlabeled
`repeat`, is spliced into its parent): in each sequence, statements are matched by label, and
unlabeled ones by position, with `difflib` finding inserted and deleted layers among them (VGG19's
extra convolutions). Matched combinators are compared child by child. Every row's `Δparams` and
`ΔMACs` are exact, and the rows add up to the difference of the totals.

Example:
    >>> import cnndsl
    >>> a = cnndsl.parse("input 8x8x3; conv 3x3x4; gap; fc 2")
    >>> b = cnndsl.parse("input 8x8x3; conv 3x3x4; conv 1x1x4; gap; fc 2")
    >>> [(c.change, c.b, c.d_params) for c in diff(a, b)]
    [('added', 'conv 1x1x4', 20)]
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import asdict, dataclass

from cnndsl.commands import add_set, display, load, parse_sets
from cnndsl.errors import CnnError

# fields that hold children or positions, not options
_STRUCTURE = {"span", "name", "call", "children", "body", "shortcut", "paths", "copies", "kind"}


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


@dataclass(frozen=True)
class Change:
    """One difference: `change` is added, removed, changed (options) or resized (same statement,
    other input shape, so other figures); `d_params`/`d_macs` are B minus A."""

    change: str
    name: str
    a: str
    b: str
    options: str
    d_params: int
    d_macs: int

    def record(self) -> dict:
        return asdict(self)


class _Tree:
    __slots__ = ("row", "kids")

    def __init__(self, row, kids):
        self.row, self.kids = row, kids


def module_tree(analysis) -> list[_Tree]:
    """The rows of `analysis` as a tree of modules (nodes without a module spliced into their parent)."""
    rows = analysis.rows
    kids: dict[int | None, list[int]] = {}
    for i, r in enumerate(rows):
        kids.setdefault(r.parent, []).append(i)

    def build(indices: list[int]) -> list[_Tree]:
        out = []
        for i in indices:
            if rows[i].node.name:
                out.append(_Tree(rows[i], build(kids.get(i, []))))
            else:
                out.extend(build(kids.get(i, [])))
        return out

    return build(kids.get(None, []))


def diff(a_net, b_net) -> list[Change]:
    """Differences between two networks, stage by stage, each with its exact params/MACs cost.

    The `d_params` of all changes add up to `params(B) - params(A)`, and `d_macs` to the
    difference of eval-mode MACs.
    """
    from cnndsl.passes.shapes import analyze

    out: list[Change] = []
    _align(module_tree(analyze(a_net)), module_tree(analyze(b_net)), out)
    return out


def _label(t: _Tree) -> str | None:
    name = t.row.node.name
    return None if name.isdigit() else name


def _sig(t: _Tree, strict: bool) -> tuple:
    lab = _label(t)
    if lab:
        return ("@", lab)
    return (t.row.node.describe(), t.row.input) if strict else (t.row.node.describe(),)


def _macs(t: _Tree) -> int:
    return 0 if t.row.aux else t.row.macs


def _align(xs: list[_Tree], ys: list[_Tree], out: list[Change], strict: bool = True) -> None:
    """Match two sequences: labels and (statement, input shape) first; within what is left,
    statements alone; then, still unmatched, unlabeled statements of one kind by position."""
    sm = difflib.SequenceMatcher(None, [_sig(t, strict) for t in xs], [_sig(t, strict) for t in ys], autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        a, b = xs[i1:i2], ys[j1:j2]
        if op == "equal":
            for x, y in zip(a, b):
                _compare(x, y, out)
            continue
        if strict and a and b:
            _align(a, b, out, strict=False)
            continue
        paired = 0
        while paired < min(len(a), len(b)) and a[paired].row.node.kind == b[paired].row.node.kind and \
                _label(a[paired]) is None and _label(b[paired]) is None:
            _compare(a[paired], b[paired], out)
            paired += 1
        for x in a[paired:]:
            out.append(Change("removed", x.row.path, x.row.node.describe(), "", "", -x.row.params, -_macs(x)))
        for y in b[paired:]:
            out.append(Change("added", y.row.path, "", y.row.node.describe(), "", y.row.params, _macs(y)))


def _options(x, y) -> str:
    da = x.model_dump(exclude=_STRUCTURE)
    db = y.model_dump(exclude=_STRUCTURE)
    parts = []
    for k in dict.fromkeys([*da, *db]):
        if da.get(k) != db.get(k):
            parts.append(f"{k} {_val(da.get(k))}→{_val(db.get(k))}")
    return ", ".join(parts)


def _val(v) -> str:
    if isinstance(v, (list, tuple)):
        return "x".join(str(d) for d in v) if len(set(v)) > 1 else str(v[0])
    return str(v)


def _compare(x: _Tree, y: _Tree, out: list[Change]) -> None:
    nx, ny = x.row.node, y.row.node
    dp, dm = y.row.params - x.row.params, _macs(y) - _macs(x)
    if nx.kind != ny.kind or (not x.kids) != (not y.kids):
        out.append(Change("removed", x.row.path, nx.describe(), "", "", -x.row.params, -_macs(x)))
        out.append(Change("added", y.row.path, "", ny.describe(), "", y.row.params, _macs(y)))
        return
    if not x.kids:
        opts = _options(nx, ny)
        if opts or nx.describe() != ny.describe():
            out.append(Change("changed", y.row.path, nx.describe(), ny.describe(), opts, dp, dm))
        elif dp or dm or x.row.output != y.row.output:
            out.append(Change("resized", y.row.path, _io(x.row), _io(y.row), "input shape", dp, dm))
        return
    opts = _options(nx, ny)
    if opts:  # the combinator's own options (e.g. the activation after a residual's sum): cost nothing
        out.append(Change("changed", y.row.path, nx.describe(), ny.describe(), opts, 0, 0))
    _align(x.kids, y.kids, out)


def _io(row) -> str:
    return f"{row.node.describe()} @ {'x'.join(map(str, row.input))}"


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
