"""The PyTorch backend against independent facts: analyze()'s shapes, params and MACs, hand-written
torch modules' state_dict keys, the toolchain (dynamo, fx, export), and the emitted source."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
from conftest import ARCHITECTURES
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnndsl
from cnndsl.backends.torch_module import load_matching
from cnndsl.backends.torch_source import emit
from cnndsl.passes.shapes import analyze

torch.set_num_threads(1)

# small programs covering every kind and combinator
SMALL = {
    "every_leaf": """input 16x16x3
conv1: conv 3x3x8 s2 same nobias bn eps=0.001 momentum=0.01 relu
dwconv 3x3 same multiplier=2 bn relu6
conv 1x3x8 p0x1 d1 g2
lrn size=3 alpha=0.0001 beta=0.75 k=1
maxpool 3 s2 p1 ceil
avgpool 3 s1 nopadcount same
se r=4
leakyrelu slope=0.2
silu; hardswish; gelu; tanh; sigmoid; relu6; relu
bn
adaptiveavgpool 2x2
flatten
fc 16 bn relu
dropout 0.3
identity
bn
fc 5 nobias
softmax
""",
    "combinators": """input 8x8x4
block pair(c) { conv 1x1x{c} relu; conv 3x3x{c} same }
stem: conv 3x3x8 same bn relu
residual < conv 3x3x8 same bn relu; conv 3x3x8 same bn > relu
add < conv 1x1x8 | identity | pair(8) > relu
mul < conv 1x1x8 sigmoid | identity >
_: concat < conv 1x1x4 | b: conv 1x1x4; _: concat < conv 1x1x2 | maxpool 3 s1 same; conv 1x1x2 > >
pair(12)
layer: repeat 2 { residual < pair(12) > }
repeat 2 { conv 1x1x12 }
_: aux from stem < gap; fc 3 >
named: aux < gap; fc 4 >
gap; fc 6
""",
    "leaves": """input 8x8x16
"cn": <
  "block": < dwconv 7x7 p3; "2": layernorm eps=1e-6; fc 32 channels; gelu; fc 16 channels >
  layer_scale: scale init=0.5
  droppath 0.2
>
residual < conv 1x1x16; "scale-1": scale; droppath 0.1 >
pixelshuffle 2
se r=4 divisor=8 act=silu gate=hardsigmoid
se squeeze=2 act=relu6
layernorm
gap; layernorm; flatten; fc 6
""",
    "dag": """input 16x16x4
