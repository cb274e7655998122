"""Hostile and oversized input: every case gets a clear, positioned error (exit 2, never a
traceback) quickly and in bounded memory; networks too large to build are refused before anything
is allocated; nothing in a `.cnn` file can run code.

Time bounds here are generous hang guards (the machine is shared), not benchmarks.
"""

from __future__ import annotations

import ast
import json
import math
import os
import pickle
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cnndsl
from cnndsl.cli import main
from cnndsl.errors import CnnError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnndsl"
H = "input 8x8x3\n"
POSITIONED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$")

# The peak memory of a child process, in kB, as an expression run in the child. Linux's ru_maxrss
# keeps the parent's peak across fork + exec (a pytest process holding torch), so read the
# process's own high-water mark, VmHWM, where /proc has it.
PEAK_KB = ("(lambda s: int(s.split('VmHWM:')[1].split()[0]) if 'VmHWM:' in s else "
           "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
           "(open('/proc/self/status').read() if __import__('os').path.exists('/proc/self/status') else '')")

# (id, program text, words the first line must contain)
PROGRAMS = [
    ("repeat-1e9", H + "repeat 1000000000 { relu }\n", "over the limit of 100,000"),
    ("repeat-product", H + "repeat 99999 { repeat 99999 { relu } }\n", "more than 200,000 layers"),
    ("power-op", H + "conv 3x3x{10**100}\n", "unexpected '*'"),
    ("long-digits", H + "conv 3x3x1000000000000000000000000\n", "channels too large"),
    ("very-long-digits", H + "conv 3x3x" + "9" * 900 + "\n", "channels too large"),
    ("long-digits-in-expr", H + "conv 3x3x{" + "9" * 900 + "}\n", "number too large"),
    ("long-digits-param", "param a = " + "9" * 900 + "\n" + H, "number too large"),
    ("longer-digits-param", "param a = " + "9" * 5000 + "\n" + H, "word too long"),
    ("product", H + "conv 3x3x{100000000 * 100000000 * 100000000}\n", "number too large"),
    ("float-exponent", H + "conv 3x3x1e308\n", "channels too large"),
    ("float-inf", H + "conv 3x3x{1e400}\n", "not a finite number"),
    ("huge-input", "input 1e300x8x3\n", "input size too large"),
    ("huge-stride", H + "conv 3x3x4 s99999999999999999999999\n", "stride too large"),
    ("huge-fc", H + "gap; fc 1e20\n", "outputs too large"),
    ("round-huge", "param a = round(1e300)\n" + H, "number too large"),
    ("int-huge", "param a = int(1e300)\n" + H, "number too large"),
    ("division-by-zero", "param a = 1 // 0\n" + H, "division by zero"),
    ("deep-minus", "param a = " + "- " * 100_000 + "1\n" + H, "nested more than 100 deep"),
    ("long-sum", "param a = " + " + ".join(["1"] * 50_000) + "\n" + H, "nested more than 100 deep"),
    ("longer-sum", "param a = " + " + ".join(["1"] * 200_000) + "\n" + H, "more than 200,000 words"),
    ("deep-call", "param a = " + "max(" * 5000 + "1" + ")" * 5000 + "\n" + H, "nested more than 100 deep"),
    ("nested-groups", H + "<" * 5000 + "relu" + ">" * 5000 + "\n", "nested more than 100 deep"),
    ("nested-repeat", H + "repeat 1 { " * 3000 + "relu" + " }" * 3000 + "\n", "nested more than 100 deep"),
    ("self-call", "block b(c) { b(c) }\n" + H + "b(1)\n", "nested more than 64 deep"),
    ("mutual-recursion", "block a(c) { b(c) }\nblock b(c) { a(c) }\n" + H + "a(1)\n", "nested more than 64 deep"),
    ("recursion-growing", "block b(c) { conv 1x1x{c}; b(c * 2) }\n" + H + "b(1)\n", "too large"),
    ("adaptive-huge", H + "adaptiveavgpool 9007199254740992x9007199254740992\n", None),  # valid; must be fast
    ("long-word", H + "relu " + "x" * 3_000_000 + "\n", "word too long"),
    ("many-words", H + "relu " + "x " * 1_000_000 + "\n", "more than 200,000 words"),
    ("many-statements", H + "relu\n" * 600_000, "more than 50,000 statements"),
    ("many-semicolons", H + ";" * 3_000_000, "more than 50,000 statements"),
    ("nul-byte", H + "relu\x00\n", "NUL byte"),
]


