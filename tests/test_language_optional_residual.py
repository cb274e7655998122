"""`residual if_same < body >`: the input is added only where the body keeps the shape
(torchvision MobileNetV2's `use_res_connect`, timm's `has_skip`). `cnndsl.parse` resolves every
occurrence into a plain residual or a group of the body (cnndsl/passes/resolve.py), so no backend
sees the flag. Expected names, shapes and figures are worked out by hand; the PyTorch module is
checked against a module written by hand with torchvision's rule."""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl.elaborate import Elaborator, elaborate
from cnndsl.format import format_text
from cnndsl.ir import Node
from cnndsl.layers.blocks import Group, Residual
from cnndsl.passes.resolve import resolve_residuals
from cnndsl.syntax import parse_program
from tests.test_fmt import ir

# an inverted-residual-like block: the sum exists for (stride 1, c == input channels) only
BLOCKS = "block ir(c, s=1) { residual if_same < conv: < conv 3x3x{c} s{s} p1 nobias; bn; relu; conv 1x1x{c} nobias; bn > > }\n"
PROGRAM = BLOCKS + "input 8x8x4\nir(4); ir(8); ir(8); ir(8, s=2)\n"


def flagged(nodes) -> list[Node]:
    out = []
    for n in nodes:
        if isinstance(n, Residual) and n.if_same:
            out.append(n)
        for b in n.branches():
            out += flagged(b)
    return out


def error(text: str) -> str:
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse(text)
    return str(e.value)


def test_each_call_resolves_by_its_own_input_shape():
    net = cnndsl.parse(PROGRAM)
    # 8x8x4 -> ir(4): 8x8x4 kept, a sum; ir(8): 4 -> 8 channels, none; ir(8): kept, a sum; ir(8, s=2): 4x4, none
    assert [type(n).__name__ for n in net.body] == ["Residual", "Group", "Residual", "Group"]
    assert [(n.name, n.call.text()) for n in net.body] == [("0", "ir(4)"), ("1", "ir(8)"), ("2", "ir(8)"), ("3", "ir(8, s=2)")]
    assert not flagged(net.body)
    # the same names either way: the body's statements number from 0 (here one labeled group `conv`)
    for n in net.body:
        (conv,) = n.body if isinstance(n, Residual) else n.children
        assert conv.name == "conv" and [c.name for c in conv.children] == ["0", "1", "2", "3", "4"]
    a = cnndsl.analyze(net)
    assert [(r.path, r.input, r.output) for r in a.rows if r.depth == 0] == [
        ("0", (8, 8, 4), (8, 8, 4)), ("1", (8, 8, 4), (8, 8, 8)), ("2", (8, 8, 8), (8, 8, 8)),
        ("3", (8, 8, 8), (4, 4, 8))]
    # params by hand: 3x3 conv c_in*c*9, bn 2c, 1x1 conv c*c, bn 2c
    assert a.params == (36 * 4 + 8 + 16 + 8) + (36 * 8 + 16 + 64 + 16) + 2 * (72 * 8 + 16 + 64 + 16)
    # only the two sums are the blocks' own flops: one addition per output element
    assert [r.own_flops for r in a.rows if r.depth == 0] == [8 * 8 * 4, 0, 8 * 8 * 8, 0]


def test_the_elaborated_ir_keeps_the_flag_until_resolved():
    program = parse_program(PROGRAM)
    raw = Elaborator(program, {}).network()  # before the pass
    assert len(flagged(raw.body)) == 4 and all(n.kind == "residual" for n in raw.body)
    resolved = resolve_residuals(raw)
    assert len(flagged(raw.body)) == 4  # a new network: the input is not changed
    assert resolved == cnndsl.parse(PROGRAM)
    # the front end's other entry point resolves them too: no backend ever sees the flag
    assert elaborate(program) == resolved and not flagged(elaborate(program).body)


def test_repeats_branches_and_nesting_each_get_their_own_shape():
    net = cnndsl.parse(
        "input 8x8x4\n"
        "repeat 3 as i { r{i}: residual if_same < conv 1x1x{4 + 4 * (i // 2)} > }\n"  # 4, 4, 8 channels
        "concat < a: residual if_same < conv 1x1x8 > | b: residual if_same < conv 1x1x2 > >\n"  # 8 + 2 = 10
        "outer: residual if_same < inner: residual if_same < conv 1x1x4 >; conv 1x1x10 >\n"  # inner 10 -> 4
        "aux < residual if_same < conv 1x1x10 >; gap; fc 2 >\n"
        "_: residual if_same < conv 1x1x10; relu >\n"
    )
    rep, cat, outer, aux, inline = net.body
    assert [type(c[0]).__name__ for c in rep.copies] == ["Residual", "Residual", "Group"]
    assert [c[0].name for c in rep.copies] == ["r0", "r1", "r2"]
    assert [type(p[0]).__name__ for p in cat.paths] == ["Residual", "Group"]
    assert isinstance(outer, Residual) and isinstance(outer.body[0], Group) and outer.body[0].name == "inner"
    assert isinstance(aux.body[0], Residual)
    # `_`: no module of its own either way; its children join the enclosing scope, after r0, r1, r2
    # (labeled statements take a position too: 0, 1, 2), concat 3, outer 4 and aux 5
    assert isinstance(inline, Residual) and inline.name == "" and [c.name for c in inline.body] == ["6", "7"]
    assert not flagged(net.body)
    assert cnndsl.analyze(net).output == (8, 8, 10)


def test_a_program_without_the_flag_skips_the_pass(monkeypatch):
    import cnndsl.passes.resolve as resolve

    def fail(network):
        raise AssertionError("the pass ran")

    monkeypatch.setattr(resolve, "resolve_residuals", fail)
    cnndsl.parse("input 8x8x4\nresidual < conv 1x1x4 >")
    with pytest.raises(AssertionError):
        cnndsl.parse("input 8x8x4\nresidual if_same < conv 1x1x4 >")


