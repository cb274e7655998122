"""The layer registry: computed from the `Node` subclasses, never kept by hand.

`REGISTRY` maps each statement keyword to its class (a duplicate keyword fails at import);
`AnyNode` is the union of every kind (its Pydantic schema is discriminated by `kind`).
"""

from __future__ import annotations

import sys
from typing import Union

from cnndsl.ir import Network, Node
from cnndsl.layers import (  # noqa: F401  (registers)
    activation, attention, blocks, conv, dense, norm, pool, regularize, resample, scale)


def _concrete(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        if "kind" in sub.model_fields and sub.model_fields["kind"].default is not None and \
                isinstance(sub.model_fields["kind"].default, str):
            out.append(sub)
        out.extend(_concrete(sub))
    return out


KINDS: dict[str, type[Node]] = {}
REGISTRY: dict[str, type[Node]] = {}
for _cls in _concrete(Node):
    _kind = _cls.model_fields["kind"].default
    if _kind in KINDS and KINDS[_kind] is not _cls:
        raise TypeError(f"two node classes share kind {_kind!r}: {KINDS[_kind].__name__}, {_cls.__name__}")
    KINDS[_kind] = _cls
    for _kw in _cls.keywords:
        if _kw in REGISTRY:
            raise TypeError(f"keyword {_kw!r} is claimed by {REGISTRY[_kw].__name__} and {_cls.__name__}")
        REGISTRY[_kw] = _cls

AnyNode = Union[tuple(KINDS.values())]  # type: ignore[misc]

# `Body`, a tuple of any nodes, is a forward reference in the modules of `Network` and of the
# containers, resolved when a record is first validated (`cnndsl.record`: importing cnndsl builds no
# schema).
for _cls in (Network, *(c for c in KINDS.values() if issubclass(c, blocks.Container))):
    sys.modules[_cls.__module__].Body = tuple[AnyNode, ...]

__all__ = ["AnyNode", "KINDS", "REGISTRY"]