# A hang guard, not a speed target (speeds are measured in bench/): each case answers in well under
# a second; the bugs it guards against took minutes, or forever.
HANG = 60


def check(path: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    t = time.monotonic()
    status = main(["check", str(path), *extra])
    elapsed = time.monotonic() - t
    err = capsys.readouterr().err
    assert elapsed < HANG, f"took {elapsed:.1f} s"
    assert "Traceback" not in err and "internal error" not in err, err
    return status, err


def assert_positioned(path: Path, err: str, words: str | None = None) -> re.Match:
    first = err.splitlines()[0]
    m = POSITIONED.match(first)
    assert m, err[:500]
    assert m["file"] == str(path)
    assert len(first) < 400 and all(len(line) < 400 for line in err.splitlines())  # never megabytes of echo
    if words:
        assert words in m["msg"], first
    return m


@pytest.mark.parametrize("text, words", [pytest.param(t, w, id=i) for i, t, w in PROGRAMS])
def test_hostile_program(tmp_path, capsys, text, words):
    path = tmp_path / "h.cnn"
    path.write_text(text, encoding="utf-8")
    status, err = check(path, capsys)
    if words is None:
        assert status == 0, err
        return
    assert status == 2, err
    assert_positioned(path, err, words)


def test_memory_of_every_hostile_program(tmp_path):
    """All the programs above, checked in one fresh process: a few hundred MB at most."""
    paths = []
    for i, (name, text, _) in enumerate(PROGRAMS):
        p = tmp_path / f"{i}.cnn"
        p.write_text(text, encoding="utf-8")
        paths.append(str(p))
    code = textwrap.dedent("""
        import io, contextlib, json, resource, sys
        from cnndsl.cli import main
        codes = []
        for p in sys.argv[1:]:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                codes.append(main(["check", p]))
        print(json.dumps([codes, PEAK_KB()]))
    """).replace("PEAK_KB()", PEAK_KB)
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, check=True).stdout
    codes, rss_kb = json.loads(out)
    assert set(codes) <= {0, 2}
    assert rss_kb < 400 * 1024, f"{rss_kb // 1024} MB"  # measured ~300 MB (the 3 MB texts are held in memory)


# ---------------------------------------------------------------------------------------------
# files


def test_file_over_the_size_limit(tmp_path, capsys):
    path = tmp_path / "big.cnn"
    path.write_text(H + "# padding\n" * 500_000, encoding="utf-8")  # 5 MB
    status, err = check(path, capsys)
    assert status == 2
    assert_positioned(path, err, "file too large")


def test_giant_valid_file_finishes(tmp_path, capsys):
    """3 MB of comments around a small valid program: parsed in well under the guard."""
    path = tmp_path / "giant.cnn"
    path.write_text(H + "# a comment line of some length, repeated\n" * 75_000 + "conv 3x3x4; gap; fc 2\n",
                    encoding="utf-8")
    assert path.stat().st_size > 3_000_000
    status, err = check(path, capsys)
    assert status == 0, err


def test_binary_and_non_utf8_files(tmp_path, capsys):
    binary = tmp_path / "binary.cnn"
    binary.write_bytes(bytes(range(256)) * 100)
    status, err = check(binary, capsys)
    assert status == 2
    assert_positioned(binary, err, "not UTF-8")
    latin = tmp_path / "latin1.cnn"
    latin.write_bytes(H.encode() + "# caf\xe9\n".encode("latin-1"))
    status, err = check(latin, capsys)
    assert status == 2
    m = assert_positioned(latin, err, "not UTF-8")
    assert (m["line"], m["col"]) == ("2", "6")
    nul = tmp_path / "nul.cnn"
    nul.write_bytes(H.encode() + b"conv 3x3x4\x00\n")
    status, err = check(nul, capsys)
    assert status == 2
    m = assert_positioned(nul, err, "NUL byte")
    assert (m["line"], m["col"]) == ("2", "11")


# ---------------------------------------------------------------------------------------------
# use: cycles, and files outside the program's folder


def test_use_cycle(tmp_path, capsys):
    (tmp_path / "a.cnn").write_text('use "b.cnn"\nblock a1(c) { relu }\n')
    (tmp_path / "b.cnn").write_text('use "a.cnn"\nblock b1(c) { relu }\n')
    main_file = tmp_path / "main.cnn"
    main_file.write_text('use "a.cnn"\n' + H + "a1(1)\n")
    status, err = check(main_file, capsys)
    assert status == 2
    assert "import cycle" in err.splitlines()[0]
    assert POSITIONED.match(err.splitlines()[0])