@pytest.mark.parametrize("text,where,message", [
    ("input 8x8x4\nresidual if_same < conv 1x1x4 | conv 1x1x4 >", "2:10", "'residual if_same' takes no shortcut branch"),
    ("input 8x8x4\nresidual if_same < conv 1x1x4 > relu", "2:33",
     "'residual if_same' takes no activation after its '>'"),
    ("input 8x8x4\nresidual ifsame < conv 1x1x4 >", "2:10", "unknown option 'ifsame' for 'residual'"),
    ("input 8x8x4\nresidual if_same if_same < conv 1x1x4 >", "2:18", "'if_same' given twice"),
    ("input 8x8x4\nadd if_same < relu | relu >", "2:5", "unknown option 'if_same' for 'add'"),
])
def test_errors_are_positioned(text, where, message):
    err = error(text)
    assert err.startswith(f"<string>:{where}: error: {message}"), err


@pytest.mark.parametrize("text,where,message", [
    # after the flagged residual: the error analyze gives, at the statement it always named
    ("input 8x8x4\nresidual if_same < conv 1x1x8 >\nresidual < conv 1x1x4 >", "3:1", "residual body and shortcut disagree"),
    # inside its body, and inside a repeat's third copy
    ("input 8x8x4\nresidual if_same < flatten; conv 1x1x4 >", "2:29", "'conv 1x1x4' needs an H x W x C feature map"),
    # 8x8 -> 3x3 -> 1x1: the third copy's 3x3 kernel does not fit
    ("input 8x8x4\nrepeat 3 as i {\n  residual if_same < conv 3x3x{4 + i} s2 >\n}", "3:22",
     "input 1x1x5 is too small for a 3x3 kernel"),
])
def test_shape_errors_are_reported_where_shapes_are_needed(text, where, message):
    net = cnndsl.parse(text)  # parse checks no shapes, as for any program
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.analyze(net)
    assert str(e.value).startswith(f"<string>:{where}: error: {message}"), str(e.value)


def test_fmt_round_trip():
    text = "input 8x8x4\nresidual   if_same<conv 1x1x4>\nb: residual if_same <\n conv 1x1x4  # x\n relu\n>\n"
    out = format_text(text)
    assert out == ("input 8x8x4\n"
                   "residual if_same < conv 1x1x4 >\n"
                   "b: residual if_same <\n"
                   "  conv 1x1x4  # x\n"
                   "  relu\n"
                   ">\n")
    assert format_text(out) == out and ir(out) == ir(text)


# ------------------------------------------------------------------ the PyTorch module


def _hand_module(torch):
    nn = torch.nn

    class InvertedLike(nn.Module):
        def __init__(self, cin, c, s=1):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(cin, c, 3, s, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
            self.use_res_connect = s == 1 and cin == c  # torchvision's rule

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    return nn.Sequential(InvertedLike(4, 4), InvertedLike(4, 8), InvertedLike(8, 8), InvertedLike(8, 8, 2))


def test_built_module_adds_only_where_shapes_agree():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = cnndsl.build(cnndsl.parse(PROGRAM))
    hand = _hand_module(torch)
    assert [m.use_res_connect for m in hand] == [True, False, True, False]
    for m in model.modules():  # non-trivial batch-norm statistics, so a missing sum would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 2)
    hand.load_state_dict(model.state_dict(), strict=True)  # the same keys and shapes
    model.eval(), hand.eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        y, want = model(x), hand(x)
        assert y.shape == (2, 8, 4, 4)
        assert torch.allclose(y, want, atol=1e-5)
        hand[0].use_res_connect = False  # the first sum matters: without it the outputs part
        assert not torch.allclose(model(x), hand(x), atol=1e-3)


# ------------------------------------------------------------------ MobileNetV2 at alpha = 0.25


def _divisible(v, d=8):  # torchvision's _make_divisible
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


def _torchvision_mobilenet_v2(alpha):
    """(params, [use_res_connect of each inverted residual]) following torchvision's
    `MobileNetV2.__init__` and `InvertedResidual` line by line, with no cnndsl involved."""
    setting = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1)]

    def conv_bn(cin, cout, k, groups=1):
        return cin // groups * cout * k * k + 2 * cout

    cin, last = _divisible(32 * alpha), _divisible(1280 * max(1.0, alpha))
    params, res = conv_bn(3, cin, 3), []
    for t, c, n, s in setting:
        cout = _divisible(c * alpha)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = int(round(cin * t))
            if t != 1:
                params += conv_bn(cin, hidden, 1)
            params += conv_bn(hidden, hidden, 3, groups=hidden) + hidden * cout + 2 * cout
            res.append(stride == 1 and cin == cout)
            cin = cout
    params += conv_bn(cin, last, 1) + last * 1000 + 1000
    return params, res


@pytest.mark.parametrize("alpha", [1.0, 0.25])
def test_mobilenet_v2_follows_torchvision_at_every_width(alpha):
    params, res = _torchvision_mobilenet_v2(alpha)
    if alpha == 1.0:
        assert params == 3_504_872  # the reference's figure: the hand count is right
    else:
        assert res[0]  # the first block (8 -> 8 channels, stride 1) adds its input at this width
    a = cnndsl.analyze(cnndsl.parse_file("mobilenet_v2", alpha=alpha))
    blocks = [r for r in a.rows if r.node.call is not None and r.node.call.block == "inverted"]
    assert [r.path for r in blocks] == [f"features.{i}" for i in range(1, 18)]
    assert [r.node.kind == "residual" for r in blocks] == res
    assert a.params == params
