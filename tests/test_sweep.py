"""`--sweep`: grids of overrides under a budget, against the MobileNet paper's Tables 6 and 7
(`tests/data/reference/mobilenet_v1_multipliers.json`)."""

import json

import pytest
from conftest import ARCHITECTURES, REFERENCE

import cnndsl
from cnndsl.cli import main
from cnndsl.errors import CnnError
from cnndsl.sweep import grid, parse_axes, parse_budget, sweep

# MobileNet v1 (Howard et al. 2017, Table 1), written here from the paper, independently of the
# shipped architectures/mobilenet.cnn: channels int(c * alpha), BN + ReLU after every convolution.
MOBILENET_V1 = """network mobilenet_v1
param alpha = 1.0
param res = 224
input {res}x{res}x3
block dws(c, s=1) { dwconv 3x3 s{s} same nobias bn relu; conv 1x1x{int(c * alpha)} nobias bn relu }
conv 3x3x{int(32 * alpha)} s2 same nobias bn relu
dws(64); dws(128, s=2); dws(128); dws(256, s=2); dws(256); dws(512, s=2)
repeat 5 { dws(512) }
dws(1024, s=2); dws(1024)
gap; fc 1000
"""

GRID = ["--sweep", "alpha=1.0,0.75,0.5,0.25", "--sweep", "res=224,192,160,128", "--json"]


def expected_grid():
    ref = json.loads((REFERENCE / "mobilenet_v1_multipliers.json").read_text())
    return sorted((r["alpha"], r["res"], r["params"], r["macs"]) for r in ref)


def run_grid(capsys, path, *extra):
    assert main(["stats", str(path), *GRID, *extra]) == 0
    out = json.loads(capsys.readouterr().out)
    return out


def test_mobilenet_grid_from_one_sweep(capsys, tmp_path):
    f = tmp_path / "mobilenet_v1.cnn"
    f.write_text(MOBILENET_V1)
    out = run_grid(capsys, f)
    assert sorted((o["set"]["alpha"], o["set"]["res"], o["params"], o["macs"]) for o in out) == expected_grid()
    assert [o["macs"] for o in out] == sorted(o["macs"] for o in out)  # sorted by MACs
    assert out[0]["set"] == {"alpha": 0.25, "res": 128} and out[-1]["set"] == {"alpha": 1.0, "res": 224}
    assert {"network", "input", "output", "flops", "activations", "receptive_field", "layers"} <= set(out[0])
    assert out[-1]["input"] == [224, 224, 3] and out[0]["input"] == [128, 128, 3]


def test_budget_filters(capsys, tmp_path):
    f = tmp_path / "mobilenet_v1.cnn"
    f.write_text(MOBILENET_V1)
    # Table 6/7 figures: within 2M params only alpha 0.5 and 0.25 (1,331,592 and 470,072) remain;
    # within 50M MACs of those: 0.25 at 224/192/160/128 (41.0M, 30.2M, 21.1M, 13.6M) and 0.5 at 128 (49.2M)
    out = run_grid(capsys, f, "--max-params", "2M", "--max-macs", "50M")
    assert [(o["set"]["alpha"], o["set"]["res"]) for o in out] == [
        (0.25, 128), (0.25, 160), (0.25, 192), (0.25, 224), (0.5, 128)]


def test_sweep_text_table(capsys, tmp_path):
    f = tmp_path / "mobilenet_v1.cnn"
    f.write_text(MOBILENET_V1)
    assert main(["stats", str(f), "--sweep", "alpha=1.0,0.25", "--sweep", "res=224", "--max-macs", "1G"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["alpha", "res"]
    assert lines[2].split()[:2] == ["0.25", "224"] and "41,030,272" in lines[2]
    assert lines[3].split()[:2] == ["1.0", "224"] and "568,740,352" in lines[3] and "4,231,976" in lines[3]
    assert "FlopCounterMode" in out


def test_nothing_within_budget(capsys):
    assert main(["stats", "tiny", "--sweep", "width=16,32", "--max-params", "1K"]) == 0
    assert "no combination is within the budget" in capsys.readouterr().out


@pytest.mark.parametrize("text, value", [("25M", 25_000_000), ("4.1G", 4_100_000_000), ("1,000", 1000),
                                         ("300k", 300_000), ("7", 7), ("0.5K", 500)])
def test_parse_budget(text, value):
    assert parse_budget(text) == value


@pytest.mark.parametrize("text", ["", "M", "12Q", "-3M", "lots"])
def test_bad_budget(text):
    with pytest.raises(CnnError, match="K/M/G"):
        parse_budget(text)


def test_grid_order():
    assert grid(parse_axes(["a=1,2", "b=x,y"])) == [{"a": "1", "b": "x"}, {"a": "1", "b": "y"},
                                                    {"a": "2", "b": "x"}, {"a": "2", "b": "y"}]


@pytest.mark.parametrize("args, words", [
    (["--sweep", "width"], "--sweep takes NAME=V1,V2"),
    (["--sweep", "width=8,,16"], "--sweep takes NAME=V1,V2"),
    (["--sweep", "width=8", "--sweep", "width=16"], "twice"),
    (["--sweep", "width=8", "--set", "width=16"], "both --set and --sweep"),
    (["--sweep", "width=8", "--max-macs", "a lot"], "K/M/G"),
    (["--sweep", "nope=8"], "no param 'nope'"),
])
def test_bad_sweeps_exit_2(capsys, args, words):
    assert main(["stats", "tiny", *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_invalid_combination_names_it():
    src = "param w = 8; input 4x4x3; conv {w}x{w}x4"
    with pytest.raises(CnnError, match="with w=5: input 4x4x3 is too small"):
        sweep(lambda **kw: cnndsl.parse(src, **kw), {"w": ["3", "5"]})


def test_shipped_mobilenet_grid_from_one_sweep(capsys):
    """Issue 4, done when: the MobileNet v1 width/resolution grid (Tables 6 and 7) comes out exactly
    from one `--sweep` call on the shipped architecture."""
    path = ARCHITECTURES / "mobilenet.cnn"
    assert path.exists(), "architectures/mobilenet.cnn is missing: the MobileNet v1 grid cannot be checked"
    out = run_grid(capsys, "mobilenet")  # by name, as a user would
    assert sorted((o["set"]["alpha"], o["set"]["res"], o["params"], o["macs"]) for o in out) == expected_grid()
    assert [o["macs"] for o in out] == sorted(o["macs"] for o in out)
