"""The IR: frozen records (`cnndsl.record`, validated by Pydantic where they enter from outside), one
class per layer kind, each carrying its source span.

A node's `name` is its PyTorch module name inside its parent (a label, or its position like
`nn.Sequential`); `""` marks a node with no module of its own (a `repeat`, or a group labeled
`_`), whose children join the enclosing scope. The layer classes live in `cnndsl.layers`; this
module holds what they share.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Union

from cnndsl.errors import CnnError
from cnndsl.record import Field, Record
from cnndsl.source import Span

# (H, W, C) for feature maps, (N,) after flatten / fc.
Shape = tuple[int, ...]


def fmt_shape(shape: Shape) -> str:
    """`56x56x256` or `1000`: the lecture notes' H x W x C."""
    return "x".join(str(d) for d in shape)


class Opt:
    """One evaluated statement argument: `value` is the word's text with `{expr}` holes filled."""

    __slots__ = ("key", "value", "span", "_nums")

    NUM = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
    DIMS = re.compile(rf"^{NUM}(?:x{NUM})*$")

    def __init__(self, key: str | None, value: str, span: Span):
        self.key = key
        self.value = value
        self.span = span

    @property
    def nums(self) -> list[int | float] | None:
        """The numbers of a positional `3x3x64` (`None` for anything else), read when first asked:
        a remembered statement (`elaborate.decoded`) never asks."""
        try:
            return self._nums
        except AttributeError:
            self._nums = parse_dims(self.value) if self.key is None and self.DIMS.match(self.value) else None
            return self._nums

    def __repr__(self) -> str:
        return f"Opt({self.key!r}, {self.value!r})"


def parse_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def bounded(value: int | float, span: Span) -> int | float:
    """`value` if it is within the language's number limit, else a positioned error."""
    from cnndsl.expr import LIMIT

    if not abs(value) <= LIMIT:
        raise CnnError(f"number too large ({_shown(value)})", span, f"values must stay below {LIMIT:,}")
    return value


def parse_dims(text: str) -> list[int | float]:
    # `x` separates dimensions; a float's exponent never contains an x
    return [parse_number(p) for p in text.split("x")]


