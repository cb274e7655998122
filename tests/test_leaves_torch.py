"""The leaf constructs of issue 13 against hand-written PyTorch: torchvision ConvNeXt's `CNBlock`
(its `LayerNorm` and `Linear`s between `Permute`s, its `layer_scale` parameter and its
`StochasticDepth`), written from torchvision/models/convnext.py and torchvision/ops/stochastic_depth.py."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import cnndsl  # noqa: E402


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return torch.permute(x, self.dims)


def stochastic_depth(x, p, training):
    """torchvision.ops.stochastic_depth(x, p, "row", training)."""
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(survival)
    return x * noise.div_(survival)


class CNBlock(nn.Module):
    def __init__(self, dim, layer_scale, p):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True), Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.p = p

    def forward(self, x):
        result = self.layer_scale * self.block(x)
        return stochastic_depth(result, self.p, self.training) + x


CN = """input 8x8x16
cn: residual <
  "block": < dwconv 7x7 p3; "2": layernorm eps=1e-6; fc 64 channels; gelu; fc 16 channels >
  layer_scale: scale init=1e-6
  stochastic_depth: droppath 0.25
>
"""


def test_cnblock_keys_shapes_and_outputs_equal_torchvision():
    ref = CNBlock(16, 1e-6, 0.25)
    torch.manual_seed(0)
    for v in ref.state_dict().values():  # non-trivial weights, the layer scale included
        v.copy_(torch.randn_like(v))
    model = cnndsl.build(cnndsl.parse(CN))
    want = [(f"cn.{k}", tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == want
    assert want[0] == ("cn.layer_scale", (16, 1, 1))  # registered on the block itself, first, no `.weight`
    model.load_state_dict({f"cn.{k}": v for k, v in ref.state_dict().items()})
    x = torch.randn(4, 16, 8, 8)
    for mode in ("eval", "train"):  # in training, the same seed draws the same samples to drop
        getattr(ref, mode)(), getattr(model, mode)()
        torch.manual_seed(1)
        want_y = ref(x)
        torch.manual_seed(1)
        assert torch.allclose(model(x), want_y, atol=1e-5, rtol=1e-4), mode


def test_scale_starts_at_init_and_droppath_drops_whole_samples():
    model = cnndsl.build(cnndsl.parse("input 4x4x3; ls: scale init=0.25; droppath 0.5"))
    assert torch.equal(model.ls, torch.full((3, 1, 1), 0.25))
    x = torch.ones(64, 3, 4, 4)
    assert torch.equal(model.eval()(x), x * 0.25)  # droppath is the identity in eval
    torch.manual_seed(0)
    y = model.train()(x)
    kept = y.flatten(1).amax(1)
    assert set(kept.tolist()) == {0.0, 0.5}  # each sample zeroed or scaled by 1 / (1 - 0.5), as a whole
    assert torch.equal(y.flatten(1).amin(1), kept)


def test_layernorm_on_a_map_normalizes_each_position_over_channels():
    model = cnndsl.build(cnndsl.parse("input 2x3x5; layernorm")).eval()
    x = torch.randn(2, 5, 2, 3) * 3 + 1
    y = model(x)
    assert torch.allclose(y.mean(1), torch.zeros(2, 2, 3), atol=1e-5)
    assert torch.allclose(y.var(1, unbiased=False), torch.ones(2, 2, 3), atol=1e-3)
    assert list(model.state_dict()) == ["0.weight", "0.bias"]


def test_se_options_build_the_requested_activation_and_gate():
    model = cnndsl.build(cnndsl.parse("input 4x4x120; se r=4 divisor=8 act=silu gate=hardsigmoid")).eval()
    se = getattr(model, "0")
    assert (se.fc1.out_channels, type(se.act), type(se.gate)) == (32, nn.SiLU, nn.Hardsigmoid)
    x = torch.randn(1, 120, 4, 4)
    s = nn.functional.hardsigmoid(se.fc2(nn.functional.silu(se.fc1(x.mean((2, 3), keepdim=True)))))
    assert torch.allclose(se(x), x * s)
