"""Hand-written PyTorch modules for tests/test_verify.py, imported by `cnndsl verify --against
verify_targets:NAME` (torchvision and timm are not installed here). Each is the network of `PROGRAM`
written directly in PyTorch, or that network with one deliberate difference."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# params: stem 3*8*9 + bn 2*8 = 232; res 2 * (8*8*9 + 16) = 1,184; fc 8*5 + 5 = 45; total 1,461.
# MACs at 16x16: stem 16*16*8*27 = 55,296; res 2 * 16*16*8*72 = 294,912; fc 8*5 = 40; total 350,248.
PROGRAM = """network small
input 16x16x3
param classes = 5
stem: conv 3x3x8 same nobias bn relu
res: residual < conv1: conv 3x3x8 same nobias bn relu; conv2: conv 3x3x8 same nobias bn > relu
pool: maxpool 2
gap
fc: fc {classes}
"""


class ConvBN(nn.Sequential):
    """Convolution without bias, batch norm, optional ReLU: children conv, bn, act."""

    def __init__(self, cin: int, cout: int, k: int = 3, relu: bool = True, eps: float = 1e-5):
        layers = OrderedDict(conv=nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), bn=nn.BatchNorm2d(cout, eps=eps))
        if relu:
            layers["act"] = nn.ReLU()
        super().__init__(layers)


class Residual(nn.Module):
    def __init__(self, c: int, eps: float):
        super().__init__()
        self.conv1 = ConvBN(c, c, eps=eps)
        self.conv2 = ConvBN(c, c, relu=False, eps=eps)

    def forward(self, x):
        return F.relu(x + self.conv2(self.conv1(x)))


class Small(nn.Module):
    def __init__(self, classes: int = 5, eps: float = 1e-5, stem_kernel: int = 3):
        super().__init__()
        self.stem = ConvBN(3, 8, k=stem_kernel, eps=eps)
        self.res = Residual(8, eps)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(self.pool(self.res(self.stem(x))).mean((2, 3)))


class SmallRenamed(nn.Module):
    """The same network and registration order under other names (`features.0` ... `head`)."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(ConvBN(3, 8), Residual(8, 1e-5), nn.MaxPool2d(2))
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def equal(classes: int = 5) -> nn.Module:
    return Small(classes)


def renamed() -> nn.Module:
    return SmallRenamed()


def eps() -> nn.Module:
    """Batch norms with eps 1e-3 (the program's are PyTorch's default 1e-5): only the outputs differ."""
    return Small(eps=1e-3)


def wide_stem() -> nn.Module:
    """A 5x5 stem convolution: +384 params, +98,304 MACs (16*16*8*48), a different shape at key #0."""
    return Small(stem_kernel=5)


def raises() -> nn.Module:
    raise ValueError("no such configuration")


def not_a_module():
    return {"stem": torch.zeros(1)}


def needs_32x32() -> nn.Module:
    """A module that takes 32x32 inputs only (the program's are 16x16)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 5))
