"""A corpus of malformed programs: each must give exit status 2, `FILE:LINE:COL: error:` at the
spot worked out by hand below, the source line with a caret, and never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnndsl.cli import main

H = "input 32x32x3\n"  # most cases start with this line, so their errors sit on line 2

# (id, program, line, col, words the message must contain, words the hint must contain or None)
CASES = [
    # ---- lexing
    ("bad-char", H + "conv 3x3x64 @\n", 2, 13, "unexpected character '@'", None),
    # a literal word beyond 2**53 (not a hole): found by the hypothesis mutants as an OverflowError
    ("huge-literal", H + "dropout " + "9" * 330 + "\n", 2, 9, "number too large (a 330-digit number)",
     "values must stay below 9,007,199,254,740,992"),
    ("huge-key", H + "se r=" + "9" * 40 + "\n", 2, 4, "number too large", None),
    ("inf-literal", H + "dropout 1e999\n", 2, 9, "number too large (inf)", None),
    ("huge-droppath", H + "droppath " + "9" * 40 + "\n", 2, 10, "number too large", None),
    ("power-op", "param a = 2 ** 3\ninput 8x8x3\n", 1, 14, "unexpected", None),
    ("stray-brace", H + "conv 3x3x64 }\n", 2, 13, "unexpected", "closes nothing"),
    ("unclosed-string", 'use "x.cnn\n' + H, 1, 5, "unexpected character", None),
    # ---- parsing
    ("unclosed-group", H + "residual < conv 3x3x3 same\n", 2, 10, "'<' is never closed", "close it with '>'"),
    ("stray-close", H + "conv 3x3x8 >\n", 2, 12, "unexpected '>'", "outside any < ... > group"),
    ("stray-bar", H + "conv 3x3x8 | relu\n", 2, 12, "unexpected '|'", "outside any < ... > group"),
    ("unclosed-block", H + "block b(c) {\n  conv 3x3x{c}\n", 2, 12, "'{' is never closed", "'}'"),
    ("unclosed-repeat", H + "repeat 2 { relu\n", 2, 10, "'{' is never closed", "'}'"),
    ("unclosed-call", H + "b(3\n", 2, 4, "unexpected", None),
    ("double-colon", H + "a: b: conv 3x3x8\n", 2, 5, "unexpected ':'", "label"),
    ("param-no-value", "param a =\n" + H, 1, 10, "unexpected", None),
    ("repeat-no-body", H + "repeat 3 conv 3x3x8\n", 2, 10, "unexpected", None),
    ("block-no-parens", H + "block b { relu }\n", 2, 9, "unexpected", None),
    ("empty-expr", H + "conv 3x3x{}\n", 2, 11, "unexpected end of file", None),
    ("bad-expr", H + "conv 3x3x{2 +}\n", 2, 14, "unexpected end of file", None),
    # ---- names
    ("unknown-layer", H + "conb 3x3x64\n", 2, 1, "unknown layer 'conb'", "did you mean 'conv'"),
    ("unknown-layer-2", H + "maxpol 2\n", 2, 1, "unknown layer 'maxpol'", "'maxpool'"),
    ("unknown-block", "block basic(c) { relu }\n" + H + "basik(3)\n", 3, 1, "unknown block 'basik'", "'basic'"),
    ("layer-as-call", H + "relu()\n", 2, 1, "unknown block 'relu'", "is a layer"),
    ("block-as-layer", "block basic(c) { relu }\n" + H + "basic 3\n", 3, 1, "unknown layer 'basic'", "basic(c)"),
    ("unknown-name", H + "conv 3x3x{widht}\n", 2, 11, "unknown name 'widht'", "declare it with 'param widht = ...'"),
    ("unknown-name-scope", "param a = 1\nblock b(c) { conv 1x1x{width} }\n" + H + "b(8)\n", 2, 24,
     "unknown name 'width'", "declare it with 'param width = ...'; the names here are a, c"),
    ("unknown-param-name", "param width = 8\n" + H + "conv 3x3x{widht}\n", 3, 11, "unknown name 'widht'", "'width'"),
    ("unknown-function", H + "conv 3x3x{sqrt(4)}\n", 2, 11, "unknown function 'sqrt'", None),
    ("unknown-option", H + "conv 3x3x8 strid2\n", 2, 12, "unknown option 'strid2'", None),
    ("unknown-key", H + "se q=4\n", 2, 4, "no option 'q='", None),
    ("aux-from-unknown", H + "a: conv 3x3x8\naux from b < gap; fc 2 >\n", 3, 1, "no earlier statement is labeled 'b'",
     None),
    ("duplicate-label", H + "a: relu\na: relu\n", 3, 1, "'a' is used twice", None),
    # ---- from LABEL, split, upsample, convtranspose, shuffle
    ("from-later", H + "concat < from b | relu >\nb: relu\n", 2, 10, "'b' comes later (line 3)", "earlier labels"),
    ("from-unknown", H + "stem: relu\nadd < from sten | relu >\n", 3, 7, "no earlier statement is labeled 'sten'",
     "did you mean 'stem'"),
    ("from-other-branch", H + "concat < a: relu | from a >\n", 2, 20, "'a' is inside another branch",
     "sequences around it"),
    ("from-not-first", H + "add < relu; from x | relu >\n", 2, 13, "'from' starts a branch", None),
    ("from-in-sequence", H + "a: relu\nfrom a\n", 3, 1, "'from' starts a branch", None),
    ("from-in-split", H + "a: conv 1x1x4\nsplit < from a | relu >\n", 3, 9, "'from' starts a branch", None),
    ("from-aux-head", H + "h: aux < gap; fc 2 >\nadd < from h | relu >\n", 3, 7, "'h' is an auxiliary head",
     "the statement before the head"),
    ("from-labeled", H + "a: relu\nadd < b: from a | relu >\n", 3, 7, "'from' takes no label", None),
    ("split-odd", H + "split < relu | relu >\n", 2, 1, "2 equal chunks", "a multiple of 2"),
    ("upsample-zero", H + "upsample 0\n", 2, 10, "upsampling factor must be at least 1", None),
    ("upsample-smaller", H + "upsample 2\nupsample to input\n", 3, 1, "would shrink 64x64 to 32x32",
     "only enlarges"),
    ("upsample-to-unknown", H + "upsample to foo\n", 2, 1, "no earlier statement is labeled 'foo'", None),
    ("upsample-corners-nearest", H + "upsample 2 align_corners\n", 2, 12, "option of bilinear", "'bilinear'"),
    ("convtranspose-output-padding", H + "convtranspose 2x2x8 s2 output_padding=2\n", 2, 24,
     "output_padding (2) must be smaller", None),
    ("shuffle-groups", H + "shuffle 2\n", 2, 1, "divisible by 2, got 3", None),
    ("reserved-label", H + "forward: relu\n", 2, 1, "reserved", None),
    ("bad-label", H + "2x: relu\n", 2, 1, "not a valid label", None),
    ("inline-leaf", H + "_: conv 3x3x8\n", 2, 1, "'_'", None),
    # ---- wrong arguments
    ("block-missing-arg", "block b(c, s=1) { conv 3x3x{c} s{s} }\n" + H + "b()\n", 3, 1, "missing the argument 'c'",
     "b(c, s=1)"),
    ("block-too-many", "block b(c) { conv 3x3x{c} }\n" + H + "b(1, 2)\n", 3, 1, "takes 1 arguments, got 2", "b(c)"),
    ("block-unknown-kw", "block b(c) { conv 3x3x{c} }\n" + H + "b(d=1)\n", 3, 1, "no argument 'd'", "b(c)"),
    ("block-twice-kw", "block b(c) { conv 3x3x{c} }\n" + H + "b(1, c=2)\n", 3, 1, "got 'c' twice", None),
    ("conv-no-channels", H + "conv 3x3\n", 2, 6, "needs a kernel and channels", None),
    ("conv-nothing", H + "conv\n", 2, 1, "needs a kernel and channels", None),
    ("fc-no-size", H + "flatten; fc\n", 2, 10, "needs a number of outputs", None),
    ("stride-twice", H + "conv 3x3x8 s1 s2\n", 2, 15, "'s' given twice", None),
    ("two-activations", H + "conv 3x3x8 relu tanh\n", 2, 17, "more than one activation", None),
    ("padding-twice", H + "conv 3x3x8 same p1\n", 2, 17, "padding given twice", None),
    ("group-two-branches", H + "< relu | relu >\n", 2, 1, "a group takes one branch", "concat"),
    ("residual-three", H + "residual < relu | relu | relu >\n", 2, 1, "at most|takes", None),
    ("concat-one", H + "concat < relu >\n", 2, 1, "takes at least 2 branches", None),
    ("residual-no-group", H + "residual\n", 2, 1, "needs a < ... > group", None),
    ("conv-with-group", H + "conv 3x3x8 < relu >\n", 2, 1, "takes no < ... > group", None),
    ("eps-without-bn", H + "conv 3x3x8 eps=0.001\n", 2, 12, "add 'bn'", None),
    # ---- bad values
    ("kernel-zero", H + "conv 0x3x8\n", 2, 6, "kernel size must be at least 1", None),
    ("channels-fraction", H + "conv 3x3x{8 * 1.5 + 0.5}\n", 2, 6, "channels must be a whole number", "int("),
    ("dropout-big", H + "dropout 1.5\n", 2, 9, "dropout probability must be in [0, 1)", None),
    ("dropout-negative", H + "dropout -0.1\n", 2, 9, "dropout probability", None),
    ("negative-stride", H + "conv 3x3x8 s{-1}\n", 2, 12, "unknown option|stride", None),
    ("same-even", H + "conv 2x2x8 same\n", 2, 12, "'same' needs an odd kernel", "p1"),
    ("pool-pad", H + "maxpool 2 p2\n", 2, 1, "more than half the window", None),
    ("se-zero", H + "se r=0\n", 2, 4, "at least 1", None),
    ("div-zero", H + "conv 3x3x{8 // 0}\n", 2, 11, "division by zero", None),
    ("huge-number", H + "conv 3x3x{99999999 * 99999999 * 99999999}\n", 2, 11, "number too large", None),
    ("bad-input", "input 32x32\n", 1, 7, "input must be H x W x C", None),
    ("no-input", "conv 3x3x8\n", 1, 1, "no 'input' line", "input 224x224x3"),
    ("input-twice", H + H, 2, 1, "'input' given twice", None),
    ("param-twice", "param a = 1\nparam a = 2\n" + H, 2, 1, "declared twice", None),
    ("param-reserved", "param weights = 1\n" + H, 1, 1, "'weights' is reserved", "cnndsl.load"),
    ("param-reserved-2", H + "param outputs = 2\n", 2, 1, "'outputs' is reserved", None),
    ("block-twice", "block b() { relu }\nblock b() { relu }\n" + H, 2, 1, "defined twice", None),
    ("block-named-layer", "block conv() { relu }\n" + H, 1, 1, "named like the layer", None),
    ("repeat-float", H + "repeat 2.5 { relu }\n", 2, 8, "repeat count must be a whole number", None),
    ("function-arity", H + "conv 3x3x{max()}\n", 2, 11, "max() takes 2 to 16 arguments", None),
    # a builtin given too few or too many arguments, wherever an expression goes
    ("max-one", H + "conv 3x3x{max(4)}\n", 2, 11, "max() takes 2 to 16 arguments, got 1", "like max(a, b, ...)"),
    ("min-one", H + "conv 3x3x{min(4)}\n", 2, 11, "min() takes 2 to 16 arguments, got 1", "like min(a, b, ...)"),
    ("min-param", "param a = min(4)\n" + H, 1, 11, "min() takes 2 to 16 arguments, got 1", None),
    ("max-block-arg", "block b(c) { conv 1x1x{c} }\n" + H + "b(max(8))\n", 3, 3, "max() takes 2 to 16", None),
    ("max-repeat", H + "repeat {max(2)} { relu }\n", 2, 9, "max() takes 2 to 16 arguments", None),
    ("min-repeat-bare", H + "repeat min(2) { relu }\n", 2, 8, "min() takes 2 to 16 arguments", None),
    ("max-many", H + "conv 3x3x{max(" + ", ".join(["1"] * 17) + ")}\n", 2, 11, "takes 2 to 16 arguments, got 17",
     None),
    ("int-two", H + "conv 3x3x{int(2, 3)}\n", 2, 11, "int() takes 1 argument, got 2", "like int(x)"),
    ("round-three", H + "conv 3x3x{round(2, 3, 4)}\n", 2, 11, "round() takes 1 to 2 arguments, got 3", None),
    ("ceil-none", H + "conv 3x3x{ceil()}\n", 2, 11, "ceil() takes 1 argument, got 0", "like ceil(x)"),
    ("floor-two", H + "conv 3x3x{floor(1, 2)}\n", 2, 11, "floor() takes 1 argument, got 2", None),
    ("divisible-one", H + "conv 3x3x{divisible(8)}\n", 2, 11, "divisible() takes 2 to 3 arguments, got 1",
     "like divisible(x, d)"),
    # ---- stray words: every word of a statement is used or is an error
    ("se-number", "input 8x8x32\nse 8\n", 2, 4, "'se' takes no positional value", "did you mean 'se r=8'?"),
    ("bn-number", H + "bn 5\n", 2, 4, "'bn' takes no positional value", "eps="),
    ("relu-number", H + "relu 3\n", 2, 6, "'relu' takes no positional value", None),
    ("gelu-number", H + "gelu 2\n", 2, 6, "'gelu' takes no positional value", None),
    ("softmax-number", H + "softmax 1\n", 2, 9, "'softmax' takes no positional value", None),
    ("leakyrelu-number", H + "leakyrelu 0.2\n", 2, 11, "'leakyrelu' takes no positional value",
     "did you mean 'leakyrelu slope=0.2'?"),
    ("lrn-number", H + "lrn 3\n", 2, 5, "'lrn' takes no positional value", "did you mean 'lrn size=3'?"),
    ("gap-number", H + "gap 3\n", 2, 5, "'gap' takes no arguments", None),
    ("identity-number", H + "identity 4\n", 2, 10, "'identity' takes no arguments", None),
    ("residual-number", H + "residual 2 < relu >\n", 2, 10, "'residual' takes no positional value", "if_same"),
    ("if-same-number", H + "residual if_same 3 < relu >\n", 2, 18, "'residual' takes no positional value", None),
    ("add-number", H + "add 2 < relu | relu >\n", 2, 5, "'add' takes no positional value", None),
    ("concat-after", H + "concat < relu | relu > 3\n", 2, 24, "'concat' takes no positional value", None),
    ("residual-after", H + "residual < relu > 2\n", 2, 19, "'residual' takes no positional value", None),
    ("conv-two-numbers", H + "conv 3x3x8 16\n", 2, 12, "'conv' takes one positional value (a kernel and channels)",
     "like `conv 3x3x64`"),
    ("dropout-two-numbers", H + "dropout 0.5 0.2\n", 2, 13, "'dropout' takes one positional value (a probability)",
     None),
    ("slope-without-leaky", H + "conv 3x3x8 relu slope=0.2\n", 2, 17, "'slope' sets the slope of 'leakyrelu'", None),
    ("slope-on-bn", H + "bn slope=0.2\n", 2, 4, "'slope' sets the slope of 'leakyrelu'", None),
    # ---- shapes
    ("too-small", "input 4x4x3\nconv 7x7x8\n", 2, 1, "too small for a 7x7 kernel", None),
    ("residual-mismatch", H + "residual < conv 3x3x8 s2 same >\n", 2, 1, "residual body and shortcut disagree",
     "projection shortcut"),
    ("concat-mismatch", H + "concat < conv 3x3x8 same | conv 3x3x8 >\n", 2, 1, "concat branches", None),
    ("groups-divide", H + "conv 3x3x8 g2\n", 2, 1, "groups (2) must divide", None),
    ("fc-not-flat", H + "fc 10\n", 2, 1, "needs a flat input", "flatten"),
    ("conv-after-flat", H + "flatten; conv 3x3x8\n", 2, 10, "needs an H x W x C feature map", None),
    ("add-mismatch", H + "add < conv 1x1x8 | conv 1x1x4 >\n", 2, 1, "add branches disagree", None),
    ("se-too-few", "input 8x8x4\nse r=16\n", 2, 1, "squeezes 4 channels to none", None),
    # ---- the leaf constructs of issue 13
    ("pixelshuffle-channels", H + "pixelshuffle 2\n", 2, 1, "channels divisible by 4, but its input has 3", None),
    ("pixelshuffle-zero", H + "pixelshuffle 0\n", 2, 14, "upscale factor must be at least 1", None),
    ("pixelshuffle-none", H + "pixelshuffle\n", 2, 1, "needs an upscale factor", "pixelshuffle 2"),
    ("droppath-one", H + "droppath 1\n", 2, 10, "droppath probability must be in [0, 1), got 1", None),
    ("droppath-none", H + "droppath\n", 2, 1, "needs a probability", "droppath 0.1"),
    ("scale-flat", H + "flatten; scale\n", 2, 10, "needs an H x W x C feature map", None),
    ("scale-number", H + "scale 2\n", 2, 7, "'scale' takes no positional value", "did you mean 'scale init=2'?"),
    ("fc-channels-flat", H + "flatten; fc 8 channels\n", 2, 10, "needs an H x W x C feature map", None),
    ("fc-channels-bn", H + "fc 8 channels bn\n", 2, 15, "'fc ... channels' takes no 'bn'", "layernorm"),
    ("layernorm-number", H + "layernorm 2\n", 2, 11, "'layernorm' takes no positional value", "eps=2"),
    ("se-squeeze-and-r", H + "se squeeze=4 r=2\n", 2, 14, "'r=' has no effect with 'squeeze='", None),
    ("se-unknown-gate", H + "se gate=tanh\n", 2, 4, "unknown gate 'tanh'", "hardsigmoid"),
    ("se-unknown-act", H + "se act=swish\n", 2, 4, "unknown act 'swish'", None),
    # ---- limits
    ("repeat-huge", H + "repeat 1000000000 { relu }\n", 2, 8, "over the limit", None),
    ("repeat-product", H + "repeat 1000 { repeat 1000 { relu } }\n", 2, 1, "more than 200,000 layers", None),
    ("recursion", "block b() { b() }\n" + H + "b()\n", 1, 13, "nested more than 64 deep", "call itself"),
    ("nesting", H + "<" * 150 + "relu" + ">" * 150 + "\n", 2, 101, "nested more than 100 deep", None),
    ("nul-byte", H + "conv 3x3x8\x00\n", 2, 11, "NUL byte", None),
]


@pytest.mark.parametrize("program,line,col,message,hint", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error(tmp_path, capsys, program, line, col, message, hint):
    path = tmp_path / "bad.cnn"
    path.write_text(program, encoding="utf-8")
    status = main(["check", str(path)])
    err = capsys.readouterr().err
    assert status == 2, err
    head = err.splitlines()[0]
    assert head.startswith(f"{path}:{line}:{col}: error: "), err
    assert any(m in head for m in message.split("|")), err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[2].lstrip(" 0123456789").startswith("|") and "^" in lines[2], err  # the caret line
    if hint:
        assert any(ln.startswith("hint: ") and hint in ln for ln in lines), err


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


def test_caret_under_the_spot(tmp_path, capsys):
    path = tmp_path / "bad.cnn"
    path.write_text("input 32x32x3\nconv 3x3x8 strid2\n")
    main(["check", str(path)])
    lines = capsys.readouterr().err.splitlines()
    assert lines[1] == " 2 | conv 3x3x8 strid2"
    assert lines[2] == "   |            ^^^^^^"


@pytest.mark.parametrize("name,make", [
    ("missing", lambda p: None),
    ("folder", lambda p: p.mkdir()),
    ("not-utf8", lambda p: p.write_bytes(b"input 8x8x3\nconv 3x3x8 \xff\xfe\n")),
    ("binary", lambda p: p.write_bytes(bytes(range(256)) * 4)),
])
def test_unreadable_files(tmp_path, capsys, name, make):
    path = tmp_path / "x.cnn"
    make(path)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_not_utf8_position(tmp_path, capsys):
    path = tmp_path / "x.cnn"
    path.write_bytes(b"input 8x8x3\nconv 3x3x8 \xff\n")
    main(["check", str(path)])
    assert capsys.readouterr().err.startswith(f"{path}:2:12: error: the file is not UTF-8")


def test_bad_set_argument(tmp_path, capsys):
    path = tmp_path / "x.cnn"
    path.write_text("param w = 8\ninput 8x8x3\nconv 3x3x{w}\n")
    assert main(["check", str(path), "--set", "w"]) == 2
    assert main(["check", str(path), "--set", "ww=3"]) == 2
    assert main(["check", str(path), "--set", "w=abc"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'w'" in err and "Traceback" not in err


def test_bad_command_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["nosuchcommand"])
    assert exc.value.code == 2


def test_real_process_exit_status(tmp_path):
    """The installed entry point: exit 2, positioned message, no traceback."""
    path = tmp_path / "bad.cnn"
    path.write_text("input 8x8x3\nconb 3x3x8\n")
    r = subprocess.run([sys.executable, "-m", "cnndsl", "check", str(path)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith(f"{path}:2:1: error: unknown layer 'conb'")
    assert "Traceback" not in r.stderr
