"""Coverage driven by the registry: every node kind (`cnndsl.layers.KINDS`) and every statement
keyword (`cnndsl.layers.REGISTRY`) appears in each suite that checks kinds one by one. A new kind
or keyword fails here, by name, until the suite has a case for it.

Each suite exposes the programs it checks as data; this file parses them and collects the kinds
and keywords their IR holds (so a keyword used only as a fused option, like the `relu` of
`conv 3x3x8 relu`, does not count for the `relu` statement).
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings

import cnndsl
from cnndsl.ir import Network, Node
from cnndsl.layers import KINDS, REGISTRY

EVERYTHING = {*(f"kind {k}" for k in KINDS), *(f"keyword {w}" for w in REGISTRY)}


def keyword(node: Node) -> str | None:
    """The statement keyword `node` was written with: its class's only keyword, or the value of
    the field that names one of its keywords (an activation's `fn`)."""
    words = type(node).keywords
    if len(words) <= 1:
        return words[0] if words else None
    named = [v for v in node.model_dump().values() if isinstance(v, str) and v in words]
    assert len(named) == 1, f"{type(node).__name__}: which keyword made {node!r}?"
    return named[0]


def exercised(net: Network) -> set[str]:
    """The kinds and keywords of every node of `net`, nested ones included."""
    seen, todo = set(), list(net.body)
    while todo:
        node = todo.pop()
        seen.add(f"kind {node.kind}")
        if (word := keyword(node)) is not None:
            seen.add(f"keyword {word}")
        todo += [n for branch in node.branches() for n in branch]
    return seen


def assert_covers(programs, suite: str) -> None:
    seen = set().union(*(exercised(cnndsl.parse(p)) for p in programs))
    gaps = sorted(EVERYTHING - seen)
    assert not gaps, f"{suite} has no case for: {', '.join(gaps)}"


def test_exercised_reads_kinds_keywords_and_nesting():
    net = cnndsl.parse("input 8x8x4; conv 1x1x4 relu; residual < gelu; repeat 2 { bn } >")
    assert exercised(net) == {"kind conv", "keyword conv", "kind residual", "keyword residual", "kind act",
                              "keyword gelu", "kind repeat", "kind bn", "keyword bn"}


def test_shape_cases_cover_every_kind():
    from test_shapes import CASES

    assert_covers((src for src, *_ in CASES.values()), "tests/test_shapes.py CASES")


def test_torch_oracle_cases_cover_every_kind():
    pytest.importorskip("torch")
    from test_shapes import CASES
    from test_shapes_torch import TORCH

    assert_covers((CASES[name][0] for name in TORCH), "tests/test_shapes_torch.py TORCH")


def test_torch_backend_programs_cover_every_kind():
    """The programs built and compared with analyze(), traced and compiled without graph breaks,
    and whose emitted source is run against the module (tests/test_torch_backend.py)."""
    pytest.importorskip("torch")
    from test_torch_backend import SMALL

    assert_covers(SMALL.values(), "tests/test_torch_backend.py SMALL")


def drawn(strategy, n: int) -> list[str]:
    """The first `n` examples of a generator, the same in every run."""
    out = []

    @settings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate])
    @given(strategy)
    def collect(example):
        out.append(example[0] if isinstance(example, tuple) else example)

    collect()
    return out


ACTIVATION_WORDS = {w for w, cls in REGISTRY.items() if cls is KINDS["act"]}


@pytest.mark.parametrize("name", ["programs", "valid_programs"])
def test_hypothesis_generators_cover_every_kind(name):
    """200 examples of each generator hold every kind and keyword (each is reached within 100 today)
    but the activations, which both draw uniformly from `ACTS` wherever they write one."""
    import strategies

    assert set(strategies.ACTS) == ACTIVATION_WORDS
    programs = drawn(getattr(strategies, name)(), 200)
    seen = set().union(*(exercised(cnndsl.parse(p)) for p in programs))
    gaps = sorted(EVERYTHING - {f"keyword {w}" for w in ACTIVATION_WORDS} - seen)
    assert not gaps, f"tests/strategies.py {name}() writes no: {', '.join(gaps)}"
    assert "kind act" in seen
