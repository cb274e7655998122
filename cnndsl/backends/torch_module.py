"""The PyTorch backend: IR -> `torch.nn.Module`, in two stages (decode, then build).

1. `decode(network)` (no torch): every leaf becomes a `Leaf` of `TorchCall` records, one small
   function per layer kind in `LEAVES`; every module of the network becomes a `ScopeSpec` holding
   its children by name and a plan of `Call` / `ResidualOp` / `JoinOp` / `AuxOp` steps.
   `cnndsl.backends.torch_source` renders the same records as Python source, so the in-memory
   module and the emitted source cannot disagree.
2. `build(network)` turns the specs into `cnndsl.backends.runtime.Scope` modules.

Module names (and so `state_dict` keys) follow the IR's names: see docs/naming.md.

Example:
    >>> import cnndsl
    >>> m = cnndsl.build(cnndsl.parse("input 8x8x3; conv1: conv 3x3x4 same nobias bn relu; gap; fc: fc 2"))
    >>> list(m.state_dict())[:2]
    ['conv1.conv.weight', 'conv1.bn.weight']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnndsl.backends import pretrained  # published weights by name (weights="torchvision:...")
from cnndsl.errors import CnnError
from cnndsl.ir import Network, Node, Shape
from cnndsl.passes.shapes import Analysis, analyze

# ---------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class TorchCall:
    """One module constructor call: `cls` is a `torch.nn` class ("Conv2d") or a class of
    `cnndsl.backends.runtime` listed in `RUNTIME_CLASSES`; arguments are plain Python values."""

    cls: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


RUNTIME_CLASSES = frozenset({"SqueezeExcite"})


def call(cls: str, *args: Any, **kwargs: Any) -> TorchCall:
    return TorchCall(cls, args, tuple(kwargs.items()))


@dataclass(frozen=True)
class Leaf:
    """A leaf statement's module: one part is the module itself; several (a fused `conv bn relu`)
    are the children of an `nn.Sequential`, named after their kinds."""

    parts: tuple[tuple[str, TorchCall], ...]
    flatten: bool = False  # flatten a 1 x 1 x C input first (an `fc` after `gap`)
    fresh: bool = False  # writes a new tensor whose producer needs no output for backward (in-place safe)


Act = tuple[str, tuple[tuple[str, Any], ...]] | None  # ("F.relu", ()) or None


@dataclass
class Call:
    """Run the registered child `name`."""

    name: str
    flatten: bool = False
    save: bool = False  # keep the output for `aux from` / `outputs=`
    emits_aux: bool = False  # the child returns (y, aux outputs) in training mode


@dataclass
class ResidualOp:
    body: list
    shortcut: list | None
    act: Act
    inplace: bool = False  # `y += shortcut`: body ends in a fresh, unsaved tensor


@dataclass
class JoinOp:
    how: str  # "add" or "concat"
    paths: list
    act: Act


@dataclass
class AuxOp:
    tap: str | None
    body: list
    field: str = ""  # its name in the training-mode outputs tuple


Op = Call | ResidualOp | JoinOp | AuxOp


@dataclass
class ScopeSpec:
    """One module of the network: children in registration order, and the plan that runs them."""

    name: str
    node: Node | None  # None for the network itself
    input: Shape
    output: Shape
    children: dict[str, Leaf | ScopeSpec] = field(default_factory=dict)
    plan: list = field(default_factory=list)
    emits_aux: bool = False


# ---------------------------------------------------------------------------------------------
# one function per leaf kind: (node, input shape, output shape) -> Leaf

# activation -> (torch.nn class, takes `inplace`, functional form)
ACTIVATIONS: dict[str, tuple[str, bool, str]] = {
    "relu": ("ReLU", True, "F.relu"),
    "relu6": ("ReLU6", True, "F.relu6"),
    "sigmoid": ("Sigmoid", False, "torch.sigmoid"),
    "tanh": ("Tanh", False, "torch.tanh"),
    "softmax": ("Softmax", False, "F.softmax"),
    "silu": ("SiLU", True, "F.silu"),
    "hardswish": ("Hardswish", True, "F.hardswish"),
    "leakyrelu": ("LeakyReLU", True, "F.leaky_relu"),
    "gelu": ("GELU", False, "F.gelu"),
}


def _act_kwargs(fn: str, slope: float) -> dict[str, Any]:
    if fn == "softmax":
        return {"dim": 1}
    if fn == "leakyrelu" and slope != 0.01:
        return {"negative_slope": slope}
    return {}


def act_module(fn: str, slope: float = 0.01, inplace: bool = False) -> TorchCall:
    cls, can_inplace, _ = ACTIVATIONS[fn]
    kw = _act_kwargs(fn, slope)
    if inplace and can_inplace:
        kw["inplace"] = True
    return call(cls, **kw)


def act_function(fn: str | None, slope: float = 0.01) -> Act:
    """The functional form of an activation applied after a join (it owns no module name)."""
    if fn is None:
        return None
    return (ACTIVATIONS[fn][2], tuple(_act_kwargs(fn, slope).items()))


def _one(pair: tuple[int, int]) -> int | tuple[int, int]:
    return pair[0] if pair[0] == pair[1] else pair


def _bn(node, channels: int, flat: bool) -> TorchCall:
    kw = {}
    if node.eps != 1e-5:
        kw["eps"] = node.eps
    if node.momentum != 0.1:
        kw["momentum"] = node.momentum
    return call("BatchNorm1d" if flat else "BatchNorm2d", channels, **kw)


def _fused(node, main: tuple[str, TorchCall] | None, channels: int, flat: bool, **extra) -> Leaf:
    parts = [main] if main else []
    if node.bn:
        parts.append(("bn", _bn(node, channels, flat)))
    if node.act:
        parts.append(("act", act_module(node.act, node.slope, inplace=bool(parts))))
    return Leaf(tuple(parts), fresh=not node.act, **extra)


def _conv2d(node, in_chs: int, out_chs: int, groups: int) -> TorchCall:
    kw: dict[str, Any] = {"kernel_size": _one(node.kernel)}
    if node.stride != (1, 1):
        kw["stride"] = _one(node.stride)
    if node.padding != (0, 0):
        kw["padding"] = _one(node.padding)
    if node.dilation != (1, 1):
        kw["dilation"] = _one(node.dilation)
    if groups != 1:
        kw["groups"] = groups
    if not node.bias:
        kw["bias"] = False
    return call("Conv2d", in_chs, out_chs, **kw)


def conv(node, x: Shape, y: Shape) -> Leaf:
    return _fused(node, ("conv", _conv2d(node, x[2], y[2], node.groups)), y[2], False)


def dwconv(node, x: Shape, y: Shape) -> Leaf:
    return _fused(node, ("conv", _conv2d(node, x[2], y[2], x[2])), y[2], False)


def fc(node, x: Shape, y: Shape) -> Leaf:
    features = x[-1]
    kw = {} if node.bias else {"bias": False}
    return _fused(node, ("fc", call("Linear", features, node.out, **kw)), node.out, True, flatten=len(x) == 3)


def bn(node, x: Shape, y: Shape) -> Leaf:
    return _fused(node, None, x[-1], len(x) == 1)


def act(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("act", act_module(node.fn, node.slope)),))


def se(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("se", call("SqueezeExcite", x[2], node.squeezed(x[2]))),))


def _pool_kw(node) -> dict[str, Any]:
    """The arguments `nn.MaxPool2d` and `nn.AvgPool2d` share, defaults left out."""
    kw: dict[str, Any] = {"kernel_size": _one(node.kernel), "stride": _one(node.stride)}
    if node.padding != (0, 0):
        kw["padding"] = _one(node.padding)
    if node.ceil:
        kw["ceil_mode"] = True
    return kw


def maxpool(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("pool", call("MaxPool2d", **_pool_kw(node))),))


def avgpool(node, x: Shape, y: Shape) -> Leaf:
    kw = _pool_kw(node)
    if not node.count_include_pad:
        kw["count_include_pad"] = False
    return Leaf((("pool", call("AvgPool2d", **kw)),))


def gap(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("pool", call("AdaptiveAvgPool2d", (1, 1))),))


def adaptiveavgpool(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("pool", call("AdaptiveAvgPool2d", node.size)),))


def lrn(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("lrn", call("LocalResponseNorm", node.size, alpha=node.alpha, beta=node.beta, k=node.k)),))


def flatten(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("flatten", call("Flatten", 1)),))


def dropout(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("dropout", call("Dropout", node.p)),))


def identity(node, x: Shape, y: Shape) -> Leaf:
    return Leaf((("identity", call("Identity")),))


LEAVES: dict[str, Callable[[Any, Shape, Shape], Leaf]] = {
    "conv": conv, "dwconv": dwconv, "fc": fc, "bn": bn, "act": act, "se": se, "maxpool": maxpool,
    "avgpool": avgpool, "gap": gap, "adaptiveavgpool": adaptiveavgpool, "lrn": lrn, "flatten": flatten,
    "dropout": dropout, "identity": identity,
}

# ---------------------------------------------------------------------------------------------
# combinators: (decoder, node, scope) -> steps in that scope


def group(d: Decoder, node, scope: ScopeSpec) -> list:
    return d.seq(node.children, scope)


def repeat(d: Decoder, node, scope: ScopeSpec) -> list:
    return [op for copy in node.copies for op in d.seq(copy, scope)]


def residual(d: Decoder, node, scope: ScopeSpec) -> list:
    body = d.seq(node.body, scope)
    shortcut = d.seq(node.shortcut, scope) if node.shortcut is not None else None
    return [ResidualOp(body, shortcut, act_function(node.act))]


def add(d: Decoder, node, scope: ScopeSpec) -> list:
    return [JoinOp("add", [d.seq(p, scope) for p in node.paths], act_function(node.act))]


def concat(d: Decoder, node, scope: ScopeSpec) -> list:
    return [JoinOp("concat", [d.seq(p, scope) for p in node.paths], act_function(node.act))]


def aux(d: Decoder, node, scope: ScopeSpec) -> list:
    op = AuxOp(node.tap, d.seq(node.body, scope))
    d.aux_ops.append((node, op))  # after its body: the order the outputs are collected in
    return [op]


COMBINATORS: dict[str, Callable[[Decoder, Any, ScopeSpec], list]] = {
    "group": group, "repeat": repeat, "residual": residual, "add": add, "concat": concat, "aux": aux,
}


def backend_entry(kind: str):
    """The leaf function or combinator function of `kind` (None if it has none)."""
    return LEAVES.get(kind) or COMBINATORS.get(kind)


# ---------------------------------------------------------------------------------------------
# decode


class Decoder:
    """IR + shape analysis -> the tree of `ScopeSpec`s."""

    def __init__(self, analysis: Analysis):
        self.rows = {id(r.node): r for r in analysis.rows}
        self.aux_ops: list[tuple[Node, AuxOp]] = []

    def seq(self, nodes, scope: ScopeSpec) -> list:
        out: list = []
        for node in nodes:
            out.extend(self.node(node, scope))
        return out

    def node(self, node: Node, scope: ScopeSpec) -> list:
        row = self.rows[id(node)]
        leaf_fn = LEAVES.get(node.kind)
        if leaf_fn is not None:
            leaf = leaf_fn(node, row.input, row.output)
            scope.children[node.name] = leaf
            return [Call(node.name, flatten=leaf.flatten)]
        comb = COMBINATORS.get(node.kind)
        if comb is None:
            raise CnnError(f"the PyTorch backend does not support '{node.describe()}' ({node.kind})", node.span)
        if not node.name:  # no module of its own: children join this scope
            return comb(self, node, scope)
        child = ScopeSpec(node.name, node, row.input, row.output)
        if node.kind == "aux":  # the head's module holds its body; the step stays here (for `from`)
            child.plan = self.seq(node.body, child)
            op = AuxOp(node.tap, [Call(node.name)])
            self.aux_ops.append((node, op))
            steps = [op]
        else:
            child.plan = comb(self, node, child)
            steps = [Call(node.name)]
        finish(child)
        scope.children[node.name] = child
        for c in _calls(steps):
            c.emits_aux = child.emits_aux
        return steps


def _walk(ops: list):
    """Every step of a plan, nested ones included (not into child modules)."""
    for op in ops:
        yield op
        if isinstance(op, ResidualOp):
            yield from _walk(op.body)
            yield from _walk(op.shortcut or [])
        elif isinstance(op, JoinOp):
            for p in op.paths:
                yield from _walk(p)
        elif isinstance(op, AuxOp):
            yield from _walk(op.body)


def _calls(ops: list):
    return [op for op in _walk(ops) if isinstance(op, Call)]


def _sequences(ops: list):
    """Every straight sequence of steps in a plan (the plan itself, each branch, each aux body)."""
    yield ops
    for op in ops:
        if isinstance(op, ResidualOp):
            yield from _sequences(op.body)
            if op.shortcut is not None:
                yield from _sequences(op.shortcut)
        elif isinstance(op, JoinOp):
            for p in op.paths:
                yield from _sequences(p)
        elif isinstance(op, AuxOp):
            yield from _sequences(op.body)


def finish(scope: ScopeSpec, keep: tuple[str, ...] = ()) -> None:
    """Mark saved outputs, in-place activations and additions, and whether aux outputs leave the scope."""
    taps = {op.tap for op in _walk(scope.plan) if isinstance(op, AuxOp) and op.tap} | set(keep)
    for c in _calls(scope.plan):
        c.save = c.name in taps
    scope.emits_aux = any(isinstance(op, AuxOp) or (isinstance(op, Call) and op.emits_aux)
                          for op in _walk(scope.plan))

    def fresh(seq: list) -> bool:  # the sequence ends in a new tensor nobody else reads
        last = seq[-1] if seq else None
        if not isinstance(last, Call) or last.save or last.emits_aux:
            return False
        leaf = scope.children.get(last.name)
        return isinstance(leaf, Leaf) and leaf.fresh

    for seq in _sequences(scope.plan):
        for i, op in enumerate(seq):
            if isinstance(op, ResidualOp):
                op.inplace = fresh(op.body)
            elif isinstance(op, Call) and i > 0 and fresh(seq[:i]):
                leaf = scope.children.get(op.name)
                if isinstance(leaf, Leaf) and len(leaf.parts) == 1 and leaf.parts[0][0] == "act":
                    tc = leaf.parts[0][1]
                    if ACTIVATIONS_BY_CLASS.get(tc.cls, False):
                        scope.children[op.name] = replace(leaf, parts=(("act", replace(
                            tc, kwargs=(*tc.kwargs, ("inplace", True)))),))


ACTIVATIONS_BY_CLASS = {cls: can for cls, can, _ in ACTIVATIONS.values()}
FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class Decoded:
    """The whole network, decoded: the root scope, aux output fields, and feature outputs."""

    network: Network
    analysis: Analysis
    root: ScopeSpec
    aux_fields: tuple[str, ...]  # training-mode outputs after `out`, in order
    features: tuple[str, ...]  # `outputs=` labels (empty: the normal output)


def decode(network: Network, outputs: list[str] | tuple[str, ...] | None = None) -> Decoded:
    """The module tree of `network` as plain records (no torch).

    Args:
        outputs: labels of top-level statements whose outputs to return (a feature extractor);
            everything after the last is dropped, and auxiliary heads are not built.

    Raises:
        CnnError: an unknown output label, or a kind the backend does not support.
    """
    analysis = analyze(network)
    d = Decoder(analysis)
    root = ScopeSpec("", None, tuple(network.input), analysis.output)
    root.plan = d.seq(network.body, root)
    features: tuple[str, ...] = ()
    if outputs is not None:
        features = _truncate(network, root, list(outputs))
        d.aux_ops = []
    finish(root, keep=features)
    fields: list[str] = []
    for node, _ in d.aux_ops:
        name = node.name if FIELD.match(node.name or "") else ""
        if not name or name in fields or name == "out":
            name = f"aux{len(fields) + 1}"
        while name in fields:
            name += "_"
        fields.append(name)
    for (_, op), name in zip(d.aux_ops, fields):
        op.field = name
    return Decoded(network, analysis, root, tuple(fields), features)


def _truncate(network: Network, root: ScopeSpec, outputs: list[str]) -> tuple[str, ...]:
    top = {op.name: i for i, op in enumerate(root.plan) if isinstance(op, Call)}
    labels = [n for n in top if not n.isdigit()]
    if not outputs:
        raise CnnError("outputs= names no statement", network.span, f"labels: {', '.join(labels) or '(none)'}")
    for name in outputs:
        if name not in top:
            raise CnnError(f"outputs=: no top-level statement is named '{name}'", network.span,
                           f"the labels are: {', '.join(labels) or '(none: label the statements)'}")
    if len(set(outputs)) != len(outputs):
        raise CnnError("outputs= names a statement twice", network.span)
    last = max(top[n] for n in outputs)
    root.plan = [op for op in root.plan[:last + 1] if not isinstance(op, AuxOp)]
    used = {c.name for c in _calls(root.plan)}
    root.children = {k: v for k, v in root.children.items() if k in used}
    return tuple(outputs)


# ---------------------------------------------------------------------------------------------
# build (torch from here on)


def make(tc: TorchCall):
    """The module a `TorchCall` describes."""
    from torch import nn

    from cnndsl.backends import runtime

    cls = getattr(runtime, tc.cls) if tc.cls in RUNTIME_CLASSES else getattr(nn, tc.cls)
    return cls(*tc.args, **dict(tc.kwargs))


def make_leaf(leaf: Leaf):
    from collections import OrderedDict

    from torch import nn

    if len(leaf.parts) == 1:
        return make(leaf.parts[0][1])
    return nn.Sequential(OrderedDict((name, make(tc)) for name, tc in leaf.parts))


def plan_tuple(ops: list) -> tuple:
    """The runtime's tuple form of a plan (see `cnndsl.backends.runtime`)."""
    return tuple(_STEP[type(op)](op) for op in ops)


