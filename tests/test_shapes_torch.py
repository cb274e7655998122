"""The independent oracle: torch modules written by hand with torch.nn (not cnndsl's backend), measured
with `sum(p.numel())`, `FlopCounterMode` (total / 2 = MACs) and a real eval-mode forward, against
what the static pass predicts. Covers every case of test_shapes.py and small random networks.

This file imports torch; cnndsl's stats never does (see test_stats.py).
"""

import random

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.passes.shapes import analyze  # noqa: E402

from test_shapes import CASES  # noqa: E402


class Residual(nn.Module):
    def __init__(self, body, shortcut=None, act=None):
        super().__init__()
        self.body, self.shortcut, self.act = body, shortcut, act

    def forward(self, x):
        y = self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)
        return self.act(y) if self.act is not None else y


class Add(nn.Module):
    def __init__(self, *paths):
        super().__init__()
        self.paths = nn.ModuleList(paths)

    def forward(self, x):
        return sum(p(x) for p in self.paths)


class Mul(Add):
    def forward(self, x):
        y = self.paths[0](x)
        for p in self.paths[1:]:
            y = y * p(x)
        return y


class Concat(nn.Module):
    def __init__(self, *paths):
        super().__init__()
        self.paths = nn.ModuleList(paths)

    def forward(self, x):
        return torch.cat([p(x) for p in self.paths], dim=1)


class SE(nn.Module):
    def __init__(self, c, rd, act=torch.relu, gate=torch.sigmoid):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, rd, 1), nn.Conv2d(rd, c, 1)
        self.act, self.gate = act, gate

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class ChannelsLast(nn.Module):
    """`inner` applied to the channels at each position (torchvision ConvNeXt's Permute, op, Permute)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    def __init__(self, c, init):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c, 1, 1), init))

    def forward(self, x):
        return x * self.gamma


class WithAux(nn.Module):
    """`main`, and an auxiliary head fed from `main[tap]`'s output, run only in training mode."""

    def __init__(self, main, aux, tap):
        super().__init__()
        self.main, self.aux, self.tap = main, aux, tap

    def forward(self, x):
        for i, m in enumerate(self.main):
            x = m(x)
            if i == self.tap and self.training:
                self.aux(x)
        return x


class Split(nn.Module):
    def __init__(self, *paths):
        super().__init__()
        self.paths = nn.ModuleList(paths)

    def forward(self, x):
        return torch.cat([p(c) for p, c in zip(self.paths, x.chunk(len(self.paths), 1))], dim=1)


class ToSize(nn.Module):
    """`body`, then interpolated to the size of the input (or of `body[:tap + 1]`'s output)."""

    def __init__(self, body, mode="nearest", tap=None):
        super().__init__()
        self.body, self.mode, self.tap = body, mode, tap

    def forward(self, x):
        like = x
        for i, m in enumerate(self.body):
            x = m(x)
            if i == self.tap:
                like = x
        corners = False if self.mode == "bilinear" else None
        return nn.functional.interpolate(x, size=like.shape[-2:], mode=self.mode, align_corners=corners)


class FromA(nn.Module):
    """a, then `rest`; the result joined on channels with `a`'s output, then `head`."""

    def __init__(self, a, rest, branch, head):
        super().__init__()
        self.a, self.rest, self.branch, self.head = a, rest, branch, head

    def forward(self, x):
        a = self.a(x)
        return self.head(torch.cat([a, self.branch(self.rest(a))], dim=1))


S = nn.Sequential
gap_flat = lambda: S(nn.AdaptiveAvgPool2d(1), nn.Flatten())  # noqa: E731

