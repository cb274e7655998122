"""`mul < a | b | ... > [act]`: the element-wise product of its branches (a gate).

Expected figures are worked out by hand in the comments; the PyTorch oracle is a forward written
here with `torch.nn.functional` from the model's own weights.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F

import cnndsl
from cnndsl.backends.torch_source import emit
from cnndsl.passes.diff import diff

torch.set_num_threads(1)

GATE = "input 8x8x4\ng: mul < identity | conv 1x1x4 sigmoid | conv 1x1x4 > relu\n"


def test_shape_and_figures_by_hand():
    s = cnndsl.stats(cnndsl.parse(GATE))
    assert s.output == [8, 8, 4]
    # two 1x1 convs 4 -> 4 with bias: 2 * (4 * 4 + 4)
    assert s.params == 40
    # each conv: 8 * 8 outputs * 4 channels * 4 inputs = 1024 MACs; the products cost none
    assert s.macs == 2048
    # 2 * 2048 (MACs) + 2 * 256 (biases) + 4 * 256 (sigmoid) + 2 * 256 (two products) + 256 (relu)
    assert s.flops == 6400
    g = s.layers[0]
    assert (g.name, g.kind, g.layer) == ("g", "mul", "mul")
    # identity 256, conv + sigmoid 2 * 256, conv 256, then the product and the relu 2 * 256
    assert g.activations == 256 + 2 * 256 + 256 + 2 * 256


def test_branches_must_have_one_shape():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.stats(cnndsl.parse("input 8x8x4\nmul < identity | conv 1x1x8 >"))
    e = err.value
    assert e.message == "mul branches disagree: 8x8x4, 8x8x8"
    assert (e.span.line, e.span.col) == (2, 1)


def test_mul_takes_at_least_two_branches():
    with pytest.raises(cnndsl.CnnError, match="'mul' takes at least 2 branches, got 1"):
        cnndsl.parse("input 8x8x4\nmul < identity >")


def _by_hand(model, x):
    sd = model.state_dict()
    a = torch.sigmoid(F.conv2d(x, sd["g.1.conv.weight"], sd["g.1.conv.bias"]))
    b = F.conv2d(x, sd["g.2.weight"], sd["g.2.bias"])
    return torch.relu(x * a * b)


def test_module_is_the_product_of_the_branches():
    model = cnndsl.build(cnndsl.parse(GATE)).eval()
    assert list(model.state_dict()) == ["g.1.conv.weight", "g.1.conv.bias", "g.2.weight", "g.2.bias"]
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), _by_hand(model, x), atol=1e-6)


def test_emitted_source_writes_the_product(tmp_path):
    net = cnndsl.parse(GATE)
    text = emit(net)
    assert "x = b0_1 * b1_1 * b2_1\n" in text and "x = F.relu(x)\n" in text
    path = tmp_path / "gate.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("gate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = cnndsl.build(net).eval()
    emitted = mod.String().eval()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.allclose(emitted(x), _by_hand(model, x), atol=1e-6)


def test_diagram_draws_a_product_node():
    dot = cnndsl.to_dot(cnndsl.parse(GATE))
    assert "label=<×<br/>" in dot and '<font point-size="11">ReLU</font>' in dot


def test_diff_tells_mul_from_add():
    a = cnndsl.parse(GATE)
    b = cnndsl.parse(GATE.replace("mul", "add"))
    assert [(c.change, c.a, c.b) for c in diff(a, b)] == [("removed", "mul", ""), ("added", "", "add")]
