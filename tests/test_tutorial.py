"""The tutorials (docs/tutorial.ko.md, docs/tutorial.md) say what the tool does.

Every program in them is written out and every command run, and what it prints must equal the output written
under it; every figure must be the one its `cnndsl render` command draws now; the hand arithmetic in the prose
must be right, and the tool's figures quoted in the prose must be printed in that chapter. The convention is in
docs/tutorial_figures.py, which is also the one command that rewrites the outputs and figures
(`python docs/tutorial_figures.py --update`); this test only compares.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import operator
import re
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import cnndsl

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("tutorial_figures", ROOT / "docs" / "tutorial_figures.py")
tf = sys.modules["tutorial_figures"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tf)

LANGS = ("ko", "en")
HAS_TORCH = importlib.util.find_spec("torch") is not None


class Tutorial:
    def __init__(self, lang: str, folder: Path):
        self.lang = lang
        self.text = tf.TUTORIALS[lang].read_text(encoding="utf-8")
        self.blocks, self.prose = tf.parse(self.text)
        self.commands = tf.commands(self.blocks)
        self.folder = folder
        tf.write_files(self.blocks, folder)
        self.results = []  # (command, printed, dot or None); python commands only where torch is installed
        for c in self.commands:
            if c.line.startswith("python ") and not HAS_TORCH:
                continue
            self.results.append((c, *tf.run(c.line, folder)))

    def network(self, name: str):
        return cnndsl.parse_file(str(self.folder / name))

    def chapters(self) -> list[str]:
        return [line[3:].strip() for line in self.text.split("\n") if line.startswith("## ")]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Both tutorials, every command run once."""
    return {lang: Tutorial(lang, tmp_path_factory.mktemp(lang)) for lang in LANGS}


@pytest.fixture(params=LANGS)
def tutorial(request, both):
    return both[request.param]


def test_every_command_prints_what_the_tutorial_shows(tutorial):
    wrong = []
    for c, printed, _ in tutorial.results:
        if printed != c.expected:
            diff = "\n".join(difflib.unified_diff(c.expected.split("\n"), printed.split("\n"), "tutorial", "tool",
                                                  lineterm=""))
            wrong.append(f"$ {c.line}\n{diff}")
    assert not wrong, ("the tutorial and the tool disagree (rerun `python docs/tutorial_figures.py --update` "
                       "if the tool changed on purpose):\n\n" + "\n\n".join(wrong))


def test_the_python_snippets_ran(tutorial):
    if not HAS_TORCH:
        pytest.skip("torch is not installed: the transfer-learning snippets need it")
    ran = [c.line for c, _, _ in tutorial.results if c.line.startswith("python ")]
    assert ran == ["python transfer.py", "python answer11.py"]


def test_every_figure_is_the_one_its_command_draws(tutorial):
    drawn = set()
    for c, _, dot in tutorial.results:
        if dot is None:
            continue
        name = tf.figure_name(shlex.split(c.line))
        drawn.add(name)
        stored = tf.FIGURES / tutorial.lang / f"{name}.dot"
        assert stored.read_text(encoding="utf-8") == dot, f"{stored} is stale: rerun docs/tutorial_figures.py"
        assert (tf.FIGURES / tutorial.lang / f"{name}.png").stat().st_size > 1000
    shown = re.findall(rf"\]\(img/tutorial/{tutorial.lang}/(\w+)\.png\)", tutorial.text)
    assert sorted(shown) == sorted(drawn), "every figure shown is drawn by a command, and every one drawn is shown"
    assert not re.search(rf"img/tutorial/(?!{tutorial.lang}/)", tutorial.text), "a figure of the other language"


def test_every_chapter_has_a_program_a_table_a_figure_and_an_exercise(tutorial):
    chapters = tutorial.chapters()
    numbered = [c for c in chapters if re.match(r"\d+\. ", c) and not c.startswith("0.")]
    assert len(numbered) == 11
    for chapter in numbered:
        blocks = [b for b in tutorial.blocks if b.chapter == chapter]
        lines = [c.line for c in tutorial.commands if c.chapter == chapter]
        assert any(b.lang == "cnn" for b in blocks), chapter
        assert any(line.startswith("cnndsl stats ") for line in lines), chapter
        assert any(line.startswith("cnndsl render ") for line in lines), chapter
        prose = "\n".join(t for ch, t in tutorial.prose if ch == chapter)
        assert re.search(r"\*\*(Exercise|연습) \d+\.\d+\.\*\*", prose), chapter
        assert "<details>" in prose, chapter


# --- the numbers in the prose -------------------------------------------------------------------------------

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv}


def arithmetic(node):
    """+ - * / // and parentheses over number literals; nothing else is evaluated."""
    if isinstance(node, ast.Expression):
        return arithmetic(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](arithmetic(node.left), arithmetic(node.right))
    raise ValueError(f"not plain arithmetic: {ast.dump(node)}")


