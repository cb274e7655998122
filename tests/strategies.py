"""Hypothesis strategies that write random cnndsl programs as text.

`programs()` draws syntactically valid programs that elaborate (values in range, names bound)
from every construct: params and expressions, blocks with default arguments and calls,
repeat (with an index `as i`, used in expressions and in label holes `blk{i + 4}`), labels
(including `_`), groups, residual (identity, projection and `if_same`), add, concat, se,
split, `from LABEL` branches, aux, every layer kind and option, comments (Korean included), and random separators and
spacing. Shapes are not guaranteed to fit (fmt does not need them to).
"""

from __future__ import annotations

from hypothesis import strategies as st

from cnndsl.layers.base import ACTIVATIONS

ACTS = sorted(ACTIVATIONS)  # every activation, as a statement and as a fused option
LABELS = ["stem", "layer1", "conv1", "bn1", "head", "x", "features"]
INDEXES = ["i", "j"]  # repeat indices, by nesting depth
COMMENTS = ["# note", "# 합성곱 층", "# stride 2: 해상도 절반", "#", "# a | b < c >"]


@st.composite
def spaces(draw):
    return draw(st.sampled_from([" ", "  ", "\t", " "]))


@st.composite
def number(draw, lo=1, hi=64, names=()):
    """A positive whole number, as a literal or as an `{expr}` hole over the names in scope."""
    n = draw(st.integers(lo, hi))
    if names and draw(st.booleans()):
        name = draw(st.sampled_from(sorted(names)))
        form = draw(st.sampled_from(["{%s}", "{max(%s, %d)}", "{%d + %s * 0}", "{int(%d)}"]))
        if form == "{%s}":
            return f"{{max({name}, {n})}}"
        if form == "{max(%s, %d)}":
            return f"{{max({name}, {n})}}"
        if form == "{%d + %s * 0}":
            return f"{{{n} + {name} * 0}}"
        return f"{{int({n})}}"
    return str(n)


@st.composite
def layer(draw, names=()):
    kind = draw(st.sampled_from(["conv", "dwconv", "maxpool", "avgpool", "gap", "flatten", "fc", "dropout", "bn",
                                 "lrn", "act", "se", "identity", "adaptiveavgpool", "layernorm", "pixelshuffle",
                                 "droppath", "scale", "upsample", "convtranspose", "shuffle"]))
    n = lambda lo=1, hi=64: draw(number(lo, hi, names))  # noqa: E731
    if kind == "conv":
        k = draw(st.sampled_from([1, 3, 5, 7]))
        words = ["conv", f"{k}x{k}x{n()}"]
        words += draw(st.lists(st.sampled_from(["s2", "same", "p1", "d2", "nobias", "bn"]), unique=True, max_size=3))
        if "same" in words and "p1" in words:
            words.remove("p1")
        if draw(st.booleans()):
            words.append(draw(st.sampled_from(ACTS)))
        return " ".join(words)
    if kind == "dwconv":
        return f"dwconv 3x3 {draw(st.sampled_from(['s1', 's2', 'same', 'p1']))} nobias bn relu"
    if kind in ("maxpool", "avgpool"):
        return f"{kind} {draw(st.sampled_from(['2', '3 s2', '3 s1 same', '3 s2 p1 ceil', '2x2']))}"
    if kind == "fc":
        return f"fc {n(1, 100)}" + (" channels" if draw(st.integers(0, 3)) == 0 else "") + \
            (f" {draw(st.sampled_from(ACTS))}" if draw(st.booleans()) else "")
    if kind == "layernorm":
        return draw(st.sampled_from(["layernorm", "layernorm eps=1e-6"]))
    if kind == "pixelshuffle":  # most channel counts do not divide by r^2: a shape error
        return f"pixelshuffle {draw(st.sampled_from([1, 2, 3]))}"
    if kind == "droppath":
        return f"droppath {draw(st.sampled_from(['0', '0.1', '0.5']))}"
    if kind == "scale":
        return draw(st.sampled_from(["scale", "scale init=1e-6", "scale init=0"]))
    if kind == "dropout":
        return f"dropout {draw(st.sampled_from(['0.2', '0.5', '0', '0.75']))}"
    if kind == "bn":
        return draw(st.sampled_from(["bn", "bn relu", "bn eps=0.001", "bn momentum=0.01 relu6"]))
    if kind == "lrn":
        return "lrn size=5 alpha=0.0001 beta=0.75 k=2"
    if kind == "act":
        return draw(st.sampled_from(ACTS))
    if kind == "se":
        return draw(st.sampled_from(["se r=", "se r=4 divisor=", "se squeeze=", "se gate=hardsigmoid act=silu r="])) \
            + str(draw(st.sampled_from([2, 4, 16])))
    if kind == "adaptiveavgpool":
        return "adaptiveavgpool 4x4"
    if kind == "upsample":
        return "upsample " + draw(st.sampled_from(["2", "2 bilinear", "3 bilinear align_corners", "to input",
                                                   "to input bilinear", f"to {draw(st.sampled_from(LABELS))}"]))
    if kind == "convtranspose":
        return f"convtranspose 2x2x{n()} s2" + draw(st.sampled_from(["", " nobias", " p1 output_padding=1 bn relu"]))
    if kind == "shuffle":
        return f"shuffle {n(1, 4)}"
    return kind