def test_use_self(tmp_path, capsys):
    path = tmp_path / "self.cnn"
    path.write_text('use "self.cnn"\n' + H + "relu\n")
    status, err = check(path, capsys)
    assert status == 2
    assert_positioned(path, err, "import cycle")


@pytest.fixture
def outside(tmp_path):
    """A program in `prog/`, and a block file beside that folder (outside it)."""
    (tmp_path / "lib.cnn").write_text("block ext(c) { conv 1x1x{c} }\n")
    prog = tmp_path / "prog"
    prog.mkdir()
    return prog


@pytest.mark.parametrize("how", ["parent", "absolute", "symlink"])
def test_use_outside_is_refused_unless_allowed(outside, capsys, how):
    lib = outside.parent / "lib.cnn"
    if how == "parent":
        target = "../lib.cnn"
    elif how == "absolute":
        target = str(lib)
    else:
        (outside / "link.cnn").symlink_to(lib)
        target = "link.cnn"
    path = outside / "main.cnn"
    path.write_text(f'use "{target}"\n' + H + "ext(4)\n")
    status, err = check(path, capsys)
    assert status == 2
    m = assert_positioned(path, err)
    assert m["line"] == "1" and ("outside" in m["msg"] or "absolute" in m["msg"]), err
    assert "--allow-outside" in err
    with pytest.raises(CnnError):
        cnndsl.parse_file(path)
    status, err = check(path, capsys, "--allow-outside")
    assert status == 0, err
    assert cnndsl.parse_file(path, allow_outside=True).body[0].call.text() == "ext(4)"


def test_use_inside_subfolder_is_fine(tmp_path, capsys):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.cnn").write_text("block ext(c) { conv 1x1x{c} }\n")
    path = tmp_path / "main.cnn"
    path.write_text('use "lib/blocks.cnn"\n' + H + "ext(4)\n")
    assert check(path, capsys)[0] == 0


@pytest.mark.parametrize("target", ["secret.txt", "link.cnn"])
def test_use_reads_cnn_files_only(tmp_path, capsys, target):
    """A syntax error quotes a line of the used file: `use` of any other file (also through a link
    named .cnn) would show it to whoever sent the program (the playground's pages)."""
    (tmp_path / "secret.txt").write_text("password = hunter2\n")
    (tmp_path / "link.cnn").symlink_to(tmp_path / "secret.txt")
    path = tmp_path / "main.cnn"
    path.write_text(f'use "{target}"\n' + H)
    status, err = check(path, capsys)
    assert status == 2
    assert f"main.cnn:1:1: error: 'use' reads .cnn files only: {target}" in err
    assert "hunter2" not in err


# ---------------------------------------------------------------------------------------------
# regressions of the fixes (each was a hang, a crash or a quadratic time)