_STEP: dict[type, Callable[[Any], tuple]] = {
    Call: lambda op: ("m", op.name, op.flatten, op.save, op.emits_aux),
    ResidualOp: lambda op: ("residual", plan_tuple(op.body),
                            None if op.shortcut is None else plan_tuple(op.shortcut), op.act, op.inplace),
    JoinOp: lambda op: (op.how, tuple(plan_tuple(p) for p in op.paths), op.act),
    AuxOp: lambda op: ("aux", op.tap, plan_tuple(op.body)),
}


def make_scope(spec: ScopeSpec, module=None):
    from cnndsl.backends import runtime

    module = module if module is not None else runtime.Scope(plan_tuple(spec.plan), spec.emits_aux)
    for name, child in spec.children.items():
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


# What `build` / `load` / `cnndsl compile` agree to make without being told otherwise: 4 G parameters
# (16 GB as float32), and 1 G activation elements written by one batch-1 forward (4 GB as float32).
MAX_PARAMS = 4_000_000_000
MAX_ACTIVATIONS = 1_000_000_000


def check_size(analysis: Analysis, max_params: int | None = MAX_PARAMS,
               max_activations: int | None = MAX_ACTIVATIONS) -> None:
    """Refuse, before anything is allocated, a network over the parameter or activation limit.

    Uses `analyze`'s exact figures: `params` (auxiliary heads included, as they are built) and
    `activations` (elements of every tensor an eval-mode forward at batch 1 writes). `None` lifts a limit.

    Raises:
        CnnError: what the network would need, the limit, and how to allow it.
    """
    net = analysis.network
    for what, need, limit, option, flag in (
            ("parameters", analysis.params, max_params, "max_params", "--max-params"),
            ("activation elements per sample", analysis.activations, max_activations, "max_activations",
             "--max-activations")):
        if limit is not None and need > limit:
            raise CnnError(
                f"the network '{net.name}' would need {need:,} {what} ({need * 4 / 1e9:,.1f} GB as float32), "
                f"over the limit of {limit:,}", net.span,
                f"to build it anyway pass {option}=None (or a larger number) to cnndsl.build / cnndsl.load, "
                f"or {flag} N on the command line")


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


