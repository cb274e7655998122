"""The leaf constructs of issue 13 against hand-written PyTorch. ConvNeXt's block (its `LayerNorm` and
`Linear`s between `Permute`s, its `layer_scale` parameter and its `StochasticDepth`) is checked through
the hand-written torchvision ConvNeXt of test_zoo.py, in training mode too."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import cnndsl  # noqa: E402


def test_convnext_outputs_equal_torchvision_in_training_mode():
    """The same weights and the same seed: stochastic depth drops the same samples, the layer scale
    (a parameter of each block, `features.1.0.layer_scale`) scales the same channels."""
    from test_zoo import SMALL, _hand_written, _randomize_norms, path

    hand = _hand_written("convnext_tiny", torch)
    _randomize_norms(hand, torch)
    settings = SMALL["convnext_tiny"]
    model = cnndsl.load(path("convnext_tiny"), weights=hand.state_dict(), **settings)
    assert tuple(model.state_dict()["features.1.0.layer_scale"].shape) == (settings["c1"], 1, 1)
    x = torch.randn(8, 3, 64, 64)
    for mode in ("eval", "train"):
        getattr(hand, mode)(), getattr(model, mode)()
        torch.manual_seed(1)
        want = hand(x)
        torch.manual_seed(1)
        assert torch.allclose(model(x), want, atol=1e-5, rtol=1e-4), mode


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
