"""Stochastic depth `droppath p` (Huang et al. 2016, "Deep Networks with Stochastic Depth",
arXiv:1603.09382), as torchvision's `StochasticDepth(p, "row")`: in training, each sample's whole
input is zeroed with probability p and the rest scaled by 1/(1 − p); the identity in eval. Placed at
the end of a residual body, it drops the body per sample. No parameters, no keys."""

from __future__ import annotations

from typing import Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape
from cnndsl.layers.base import Args, probability
from cnndsl.layers.modules import Leaf, call, one
from cnndsl.source import Span


class DropPath(Node):
    """`droppath P`, 0 <= P < 1."""

    keywords = ("droppath",)
    kind: Literal["droppath"] = "droppath"
    p: float

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        p = probability(Args(keyword, opts, span, dims=True), "0.1")
        if p is None:
            raise CnnError(f"'{keyword}' needs a probability", span, f"like `{keyword} 0.1`")
        return {"p": p}

    def describe(self) -> str:
        return f"droppath {self.p:g}"

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("droppath", call("StochasticDepth", self.p))
