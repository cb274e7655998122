"""The PyTorch backend: IR -> `torch.nn.Module`, in two stages (decode, then build).

1. `cnndsl.passes.plan.decode(network)` (no torch) gives the module tree as records: each leaf's
   `TorchCall`s (declared by its class's `module`), each module's children and plan of steps.
   `cnndsl.backends.torch_source` writes the same records as Python source, so the in-memory
   module and the emitted source cannot disagree.
2. `build(network)` turns them into `cnndsl.backends.runtime.Scope` modules.

Module names (and so `state_dict` keys) follow the IR's names: see docs/naming.md.

Example:
    >>> import cnndsl
    >>> m = cnndsl.build(cnndsl.parse("input 8x8x3; conv1: conv 3x3x4 same nobias bn relu; gap; fc: fc 2"))
    >>> list(m.state_dict())[:2]
    ['conv1.conv.weight', 'conv1.bn.weight']
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cnndsl.backends.weights import load_matching, load_weights  # noqa: F401  (load_matching: public here too)
from cnndsl.ir import Network
from cnndsl.layers.modules import RUNTIME_CLASSES, Leaf, TorchCall
from cnndsl.passes.plan import Call, Decoded, Fetch, ScopeSpec, decode
from cnndsl.passes.size import MAX_ACTIVATIONS, MAX_PARAMS, check_size


def make(tc: TorchCall):
    """The module a `TorchCall` describes."""
    from torch import nn

    from cnndsl.backends import runtime

    cls = getattr(runtime, tc.cls) if tc.cls in RUNTIME_CLASSES else getattr(nn, tc.cls)
    return cls(*tc.args, **dict(tc.kwargs))


def make_leaf(leaf: Leaf):
    from collections import OrderedDict

    import torch
    from torch import nn

    if leaf.parameter is not None:
        return nn.Parameter(torch.full(*leaf.parameter))
    if len(leaf.parts) == 1:
        return make(leaf.parts[0][1])
    return nn.Sequential(OrderedDict((name, make(tc)) for name, tc in leaf.parts))


def plan_tuple(ops: list) -> tuple:
    """The runtime's tuple form of a plan (see `cnndsl.backends.runtime`)."""
    return tuple(_step(op) for op in ops)


def _step(op) -> tuple:
    if isinstance(op, Fetch):
        return ("f", op.label)
    if isinstance(op, Call):
        return ("p", op.name) if op.parameter else ("m", op.name, op.flatten, op.save, op.emits_aux, op.args)
    return (op.node.step, tuple(plan_tuple(p) for p in op.paths), op.act, op.inplace, getattr(op.node, "tap", None))


def make_scope(spec: ScopeSpec, module=None):
    from cnndsl.backends import runtime

    module = module if module is not None else runtime.Scope(plan_tuple(spec.plan), spec.emits_aux, tuple(spec.extra))
    for name, child in spec.children.items():
        if isinstance(child, Leaf) and child.parameter is not None:
            module.register_parameter(name, make_leaf(child))
        else:
            module.add_module(name, make_scope(child) if isinstance(child, ScopeSpec) else make_leaf(child))
    return module


def outputs_type(decoded: Decoded):
    """The named tuple a training-mode forward returns when the network has auxiliary heads."""
    if not decoded.aux_fields or decoded.features:
        return None
    from collections import namedtuple

    cls_name = f"{camel(decoded.network.name)}Outputs"
    return namedtuple(cls_name, ("out", *decoded.aux_fields))


def camel(name: str) -> str:
    """`resnet50` -> `Resnet50`, `mobilenet_v2` -> `MobilenetV2`; always a valid identifier."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words) or "Network"
    return text if text[0].isalpha() else f"Net{text}"


def build(network: Network, *, outputs=None, weights=None, max_params: int | None = MAX_PARAMS,
          max_activations: int | None = MAX_ACTIVATIONS):
    """The `torch.nn.Module` of `network`.

    Args:
        outputs: labels of top-level statements: return an ordered dict of their outputs and drop
            the rest of the network (a backbone for detection or segmentation).
        weights: a state_dict, or a path to a `.pt` / `.pth` / `.safetensors` file, loaded strictly.
        max_params: refuse (before allocating anything) a network with more parameters
            (default 4 G); None: no limit.
        max_activations: refuse a network whose batch-1 eval forward writes more activation
            elements (default 1 G, 4 GB as float32); None: no limit.

    Raises:
        CnnError: unknown output labels, a network over a size limit, or weights that do not fit
            (one message listing the keys).
    """
    from cnndsl.backends import runtime

    decoded = decode(network, outputs)
    check_size(decoded.analysis, max_params, max_activations)
    root = runtime.Network(plan_tuple(decoded.root.plan), outputs_type(decoded), decoded.features)
    model = make_scope(decoded.root, root)
    model._network_name = network.name
    if weights is not None:
        load_weights(model, weights)
    return model


def load(path: str | Path, /, *, outputs=None, weights=None, max_params: int | None = MAX_PARAMS,
         max_activations: int | None = MAX_ACTIVATIONS, **params: Any):
    """Parse a `.cnn` file (or a shipped architecture by name) and build its module (see `build`)."""
    import cnndsl

    return build(cnndsl.parse_file(path, **params), outputs=outputs, weights=weights, max_params=max_params,
                 max_activations=max_activations)
