"""Squeeze-and-excitation `se` (Hu et al. 2017, "Squeeze-and-Excitation Networks",
arXiv:1709.01507): global average pool, a 1x1 convolution down to C' channels, an activation
(ReLU), a 1x1 convolution back to C, a gate (sigmoid), and a channel-wise rescaling of the input.
As timm's `SEModule` and torchvision's `SqueezeExcitation`, the two 1x1 convolutions are the
children `fc1` and `fc2`, both with bias.

The squeeze width C': `squeeze=N` sets it; otherwise C // r, rounded with `divisor=D` as
torchvision's `_make_divisible(C // r, D)` (the nearest multiple of D, at least D, never more than
10% below C // r: MobileNetV3's `_make_divisible(120 // 4, 8)` = 32; timm's `se r=16` on 32
channels with `rd_divisor=8` = 8).
"""

from __future__ import annotations

import math
from typing import Literal

from cnndsl.errors import CnnError, did_you_mean
from cnndsl.expr import make_divisible
from cnndsl.ir import Node, Opt, Shape, need_map
from cnndsl.layers.base import ACTIVATIONS, ActName, Args, whole_at
from cnndsl.layers.modules import Leaf, call, one
from cnndsl.source import Span

# the gate: its torch.nn class and FLOPs per element (hardsigmoid: add, clamp twice, divide)
GATES = {"sigmoid": ("Sigmoid", 4), "hardsigmoid": ("Hardsigmoid", 4)}
INNER = tuple(a for a in ACTIVATIONS if a != "softmax")


def choice(a: Args, key: str, names: tuple[str, ...], default: str) -> str:
    o = a.keys.get(key)
    if o is None:
        return default
    if o.value not in names:
        raise CnnError(f"unknown {key} '{o.value}' for '{a.keyword}'", o.span,
                       did_you_mean(o.value, names) or f"{key}= takes: {', '.join(names)}")
    return o.value


class SqueezeExcite(Node):
    """`se [r=16] [divisor=1] [squeeze=N] [act=relu] [gate=sigmoid]`."""

    keywords = ("se",)
    family = "attention"
    kind: Literal["se"] = "se"
    r: int = 16
    divisor: int = 1
    squeeze: int | None = None
    act: ActName = "relu"
    gate: Literal["sigmoid", "hardsigmoid"] = "sigmoid"

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, keys=("r", "divisor", "squeeze", "act", "gate"), bare="r")
        out = {"act": choice(a, "act", INNER, "relu"), "gate": choice(a, "gate", tuple(GATES), "sigmoid")}
        for key, what in (("r", "reduction ratio r"), ("divisor", "divisor"), ("squeeze", "squeeze width")):
            if (o := a.keys.get(key)) is not None:
                out[key] = whole_at(a.number(key), what, o.span)
        if "squeeze" in out and ("r" in out or "divisor" in out):
            other = a.keys.get("r") or a.keys["divisor"]
            raise CnnError(f"'{other.key}=' has no effect with 'squeeze=' (the width is set exactly)", other.span,
                           "give either squeeze=N or r= (and divisor=)")
        return out

    def squeezed(self, c: int) -> int:
        if self.squeeze is not None:
            return self.squeeze
        rd = c // self.r
        if self.divisor > 1:
            rd = make_divisible(rd, self.divisor)
        if rd < 1:
            raise CnnError(f"se r={self.r} squeezes {c} channels to none", self.span,
                           f"use r <= {c}, or divisor= to round up")
        return rd

    def shape(self, x: Shape) -> Shape:
        self.squeezed(need_map(x, self)[2])
        return x

    def params(self, x: Shape) -> int:
        c = x[2]
        rd = self.squeezed(c)
        return c * rd + rd + rd * c + c

    def macs(self, x: Shape, y: Shape) -> int:
        c = x[2]
        return 2 * c * self.squeezed(c)

    def flops(self, x: Shape, y: Shape) -> int:
        c = x[2]
        rd = self.squeezed(c)
        # pool (one add per element), biases, the activation, the gate, and the rescaling multiply
        return math.prod(x) + rd + c + ACTIVATIONS[self.act].flops * rd + GATES[self.gate][1] * c + math.prod(x)

    def describe(self) -> str:
        size = f"squeeze={self.squeeze}" if self.squeeze is not None else \
            f"r={self.r}" + (f" divisor={self.divisor}" if self.divisor != 1 else "")
        return "se " + size + (f" act={self.act}" if self.act != "relu" else "") + \
            (f" gate={self.gate}" if self.gate != "sigmoid" else "")

    def words(self, x: Shape, y: Shape) -> list[str]:
        return [f"SE, r={self.r}"]

    def side_branch(self, x: Shape) -> tuple[tuple[list[str], str, Shape], ...]:
        c = x[2]
        rd = self.squeezed(c)
        width = f" (C/{self.r})" if self.squeeze is None and self.divisor == 1 else ""
        return ((["squeeze: global avg pool"], "pool", (1, 1, c)),
                ([f"excite: fc {rd}{width}", ACTIVATIONS[self.act].module], "fc", (1, 1, rd)),
                ([f"fc {c}", GATES[self.gate][0]], "fc", (1, 1, c)))

    def module(self, x: Shape, y: Shape) -> Leaf:
        kw = {}
        if self.act != "relu":
            kw["act"] = ACTIVATIONS[self.act].module
        if self.gate != "sigmoid":
            kw["gate"] = GATES[self.gate][0]
        return one("se", call("SqueezeExcite", x[2], self.squeezed(x[2]), **kw))