def test_adaptive_pool_receptive_field_closed_form():
    """The widest adaptive window was a loop over the output size (minutes for 10**9); now a formula."""
    from cnndsl.layers.pool import AdaptiveAvgPool
    from cnndsl.source import Span

    span = Span("<t>", 1, 1, 1, 2)
    for n in range(1, 40):
        for o in range(1, 45):
            widest = max(-(-(i + 1) * n // o) - (i * n // o) for i in range(o))
            assert AdaptiveAvgPool(size=(o, o), span=span).rf((n, n, 3))[0] == widest, (n, o)
    t = time.monotonic()
    AdaptiveAvgPool(size=(10**15, 10**15), span=span).rf((10**9 + 7, 10**9 + 7, 3))  # a loop never ends
    assert time.monotonic() - t < HANG


def test_comments_are_collected_in_linear_time(monkeypatch):
    """Each comment's line was counted from the start of the file (quadratic: ~40 s for this text);
    the characters counted over, summed over every comment, must not exceed the text's length."""
    from cnndsl import syntax

    scanned = []

    def counting(text, offset, known=(1, 0)):
        scanned.append(offset - known[1])
        return position(text, offset, known)

    position = syntax.position
    monkeypatch.setattr(syntax, "position", counting)
    text = H + "# comment\n" * 200_000
    cnndsl.parse(text)
    assert len(scanned) == 200_000
    assert sum(scanned) <= len(text)


def test_number_limits_at_every_entry():
    with pytest.raises(CnnError, match="too large"):
        cnndsl.parse(H + "conv 3x3x4 p{2 * 4503599627370496 + 2}")
    with pytest.raises(CnnError, match="too large"):
        cnndsl.parse("param w = 8\n" + H + "conv 3x3x{w}", w=10**30)
    with pytest.raises(CnnError, match="must be a number"):
        cnndsl.parse("param w = 8\n" + H + "conv 3x3x{w}", w="1" * 50)
    assert cnndsl.parse(H + "conv 3x3x9007199254740992").body[0].out == 2**53  # the limit itself is fine


def test_error_lines_are_clipped():
    err = pytest.raises(CnnError, cnndsl.parse, H + "conv 3x3x" + "4" * 900 + " s2").value
    assert all(len(line) < 400 for line in err.render().splitlines())


# ---------------------------------------------------------------------------------------------
# build limits: refused before anything is allocated


BIG_PARAMS = "input 64x64x64\nflatten\nfc 1000000\n"  # 262 G parameters (1 TB)
BIG_ACTIVATIONS = "input 8192x8192x16\nconv 1x1x16\n"  # 1.07 G activation elements, 272 parameters


def test_build_refuses_too_many_params_before_allocating(tmp_path):
    path = tmp_path / "big.cnn"
    path.write_text(BIG_PARAMS)
    code = textwrap.dedent("""
        import json, resource, sys
        import cnndsl
        try:
            cnndsl.load(sys.argv[1])
            msg = None
        except cnndsl.CnnError as err:
            msg = str(err)
        print(json.dumps([msg, PEAK_KB()]))
    """).replace("PEAK_KB()", PEAK_KB)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, check=True).stdout
    msg, rss_kb = json.loads(out)
    assert msg is not None
    assert "262,145,000,000 parameters" in msg and "4,000,000,000" in msg
    assert "max_params=None" in msg and "--max-params" in msg
    assert rss_kb < 1024 * 1024, f"{rss_kb // 1024} MB"  # torch itself is ~250 MB; the layer would be 1 TB


def test_build_limits_are_options():
    torch = pytest.importorskip("torch")  # noqa: F841
    net = cnndsl.parse(H + "conv 3x3x4; gap; fc 2")
    with pytest.raises(CnnError, match="max_params"):
        cnndsl.build(net, max_params=10)
    assert sum(p.numel() for p in cnndsl.build(net, max_params=None).parameters()) == 122
    big = cnndsl.parse(BIG_ACTIVATIONS)
    with pytest.raises(CnnError, match="activation elements"):
        cnndsl.build(big)
    assert cnndsl.build(big, max_activations=None) is not None  # small weights: fine when allowed


def test_compile_refuses_too_many_params(tmp_path, capsys):
    path = tmp_path / "big.cnn"
    path.write_text(BIG_PARAMS)
    capsys.readouterr()
    assert main(["compile", str(path)]) == 2
    err = capsys.readouterr().err
    assert_positioned(path, err, "would need 262,145,000,000 parameters")
    assert main(["compile", str(path), "--max-params", "none"]) == 0
    assert "class Big(nn.Module)" in capsys.readouterr().out
    path.write_text(BIG_ACTIVATIONS)
    assert main(["compile", str(path)]) == 2
    assert "activation elements" in capsys.readouterr().err
    assert main(["compile", str(path), "--max-activations", "2G"]) == 0


# ---------------------------------------------------------------------------------------------
# no code execution


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile"}
FORBIDDEN_ATTRS = {("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"), ("os", "system"),
                   ("subprocess", "Popen"), ("subprocess", "run"), ("subprocess", "call")}
# `cnndsl verify --against package.module:function` imports the PyTorch module the user names on the
# command line (their own code, never text from a .cnn file or a web request): the one computed import
USER_IMPORTS = {"cnndsl/backends/verify.py"}
# Programs run with a fixed argument list (no shell), the drawing on stdin: Graphviz's `dot` for the graph
# style, librsvg's `rsvg-convert` for PNG and PDF volume drawings
CONVERTERS = {"cnndsl/backends/graphviz.py", "cnndsl/backends/volumes.py"}


def test_package_never_evaluates_text():
    """An `ast` scan of every module: no eval/exec/compile/__import__, no pickle or marshal
    loading, no shell; `torch.load` only with weights_only=True."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
                found.append(f"{where}: {f.id}()")
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                converter = (f.value.id, f.attr) == ("subprocess", "run") and path.relative_to(ROOT).as_posix() in \
                    CONVERTERS and not any(k.arg == "shell" for k in node.keywords)
                if (f.value.id, f.attr) in FORBIDDEN_ATTRS and not converter:
                    found.append(f"{where}: {f.value.id}.{f.attr}()")
                if f.value.id == "torch" and f.attr == "load":
                    safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                               for k in node.keywords)
                    if not safe:
                        found.append(f"{where}: torch.load without weights_only=True")
            if isinstance(f, ast.Attribute) and f.attr in ("import_module",) and node.args:
                arg = node.args[0]
                if not (isinstance(arg, ast.JoinedStr) and str(ast.unparse(arg)).startswith("f'cnndsl.")) \
                        and path.relative_to(ROOT).as_posix() not in USER_IMPORTS:
                    found.append(f"{where}: import_module of a computed name")
    assert not found, "\n".join(found)


class _Evil:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_weights_pickle_is_not_executed(tmp_path):
    torch = pytest.importorskip("torch")
    sentinel = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"conv.weight": _Evil(sentinel)}, f)
    evil2 = tmp_path / "evil2.pt"
    torch.save({"x": torch.zeros(1)}, evil2)  # a real torch zip, then a payload saved the torch way
    torch.save({"fc.weight": _Evil(sentinel)}, evil2)
    net = cnndsl.parse(H + "conv: conv 1x1x2")
    for path in (evil, evil2):
        with pytest.raises(CnnError, match="cannot read"):
            cnndsl.build(net, weights=path)
        from cnndsl import load_matching

        with pytest.raises(CnnError):
            load_matching(cnndsl.build(net), path)
    assert not sentinel.exists()


SMUGGLE = [
    # network, block and param names are NAMEs; labels are checked; but try anyway
    "network __import__\n" + H + "relu\n",
    "network x__import__\n" + H + "relu\n",
    "network exec\nparam __builtins__ = 4\n" + H + "conv 1x1x{__builtins__}\n",
    "block os(c) { conv 1x1x{c} }\nblock __import__(c) { relu; conv 1x1x{c} }\n" + H + "os(2); __import__(3)\n",
    "block system(c) { x: conv 1x1x{c}; self: relu }\n" + H + "system(2)\n",
    H + "torch: conv 1x1x4; nn: relu; F: relu; x: relu; aux: relu; OrderedDict: relu\n",
    H + "__class__: relu\n",
    H + "a\"b: relu\n",
    H + "a'b: relu\n",
    H + "a\\nb: relu\n",
    H + 'x: conv 1x1x4; aux from x < gap; fc 2 >; l2: relu; __init__: relu\n',
    'network n\n"""; import os; os.system("touch pwned"); """\n' + H + "relu\n",
    "# \"\"\"\nnetwork n\n" + H + "relu  # \"\"\"; import os; os.system('touch pwned')\n",
]


@pytest.mark.parametrize("text", SMUGGLE)
def test_emitted_source_cannot_smuggle_code(tmp_path, text, monkeypatch):
    pytest.importorskip("torch")
    from cnndsl.backends.torch_source import emit

    monkeypatch.chdir(tmp_path)
    weird = tmp_path / 'a"""b\\ne; import os; os.system("touch pwned") #.cnn'
    weird.write_text(text, encoding="utf-8")
    try:
        net = cnndsl.parse_file(weird)
        source = emit(net)
    except CnnError:
        return  # refused: fine
    tree = ast.parse(source)  # compiles
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not calls & {"os.system", "eval", "exec", "__import__", "compile"}, calls
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert imported <= {"torch", "torch.nn.functional", "nn", "OrderedDict", "namedtuple"}, imported
    out = tmp_path / "emitted.py"
    out.write_text(source, encoding="utf-8")
    run = ("import runpy, sys; ns = runpy.run_path(sys.argv[1]); import torch; "
           "cls = [v for v in ns.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)][-1]; cls()")
    subprocess.run([sys.executable, "-c", run, str(out)], cwd=tmp_path, check=True, timeout=120,
                   capture_output=True)
    assert not (tmp_path / "pwned").exists()


def test_limits_are_documented_numbers():
    """The numbers docs/guarantees.md states are the ones in the code."""
    from cnndsl import elaborate, expr, syntax
    from cnndsl.passes import size

    doc = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    for value in (syntax.MAX_FILE_BYTES, syntax.MAX_NESTING, syntax.MAX_STATEMENTS, syntax.MAX_WORDS,
                  syntax.MAX_WORD, expr.MAX_DEPTH, expr.MAX_DIGITS, elaborate.MAX_NODES, elaborate.MAX_REPEAT,
                  elaborate.MAX_CALL_DEPTH, elaborate.MAX_FILES, size.MAX_PARAMS,
                  size.MAX_ACTIVATIONS):
        assert f"{value:,}" in doc, value
    assert f"2**{int(math.log2(expr.LIMIT))}" in doc