def spans(tutorial):
    """(chapter, inline code span) of the prose, in order."""
    return [(ch, s) for ch, line in tutorial.prose for s in tf.SPAN.findall(line)]


def test_the_hand_arithmetic_in_the_prose_is_right(tutorial):
    claims = [(ch, tf.CLAIM.match(s)) for ch, s in spans(tutorial) if tf.CLAIM.match(s)]
    assert len(claims) >= 40
    for chapter, m in claims:
        got = arithmetic(ast.parse(m["expr"], mode="eval"))
        value = float(m["value"].replace(",", ""))
        if m["rel"] == "=":
            assert got == value, f"{chapter}: `{m.group(0)}` is {got}"
        else:
            places = len(m["value"].partition(".")[2])
            assert round(got, places) == value, f"{chapter}: `{m.group(0)}` is {got}"


def printed_tokens(text: str) -> set[str]:
    return {t.rstrip(".,") for t in tf.TOKEN.findall(text)}


def test_the_tools_figures_quoted_in_the_prose_are_printed_in_that_chapter(tutorial):
    printed: dict[str, set[str]] = {}
    for c, out, _ in tutorial.results:
        printed.setdefault(c.chapter, set()).update(printed_tokens(out))
    quoted = [(ch, s) for ch, s in spans(tutorial) if tf.FIGURE.match(s)]
    assert len(quoted) >= 30
    for chapter, s in quoted:
        assert s in printed.get(chapter, set()), f"{chapter}: `{s}` is quoted but no command of the chapter prints it"


# --- the hand derivations of the notes, against the tool ----------------------------------------------------
# (the English programs; the Korean ones are the same, which the last tests check)

def rows(net):
    """name -> the stats row, its output shape as a tuple."""
    return {r.name: SimpleNamespace(**{**r.model_dump(), "output": tuple(r.output)}) for r in cnndsl.stats(net).layers}


