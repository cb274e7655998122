"""A program against the PyTorch module it should equal (`cnndsl verify FILE --against TARGET`,
`cnndsl.verify(network, module)`): the tool for writing a `.cnn` of a network one already has in PyTorch.

Both modules are compared as built, in eval mode at batch 1 on the program's `input` size:

1. params (`sum(p.numel())`), MACs (`torch.utils.flop_counter.FlopCounterMode` total / 2) and the
   output shape;
2. the `state_dict` keys and shapes, in order: the first position where they part, or, when only
   the names differ, the positional mapping from cnndsl's keys to the reference's;
3. the outputs on one random input, after the reference's weights are loaded into cnndsl's module
   strictly (by position when only the names differ). The reference's batch norms first get random,
   non-trivial running statistics and affine weights (on a copy), so a wrong `eps`, a missing
   normalization or a swapped statistic shows in the outputs.

Example:
    >>> report = cnndsl.verify(cnndsl.parse_file("resnet18"), torchvision.models.resnet18())
    >>> report.ok
    True
    >>> print(report.table())
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from cnndsl.errors import CnnError, did_you_mean
from cnndsl.ir import Network

RTOL = 1e-5  # outputs are equal when max |ours - reference| <= RTOL * max |reference| (float32 summation order)
SHOWN = 10  # names of a mapping shown in the table; `Report.mapping` has them all
SEED = 0


@dataclass(frozen=True)
class Figures:
    """One side of the comparison: what was measured on its module."""

    params: int
    macs: int
    outputs: tuple[tuple[int, ...], ...]  # the shape of each output tensor, batch dimension left out
    state: tuple[tuple[str, tuple[int, ...]], ...]  # state_dict (key, shape) pairs in order


@dataclass(frozen=True)
class Report:
    """cnndsl's module (`ours`) against the reference; `max_abs` / `max_rel` are None when the
    weights could not be loaded (the state_dicts differ by more than names)."""

    ours: Figures
    reference: Figures
    max_abs: float | None
    max_rel: float | None
    finite: bool = True  # every output value of both modules is finite (no overflow to inf or nan)

    @property
    def first_difference(self) -> int | None:
        """The first position where the (key, shape) lists part; None when equal."""
        a, b = self.ours.state, self.reference.state
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return i
        return None if len(a) == len(b) else min(len(a), len(b))

    @property
    def names_only(self) -> bool:
        """The state_dicts differ, but only by names: the same shapes in the same order."""
        return self.ours.state != self.reference.state and same_shapes(self.ours.state, self.reference.state)

    @property
    def mapping(self) -> dict[str, str] | None:
        """{cnndsl key: reference key} by position for the keys whose names differ; None when the
        shapes differ too (then no renaming makes the weights fit)."""
        if not same_shapes(self.ours.state, self.reference.state):
            return None
        return {x[0]: y[0] for x, y in zip(self.ours.state, self.reference.state) if x[0] != y[0]}

    @property
    def outputs_equal(self) -> bool:
        return self.finite and self.max_rel is not None and self.max_rel <= RTOL

    @property
    def ok(self) -> bool:
        return (self.ours.params == self.reference.params and self.ours.macs == self.reference.macs
                and self.ours.outputs == self.reference.outputs and self.ours.state == self.reference.state
                and self.outputs_equal)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(what, cnndsl, reference, verdict) for the table; the verdict is "equal" or what differs."""
        a, b = self.ours, self.reference
        verdict = (lambda ok: "equal" if ok else "DIFFERS")
        shapes = (lambda f: ", ".join(str(list(s)) for s in f.outputs))
        if self.max_rel is None:
            out = ("not compared: the state_dicts differ", "", "DIFFERS")
        elif not self.finite:
            out = ("not compared: an output is inf or nan", "", "UNKNOWN")
        else:
            out = (f"max abs diff {self.max_abs:.3g}", f"relative {self.max_rel:.3g}", verdict(self.outputs_equal))
        return [("params", f"{a.params:,}", f"{b.params:,}", verdict(a.params == b.params)),
                ("MACs", f"{a.macs:,}", f"{b.macs:,}", verdict(a.macs == b.macs)),
                ("output shape", shapes(a), shapes(b), verdict(a.outputs == b.outputs)),
                ("state_dict", f"{len(a.state)} keys", f"{len(b.state)} keys",
                 "NAMES DIFFER" if self.names_only else verdict(a.state == b.state)),
                ("outputs (eval)", *out)]

    def table(self) -> str:
        """The comparison as text: one row per figure, then what differs in the state_dicts."""
        rows = [("", "cnndsl", "reference", "")] + self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, [*widths, 0])).rstrip() for r in rows]
        i = self.first_difference
        if self.names_only:
            m = self.mapping
            lines.append(f"state_dict: the same shapes in the same order, {len(m)} of {len(self.ours.state)} names "
                         "differ; the reference's weights were loaded by position. Mapping, cnndsl -> reference:")
            lines += [f"  {k} -> {v}" for k, v in list(m.items())[:SHOWN]]
            if len(m) > SHOWN:
                lines.append(f"  ... ({len(m) - SHOWN} more)")
        elif i is not None:
            shown = (lambda s: f"'{s[i][0]}' {list(s[i][1])}" if i < len(s) else "(no more keys)")
            lines.append(f"state_dict: first difference at key #{i}: cnndsl {shown(self.ours.state)}, "
                         f"reference {shown(self.reference.state)}")
        if self.max_rel is not None and not self.finite:
            lines.append("outputs: a forward gave inf or nan on the random input, so they cannot be compared: "
                         "the reference's weights are too large for its depth (initialize them smaller, or load "
                         "trained ones)")
        elif self.max_rel is not None and not self.outputs_equal:
            lines.append("outputs: the weights fit, yet the outputs differ: a layer computes something else "
                         "(an activation, padding, pooling, a batch-norm eps, the order of operations)")
        return "\n".join(lines)


