"""Messages for the mistakes a new user makes, each read as the user sees it; and `cnndsl list`."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.format import format_text
from tests.conftest import ARCHITECTURES

SHIPPED = len(list(ARCHITECTURES.glob("*.cnn")))  # the files `cnndsl list` must show, counted here


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ---- overrides are errors about the option, not about line 1 of the file

def test_set_unknown_param_names_the_option(capsys):
    status, _, err = cli(capsys, "stats", "mobilenet", "--set", "alhpa=0.5")
    assert status == 2
    assert err.splitlines() == ["cnndsl: error: --set alhpa=0.5: no param 'alhpa'; the params are alpha, res, classes",
                                "hint: did you mean 'alpha'?"]


def test_set_value_not_a_number_names_the_option(capsys):
    status, _, err = cli(capsys, "check", "mobilenet", "--set", "alpha=half")
    assert status == 2
    assert err.splitlines()[0] == "cnndsl: error: --set alpha=half: param 'alpha' must be a number"
    assert "|" not in err  # no source line: the mistake is on the command line


def test_diff_names_its_own_option(capsys):
    status, _, err = cli(capsys, "diff", "mobilenet", "mobilenet", "--set-b", "alpah=0.5")
    assert status == 2
    assert err.startswith("cnndsl: error: --set-b alpah=0.5: no param 'alpah'")


def test_python_keyword_override_names_the_keyword():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse_file("mobilenet", alhpa=0.5)
    assert e.value.span is None and e.value.param == "alhpa"
    assert e.value.message == "alhpa=0.5: no param 'alhpa'; the params are alpha, res, classes"
    assert e.value.hint == "did you mean 'alpha'?"
    with pytest.raises(cnndsl.CnnError, match="^cnndsl: error: w=wide: param 'w' must be a number"):
        cnndsl.parse("param w = 8\ninput 8x8x3\nconv 3x3x{w}", w="wide")
    with pytest.raises(cnndsl.CnnError, match="the program declares no params"):
        cnndsl.parse("input 8x8x3", w=1)


@pytest.mark.parametrize("name", ["filename", "allow_outside", "max_params"])
def test_set_of_an_api_keyword_is_an_unknown_param(capsys, name):
    # these collided with parse/load's own keyword arguments: an internal TypeError
    status, _, err = cli(capsys, "check", "mobilenet", "--set", f"{name}=1")
    assert status == 2
    assert err.splitlines()[0] == f"cnndsl: error: --set {name}=1: no param '{name}'; the params are alpha, res, classes"


@pytest.mark.parametrize("name", ["filename", "allow_outside", "outputs", "weights", "max_params", "max_activations"])
def test_api_keywords_are_reserved_param_names(name):
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse(f"input 8x8x3\nparam {name} = 3\nconv 3x3x4")
    assert (e.value.span.line, e.value.span.col) == (2, 1)
    assert e.value.message == f"'{name}' is reserved and cannot be a param"


def test_text_and_path_are_free_param_names():
    # parse's text and parse_file's path are positional-only: a program may call its params so
    net = cnndsl.parse("input 8x8x3\nparam text = 2\nconv 3x3x{text}", text=5)
    assert net.body[0].out == 5


# ---- a misspelt shipped name

def test_missing_name_suggests_a_shipped_one(capsys):
    status, _, err = cli(capsys, "stats", "resnet51")
    assert status == 2
    assert err.splitlines() == ["cnndsl: error: no such file: resnet51",
                                "hint: did you mean 'resnet50'? (`cnndsl list` shows the "
                                f"{SHIPPED} shipped architectures)"]
    _, _, err = cli(capsys, "check", "mobilenet_v3.cnn")
    assert "did you mean 'mobilenet_v2'?" in err


# ---- errors inside a block body name the calls that led there

def test_error_in_a_block_body_notes_every_call(tmp_path, capsys):
    path = tmp_path / "b.cnn"
    path.write_text("input 8x8x3\nblock b(c) {\n  conv 3x3x{c}\n}\nblock a(c) {\n  relu\n  b(c / 2)\n}\na(33)\n")
    status, _, err = cli(capsys, "check", str(path))
    assert status == 2
    assert err.splitlines() == [
        f"{path}:3:8: error: channels must be a whole number, got 16.5",
        " 3 |   conv 3x3x{c}",
        "   |        ^^^^^^^",
        "hint: use int(...) or round(...) in the expression",
        f"{path}:7:3: note: in the call 'b(16.5)'",
        " 7 |   b(c / 2)",
        "   |   ^^^^^^^^",
        f"{path}:9:1: note: in the call 'a(33)'",
        " 9 | a(33)",
        "   | ^^^^^",
    ]


def test_an_error_at_the_call_itself_has_no_note():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse("block b(c) { relu }\ninput 8x8x3\nb(1, 2)")
    assert e.value.span[1:3] == (3, 1) and e.value.notes == []


def test_deep_recursion_shows_a_few_notes():
    text = "input 8x8x3\n" + "".join(f"block b{i}() {{ b{i + 1}() }}\n" for i in range(70)) + "block b70() { relu }\nb0()\n"
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse(text)
    assert len(e.value.notes) == 64  # one per call on the way: b0() .. b63(), the innermost first
    shown = e.value.render().splitlines()
    notes = [line for line in shown if "note:" in line]
    assert len(notes) == 9 and notes[7] == "note: ... 56 more calls ..."
    assert notes[-1].endswith(":73:1: note: in the call 'b0()'")


# ---- unknown names

def test_unknown_name_says_how_to_declare_it():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse("input 8x8x3\nconv 3x3x{width}")
    assert e.value.hint == "declare it with 'param width = ...'"
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse("param classes = 10\ninput 8x8x3\nconv 3x3x{width}")
    assert e.value.hint == "declare it with 'param width = ...'; the names here are classes"


# ---- repeat counts are expressions, like block arguments

@pytest.mark.parametrize("count,n", [("n", 3), ("n * 2", 6), ("{n}", 3), ("{n - 1}", 2), ("n // 2 + 1", 2), ("2", 2)])
def test_repeat_count_expression(count, n):
    net = cnndsl.parse(f"block b(n) {{ repeat {count} {{ relu }} }}\ninput 8x8x3\nb(3)")
    (rep,) = net.body[0].children
    assert rep.count == n and len(rep.copies) == n


def test_repeat_count_keeps_its_form_in_fmt():
    text = "input 8x8x3\nparam n = 2\nrepeat n*2 as i { relu }\nrepeat {n} { relu }\nrepeat 3 { relu }\n"
    pretty = format_text(text)
    assert "repeat n * 2 as i {" in pretty and "repeat {n} {" in pretty and "repeat 3 {" in pretty
    assert format_text(pretty) == pretty


def test_repeat_count_unknown_name():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse("input 8x8x3\nrepeat n { relu }")
    assert e.value.span[1:3] == (2, 8) and e.value.message == "unknown name 'n'"


# ---- cnndsl list

def test_list_shows_every_shipped_architecture_with_its_figures(capsys):
    status, out, _ = cli(capsys, "list")
    assert status == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert len(rows) == SHIPPED and {"lenet5", "resnet50", "vgg16", "mobilenet", "tiny"} <= set(rows)
    # LeNet-5 by hand: C1 6 x (5*5 + 1), C3 16 x (6*25 + 1), C5 120 x (16*25 + 1), F6 84 x 121, out 10 x 85;
    # MACs: 28*28*6*25 + 10*10*16*150 + 120*400 + 84*120 + 10*84
    assert rows["lenet5"][1:3] == [f"{156 + 2416 + 48120 + 10164 + 850:,}",
                                   f"{117600 + 240000 + 48000 + 10080 + 840:,}"]
    # torchvision's published parameter counts (its model docs) and ResNet-50's 4.09 G multiply-adds
    assert rows["resnet50"][1] == "25,557,032" and rows["resnet50"][2].startswith("4,089,")
    assert rows["vgg16"][1] == "138,357,544"
    assert rows["mobilenet_v2"][1] == "3,504,872"
    # the params a user can --set, and a description from the header comment
    assert "alpha=1.0 res=224 classes=1000" in " ".join(rows["mobilenet"])
    assert " ".join(rows["alexnet_2012"]).endswith("Krizhevsky, Sutskever & Hinton 2012; equals the 2012 paper's network")


def test_list_does_not_import_torch():
    code = ("import sys\nfrom cnndsl.cli import main\nmain(['list'])\n"
            "assert 'torch' not in sys.modules, 'imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
