"""The few PyTorch modules with a fixed forward that the built network is made of.

A `Scope` is one module of the network: its registered children (leaves, or scopes of their
own) and a static `plan`, nested tuples that `forward` walks. The plan is fixed when the module is
built, so `torch.compile` and `torch.fx` unroll the walk into straight-line code. Each step is a
tuple whose first element names its function in `STEPS`:

    ("m", name, flatten, save, aux, args)
                                         run the child `name` (after `torch.flatten(x, 1)` if
                                         `flatten`) on x and the saved tensors `args`; keep its
                                         output under `name` if `save`; the child returns
                                         `(y, aux outputs)` in training mode if `aux`
    ("p", name)                          multiply by the parameter `name` (a layer scale)
    ("f", label)                         `from LABEL`: continue from the saved tensor `label`
    (step, paths, act, inplace, tap)     a combinator's step (`step` is its class's `step`):
      "residual"                         paths[0](x) + paths[1](x) (x if there is no paths[1]),
                                         in place if `inplace`
      "add" / "mul"                      the sum / the element-wise product of the paths
      "concat"                           the paths joined on channels
      "split"                            x cut into len(paths) chunks of channels, path i run on
                                         chunk i, the results joined on channels
      "aux"                              training mode only: run paths[0] on x (or on the saved
                                         output `tap`) and collect the result; passes x through

`act` (applied after the join) is None or ("F.relu" / "torch.sigmoid" ..., keyword-argument pairs).
Imported only by `cnndsl.backends.torch_module`, never by `import cnndsl`.
"""

from __future__ import annotations

import operator
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2017), laid out as timm's `SEModule` and torchvision's
    `SqueezeExcitation`: `fc1`, the activation `act`, `fc2`, the gate (`torch.nn` class names)."""

    def __init__(
        self, channels: int, rd_channels: int, act: str = "ReLU", gate: str = "Sigmoid"
    ) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1)
        self.act = getattr(nn, act)()
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1)
        self.gate = getattr(nn, gate)()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class Resize(nn.Module):
    """Interpolation to the height and width of a second tensor, read when the network runs
    (torchvision FCN's `F.interpolate(x, size=input_shape, ...)`)."""

    def __init__(
        self, mode: str = "nearest", align_corners: bool | None = None
    ) -> None:
        super().__init__()
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(
            x, size=like.shape[-2:], mode=self.mode, align_corners=self.align_corners
        )


_NAMESPACES = {"F": F, "torch": torch}


def _act(x, act):
    if act is None:
        return x
    fn, kwargs = act  # ("F.relu", ()) or ("torch.sigmoid", ()) or ("F.leaky_relu", (("negative_slope", 0.2),))
    namespace, _, name = fn.partition(".")
    return getattr(_NAMESPACES[namespace], name)(x, **dict(kwargs))


def _seq(mod, ops, x, env, aux):
    for op in ops:
        x = STEPS[op[0]](mod, op, x, env, aux)
    return x


def _call(mod, op, x, env, aux):
    _, name, flatten, save, emits, args = op
    if flatten:
        x = torch.flatten(x, 1)
    y = getattr(mod, name)(x, *[env[a] for a in args])
    if emits and mod.training:
        y, more = y
        aux.extend(more)
    if save:
        env[name] = y
    return y


def _scale(mod, op, x, env, aux):
    return x * getattr(mod, op[1])


def _residual(mod, op, x, env, aux):
    _, paths, act, inplace, _ = op
    y = _seq(mod, paths[0], x, env, aux)
    s = x if len(paths) == 1 else _seq(mod, paths[1], x, env, aux)
    if inplace:
        y += s
    else:
        y = y + s
    return _act(y, act)


def _elementwise(combine):
    """The step of an element-wise join: `combine` folded over the paths, in order."""

    def step(mod, op, x, env, aux):
        paths, act = op[1], op[2]
        y = _seq(mod, paths[0], x, env, aux)
        for path in paths[1:]:
            y = combine(y, _seq(mod, path, x, env, aux))
        return _act(y, act)

    return step


def _concat(mod, op, x, env, aux):
    paths, act = op[1], op[2]
    return _act(torch.cat([_seq(mod, p, x, env, aux) for p in paths], 1), act)


def _fetch(mod, op, x, env, aux):
    return env[op[1]]


def _split(mod, op, x, env, aux):
    paths, act = op[1], op[2]
    chunks = x.chunk(len(paths), 1)  # indexed, not iterated: torch.fx traces it
    return _act(torch.cat([_seq(mod, p, chunks[i], env, aux) for i, p in enumerate(paths)], 1), act)


def _aux(mod, op, x, env, aux):
    paths, tap = op[1], op[4]
    if mod.training:
        aux.append(_seq(mod, paths[0], x if tap is None else env[tap], env, aux))
    return x


STEPS = {"m": _call, "p": _scale, "f": _fetch, "residual": _residual, "add": _elementwise(operator.add),
         "mul": _elementwise(operator.mul), "concat": _concat, "split": _split, "aux": _aux}


class Scope(nn.Module):
    """One module of the network: its children by name and the plan that runs them.

    Its own attributes start with `_`, which no label can (so `features` or `plan` stay free)."""

    def __init__(self, plan: tuple, emits_aux: bool = False, extra: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._plan = plan
        self._emits_aux = emits_aux
        self._extra = extra  # labels of the outer tensors passed after x

    def forward(self, x: torch.Tensor, *extra: torch.Tensor):
        env: dict = dict(zip(self._extra, extra))
        aux: list = []
        y = _seq(self, self._plan, x, env, aux)
        if self._emits_aux and self.training:
            return y, tuple(aux)
        return y


class Network(Scope):
    """The whole network. Returns the output; in training mode with auxiliary heads, the named
    tuple `outputs_type(out, aux...)`; with `features`, an ordered dict of those labels' outputs."""

    def __init__(self, plan: tuple, outputs_type=None, features: tuple[str, ...] = ()) -> None:
        super().__init__(plan, emits_aux=False)
        self._outputs_type = outputs_type
        self._features = features

    def forward(self, x: torch.Tensor):
        env: dict = {"input": x}  # `upsample to input`, `from input`
        aux: list = []
        y = _seq(self, self._plan, x, env, aux)
        if self._features:
            out = OrderedDict()
            for name in self._features:
                out[name] = env[name]
            return out
        if self._outputs_type is not None and self.training:
            return self._outputs_type(y, *aux)
        return y


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an N x C x H x W map (torchvision's ConvNeXt `LayerNorm2d`):
    channels-last, normalize, and back; `weight` and `bias` of shape [C]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelLinear(nn.Linear):
    """A linear layer over the channels of an N x C x H x W map at every position (ConvNeXt's
    `Linear` between `Permute`s): `weight` [out, in], `bias` [out]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class StochasticDepth(nn.Module):
    """Stochastic depth (Huang et al. 2016) as torchvision's `StochasticDepth(p, "row")`: in
    training, zero each sample's whole input with probability p and scale the rest by 1 / (1 - p);
    the identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        size = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask.div_(keep)
