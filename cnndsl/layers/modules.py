"""What a layer becomes in PyTorch, as plain records (no torch here).

Each leaf class's `module(x, y)` returns a `Leaf` of `TorchCall`s; `cnndsl.backends.torch_module`
turns them into modules and `cnndsl.backends.torch_source` writes them as source, so the two
cannot disagree. The activation table is `cnndsl.layers.base.ACTIVATIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnndsl.layers.base import ACTIVATIONS

# The classes of `cnndsl.backends.runtime` a leaf may name (the rest are `torch.nn` classes).
RUNTIME_CLASSES = frozenset({"SqueezeExcite", "LayerNorm2d", "ChannelLinear", "StochasticDepth", "Resize"})


@dataclass(frozen=True)
class TorchCall:
    """One module constructor call: `cls` is a `torch.nn` class ("Conv2d") or one of
    `RUNTIME_CLASSES`; arguments are plain values (a `str` is a string, never code)."""

    cls: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


def call(cls: str, *args: Any, **kwargs: Any) -> TorchCall:
    return TorchCall(cls, args, tuple(kwargs.items()))


@dataclass(frozen=True)
class Leaf:
    """A leaf statement's module: one part is the module itself; several (a fused `conv bn relu`)
    are the children of an `nn.Sequential`, named after their kinds. A leaf with `parameter` and
    no parts is a bare parameter of the enclosing module (`layer_scale: scale`): a tensor of
    that shape filled with that value, multiplied into its input."""

    parts: tuple[tuple[str, TorchCall], ...]
    parameter: tuple[tuple[int, ...], float] | None = None
    flatten: bool = False  # flatten a 1 x 1 x C input first (an `fc` after `gap`)
    fresh: bool = False  # writes a new tensor whose producer needs no output for backward (in-place safe)


def one(name: str, tc: TorchCall) -> Leaf:
    return Leaf(((name, tc),))


def act_kwargs(fn: str, slope: float) -> dict[str, Any]:
    if fn == "softmax":
        return {"dim": 1}
    if fn == "leakyrelu" and slope != 0.01:
        return {"negative_slope": slope}
    return {}


def act_module(fn: str, slope: float = 0.01, inplace: bool = False) -> TorchCall:
    kw = act_kwargs(fn, slope)
    if inplace and ACTIVATIONS[fn].inplace:
        kw["inplace"] = True
    return call(ACTIVATIONS[fn].module, **kw)


# ("F.relu", keyword-argument pairs), or None
ActFunction = tuple[str, tuple[tuple[str, Any], ...]] | None


def act_function(fn: str | None, slope: float = 0.01) -> ActFunction:
    """The functional form of an activation applied after a join (it owns no module name)."""
    if fn is None:
        return None
    return (ACTIVATIONS[fn].function, tuple(act_kwargs(fn, slope).items()))


def pair(p: tuple[int, int]) -> int | tuple[int, int]:
    """A torch size argument: `3` for (3, 3), `(3, 1)` otherwise."""
    return p[0] if p[0] == p[1] else p


def fused(node, main: tuple[str, TorchCall] | None, channels: int, flat: bool, **extra) -> Leaf:
    """`main` (a conv or linear layer, or none for `bn`), then batch norm and the activation if set."""
    parts = [main] if main else []
    if node.bn:
        kw = {}
        if node.eps != 1e-5:
            kw["eps"] = node.eps
        if node.momentum != 0.1:
            kw["momentum"] = node.momentum
        parts.append(("bn", call("BatchNorm1d" if flat else "BatchNorm2d", channels, **kw)))
    if node.act:
        parts.append(("act", act_module(node.act, node.slope, inplace=bool(parts))))
    return Leaf(tuple(parts), fresh=not node.act, **extra)
