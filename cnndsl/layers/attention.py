"""Squeeze-and-excitation `se r=N` (Hu et al. 2017, "Squeeze-and-Excitation Networks",
arXiv:1709.01507): global average pool, a 1x1 convolution down to C/r channels, ReLU, a 1x1
convolution back to C, sigmoid, and a channel-wise rescaling of the input. As timm's `SEModule`,
the two 1x1 convolutions are the children `fc1` and `fc2`, both with bias.
"""

from __future__ import annotations

import math
from typing import Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape, need_map
from cnndsl.layers.base import Args, whole_at
from cnndsl.layers.modules import Leaf, call, one
from cnndsl.source import Span


class SqueezeExcite(Node):
    """`se r=16 [divisor=1]`: squeeze to C/r channels (rounded down to a multiple of `divisor`)."""

    keywords = ("se",)
    family = "attention"
    kind: Literal["se"] = "se"
    r: int = 16
    divisor: int = 1

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, keys=("r", "divisor"), bare="r")
        r = a.keys.get("r")
        d = a.keys.get("divisor")
        return {"r": whole_at(a.number("r", 16), "reduction ratio r", r.span if r else span),
                "divisor": whole_at(a.number("divisor", 1), "divisor", d.span if d else span)}

    def squeezed(self, c: int) -> int:
        rd = c // self.r // self.divisor * self.divisor
        if rd < 1:
            raise CnnError(f"se r={self.r} squeezes {c} channels to none", self.span, f"use r <= {c}")
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
        # pool (one add per element), biases, relu, sigmoid, and the rescaling multiply
        return math.prod(x) + rd + c + rd + 4 * c + math.prod(x)

    def describe(self) -> str:
        return f"se r={self.r}"

    def words(self, x: Shape, y: Shape) -> list[str]:
        return [f"SE, r={self.r}"]

    def gate(self, x: Shape) -> tuple[tuple[list[str], str, Shape], ...]:
        c = x[2]
        rd = self.squeezed(c)
        return ((["squeeze: global avg pool"], "pool", (1, 1, c)),
                ([f"excite: fc {rd} (C/{self.r})", "ReLU"], "fc", (1, 1, rd)),
                ([f"fc {c}", "Sigmoid"], "fc", (1, 1, c)))

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("se", call("SqueezeExcite", x[2], self.squeezed(x[2])))
