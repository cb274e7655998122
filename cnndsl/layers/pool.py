"""Pooling: `maxpool`, `avgpool`, global average pooling `gap`, and `adaptiveavgpool HxW`.

Subsampling layers: LeCun et al. 1998; max pooling as in AlexNet (Krizhevsky et al. 2012);
global average pooling: Lin et al. 2013, "Network In Network" (arXiv:1312.4400), as GoogLeNet uses it.

Output size, as PyTorch computes it: floor or, with `ceil`, ceil((H + 2p - k) / s) + 1, where a
window that would start in the right padding is dropped.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape, fmt_shape, need_map
from cnndsl.layers.base import Args, whole_at
from cnndsl.layers.conv import resolve_padding
from cnndsl.layers.modules import Leaf, call, one, pair
from cnndsl.source import Span

Pair = tuple[int, int]


def pool_size(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    span = n + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


class Pool(Node):
    family = "pool"

    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil: bool = False

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, flags=("same", "valid", "ceil", *cls.extra_flags), prefixes=("s", "p"),
                 dims=True)
        nums, where = a.required((1, 2), "a window size", "2 or 3x3")
        kernel = (whole_at(nums[0], "window size", where), whole_at(nums[-1], "window size", where))
        stride = a.pair("s", "stride", 0) if "s" in a.pre else kernel
        padding = resolve_padding(a, kernel, (1, 1))
        for k, p in zip(kernel, padding):
            if p * 2 > k:
                raise CnnError(f"padding {p} is more than half the window {k}", span,
                               "PyTorch allows at most half the window size")
        return dict(kernel=kernel, stride=stride, padding=padding, ceil=a.flag("ceil"), **cls.decode_extra(a))

    extra_flags: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def decode_extra(cls, a: Args) -> dict:
        return {}

    def shape(self, x: Shape) -> Shape:
        h, w, c = need_map(x, self)
        ho = pool_size(h, self.kernel[0], self.stride[0], self.padding[0], self.ceil)
        wo = pool_size(w, self.kernel[1], self.stride[1], self.padding[1], self.ceil)
        if ho < 1 or wo < 1:
            raise CnnError(f"input {fmt_shape(x)} is too small for a {self.kernel[0]}x{self.kernel[1]} window",
                           self.span)
        return (ho, wo, c)

    def flops(self, x: Shape, y: Shape) -> int:
        return math.prod(y) * self.kernel[0] * self.kernel[1]

    def rf(self, x: Shape) -> tuple[int, int]:
        return (self.kernel[0], self.stride[0])

    def window(self) -> dict:
        """The arguments `nn.MaxPool2d` and `nn.AvgPool2d` share, defaults left out."""
        kw: dict = {"kernel_size": pair(self.kernel), "stride": pair(self.stride)}
        if self.padding != (0, 0):
            kw["padding"] = pair(self.padding)
        if self.ceil:
            kw["ceil_mode"] = True
        return kw

    def describe(self) -> str:
        k = self.kernel[0] if self.kernel[0] == self.kernel[1] else f"{self.kernel[0]}x{self.kernel[1]}"
        s = f" s{self.stride[0]}" if self.stride != self.kernel else ""
        p = f" p{self.padding[0]}" if self.padding != (0, 0) else ""
        return f"{self.keywords[0]} {k}{s}{p}{' ceil' if self.ceil else ''}"


    def words(self, x: Shape, y: Shape) -> list[str]:
        s = f" /{self.stride[0]}" if self.stride[0] > 1 else ""
        return [f"{self.keywords[0][:3]} pool {self.kernel[0]}x{self.kernel[1]}{s}"]


class MaxPool(Pool):
    """`maxpool K [sN] [pN | same] [ceil]`."""

    keywords = ("maxpool",)
    kind: Literal["maxpool"] = "maxpool"

    def flops(self, x: Shape, y: Shape) -> int:  # k*k - 1 comparisons per output
        return math.prod(y) * (self.kernel[0] * self.kernel[1] - 1)

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("pool", call("MaxPool2d", **self.window()))


class AvgPool(Pool):
    """`avgpool K [sN] [pN | same] [ceil] [nopadcount]`."""

    keywords = ("avgpool",)
    kind: Literal["avgpool"] = "avgpool"
    extra_flags = ("nopadcount",)
    count_include_pad: bool = True

    @classmethod
    def decode_extra(cls, a: Args) -> dict:
        return {"count_include_pad": not a.flag("nopadcount")}

    def module(self, x: Shape, y: Shape) -> Leaf:
        kw = self.window()
        if not self.count_include_pad:
            kw["count_include_pad"] = False
        return one("pool", call("AvgPool2d", **kw))


class GlobalAvgPool(Node):
    """`gap`: the mean of each channel, H x W x C -> 1 x 1 x C."""

    keywords = ("gap",)
    family = "pool"
    kind: Literal["gap"] = "gap"

    def words(self, x: Shape, y: Shape) -> list[str]:
        return ["global avg pool"]

    def shape(self, x: Shape) -> Shape:
        return (1, 1, need_map(x, self)[2])

    def flops(self, x: Shape, y: Shape) -> int:
        return math.prod(x)

    def rf(self, x: Shape) -> tuple[int, int]:
        return (x[0], x[0])  # one window over the whole map

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("pool", call("AdaptiveAvgPool2d", (1, 1)))


class AdaptiveAvgPool(Node):
    """`adaptiveavgpool HxW`: average pooling to a fixed output size (torchvision's AlexNet, GoogLeNet's aux heads)."""

    keywords = ("adaptiveavgpool",)
    family = "pool"
    kind: Literal["adaptiveavgpool"] = "adaptiveavgpool"
    size: Pair

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        a = Args(keyword, opts, span, dims=True)
        nums, where = a.required((1, 2), "an output size", "6x6")
        return {"size": (whole_at(nums[0], "output size", where), whole_at(nums[-1], "output size", where))}

    def shape(self, x: Shape) -> Shape:
        return (*self.size, need_map(x, self)[2])

    def flops(self, x: Shape, y: Shape) -> int:
        return math.prod(x)

    def describe(self) -> str:
        return f"adaptiveavgpool {self.size[0]}x{self.size[1]}"

    def words(self, x: Shape, y: Shape) -> list[str]:
        return [f"avg pool to {self.size[0]}x{self.size[1]}"]

    def module(self, x: Shape, y: Shape) -> Leaf:
        return one("pool", call("AdaptiveAvgPool2d", self.size))

    def rf(self, x: Shape) -> tuple[int, int]:  # PyTorch's widest adaptive window, and its step
        n, o = x[0], self.size[0]
        # window i spans floor(i n / o) .. ceil((i + 1) n / o); with i n = q o + r its width is
        # ceil((r + n) / o), widest for the largest r, o - gcd(n, o): closed form, O(1) for any o
        widest = -(-(o - math.gcd(n, o) + n) // o)
        return (widest, max(1, n // o))
