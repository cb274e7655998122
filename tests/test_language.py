"""Every construct of the language, version 1: parsed, elaborated, and named as documented."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.ir import Network
from cnndsl.layers.blocks import Aux, Concat, Group, Repeat, Residual
from tests.conftest import ARCHITECTURES

CARD = "conv 3x3x64 s1 same relu; maxpool 2; residual < conv 3x3x64 same relu; conv 3x3x64 same >; se r=16"


def names(nodes):
    return [n.name for n in nodes]


def test_card_line_parses_verbatim():
    net = cnndsl.parse("input 32x32x3\n" + CARD)
    assert [n.kind for n in net.body] == ["conv", "maxpool", "residual", "se"]
    conv, pool, res, se = net.body
    assert (conv.kernel, conv.out, conv.stride, conv.padding, conv.act) == ((3, 3), 64, (1, 1), (1, 1), "relu")
    assert (pool.kernel, pool.stride) == ((2, 2), (2, 2))  # stride defaults to the window
    assert [c.act for c in res.body] == ["relu", None] and res.shortcut is None
    assert se.r == 16


def test_tiny_example_from_the_issue():
    net = cnndsl.parse_file(ARCHITECTURES / "tiny.cnn")
    assert net.name == "tiny" and net.input == (32, 32, 3)
    assert net.params == {"width": 16, "classes": 10}
    assert names(net.body) == ["stem", "stage1", "stage2", "3", "4", "5", "6", "7", "8"]
    stem, stage1, stage2, concat, se, aux, gap, drop, fc = net.body
    assert isinstance(stem, Group) and names(stem.children) == ["0", "1"]
    # labeled repeat: a sequence of its own holding the copies, numbered 0, 1
    assert isinstance(stage1, Group) and isinstance(stage1.children[0], Repeat)
    copies = stage1.children[0].copies
    assert [names(c) for c in copies] == [["0"], ["1"]]
    # a block whose body is one unlabeled statement *is* that statement
    block = copies[0][0]
    assert isinstance(block, Residual) and block.call.text() == "basic(16)"
    assert names(block.body) == ["0", "1"] and names(block.shortcut) == ["2"]  # one numbering across branches
    assert block.act == "relu" and block.body[0].bn and not block.body[0].bias
    assert [b.call.text() for b in stage2.children] == ["basic(32, s=2)", "basic(32)"]
    assert stage2.children[0].body[0].stride == (2, 2)
    assert isinstance(concat, Concat) and [names(p) for p in concat.paths] == [["0"], ["1"], ["2", "3"]]
    assert isinstance(aux, Aux) and names(aux.body) == ["0", "1"]
    assert drop.p == 0.2 and fc.out == 10


def test_params_override_from_api_and_cli(tmp_path, capsys):
    net = cnndsl.parse_file(ARCHITECTURES / "tiny.cnn", width=32, classes=5)
    assert net.body[0].children[0].out == 32 and net.body[-1].out == 5
    assert main(["check", str(ARCHITECTURES / "tiny.cnn"), "--set", "width=8", "--ir"]) == 0
    ir = json.loads(capsys.readouterr().out)
    assert ir["params"]["width"] == 8 and ir["body"][0]["children"][0]["out"] == 8


def test_later_params_see_overrides():
    net = cnndsl.parse("param w = 8\nparam half = w // 2\ninput 8x8x3\nconv 1x1x{half}", w=20)
    assert net.body[0].out == 10


@pytest.mark.parametrize("expr,value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 // 2", 3), ("7 % 4", 3), ("-3 + 10", 7), ("9 / 3", 3),
    ("int(7.9)", 7), ("round(2.5)", 2), ("round(3.5)", 4), ("min(4, 2, 9)", 2), ("max(4, 2, 9)", 9),
    ("divisible(32 * 0.75, 8)", 24), ("divisible(30, 8)", 32), ("divisible(10, 8)", 16),  # 10 -> 8 is >10% off
    ("2 * w", 24), ("w - 2 - 2", 8),
])
def test_expressions(expr, value):
    net = cnndsl.parse(f"param w = 12\ninput 8x8x3\nconv 1x1x{{{expr}}}")
    assert net.body[0].out == value


def test_no_eval_of_python():
    # names that would mean something to Python mean nothing here
    for text in ("__import__('os')", "open", "w.__class__", "[1][0]", "lambda: 1"):
        with pytest.raises(cnndsl.CnnError):
            cnndsl.parse(f"param w = 1\ninput 8x8x3\nconv 1x1x{{{text}}}")


def test_comments_and_separators_korean():
    text = "# 합성곱 신경망 (CNN)\ninput 28x28x1   # 흑백 이미지\nconv 5x5x6 same tanh; avgpool 2  # 특성 맵\n\n\nflatten\n"
    net = cnndsl.parse(text)
    assert [n.kind for n in net.body] == ["conv", "avgpool", "flatten"]


@pytest.mark.parametrize("word,kernel,out,stride,padding,dilation,groups,bias,bn,act", [
    ("conv 3x3x64", (3, 3), 64, (1, 1), (0, 0), (1, 1), 1, True, False, None),
    ("conv 1x7x128 p0x3", (1, 7), 128, (1, 1), (0, 3), (1, 1), 1, True, False, None),
    ("conv 7x1x128 same", (7, 1), 128, (1, 1), (3, 0), (1, 1), 1, True, False, None),
    ("conv 11x11x96 s4", (11, 11), 96, (4, 4), (0, 0), (1, 1), 1, True, False, None),
    ("conv 3x3x64 s2 same d2 nobias bn relu6", (3, 3), 64, (2, 2), (2, 2), (2, 2), 1, False, True, "relu6"),
    ("conv 5x5x256 p2 g2", (5, 5), 256, (1, 1), (2, 2), (1, 1), 2, True, False, None),
    ("conv 3x3x8 valid leakyrelu", (3, 3), 8, (1, 1), (0, 0), (1, 1), 1, True, False, "leakyrelu"),
])
def test_conv_options(word, kernel, out, stride, padding, dilation, groups, bias, bn, act):
    c = cnndsl.parse(f"input 64x64x4\n{word}").body[0]
    assert (c.kernel, c.out, c.stride, c.padding, c.dilation, c.groups, c.bias, c.bn, c.act) == (
        kernel, out, stride, padding, dilation, groups, bias, bn, act)


def test_other_layers():
    net = cnndsl.parse(
        "input 64x64x8\n"
        "dwconv 3x3 s2 same nobias bn relu\n"
        "maxpool 3 s2 p1 ceil\n"
        "avgpool 2x2 nopadcount\n"
        "lrn size=5 alpha=0.0001 beta=0.75 k=2\n"
        "bn eps=0.001 momentum=0.01\n"
        "se r=4\n"
        "adaptiveavgpool 4x4\n"
        "gap\n"
        "flatten\n"
        "fc 10 nobias sigmoid\n"
        "dropout 0.5\n"
        "softmax\n"
    )
    dw, mp, ap, lrn, bn, se, ad, gap, fl, fc, do, sm = net.body
    assert (dw.kind, dw.kernel, dw.stride, dw.padding, dw.bias, dw.bn, dw.act) == (
        "dwconv", (3, 3), (2, 2), (1, 1), False, True, "relu")
    assert (mp.kernel, mp.stride, mp.padding, mp.ceil) == ((3, 3), (2, 2), (1, 1), True)
    assert (ap.kernel, ap.stride, ap.count_include_pad) == ((2, 2), (2, 2), False)
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 0.0001, 0.75, 2.0)
    assert (bn.eps, bn.momentum) == (0.001, 0.01)
    assert se.r == 4 and ad.size == (4, 4) and gap.kind == "gap" and fl.kind == "flatten"
    assert (fc.out, fc.bias, fc.act) == (10, False, "sigmoid")
    assert do.p == 0.5 and (sm.kind, sm.fn) == ("act", "softmax")


@pytest.mark.parametrize("act", ["relu", "relu6", "sigmoid", "tanh", "softmax", "silu", "hardswish", "leakyrelu"])
def test_every_activation(act):
    net = cnndsl.parse(f"input 8x8x3\n{act}\nconv 1x1x4 {act}")
    assert net.body[0].fn == act and net.body[1].act == act


def test_residual_projection_add_and_concat_naming():
    net = cnndsl.parse(
        "input 16x16x8\n"
        "b: residual < c1: conv 3x3x8 same; relu; c2: conv 3x3x8 same | down: < conv 1x1x8; bn > > relu\n"
        "x: add < skip: conv 1x1x8; skipbn: bn | rep: < relu; conv 3x3x8 same > >\n"
        "concat < a: conv 1x1x4 | conv 1x1x4; relu | maxpool 3 s1 same >\n"
    )
    res, add, cat = net.body
    assert names(res.body) == ["c1", "2" if False else "1", "c2"] and names(res.shortcut) == ["down"]
    assert names(res.shortcut[0].children) == ["0", "1"]
    assert [names(p) for p in add.paths] == [["skip", "skipbn"], ["rep"]]
    assert [names(p) for p in cat.paths] == [["a"], ["1", "2"], ["3"]]


def test_underscore_label_joins_enclosing_scope():
    net = cnndsl.parse(
        "input 8x8x8\n"
        "m: concat < a: conv 1x1x2 | b1: conv 1x1x2; _: concat < b2a: conv 1x3x2 same | b2b: conv 3x1x2 same > >\n"
    )
    inner = net.body[0].paths[1][1]
    assert inner.name == "" and names(inner.paths[0]) == ["b2a"] and names(inner.paths[1]) == ["b2b"]
    a = cnndsl.analyze(net)
    assert "m.b2a" in [r.path for r in a.rows] and a.output == (8, 8, 6)


def test_repeat_splices_into_enclosing_numbering():
    net = cnndsl.parse("input 8x8x3\nrelu\nrepeat 3 { conv 1x1x3; relu }\nfc_: gap")
    rep = net.body[1]
    assert rep.name == "" and [names(c) for c in rep.copies] == [["1", "2"], ["3", "4"], ["5", "6"]]
    assert net.body[2].name == "fc_"


def test_block_call_with_several_statements_is_a_sequence():
    net = cnndsl.parse("block sep(c) { conv1: dwconv 3x3 same nobias; pointwise: conv 1x1x{c} nobias }\n"
                       "input 8x8x4\nconv3: sep(16)\nsep(8)")
    a, b = net.body
    assert (a.name, a.call.text(), names(a.children)) == ("conv3", "sep(16)", ["conv1", "pointwise"])
    assert (b.name, b.call.text()) == ("1", "sep(8)")


def test_block_defaults_and_keywords():
    net = cnndsl.parse("param k = 3\nblock c(n, s=1, kk=k) { conv {kk}x{kk}x{n} s{s} same }\ninput 8x8x3\n"
                       "c(4); c(4, s=2); c(n=4, kk=1)")
    assert [(n.kernel, n.stride) for n in net.body] == [((3, 3), (1, 1)), ((3, 3), (2, 2)), ((1, 1), (1, 1))]
    assert net.body[2].call.text() == "c(n=4, kk=1)"


def test_aux_from_label():
    net = cnndsl.parse("input 16x16x3\nfeat: conv 3x3x8 same\nconv 3x3x8 s2 same\n"
                       "aux1: aux from feat < gap; fc 2 >\ngap; fc 3")
    a = cnndsl.analyze(net)
    aux_fc = [r for r in a.rows if r.path == "aux1.1"][0]
    assert aux_fc.input == (1, 1, 8)
    assert a.aux_params == 8 * 2 + 2 and a.params == (3 * 9 * 8 + 8) * 2 - 3 * 9 * 8 + 8 * 9 * 8 + 18 + 27
    # aux heads are not in the eval-mode MACs
    assert a.macs == 16 * 16 * 8 * 27 + 8 * 8 * 8 * 72 + 8 * 3


def test_use_imports_blocks(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.cnn").write_text("block two(c) { conv 1x1x{c}; relu }\n")
    (tmp_path / "net.cnn").write_text('use "lib/blocks.cnn"\ninput 8x8x3\ntwo(5)\n')
    net = cnndsl.parse_file(tmp_path / "net.cnn")
    assert net.body[0].call.text() == "two(5)" and net.body[0].children[0].out == 5


def test_use_takes_only_the_blocks_of_a_whole_network(tmp_path):
    # a file with statements: only its block is taken (its relu and its input are not)
    (tmp_path / "net.cnn").write_text("input 4x4x1\nblock two(c) { conv 1x1x{c}; relu }\nrelu\n")
    (tmp_path / "main.cnn").write_text('use "net.cnn"\ninput 8x8x3\ntwo(5)\n')
    net = cnndsl.parse_file(tmp_path / "main.cnn")
    assert net.input == (8, 8, 3) and len(net.body) == 1 and net.body[0].children[0].out == 5
    # a shipped network by its file name, from any folder: GoogLeNet's inception(64, 96, 128, 16, 32, 32)
    # on 28x28x192 is Table 1's inception (3a): 64 + 128 + 32 + 32 = 256 channels out
    (tmp_path / "inc.cnn").write_text('use "googlenet.cnn"\ninput 28x28x192\ninception3a: inception(64, 96, 128, 16, 32, 32)\n')
    a = cnndsl.analyze(cnndsl.parse_file(tmp_path / "inc.cnn"))
    assert a.output == (28, 28, 256)
    # 1x1: 192*64; 1x1 + 3x3: 192*96 + 9*96*128; 1x1 + 3x3: 192*16 + 9*16*32; pool then 1x1: 192*32
    # (no biases; each conv's batch norm adds 2 per channel)
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 9 * 16 * 32 + 192 * 32
    assert a.params == weights + 2 * (64 + 96 + 128 + 16 + 32 + 32)
    # ResNet's bottleneck from resnet50.cnn, reached through its own `use "blocks/resnet.cnn"`
    (tmp_path / "b.cnn").write_text('use "resnet50.cnn"\ninput 56x56x256\nb: bottleneck(64)\n')
    assert cnndsl.analyze(cnndsl.parse_file(tmp_path / "b.cnn")).output == (56, 56, 256)


def test_use_errors(tmp_path, capsys):
    (tmp_path / "a.cnn").write_text('use "b.cnn"\nblock a() { relu }\n')
    (tmp_path / "b.cnn").write_text('use "a.cnn"\nblock b() { relu }\n')
    (tmp_path / "main.cnn").write_text('use "a.cnn"\ninput 8x8x3\na()\n')
    (tmp_path / "missing.cnn").write_text('use "nope.cnn"\ninput 8x8x3\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "leaf.cnn").write_text("block leaf() { relu }\n")
    (tmp_path / "sub" / "up.cnn").write_text('use "../leaf.cnn"\ninput 8x8x3\n')
    (tmp_path / "abs.cnn").write_text(f'use "{tmp_path / "a.cnn"}"\ninput 8x8x3\n')
    expect = {"main.cnn": "import cycle", "missing.cnn": "no such file", "sub/up.cnn": "outside this file's folder",
              "abs.cnn": "absolute path"}
    for name, message in expect.items():
        assert main(["check", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        assert err.startswith(str(tmp_path)), err
    assert main(["check", str(tmp_path / "sub" / "up.cnn"), "--allow-outside"]) == 0


def test_ir_json_round_trip(capsys):
    for path in sorted(ARCHITECTURES.glob("*.cnn")):
        net = cnndsl.parse_file(path)
        assert Network.model_validate_json(net.model_dump_json()) == net
    assert main(["check", "--ir", str(ARCHITECTURES / "tiny.cnn")]) == 0
    out = capsys.readouterr().out
    assert Network.model_validate_json(out) == cnndsl.parse_file(ARCHITECTURES / "tiny.cnn")


def test_ir_is_frozen():
    net = cnndsl.parse("input 8x8x3\nconv 3x3x8")
    with pytest.raises(Exception):
        net.body[0].out = 3


def test_check_summary_line(capsys):
    assert main(["check", str(ARCHITECTURES / "tiny.cnn"), str(ARCHITECTURES / "tiny.cnn")]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 52,416 params: worked out in tests/test_stats*.py; here only the summary's form
    assert len(lines) == 2 and lines[0].endswith(" MACs") and ": ok: tiny, 32x32x3 -> 10, " in lines[0]


def test_shipped_architecture_by_name(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cnndsl", "check", "tiny"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "ok: tiny" in r.stdout


def test_import_and_check_do_not_import_torch():
    code = ("import sys, cnndsl\nfrom cnndsl.cli import main\n"
            "main(['check', 'tiny']); main(['fmt', 'tiny'])\n"
            "assert 'torch' not in sys.modules and 'graphviz' not in sys.modules, 'imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import cnndsl"], capture_output=True, text=True)
    assert " torch" not in r.stderr and "graphviz" not in r.stderr


def test_network_title_any_unicode():
    text = 'network lenet5 "르넷-5: 합성곱 신경망 (LeNet-5)"\ninput 32x32x1\nconv 5x5x6 tanh\n'
    net = cnndsl.parse(text)
    assert (net.name, net.title) == ("lenet5", "르넷-5: 합성곱 신경망 (LeNet-5)")
    assert Network.model_validate_json(net.model_dump_json()) == net
    assert cnndsl.parse("network x\ninput 8x8x3").title is None
    from cnndsl.format import format_text

    assert format_text(text) == text


def test_network_title_in_the_diagram():
    import xml.etree.ElementTree as ET

    from cnndsl.backends.graphviz import to_svg

    net = cnndsl.parse('network g "구글넷 (GoogLeNet)"\ninput 8x8x3\nconv 1x1x4\n')
    texts = [t.text for t in ET.fromstring(to_svg(net)).iter("{http://www.w3.org/2000/svg}text")]
    assert "구글넷 (GoogLeNet)" in texts


def test_position_of_an_offset():
    from cnndsl.source import position

    text = "ab\ncde\n\nf"
    # offsets counted by hand: a=0 b=1 \n=2 c=3 d=4 e=5 \n=6 \n=7 f=8
    assert [position(text, i) for i in (0, 1, 3, 5, 7, 8)] == [(1, 1), (1, 2), (2, 1), (2, 3), (3, 1), (4, 1)]
    assert position(text.encode(), 4) == (2, 2)
    assert position(text, 8, known=(2, 4)) == (4, 1)  # counting on from a position already known


# ---- quoted labels: any PyTorch module name (docs/naming.md)

QUOTED = """input 8x8x3
"block": < "0": conv 3x3x4 same; "2": bn; relu >
repeat 2 as i { "block1-{i}": conv 1x1x4 }
"3": aux from block1-1 < gap; fc 2 >
gap; fc 5
"""


def test_quoted_labels_name_modules_and_positions():
    net = cnndsl.parse(QUOTED)
    block = net.body[0]
    # "0", then the quoted position "2", then the unlabeled relu counts on from it: 3
    assert [block.name, *(c.name for c in block.children)] == ["block", "0", "2", "3"]
    assert [n.name for n in net.body[1].copies[0] + net.body[1].copies[1]] == ["block1-0", "block1-1"]
    # after the quoted position "3" the two unlabeled statements are 4 and 5
    assert [n.name for n in net.body[2:]] == ["3", "4", "5"]


def test_quoted_labels_fmt_round_trip():
    from cnndsl.format import format_text

    text = format_text(QUOTED, "<q>")
    assert '"block": < "0": conv 3x3x4 same; "2": bn; relu >' in text
    assert '"block1-{i}": conv 1x1x4' in text
    assert format_text(text, "<q>") == text


def test_quoted_labels_state_dict_and_emitted_source(tmp_path):
    torch = pytest.importorskip("torch")
    from cnndsl.backends.torch_source import emit

    model = cnndsl.build(cnndsl.parse(QUOTED))
    keys = list(model.state_dict())
    # conv 3x3x4 with bias, bn (5 tensors), two 1x1 convs with bias, the aux head's fc, the fc
    assert keys == ["block.0.weight", "block.0.bias", "block.2.weight", "block.2.bias", "block.2.running_mean",
                    "block.2.running_var", "block.2.num_batches_tracked", "block1-0.weight", "block1-0.bias",
                    "block1-1.weight", "block1-1.bias", "3.1.weight", "3.1.bias", "5.weight", "5.bias"]
    path = tmp_path / "quoted.py"
    path.write_text(emit(cnndsl.parse(QUOTED, filename="quoted.cnn")))
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # noqa: S102 - the test's own emitted file
    other = ns["Quoted"]()
    assert list(other.state_dict()) == keys
    other.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    model.eval(), other.eval()
    assert torch.equal(model(x), other(x))
    model.train(), other.train()
    ours, theirs = model(x), other(x)  # the head labeled "3" is not a Python name: its field is aux1
    assert ours._fields == theirs._fields == ("out", "aux1")
    assert torch.equal(ours.aux1, theirs.aux1)


@pytest.mark.parametrize("text, col, message", [
    ('"a.b": relu', 1, "'a.b' is not a valid label"),
    ('"": relu', 1, "'' is not a valid label"),
    ('"-x": relu', 1, "'-x' is not a valid label"),
    ('foo-bar: relu', 1, "'foo-bar' is not a valid label"),
    ('"forward": relu', 1, "'forward' is reserved"),
    ('"input": relu; upsample to input', 1, "'input' is reserved"),  # it would hide the network's input
    ('relu; relu; "1": relu', 13, 'the position "1" comes after position 1'),
])
def test_quoted_label_errors(text, col, message):
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse("input 8x8x3\n" + text + "\n")
    assert str(e.value).startswith(f"<string>:2:{col}: error: {message}"), str(e.value)
