"""`cnndsl.stats(network)`: what an architecture costs, computed statically from the IR.

The figures come from one walk (`cnndsl.passes.shapes.analyze`); this module gives them a stable,
documented shape: the `Stats` record (`cnndsl.record`), whose JSON is exactly what `cnndsl stats --json`
prints. Nothing is built or run, and torch is never imported. The conventions are in
`CONVENTION` (and docs/stats.md).

Example:
    >>> import cnndsl
    >>> s = cnndsl.stats(cnndsl.parse("input 32x32x3; conv 3x3x16 same relu; maxpool 2; gap; fc 10"))
    >>> s.params, s.macs, s.output
    (618, 442528, [10])
"""

from __future__ import annotations

from cnndsl.ir import Network
from cnndsl.record import Record, checked

MB = 1_000_000  # bytes in a megabyte, as torchinfo and most papers count it

CONVENTION: dict[str, str] = {
    "params": "sum(p.numel() for p in model.parameters()) of the PyTorch module: weights, biases and BN "
              "affine weights; running statistics are buffers and do not count; auxiliary heads count "
              "(and are also given as aux_params)",
    "macs": "multiply-accumulates of convolutions and fully connected layers (SE's 1x1 convolutions "
            "included) in one eval-mode forward at batch 1, biases not counted: exactly "
            "torch.utils.flop_counter.FlopCounterMode total / 2; auxiliary heads skipped",
    "flops": "2 x macs, plus one operation per element for biases, batch norm (2), activations "
             "(relu 1 ... silu 5), pooling (window size), residual and add sums, SE pooling and "
             "scaling, lrn; see docs/stats.md",
    "activations": "elements of every tensor a leaf module or a join (residual/add/concat sum) writes "
                   "in an eval-mode forward, per sample",
    "weight_layers": "the depth papers quote: conv and fc layers (depthwise ones too) one after another on the "
                     "longest path; a join keeps its longest branch (projection shortcuts do not count), "
                     "auxiliary heads and SE's inner layers do not count",
    "receptive_field": "input pixels along H seen by one output (Araujo et al., Distill 2019); "
                       "branches take the largest; null (global) after a global pooling, a flatten or an fc; "
                       "the network's figure is the deepest spatial layer's (receptive_field_at)",
}


class Memory(Record):
    """Bytes / 10^6 of a tensor count at three precisions."""

    fp32: float
    fp16: float
    int8: float

    @classmethod
    def of(cls, elements: int) -> "Memory":
        return checked(cls, fp32=elements * 4 / MB, fp16=elements * 2 / MB, int8=elements / MB)


class LayerStats(Record):
    """One node's row: `name` is its PyTorch module name (`layer1.0.conv`); a combinator's figures
    include its children; `aux` rows belong to an auxiliary head (not in the eval-mode totals)."""

    name: str
    kind: str
    layer: str  # the statement, as `conv 3x3x64 s2 p1 bn relu`
    depth: int
    input: list[int]
    output: list[int]
    params: int
    macs: int
    flops: int
    activations: int
    receptive_field: int | float | None  # None: global (after a global pooling, a flatten or an fc)
    effective_stride: int | float | None
    aux: bool = False


class Stats(Record):
    """Exact figures of a network; `model_dump_json()` is what `cnndsl stats --json` prints."""

    network: str
    input: list[int]
    output: list[int]
    params: int
    aux_params: int
    macs: int
    flops: int
    activations: int
    peak_activation: int
    receptive_field: int | float  # the deepest spatial layer's, the figure papers quote
    effective_stride: int | float
    receptive_field_at: str  # that layer's name ("" when only the input is spatial)
    weight_layers: int  # the depth papers quote (VGG-16: 16, ResNet-50: 50)
    param_memory_mb: Memory
    activation_memory_mb: Memory
    convention: dict[str, str]
    layers: list[LayerStats]


def compute(network: Network, analysis=None) -> Stats:
    """The `Stats` of `network` (pass `analysis` to reuse an `analyze()` result).

    Rows of nodes that have no module of their own (an unlabeled `repeat`, a group labeled `_`)
    are left out; their children keep their own names and depths.

    Raises:
        CnnError: a shape that cannot work, at the statement's position.
    """
    if analysis is None:
        from cnndsl.passes.shapes import analyze

        analysis = analyze(network)
    a = analysis
    layers = [  # every value below is an int, str or bool computed by the pass
        checked(LayerStats, name=r.path, kind=r.node.kind, layer=r.node.describe(), depth=r.depth,
                input=list(r.input), output=list(r.output), params=r.params, macs=r.macs, flops=r.flops,
                activations=r.activations, receptive_field=r.rf, effective_stride=r.jump, aux=r.aux)
        for r in a.rows if r.node.name
    ]
    return checked(
        Stats, network=network.name, input=list(network.input), output=list(a.output), params=a.params,
        aux_params=a.aux_params, macs=a.macs, flops=a.flops, activations=a.activations,
        peak_activation=a.peak_activation, receptive_field=a.rf, effective_stride=a.jump,
        receptive_field_at=a.rf_at, weight_layers=a.weight_layers,
        param_memory_mb=Memory.of(a.params), activation_memory_mb=Memory.of(a.activations),
        convention=dict(CONVENTION), layers=layers)
