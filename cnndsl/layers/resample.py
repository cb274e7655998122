"""Changing the resolution and the channel order: `upsample`, `convtranspose` (transposed
convolutions, Long et al. 2015, FCN, arXiv:1411.4038; U-Net's up-convolutions, Ronneberger et al.
2015, arXiv:1505.04597), `pixelshuffle` (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", arXiv:1609.05158) and
`shuffle` (ShuffleNet's channel shuffle, Zhang et al. 2017, arXiv:1707.01083).

Output size of a transposed convolution, as PyTorch computes it:
(H - 1) * s - 2p + d(k - 1) + output_padding + 1.
Receptive fields: upsampling by f divides the effective stride (the jump) by f; a transposed
convolution of stride s sees ceil((d(k - 1) + 1) / s) input pixels per output and divides the
jump by s; `pixelshuffle r` spreads each group of r² channels over an r x r block of pixels (a
copy: no parameters, no MACs, no FLOPs), so neighbouring outputs are 1/r input pixels apart.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape, fmt_shape, need_map
from cnndsl.layers.base import FUSE_FLAGS, FUSE_KEYS, Args, whole_at
from cnndsl.layers.conv import ConvBase
from cnndsl.layers.modules import Leaf, call, fused, one
from cnndsl.source import Span

MODES = ("nearest", "bilinear")
# FLOPs per output element: nearest copies; bilinear weighs 4 neighbours (4 multiplies, 3 adds)
MODE_FLOPS = {"nearest": 0, "bilinear": 7}


class Upsample(Node):
    """`upsample F [nearest|bilinear] [align_corners]`: H and W times F (`nn.Upsample`);
    `upsample to input|LABEL [mode] [align_corners]`: to the H x W of the network's input or of the
    labeled tensor, read when the network runs (`F.interpolate(x, size=...)`)."""

    keywords = ("upsample",)
    kind: Literal["upsample"] = "upsample"
    family = "pool"
    factor: int = 0  # 0: to the size of `to`
    to: str | None = None
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool = False

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        to = None
        if opts and opts[0].key is None and opts[0].value == "to":
            if len(opts) < 2 or opts[1].key is not None or opts[1].nums is not None:
                raise CnnError("'upsample to' needs `input` or a label", opts[0].span,
                               "like `upsample to input bilinear`")
            to, opts = opts[1].value, opts[2:]
        a = Args(keyword, opts, span, flags=(*MODES, "align_corners"), dims=to is None)
        mode = a.one_of(MODES, "mode") or "nearest"
        if a.flag("align_corners") and mode != "bilinear":
            raise CnnError("'align_corners' is an option of bilinear upsampling", a.flags["align_corners"].span,
                           "add 'bilinear'")
        out = {"to": to, "mode": mode, "align_corners": a.flag("align_corners")}
        if to is None:
            nums, where = a.required((1,), "a factor or `to`", "2 bilinear")
            out["factor"] = whole_at(nums[0], "upsampling factor", where)
        return out

    def ref(self) -> str | None:
        return self.to

    def shape(self, x: Shape) -> Shape:
        h, w, c = need_map(x, self)
        return (h * self.factor, w * self.factor, c)

    def shape_to(self, x: Shape, ref: Shape) -> Shape:
        h, w, c = need_map(x, self)
        if len(ref) != 3:
            raise CnnError(f"'{self.describe()}': '{self.to}' is flat ({fmt_shape(ref)})", self.span)
        if ref[0] < h or ref[1] < w:
            raise CnnError(f"'{self.describe()}' would shrink {h}x{w} to {ref[0]}x{ref[1]}", self.span,
                           "upsampling only enlarges: use a pooling layer")
        return (ref[0], ref[1], c)

    def flops(self, x: Shape, y: Shape) -> int:
        return MODE_FLOPS[self.mode] * math.prod(y)

    def rf(self, x: Shape) -> tuple[int, Fraction]:
        return (1, Fraction(1, self.factor))

    def rf_to(self, x: Shape, y: Shape) -> tuple[int, Fraction]:
        return (1, Fraction(x[0], y[0]))

    def module(self, x: Shape, y: Shape) -> Leaf:
        kw: dict = {"mode": self.mode}
        if self.mode == "bilinear":
            kw["align_corners"] = self.align_corners
        if self.to is not None:
            return one("resize", call("Resize", **kw))
        return one("upsample", call("Upsample", scale_factor=self.factor, **kw))

    def describe(self) -> str:
        how = f"to {self.to}" if self.to is not None else str(self.factor)
        return f"upsample {how}" + (f" {self.mode}" if self.mode != "nearest" else "") + \
            (" align_corners" if self.align_corners else "")


class ConvTranspose(ConvBase):
    """`convtranspose KxKxC sN [pN] [dN] [gN] [output_padding=N] [nobias] [bn] [act]` (`nn.ConvTranspose2d`).

    MACs as FlopCounterMode counts them: every input element meets Cout / groups filters of k x k."""

    keywords = ("convtranspose",)
    kind: Literal["convtranspose"] = "convtranspose"
    out: int
    groups: int = 1
    output_padding: int = 0

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, flags=("nobias", *FUSE_FLAGS), prefixes=("s", "p", "d", "g"),
                 keys=("output_padding", *FUSE_KEYS), dims=True)
        nums, where = a.required((3,), "a kernel and channels", "2x2x64 s2")
        kernel = (whole_at(nums[0], "kernel size", where), whole_at(nums[1], "kernel size", where))
        stride, dilation = a.pair("s", "stride", 1), a.pair("d", "dilation", 1)
        op = whole_at(a.number("output_padding", 0), "output_padding", span, minimum=0)
        if op and op >= max(stride[0], dilation[0]):
            raise CnnError(f"output_padding ({op}) must be smaller than the stride or the dilation",
                           a.keys["output_padding"].span, "PyTorch refuses it otherwise")
        return dict(out=whole_at(nums[2], "channels", where), groups=a.pair("g", "groups", 1)[0], kernel=kernel,
                    stride=stride, dilation=dilation, padding=a.pair("p", "padding", 0, minimum=0),
                    output_padding=op, bias=not a.flag("nobias"), **cls.decode_tail(a))

    def group_count(self, x: Shape) -> int:
        return self.groups

    def shape(self, x: Shape) -> Shape:
        h, w, c = need_map(x, self)
        if c % self.groups or self.out % self.groups:
            raise CnnError(f"groups ({self.groups}) must divide the input channels ({c}) and the output "
                           f"channels ({self.out})", self.span)
        size = [(n - 1) * s - 2 * p + d * (k - 1) + self.output_padding + 1 for n, k, s, p, d in
                zip((h, w), self.kernel, self.stride, self.padding, self.dilation)]
        if min(size) < 1:
            raise CnnError(f"the padding leaves no output ({size[0]}x{size[1]}) from {fmt_shape(x)}", self.span)
        return (size[0], size[1], self.out)

    def params(self, x: Shape) -> int:
        weights = x[2] * (self.out // self.groups) * self.kernel[0] * self.kernel[1]
        return weights + (self.out if self.bias else 0) + self.tail_params(self.out)

    def macs(self, x: Shape, y: Shape) -> int:
        return math.prod(x) * (self.out // self.groups) * self.kernel[0] * self.kernel[1]

    def rf(self, x: Shape) -> tuple[int, Fraction]:
        extent = self.dilation[0] * (self.kernel[0] - 1) + 1
        return (-(-extent // self.stride[0]), Fraction(1, self.stride[0]))

    def module(self, x: Shape, y: Shape) -> Leaf:
        kw = self.torch_kwargs(x)
        if self.output_padding:
            kw["output_padding"] = self.output_padding
        return fused(self, ("conv", call("ConvTranspose2d", x[2], y[2], **kw)), y[2], False)

    def words(self, x: Shape, y: Shape) -> list[str]:
        """`2x2 up-conv, 512 x2`: U-Net's name for it, and the factor it enlarges by (not a stride `/2`)."""
        up = f" x{self.stride[0]}" + (f"x{self.stride[1]}" if self.stride[1] != self.stride[0] else "")
        return [f"{self.kernel[0]}x{self.kernel[1]} up-conv, {y[2]}" + (up if self.stride != (1, 1) else ""),
                *self.tail_words()]

    def describe(self) -> str:
        g = f" g{self.groups}" if self.groups != 1 else ""
        op = f" output_padding={self.output_padding}" if self.output_padding else ""
        return f"convtranspose {self.kernel[0]}x{self.kernel[1]}x{self.out}{self.options_text()}{g}{op}{self.tail_text()}"


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


class Shuffle(Node):
    """`shuffle G`: the channels regrouped from G groups to interleaved (`nn.ChannelShuffle`);
    no parameters, no arithmetic."""

    keywords = ("shuffle",)
    kind: Literal["shuffle"] = "shuffle"
    family = "other"
    groups: int

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, dims=True)
        nums, where = a.required((1,), "a group count", "2")
        return {"groups": whole_at(nums[0], "groups", where)}

    def shape(self, x: Shape) -> Shape:
        c = need_map(x, self)[2]
        if c % self.groups:
            raise CnnError(f"'shuffle {self.groups}' needs channels divisible by {self.groups}, got {c}", self.span)
        return x

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("shuffle", call("ChannelShuffle", self.groups))

    def describe(self) -> str:
        return f"shuffle {self.groups}"