stem: conv 3x3x8 same bn relu
down: < maxpool 2; conv 3x3x16 same relu >
split < identity | conv 1x1x8 relu >
shuffle 2
up: < "up": convtranspose 2x2x8 s2; concat < from stem | identity >; conv 3x3x8 same >
_: add < from down | maxpool 2; conv 1x1x16 >
_: mul < from stem | upsample 2 bilinear align_corners; conv 1x1x8 sigmoid >
maxpool 4
upsample to input bilinear
upsample 2
convtranspose 3x3x4 s2 p1 output_padding=1 nobias bn relu
""",
}


def _nchw(shape):
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


def _input(net, batch=2):
    torch.manual_seed(0)
    return torch.randn(batch, *_nchw(net.input))


ARCH = sorted(ARCHITECTURES.glob("*.cnn"))
# small settings so the whole file stays fast on 2 cores: a program's `res`/`width` params where it has them
SMALL_PARAMS = {"res": 64, "alpha": 0.25, "layers1": 2, "layers2": 2, "layers3": 2, "layers4": 2}  # densenet: 2 layers a block


def _parse_arch(path):
    net = cnndsl.parse_file(path)
    params = {k: v for k, v in SMALL_PARAMS.items() if k in net.params}
    return cnndsl.parse_file(path, **params) if params else net


def _nets():
    out = [pytest.param(cnndsl.parse(t, filename=f"<{n}>"), id=n) for n, t in SMALL.items()]
    out += [pytest.param(p, id=p.stem) for p in ARCH]
    return out


def _net(item):
    return _parse_arch(item) if not isinstance(item, cnndsl.Network) else item


def _kinds(nodes, out: set) -> set:
    for n in nodes:
        out.add(n.kind)
        for b in n.branches():
            _kinds(b, out)
    return out


def _covering():
    """The small programs, then shipped architectures chosen greedily until every node kind used by
    any of them is in a whole network too (8 of 30 today): a graph break comes from a kind's step,
    and tracing each network takes ~10 s on 2 cores."""
    out = [pytest.param(cnndsl.parse(t, filename=f"<{n}>"), id=n) for n, t in SMALL.items()]
    kinds = {p: _kinds(cnndsl.parse_file(p).body, set()) for p in ARCH}
    covered, wanted = set(), set().union(*kinds.values())
    while covered != wanted:
        best = max(kinds, key=lambda p: (len(kinds[p] - covered), -len(kinds[p]), p.stem))
        covered |= kinds.pop(best)
        out.append(pytest.param(best, id=best.stem))
    return out


def test_import_cnndsl_does_not_import_torch():
    code = "import sys, cnndsl; cnndsl.parse('input 8x8x3; conv 3x3x4'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("item", _nets())
def test_module_matches_analysis(item):
    net = _net(item)
    a = analyze(net)
    big = not isinstance(item, cnndsl.Network)
    with torch.device("meta" if big else "cpu"):  # architectures: shapes and counts without memory or time
        model = cnndsl.build(net).eval()
        x = _input(net, batch=1)
    assert sum(p.numel() for p in model.parameters()) == a.params
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(x)
    assert tuple(y.shape[1:]) == _nchw(a.output)
    assert counter.get_total_flops() // 2 == a.macs
    torch.fx.symbolic_trace(model)


@pytest.mark.parametrize("item", _covering())
def test_no_graph_breaks(item):
    """torch.compile(fullgraph=True) needs one graph: every program, and architectures holding every
    node kind, in training mode (aux heads, dropout) and in eval mode."""
    net = _net(item)
    model = cnndsl.build(net)
    x = _input(net)  # batch 2: batch norm on flat features cannot train on one sample
    for mode in (model.train, model.eval):
        mode()
        torch._dynamo.reset()
        explained = torch._dynamo.explain(model)(x)
        assert explained.graph_break_count == 0, explained.break_reasons
        assert explained.graph_count == 1


def test_export_channels_last_autocast():
    net = cnndsl.parse(SMALL["combinators"])
    model = cnndsl.build(net).eval()
    x = _input(net)
    ref = model(x)
    exported = torch.export.export(model, (x,))
    assert torch.allclose(exported.module()(x), ref, atol=1e-5)
    cl = model.to(memory_format=torch.channels_last)
    assert torch.allclose(cl(x.to(memory_format=torch.channels_last)), ref, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(x).dtype == torch.bfloat16


def test_aux_outputs_training_and_eval():
    net = cnndsl.parse(SMALL["combinators"])
    model = cnndsl.build(net)
    x = _input(net)
    out = model.train()(x)
    assert out._fields == ("out", "aux1", "named")
    assert [tuple(t.shape) for t in out] == [(2, 6), (2, 3), (2, 4)]
    assert tuple(model.eval()(x).shape) == (2, 6)


# ---------------------------------------------------------------- naming against hand-written modules


class BasicBlock(nn.Module):  # torchvision's ResNet basic block
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


RESNETISH = """input 32x32x3
block basic(c, s=1) {
  residual <
    conv1: conv 3x3x{c} s{s} p1 nobias; bn1: bn; relu
    conv2: conv 3x3x{c} p1 nobias; bn2: bn
  > relu
}
block down(c, s) {
  residual <
    conv1: conv 3x3x{c} s{s} p1 nobias; bn1: bn; relu
    conv2: conv 3x3x{c} p1 nobias; bn2: bn
  | downsample: < conv 1x1x{c} s{s} nobias; bn >
  > relu
}
conv1: conv 7x7x16 s2 p3 nobias
bn1: bn
relu: relu
maxpool: maxpool 3 s2 p1
layer1: repeat 2 { basic(16) }
layer2: < down(32, 2); basic(32) >
avgpool: gap
fc: fc 10
"""


class HandResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(x, 1))


def _fill_running_stats(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def test_resnet_block_keys_and_outputs_equal_torchvision_style():
    hand = HandResNet().eval()
    _fill_running_stats(hand)
    model = cnndsl.build(cnndsl.parse(RESNETISH), weights=hand.state_dict()).eval()
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in hand.state_dict().items()]
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(x), hand(x), atol=1e-5)


def test_fused_statement_children_are_named_after_kinds():
    net = cnndsl.parse("input 8x8x3; conv1: conv 1x1x4 nobias bn relu; b: bn relu; gap; fc: fc 3 bn; se: fc 2")
    keys = list(cnndsl.build(net).state_dict())
    assert keys == ["conv1.conv.weight", *[f"conv1.bn.{k}" for k in BN], *[f"b.bn.{k}" for k in BN],
                    "fc.fc.weight", "fc.fc.bias", *[f"fc.bn.{k}" for k in BN], "se.weight", "se.bias"]


BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def test_se_keys_are_timm_like_and_post_activation_takes_no_name():
    net = cnndsl.parse("input 8x8x16; r: residual < conv 1x1x16; se: se r=4 > relu")
    keys = list(cnndsl.build(net).state_dict())
    assert keys == ["r.0.weight", "r.0.bias", "r.se.fc1.weight", "r.se.fc1.bias", "r.se.fc2.weight", "r.se.fc2.bias"]


def test_inline_and_repeat_children_join_the_enclosing_module():
    net = cnndsl.parse(SMALL["combinators"])
    names = [n for n, _ in cnndsl.build(net).named_children()]
    # stem, residual 1, add 2, mul 3; `_: concat` registers its children here: 4, b, 6, ...
    assert names[:7] == ["stem", "1", "2", "3", "4", "b", "6"]


# ---------------------------------------------------------------- outputs= and weights=


def test_outputs_returns_features_and_drops_the_rest():
    net = cnndsl.parse(RESNETISH)
    model = cnndsl.build(net, outputs=["layer1", "layer2"]).eval()
    feats = model(torch.randn(1, 3, 32, 32))
    assert isinstance(feats, OrderedDict) and list(feats) == ["layer1", "layer2"]
    assert tuple(feats["layer2"].shape) == (1, 32, 4, 4)
    assert not any(k.startswith(("fc.", "avgpool")) for k in model.state_dict())
    with pytest.raises(cnndsl.CnnError, match="layer9") as err:
        cnndsl.build(net, outputs=["layer9"])
    assert "layer1" in str(err.value)


def test_an_unknown_output_is_an_error_about_the_option_not_a_line():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.load("resnet18", outputs=["layer5"])
    e = err.value
    assert e.span is None and e.message == "outputs=: no top-level statement is named 'layer5'"
    assert e.hint.startswith("did you mean 'layer4'?") and "layer1, layer2, layer3, layer4" in e.hint
    assert e.render().splitlines()[0] == "cnndsl: error: outputs=: no top-level statement is named 'layer5'"


def test_strict_weights_error_lists_keys_and_load_matching(tmp_path):
    full = cnndsl.build(cnndsl.parse(RESNETISH))
    path = tmp_path / "w.pt"
    torch.save(full.state_dict(), path)
    fresh = cnndsl.build(cnndsl.parse(RESNETISH.replace("fc: fc 10", "fc: fc 7")))
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.build(cnndsl.parse(RESNETISH.replace("fc: fc 10", "fc: fc 7")), weights=path)
    msg = str(err.value)
    assert "use cnndsl.load_matching(model, weights)" in err.value.hint  # the public name
    assert "0 missing, 0 unexpected, 2 mis-shaped" in msg and "fc.weight (weights [10, 32], model [7, 32])" in msg
    skipped = load_matching(fresh, path)
    assert [m[0] for m in skipped.misshaped] == ["fc.weight", "fc.bias"]
    assert torch.equal(fresh.conv1.weight, full.conv1.weight)
    from safetensors.torch import save_file

    st = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(st))
    cnndsl.build(cnndsl.parse(RESNETISH), weights=st)


# ---------------------------------------------------------------- emitted source


RUN_EMITTED = """
import sys, torch
assert "cnndsl" not in sys.modules
sys.path.insert(0, sys.argv[1])
for name, cls, meta in [tuple(a.split(":")) for a in sys.argv[2:]]:
    m = __import__(name)
    d = torch.load(sys.argv[1] + "/" + name + ".pt")
    with torch.device("meta" if meta == "1" else "cpu"):
        net = getattr(m, cls)().eval()
    shapes = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    assert shapes == d["shapes"], (name, shapes[:5], d["shapes"][:5])
    if meta == "0":
        net.load_state_dict(d["state"])
        with torch.no_grad():
            torch.save(net(d["x"]), sys.argv[1] + "/" + name + ".out.pt")
