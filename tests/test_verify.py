"""`cnndsl verify FILE --against TARGET` and `cnndsl.verify`: a program against hand-written PyTorch
modules (tests/verify_targets.py): equal, different only by names, different by a batch-norm eps,
different by a shape; keyword arguments as Python literals only; bad targets are exit-2 errors without a
traceback; the README's example runs as shown."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import verify_targets
from conftest import ROOT
from verify_targets import PROGRAM

import cnndsl
from cnndsl.backends.verify import RTOL
from cnndsl.cli import main
from cnndsl.commands.verify import parse_target_args

torch.set_num_threads(1)

# by hand (verify_targets.py): params 1,461, MACs 350,248 at 16x16; a 5x5 stem: 1,845 and 448,552
ROWS_EQUAL = {"params": ("1,461", "1,461", "equal"), "MACs": ("350,248", "350,248", "equal"),
              "output shape": ("[5]", "[5]", "equal"), "state_dict": ("20 keys", "20 keys", "equal")}


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "small.cnn"
    path.write_text(PROGRAM)
    return path


def verify(capsys, *argv):
    code = main(["verify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, tuple[str, ...]]:
    """The table's rows: label -> (cnndsl, reference, verdict), split at runs of two spaces."""
    table = {}
    for line in out.splitlines()[2:7]:
        label, *cells = re.split(r"  +", line.strip())
        table[label] = tuple(cells)
    return table


def test_equal_module(program, capsys):
    code, out, err = verify(capsys, program, "--against", "verify_targets:equal")
    assert code == 0, err
    assert rows(out) == {**ROWS_EQUAL, "outputs (eval)": ("max abs diff 0", "relative 0", "equal")}
    assert out.splitlines()[-1] == "equal"


def test_python_api_leaves_the_reference_alone():
    reference = verify_targets.equal()
    report = cnndsl.verify(cnndsl.parse(PROGRAM), reference)
    assert report.ok and (report.ours.params, report.ours.macs) == (1461, 350248)
    assert report.ours.outputs == report.reference.outputs == ((5,),)
    assert report.max_abs == 0.0 and report.mapping == {}
    # verify measured a copy: the batch norms it randomized are this module's fresh ones still
    assert torch.equal(reference.stem.bn.running_var, torch.ones(8))
    assert torch.equal(reference.stem.bn.weight, torch.ones(8))


def test_names_only_offers_the_positional_mapping(program, capsys, tmp_path):
    out_json = tmp_path / "mapping.json"
    code, out, err = verify(capsys, program, "--against", "verify_targets:renamed", "--mapping", out_json)
    assert code == 1, err
    table = rows(out)
    assert table["state_dict"] == ("20 keys", "20 keys", "NAMES DIFFER")
    assert table["outputs (eval)"] == ("max abs diff 0", "relative 0", "equal")  # loaded by position
    assert "20 of 20 names differ" in out and "  stem.conv.weight -> features.0.conv.weight" in out
    assert "  ... (10 more)" in out
    mapping = json.loads(out_json.read_text())
    assert len(mapping) == 20
    assert mapping["res.conv2.bn.running_var"] == "features.1.conv2.bn.running_var"
    assert mapping["fc.bias"] == "head.bias"


def test_batch_norm_eps_shows_in_the_outputs(program, capsys, tmp_path):
    code, out, err = verify(capsys, program, "--against", "verify_targets:eps")
    assert code == 1, err
    table = rows(out)
    assert {k: table[k] for k in ROWS_EQUAL} == ROWS_EQUAL  # everything but the outputs is equal
    assert table["outputs (eval)"][2] == "DIFFERS"
    assert "the weights fit, yet the outputs differ" in out
    report = cnndsl.verify(cnndsl.parse(PROGRAM), verify_targets.eps())
    assert report.max_rel > 10 * RTOL
    # the same program with eps=0.001 on its batch norms equals it: eps was the one difference
    fixed = tmp_path / "fixed.cnn"
    fixed.write_text(PROGRAM.replace("nobias bn", "nobias bn eps=0.001"))
    assert verify(capsys, fixed, "--against", "verify_targets:eps")[0] == 0


