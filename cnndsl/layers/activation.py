"""Activation functions: one kind, with the function named by its keyword (`relu`, `relu6`,
`sigmoid`, `tanh`, `softmax`, `silu`, `hardswish`, `leakyrelu [slope=0.01]`, `gelu`)."""

from __future__ import annotations

import math
from typing import Literal

from cnndsl.ir import Node, Opt, Shape
from cnndsl.layers.base import ACTIVATIONS, ActName, Args
from cnndsl.layers.modules import Leaf, act_module, one
from cnndsl.source import Span


class Activation(Node):
    keywords = tuple(ACTIVATIONS)
    family = "act"
    kind: Literal["act"] = "act"
    fn: ActName
    slope: float = 0.01

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        leaky = keyword == "leakyrelu"
        a = Args(keyword, opts, span, keys=("slope",) if leaky else (), bare="slope" if leaky else None)
        return {"fn": keyword, "slope": float(a.number("slope", 0.01))}

    def flops(self, x: Shape, y: Shape) -> int:
        return ACTIVATIONS[self.fn].flops * math.prod(y)

    def describe(self) -> str:
        return self.fn

    def words(self, x: Shape, y: Shape) -> list[str]:
        return [ACTIVATIONS[self.fn].module]

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("act", act_module(self.fn, self.slope))