def whole(value: Any, what: str, span: Span, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or a positioned error saying what it should have been."""
    from cnndsl.expr import LIMIT

    if isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) <= LIMIT:
        raise CnnError(f"{what} too large ({_shown(value)})", span, f"values must stay below {LIMIT:,}")
    if isinstance(value, float):
        if not value.is_integer():
            raise CnnError(f"{what} must be a whole number, got {value:g}", span,
                           "use int(...) or round(...) in the expression")
        value = int(value)
    if not isinstance(value, int):
        raise CnnError(f"{what} must be a number, got {value!r}", span)
    if value < minimum:
        raise CnnError(f"{what} must be at least {minimum}, got {value}", span)
    return value


def _shown(value: int | float) -> str:
    """A number for an error message, never thousands of digits long."""
    if isinstance(value, int) and value.bit_length() > 256:
        digits = int((abs(value).bit_length() - 1) * 0.30102999566398120) + 1  # exact, or one too few
        return f"a {digits + (abs(value) >= 10 ** digits)}-digit number"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 24 else f"{text[:8]}...({len(text)} digits)"


class Formal(Record):
    """One formal argument of a block: its name, and its default as written (`None`: required).
    `value` is the default's value when it is a constant (no names in it), else `None`."""

    name: str
    default: str | None = None
    value: Union[int, float, None] = None


class BlockCall(Record):
    """What a block call made a node from: the block, its formals, and the arguments bound to
    them (values, by formal name, in the order of the formals; defaults included). `given` names
    the arguments the call wrote, positional ones first, in the order written.

    `bottleneck(128, s=2)` of `block bottleneck(c, s=1, e=4)` is
    `BlockCall(block="bottleneck", formals=(c, s=1, e=4), args=(("c", 128), ("s", 2), ("e", 4)),
    given=("c", "s"), keywords=1)`.
    """

    block: str
    formals: tuple[Formal, ...] = ()
    args: tuple[tuple[str, Union[int, float]], ...] = ()
    given: tuple[str, ...] = ()
    keywords: int = 0  # the last `keywords` names of `given` were written `name=value`
    title: str | None = None  # the block's display title, holes filled (`block stage(c, n) "Bottleneck x {n}"`)
    span: Span = Field(repr=False)

    def value(self, name: str) -> int | float:
        return dict(self.args)[name]

    def text(self) -> str:
        """The call as written, values filled in: `bottleneck(128, s=2)`."""
        from cnndsl.expr import format_number

        values = dict(self.args)
        cut = len(self.given) - self.keywords
        shown = [format_number(values[n]) for n in self.given[:cut]]
        shown += [f"{n}={format_number(values[n])}" for n in self.given[cut:]]
        return f"{self.block}({', '.join(shown)})"

    def signature(self) -> str:
        """The block's header: `bottleneck(c, s=1, e=4)`."""
        return f"{self.block}({', '.join(f.name if f.default is None else f'{f.name}={f.default}' for f in self.formals)})"


class Node(Record):
    """Base of every IR node.

    Subclasses declare `kind` (a `Literal` tag, the JSON discriminator) and `keywords` (the
    statement words that make them). The registry in `cnndsl.layers` is computed from them.
    """

    keywords: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = "other"  # conv, pool, norm, act, fc, combinator: for tables and colors
    takes_branches: ClassVar[bool] = False
    named: ClassVar[bool] = True  # takes a module name (a label or a position); `from` does not

    kind: str
    name: str = ""
    span: Span = Field(repr=False)
    call: BlockCall | None = None  # set when this node is what a block call made

    # -------- elaboration: statement arguments -> field values
    @classmethod
    def decode(cls, keyword: str, opts: list[Opt], span: Span) -> dict[str, Any]:
        """Field values for a statement `keyword opts...`; raises CnnError on a bad argument."""
        if opts:
            raise CnnError(f"'{keyword}' takes no arguments", opts[0].span)
        return {}

    # -------- rules, for leaves; containers override `infer`
    def shape(self, x: Shape) -> Shape:
        return x

    def params(self, x: Shape) -> int:
        return 0

    def macs(self, x: Shape, y: Shape) -> int:
        return 0

    def flops(self, x: Shape, y: Shape) -> int:
        """Floating-point operations besides the 2 x MACs of convolutions and linear layers."""
        return 0

    def rf(self, x: Shape) -> tuple[int, int]:
        """(kernel extent, stride) along H for the receptive-field arithmetic; an upsampling
        layer's stride is a fraction (`Fraction(1, 2)`: it halves the jump)."""
        return (1, 1)

    def ref(self) -> str | None:
        """The label of an earlier tensor the node reads besides its input (`from LABEL`,
        `upsample to LABEL`; `input` is the network's input), or None."""
        return None

    def shape_to(self, x: Shape, ref: Shape) -> Shape:
        """The output shape of a node with a `ref()`, given that tensor's shape too."""
        raise NotImplementedError  # pragma: no cover

    def rf_to(self, x: Shape, y: Shape) -> tuple[int, Any]:
        """`rf` of a node with a `ref()`, whose stride follows from its output shape `y`."""
        return self.rf(x)

    def parts(self) -> int:
        """Tensors the node writes per forward (a fused `conv bn relu` writes three)."""
        return 1

    def branches(self) -> tuple[tuple["Node", ...], ...]:
        """Child sequences (empty for a leaf)."""
        return ()

    def describe(self) -> str:
        """Short text such as `conv 3x3x64 s2`, for tables and diagrams."""
        return self.keywords[0] if self.keywords else self.kind

    def style(self, x: Shape, y: Shape) -> str:
        """A figure's colour key: the `family`, or a finer one (`depthwise`)."""
        return self.family

    def side_branch(self, x: Shape) -> tuple[tuple[list[str], str, Shape], ...]:
        """The side branch of a gate drawn opened, as (words, style, output shape) steps whose end
        multiplies the input (`se`: squeeze, excite); empty for a layer drawn as one node."""
        return ()

    def words(self, x: Shape, y: Shape) -> list[str]:
        """The lecture's words for a figure, given the input and output shapes: the layer
        (`3x3 conv, 64 /2`), then what is fused into it (`BN`, `ReLU`), each a list item."""
        return [self.describe()]


def need_map(x: Shape, node: Node) -> tuple[int, int, int]:
    """(H, W, C) of a feature-map input, or a positioned error if `x` is flat."""
    if len(x) != 3:
        raise CnnError(f"'{node.describe()}' needs an H x W x C feature map, but its input is flat ({fmt_shape(x)})",
                       node.span, "put it before `flatten` / `fc`")
    return x  # type: ignore[return-value]




if TYPE_CHECKING:  # resolved by cnndsl.layers once every node kind exists
    Body = tuple[Node, ...]


class Network(Record):
    """A whole elaborated program."""

    name: str
    title: str | None = None  # a display title for diagrams (`network resnet50 "레즈넷-50"`), any Unicode
    input: tuple[int, ...]
    params: dict[str, Union[int, float]] = {}
    body: Body  # resolved by cnndsl.layers to a tuple of the tagged union of every node kind
    span: Span = Field(repr=False)

    @property
    def texts(self) -> dict[str, str]:
        """The text of every file the network was parsed from (file -> text; `{}` for a network made
        otherwise), so that an error found after parsing (a shape that does not fit) quotes its own
        source line. Kept beside the fields, not among them: dumps and comparisons leave it out;
        copies (`model_copy`) keep it."""
        return self.__dict__.get("_texts", {})

    def keep_texts(self, texts: dict[str, str]) -> Network:
        """Attach the texts the network was parsed from (see `texts`); returns the network."""
        self.__dict__["_texts"] = texts
        return self

    def _repr_svg_(self) -> str | None:  # Jupyter shows a network as its diagram (text if no Graphviz)
        from cnndsl.backends.graphviz import has_dot, to_svg

        return to_svg(self) if has_dot() else None
