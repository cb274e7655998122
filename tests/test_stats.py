"""`cnndsl.stats` and `cnndsl stats`: published figures, the JSON contract, the text/markdown/csv
tables, and that no torch is imported."""

import csv
import io
import json
import subprocess
import sys

import pytest
from conftest import ARCHITECTURES, REFERENCE

import cnndsl
from cnndsl.cli import main

# ---------------------------------------------------------------- programs written from the papers


def resnet(blocks: list[int], name: str) -> str:
    """torchvision's ResNet (v1.5: stride on the 3x3) with bottleneck blocks."""
    stages = "\n".join(
        f"layer{i + 1}: < down({c}, {1 if i == 0 else 2}); repeat {n - 1} {{ bottleneck({c}) }} >"
        for i, (c, n) in enumerate(zip((64, 128, 256, 512), blocks)))
    return f"""network {name}
input 224x224x3
block down(c, s) {{
  residual < conv 1x1x{{c}} nobias bn relu; conv 3x3x{{c}} s{{s}} same nobias bn relu; conv 1x1x{{c*4}} nobias bn
           | conv 1x1x{{c*4}} s{{s}} nobias bn > relu
}}
block bottleneck(c) {{
  residual < conv 1x1x{{c}} nobias bn relu; conv 3x3x{{c}} same nobias bn relu; conv 1x1x{{c*4}} nobias bn > relu
}}
stem: < conv 7x7x64 s2 p3 nobias bn relu; maxpool 3 s2 p1 >
{stages}
gap; fc 1000
"""


LENET5 = """input 32x32x1
conv 5x5x6 tanh; avgpool 2; conv 5x5x16 tanh; avgpool 2; conv 5x5x120 tanh; flatten; fc 84 tanh; fc 10"""

ALEXNET_2012 = """input 227x227x3
conv 11x11x96 s4 relu; lrn size=5 alpha=0.0001 beta=0.75 k=2; maxpool 3 s2
conv 5x5x256 p2 g2 relu; lrn size=5 alpha=0.0001 beta=0.75 k=2; maxpool 3 s2
conv 3x3x384 p1 relu; conv 3x3x384 p1 g2 relu; conv 3x3x256 p1 g2 relu; maxpool 3 s2
flatten; dropout 0.5; fc 4096 relu; dropout 0.5; fc 4096 relu; fc 1000"""


def vgg(convs: list[int], name: str) -> str:
    body = "; ".join("; ".join([f"conv 3x3x{c} same relu"] * n) + "; maxpool 2"
                     for c, n in zip((64, 128, 256, 512, 512), convs))
    return (f"network {name}\ninput 224x224x3\nfeatures: < {body} >\navgpool: adaptiveavgpool 7x7\nflatten\n"
            "classifier: < fc 4096 relu; dropout 0.5; fc 4096 relu; dropout 0.5; fc 1000 >")


def reference(name: str) -> dict:
    data = json.loads((REFERENCE / f"{name}.json").read_text())
    return data


WRITTEN = {
    "lenet5": (LENET5, lambda: reference("classics")["lenet5"]),
    "alexnet_2012": (ALEXNET_2012, lambda: reference("classics")["alexnet_2012"]),
    "resnet50": (resnet([3, 4, 6, 3], "resnet50"), lambda: reference("resnet50")),
    "resnet101": (resnet([3, 4, 23, 3], "resnet101"), lambda: reference("resnet101")),
    "resnet152": (resnet([3, 8, 36, 3], "resnet152"), lambda: reference("resnet152")),
    "vgg16": (vgg([2, 2, 3, 3, 3], "vgg16"), lambda: reference("vgg16")),
    "vgg19": (vgg([2, 2, 4, 4, 4], "vgg19"), lambda: reference("vgg19")),
}


@pytest.mark.parametrize("name", list(WRITTEN))
def test_published_figures(name):
    src, ref = WRITTEN[name]
    ref = ref()
    s = cnndsl.stats(cnndsl.parse(src))
    assert (s.input, s.output, s.params, s.macs) == (ref["input"], ref["output"], ref["params"], ref["macs"])


def _shipped_with_reference():
    out = []
    for f in sorted(ARCHITECTURES.glob("*.cnn")):
        if (REFERENCE / f"{f.stem}.json").exists():
            out.append(f.stem)
    return out


@pytest.mark.parametrize("name", _shipped_with_reference())
def test_shipped_architectures_match_references(name):
    """Every shipped architecture that has a reference file gives its params, MACs and shapes."""
    s = cnndsl.stats(cnndsl.parse_file(ARCHITECTURES / f"{name}.cnn"))
    ref = reference(name)
    if s.aux_params and (REFERENCE / f"{name}_aux.json").exists():
        ref = reference(f"{name}_aux")
    assert (s.input, s.output, s.params, s.macs) == (ref["input"], ref["output"], ref["params"], ref["macs"])


