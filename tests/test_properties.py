"""Whole-pipeline properties over random valid programs (tests/strategies.py `valid_programs`), and
mutated programs that must either work or fail cleanly.

For every generated program:
- `fmt` is idempotent and the formatted text elaborates to the same IR (spans aside);
- the IR's JSON round-trips;
- the module `cnndsl.build` makes gives exactly `analyze`'s output shape (eval mode), its
  parameter count equals `analyze`'s, FlopCounterMode's total / 2 equals `analyze`'s MACs, and
  the paths of the analysis rows that own a module are exactly the module names;
- the standalone source of `cnndsl compile` builds the same state_dict keys and shapes, and with
  the same weights computes the same output.

The number of examples comes from the hypothesis profile (tests/conftest.py): quick by default,
thorough with `--hypothesis-profile=ci`.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode

import cnndsl
from cnndsl.backends.torch_source import emit
from cnndsl.cli import main
from cnndsl.format import format_text
from cnndsl.ir import Network
from cnndsl.passes.shapes import analyze
from tests.conftest import structure
from tests.strategies import valid_programs

torch.set_num_threads(1)

# twice the profile's examples: a few hundred per property under `--hypothesis-profile=ci`
EXAMPLES = settings.default.max_examples * 2


def nchw(shape):
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


@settings(max_examples=EXAMPLES)
@given(valid_programs())
def test_fmt_and_ir_json(program):
    text, shape = program
    net = cnndsl.parse(text)
    assert analyze(net).output == shape  # the generator's own shape tracking agrees
    once = format_text(text)
    assert format_text(once) == once
    assert structure(cnndsl.parse(once).model_dump()) == structure(net.model_dump())
    assert Network.model_validate_json(net.model_dump_json()) == net


def module_paths(a) -> tuple[set[str], set[str]]:
    """(paths of rows whose node owns a module, paths of those that are leaves)."""
    owners = {r.path for r in a.rows if r.node.name}
    leaves = {r.path for r in a.rows if r.node.name and not r.node.takes_branches}
    return owners, leaves


@settings(max_examples=EXAMPLES)
@given(valid_programs())
def test_module_matches_analysis(program):
    text, shape = program
    net = cnndsl.parse(text)
    a = analyze(net)
    model = cnndsl.build(net).eval()
    torch.manual_seed(0)
    x = torch.randn(1, *nchw(net.input))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(x)
    assert tuple(y.shape[1:]) == nchw(a.output) == nchw(shape)
    assert sum(p.numel() for p in model.parameters()) == a.params
    assert counter.get_total_flops() == 2 * a.macs
    # names: every row that owns a module is a module, or a bare parameter (`scale`) of the enclosing
    # module; every other module is a part of a leaf (a fused `conv bn relu` -> `.conv`, `.bn`, `.act`;
    # se -> `.se`'s fc1/act/fc2)
    owners, leaves = module_paths(a)
    names = {n for n, _ in model.named_modules() if n}
    bare = {r.path for r in a.rows if r.node.kind == "scale"}
    assert owners - bare <= names and bare <= {n for n, _ in model.named_parameters()}
    for n in names - owners:
        assert any(n.startswith(leaf + ".") for leaf in leaves), n
    for key in model.state_dict():
        assert key in bare or any(key.startswith(o + ".") for o in owners - bare), key


def load_source(source: str, tmp_path, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses / namedtuple look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[name]
    return mod


def root_class(mod):
    classes = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
               and v.__module__ == mod.__name__]
    return classes[-1]  # classes are written leaves first: the network's class is the last


_counter = iter(range(10**9))


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid_programs())
def test_emitted_source_matches_module(tmp_path, program):
    text, _ = program
    net = cnndsl.parse(text)
    model = cnndsl.build(net).eval()
    source = emit(net)
    compile(source, "<emitted>", "exec")
    mod = load_source(source, tmp_path, f"cnndsl_emitted_{next(_counter)}")
    other = root_class(mod)().eval()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in other.state_dict().items()}
    assert list(theirs) == list(ours)
    assert theirs == ours
    other.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    x = torch.randn(2, *nchw(net.input))
    with torch.no_grad():
        assert torch.allclose(model(x), other(x), atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# mutations: every mutant is valid, or `cnndsl check` exits 2 with FILE:LINE:COL: error: first

TOKEN = re.compile(r"\s+|\{[^{}\n]*\}|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|.", re.DOTALL)
NUMBER = re.compile(r"\d+(?:\.\d+)?")
REPLACEMENTS = ["0", "-1", "-0", "1.5", "0.5", "1e9", "99999999999999999999999", "9" * 500, "1e400", "nan",
                "inf", "2**3", "{10 ** 100}", "{0}", "{-3}", "{1/0}", "{2.5}", "{1e300 * 1e300}"]


@st.composite
def mutants(draw):
    text, _ = draw(valid_programs(max_statements=4))
    toks = TOKEN.findall(text)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "number", "insert"]))
        i = draw(st.integers(0, len(toks) - 1))
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i])
        elif op == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "insert":
            toks.insert(i, draw(st.sampled_from(["<", ">", "|", "{", "}", "(", ")", ";", "\n", ":", "=", ",", "_",
                                                 "#", '"', "repeat", "block", "aux from", "\x00", "é", "\t"])))
        else:
            nums = [k for k, t in enumerate(toks) if NUMBER.fullmatch(t)]
            if nums:
                toks[draw(st.sampled_from(nums))] = draw(st.sampled_from(REPLACEMENTS))
        if not toks:
            toks = [";"]
    return "".join(toks)


POSITIONED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: ")


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutants())
def test_mutants_are_valid_or_clean_errors(tmp_path, capsys, text):
    path = tmp_path / "m.cnn"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    status = main(["check", str(path)])
    _out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, f"{text!r}\n{err}"
    assert status in (0, 2), f"{text!r}\n{err}"
    if status == 2:
        first = err.splitlines()[0]
        m = POSITIONED.match(first)
        assert m and m["file"] == str(path), f"{text!r}\n{err}"
        assert 1 <= int(m["line"]) <= text.count("\n") + 1