TORCH = {
    "conv": lambda: nn.Conv2d(3, 8, 3, padding=1),
    "conv asymmetric": lambda: nn.Conv2d(4, 6, (5, 3), stride=(2, 1), padding=(2, 1), bias=False),
    "conv groups": lambda: nn.Conv2d(6, 12, 3, groups=3),
    "conv dilation": lambda: nn.Conv2d(2, 4, 3, dilation=2),
    "conv dilation same": lambda: nn.Conv2d(2, 4, 3, dilation=2, padding=2),
    "conv stride same": lambda: nn.Conv2d(3, 5, 3, stride=2, padding=1),
    "conv bn relu": lambda: S(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU()),
    "dwconv": lambda: nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),
    "dwconv multiplier": lambda: nn.Conv2d(8, 16, 3, padding=1, groups=8),
    "maxpool": lambda: nn.MaxPool2d(3, 2),
    "maxpool ceil": lambda: nn.MaxPool2d(3, 2, ceil_mode=True),
    "maxpool padding": lambda: nn.MaxPool2d(3, 2, padding=1),
    "maxpool ceil padding": lambda: nn.MaxPool2d(2, 2, padding=1, ceil_mode=True),
    "avgpool": lambda: nn.AvgPool2d(2),
    "avgpool ceil padding": lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
    "gap": lambda: nn.AdaptiveAvgPool2d(1),
    "adaptiveavgpool": lambda: nn.AdaptiveAvgPool2d(3),
    "flatten fc": lambda: S(nn.Flatten(), nn.Linear(48, 10)),
    "gap fc": lambda: S(gap_flat(), nn.Linear(5, 7)),
    "fc bn": lambda: S(nn.Linear(5, 7, bias=False), nn.BatchNorm1d(7), nn.ReLU()),
    "dropout": lambda: nn.Dropout(0.3),
    "bn map": lambda: nn.BatchNorm2d(3),
    "bn flat": lambda: S(nn.Flatten(), nn.BatchNorm1d(48), nn.ReLU()),
    "lrn": lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
    "act relu": nn.ReLU, "act relu6": nn.ReLU6, "act sigmoid": nn.Sigmoid, "act tanh": nn.Tanh,
    "act softmax": lambda: nn.Softmax(dim=1), "act silu": nn.SiLU, "act hardswish": nn.Hardswish,
    "act leakyrelu": nn.LeakyReLU, "act gelu": nn.GELU,
    "se": lambda: SE(16, 4),
    "se divisor": lambda: SE(120, 32, nn.functional.silu, nn.functional.hardsigmoid),
    "se squeeze": lambda: SE(16, 3),
    "layernorm map": lambda: ChannelsLast(nn.LayerNorm(8, eps=1e-6)),
    "layernorm flat": lambda: S(nn.Flatten(), nn.LayerNorm(12)),
    "fc channels": lambda: S(ChannelsLast(nn.Linear(8, 6)), nn.GELU()),
    "pixelshuffle": lambda: nn.PixelShuffle(3),
    "scale": lambda: LayerScale(6, 0.5),
    "droppath": nn.Identity,  # eval mode
    "residual identity": lambda: Residual(S(nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)),
                                          act=nn.ReLU()),
    "residual projection": lambda: Residual(nn.Conv2d(4, 8, 3, 2, 1), nn.Conv2d(4, 8, 1, 2)),
    "add": lambda: Add(nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1), nn.Identity()),
    "mul": lambda: Mul(nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1), nn.Identity()),
    "concat": lambda: Concat(nn.Conv2d(3, 2, 1), nn.Conv2d(3, 3, 3, padding=1), nn.MaxPool2d(3, 1, 1)),
    "group": lambda: S(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()),
    "repeat": lambda: S(*[S(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()) for _ in range(3)]),
    "block call": lambda: S(nn.Conv2d(2, 4, 1), nn.Conv2d(4, 6, 1)),
    "aux": lambda: WithAux(S(nn.Conv2d(3, 4, 3, padding=1), gap_flat(), nn.Linear(4, 2)),
                           S(gap_flat(), nn.Linear(4, 3)), tap=0),
    "convtranspose": lambda: nn.ConvTranspose2d(8, 6, 3, 2, 1, output_padding=1, groups=2),
    "convtranspose unet": lambda: nn.ConvTranspose2d(8, 4, 2, 2, bias=False),
    "upsample": lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
    "upsample nearest": lambda: nn.Upsample(scale_factor=3),
    "upsample to input": lambda: ToSize(S(nn.MaxPool2d(2), nn.Conv2d(2, 4, 1)), "bilinear"),
    "upsample to label": lambda: ToSize(S(nn.Identity(), nn.Conv2d(2, 2, 3, 2)), tap=0),
    "shuffle": lambda: nn.ChannelShuffle(3),
    "split": lambda: Split(nn.Identity(), nn.Conv2d(4, 4, 3, padding=1)),
    "from": lambda: FromA(nn.Conv2d(4, 4, 1), S(nn.Conv2d(4, 4, 3, 2, 1), nn.Upsample(scale_factor=2)),
                          nn.Conv2d(4, 2, 1), nn.Identity()),
    "from outer": lambda: FromA(nn.Conv2d(4, 4, 1), S(nn.Conv2d(4, 4, 3, 2, 1), nn.Upsample(scale_factor=2)),
                                nn.Identity(), nn.Conv2d(8, 2, 1)),
    "aux from": lambda: WithAux(S(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 8, 3, 2, 1), gap_flat(),
                                  nn.Linear(8, 2)), S(gap_flat(), nn.Linear(4, 3)), tap=0),
}