@st.composite
def statement(draw, depth=0, names=(), blocks=(), labels=None):
    labels = labels if labels is not None else set()
    choices = ["layer"] * 6 + (["group", "residual", "concat", "add", "mul", "split", "repeat", "aux"]
                               if depth < 2 else [])
    if blocks:
        choices += ["call"] * 2
    kind = draw(st.sampled_from(choices))
    label = ""
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(LABELS))
        if name not in labels:
            labels.add(name)
            label = f"{name}: "
    shared = [set()]  # the branches of one combinator share one namespace (with `_:`, the enclosing one)
    body = lambda: draw(sequence(depth + 1, names, blocks, shared[0]))  # noqa: E731
    if kind == "layer":
        return label + draw(layer(names))
    if kind == "group":
        return f"{label}< {body()} >"
    if kind == "residual":
        if draw(st.booleans()):
            return f"{label}residual < {body()} > {draw(st.sampled_from(['', 'relu']))}".rstrip()
        if draw(st.booleans()):
            return f"{label}residual if_same < {body()} >"
        return f"{label}residual < {body()} | {body()} >"
    if kind in ("concat", "add", "mul", "split"):
        if label == "" and draw(st.booleans()):
            label, shared[0] = "_: ", labels
        first = body()
        if kind != "split" and draw(st.booleans()):  # a branch that starts at an earlier labeled tensor
            first = f"from {draw(st.sampled_from(LABELS))}" + draw(st.sampled_from(["", f"; {first}"]))
        return f"{label}{kind} < {first} | {body()} >"
    if kind == "repeat":  # copies share a namespace (unlabeled, the enclosing one): no labels inside
        index = INDEXES[depth] if draw(st.booleans()) else None  # one name per depth: none hides another
        inner_names = (*names, index) if index else names
        inner = draw(sequence(depth + 1, inner_names, blocks, set(LABELS)))
        if index and depth == 0 and "blk{}" not in labels and draw(st.booleans()):  # a label unique per copy
            labels.add("blk{}")
            hole = draw(st.sampled_from(["{%s}", "{%s + 4}", "{2 * %s + 1}"])) % index
            inner = f"blk{hole}: {draw(layer(inner_names))}; {inner}"
        head = f"repeat {draw(st.integers(0, 3))}" + (f" as {index}" if index else "")
        return f"{label}{head} {{ {inner} }}"
    if kind == "aux":
        return f"{label}aux < gap; fc {draw(st.integers(1, 10))} >"
    name, arity = draw(st.sampled_from(sorted(blocks.items())))
    args = [draw(number(1, 32, names)).strip("{}") for _ in range(arity)]
    if arity and draw(st.booleans()):
        args[-1] = f"c={args[-1]}"
    return f"{label}{name}({', '.join(args)})"