@pytest.mark.parametrize("name", ["lenet5", "alexnet_2012"])
def test_shipped_classics(name):
    path = ARCHITECTURES / f"{name}.cnn"
    if not path.exists():
        pytest.skip(f"{path.name} is not shipped")
    ref = reference("classics")[name]
    s = cnndsl.stats(cnndsl.parse_file(path))
    assert (s.input, s.output, s.params, s.macs) == (ref["input"], ref["output"], ref["params"], ref["macs"])


# ---------------------------------------------------------------- the Stats model and the JSON contract

def run_cli(*args) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_api_equals_cli_json(capsys):
    code, out, _ = cli(capsys, "stats", "tiny", "--json")
    assert code == 0
    assert json.loads(out) == json.loads(cnndsl.stats(cnndsl.parse_file("tiny")).model_dump_json())
    assert cnndsl.stats(cnndsl.parse_file("tiny")) == type(cnndsl.stats(cnndsl.parse_file("tiny"))).model_validate_json(out)


def test_json_fields(capsys):
    code, out, _ = cli(capsys, "stats", "tiny", "--json", "--set", "width=8")
    d = json.loads(out)
    for key in ("network", "input", "output", "params", "macs", "flops", "activations", "receptive_field",
                "layers", "aux_params", "param_memory_mb", "peak_activation", "convention"):
        assert key in d
    for layer in d["layers"]:
        assert {"name", "kind", "output", "params", "macs", "receptive_field"} <= set(layer)
    assert d["network"] == "tiny" and d["input"] == [32, 32, 3] and d["output"] == [10]
    # params memory: 4 / 2 / 1 bytes per parameter, in 10^6 bytes
    assert d["param_memory_mb"] == {"fp32": d["params"] * 4 / 1e6, "fp16": d["params"] * 2 / 1e6,
                                    "int8": d["params"] / 1e6}
    # tiny at width 8: aux head gap; fc 10 on 48 channels = 490
    assert d["aux_params"] == 490