def test_output_size_and_filter_bank_by_hand(both):
    t = both["en"]
    conv = rows(t.network("conv.cnn"))["0"]
    assert conv.output[:2] == ((100 - 5 + 2 * 0) // 1 + 1,) * 2 and conv.output[2] == 64
    assert conv.params == 5 * 5 * 3 * 64 + 64
    assert conv.macs == 96 * 96 * 64 * (5 * 5 * 3)
    assert rows(t.network("same.cnn"))["0"].output == (100, 100, 64)  # P = (5 - 1) / 2 = 2 keeps 100
    assert rows(t.network("conv_s2.cnn"))["0"].output == ((100 - 5) // 2 + 1,) * 2 + (64,)
    assert rows(t.network("same_s2.cnn"))["0"].output == ((100 - 5 + 2 * 2) // 2 + 1,) * 2 + (64,)
    assert rows(t.network("conv3.cnn"))["0"].params == 3 * 3 * 3 * 64 + 64
    pool = rows(t.network("pool.cnn"))["1"]
    assert pool.output == ((100 - 2) // 2 + 1, (100 - 2) // 2 + 1, 64) and pool.params == 0
    assert rows(t.network("pool3.cnn"))["1"].output == ((100 - 3) // 2 + 1,) * 2 + (64,)


def test_classic_networks_by_hand(both):
    t = both["en"]
    assert rows(t.network("typical.cnn"))["5"].params == 8 * 8 * 64 * 128 + 128
    assert rows(t.network("typical_nopool.cnn"))["4"].params == 16 * 16 * 64 * 128 + 128
    lenet = rows(t.network("lenet5.cnn"))
    assert lenet["0"].output == (28, 28, 6) and lenet["0"].params == 5 * 5 * 1 * 6 + 6
    assert lenet["3"].params == 5 * 5 * 6 * 16 + 16 and lenet["6"].params == 5 * 5 * 16 * 120 + 120
    assert cnndsl.stats(t.network("lenet5.cnn")).params == 61_706  # LeCun et al. 1998's LeNet-5 as taught
    alex = rows(t.network("alexnet.cnn"))
    assert alex["0"].output == ((227 - 11) // 4 + 1, (227 - 11) // 4 + 1, 96)
    assert alex["3"].params == 5 * 5 * (96 // 2) * 256 + 256
    assert rows(t.network("alexnet_conv2.cnn"))["0"].params == 5 * 5 * 96 * 256 + 256
    assert alex["12"].params == 6 * 6 * 256 * 4096 + 4096


def test_3x3_stacks_by_hand(both):
    t = both["en"]
    two, one = cnndsl.stats(t.network("two3x3.cnn")), cnndsl.stats(t.network("one5x5.cnn"))
    assert two.receptive_field == one.receptive_field == 5
    assert two.params == 2 * (3 * 3 * 64 * 64 + 64) < one.params == 5 * 5 * 64 * 64 + 64
    three = cnndsl.stats(t.network("three3x3.cnn"))
    assert three.receptive_field == 7 and three.params == 3 * (3 * 3 * 64 * 64 + 64)
    seven = cnndsl.stats(t.network("seven.cnn"))
    assert seven.receptive_field == 7 and seven.params == 7 * 7 * 64 * 64 + 64


def test_inception_resnet_separable_se_by_hand(both):
    t = both["en"]
    inc = rows(t.network("inception.cnn"))
    assert inc["inception_3a"].output == (28, 28, 64 + 128 + 32 + 32)
    assert inc["inception_3a.3"].params + inc["inception_3a.4"].params == 192 * 16 + 16 + 5 * 5 * 16 * 32 + 32
    assert inc["inception_3a"].params == (192 * 64 + 64 + 192 * 96 + 96 + 3 * 3 * 96 * 128 + 128
                                          + 192 * 16 + 16 + 5 * 5 * 16 * 32 + 32 + 192 * 32 + 32)
    assert inc["4"].params == 256 * 10 + 10  # after gap
    assert rows(t.network("inception_nobottleneck.cnn"))["0.1"].params == 3 * 3 * 192 * 128 + 128
    assert rows(t.network("bottleneck.cnn"))["0"].params == 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (64 + 64 + 256)
    assert rows(t.network("basic.cnn"))["0"].params == 2 * (3 * 3 * 256 * 256 + 2 * 256)
    sep, full = cnndsl.stats(t.network("separable.cnn")), cnndsl.stats(t.network("full.cnn"))
    assert sep.params == 3 * 3 * 128 + 128 * 128 and full.params == 3 * 3 * 128 * 128
    assert sep.macs == 56 * 56 * (3 * 3 * 128 + 128 * 128)
    assert rows(t.network("separable_s2.cnn"))["0"].output == ((56 - 3 + 2 * 1) // 2 + 1,) * 2 + (128,)
    assert rows(t.network("se.cnn"))["0.3"].params == 256 * 16 + 16 + 16 * 256 + 256
    assert cnndsl.stats(t.network("se4.cnn")).params == 256 * 64 + 64 + 64 * 256 + 256


def test_resnet_depths_and_mobilenet_multipliers_against_the_papers():
    for name, blocks in (("resnet50", (3, 4, 6, 3)), ("resnet101", (3, 4, 23, 3)), ("resnet152", (3, 8, 36, 3))):
        net = cnndsl.parse_file(name)
        weighted = [r for r in cnndsl.stats(net).layers if r.kind in ("conv", "fc") and "downsample" not in r.name]
        assert len(weighted) == 3 * sum(blocks) + 2 == int(name[6:])
    # Howard et al. 2017, Tables 6 and 7: 1.0 MobileNet-224 4.2M params, 569M MACs; 0.5 MobileNet-160 1.3M, 76M
    full = cnndsl.stats(cnndsl.parse_file("mobilenet"))
    small = cnndsl.stats(cnndsl.parse_file("mobilenet", alpha=0.5, res=160))
    assert round(full.params / 1e6, 1) == 4.2 and round(full.macs / 1e6) == 569
    assert round(small.params / 1e6, 1) == 1.3 and abs(small.macs / 1e6 - 76) < 1  # 76,524,800


# --- the two languages ----------------------------------------------------------------------------------------

def meaning(t: Tutorial):
    """What both tutorials must share: the programs without their comments and titles, the commands and their
    outputs, the figures, and the numbers of the prose."""
    def code(b):
        lines = [b.lines[0]] + [re.sub(r"\s*#.*$", "", line) for line in b.lines[1:]]
        lines = [re.sub(r'^(network \w+) ".*"$', r"\1", line) for line in lines]
        return b.lang, "\n".join(line for line in lines if line.strip())

    return {
        "files": [code(b) for b in t.blocks if b.lang in ("cnn", "python")],
        # a figure's size is the language's own (its titles are in it)
        "commands": [(c.line, re.sub(r"\(\d+x\d+ px\)$", "(size)", c.expected)) for c in t.commands],
        "figures": re.findall(r"\]\(img/tutorial/\w+/(\w+)\.png\)", t.text),
        "spans": [s for _, s in spans(t) if tf.CLAIM.match(s) or tf.FIGURE.match(s)],
        "chapters": [c.split(" ")[0] for c in t.chapters()],
    }


def test_the_korean_and_the_english_tutorial_say_the_same(both):
    ko, en = meaning(both["ko"]), meaning(both["en"])
    for key in ko:
        pairs = list(zip(ko[key], en[key]))
        first = next((f"Korean: {k!r}\nEnglish: {e!r}" for k, e in pairs if k != e), "")
        assert ko[key] == en[key], f"the {key} differ ({len(ko[key])} and {len(en[key])}). {first}"


def test_the_readme_and_the_help_point_to_both():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    top = "\n".join(readme.split("\n")[:6])
    assert "docs/tutorial.ko.md" in top and "docs/tutorial.md" in top
    from cnndsl.cli import make_parser

    assert "docs/tutorial.ko.md" in make_parser().format_help()
