"""Diff: line two networks up stage by stage and say what differs and what each difference costs.

Alignment works on module trees (a node without a module of its own, such as an unlabeled
`repeat`, is spliced into its parent): in each sequence, statements are matched by label, and
unlabeled ones by position, with `difflib` finding inserted and deleted layers among them (VGG19's
extra convolutions). Matched combinators are compared child by child; a node's options are its
fields, its children being those its class declares (`branch_fields`). Every row's `Δparams` and
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
from dataclasses import asdict, dataclass, replace

from cnndsl.passes.shapes import analyze


@dataclass(frozen=True)
class Change:
    """One difference: `change` is added, removed, changed (options) or resized (same statement,
    other input shape, so other figures); `d_params`/`d_macs` are B minus A. An added or removed
    weight layer comes with the activation and normalization it carries (one row, as a figure
    draws it), its lecture words in `options` (`3x3 conv, 512`)."""

    change: str
    name: str
    a: str
    b: str
    options: str
    d_params: int
    d_macs: int
    stage: str = ""  # where it sits: its top-level statement and the map it reads, `features 28x28`
    count: int = 1  # equal added or removed neighbours folded into this row (`name` is then `layer3.6..22`)

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
        out += _runs([_layer("removed", g, -1) for g in _folded(a[paired:])])
        out += _runs([_layer("added", g, 1) for g in _folded(b[paired:])])


def _runs(changes: list[Change]) -> list[Change]:
    """Equal neighbours (the 17 bottlenecks ResNet-101 adds to layer3) as one row with their `count`."""
    out: list[Change] = []
    for c in changes:
        last = out[-1] if out else None
        if last and (last.a, last.b, last.options, last.stage) == (c.a, c.b, c.options, c.stage) and \
                last.d_params // last.count == c.d_params and last.d_macs // last.count == c.d_macs:
            first = last.name.partition("..")[0]
            out[-1] = replace(last, name=f"{first}..{c.name.rpartition('.')[2]}", d_params=last.d_params + c.d_params,
                              d_macs=last.d_macs + c.d_macs, count=last.count + 1)
        else:
            out.append(c)
    return out


FOLDED = ("act", "norm")  # the families a figure draws under the weight layer they follow
WEIGHTED = ("conv", "fc")


def _folded(trees: list[_Tree]) -> list[list[_Tree]]:
    """Inserted (or deleted) statements grouped as the figures draw them: each weight layer with the
    normalizations and activations around it (`conv; relu`, or `relu; conv` when the alignment cut the
    repeating pattern there); anything else on its own."""
    groups: list[list[_Tree]] = []
    waiting: list[_Tree] = []  # folded kinds met before any weight layer of the run
    for t in trees:
        kind = None if t.kids else t.row.node.family
        if kind in FOLDED:
            if groups and groups[-1][0].row.node.family in WEIGHTED and not groups[-1][0].kids:
                groups[-1].append(t)
            else:
                waiting.append(t)
        elif kind in WEIGHTED:
            groups.append([t, *waiting])
            waiting = []
        else:
            groups += [[w] for w in waiting] + [[t]]
            waiting = []
    return groups + [[w] for w in waiting]


def _layer(change: str, group: list[_Tree], sign: int) -> Change:
    """One row for an added (sign 1) or removed (-1) group: named by its first (weight) layer, its
    statements joined with `; `, `options` the lecture words of its weight layer, where it sits in `stage`."""
    head = group[0]
    text = "; ".join(t.row.node.describe() for t in group)
    a, b = ("", text) if sign > 0 else (text, "")
    return Change(change, head.row.path, a, b, lecture(head.row.node), sign * sum(t.row.params for t in group),
                  sign * sum(_macs(t) for t in group), _stage(head.row))


def lecture(node) -> str:
    """A layer as the papers' figures write it: `3x3 conv, 512`, `3x3 conv, 128, /2`, `3x3 depthwise`,
    `fc, 1000`; any other statement as written."""
    if node.family not in WEIGHTED or node.takes_branches:
        return node.describe()
    if node.family == "fc":
        return f"fc, {node.out}"
    kernel = "x".join(map(str, node.kernel)) if len(set(node.kernel)) > 1 else f"{node.kernel[0]}x{node.kernel[0]}"
    stride = f", /{node.stride[0]}" if max(node.stride) > 1 else ""
    if node.kind == "dwconv":
        return f"{kernel} depthwise{stride}"
    return f"{kernel} conv, {node.out}{stride}"


def _stage(row) -> str:
    """Where a layer sits: its top-level statement's label (none for a positional one) and the map it reads."""
    top = row.path.split(".")[0]
    where = f"{'x'.join(map(str, row.input[:2]))}" if len(row.input) == 3 else "flat"
    return where if top.isdigit() else f"{top} {where}"


def _options(x, y) -> str:
    """The options that differ between two nodes of one kind: every field but the structure
    (children, as the class declares them in `branch_fields`; name, call, position)."""
    da = x.model_dump(exclude=_structure(x))
    db = y.model_dump(exclude=_structure(y))
    parts = []
    for k in dict.fromkeys([*da, *db]):
        if da.get(k) != db.get(k):
            parts.append(f"{k} {_val(da.get(k))}→{_val(db.get(k))}")
    return ", ".join(parts)


def _structure(node) -> set[str]:
    return {"span", "name", "call", "kind", *(f.rstrip("*") for f in getattr(node, "branch_fields", ()))}


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
            out.append(Change("changed", y.row.path, nx.describe(), ny.describe(), opts, dp, dm, _stage(y.row)))
        elif dp or dm or x.row.output != y.row.output:
            out.append(Change("resized", y.row.path, _io(x.row), _io(y.row), "input shape", dp, dm, _stage(y.row)))
        return
    opts = _options(nx, ny)
    if opts:  # the combinator's own options (e.g. the activation after a residual's sum): cost nothing
        out.append(Change("changed", y.row.path, nx.describe(), ny.describe(), opts, 0, 0))
    _align(x.kids, y.kids, out)


def _io(row) -> str:
    return f"{row.node.describe()} @ {'x'.join(map(str, row.input))}"
