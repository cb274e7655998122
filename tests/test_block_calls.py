"""Block calls are data in the IR (`cnndsl.ir.BlockCall`): the emitted source names a block's
constructor arguments from the IR alone, never by reading the `.cnn` file again (issue 12)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

import cnndsl
from cnndsl.backends.torch_source import emit

UNIT = "block unit({formal}) {{ conv 1x1x{{{formal}}} relu; conv 3x3x{{{formal}}} same }}\n"
CALLS = "network stale\ninput 8x8x4\nunit(8)\nunit(8)\nunit(6)\n"


def init_args(source: str, cls: str) -> list[str]:
    """The parameter names of `cls.__init__` in emitted source."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            init = next(f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
            return [a.arg for a in init.args.args]
    raise AssertionError(f"no class {cls} in the emitted source")


@pytest.mark.parametrize("where", ["same file", "used file"])
def test_renamed_formal_is_the_new_constructor_argument(tmp_path, where):
    """Parse and emit, rename the block's formal in the file, parse and emit again in the same
    process: the class takes the new name (a cache of block declarations kept the old one)."""
    main, lib = tmp_path / "net.cnn", tmp_path / "blocks.cnn"

    def write(formal):
        if where == "same file":
            main.write_text(UNIT.format(formal=formal) + CALLS)
        else:
            lib.write_text(UNIT.format(formal=formal))
            main.write_text('use "blocks.cnn"\n' + CALLS)

    for formal, old in (("width", "planes"), ("planes", "width")):
        write(formal)
        args = init_args(emit(cnndsl.parse_file(main)), "Unit")  # unit(8) twice, unit(6): one class, an argument
        assert formal in args and old not in args, args


ZERO2 = """network zero2
input 8x8x4
block b(c, z=0) {
  conv 1x1x{c}
  repeat {z} { relu }
}
b(8)
b(8)
"""

BUILD = """
import sys, torch
assert "cnndsl" not in sys.modules
sys.path.insert(0, sys.argv[1])
from zero2 import Zero2
torch.manual_seed(0)
net = Zero2().eval()
d = torch.load(sys.argv[1] + "/expected.pt")
assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == d["shapes"], net.state_dict().keys()
net.load_state_dict(d["state"])
with torch.no_grad():
    torch.save(net(d["x"]), sys.argv[1] + "/got.pt")
"""


def test_zero2_compiles_and_builds_equal_to_load(tmp_path):
    """The issue's program: a zero default (`repeat {z}`) and calls whose input channels differ
    (4, then 8). Its emitted source once held `z // 0` and one `B()` for both calls."""
    torch = pytest.importorskip("torch")
    src = tmp_path / "zero2.cnn"
    src.write_text(ZERO2)
    r = subprocess.run([sys.executable, "-m", "cnndsl", "compile", str(src), "-o", str(tmp_path / "zero2.py")],
                       check=False, capture_output=True, text=True)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    model = cnndsl.load(src).eval()
    # by hand: conv 1x1 4 -> 8 (weight [8, 4, 1, 1], bias [8]), then conv 1x1 8 -> 8; no relu module (z = 0)
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert [s for _, s in shapes] == [(8, 4, 1, 1), (8,), (8, 8, 1, 1), (8,)]
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        want = model(x)
    torch.save({"shapes": shapes, "state": model.state_dict(), "x": x}, tmp_path / "expected.pt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the emitted file needs torch only
    subprocess.run([sys.executable, "-I", "-c", BUILD, str(tmp_path)], check=True, cwd=tmp_path, env=env)
    assert torch.allclose(torch.load(tmp_path / "got.pt"), want, atol=1e-6)
    w1, b1, w2, b2 = (v for v in model.state_dict().values())  # the same network written with torch alone
    hand = torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, w1, b1), w2, b2)
    assert torch.allclose(want, hand, atol=1e-6)