@st.composite
def sequence(draw, depth=0, names=(), blocks=(), labels=None):
    labels = set() if labels is None else labels
    stmts = draw(st.lists(statement(depth, names, blocks, labels), min_size=1, max_size=3))
    return "; ".join(stmts)


@st.composite
def programs(draw):
    lines = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(COMMENTS)))
    lines.append(f"network {draw(st.sampled_from(['net', 'tiny', 'lenet5']))}")
    params = draw(st.lists(st.sampled_from(["width", "classes", "alpha"]), unique=True, max_size=3))
    for p in params:
        value = draw(st.sampled_from(["16", "10", "2 * (3 + 5)", "max(4, 8) // 2", "7 % 4 + 1"]))
        lines.append(f"param {p} = {value}")
    lines.append(f"input {draw(st.sampled_from(['32x32x3', '{%s}x{%s}x3' % (params[0], params[0]) if params else '16x16x1']))}")
    blocks = {}
    if draw(st.booleans()):
        blocks["unit"] = 1
        lines.append("block unit(c=8) {")
        lines.append(f"  conv 3x3x{{c}} same nobias bn relu{draw(st.sampled_from(['', '  # 블록']))}")
        lines.append("  conv 1x1x{c}")
        lines.append("}")
    n = draw(st.integers(1, 6))
    top_labels: set[str] = set()
    for _ in range(n):
        stmt = draw(statement(0, tuple(params), blocks, top_labels))
        sep = draw(st.sampled_from(["\n", "\n\n", ";", "; ", "  # " + draw(st.sampled_from(["x", "주석"])) + "\n"]))
        lines.append(stmt + sep)
    return "\n".join(lines).replace(";\n", "\n") + "\n"


# ---------------------------------------------------------------------------------------------
# valid_programs(): programs whose shapes are guaranteed to work, for the whole-pipeline properties
# (tests/test_properties.py). The generator tracks the feature-map shape (H, W, C) -- or (N,) once
# flat -- statement by statement, and only writes a statement whose shape rule holds for it.

from dataclasses import dataclass, field  # noqa: E402


def _conv_out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _pool_out(n, k, s, p, ceil):
    span = n + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


BLOCKS = """block unit(c, s=1) {
  conv 3x3x{c} s{s} same nobias bn relu
  conv 3x3x{c} same nobias bn
}
block proj(c, s=1) { conv 1x1x{c} s{s} nobias bn }
block basic(c) {
  residual < conv 3x3x{c} same nobias bn relu; conv 3x3x{c} same nobias bn > relu
}
"""