"""

# architectures whose emitted source is also run (the rest are compared by state_dict keys and shapes)
RUN_ARCH = {p.stem for p in ARCH}  # every shipped architecture runs, at the small settings above


def test_emitted_source_is_the_same_network(tmp_path):
    """Every program's emitted source, imported in a fresh interpreter without cnndsl: the same
    state_dict keys and shapes as `cnndsl.build`; for small ones, equal outputs after loading its state."""
    jobs, expected = [], {}
    for i, item in enumerate(_nets()):
        net = _net(item.values[0])
        name = f"net{i}_{item.id}"
        run = isinstance(item.values[0], cnndsl.Network) or item.id in RUN_ARCH
        with torch.device("cpu" if run else "meta"):
            model = cnndsl.build(net).eval()
        record = {"shapes": [(k, tuple(v.shape)) for k, v in model.state_dict().items()]}
        if run:
            _fill_running_stats(model)
            x = _input(net)
            with torch.no_grad():
                expected[name] = model(x)
            record.update(state=model.state_dict(), x=x)
        torch.save(record, tmp_path / f"{name}.pt")
        src = emit(net)
        (tmp_path / f"{name}.py").write_text(src)
        cls = src.split("\nclass ")[-1].split("(")[0]
        jobs.append(f"{name}:{cls}:{0 if run else 1}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-I", "-c", RUN_EMITTED, str(tmp_path), *jobs], check=True, cwd=tmp_path, env=env)
    for name, y in expected.items():
        got = torch.load(tmp_path / f"{name}.out.pt")
        assert torch.allclose(y, got, atol=1e-5, rtol=1e-4), name


def test_emitted_source_passes_ruff(tmp_path):
    ruff = pytest.importorskip("ruff")  # noqa: F841
    for i, item in enumerate(_nets()):
        (tmp_path / f"m{i}.py").write_text(emit(_net(item.values[0])))
    for args in (["check", "--isolated", "."], ["format", "--isolated", "--check", "."]):
        r = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=tmp_path, check=False, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_compile_cli(tmp_path):
    out = tmp_path / "tiny_net.py"
    r = subprocess.run([sys.executable, "-m", "cnndsl", "compile", str(ARCHITECTURES / "tiny.cnn"), "-o", str(out),
                        "--set", "width=8"], check=False, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "class Tiny(nn.Module)" in out.read_text() and "cnndsl" not in out.read_text().split('"""')[2]


def test_string_options_of_a_torch_call_are_quoted():
    """The records hold values: a `str` is a string (an upsampling mode), written as a literal."""
    import ast

    from cnndsl.backends.torch_source import flat, leaf_expr, slotify
    from cnndsl.layers.modules import call, one

    slots: list = []
    expr = slotify(leaf_expr(one("up", call("Upsample", scale_factor=2, mode="nearest"))), slots)
    text = flat(expr, lambda s: str(slots[s.index]))
    assert text == 'nn.Upsample(scale_factor=2, mode="nearest")'
    kw = {k.arg: k.value for k in ast.parse(text, mode="eval").body.keywords}
    assert isinstance(kw["mode"], ast.Constant) and kw["mode"].value == "nearest"
    assert isinstance(kw["scale_factor"], ast.Constant) and kw["scale_factor"].value == 2
    module = nn.Upsample(scale_factor=2, mode=kw["mode"].value)  # the call the text makes, made by hand
    assert module.mode == "nearest"
