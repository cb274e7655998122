"""`cnndsl compile FILE --onnx OUT.onnx [--weights CKPT]`: the file passes onnx.checker, and
onnxruntime's output equals the PyTorch module's with the same weights (atol 1e-4), at a batch size
other than the traced one; weights as a plain state_dict or a checkpoint of examples/train.py;
errors are CnnErrors (exit 2) without a traceback."""

from __future__ import annotations

import importlib.util

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import cnndsl
from cnndsl.cli import main

torch.set_num_threads(1)

# residual (projection and identity shortcuts), concat, add, se, an aux head (dropped in eval mode), dropout
MIXED = """network mixed
input 24x24x3
param classes = 7
stem: conv 3x3x8 s2 same nobias bn relu
res: residual < conv 3x3x8 same nobias bn relu; conv 3x3x8 same nobias bn > relu
down: residual < conv 3x3x12 s2 same nobias bn relu; conv 3x3x12 same nobias bn | conv 1x1x12 s2 nobias bn > relu
cat: concat < conv 1x1x6 | conv 3x3x6 same relu | maxpool 3 s1 same; conv 1x1x4 >
add < conv 1x1x16 | dwconv 3x3 same bn relu6 > hardswish
se r=4
aux < gap; fc {classes} >
gap; dropout 0.3; fc: fc {classes}
"""

CASES = {
    "mobilenet": ("mobilenet", ["--set", "alpha=0.25", "--set", "res=64", "--set", "classes=10"]),  # shipped, small
    "tiny": ("tiny", []),  # shipped: residual, concat, se, aux
    "mixed": ("mixed.cnn", []),
}


def randomized(model):
    """A state_dict unlike any initialization: every parameter and batch-norm statistic random."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("running_var"):
            value = 0.5 + torch.rand(value.shape, generator=gen)
        elif value.is_floating_point():
            value = 0.3 * torch.randn(value.shape, generator=gen)
        state[key] = value
    return state


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    return torch.from_numpy(session.run(["output"], {"input": x.numpy()})[0])


@pytest.mark.parametrize(("case", "fmt"), [("mobilenet", "checkpoint"), ("tiny", "state_dict"),
                                           ("tiny", "checkpoint"), ("mixed", "state_dict")])
def test_onnx_equals_pytorch(case, fmt, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mixed.cnn").write_text(MIXED)
    program, sets = CASES[case]
    params = dict(s.split("=") for s in sets[1::2])
    network = cnndsl.parse_file(program, **params)
    state = randomized(cnndsl.build(network))
    if fmt == "checkpoint":  # the format examples/train.py writes
        weights = {"format": "cnndsl-train/1", "model": state, "optimizer": {"state": {}, "param_groups": []},
                   "step": 3, "losses": [2.3, 2.2, 2.1], "accuracy": 0.5, "config": {"arch": program}}
    else:
        weights = state
    torch.save(weights, tmp_path / "w.pt")

    assert main(["compile", program, *sets, "--onnx", "out.onnx", "--weights", "w.pt"]) == 0
    assert "wrote out.onnx" in capsys.readouterr().err
    assert not list(tmp_path.glob("out.onnx.data"))  # the weights are inside the file
    model_proto = onnx.load(tmp_path / "out.onnx")
    onnx.checker.check_model(model_proto, full_check=True)

    reference = cnndsl.build(network, weights=tmp_path / "w.pt").eval()
    height, width, channels = network.input
    x = torch.randn(3, channels, height, width, generator=torch.Generator().manual_seed(1))  # traced with 2
    with torch.no_grad():
        expected = reference(x)
        fresh = cnndsl.build(network).eval()(x)
    got = run_onnx(tmp_path / "out.onnx", x)
    assert got.shape == expected.shape == (3, int(params.get("classes", 10 if case == "tiny" else 7)))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(got, fresh, atol=1e-2)  # the weights were loaded, not the initialization


def test_onnx_with_source_and_without_weights(tmp_path, monkeypatch):
    """-o and --onnx together write both; no --weights exports the initialization."""
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "lenet5", "-o", "lenet5.py", "--onnx", "sub/lenet5.onnx"]) == 0
    assert "class Lenet5" in (tmp_path / "lenet5.py").read_text()
    onnx.checker.check_model(onnx.load(tmp_path / "sub" / "lenet5.onnx"))


def test_errors_are_cnn_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny = cnndsl.load("tiny")
    torch.save(tiny.state_dict(), "tiny.pt")
    torch.save(cnndsl.load("tiny", classes=4).state_dict(), "tiny4.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    cases = [
        (["compile", "tiny", "--weights", "tiny.pt"], "--weights goes with --onnx"),
        (["compile", "tiny", "--onnx", "o.onnx", "--weights", "nope.pt"], "no such file"),
        (["compile", "tiny", "--onnx", "o.onnx", "--weights", "junk.pt"], "cannot read"),
        (["compile", "tiny", "--onnx", "o.onnx", "--weights", "tiny4.pt"], "4 mis-shaped"),
        (["compile", "tiny", "--set", "classes=4", "--onnx", "o.onnx", "--weights", "tiny.pt"],
         "8.weight (weights [10, 48], model [4, 48])"),
        (["compile", "lenet5", "--onnx", "o.onnx", "--weights", "tiny.pt"], "86 unexpected"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "o.onnx").exists()


def test_missing_onnx_package_is_a_cnn_error(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    assert main(["compile", "tiny", "--onnx", str(tmp_path / "o.onnx")]) == 2
    err = capsys.readouterr().err
    assert "ONNX export needs the package onnxscript" in err and "pip install 'cnndsl[onnx]'" in err