@dataclass
class _Gen:
    draw: object
    params: dict = field(default_factory=dict)
    n_labels: int = 0
    input: tuple = ()

    def label(self):
        self.n_labels += 1
        return f"l{self.n_labels}"

    def chans(self, lo=1, hi=12):
        """A channel count as a literal, or through a param: `{width}`, `{width // 2 + 1}`."""
        draw = self.draw
        if self.params and draw(st.integers(0, 3)) == 0:
            name, value = draw(st.sampled_from(sorted(self.params.items())))
            form = draw(st.sampled_from(["{%s}", "{%s // 2 + 1}", "{max(%s, 3) - 2}"]))
            v = {"{%s}": value, "{%s // 2 + 1}": value // 2 + 1, "{max(%s, 3) - 2}": max(value, 3) - 2}[form]
            return form % name, v
        v = draw(st.integers(lo, hi))
        return str(v), v

    # ---- leaves: (text, output shape)
    def fuse_tail(self, words):
        draw = self.draw
        if draw(st.booleans()):
            words.append("bn")
            if draw(st.integers(0, 3)) == 0:
                words.append(draw(st.sampled_from(["eps=0.001", "momentum=0.01"])))
        if draw(st.booleans()):
            act = draw(st.sampled_from(ACTS))
            words.append(act)
            if act == "leakyrelu" and draw(st.booleans()):
                words.append("slope=0.2")
        return words

    def conv(self, x, stride_ok=True):
        draw = self.draw
        h, w, c = x
        for _ in range(8):
            kh = draw(st.sampled_from([1, 3, 5]))
            kw = kh if draw(st.integers(0, 3)) else draw(st.sampled_from([1, 3]))
            s = draw(st.sampled_from([1, 1, 2])) if stride_ok else 1
            d = draw(st.sampled_from([1, 1, 2])) if kh == kw == 3 else 1
            mode = draw(st.sampled_from(["same", "none", "p"])) if stride_ok else "same"
            ctext, cout = self.chans()
            g = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
            if cout % g:
                cout_g = cout * g
                ctext, cout = str(cout_g), cout_g
            words = ["conv", f"{kh}x{kw}x{ctext}"]
            if s != 1:
                words.append(f"s{s}")
            if mode == "same":
                ph, pw = (kh - 1) * d // 2, (kw - 1) * d // 2
                words.append("same")
            elif mode == "p":
                ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
                words.append(f"p{ph}" if ph == pw else f"p{ph}x{pw}")
            else:
                ph = pw = 0
            if d != 1:
                words.append(f"d{d}")
            if g != 1:
                words.append(f"g{g}")
            if draw(st.booleans()):
                words.append("nobias")
            ho, wo = _conv_out(h, kh, s, ph, d), _conv_out(w, kw, s, pw, d)
            if ho >= 1 and wo >= 1:
                return " ".join(self.fuse_tail(words)), (ho, wo, cout)
        return "relu", x

    def dwconv(self, x, stride_ok=True):
        draw = self.draw
        h, w, c = x
        s = draw(st.sampled_from([1, 2])) if stride_ok else 1
        m = draw(st.sampled_from([1, 1, 2]))
        words = ["dwconv", "3x3", "same"] + ([f"s{s}"] if s != 1 else []) + ([f"multiplier={m}"] if m != 1 else [])
        return " ".join(self.fuse_tail(words)), (-(-h // s), -(-w // s), c * m)

    def pool(self, x, kind):
        draw = self.draw
        h, w, c = x
        for _ in range(8):
            k = draw(st.sampled_from([2, 3]))
            s = draw(st.sampled_from([k, 1, 2]))
            p = draw(st.integers(0, k // 2))
            ceil = draw(st.booleans())
            words = [kind, str(k)] + ([f"s{s}"] if s != k else []) + ([f"p{p}"] if p else [])
            words += ["ceil"] if ceil else []
            if kind == "avgpool" and draw(st.booleans()):
                words.append("nopadcount")
            ho, wo = _pool_out(h, k, s, p, ceil), _pool_out(w, k, s, p, ceil)
            if ho >= 1 and wo >= 1:
                return " ".join(words), (ho, wo, c)
        return "identity", x

    def leaf(self, x, stride_ok=True):
        """One leaf statement valid on `x`."""
        draw = self.draw
        if len(x) == 1:
            kind = draw(st.sampled_from(["fc", "fc", "dropout", "bn", "act", "identity"]))
        else:
            kinds = ["conv"] * 4 + ["dwconv", "bn", "act", "dropout", "identity", "lrn", "se", "layernorm", "fcc",
                                    "scale", "droppath", "shuffle"]
            if stride_ok:
                kinds += ["maxpool", "avgpool"] * 2 + ["gap", "adaptive", "flatten", "pixelshuffle", "convtranspose"] \
                    + ["upsample"] * 2  # twice: it applies only to small maps
            kind = draw(st.sampled_from(kinds))
        if kind == "conv":
            return self.conv(x, stride_ok)
        if kind == "dwconv":
            return self.dwconv(x, stride_ok)
        if kind in ("maxpool", "avgpool"):
            return self.pool(x, kind)
        if kind == "gap":
            return "gap", (1, 1, x[2])
        if kind == "adaptive":
            a, b = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            return f"adaptiveavgpool {a}x{b}" if a != b or draw(st.booleans()) else f"adaptiveavgpool {a}", (a, b, x[2])
        if kind == "flatten":
            return "flatten", (x[0] * x[1] * x[2],)
        if kind == "fc":
            ctext, n = self.chans(1, 16)
            words = ["fc", ctext] + (["nobias"] if draw(st.booleans()) else [])
            return " ".join(self.fuse_tail(words)), (n,)
        if kind == "dropout":
            return draw(st.sampled_from(["dropout", "dropout 0.2", "dropout 0"])), x
        if kind == "layernorm":
            return draw(st.sampled_from(["layernorm", "layernorm eps=1e-6"])), x
        if kind == "fcc":
            ctext, n = self.chans(1, 16)
            return f"fc {ctext} channels" + (" gelu" if draw(st.booleans()) else ""), (x[0], x[1], n)
        if kind == "scale":
            return draw(st.sampled_from(["scale", "scale init=1e-6"])), x
        if kind == "droppath":
            return draw(st.sampled_from(["droppath 0", "droppath 0.1"])), x
        if kind == "pixelshuffle":
            r = draw(st.sampled_from([r for r in (1, 2) if x[2] % (r * r) == 0]))
            return f"pixelshuffle {r}", (x[0] * r, x[1] * r, x[2] // (r * r))
        if kind == "bn":
            return draw(st.sampled_from(["bn", "bn relu", "bn eps=0.001", "bn momentum=0.01 relu6"])), x
        if kind == "act":
            act = draw(st.sampled_from(ACTS))
            return act + (" slope=0.1" if act == "leakyrelu" and draw(st.booleans()) else ""), x
        if kind == "lrn":
            return draw(st.sampled_from(["lrn", "lrn size=3 alpha=0.0001 beta=0.75 k=1"])), x
        if kind == "shuffle":
            g = draw(st.sampled_from([g for g in (1, 2, 3) if x[2] % g == 0]))
            return f"shuffle {g}", x
        if kind == "upsample" and x[0] * x[1] <= 256:
            if x[0] <= self.input[0] and x[1] <= self.input[1] and draw(st.booleans()):
                return f"upsample to input{draw(st.sampled_from(['', ' bilinear']))}", (*self.input[:2], x[2])
            f = draw(st.sampled_from([2, 3]))
            mode = draw(st.sampled_from(["", " bilinear", " bilinear align_corners"]))
            return f"upsample {f}{mode}", (x[0] * f, x[1] * f, x[2])
        if kind == "convtranspose" and x[0] * x[1] <= 256:
            ctext, cout = self.chans(1, 8)
            k, p, op = draw(st.sampled_from([(2, 0, 0), (3, 1, 1), (3, 1, 0)]))
            words = ["convtranspose", f"{k}x{k}x{ctext}", "s2"] + ([f"p{p}"] if p else []) + (
                [f"output_padding={op}"] if op else [])
            size = [(n - 1) * 2 - 2 * p + k + op for n in x[:2]]
            return " ".join(self.fuse_tail(words)), (size[0], size[1], cout)
        if kind == "se":
            r = draw(st.sampled_from([r for r in (1, 2, 4) if x[2] // r >= 1]))
            if draw(st.integers(0, 5)) == 0:
                return f"se squeeze={draw(st.integers(1, 4))} act={draw(st.sampled_from(['silu', 'relu6']))}", x
            return f"se r={r}" + draw(st.sampled_from(["", "", " divisor=1", " divisor=8", " act=silu",
                                                       " gate=hardsigmoid"])), x
        return "identity", x

    # ---- sequences and combinators
    def seq(self, x, depth, *, keep_hw=False, keep=False, n=None, labels=True, taps=None):
        """`n` statements from `x`; keep_hw: H x W unchanged (concat branches); keep: the
        whole shape unchanged (repeat bodies)."""
        draw = self.draw
        n = n if n is not None else draw(st.integers(1, 3))
        out, y = [], x
        taps = {} if taps is None else taps  # labels of this sequence -> their output shapes
        for _ in range(n):
            text, y2 = self.stmt(y, depth, stride_ok=not (keep_hw or keep), labels=labels, taps=taps)
            if keep and len(y2) == 3 and y2[2] != x[2]:
                text, y2 = f"{text}; conv 1x1x{x[2]}", (*y2[:2], x[2])
            out.append(text)
            y = y2
        return "; ".join(out), y

    def stmt(self, x, depth, *, stride_ok=True, labels=True, taps=None):
        draw = self.draw
        flat = len(x) == 1
        kinds = ["leaf"] * 5
        if depth < 2 and not flat:
            kinds += ["residual", "add", "mul", "concat", "group", "repeat", "call"]
            if x[2] % 2 == 0:
                kinds.append("split")
        if depth < 2:
            kinds += ["aux"]
        kind = draw(st.sampled_from(kinds))
        label = ""
        if labels and draw(st.integers(0, 3)) == 0:
            label = self.label()
        if kind == "leaf":
            text, y = self.leaf(x, stride_ok)
        elif kind == "group":
            body, y = self.seq(x, depth + 1, keep_hw=not stride_ok, labels=labels)
            if not label and draw(st.booleans()):
                label = "_"
            text = f"< {body} >"
        elif kind == "residual":
            text, y = self.residual(x, depth, stride_ok, labels)
        elif kind in ("add", "mul", "concat"):
            text, y = self.join(kind, x, depth, stride_ok, labels, taps)
            if not label and draw(st.integers(0, 2)) == 0:
                label = "_"
        elif kind == "split":
            half = (x[0], x[1], x[2] // 2)
            body, y = self.seq(half, depth + 1, keep_hw=True, labels=labels)
            if len(y) == 1 or y[:2] != x[:2]:
                body, y = "conv 1x1x2", (x[0], x[1], 2)
            text, y = f"split < identity | {body} >", (x[0], x[1], half[2] + y[2])
            if not label and draw(st.booleans()):
                label = "_"
        elif kind == "repeat":
            body, _ = self.seq(x, depth + 1, keep=True, labels=False)
            text, y = f"repeat {draw(st.integers(0, 3))} {{ {body} }}", x
        elif kind == "call":
            text, y = self.call(x, stride_ok)
        else:
            text, y = self.aux(x, taps)
            if taps and not label and draw(st.booleans()):
                label = "_" if draw(st.booleans()) else ""
        if label and label != "_" and taps is not None and kind != "aux":  # an aux head's output is training-only
            taps[label] = y
        return (f"{label}: {text}" if label else text), y

    def residual(self, x, depth, stride_ok, labels):
        draw = self.draw
        h, w, c = x
        if draw(st.booleans()):  # identity shortcut: a body that keeps the shape
            body, _ = self.seq(x, depth + 1, keep=True, labels=labels)
            return f"residual < {body} >{draw(st.sampled_from(['', ' relu']))}", x
        s = draw(st.sampled_from([1, 2])) if stride_ok and h >= 2 and w >= 2 else 1
        ctext, cout = self.chans(2, 12)
        body = f"conv 3x3x{ctext} s{s} same nobias bn relu; " + self.seq((-(-h // s), -(-w // s), cout), depth + 1,
                                                                          keep=True, labels=labels)[0]
        short = f"conv 1x1x{ctext} s{s} nobias bn"
        return f"residual < {body} | {short} >{draw(st.sampled_from(['', ' relu']))}", (-(-h // s), -(-w // s), cout)

    def join(self, kind, x, depth, stride_ok, labels, taps=None):
        """A join of 2 or 3 branches; the first may start `from` an earlier label of this sequence."""
        text, y = self.branches(kind, x, depth, labels)
        fits = sorted(k for k, t in (taps or {}).items()  # earlier labels whose tensor the join can take
                      if (t == y if kind != "concat" else len(t) == 3 and t[:2] == y[:2]))
        if fits and self.draw(st.booleans()):
            name = self.draw(st.sampled_from(fits))
            head, rest = text.split(" < ", 1)
            extra = taps[name][2] if kind == "concat" else 0
            return f"{head} < from {name} | {rest}", (*y[:2], y[2] + extra)
        return text, y

    def branches(self, kind, x, depth, labels):
        draw = self.draw
        h, w, c = x
        k = draw(st.integers(2, 3))
        if kind == "concat":
            paths, chans = [], 0
            for _ in range(k):
                body, y = self.seq(x, depth + 1, keep_hw=True, labels=labels)
                if len(y) == 1 or y[:2] != (h, w):  # keep_hw leaves could still flatten: keep it simple
                    body, y = "conv 1x1x2", (h, w, 2)
                paths.append(body)
                chans += y[2]
            act = draw(st.sampled_from(["", " relu"]))
            return f"concat < {' | '.join(paths)} >{act}", (h, w, chans)
        body, y = self.seq(x, depth + 1, keep_hw=True, labels=labels)
        if len(y) == 1 or y[:2] != (h, w):
            body, y = "conv 1x1x4", (h, w, 4)
        paths = [body] + [("identity" if y == x and draw(st.booleans()) else f"conv 1x1x{y[2]}") for _ in range(k - 1)]
        return f"{kind} < {' | '.join(paths)} >{draw(st.sampled_from(['', ' relu']))}", y

    def call(self, x, stride_ok):
        draw = self.draw
        h, w, c = x
        which = draw(st.sampled_from(["unit", "proj", "basic"]))
        if which == "basic":
            return f"basic({c})", x
        ctext, cout = self.chans(1, 10)
        arg = ctext.strip("{}")
        s = draw(st.sampled_from([1, 2])) if stride_ok else 1
        form = draw(st.sampled_from(["pos", "kw", "default"])) if s == 1 else draw(st.sampled_from(["pos", "kw"]))
        args = {"pos": f"{arg}, {s}", "kw": f"c={arg}, s={s}", "default": f"{arg}"}[form]
        return f"{which}({args})", (-(-h // s), -(-w // s), cout)

    def aux(self, x, taps):
        draw = self.draw
        src, tap = x, ""
        if taps and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(taps)))
            src, tap = taps[name], f" from {name}"
        n = draw(st.integers(1, 5))
        head = f"fc {n}" if len(src) == 1 or src[:2] == (1, 1) else draw(
            st.sampled_from([f"gap; fc {n}", f"adaptiveavgpool 1; flatten; fc {n}", f"conv 1x1x2; gap; fc {n}"]))
        return f"aux{tap} < {head} >", x


@st.composite
def valid_programs(draw, max_statements=6):
    """A program whose shapes work, and its expected output shape: (text, shape) with shape
    (H, W, C) or (N,). Every construct: each layer kind and option, residual with identity and
    projection shortcuts, add, concat, se, aux (also `aux from LABEL`), labels (also `_`),
    blocks with arguments and defaults, repeat, params and expressions."""
    g = _Gen(draw)
    lines = [f"network {draw(st.sampled_from(['net', 'tiny', 'prop_net']))}"]
    for name in draw(st.lists(st.sampled_from(["width", "base"]), unique=True, max_size=2)):
        value, text = draw(st.sampled_from([(8, "8"), (6, "2 * (1 + 2)"), (4, "max(4, 2) // 1"), (5, "11 % 6")]))
        g.params[name] = value
        lines.append(f"param {name} = {text}")
    lines.append(BLOCKS.rstrip("\n"))
    h = draw(st.sampled_from([8, 12, 16, 32]))
    w = h if draw(st.integers(0, 3)) else draw(st.sampled_from([8, 10, 16]))
    c = draw(st.integers(1, 4))
    if g.params and draw(st.booleans()):
        name = sorted(g.params)[0]
        lines.append(f"input {h}x{w}x{{{name} - {name} + {c}}}")
    else:
        lines.append(f"input {h}x{w}x{c}")
    x = (h, w, c)
    g.input = x
    taps: dict = {}
    for _ in range(draw(st.integers(1, max_statements))):
        text, x = g.stmt(x, 0, taps=taps)
        lines.append(text)
    return "\n".join(lines) + "\n", x
