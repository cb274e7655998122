"""cnndsl: a declarative language for convolutional network architectures, and its compiler.

    >>> import cnndsl
    >>> net = cnndsl.parse("input 32x32x3; conv 3x3x16 same relu; maxpool 2; gap; fc 10")
    >>> cnndsl.stats(net).params
    618

Importing cnndsl, parsing, checking, formatting, stats and diagrams never import torch; only
`build` and `load` (the PyTorch backend) do, when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnndsl import layers as _layers  # noqa: F401  (completes the IR models: every node kind)
from cnndsl import stats as _stats_module  # noqa: F401  (bound first, so the function below keeps the name)
from cnndsl.errors import CnnError
from cnndsl.ir import Network

__all__ = ["CnnError", "Network", "analyze", "build", "freeze", "load", "load_matching", "parse", "parse_file", "resolve",
           "stats", "to_dot", "to_svg", "verify"]
__version__ = "0.1.0"


def parse(text: str, /, *, filename: str = "<string>", allow_outside: bool = False, **params: Any) -> Network:
    """Parse and elaborate cnndsl source into a validated `Network` IR.

    Args:
        text: the program.
        filename: the name used in error positions and to resolve `use` paths.
        allow_outside: let `use` reach files outside the program's folder.
        **params: overrides for the program's `param` declarations (e.g. `width=32`).

    Raises:
        CnnError: the program is not valid; `str(err)` is the positioned message. A bad
            override (no such param, not a number) names it, e.g. `alhpa=0.5: no param 'alhpa'`.
    """
    from cnndsl.elaborate import parse_text

    return parse_text(text, filename, params, allow_outside=allow_outside)


def resolve(path: str | Path) -> Path:
    """A program's path: the file itself if it exists, else a shipped architecture by name
    (`resnet50` or `resnet50.cnn` finds `architectures/resnet50.cnn` of the installed package)."""
    p = Path(path)
    if p.exists() or p.parent != Path("."):
        return p
    from cnndsl.source import shipped

    return shipped().get(p.name.removesuffix(".cnn"), p)


def parse_file(path: str | Path, /, *, allow_outside: bool = False, **params: Any) -> Network:
    """Parse a `.cnn` file (or a shipped architecture by name) into a `Network`; see `parse`."""
    from cnndsl.elaborate import parse_path

    return parse_path(resolve(path), params, allow_outside=allow_outside)


def analyze(network: Network):
    """Shapes, figures and receptive field of every node (`cnndsl.passes.shapes.Analysis`)."""
    from cnndsl.passes.shapes import analyze as _analyze

    return _analyze(network)


def stats(network: Network):
    """Exact params, MACs, flops, activations and receptive field of `network`, computed
    statically (nothing is built or run). Returns a `cnndsl.stats.Stats` record."""
    from cnndsl.stats import compute

    return compute(network)


def build(network: Network, **kwargs: Any):
    """The `torch.nn.Module` for `network` (imports torch)."""
    from cnndsl.backends.torch_module import build as _build

    return _build(network, **kwargs)


def load(path: str | Path, /, *, outputs=None, weights=None, **params: Any):
    """Parse a `.cnn` file and build its module: `cnndsl.load("resnet50", classes=10)` (imports torch).
    `weights`: a state_dict, a file, or published weights by name (`"torchvision:IMAGENET1K_V2"`)."""
    from cnndsl.backends.torch_module import load as _load

    return _load(path, outputs=outputs, weights=weights, **params)


def load_matching(model, weights):
    """Load every tensor of `weights` (a state_dict or a checkpoint path) whose key and shape fit
    `model`, for transfer learning to a new head; returns what was skipped (imports torch)."""
    from cnndsl.backends.torch_module import load_matching as _load_matching

    return _load_matching(model, weights)


def verify(network: Network, module):
    """Compare `network`'s module with a PyTorch `module` it should equal: params, MACs, output
    shape, state_dict keys and shapes in order, and the outputs with `module`'s weights loaded
    (imports torch). Returns a `cnndsl.backends.verify.Report`: `.ok`, `.table()`, `.mapping`."""
    from cnndsl.backends.verify import verify as _verify

    return _verify(network, module)


def freeze(model, upto: str, *, bn_eval: bool = True) -> list[str]:
    """Freeze `model`'s parameters from its first module through the one named `upto` (batch
    norms kept in eval mode); returns the frozen names. See `cnndsl.training.freeze`."""
    from cnndsl.training import freeze as _freeze

    return _freeze(model, upto, bn_eval=bn_eval)


def to_dot(network: Network, **options: Any) -> str:
    """Graphviz DOT source of the network's diagram (no torch)."""
    from cnndsl.backends.graphviz import to_dot as _to_dot

    return _to_dot(network, **options)


def to_svg(network: Network, *, style: str = "graph", **options: Any) -> str:
    """The network drawn as SVG text (no torch): `style="graph"`, the Graphviz diagram (needs `dot`;
    options as `to_dot`), or `style="volumes"`, the paper figure of 3D feature maps (no Graphviz;
    options of `cnndsl.backends.volumes`: depth, expand, shapes, kernels, theme, title, fit, focus)."""
    if style == "volumes":
        from cnndsl.backends.volumes import to_svg as draw
    elif style == "graph":
        from cnndsl.backends.graphviz import to_svg as draw
    else:
        raise CnnError(f"unknown drawing style {style!r}", hint="styles: graph, volumes")
    return draw(network, **options)
