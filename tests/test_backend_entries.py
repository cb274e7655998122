"""Every registered kind declares what each backend needs, read from the registry (no torch).

A leaf declares its PyTorch module (`module(x, y)`, records only) and its drawing (`family`, a
legend style); the emitted source and diff are generic over it. A combinator declares its
children (`branch_fields`), its `form` (the rule the plan, the emitted source and the diagram
apply), its runtime step where it has one, and for a join its source code and its symbol. A new
kind that forgets one of these fails here, before any torch test runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

import cnndsl
from cnndsl.backends import graphviz, torch_source
from cnndsl.ir import fmt_shape
from cnndsl.layers import KINDS
from cnndsl.layers.blocks import FORMS, MultiBranch
from cnndsl.passes.diff import diff
from cnndsl.passes.plan import Call, Fetch, ScopeSpec, Step, decode, walk

RUNTIME = Path(__file__).resolve().parent.parent / "cnndsl" / "backends" / "runtime.py"


def runtime_steps() -> set[str]:
    """The keys of `runtime.STEPS`, read with `ast` (importing runtime would import torch)."""
    for node in ast.parse(RUNTIME.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["STEPS"]:
            return {k.value for k in node.value.keys}
    raise AssertionError("runtime.py has no STEPS table")


def missing(cls: type) -> list[str]:
    """What `cls` fails to declare for the backends."""
    out = []
    if graphviz.LEGEND.get(cls.family) is None:
        out.append(f"a drawing style: family {cls.family!r} is not in graphviz.LEGEND")
    if not cls.takes_branches:
        if not callable(getattr(cls, "module", None)):
            out.append("its PyTorch module: module(x, y) -> Leaf")
        return out
    if not cls.branch_fields or any(f.rstrip("*") not in cls.model_fields for f in cls.branch_fields):
        out.append(f"its children: branch_fields {cls.branch_fields!r} must name its fields")
    form = getattr(cls, "form", None)
    if form not in FORMS:
        out.append(f"a form, one of {FORMS}")
        return out
    if form not in graphviz.DRAW:
        out.append(f"a drawing for form {form!r} in graphviz.DRAW")
    if (cls.step is None) != (form in ("sequence", "repeat")):
        out.append(f"a runtime step for form {form!r}" if cls.step is None else "no step: its children are spliced")
    if cls.step is not None:
        if form not in torch_source.FORMS:
            out.append(f"a source form for {form!r} in torch_source.FORMS")
        if cls.step not in runtime_steps():
            out.append(f"its runtime step {cls.step!r} in runtime.STEPS")
    if form == "join":
        code, sep = getattr(cls, "code", (None, None))
        if not isinstance(code, str) or code.count("{}") != 1 or not isinstance(sep, str):
            out.append("its source code: code = (template with one '{}', separator)")
        if not isinstance(getattr(cls, "symbol", None), tuple):
            out.append("its diagram symbol: symbol = (label, shape)")
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_declares_every_backend_entry(kind):
    assert missing(KINDS[kind]) == []


def test_a_kind_that_forgets_an_entry_is_caught():
    class Half(MultiBranch):  # a join with no step, no source code, no symbol
        kind: Literal["half"] = "half"

    assert len(missing(Half)) == 3
    assert "its PyTorch module: module(x, y) -> Leaf" in missing(type("Bare", (), {"family": "conv",
                                                                                  "takes_branches": False}))


# one program per kind: a kind missing here fails the test below
EXAMPLES = {
    "conv": "conv 3x3x4 same", "dwconv": "dwconv 3x3 same", "fc": "fc 4", "bn": "bn", "act": "relu",
    "se": "se r=2", "maxpool": "maxpool 2", "avgpool": "avgpool 2", "gap": "gap",
    "adaptiveavgpool": "adaptiveavgpool 2x2", "lrn": "lrn", "flatten": "flatten", "dropout": "dropout 0.5",
    "identity": "identity", "group": "g: < conv 1x1x4; relu >", "residual": "residual < conv 3x3x4 same >",
    "add": "add < identity | conv 1x1x4 >", "mul": "mul < identity | conv 1x1x4 sigmoid >",
    "concat": "concat < conv 1x1x2 | conv 1x1x2 >",
    "aux": "aux < gap; fc 2 >", "repeat": "repeat 2 { relu }", "layernorm": "layernorm",
    "pixelshuffle": "pixelshuffle 2", "droppath": "droppath 0.1", "scale": "scale",
    "split": "split < identity | conv 1x1x2 >", "from": "a: relu\n_: add < from a | identity >",
    "upsample": "upsample 2 bilinear", "convtranspose": "convtranspose 2x2x4 s2", "shuffle": "shuffle 2",
}


def program(kind: str) -> str:
    return f"input {'1x1x4' if kind == 'fc' else '8x8x4'}\n{EXAMPLES[kind]}"


def test_every_kind_has_an_example():
    assert set(EXAMPLES) == set(KINDS)


def _kinds(net) -> set[str]:
    out, todo = set(), list(net.body)
    while todo:
        n = todo.pop()
        out.add(n.kind)
        todo += [c for b in n.branches() for c in b]
    return out


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_every_kind_goes_through_every_torch_free_backend(kind):
    net = cnndsl.parse(program(kind))
    assert kind in _kinds(net)
    plan = decode(net)
    cls = KINDS[kind]
    top = plan.root.plan
    if not cls.named:  # `from`: no module; the join's branch starts with a fetch of the saved tensor
        assert any(isinstance(op, Fetch) for op in walk(top)) and plan.root.children["a"]
    elif not cls.takes_branches:  # one child module, one call
        assert [type(op) for op in top] == [Call] and len(plan.root.children) == 1
    elif cls.step is None:  # spliced: its children's calls, in order, and no step
        assert all(isinstance(op, Call) for op in walk(top))
    elif net.body[0].name and not cls.head:  # a module of its own that runs one step
        child = plan.root.children[net.body[0].name]
        assert isinstance(child, ScopeSpec) and [op.node.kind for op in child.plan if isinstance(op, Step)] == [kind]
    else:
        assert [op.node.kind for op in top if isinstance(op, Step)] == [kind]
    assert fmt_shape(tuple(net.input)) in graphviz.to_dot(net)
    assert diff(net, net) == []


def test_the_plan_and_the_drawings_need_no_torch():
    code = ("import sys, cnndsl; from cnndsl.passes.plan import decode; from cnndsl.backends.graphviz import to_dot\n"
            f"for s in {[program(k) for k in EXAMPLES]!r}:\n"
            "    net = cnndsl.parse(s); decode(net); to_dot(net)\n"
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
