"""Hypothesis strategies that write random cnndsl programs as text.

`programs()` draws syntactically valid programs that elaborate (values in range, names bound)
from every construct: params and expressions, blocks with default arguments and calls,
repeat (with an index `as i`, used in expressions and in label holes `blk{i + 4}`), labels
(including `_`), groups, residual (identity, projection and `if_same`), add, concat, se,
aux, every layer kind and option, comments (Korean included), and random separators and
spacing. Shapes are not guaranteed to fit (fmt does not need them to).
"""

from __future__ import annotations

from hypothesis import strategies as st

ACTS = ["relu", "relu6", "sigmoid", "tanh", "softmax", "silu", "hardswish", "leakyrelu"]
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
                                 "lrn", "act", "se", "identity", "adaptiveavgpool"]))
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
        return f"fc {n(1, 100)}" + (f" {draw(st.sampled_from(ACTS))}" if draw(st.booleans()) else "")
    if kind == "dropout":
        return f"dropout {draw(st.sampled_from(['0.2', '0.5', '0', '0.75']))}"
    if kind == "bn":
        return draw(st.sampled_from(["bn", "bn relu", "bn eps=0.001", "bn momentum=0.01 relu6"]))
    if kind == "lrn":
        return "lrn size=5 alpha=0.0001 beta=0.75 k=2"
    if kind == "act":
        return draw(st.sampled_from(ACTS))
    if kind == "se":
        return f"se r={draw(st.sampled_from([2, 4, 16]))}"
    if kind == "adaptiveavgpool":
        return "adaptiveavgpool 4x4"
    return kind


@st.composite
def statement(draw, depth=0, names=(), blocks=(), labels=None):
    labels = labels if labels is not None else set()
    choices = ["layer"] * 6 + (["group", "residual", "concat", "add", "repeat", "aux"] if depth < 2 else [])
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
    if kind in ("concat", "add"):
        if label == "" and draw(st.booleans()):
            label, shared[0] = "_: ", labels
        return f"{label}{kind} < {body()} | {body()} >"
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
