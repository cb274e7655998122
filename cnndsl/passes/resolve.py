"""Conditional residuals -> ordinary nodes, by shape.

`residual if_same < body >` adds its input only where the body keeps the shape. Which that is
depends on each occurrence's input shape (a block called in several places, a repeat's copies),
so it is decided here, once, right after elaboration (`cnndsl.parse` runs this pass only when
the program has such a node): every flagged residual becomes a plain `Residual` (identity
shortcut) where the body's output shape equals its input shape, and a `Group` of the body,
with the same name and call, elsewhere. Both number the body's statements from 0 in a scope of
their own, so module names, and thus `state_dict` keys, do not depend on the outcome. Stats,
the PyTorch module, the emitted source and the diagrams then see only ordinary nodes.

Where the shapes do not work, the network is returned as it is, so `cnndsl.parse` still checks
no shapes: every consumer of shapes (check, stats, build, render) runs `analyze` first and
reports the same positioned error (a flagged residual passes its body's shape on, as either
outcome would).

Example:
    >>> import cnndsl
    >>> net = cnndsl.parse("input 8x8x4; residual if_same < conv 1x1x4 >; residual if_same < conv 1x1x8 >")
    >>> [(n.kind, n.if_same) if n.kind == "residual" else n.kind for n in net.body]
    [('residual', False), 'group']
"""

from __future__ import annotations

from cnndsl.errors import CnnError
from cnndsl.ir import Network, Node
from cnndsl.layers.blocks import Container, Group, Residual
from cnndsl.passes.shapes import analyze
from cnndsl.record import checked


def resolve_residuals(network: Network) -> Network:
    """A new network in which no `Residual` has `if_same` set (`network` itself is not changed),
    or `network` if its shapes do not work (`analyze` reports why, positioned)."""
    try:
        rows = {id(r.node): r for r in analyze(network).rows}  # every occurrence is its own node object
    except CnnError:
        return network

    def node(n: Node) -> Node:
        if not isinstance(n, Container):
            return n
        flagged = isinstance(n, Residual) and n.if_same
        row = rows[id(n)] if flagged else None  # looked up before `n` is replaced by a copy
        n = _with_children(n, node)
        if not flagged:
            return n
        if row.input == row.output:
            return n.model_copy(update={"if_same": False})
        return checked(Group, name=n.name, span=n.span, call=n.call, children=n.body)

    body = tuple(node(n) for n in network.body)
    return network.model_copy(update={"body": body})


def _with_children(n: Container, f) -> Container:
    """`n` with `f` applied to every child node, in every field that holds a sequence of nodes
    (`children`, `body`, `shortcut`, `paths`, `copies`, ...); `n` itself if nothing changed."""
    update = {}
    for field in type(n).model_fields:
        v = getattr(n, field)
        if not isinstance(v, tuple) or not v:
            continue
        if isinstance(v[0], Node):
            new = tuple(f(c) for c in v)
        elif isinstance(v[0], tuple) and all(isinstance(c, Node) for seq in v for c in seq):
            new = tuple(tuple(f(c) for c in seq) for seq in v)
        else:
            continue
        if any(a is not b for a, b in zip(_flat(new), _flat(v))):
            update[field] = new
    return n.model_copy(update=update) if update else n


def _flat(v):
    for x in v:
        yield from (x if isinstance(x, tuple) else (x,))
