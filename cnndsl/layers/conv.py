"""Convolutions: `conv KxKxC` and depthwise `dwconv KxK`.

LeCun et al. 1998 (LeNet-5); grouped convolutions: Krizhevsky et al. 2012 (AlexNet);
depthwise separable convolutions: Chollet 2017 (Xception, arXiv:1610.02357) and Howard et al.
2017 (MobileNet, arXiv:1704.04861).

Output size, as PyTorch computes it: floor((H + 2p - d(k - 1) - 1) / s) + 1.
`same` pads (k - 1) * d / 2 on each side (odd kernels): same size at stride 1, ceil(H / s) at stride s.
"""

from __future__ import annotations

import math
from typing import Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Opt, Shape, fmt_shape, need_map
from cnndsl.layers.base import FUSE_FLAGS, FUSE_KEYS, Args, Fused, whole_at
from cnndsl.layers.modules import Leaf, call, fused, pair
from cnndsl.source import Span

Pair = tuple[int, int]


def conv_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def resolve_padding(a: Args, kernel: Pair, dilation: Pair) -> Pair:
    mode = a.one_of(("same", "valid"), "padding mode")
    if mode and "p" in a.pre:
        raise CnnError(f"padding given twice ('{mode}' and 'p')", a.pre["p"][1].span)
    if mode == "same":
        for k in kernel:
            if k % 2 == 0:
                raise CnnError("'same' needs an odd kernel", a.flags["same"].span,
                               "give the padding explicitly, like p1")
        return ((kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2)
    return a.pair("p", "padding", 0, minimum=0)


class ConvBase(Fused):
    family = "conv"

    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    bias: bool = True

    @classmethod
    def decode_common(cls, a: Args, kernel: Pair) -> dict:
        dilation = a.pair("d", "dilation", 1)
        return dict(kernel=kernel, stride=a.pair("s", "stride", 1), dilation=dilation,
                    padding=resolve_padding(a, kernel, dilation), bias=not a.flag("nobias"),
                    **cls.decode_tail(a))

    def spatial(self, x: Shape) -> tuple[int, int]:
        h, w, _ = need_map(x, self)
        ho = conv_size(h, self.kernel[0], self.stride[0], self.padding[0], self.dilation[0])
        wo = conv_size(w, self.kernel[1], self.stride[1], self.padding[1], self.dilation[1])
        if ho < 1 or wo < 1:
            raise CnnError(f"input {fmt_shape(x)} is too small for a {self.kernel[0]}x{self.kernel[1]} kernel"
                           f" (output would be {ho}x{wo})", self.span, "add padding or remove a downsampling layer")
        return ho, wo

    def in_per_group(self, x: Shape) -> int:
        return x[2] // self.group_count(x)

    def params(self, x: Shape) -> int:
        out = self.shape(x)[2]
        weights = out * self.in_per_group(x) * self.kernel[0] * self.kernel[1]
        return weights + (out if self.bias else 0) + self.tail_params(out)

    def macs(self, x: Shape, y: Shape) -> int:
        return math.prod(y) * self.in_per_group(x) * self.kernel[0] * self.kernel[1]

    def flops(self, x: Shape, y: Shape) -> int:
        return (math.prod(y) if self.bias else 0) + self.tail_flops(y)

    def rf(self, x: Shape) -> tuple[int, int]:
        return (self.dilation[0] * (self.kernel[0] - 1) + 1, self.stride[0])

    def module(self, x: Shape, y: Shape) -> Leaf:
        return fused(self, ("conv", call("Conv2d", x[2], y[2], **self.torch_kwargs(x))), y[2], False)

    def torch_kwargs(self, x: Shape) -> dict:
        """The keyword arguments of the torch convolution, defaults left out."""
        kw: dict = {"kernel_size": pair(self.kernel)}
        if self.stride != (1, 1):
            kw["stride"] = pair(self.stride)
        if self.padding != (0, 0):
            kw["padding"] = pair(self.padding)
        if self.dilation != (1, 1):
            kw["dilation"] = pair(self.dilation)
        if self.group_count(x) != 1:
            kw["groups"] = self.group_count(x)
        if not self.bias:
            kw["bias"] = False
        return kw

    def style(self, x: Shape, y: Shape) -> str:
        return "depthwise" if self.group_count(x) == x[2] == y[2] > 1 else self.family

    def words(self, x: Shape, y: Shape) -> list[str]:
        k = f"{self.kernel[0]}x{self.kernel[1]}"
        groups = self.group_count(x)
        head = f"{k} depthwise" if groups == x[2] == y[2] else f"{k} conv, {y[2]}" + (f", {groups} groups" if groups > 1 else "")
        return [head + _extras(self.stride, self.dilation), *self.tail_words()]

    def options_text(self) -> str:
        parts = []
        if self.stride != (1, 1):
            parts.append(f"s{_pair(self.stride)}")
        if self.padding != (0, 0):
            parts.append(f"p{_pair(self.padding)}")
        if self.dilation != (1, 1):
            parts.append(f"d{_pair(self.dilation)}")
        return "".join(" " + p for p in parts)


def _extras(stride: Pair, dilation: Pair = (1, 1)) -> str:
    """` /2` for a stride, ` dilated 2` for a dilation: how a figure marks them."""
    s = f" /{_pair(stride)}" if stride != (1, 1) else ""
    return s + (f" dilated {_pair(dilation)}" if dilation != (1, 1) else "")


def _pair(p: Pair) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


class Conv(ConvBase):
    """`conv KxKxC` / `conv KhxKwxC [sN] [same|valid|pN] [dN] [gN] [nobias] [bn] [act]`."""

    keywords = ("conv",)
    kind: Literal["conv"] = "conv"
    out: int
    groups: int = 1

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, flags=("same", "valid", "nobias", *FUSE_FLAGS),
                 prefixes=("s", "p", "d", "g"), keys=FUSE_KEYS, dims=True)
        nums, where = a.required((3,), "a kernel and channels", "3x3x64")
        kernel = (whole_at(nums[0], "kernel size", where), whole_at(nums[1], "kernel size", where))
        groups = a.pair("g", "groups", 1)[0]
        return dict(out=whole_at(nums[2], "channels", where), groups=groups, **cls.decode_common(a, kernel))

    def group_count(self, x: Shape) -> int:
        return self.groups

    def shape(self, x: Shape) -> Shape:
        ho, wo = self.spatial(x)
        c = x[2]
        if c % self.groups or self.out % self.groups:
            raise CnnError(f"groups ({self.groups}) must divide the input channels ({c}) and the output "
                           f"channels ({self.out})", self.span)
        return (ho, wo, self.out)

    def describe(self) -> str:
        g = f" g{self.groups}" if self.groups != 1 else ""
        return f"conv {self.kernel[0]}x{self.kernel[1]}x{self.out}{self.options_text()}{g}{self.tail_text()}"


class DWConv(ConvBase):
    """`dwconv KxK [sN] [same|pN] [dN] [xM] ...`: one filter per input channel (groups = C)."""

    keywords = ("dwconv",)
    kind: Literal["dwconv"] = "dwconv"
    multiplier: int = 1

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, flags=("same", "valid", "nobias", *FUSE_FLAGS),
                 prefixes=("s", "p", "d"), keys=("multiplier", *FUSE_KEYS), dims=True)
        nums, where = a.required((1, 2), "a kernel", "3x3")
        kernel = (whole_at(nums[0], "kernel size", where), whole_at(nums[-1], "kernel size", where))
        mult = whole_at(a.number("multiplier", 1), "multiplier", span)
        return dict(multiplier=mult, **cls.decode_common(a, kernel))

    def group_count(self, x: Shape) -> int:
        return x[2]

    def shape(self, x: Shape) -> Shape:
        ho, wo = self.spatial(x)
        return (ho, wo, x[2] * self.multiplier)

    def describe(self) -> str:
        m = f" multiplier={self.multiplier}" if self.multiplier != 1 else ""
        return f"dwconv {self.kernel[0]}x{self.kernel[1]}{self.options_text()}{m}{self.tail_text()}"
