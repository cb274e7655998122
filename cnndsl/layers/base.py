"""What the layer classes share: reading statement arguments, and the fused `bn` + activation
tail that `conv`, `dwconv`, `fc` and `bn` statements may carry."""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from cnndsl.errors import CnnError, did_you_mean
from cnndsl.ir import Node, Opt, Shape, bounded, parse_number
from cnndsl.source import Span


class Act(NamedTuple):
    """An activation function: its `torch.nn` class, whether that takes `inplace`, its functional
    form (applied after a join, which owns no module), and its FLOPs per element (docs/stats.md)."""

    module: str
    inplace: bool
    function: str
    flops: int


# The one activation table: validation, figures, the PyTorch module and the emitted source read it.
ACTIVATIONS: dict[str, Act] = {
    "relu": Act("ReLU", True, "F.relu", 1),
    "relu6": Act("ReLU6", True, "F.relu6", 2),
    "sigmoid": Act("Sigmoid", False, "torch.sigmoid", 4),
    "tanh": Act("Tanh", False, "torch.tanh", 4),
    "softmax": Act("Softmax", False, "F.softmax", 3),
    "silu": Act("SiLU", True, "F.silu", 5),
    "hardswish": Act("Hardswish", True, "F.hardswish", 4),
    "leakyrelu": Act("LeakyReLU", True, "F.leaky_relu", 2),
    "gelu": Act("GELU", False, "F.gelu", 8),
}
ActName = Literal["relu", "relu6", "sigmoid", "tanh", "softmax", "silu", "hardswish", "leakyrelu", "gelu"]


class Args:
    """A statement's arguments sorted into numbers (`3x3x64`), flags (`same`), prefixed numbers
    (`s2`, `p1x0`) and keyword values (`r=16`), with positioned errors for anything unknown.

    Every word must be used: a number is an error unless the statement takes one (`dims`);
    `bare` names the key such a number was probably meant for (`se 8` -> `se r=8`)."""

    def __init__(self, keyword: str, opts: list[Opt], span: Span, *, flags=(), prefixes=(), keys=(), dims=False,
                 bare: str | None = None):
        self.keyword, self.span = keyword, span
        self.dims: list[Opt] = []
        self.flags: dict[str, Opt] = {}
        self.pre: dict[str, tuple[list, Opt]] = {}
        self.keys: dict[str, Opt] = {}
        known = [*flags, *(f"{p}N" for p in prefixes), *(f"{k}=" for k in keys)]
        for o in opts:
            if o.key is not None:
                if o.key not in keys:
                    raise CnnError(f"'{keyword}' has no option '{o.key}='", o.span,
                                   did_you_mean(o.key, keys) or _options_hint(keyword, known))
                self._put(self.keys, o.key, o, o)
            elif o.value in flags:
                self._put(self.flags, o.value, o, o)
            elif o.nums is not None:
                if not dims:
                    raise CnnError(f"'{keyword}' takes no positional value", o.span,
                                   f"did you mean '{keyword} {bare}={o.value}'?" if bare else
                                   _options_hint(keyword, known))
                self.dims.append(o)
            else:
                p = o.value.rstrip("0123456789.x-")
                rest = o.value[len(p):]
                nums = [parse_number(t) for t in rest.split("x")] if rest else None
                if p in prefixes and nums and None not in nums:
                    self._put(self.pre, p, (nums, o), o)
                else:
                    raise CnnError(f"unknown option '{o.value}' for '{keyword}'", o.span,
                                   did_you_mean(o.value, [*flags, *keys]) or _options_hint(keyword, known))

    def _put(self, table: dict, key: str, value, opt: Opt) -> None:
        if key in table:
            raise CnnError(f"'{key}' given twice", opt.span)
        table[key] = value

    def flag(self, name: str) -> bool:
        return name in self.flags

    def one_of(self, names, what: str) -> str | None:
        given = [n for n in self.flags if n in names]
        if len(given) > 1:
            raise CnnError(f"more than one {what}: {', '.join(given)}", self.flags[given[1]].span)
        return given[0] if given else None

    def number(self, key: str, default=None, *, minimum=None, below=None, what=None):
        o = self.keys.get(key)
        if o is None:
            return default
        v = parse_number(o.value)
        what = what or f"{key}"
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            raise CnnError(f"{what} must be a number, got '{o.value}'", o.span)
        bounded(v, o.span)
        if minimum is not None and v < minimum:
            raise CnnError(f"{what} must be at least {minimum}, got {v:g}", o.span)
        if below is not None and v >= below:
            raise CnnError(f"{what} must be below {below}, got {v:g}", o.span)
        return v

    def pair(self, prefix: str, what: str, default: int, minimum: int = 1) -> tuple[int, int]:
        """`s2` -> (2, 2); `s2x1` -> (2, 1)."""
        if prefix not in self.pre:
            return (default, default)
        nums, o = self.pre[prefix]
        if len(nums) > 2:
            raise CnnError(f"{what} takes one or two numbers (like {prefix}2 or {prefix}2x1)", o.span)
        vals = [whole_at(n, what, o.span, minimum) for n in nums]
        return (vals[0], vals[-1])

    def positional(self, counts: tuple[int, ...], what: str, example: str) -> tuple[list, Span] | None:
        if not self.dims:
            return None
        if len(self.dims) > 1:
            raise CnnError(f"'{self.keyword}' takes one positional value ({what})", self.dims[1].span,
                           f"like `{self.keyword} {example}`")
        o = self.dims[0]
        if len(o.nums) not in counts:
            raise CnnError(f"'{self.keyword}' needs {what} like {example}, got '{o.value}'", o.span)
        return o.nums, o.span

    def required(self, counts, what, example) -> tuple[list, Span]:
        got = self.positional(counts, what, example)
        if got is None:
            raise CnnError(f"'{self.keyword}' needs {what}", self.span, f"like `{self.keyword} {example}`")
        return got


