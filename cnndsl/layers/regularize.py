"""Stochastic depth `droppath p` (Huang et al. 2016, "Deep Networks with Stochastic Depth",
arXiv:1603.09382), as torchvision's `StochasticDepth(p, "row")`: in training, each sample's whole
input is zeroed with probability p and the rest scaled by 1/(1 − p); the identity in eval. Placed at
the end of a residual body, it drops the body per sample. No parameters, no keys."""

from __future__ import annotations

from typing import Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape
from cnndsl.layers.base import Args
from cnndsl.layers.modules import Leaf, call, one
from cnndsl.source import Span


class DropPath(Node):
    """`droppath P`, 0 <= P < 1."""

    keywords = ("droppath",)
    kind: Literal["droppath"] = "droppath"
    p: float

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, dims=True)
        (p,), where = a.required((1,), "a probability", "0.1")
        if not 0 <= p < 1:
            raise CnnError(f"droppath probability must be in [0, 1), got {p:g}", where)
        return {"p": float(p)}

    def describe(self) -> str:
        return f"droppath {self.p:g}"

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("droppath", call("StochasticDepth", self.p))
