"""The classifier end: `flatten`, fully connected `fc N`, `dropout P` (Srivastava et al. 2014),
and `identity` (a branch that passes its input through)."""

from __future__ import annotations

import math
from typing import Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape, fmt_shape, need_map
from cnndsl.layers.base import FUSE_FLAGS, FUSE_KEYS, Args, Fused, probability, whole_at
from cnndsl.layers.modules import Leaf, call, fused, one
from cnndsl.source import Span


def flat_size(x: Shape, node: Node) -> int:
    """Features of a flat input; a 1 x 1 x C map counts as flat (it follows `gap`)."""
    if len(x) == 1:
        return x[0]
    if x[0] == 1 and x[1] == 1:
        return x[2]
    raise CnnError(f"'{node.describe()}' needs a flat input, but gets {fmt_shape(x)}", node.span,
                   "add `flatten` (or `gap`) before it")


class Flatten(Node):
    """`flatten`: H x W x C -> H*W*C."""

    keywords = ("flatten",)
    kind: Literal["flatten"] = "flatten"

    def shape(self, x: Shape) -> Shape:
        return (math.prod(x),)

    def rf(self, x: Shape) -> tuple[int, int]:  # every output sees the whole map
        return (x[0], x[0]) if len(x) == 3 else (1, 1)

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("flatten", call("Flatten", 1))


class FC(Fused):
    """`fc N [nobias] [bn] [act]`: a fully connected (linear) layer. `fc N channels` applies it to
    the channels at each position of an H x W x C map (H x W x N out; ConvNeXt's `Linear` between
    `Permute`s): weight [N, C], and H · W · C · N MACs."""

    keywords = ("fc",)
    family = "fc"
    kind: Literal["fc"] = "fc"
    out: int
    bias: bool = True
    channels: bool = False

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, flags=("nobias", "channels", *FUSE_FLAGS), keys=FUSE_KEYS, dims=True)
        nums, where = a.required((1,), "a number of outputs", "1000")
        if a.flag("channels") and a.flag("bn"):
            raise CnnError("'fc ... channels' takes no 'bn'", a.flags["bn"].span,
                           "add a `layernorm` or `bn` statement after it")
        return dict(out=whole_at(nums[0], "outputs", where), bias=not a.flag("nobias"), channels=a.flag("channels"),
                    **cls.decode_tail(a))

    def features(self, x: Shape) -> int:
        """The inputs of the linear layer: the channels with `channels`, else the flat size."""
        return need_map(x, self)[2] if self.channels else flat_size(x, self)

    def shape(self, x: Shape) -> Shape:
        self.features(x)
        return (x[0], x[1], self.out) if self.channels else (self.out,)

    def rf(self, x: Shape) -> tuple[int, int]:
        return (x[0], x[0]) if len(x) == 3 and not self.channels else (1, 1)

    def positions(self, x: Shape) -> int:
        return x[0] * x[1] if self.channels else 1

    def params(self, x: Shape) -> int:
        return self.features(x) * self.out + (self.out if self.bias else 0) + self.tail_params(self.out)

    def macs(self, x: Shape, y: Shape) -> int:
        return self.positions(x) * self.features(x) * self.out

    def flops(self, x: Shape, y: Shape) -> int:
        return (math.prod(y) if self.bias else 0) + self.tail_flops(y)

    def describe(self) -> str:
        return f"fc {self.out}{' channels' if self.channels else ''}{self.tail_text()}"

    def words(self, x: Shape, y: Shape) -> list[str]:
        return [f"fc {self.out}", *self.tail_words()]

    def module(self, x: Shape, y: Shape) -> Leaf:
        kw = {} if self.bias else {"bias": False}
        if self.channels:
            return fused(self, ("fc", call("ChannelLinear", x[-1], self.out, **kw)), self.out, False)
        return fused(self, ("fc", call("Linear", x[-1], self.out, **kw)), self.out, True, flatten=len(x) == 3)


class Dropout(Node):
    """`dropout P`, 0 <= P < 1: zeroes a fraction P of activations while training."""

    keywords = ("dropout",)
    kind: Literal["dropout"] = "dropout"
    p: float = 0.5

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        p = probability(Args(keyword, opts, span, dims=True), "0.5")
        return {} if p is None else {"p": p}

    def describe(self) -> str:
        return f"dropout {self.p:g}"

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("dropout", call("Dropout", self.p))


class Identity(Node):
    """`identity`: passes its input through (an explicit branch of `add`)."""

    keywords = ("identity",)
    kind: Literal["identity"] = "identity"

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("identity", call("Identity"))