def probability(a: Args, example: str) -> float | None:
    """A statement's positional probability in [0, 1) (`dropout 0.5`, `droppath 0.1`), None if not given."""
    got = a.positional((1,), "a probability", example)
    if got is None:
        return None
    (p,), where = got
    if not 0 <= bounded(p, where) < 1:
        raise CnnError(f"{a.keyword} probability must be in [0, 1), got {p:g}", where)
    return float(p)


def whole_at(value, what: str, span: Span, minimum: int = 1) -> int:
    from cnndsl.ir import whole

    return whole(value, what, span, minimum)


def _options_hint(keyword: str, known: list[str]) -> str | None:
    return f"'{keyword}' takes: {', '.join(known)}" if known else None


FUSE_FLAGS = ("bn", *ACTIVATIONS)
FUSE_KEYS = ("eps", "momentum", "slope")


class Fused(Node):
    """A statement that may end in `bn` and an activation: `conv 3x3x64 nobias bn relu`.

    Conv (or fc), then batch norm, then activation; as a PyTorch module it is one container with
    children named after their kinds (`conv`, `bn`, `act`) when more than one part is present.
    """

    bn: bool = False
    eps: float = 1e-5
    momentum: float = 0.1
    act: ActName | None = None
    slope: float = 0.01

    @staticmethod
    def decode_tail(a: Args) -> dict:
        out = {"bn": a.flag("bn"), "act": a.one_of(ACTIVATIONS, "activation")}
        eps = a.number("eps", 1e-5, minimum=0.0)
        mom = a.number("momentum", 0.1, minimum=0.0)
        slope = a.number("slope", 0.01)
        if not out["bn"] and ("eps" in a.keys or "momentum" in a.keys):
            raise CnnError("'eps' and 'momentum' set batch norm options; add 'bn'", (a.keys.get("eps") or a.keys["momentum"]).span)
        if out["act"] != "leakyrelu" and "slope" in a.keys:
            raise CnnError("'slope' sets the slope of 'leakyrelu'; add 'leakyrelu'", a.keys["slope"].span)
        out.update(eps=float(eps), momentum=float(mom), slope=float(slope))
        return out

    def tail_params(self, channels: int) -> int:
        return 2 * channels if self.bn else 0

    def tail_flops(self, y: Shape) -> int:
        n = math.prod(y)
        return (2 * n if self.bn else 0) + (ACTIVATIONS[self.act].flops * n if self.act else 0)

    def tail_text(self) -> str:
        return "".join([" bn" if self.bn else "", f" {self.act}" if self.act else ""])

    def parts(self) -> int:
        return 1 + self.bn + (self.act is not None)

    def tail_words(self) -> list[str]:
        """`BN`, `ReLU`: the fused parts as a figure names them."""
        return (["BN"] if self.bn else []) + ([ACTIVATIONS[self.act].module] if self.act else [])