def verify(network: Network, module) -> Report:
    """Compare the module of `network` (built by `cnndsl.build`) with `module` (a `torch.nn.Module`,
    left unchanged: a copy is measured). See the module docstring for what is compared."""
    import torch

    import cnndsl

    if not isinstance(module, torch.nn.Module):
        raise CnnError(f"verify: the reference is a {type(module).__name__}, not a torch.nn.Module")
    ours = cnndsl.build(network).eval()
    reference = copy.deepcopy(module).cpu().eval()
    gen = torch.Generator().manual_seed(SEED)
    shuffle_batch_norms(reference, gen)
    ours_state, ref_state = state_figures(ours), state_figures(reference)
    loaded = same_shapes(ours_state, ref_state)
    if loaded:  # the same shapes in order: load by position (by name, when the names are equal too)
        values = reference.state_dict().values()
        ours.load_state_dict({k: v for (k, _), v in zip(ours_state, values)}, strict=True)
    shape = network.input
    x = torch.randn((1, shape[2], shape[0], shape[1]) if len(shape) == 3 else (1, *shape), generator=gen)
    a, ya = measure(ours, x, "cnndsl's module")
    b, yb = measure(reference, x, "the reference module")
    max_abs = max_rel = None
    finite = all(bool(torch.isfinite(t).all()) for t in (*ya, *yb))
    if loaded and [t.shape for t in ya] == [t.shape for t in yb]:
        max_abs = max((float((p - q).abs().max()) for p, q in zip(ya, yb)), default=0.0)
        scale = max((float(q.abs().max()) for q in yb), default=0.0)
        max_rel = max_abs / scale if scale else (0.0 if max_abs == 0 else float("inf"))
    return Report(Figures(*a, ours_state), Figures(*b, ref_state), max_abs, max_rel, finite)


def same_shapes(a, b) -> bool:
    """Whether two (key, shape) lists hold the same shapes in the same order, names aside."""
    return [s for _, s in a] == [s for _, s in b]


def state_figures(module) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple((k, tuple(v.shape)) for k, v in module.state_dict().items())


