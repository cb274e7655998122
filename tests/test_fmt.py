"""`cnndsl fmt`: one canonical layout, idempotent, comments kept, and the same IR."""

from __future__ import annotations

import re

from hypothesis import given

import cnndsl
from cnndsl.cli import main
from cnndsl.format import format_text
from tests.conftest import ARCHITECTURES, structure
from tests.strategies import programs


def ir(text):
    return structure(cnndsl.parse(text).model_dump())


def comments(text):
    return sorted(m.group() for m in re.finditer(r"#[^\n]*", text))


@given(programs())
def test_fmt_is_idempotent_and_keeps_the_ir(text):
    once = format_text(text)
    assert format_text(once) == once
    assert ir(once) == ir(text)
    assert [c.rstrip() for c in comments(once)] == [c.rstrip() for c in comments(text)]


def test_canonical_layout():
    text = ("network  x\ninput 8x8x3\n\n\n# alone\nparam a=2*(3+4)\nblock b(c,s=1){\nconv 3x3x{c}   s{s}  same # t\n"
            "residual<conv 1x1x{c};relu|conv 1x1x{c}>relu\n}\nx1: repeat 2 {\n  b(a)   # call\n}\n"
            "concat <\n conv 1x1x4\n |  conv 3x3x4 same;relu   # side\n | maxpool 3 s1 p1\n> relu\ngap;fc 10 # end\n")
    assert format_text(text) == (
        "network x\n"
        "input 8x8x3\n"
        "\n"
        "# alone\n"
        "param a = 2 * (3 + 4)\n"
        "block b(c, s=1) {\n"
        "  conv 3x3x{c} s{s} same  # t\n"
        "  residual < conv 1x1x{c}; relu | conv 1x1x{c} > relu\n"
        "}\n"
        "x1: repeat 2 {\n"
        "  b(a)  # call\n"
        "}\n"
        "concat <\n"
        "  conv 1x1x4\n"
        "| conv 3x3x4 same; relu  # side\n"
        "| maxpool 3 s1 p1\n"
        "> relu\n"
        "gap; fc 10  # end\n"
    )


def test_expressions_keep_needed_parentheses():
    out = format_text("param a = (1 - (2 - 3)) * -(4 + 5) // (6 % 7)\ninput 8x8x3\nb(x=(1+2)*3)\n")
    assert out.splitlines()[0] == "param a = (1 - (2 - 3)) * -(4 + 5) // (6 % 7)"
    assert out.splitlines()[2] == "b(x=(1 + 2) * 3)"


def test_trailing_comments_align():
    out = format_text("input 8x8x3 # a\nconv 3x3x8 # b\nrelu\n")
    assert out.splitlines()[:2] == ["input 8x8x3  # a", "conv 3x3x8   # b"]


def test_fmt_cli_check_and_write(tmp_path, capsys):
    path = tmp_path / "x.cnn"
    path.write_text("input 8x8x3\nconv 3x3x8   relu\n")
    assert main(["fmt", "--check", str(path)]) == 1
    assert "would reformat" in capsys.readouterr().err
    assert main(["fmt", str(path)]) == 0
    assert capsys.readouterr().out == "input 8x8x3\nconv 3x3x8 relu\n"
    assert main(["fmt", "--write", str(path)]) == 0
    assert path.read_text() == "input 8x8x3\nconv 3x3x8 relu\n"
    assert main(["fmt", "--check", str(path)]) == 0


def test_fmt_syntax_error_is_positioned(tmp_path, capsys):
    path = tmp_path / "x.cnn"
    path.write_text("input 8x8x3\nconv 3x3x8 >\n")
    assert main(["fmt", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"{path}:2:12: error:")


def test_shipped_architectures_are_formatted():
    for path in sorted(ARCHITECTURES.rglob("*.cnn")):
        text = path.read_text(encoding="utf-8")
        assert format_text(text, str(path)) == text, f"{path.name} is not fmt-clean"
