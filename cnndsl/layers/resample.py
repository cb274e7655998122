"""Resampling by rearranging channels: `pixelshuffle r` (Shi et al. 2016, "Real-Time Single Image
and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network",
arXiv:1609.05158): H x W x C -> H·r x W·r x C/r², each group of r² channels spread over an r x r
block of pixels (`torch.nn.PixelShuffle`). A copy: no parameters, no MACs, no FLOPs. Neighbouring
outputs are 1/r input pixels apart: the effective stride is divided by r."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape, need_map
from cnndsl.layers.base import Args, whole_at
from cnndsl.layers.modules import Leaf, call
from cnndsl.source import Span


class PixelShuffle(Node):
    """`pixelshuffle r`: H x W x C -> H·r x W·r x C/r² (r² must divide C)."""

    keywords = ("pixelshuffle",)
    kind: Literal["pixelshuffle"] = "pixelshuffle"
    r: int

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, dims=True)
        (r,), where = a.required((1,), "an upscale factor", "2")
        return {"r": whole_at(r, "upscale factor", where)}

    def shape(self, x: Shape) -> Shape:
        h, w, c = need_map(x, self)
        r2 = self.r * self.r
        if c % r2:
            raise CnnError(f"pixelshuffle {self.r} needs channels divisible by {r2}, but its input has {c}",
                           self.span, f"use {self.r * self.r} x k channels before it")
        return (h * self.r, w * self.r, c // r2)

    def rf(self, x: Shape) -> tuple[int, Fraction]:
        return (1, Fraction(1, self.r))

    def describe(self) -> str:
        return f"pixelshuffle {self.r}"

    def module(self, x: Shape, y: Shape) -> Leaf:
        return Leaf((("pixelshuffle", call("PixelShuffle", self.r)),), fresh=True)