def load(path: str | Path, *, outputs=None, weights=None, max_params: int | None = MAX_PARAMS,
         max_activations: int | None = MAX_ACTIVATIONS, **params: Any):
    """Parse a `.cnn` file (or a shipped architecture by name) and build its module (see `build`)."""
    import cnndsl

    return build(cnndsl.parse_file(path, **params), outputs=outputs, weights=weights, max_params=max_params,
                 max_activations=max_activations)


# ---------------------------------------------------------------------------------------------
# weights


def read_state(weights) -> Mapping[str, Any]:
    """A state_dict from a mapping or a `.pt` / `.pth` / `.safetensors` file."""
    if isinstance(weights, Mapping):
        state = weights
    else:
        p = Path(weights)
        if not p.is_file():
            raise CnnError(f"weights: no such file: {p}")
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            import torch

            try:
                state = torch.load(p, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - a pickle with code in it, or not a torch file at all
                raise CnnError(f"weights: cannot read {p}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
        if not isinstance(state, Mapping):
            raise CnnError(f"weights: {p} holds a {type(state).__name__}, not a state_dict")
    for key in ("state_dict", "model"):  # a training checkpoint that wraps the state_dict
        if key in state and isinstance(state[key], Mapping) and not hasattr(state[key], "shape"):
            state = state[key]
    return state


@dataclass(frozen=True)
class Mismatch:
    """How a state_dict differs from a model's: keys missing from it, keys the model lacks, and
    keys whose shapes differ (key, checkpoint shape, model shape)."""

    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    misshaped: tuple[tuple[str, tuple, tuple], ...]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshaped)

    def report(self, limit: int = 10) -> str:
        def shown(items, fmt):
            more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(fmt(i) for i in items[:limit]) + more

        lines = [f"  missing ({len(self.missing)}): {shown(self.missing, str)}" if self.missing else "",
                 f"  unexpected ({len(self.unexpected)}): {shown(self.unexpected, str)}" if self.unexpected else "",
                 f"  mis-shaped ({len(self.misshaped)}): " + shown(
                     self.misshaped, lambda m: f"{m[0]} (weights {list(m[1])}, model {list(m[2])})")
                 if self.misshaped else ""]
        return "\n".join(line for line in lines if line)


def compare(model, state: Mapping[str, Any]) -> Mismatch:
    own = model.state_dict()
    return Mismatch(
        missing=tuple(k for k in own if k not in state),
        unexpected=tuple(k for k in state if k not in own),
        misshaped=tuple((k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
                        if k in state and tuple(state[k].shape) != tuple(own[k].shape)))


def load_weights(model, weights) -> None:
    """Load `weights` into `model` strictly: any difference is one CnnError listing the keys."""
    state = read_state(pretrained.resolve(weights, model))
    diff = compare(model, state)
    if diff:
        raise CnnError(
            f"the weights do not fit the network '{getattr(model, '_network_name', type(model).__name__)}': "
            f"{len(diff.missing)} missing, {len(diff.unexpected)} unexpected, {len(diff.misshaped)} mis-shaped "
            f"keys\n{diff.report()}",
            hint="to load every key that fits and keep the rest fresh (a new head for transfer learning), "
                 "use cnndsl.backends.torch_module.load_matching(model, weights)")
    model.load_state_dict(state, strict=True)


def load_matching(model, weights) -> Mismatch:
    """Load every key of `weights` whose name and shape fit `model`; return what was skipped.

    The transfer-learning call: `model = cnndsl.load("resnet50", classes=10)`, then
    `skipped = load_matching(model, "resnet50.pth")` loads all but the new head
    (`skipped.misshaped` names `fc.weight` and `fc.bias`).
    """
    state = read_state(pretrained.resolve(weights, model))
    diff = compare(model, state)
    bad = {m[0] for m in diff.misshaped}
    fitting = {k: v for k, v in state.items() if k in model.state_dict() and k not in bad}
    model.load_state_dict(fitting, strict=False)
    return diff