def test_shape_difference_names_the_first_key(program, capsys):
    code, out, err = verify(capsys, program, "--against", "verify_targets:wide_stem")
    assert code == 1, err
    table = rows(out)
    assert table["params"] == ("1,461", "1,845", "DIFFERS")
    assert table["MACs"] == ("350,248", "448,552", "DIFFERS")
    assert table["output shape"] == ("[5]", "[5]", "equal")
    assert table["outputs (eval)"] == ("not compared: the state_dicts differ", "DIFFERS")
    assert ("state_dict: first difference at key #0: cnndsl 'stem.conv.weight' [8, 3, 3, 3], "
            "reference 'stem.conv.weight' [8, 3, 5, 5]") in out
    code, out, err = verify(capsys, program, "--against", "verify_targets:wide_stem", "--mapping", "x.json")
    assert code == 2 and "--mapping: the state_dict shapes differ too" in err


def test_target_args(program, capsys):
    code, out, _ = verify(capsys, program, "--against", "verify_targets:equal", "--target-arg", "classes=7")
    assert code == 1
    assert rows(out)["output shape"] == ("[5]", "[7]", "DIFFERS")
    assert "first difference at key #18: cnndsl 'fc.weight' [5, 8], reference 'fc.weight' [7, 8]" in out
    code, _, err = verify(capsys, program, "--against", "verify_targets:equal", "--target-arg", "classes=7",
                          "--set", "classes=7")
    assert code == 0, err


def test_target_arg_values_are_literals_only():
    assert parse_target_args(["a=1", "b=-2.5", "c='x y'", 'd="z"', "e=True", "f=None", "g=0x10"]) == \
        {"a": 1, "b": -2.5, "c": "x y", "d": "z", "e": True, "f": None, "g": 16}
    for bad, message in [("a=abc", "'abc' is not a number, a quoted string, True, False or None"),
                         ("a=[1, 2]", "is not a number"), ("a={'k': 1}", "is not a number"),
                         ("a=__import__('os').system('false')", "is not a number"), ("a=1j", "is not a number"),
                         ("noequals", "--target-arg takes NAME=VALUE"), ("1a=2", "--target-arg takes NAME=VALUE")]:
        with pytest.raises(cnndsl.CnnError, match=re.escape(message)):
            parse_target_args([bad])
    with pytest.raises(cnndsl.CnnError, match="--target-arg a is given twice"):
        parse_target_args(["a=1", "a=2"])


MISSING = [name for name in ("torchvision", "timm") if importlib.util.find_spec(name) is None]


@pytest.mark.parametrize("target, message, hint", [
    ("no_such_module_here:f", "--against: cannot import 'no_such_module_here'",
     "is it installed, or a .py file in the current directory or on PYTHONPATH?"),
    ("verify_targets:equa", "--against: 'verify_targets' has no attribute 'equa'", "did you mean 'equal'?"),
    ("verify_targets:raises", "--against: verify_targets:raises() raised ValueError: no such configuration", None),
    ("verify_targets:not_a_module", "--against: verify_targets:not_a_module returned a dict, not a torch.nn.Module",
     None),
    ("verify_targets:PROGRAM", "--against: 'verify_targets:PROGRAM' is a str, not a function or class", None),
    ("resnet50", "--against: 'resnet50' is not a target", "like torchvision.models.resnet50"),
    ("verify_targets:needs_32x32", "verify: the reference module failed on a 1x3x16x16 input: RuntimeError: ", None),
    *[(target, f"--against: cannot import '{module}': No module named '{name}'",
       f"{name} is optional and not installed: pip install {name}")
      for name, target, module in [("torchvision", "torchvision.models.resnet50", "torchvision.models"),
                                   ("timm", "timm:seresnet50", "timm")] if name in MISSING],
])
def test_bad_target_is_a_clean_error(program, capsys, target, message, hint):
    code, out, err = verify(capsys, program, "--against", target)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"cnndsl: error: {message}")
    if hint:
        assert f"hint: {hint}" in err


