"""The shipped architectures against their reference implementations (`tests/data/reference/`):
params and MACs from stats, the PyTorch module's state_dict keys and shapes in order (so the
reference's pretrained weights load with strict=True), the output shape of a forward pass, the
MobileNet width/resolution grid, and the generated table in architectures/README.md."""

from __future__ import annotations

import contextlib
import io
import json
import re
from functools import cache
from pathlib import Path

import pytest
from conftest import ARCHITECTURES, REFERENCE
from test_zoo import ZOO

import cnndsl
from cnndsl import cli


@cache
def reference(name: str) -> dict:
    """A reference model's figures: `<name>.json`, or an entry of classics.json."""
    path = REFERENCE / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    return json.loads((REFERENCE / "classics.json").read_text())[name]


# file -> the reference it must equal (issue 6's table)
ROWS = {
    "lenet5": "lenet5",
    "alexnet": "alexnet",
    "alexnet_2012": "alexnet_2012",
    "vgg16": "vgg16",
    "vgg19": "vgg19",
    "googlenet": "googlenet_aux",  # with both auxiliary heads; googlenet.json is its eval-mode twin
    "inception_v3": "inception_v3",
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "resnet152": "resnet152",
    "xception": "legacy_xception",
    "se_resnet50": "seresnet50",
    "mobilenet": "mobilenetv1_100",
    "mobilenet_v2": "mobilenet_v2",
}


def path(name: str) -> Path:
    return ARCHITECTURES / f"{name}.cnn"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_every_shipped_architecture_is_a_row():
    shipped = {p.stem for p in ARCHITECTURES.glob("*.cnn")} - {"tiny"}
    assert shipped == set(ROWS) | set(ZOO)  # the wider zoo is checked in test_zoo.py


@pytest.mark.parametrize("name", ROWS)
def test_check_passes(name):
    code, out, err = run_cli("check", str(path(name)))
    assert code == 0, err
    assert ": ok: " in out


@pytest.mark.parametrize("name", ROWS)
def test_fmt_check_passes(name):
    code, _, err = run_cli("fmt", "--check", str(path(name)))
    assert code == 0, err


@pytest.mark.parametrize("name", ROWS)
def test_figures_equal_reference(name):
    ref = reference(ROWS[name])
    net = cnndsl.parse_file(path(name))
    a = cnndsl.analyze(net)
    assert list(net.input) == ref["input"]
    assert list(a.output) == ref["output"]
    assert a.params == ref["params"]
    assert a.macs == ref["macs"]
    assert net.params.get("classes") == ref["output"][0]


def test_googlenet_inference_figures_equal_torchvision_without_aux():
    a = cnndsl.analyze(cnndsl.parse_file(path("googlenet")))
    plain = reference("googlenet")
    assert a.params - a.aux_params == plain["params"]
    assert a.macs == plain["macs"]


def test_resnets_differ_only_in_depths():
    def shape(name):  # the program's lines without comments, every number blanked out
        lines = [ln.split("#")[0].rstrip() for ln in path(name).read_text().splitlines()]
        return [re.sub(r"\d+", "N", ln) for ln in lines if ln]

    assert shape("resnet18") == shape("resnet34")
    assert shape("resnet50") == shape("resnet101") == shape("resnet152")


# ------------------------------------------------------------------------- the PyTorch module

# the deepest ResNets run at 64x64 to save CI time: their blocks are resnet50's, which runs full size
FORWARD_SIZE = {"resnet101": 64, "resnet152": 64}


def _state(module) -> list[list]:
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


@pytest.mark.parametrize("name", ROWS)
def test_module_equals_reference(name):
    """state_dict keys and shapes in the reference's order, parameter count, and a forward pass
    at the reference input size giving the reference output shape (eval mode)."""
    torch = pytest.importorskip("torch")
    ref = reference(ROWS[name])
    torch.manual_seed(0)
    model = cnndsl.build(cnndsl.parse_file(path(name))).eval()
    if "state_dict" in ref:
        assert _state(model) == ref["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == ref["params"]
    h, w, c = ref["input"]
    h = w = FORWARD_SIZE.get(name, h)
    with torch.no_grad():
        y = model(torch.randn(1, c, h, w))
    assert list(y.shape) == [1, *ref["output"]]
    assert torch.isfinite(y).all()


def test_googlenet_returns_both_aux_outputs_in_training():
    torch = pytest.importorskip("torch")
    model = cnndsl.build(cnndsl.parse_file(path("googlenet"), classes=7)).train()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224))
    assert [list(t.shape) for t in out] == [[2, 7], [2, 7], [2, 7]]


# ------------------------------------------------------------------------- MobileNet's multipliers

GRID = json.loads((REFERENCE / "mobilenet_v1_multipliers.json").read_text())


@pytest.mark.parametrize("row", GRID, ids=lambda r: f"alpha={r['alpha']}-res={r['res']}")
def test_mobilenet_multipliers(row):
    a = cnndsl.analyze(cnndsl.parse_file(path("mobilenet"), alpha=row["alpha"], res=row["res"]))
    assert (a.params, a.macs) == (row["params"], row["macs"])


def test_mobilenet_sweep_cli_reproduces_the_grid():
    code, out, err = run_cli("stats", str(path("mobilenet")), "--sweep", "alpha=1.0,0.75,0.5,0.25",
                             "--sweep", "res=224,192,160,128", "--json")
    assert code == 0, err
    got = {(r["set"]["alpha"], r["set"]["res"]): (r["params"], r["macs"]) for r in json.loads(out)}
    want = {(r["alpha"], r["res"]): (r["params"], r["macs"]) for r in GRID}
    assert got == want


# ------------------------------------------------------------------------- architectures/README.md

README = ARCHITECTURES / "README.md"
BEGIN = "<!-- BEGIN cnndsl stats --markdown architectures/*.cnn -->"
END = "<!-- END -->"


def readme_table() -> str:
    files = sorted(str(p.relative_to(ARCHITECTURES.parent)) for p in ARCHITECTURES.glob("*.cnn"))
    code, out, err = run_cli("stats", "--markdown", *(str(ARCHITECTURES.parent / f) for f in files))
    assert code == 0, err
    return out


def test_readme_table_is_current():
    """Regenerate with: python -c "import tests.test_architectures as t; t.write_readme()" (from the root)."""
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table.strip() == readme_table().strip(), "architectures/README.md is stale: run write_readme()"


def write_readme() -> None:
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{BEGIN}\n{readme_table().strip()}\n{END}{tail}", encoding="utf-8")
