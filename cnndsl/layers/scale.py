"""A learnable per-channel scale `scale [init=1]`, as ConvNeXt's `layer_scale` (Touvron et al.
2021, "Going deeper with Image Transformers", arXiv:2103.17239; Liu et al. 2022, arXiv:2201.03545):
the input times a parameter of shape [C, 1, 1], every entry starting at `init`.

The parameter is registered on the module the statement sits in, under the statement's name: in
`"block": < ...; layer_scale: scale init=1e-6 >` the key is `block.layer_scale` (no `.weight`).
"""

from __future__ import annotations

import math
from typing import Literal

from cnndsl.ir import Node, Opt, Shape, need_map
from cnndsl.layers.base import Args
from cnndsl.layers.modules import Leaf
from cnndsl.source import Span


class Scale(Node):
    """`scale [init=1]`: H x W x C -> the same, times a learnable [C, 1, 1] parameter."""

    keywords = ("scale",)
    kind: Literal["scale"] = "scale"
    init: float = 1.0

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, keys=("init",), bare="init")
        return {"init": float(a.number("init", 1.0))}

    def shape(self, x: Shape) -> Shape:
        return need_map(x, self)

    def params(self, x: Shape) -> int:
        return x[2]

    def flops(self, x: Shape, y: Shape) -> int:  # one multiply per element
        return math.prod(y)

    def describe(self) -> str:
        return "scale" + (f" init={self.init:g}" if self.init != 1.0 else "")

    def module(self, x: Shape, y: Shape) -> Leaf:
        return Leaf((), parameter=((x[2], 1, 1), self.init), fresh=True)
