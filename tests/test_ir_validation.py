"""The elaborator builds IR nodes without Pydantic's validation (`cnndsl.record.checked`): its values
must be exactly what validation would have made, and whatever enters from outside (nodes and
networks a user builds, JSON) is still validated."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

import cnndsl
from cnndsl.ir import Network
from cnndsl.layers.blocks import Group
from cnndsl.layers.conv import Conv
from cnndsl.source import Span
from tests.conftest import ARCHITECTURES

AT = Span("user.py", 1, 1, 1, 2)


@pytest.mark.parametrize("path", sorted(ARCHITECTURES.glob("*.cnn")), ids=lambda p: p.stem)
def test_elaborated_values_are_what_validation_makes(path):
    # repr shows types: a tuple where a list was given, 1.0 where 1 was given, would differ
    net = cnndsl.parse_file(path)
    again = Network.model_validate_json(net.model_dump_json())
    assert again == net
    assert repr(again) == repr(net)
    assert repr(Network.model_validate(net.model_dump())) == repr(net)


def test_user_built_nodes_are_validated():
    conv = Conv(name="c", span=AT, kernel=(3, 3), out=8)
    assert (conv.out, conv.groups, conv.stride, conv.eps) == (8, 1, (1, 1), 1e-5)
    with pytest.raises(ValidationError):
        Conv(name="c", span=AT, kernel=(3, 3), out="eight")
    with pytest.raises(ValidationError):
        Conv(name="c", span=AT, kernel=(3, 3), out=8, act="swish")
    with pytest.raises(ValidationError):
        Conv(name="c", span=AT, kernel=(3, 3), out=8, colour="red")  # extra="forbid"
    with pytest.raises(ValidationError):
        Group(name="g", span=AT, children=({"kind": "nosuchkind", "span": AT},))
    with pytest.raises(ValidationError):
        Network(name="n", input=(8, 8, 3), body=(conv, "relu"), span=AT)
    net = Network(name="n", input=(8, 8, 3), body=(conv,), span=AT)
    assert cnndsl.stats(net).params == 3 * 3 * 3 * 8 + 8


def test_ir_json_from_outside_is_validated():
    data = json.loads(cnndsl.parse("input 8x8x3\nconv 3x3x8").model_dump_json())
    data["body"][0]["out"] = "eight"
    with pytest.raises(ValidationError):
        Network.model_validate_json(json.dumps(data))
    data["body"][0]["out"] = 8
    data["body"][0]["kind"] = "nosuchkind"
    with pytest.raises(ValidationError):
        Network.model_validate_json(json.dumps(data))
