"""`repeat N as i { ... }` and labels with `{expr}` holes: the index counts 0 .. N - 1, is seen by
the body's expressions (block-call arguments included), and fills label holes such as
`block{i + 4}`. Every expected name and value below is worked out by hand from the rules in
cnndsl/elaborate.py's docstring."""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl.format import format_text
from cnndsl.layers.blocks import Group, Repeat
from cnndsl.syntax import parse_program
from tests.test_fmt import ir


def names(nodes):
    return [n.name for n in nodes]


def error(text: str) -> str:
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.parse(text)
    return str(e.value)


def test_index_counts_from_zero_in_expressions_and_labels():
    net = cnndsl.parse("input 8x8x3\nstem: relu\nrepeat 3 as i { block{i + 4}: conv 1x1x{8 * (i + 1)} }\nrelu")
    rep = net.body[1]
    assert isinstance(rep, Repeat) and rep.count == 3 and rep.name == ""
    # an unlabeled repeat splices into the enclosing numbering: stem, block4..6, then position 4
    assert [names(c) for c in rep.copies] == [["block4"], ["block5"], ["block6"]]
    assert [c[0].out for c in rep.copies] == [8, 16, 24]
    assert names(net.body) == ["stem", "", "4"]
    keys = [r.path for r in cnndsl.analyze(net).rows]
    assert keys == ["stem", "", "block4", "block5", "block6", "4"]


def test_index_reaches_block_call_arguments_and_count_expressions():
    net = cnndsl.parse("param n = 2\nblock unit(c, s=1) { conv 1x1x{c} s{s}; relu }\ninput 8x8x3\n"
                       "layer1: repeat {n + 1} as k { unit(4 + k, s=k + 1) }")
    layer1 = net.body[0]
    assert isinstance(layer1, Group) and layer1.name == "layer1"
    copies = layer1.children[0].copies
    # a labeled repeat is a sequence of its own: layer1.0, layer1.1, layer1.2
    assert [(c[0].name, c[0].call.text()) for c in copies] == [("0", "unit(4, s=1)"), ("1", "unit(5, s=2)"),
                                                         ("2", "unit(6, s=3)")]
    assert [c[0].children[0].stride for c in copies] == [(1, 1), (2, 2), (3, 3)]


def test_nested_indices_and_two_holes_in_one_label():
    net = cnndsl.parse("input 8x8x3\nrepeat 2 as i { repeat 3 as j { c{i}_{j}: conv 1x1x{3 * i + j + 1} } }")
    outer = net.body[0]
    got = [(n.name, n.out) for copy in outer.copies for inner in copy for c in inner.copies for n in c]
    assert got == [("c0_0", 1), ("c0_1", 2), ("c0_2", 3), ("c1_0", 4), ("c1_1", 5), ("c1_2", 6)]


def test_zero_copies_and_holes_outside_a_repeat():
    net = cnndsl.parse("param stage = 3\ninput 8x8x3\nrepeat 0 as i { x{i}: relu }\nlayer{stage + 1}: relu")
    assert net.body[0].copies == () and net.body[1].name == "layer4"


def test_the_index_is_seen_by_a_called_block_but_does_not_clash_with_its_own_index():
    # lexical check: the block's `i` hides nothing visible where the block is written
    net = cnndsl.parse("block b() { repeat 2 as i { conv 1x1x{i + 1} } }\ninput 8x8x3\nrepeat 2 as i { b() }")
    outs = [n.out for copy in net.body[0].copies for g in copy for c in g.children[0].copies for n in c]
    assert outs == [1, 2, 1, 2]
    # sibling repeats may reuse a name
    cnndsl.parse("input 8x8x3\nrepeat 2 as i { relu }\nrepeat 2 as i { relu }")


def test_as_is_a_keyword_only_after_repeat_n():
    net = cnndsl.parse("param as = 3\nblock as(c) { conv 1x1x{c} }\ninput 8x8x3\nas(as)\nrepeat 1 as j { as(j + 1) }")
    assert net.body[0].out == 3 and net.body[1].copies[0][0].out == 1
    (layer,) = parse_program("conv as").items
    assert layer.args[0].value.text == "as"


@pytest.mark.parametrize("text,where,message", [
    ("input 8x8x3\nparam w = 2\nrepeat 2 as w { relu }", "3:13", "the repeat index 'w' would hide the param 'w'"),
    ("input 8x8x3\nblock b(c) {\n  repeat 2 as c { relu }\n}\nb(1)", "3:15",
     "the repeat index 'c' would hide the argument 'c' of block 'b'"),
    ("input 8x8x3\nrepeat 2 as i { repeat 2 as i { relu } }", "2:29",
     "the repeat index 'i' would hide the index 'i' of an enclosing repeat"),
    # a hole that makes no identifier: the label's whole word is underlined
    ("input 8x8x3\nrepeat 2 as i { x{i - 1}: relu }", "2:17", "'x-1' is not a valid label (the label x{i - 1})"),
    ("input 8x8x3\nrepeat 2 as i {\n  {i}: relu\n}", "3:3", "'0' is not a valid label (the label {i})"),
    ("input 8x8x3\nrepeat 2 as i { x{i / 2}: relu }", "2:17", "'x0.0' is not a valid label"),
    ("input 8x8x3\nrepeat 2 as i { a{i * 0}: relu }", "2:17", "the name 'a0' is used twice in one sequence"),
    ("input 8x8x3\nx{k}: relu", "2:3", "unknown name 'k'"),
    ("input 8x8x3\nrepeat 2 as i { relu }\nconv 1x1x{i}", "3:11", "unknown name 'i'"),  # not seen after the repeat
    ("input 8x8x3\nrepeat 2 as { relu }", "2:13", "unexpected"),
    ("input 8x8x3\nrepeat 2 as i j { relu }", "2:15", "unexpected 'j'"),
    ("input 8x8x3\nrepeat 2 as i {\n  relu\n", "2:15", "'{' is never closed"),
])
def test_errors_are_positioned(text, where, message):
    err = error(text)
    assert err.startswith(f"<string>:{where}: error: {message}"), err


def test_fmt_prints_the_index_and_keeps_the_ir():
    text = "input 8x8x3\nrepeat   3  as  i{b{i+4}:conv 1x1x{i+1}}\nrepeat 2 as j {\n conv 1x1x{j + 2}   # c\n}\n"
    out = format_text(text)
    assert out == ("input 8x8x3\n"
                   "repeat 3 as i { b{i+4}: conv 1x1x{i+1} }\n"
                   "repeat 2 as j {\n"
                   "  conv 1x1x{j + 2}  # c\n"
                   "}\n")
    assert format_text(out) == out and ir(out) == ir(text)


def test_xception_middle_flow_is_one_repeat():
    net = cnndsl.parse_file("xception")
    rows = cnndsl.analyze(net).rows
    middle = [r.path for r in rows if r.depth == 0 and r.node.call is not None and r.node.call.text() == "middle(728)"]
    assert middle == [f"block{k}" for k in range(4, 12)]
    assert all(r.input == r.output == (19, 19, 728) for r in rows if r.path in middle)
