"""Normalization: batch norm `bn` (Ioffe & Szegedy 2015, arXiv:1502.03167), AlexNet's local
response normalization `lrn` (Krizhevsky et al. 2012), and layer norm `layernorm` (Ba et al. 2016,
arXiv:1607.06450; over channels as in ConvNeXt, Liu et al. 2022, arXiv:2201.03545)."""

from __future__ import annotations

import math
from typing import Literal

from cnndsl.ir import Opt, Shape
from cnndsl.layers.base import ACTIVATIONS, FUSE_KEYS, Args, Fused, Node, whole_at
from cnndsl.layers.modules import Leaf, call, fused, one
from cnndsl.source import Span


class BatchNorm(Fused):
    """`bn [eps=1e-5] [momentum=0.1] [act]`: BatchNorm2d on feature maps, BatchNorm1d on flat input."""

    keywords = ("bn",)
    family = "norm"
    kind: Literal["bn"] = "bn"
    bn: bool = True

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, flags=tuple(ACTIVATIONS), keys=FUSE_KEYS)
        a.flags["bn"] = None  # a bn statement is its own batch norm
        return cls.decode_tail(a)

    def params(self, x: Shape) -> int:
        return 2 * x[-1]

    def flops(self, x: Shape, y: Shape) -> int:
        return self.tail_flops(y)

    def describe(self) -> str:
        return "bn" + (f" {self.act}" if self.act else "")

    def words(self, x: Shape, y: Shape) -> list[str]:
        return self.tail_words()

    def parts(self) -> int:
        return 1 + (self.act is not None)

    def module(self, x: Shape, y: Shape) -> Leaf:
        return fused(self, None, x[-1], len(x) == 1)


class LRN(Node):
    """`lrn size=5 alpha=0.0001 beta=0.75 k=2`: AlexNet's local response normalization across channels."""

    keywords = ("lrn",)
    family = "norm"
    kind: Literal["lrn"] = "lrn"
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, keys=("size", "alpha", "beta", "k"), bare="size")
        size = a.keys.get("size")
        return dict(size=whole_at(a.number("size", 5), "size", size.span if size else span),
                    alpha=float(a.number("alpha", 1e-4)), beta=float(a.number("beta", 0.75)),
                    k=float(a.number("k", 2.0)))

    def flops(self, x: Shape, y: Shape) -> int:  # a windowed sum of squares, then a power and a divide
        return math.prod(y) * (self.size + 3)

    def describe(self) -> str:
        return f"lrn size={self.size}"

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("lrn", call("LocalResponseNorm", self.size, alpha=self.alpha, beta=self.beta, k=self.k))


class LayerNorm(Node):
    """`layernorm [eps=1e-5]`: layer norm over the channels at each position of an H x W x C map
    (torchvision's ConvNeXt `LayerNorm2d`: channels-last, normalize, back), a plain LayerNorm on a
    flat input; learnable `weight` and `bias` of shape [C]."""

    keywords = ("layernorm",)
    family = "norm"
    kind: Literal["layernorm"] = "layernorm"
    eps: float = 1e-5

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, keys=("eps",), bare="eps")
        return {"eps": float(a.number("eps", 1e-5, minimum=0.0))}

    def params(self, x: Shape) -> int:
        return 2 * x[-1]

    def flops(self, x: Shape, y: Shape) -> int:  # mean 1, variance 3, normalize 2, scale and shift 2
        return 8 * math.prod(y)

    def describe(self) -> str:
        return "layernorm" + (f" eps={self.eps:g}" if self.eps != 1e-5 else "")

    def module(self, x: Shape, y: Shape) -> Leaf:
        kw = {"eps": self.eps} if self.eps != 1e-5 else {}
        return one("layernorm", call("LayerNorm" if len(x) == 1 else "LayerNorm2d", x[-1], **kw))
