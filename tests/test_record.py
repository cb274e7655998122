"""The IR's records (`cnndsl.record`): Pydantic validates what enters from outside, and the command
line's path never imports Pydantic (issue 12's start-up budget)."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys

import pytest
from pydantic import ValidationError

import cnndsl
from cnndsl.ir import Network
from cnndsl.layers.conv import Conv
from cnndsl.layers.norm import BatchNorm
from cnndsl.record import checked
from cnndsl.source import Span
from tests.conftest import ARCHITECTURES, ROOT

AT = Span("user.py", 1, 1, 1, 2)


def _modules_after(code: str) -> set[str]:
    quiet = "".join(f"    {line}\n" for line in code.splitlines())  # its output is not the module list
    program = f"import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n{quiet}" \
              "import sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return set(out.split())


def test_the_command_line_never_imports_pydantic():
    # every shipped architecture through stats, check, fmt and render (DOT), in one process
    files = [str(p) for p in sorted(ARCHITECTURES.glob("*.cnn"))]
    run = (f"from cnndsl.cli import main\nfiles = {files!r}\n"
           "for args in [['stats', *files], ['check', *files], ['fmt', '--check', *files],"
           " *(['render', f] for f in files), ['stats', '--json', 'tiny']]: main(args)")
    loaded = _modules_after(run)
    assert {"cnndsl.passes.shapes", "cnndsl.format", "cnndsl.backends.graphviz"} <= loaded  # it did the work
    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core", "torch")}


def test_validation_imports_pydantic_when_asked():
    loaded = _modules_after("import cnndsl\nfrom cnndsl.layers.conv import Conv\nfrom cnndsl.source import Span\n"
                            "Conv(name='c', span=Span('f', 1, 1, 1, 2), kernel=(3, 3), out=8)")
    assert "pydantic" in loaded and "torch" not in loaded


def test_fields_in_declared_order_base_classes_first():
    # Node: kind, name, span, call; Fused: bn, eps, momentum, act, slope; ConvBase: kernel ... bias; Conv: out, groups
    assert list(Conv.model_fields) == ["kind", "name", "span", "call", "bn", "eps", "momentum", "act", "slope",
                                       "kernel", "stride", "padding", "dilation", "bias", "out", "groups"]
    # BatchNorm redeclares `bn` (default True): it keeps its place
    assert list(BatchNorm.model_fields)[:6] == ["kind", "name", "span", "call", "bn", "eps"]
    assert BatchNorm.model_fields["bn"].default is True and Conv.model_fields["bn"].default is False
    assert Conv.model_fields["out"].is_required() and not Conv.model_fields["span"].repr


def test_user_values_are_coerced_as_pydantic_does():
    conv = Conv(name="c", span=list(AT), kernel=[3, 3], out=8.0)
    assert conv.kernel == (3, 3) and type(conv.kernel) is tuple
    assert conv.out == 8 and type(conv.out) is int
    assert type(conv.span) is Span and conv.span == AT
    with pytest.raises(ValidationError) as e:
        Conv(name="c", span=AT, kernel=(3, 3), out=8.5)
    assert e.value.title == "Conv" and e.value.errors()[0]["loc"] == ("out",)


def test_nested_records_and_dicts_are_validated_into_records():
    net = Network(name="n", input=[8, 8, 3], span=AT,
                  body=[{"kind": "conv", "name": "0", "span": AT, "kernel": [3, 3], "out": 4},
                        Conv(name="1", span=AT, kernel=(1, 1), out=2)])
    assert [type(n).__name__ for n in net.body] == ["Conv", "Conv"] and type(net.body) is tuple
    assert cnndsl.stats(net).params == (3 * 3 * 3 * 4 + 4) + (4 * 2 + 2)
    with pytest.raises(ValidationError):  # a checked-built record is validated again inside a user's network
        Network(name="n", input=(8, 8, 3), span=AT, body=(checked(Conv, name="0", span=AT, kernel=(3, 3), out="x"),))


def test_frozen_copy_equality_hash():
    a = cnndsl.parse("input 8x8x3\nconv 3x3x8 relu")
    b = cnndsl.parse("input 8x8x3\nconv 3x3x8 relu")
    assert a == b and a is not b and hash(a.body[0]) == hash(b.body[0])
    with pytest.raises(TypeError, match="frozen"):
        a.body[0].out = 3
    with pytest.raises(TypeError, match="frozen"):
        del a.name
    wider = a.body[0].model_copy(update={"out": 16})
    assert (wider.out, a.body[0].out) == (16, 8) and wider != a.body[0]
    assert a != "not a network" and a.body[0] != a.body[0].model_copy(update={"span": AT}) is not None


def test_pickle_and_deepcopy_keep_records_and_texts():
    net = cnndsl.parse_file("resnet18")
    for again in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert again == net and repr(again) == repr(net) and again.texts == net.texts


def test_json_is_the_fields_in_order():
    net = cnndsl.parse("input 8x8x3\nconv 3x3x8 s2", filename="f.cnn")
    data = json.loads(net.model_dump_json())
    assert list(data) == ["name", "title", "input", "params", "body", "span"]
    assert data["body"][0]["kernel"] == [3, 3] and data["body"][0]["stride"] == [2, 2]
    assert data["body"][0]["span"] == ["f.cnn", 2, 1, 2, 14]  # end exclusive: "conv 3x3x8 s2" is 13 characters
    assert "_texts" not in data and net.model_dump(exclude={"body", "span"}) == \
        {"name": "f", "title": None, "input": (8, 8, 3), "params": {}}


def test_first_validation_from_many_threads():
    code = """
import json
from concurrent.futures import ThreadPoolExecutor
import cnndsl
from cnndsl.ir import Network
text = cnndsl.parse_file("googlenet").model_dump_json()
with ThreadPoolExecutor(8) as pool:
    nets = list(pool.map(lambda _: Network.model_validate_json(text), range(8)))
print(all(n == nets[0] for n in nets) and nets[0] == cnndsl.parse_file("googlenet"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "True"


def test_json_schema_names_every_kind_and_the_required_fields():
    from cnndsl.layers import KINDS

    schema = Network.model_json_schema()
    assert set(schema["required"]) == {"name", "input", "body", "span"}  # title and params have defaults
    kinds = schema["properties"]["body"]["items"]["discriminator"]["mapping"]
    assert set(kinds) == set(KINDS) and kinds["conv"] == "#/$defs/Conv"
    assert set(schema["$defs"]["Conv"]["required"]) == {"span", "kernel", "out"}  # no default in the classes
    assert schema["$defs"]["Conv"]["additionalProperties"] is False