def shuffle_batch_norms(module, gen) -> None:
    """Random running statistics and affine weights for every batch norm, far from the initial
    (0, 1, 1, 0), so that `eps` and every normalization term change the output: variances from 0.05
    to 0.55, where an eps of 0.001 instead of 0.00001 moves an output by up to 1%. Each weight is
    sqrt(variance) times 0.8 to 1.2, so a norm's gain, weight / sqrt(variance + eps), stays near 1 and
    a deep network (ResNet-152's 155 norms) neither overflows nor vanishes."""
    import torch

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                n = m.num_features
                var = 0.05 + 0.5 * torch.rand(n, generator=gen)
                if m.running_var is not None:
                    m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                    m.running_var.copy_(var)
                if m.weight is not None:
                    m.weight.copy_(var.sqrt() * (0.8 + 0.4 * torch.rand(n, generator=gen)))
                    m.bias.copy_(0.1 * torch.randn(n, generator=gen))


def measure(module, x, who: str):
    """((params, MACs, output shapes), output tensors) of one eval-mode forward of `module` on `x`."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = module(x)
    except Exception as exc:  # noqa: BLE001 - the reference is the user's code
        raise CnnError(f"verify: {who} failed on a {'x'.join(map(str, x.shape))} input: "
                       f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    tensors = (tuple(out.values()) if isinstance(out, Mapping)  # several outputs: each compared
               else tuple(out) if isinstance(out, (tuple, list)) else (out,))
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        raise CnnError(f"verify: {who} returned a {type(out).__name__}, not tensors")
    params = sum(p.numel() for p in module.parameters())
    return (params, counter.get_total_flops() // 2, tuple(tuple(t.shape[1:]) for t in tensors)), tensors


# ---------------------------------------------------------------------------------------------
# the reference, named on the command line


def load_target(target: str, kwargs: Mapping[str, Any]):
    """The module that `target` makes, called with `kwargs`:

    - `timm:NAME`: `timm.create_model(NAME, **kwargs)`;
    - `package.module:function` (or `:Class`, or `:attribute.path`): that callable, imported;
    - `package.module.function`, e.g. `torchvision.models.resnet50`: the same, split at the last dot.

    The current directory is importable, as for `python -m`.

    Raises:
        CnnError: a malformed target, a module that cannot be imported, no such attribute, a
            factory that raises or returns something other than a torch.nn.Module.
    """
    import torch

    if target.startswith("timm:"):  # an unknown name: create_model raises "Unknown model (NAME)"
        timm = _import("timm")
        factory = partial(timm.create_model, target.removeprefix("timm:"))
    else:
        path, _, attr = target.partition(":") if ":" in target else target.rpartition(".")
        if not path or not attr or not all(p.isidentifier() for p in (*path.split("."), *attr.split("."))):
            raise CnnError(f"--against: '{target}' is not a target",
                           hint="like torchvision.models.resnet50, timm:seresnet50 or package.module:function")
        factory = _import(path)
        for i, part in enumerate(attr.split(".")):
            if not hasattr(factory, part):
                where = ".".join([path, *attr.split(".")[:i]])
                names = [n for n in dir(factory) if not n.startswith("_")]
                raise CnnError(f"--against: '{where}' has no attribute '{part}'", hint=did_you_mean(part, names))
            factory = getattr(factory, part)
        if not callable(factory):
            raise CnnError(f"--against: '{target}' is a {type(factory).__name__}, not a function or class")
    try:
        module = factory(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the factory is the user's code
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise CnnError(f"--against: {target}({shown}) raised {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not isinstance(module, torch.nn.Module):
        raise CnnError(f"--against: {target} returned a {type(module).__name__}, not a torch.nn.Module")
    return module


def _import(name: str):
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        hint = (f"{top} is optional and not installed: pip install {top}" if top in ("torchvision", "timm")
                else "is it installed, or a .py file in the current directory or on PYTHONPATH?")
        raise CnnError(f"--against: cannot import '{name}': {exc}", hint=hint) from None
    except Exception as exc:  # noqa: BLE001 - importing runs the user's module
        raise CnnError(f"--against: importing '{name}' raised {type(exc).__name__}: {exc}".splitlines()[0]) from None
    finally:
        if added:
            sys.path.remove(here)
