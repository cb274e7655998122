"""Combinators: sequences `< a; b >`, residual connections (He et al. 2015, arXiv:1512.03385),
element-wise sums `add` and products `mul` (the gates of squeeze-and-excitation and attention),
parallel branches joined on channels `concat` (Szegedy et al. 2014, GoogLeNet's Inception module,
arXiv:1409.4842), channel splits `split` (Ma et al. 2018, ShuffleNet V2, arXiv:1807.11164),
auxiliary classifiers `aux`, `repeat`, and `from LABEL`, the start of a join's branch at an earlier
labeled tensor (U-Net's skips, Ronneberger et al. 2015, arXiv:1505.04597; FPN's top-down paths):
with it a network is any directed acyclic graph.

A combinator is one class that declares what every stage needs:
- its children, once, as data (`branch_fields`); `branches()` reads them;
- its shape rule `infer(x, walk)` (it walks its children through `walk.seq`, which records every
  child's figures, and checks that the branches agree) and its `flops`;
- its `form`, the generic rule every backend applies to it (the PyTorch plan, the emitted source,
  the diagram): `sequence` and `repeat` splice their children into the enclosing sequence,
  `join` runs its branches on one input and combines them (`step` names the runtime step,
  `code` how the emitted source combines the results, `symbol` how the diagram draws the join),
  `residual` adds a body to a shortcut, `aux` is an auxiliary head.

A statement that reads an earlier labeled tensor besides its input (`from LABEL`, `upsample to
LABEL`) says so in `ref()`; `cnndsl.passes.shapes` resolves the label in the enclosing sequences
and the plan passes the tensor into every module in between as an extra forward input.

A new combinator of an existing form is its class here, its runtime step in
`cnndsl/backends/runtime.py` (a join), and its tests.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Literal

from cnndsl.errors import CnnError
from cnndsl.ir import Node, Opt, Shape, fmt_shape
from cnndsl.layers.base import ACTIVATIONS, ActName, Args
from cnndsl.source import Span

if TYPE_CHECKING:  # `Body` (a tuple of any nodes) is resolved by cnndsl.layers once every kind exists
    Body = tuple[Node, ...]


# A combinator's `form` picks the generic rule the plan, the emitted source and the diagram apply
# (each keeps one table keyed by it): `sequence` and `repeat` splice their children into the
# enclosing sequence, `join` combines branches run on one input, `residual` adds a body to a
# shortcut (the input itself if none), `aux` is an auxiliary head.
FORMS = ("sequence", "repeat", "join", "residual", "aux")


class Container(Node):
    family = "combinator"
    takes_branches: ClassVar[bool] = True
    # the fields holding child sequences, in order; a name ending in `*` holds several sequences
    branch_fields: ClassVar[tuple[str, ...]] = ()
    form: ClassVar[str]  # FORMS: the generic rule every backend applies
    step: ClassVar[str | None] = None  # the runtime step that runs it; None: no step of its own
    parallel: ClassVar[bool] = False  # branches start from one input and are joined into a new tensor
    head: ClassVar[bool] = False  # an auxiliary head: run in training mode only, its output collected
    min_branches: ClassVar[int] = 1
    max_branches: ClassVar[int] = 1

    @classmethod
    def decode_branches(cls, keyword: str, opts: list[Opt], branches: list[Body], post: list[Opt],
                        span: Span) -> dict:
        if not cls.min_branches <= len(branches) <= cls.max_branches:
            many = "one branch" if cls.max_branches == 1 else (
                f"{cls.min_branches} branches" if cls.min_branches == cls.max_branches else
                f"{cls.min_branches} to {cls.max_branches} branches" if cls.max_branches < 99 else
                f"at least {cls.min_branches} branches")
            raise CnnError(f"'{keyword}' takes {many}, got {len(branches)}", span,
                           "branches are separated by '|'" if len(branches) < cls.min_branches else
                           "did you mean concat or add?")
        for b in branches:
            if not b and not cls.allow_empty:
                raise CnnError(f"'{keyword}' has an empty branch", span)
        return cls.decode_rest(keyword, opts, branches, post, span)

    allow_empty: ClassVar[bool] = False

    @classmethod
    def decode_rest(cls, keyword, opts, branches, post, span) -> dict:
        Args(keyword, opts, span)
        a = Args(keyword, post, span, flags=tuple(ACTIVATIONS))
        return {"branches_": branches, "act": a.one_of(ACTIVATIONS, "activation")}

    def post_flops(self, y: Shape) -> int:
        act = getattr(self, "act", None)
        return ACTIVATIONS[act].flops * math.prod(y) if act else 0

    def join_words(self) -> list[str]:
        """What follows the join (its activation), as a figure names it: `["ReLU"]`, as a leaf's
        fused tail is named."""
        act = getattr(self, "act", None)
        return [ACTIVATIONS[act].module] if act else []

    def branches(self) -> tuple[Body, ...]:
        out: list = []
        for name in self.branch_fields:
            value = getattr(self, name.rstrip("*"))
            if name.endswith("*"):
                out.extend(value)
            elif value is not None:
                out.append(value)
        return tuple(out)


def _disagree(what: str, shapes: list[Shape], node: Node, hint: str | None = None) -> CnnError:
    got = ", ".join(fmt_shape(s) for s in shapes)
    return CnnError(f"{what} disagree: {got}", node.span, hint)


class Group(Container):
    """`< a; b; c >`: a sequence; also what a block call makes. `"Entry flow" < ... >` is a
    display-only group: `title` names it in figures; it has no module (`name` is `""`)."""

    keywords = ()
    kind: Literal["group"] = "group"
    branch_fields = ("children",)
    form = "sequence"
    children: Body
    title: str | None = None

    def infer(self, x: Shape, walk) -> Shape:
        return walk.seq(self.children, x)

    def describe(self) -> str:
        return self.call.text() if self.call else "group"


class Residual(Container):
    """`residual < body >` (identity shortcut) or `residual < body | shortcut >`, then an optional activation.

    `residual if_same < body >` adds its input only where the body keeps the shape (torchvision
    MobileNetV2's `use_res_connect`, timm's `has_skip`); elsewhere it is the body alone. The flag
    lives only between elaboration and `cnndsl.passes.resolve`, which turns every such node into a
    plain residual or a group, so that no backend ever sees it.
    """

    keywords = ("residual",)
    kind: Literal["residual"] = "residual"
    branch_fields = ("body", "shortcut")
    form = "residual"
    step = "residual"
    parallel = True
    max_branches = 2
    body: Body
    shortcut: Body | None = None
    act: ActName | None = None
    if_same: bool = False

    @classmethod
    def decode_rest(cls, keyword, opts, branches, post, span) -> dict:
        a = Args(keyword, opts, span, flags=("if_same",))
        d = super().decode_rest(keyword, [], branches, post, span)
        br = d.pop("branches_")
        if a.flag("if_same"):
            if len(br) > 1:
                raise CnnError("'residual if_same' takes no shortcut branch", a.flags["if_same"].span,
                               "it adds its input unchanged, where the body keeps the shape")
            if d["act"] is not None:
                raise CnnError("'residual if_same' takes no activation after its '>'",
                               next(o.span for o in post if o.value == d["act"]),
                               f"where the shapes differ there is no sum to apply it to: put `{d['act']}` "
                               "in a statement of its own after the residual")
            d["if_same"] = True
        return {**d, "body": br[0], "shortcut": br[1] if len(br) > 1 else None}

    def infer(self, x: Shape, walk) -> Shape:
        y = walk.seq(self.body, x)
        if self.if_same:
            return y
        s = walk.seq(self.shortcut, x) if self.shortcut is not None else x
        if y != s:
            hint = None
            if self.shortcut is None and len(y) == 3:
                hint = f"give a projection shortcut: `| conv 1x1x{y[2]} s{max(1, x[0] // y[0])} nobias bn`"
            raise _disagree("residual body and shortcut", [y, s], self, hint)
        return y

    def flops(self, x: Shape, y: Shape) -> int:
        return math.prod(y) + self.post_flops(y)

    def describe(self) -> str:
        return self.call.text() if self.call else ("residual if_same" if self.if_same else "residual")


class MultiBranch(Container):
    """A join: `keyword < a | b | ... > [act]`, its branches run on one input and combined."""

    branch_fields = ("paths*",)
    form = "join"
    parallel = True
    code: ClassVar[tuple[str, str]]  # the emitted source's join: a template of the results, and their separator
    symbol: ClassVar[tuple[str, str]]  # the diagram's join node: its label, its Graphviz shape
    min_branches = 2
    max_branches = 99
    takes_from: ClassVar[bool] = True  # a branch may start with `from LABEL`
    chunks: ClassVar[bool] = False  # each branch runs on its own chunk of the input's channels
    paths: tuple[Body, ...]
    act: ActName | None = None

    @classmethod
    def decode_rest(cls, keyword, opts, branches, post, span) -> dict:
        d = super().decode_rest(keyword, opts, branches, post, span)
        paths = tuple(d.pop("branches_"))
        return {**d, "paths": paths}

    def describe(self) -> str:
        return self.call.text() if self.call else self.kind


class Elementwise(MultiBranch):
    """A join of branches of one shape, element by element: one operation per element and join."""

    def infer(self, x: Shape, walk) -> Shape:
        ys = [walk.seq(p, x) for p in self.paths]
        if any(y != ys[0] for y in ys):
            raise _disagree(f"{self.kind} branches", ys, self)
        return ys[0]

    def flops(self, x: Shape, y: Shape) -> int:
        return (len(self.paths) - 1) * math.prod(y) + self.post_flops(y)


class Add(Elementwise):
    """`add < a | b | ... >`: the element-wise sum of its branches, in the order written."""

    keywords = ("add",)
    kind: Literal["add"] = "add"
    step = "add"
    code = ("{}", " + ")
    symbol = ("+", "circle")


class Mul(Elementwise):
    """`mul < a | b | ... >`: the element-wise product of its branches, in the order written; the
    shapes must be equal, as for `add`. A spatial gate: `mul < identity | conv 1x1x64 sigmoid >`."""

    keywords = ("mul",)
    kind: Literal["mul"] = "mul"
    step = "mul"
    code = ("{}", " * ")
    symbol = ("×", "circle")


class Concat(MultiBranch):
    """`concat < a | b | ... >`: branches side by side, joined on the channel axis."""

    keywords = ("concat",)
    kind: Literal["concat"] = "concat"
    step = "concat"
    code = ("torch.cat([{}], 1)", ", ")
    symbol = ("concat", "box")

    def infer(self, x: Shape, walk) -> Shape:
        ys = [walk.seq(p, x) for p in self.paths]
        if any(len(y) != len(ys[0]) or y[:-1] != ys[0][:-1] for y in ys):
            raise _disagree("concat branches (H x W must match)", ys, self,
                            "every branch must keep the same spatial size (check strides and padding)")
        return (*ys[0][:-1], sum(y[-1] for y in ys))

    def flops(self, x: Shape, y: Shape) -> int:
        return self.post_flops(y)


class Split(MultiBranch):
    """`split < a | b | ... >`: the input's channels cut into as many equal chunks as branches
    (`x.chunk(n, 1)`), each branch run on its own chunk, the results joined on channels in order;
    an `identity` branch passes its chunk as is (ShuffleNet V2's unit)."""

    keywords = ("split",)
    kind: Literal["split"] = "split"
    step = "split"
    takes_from = False
    chunks = True
    code = ("torch.cat([{}], 1)", ", ")
    symbol = ("split", "box")

    def infer(self, x: Shape, walk) -> Shape:
        n = len(self.paths)
        if len(x) != 3 or x[2] % n:
            raise CnnError(f"'split' cuts the channels into {n} equal chunks, but its input is {fmt_shape(x)}",
                           self.span, f"the channels must be a multiple of {n}")
        part = (x[0], x[1], x[2] // n)
        return Concat.infer(self, part, walk)

    def flops(self, x: Shape, y: Shape) -> int:
        return self.post_flops(y)


class From(Node):
    """`from LABEL`: a join's branch starts at the output of the statement labeled LABEL (an earlier
    statement of an enclosing sequence, in this module or an outer one) or at the network's
    `input`, instead of at the join's input. No module, no position, no figures."""

    keywords = ("from",)
    kind: Literal["from"] = "from"
    family = "other"
    named: ClassVar[bool] = False  # takes no module name and no position
    label: str

    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict:
        if len(opts) != 1 or opts[0].key is not None or opts[0].nums is not None:
            raise CnnError("'from' takes one label", opts[0].span if opts else span,
                           "like `concat < from down3 | convtranspose 2x2x512 s2 >`")
        return {"label": opts[0].value}

    def ref(self) -> str:
        return self.label

    def shape_to(self, x: Shape, ref: Shape) -> Shape:
        return ref

    def module(self, x: Shape, y: Shape) -> None:
        return None  # reads a tensor: no module (the plan fetches it)

    def describe(self) -> str:
        return f"from {self.label}"


class Aux(Container):
    """`aux [from LABEL] < head >`: an auxiliary classifier. In training mode the network also
    returns its output; in eval mode it is skipped. `from LABEL` taps an earlier labeled statement
    of the same sequence (so the head can be declared where the reference registers it)."""

    keywords = ("aux",)
    kind: Literal["aux"] = "aux"
    family = "aux"
    branch_fields = ("body",)
    form = "aux"
    step = "aux"
    head = True
    body: Body
    tap: str | None = None

    @classmethod
    def decode_rest(cls, keyword, opts, branches, post, span) -> dict:
        if post:
            raise CnnError("'aux' takes nothing after its '>'", post[0].span)
        tap = None
        if opts:
            if len(opts) != 2 or opts[0].key or opts[0].value != "from" or opts[1].key:
                raise CnnError("'aux' takes an optional `from LABEL`", opts[0].span,
                               "like `aux from inception4a < ... >`")
            tap = opts[1].value
        return {"body": branches[0], "tap": tap}

    def infer(self, x: Shape, walk) -> Shape:
        source = walk.tapped(self.tap, self) if self.tap else x
        walk.seq(self.body, source, aux=True)
        return x

    def describe(self) -> str:
        return f"aux from {self.tap}" if self.tap else "aux"


class Repeat(Container):
    """What `repeat N { ... }` made: the N copies, spliced into the enclosing sequence (no module)."""

    keywords = ()
    kind: Literal["repeat"] = "repeat"
    branch_fields = ("copies*",)
    form = "repeat"
    count: int
    copies: tuple[Body, ...]

    def infer(self, x: Shape, walk) -> Shape:
        for copy in self.copies:
            x = walk.seq(copy, x)
        return x

    def describe(self) -> str:
        return f"repeat {self.count}"