def measure(module: nn.Module, shape):
    """(output shape as H x W x C or N, params, MACs) of one eval-mode forward at batch 1."""
    module.eval()
    x = torch.randn(1, *(shape[2], shape[0], shape[1]) if len(shape) == 3 else shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(x)
    out = tuple(y.shape[1:])
    out = (out[1], out[2], out[0]) if len(out) == 3 else out
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return out, sum(p.numel() for p in module.parameters()), flops // 2


def test_every_case_has_an_oracle():
    assert set(TORCH) == set(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_against_torch(name):
    src = CASES[name][0]
    net = cnndsl.parse(src)
    a = analyze(net)
    torch.manual_seed(0)
    assert (a.output, a.params, a.macs) == measure(TORCH[name](), net.input)


# ---------------------------------------------------------------- random networks

ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "silu": nn.SiLU,
        "hardswish": nn.Hardswish}


def random_layer(rng: random.Random, c: int, h: int, depth: int):
    """One random statement valid for an h x h x c input: (source, module, out channels, out size)."""
    kind = rng.choice(["conv", "conv", "dwconv", "pool", "bn", "act", "se", "residual", "concat"]
                      if depth < 2 else ["conv", "dwconv", "pool", "bn", "act"])
    if kind == "conv":
        k = rng.choice([1, 2, 3, 5])
        kw = rng.choice([k, 1, 3])
        s, d = rng.choice([1, 1, 2]), rng.choice([1, 1, 2])
        p, pw = rng.randint(0, k // 2 + 1), rng.randint(0, kw // 2)
        g = rng.choice([g for g in (1, 2, 4) if c % g == 0])
        out = g * rng.randint(1, 6)
        bias = rng.random() < 0.5
        ho = (h + 2 * p - d * (k - 1) - 1) // s + 1
        wo = (h + 2 * pw - d * (kw - 1) - 1) // s + 1
        if min(ho, wo) < 1 or ho != wo:
            return None
        src = f"conv {k}x{kw}x{out} s{s} p{p}x{pw} d{d} g{g}{'' if bias else ' nobias'}"
        mods = [nn.Conv2d(c, out, (k, kw), s, (p, pw), (d, d), groups=g, bias=bias)]
        if rng.random() < 0.4:
            src += " bn"
            mods.append(nn.BatchNorm2d(out))
        if rng.random() < 0.5:
            act = rng.choice(list(ACTS))
            src += f" {act}"
            mods.append(ACTS[act]())
        return src, S(*mods), out, ho
    if kind == "dwconv":
        k, s = rng.choice([3, 5]), rng.choice([1, 2])
        ho = (h + 2 * (k // 2) - k) // s + 1
        return f"dwconv {k}x{k} s{s} same", nn.Conv2d(c, c, k, s, k // 2, groups=c), c, ho
    if kind == "pool":
        k = rng.choice([2, 3])
        s, p, ceil = rng.choice([1, 2]), rng.randint(0, k // 2), rng.random() < 0.5
        cls, name = rng.choice([(nn.MaxPool2d, "maxpool"), (nn.AvgPool2d, "avgpool")])
        m = cls(k, s, p, ceil_mode=ceil)
        span = h + 2 * p - k
        if span < 0:
            return None
        ho = (-(-span // s) if ceil else span // s) + 1
        if ceil and (ho - 1) * s >= h + p:
            ho -= 1
        return f"{name} {k} s{s} p{p}{' ceil' if ceil else ''}", m, c, ho
    if kind == "bn":
        return "bn", nn.BatchNorm2d(c), c, h
    if kind == "act":
        act = rng.choice(list(ACTS))
        return act, ACTS[act](), c, h
    if kind == "se":
        r = rng.choice([r for r in (1, 2, 4) if c // r >= 1])
        return f"se r={r}", SE(c, c // r), c, h
    if kind == "residual":
        body, mods, cc, hh = random_seq(rng, c, h, depth + 1, rng.randint(1, 3))
        if (cc, hh) == (c, h) and rng.random() < 0.5:
            return f"residual < {body} >", Residual(mods), c, h
        s = max(1, -(-h // hh)) if hh else 1
        if (h - 1) // s + 1 != hh:
            return None
        return (f"residual < {body} | conv 1x1x{cc} s{s} nobias bn > relu",
                Residual(mods, S(nn.Conv2d(c, cc, 1, s, bias=False), nn.BatchNorm2d(cc)), nn.ReLU()), cc, hh)
    # concat: branches that keep the spatial size
    n = rng.randint(2, 3)
    outs = [rng.randint(1, 5) for _ in range(n)]
    ks = [rng.choice([1, 3, 5]) for _ in range(n)]
    src = " | ".join(f"conv {k}x{k}x{o} same" for k, o in zip(ks, outs))
    return (f"concat < {src} >", Concat(*[nn.Conv2d(c, o, k, padding=k // 2) for k, o in zip(ks, outs)]),
            sum(outs), h)


def random_seq(rng, c, h, depth, n):
    parts, mods = [], []
    while len(parts) < n:
        got = random_layer(rng, c, h, depth)
        if got is None:
            continue
        src, m, c, h = got
        parts.append(src)
        mods.append(m)
    return "; ".join(parts), S(*mods), c, h


@pytest.mark.parametrize("seed", range(40))
def test_random_networks_against_torch(seed):
    rng = random.Random(seed)
    c, h = rng.randint(1, 8), rng.randint(8, 24)
    body, mods, c2, h2 = random_seq(rng, c, h, 0, rng.randint(2, 6))
    head = rng.random() < 0.5
    src = f"input {h}x{h}x{c}; {body}" + ("; gap; fc 7" if head else "")
    module = S(mods, gap_flat(), nn.Linear(c2, 7)) if head else mods
    net = cnndsl.parse(src)
    a = analyze(net)
    torch.manual_seed(seed)
    assert (a.output, a.params, a.macs) == measure(module, net.input), src