def test_factory_in_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "verify_here_nets.py").write_text("from verify_targets import Small\n\nnet = Small\n")
    (tmp_path / "small.cnn").write_text(PROGRAM)
    monkeypatch.chdir(tmp_path)
    assert verify(capsys, "small.cnn", "--against", "verify_here_nets:net")[0] == 0
    assert str(tmp_path) not in sys.path


def test_import_cnndsl_and_its_verify_import_no_torch():
    code = "import sys, cnndsl; cnndsl.verify; import cnndsl.commands.verify; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.strip() == "False"


# ------------------------------------------------------------------------------------- the README


def readme_block(start: str) -> str:
    """The README's fenced block whose first line is `start`."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    (block,) = [b for b in blocks if b.startswith(start)]
    return block


@pytest.mark.parametrize("program_file", ["lenet5", "lenet.cnn"])
def test_readme_example_runs_as_shown(tmp_path, monkeypatch, capsys, program_file):
    (tmp_path / "mynets.py").write_text(readme_block("# mynets.py"))
    (tmp_path / "lenet.cnn").write_text(readme_block("# lenet.cnn"))
    shown = readme_block(f"$ cnndsl verify {program_file} ")
    command, _, expected = shown.partition("\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mynets", raising=False)
    code = main(command.split()[2:])
    assert capsys.readouterr().out == expected
    assert code == (0 if expected.endswith("\nequal\n") else 1)
    # the figures shown are LeNet-5's, as measured by hand: conv 156 + 2,416 + 48,120, fc 10,164 + 850
    assert "61,706" in expected and "416,520" in expected



def test_a_deep_network_is_compared_without_overflow():
    """ResNet-152 initialized as torchvision initializes it (convolutions kaiming_normal_, fan_out): with
    random batch norms whose gains reach 1.5 / sqrt(0.05), its 155 norms overflowed to inf, both sides
    gave nan, and the network differed from itself. The gains now stay near 1."""
    torch.manual_seed(0)
    net = cnndsl.parse_file("resnet152", res=64, classes=4)
    reference = cnndsl.build(net)
    for m in reference.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    report = cnndsl.verify(net, reference)
    assert report.ok and report.max_abs == 0.0
    from cnndsl.backends.verify import shuffle_batch_norms

    shuffle_batch_norms(reference, torch.Generator().manual_seed(1))
    gains = torch.cat([m.weight.detach() / (m.running_var + m.eps).sqrt() for m in reference.modules()
                       if isinstance(m, torch.nn.BatchNorm2d)])
    assert 0.79 < float(gains.min()) and float(gains.max()) < 1.2  # sqrt(var) x [0.8, 1.2] / sqrt(var + eps)


def test_outputs_that_overflow_are_not_compared():
    """A reference whose forward overflows (weights of 1e30 twice over: 1e60 > float32's 3.4e38) gives inf on
    both sides: the outputs are not called equal, nor blamed on a layer."""
    net = cnndsl.parse("input 4x4x2\nconv 1x1x2 nobias\nconv 1x1x2 nobias")
    reference = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1, bias=False), torch.nn.Conv2d(2, 2, 1, bias=False))
    with torch.no_grad():
        for m in reference:
            m.weight.fill_(1e30)
    report = cnndsl.verify(net, reference)
    assert not report.finite and not report.outputs_equal and not report.ok
    assert report.ours.params == report.reference.params == 8  # the rest is compared as usual
    assert ("outputs (eval)", "not compared: an output is inf or nan", "", "UNKNOWN") in report.rows()
    assert "gave inf or nan" in report.table() and "computes something else" not in report.table()