def test_layer_names_are_module_names():
    s = cnndsl.stats(cnndsl.parse_file("tiny"))
    names = [layer.name for layer in s.layers]
    assert names[:3] == ["stem", "stem.0", "stem.1"]
    assert "stage1.1.0" in names and "stage2.0.2" in names and names[-1] == "8"
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", ["tiny", *(f.stem for f in sorted(ARCHITECTURES.glob("*.cnn")))])
def test_agrees_with_the_torch_backend(path):
    """Layer names are the backend's module names; params and MACs are its numel sum and
    FlopCounterMode / 2 (an eval-mode forward at batch 1)."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    net = cnndsl.parse_file(ARCHITECTURES / f"{path}.cnn")
    s = cnndsl.stats(net)
    model = cnndsl.build(net).eval().to("meta")  # shapes and FLOP counts without the arithmetic
    modules = dict(model.named_modules())
    # every row names a module, or a bare parameter of the enclosing module (`layer_scale: scale`)
    bare = {n.name for n in s.layers if n.layer.startswith("scale")}
    assert [n.name for n in s.layers if n.name not in modules and n.name not in bare] == []
    assert bare <= {n for n, _ in model.named_parameters()}
    dims = (net.input[2], net.input[0], net.input[1]) if len(net.input) == 3 else net.input
    x = torch.zeros(1, *dims, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = model(x)
    assert (fc.get_total_flops() // 2, sum(p.numel() for p in model.parameters())) == (s.macs, s.params)
    assert list(y.shape[1:]) == (s.output if len(s.output) == 1 else [s.output[2], *s.output[:2]])


def test_totals_equal_sums_of_rows():
    s = cnndsl.stats(cnndsl.parse(WRITTEN["resnet50"][0]))
    top = [layer for layer in s.layers if layer.depth == 0]
    assert sum(t.params for t in top) == s.params
    assert sum(t.macs for t in top if not t.aux) == s.macs
    assert sum(t.flops for t in top if not t.aux) == s.flops
    assert sum(t.activations for t in top if not t.aux) == s.activations


def test_stats_and_check_never_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from cnndsl.cli import main\n"
        "for argv in (['stats', 'tiny'], ['stats', 'tiny', '--json'], ['check', 'tiny'],\n"
        "             ['stats', 'tiny', '--sweep', 'width=8,16'], ['diff', 'tiny', 'tiny', '--set-b', 'width=8']):\n"
        "    assert main(argv) == 0, argv\n"
        "import cnndsl\n"
        "cnndsl.stats(cnndsl.parse_file('tiny'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('no torch')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("no torch")


# ---------------------------------------------------------------- text, markdown, csv

def test_text_table(capsys):
    code, out, _ = cli(capsys, "stats", "tiny", "--depth", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["name", "layer", "output", "params", "MACs", "RF", "stride"]
    assert any(line.split()[:2] == ["stage2.0.1", "conv"] and "9,280" in line for line in lines)
    assert "52,416 (52.4K)" in out and "5,457,504 (5.46M)" in out
    # the footer states the convention
    assert "FlopCounterMode total / 2" in out and "biases not counted" in out and "flops: 2 x macs" in out


def test_text_shows_two_levels_by_default(capsys):
    _, out, _ = cli(capsys, "stats", "tiny")
    names = [line.split()[0] for line in out.splitlines()[3:] if line and not line.startswith("-")]
    assert "stage2.0" in names and "stage2.0.1" not in names  # depth 0 and 1 only
    assert "52,416 (52.4K)" in out  # totals never fold


def test_depth_folds_blocks(capsys):
    _, full, _ = cli(capsys, "stats", "tiny", "--csv")
    _, top, _ = cli(capsys, "stats", "tiny", "--csv", "--depth", "1")
    _, two, _ = cli(capsys, "stats", "tiny", "--csv", "--depth", "2")
    names = lambda text: [r["name"] for r in csv.DictReader(io.StringIO(text))]  # noqa: E731
    assert names(top) == ["stem", "stage1", "stage2", "3", "4", "5", "6", "7", "8"]
    assert "stage1.0" in names(two) and "stage1.0.0" not in names(two)
    assert "stage1.0.0" in names(full)
    rows = list(csv.DictReader(io.StringIO(top)))
    assert sum(int(r["params"]) for r in rows) == 52_416


def test_markdown(capsys):
    code, out, _ = cli(capsys, "stats", "tiny", "--markdown", "--depth", "1")
    assert code == 0
    assert "| name | layer | output | params | MACs | RF | stride |" in out
    assert "| stage2 | group | 8x8x32 | 34,176 | 2.16M | 48 | 4 |" in out


def test_several_files_compare(capsys, tmp_path):
    (tmp_path / "vgg16.cnn").write_text(WRITTEN["vgg16"][0])
    (tmp_path / "vgg19.cnn").write_text(WRITTEN["vgg19"][0])
    code, out, _ = cli(capsys, "stats", str(tmp_path / "vgg16.cnn"), str(tmp_path / "vgg19.cnn"))
    assert code == 0
    assert out.splitlines()[0].split() == ["vgg16", "vgg19"]
    assert "138,357,544" in out and "143,667,240" in out
    code, out, _ = cli(capsys, "stats", str(tmp_path / "vgg16.cnn"), str(tmp_path / "vgg19.cnn"), "--json")
    assert [d["params"] for d in json.loads(out)] == [138_357_544, 143_667_240]


@pytest.mark.parametrize("args, words", [
    (["stats", "tiny", "--depth", "0"], "--depth must be at least 1"),
    (["stats", "tiny", "--max-macs", "1G"], "filter a --sweep"),
    (["stats", "tiny", "--set", "widht=3"], "no param 'widht'"),
])
def test_bad_arguments_exit_2(capsys, args, words):
    code, out, err = cli(capsys, *args)
    assert code == 2 and words in err and "Traceback" not in err


def test_bad_program_is_positioned(capsys, tmp_path):
    f = tmp_path / "bad.cnn"
    f.write_text("input 8x8x3\nconv 3x3x4\nfc 10\n")
    code, out, err = cli(capsys, "stats", str(f))
    assert code == 2
    assert err.startswith(f"{f}:3:1: error: 'fc 10' needs a flat input")


# ---------------------------------------------------------------- receptive field headline

@pytest.mark.parametrize("name, rf, at", [
    # the deepest spatial layer's receptive field, as Araujo et al. (Distill 2019) and the papers that
    # compare networks quote it (global pooling, flatten and fc are not kernels)
    ("resnet18", 435, "layer4"), ("resnet34", 899, "layer4"), ("resnet50", 427, "layer4"),
    ("resnet101", 971, "layer4"), ("resnet152", 1451, "layer4"),
    ("vgg16", 212, "features"), ("vgg19", 268, "features"), ("alexnet", 195, "features"),
    ("mobilenet", 315, "blocks"),
])
def test_receptive_field_of_the_classic_networks(name, rf, at):
    s = cnndsl.stats(cnndsl.parse_file(name))
    assert (s.receptive_field, s.effective_stride, s.receptive_field_at) == (rf, 32, at)
    assert s.layers[-1].receptive_field is None  # the classifier is global


def test_vgg16_receptive_field_by_hand():
    # 13 3x3 convs and 5 2x2/2 pools: a 3x3 conv adds 2 * jump, a pool 1 * jump and doubles the jump
    r, j = 1, 1
    for convs in (2, 2, 3, 3, 3):
        r += convs * 2 * j
        r += 1 * j
        j *= 2
    assert (r, j) == (212, 32)
    s = cnndsl.stats(cnndsl.parse_file("vgg16"))
    assert (s.receptive_field, s.effective_stride) == (r, j)


def test_receptive_field_text(capsys, tmp_path):
    _, out, _ = cli(capsys, "stats", "resnet50", "--depth", "1")
    assert "receptive field 427 px at layer4, effective stride 32" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    assert rows["layer4"][-2:] == ["427", "32"]
    assert rows["fc"][-2:] == ["global", "global"]
    # LeNet-5's last spatial layer is a positional one, so its statement is shown too; C1 5, S2 5 + 1 = 6
    # (jump 2), C3 6 + 4*2 = 14, S4 14 + 1*2 = 16 (jump 4), C5 16 + 4*4 = 32, the whole 32x32 input
    (tmp_path / "lenet.cnn").write_text(LENET5)
    _, out, _ = cli(capsys, "stats", str(tmp_path / "lenet.cnn"))
    assert "receptive field 32 px at 4 (conv 5x5x120 tanh), effective stride 4" in out


# ---------------------------------------------------------------- depth and the slide table

@pytest.mark.parametrize("name, depth", [
    # the depth each paper gives its network: weight layers (conv, fc) on the longest path
    ("vgg16", 16), ("vgg19", 19),  # 13 + 3, 16 + 3 (Simonyan & Zisserman, table 1)
    ("resnet18", 18), ("resnet34", 34), ("resnet50", 50), ("resnet101", 101), ("resnet152", 152),  # He et al.
    ("googlenet", 22),  # Szegedy et al.: "22 layers deep when counting only layers with parameters"
    ("alexnet", 8), ("alexnet_2012", 8),  # 5 conv + 3 fc
    ("lenet5", 5),  # C1, C3, C5, F6, output
    ("mobilenet", 28),  # Howard et al.: "counting depthwise and pointwise convolutions as separate layers, 28"
    ("densenet121", 121),
])
def test_depth_as_the_papers_count(name, depth):
    assert cnndsl.stats(cnndsl.parse_file(name)).weight_layers == depth


def test_depth_rule_by_hand():
    # a projection shortcut (1 conv) beside a 2-conv body: the longest branch, 2; the aux head's 2 fc not at all
    src = ("input 8x8x4; a: conv 3x3x4 same; residual < conv 3x3x8 same; conv 3x3x8 same | conv 1x1x8 >; "
           "aux from a < gap; fc 4; fc 2 >; gap; fc 10")
    assert cnndsl.stats(cnndsl.parse(src)).weight_layers == 1 + 2 + 1


def test_slide_table(capsys):
    args = ["stats", "resnet50", "vgg16", "--columns", "params,macs,depth,rf", "--units", "human", "--transpose"]
    _, out, _ = cli(capsys, *args)
    rows = [line.split() for line in out.splitlines()]
    # torchvision's published figures: ResNet-50 25.6M params, 4.09 GMACs; VGG-16 138.4M, 15.47 GMACs
    assert rows[0] == ["network", "params", "MACs", "depth", "RF"]
    assert rows[2:] == [["resnet50", "25.6M", "4.09G", "50", "427"], ["vgg16", "138M", "15.5G", "16", "212"]]
    _, out, _ = cli(capsys, *args, "--markdown")
    assert out.splitlines()[2] == "| resnet50 | 25.6M | 4.09G | 50 | 427 |"
    _, out, _ = cli(capsys, *args, "--csv")  # csv keeps exact numbers
    assert list(csv.reader(io.StringIO(out))) == [
        ["network", "params", "macs", "depth", "rf"],
        ["resnet50", "25557032", "4089184256", "50", "427"], ["vgg16", "138357544", "15470264320", "16", "212"]]


def test_columns_errors(capsys):
    code, _, err = cli(capsys, "stats", "tiny", "--columns", "params,bogus")
    assert code == 2 and "--columns: unknown figure 'bogus'" in err
    code, _, err = cli(capsys, "stats", "tiny", "--units", "human")
    assert code == 2 and "--units" in err
    code, _, err = cli(capsys, "stats", "tiny", "--transpose", "--depth", "1")
    assert code == 2 and "--depth does not apply to a summary table" in err
    # a bare --transpose takes params, macs, depth, rf; --json gives the table's records
    code, out, _ = cli(capsys, "stats", "lenet5", "--transpose", "--units", "human", "--json")
    # LeNet-5 as shipped (C1 156, C3 2,416, C5 48,120, F6 10,164, output 850 = 61,706 params)
    assert code == 0 and json.loads(out) == [{"network": "lenet5", "params": 61_706, "macs": 416_520, "depth": 5,
                                              "rf": 32}]
