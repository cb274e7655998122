"""Safe arithmetic for `{expr}` holes and block-call arguments.

The expression language is tiny: numbers, names (params and block arguments), `+ - * / // %`,
unary minus, parentheses and a fixed table of functions. It is evaluated by walking a small
tree; nothing is ever handed to Python's `eval`. Every intermediate value is bounded, so no
expression can allocate a huge integer or run for long.

Example:
    >>> from cnndsl.syntax import parse_expr
    >>> evaluate(parse_expr("divisible(32 * alpha, 8)", "<x>"), {"alpha": 0.75})
    24
"""

from __future__ import annotations

import math
from typing import NamedTuple, Union

from cnndsl.errors import CnnError, did_you_mean
from cnndsl.source import Span

Number = Union[int, float]

LIMIT = 2**53  # beyond this, integers stop being exact floats; no network needs more
MAX_DIGITS = 400  # longest number literal read (a float like 0.000...1 may need many digits)
MAX_DEPTH = 100  # deepest expression tree (operators and calls nested): evaluation recurses


class Num(NamedTuple):
    value: Number
    span: Span


class Var(NamedTuple):
    name: str
    span: Span


class BinOp(NamedTuple):
    op: str
    left: "Expr"
    right: "Expr"
    span: Span
    depth: int = 1  # levels of the tree (bounded by MAX_DEPTH)


class Neg(NamedTuple):
    operand: "Expr"
    span: Span
    depth: int = 1


class Func(NamedTuple):
    name: str
    args: tuple["Expr", ...]
    span: Span
    depth: int = 1


Expr = Union[Num, Var, BinOp, Neg, Func]


def make_divisible(value: Number, divisor: Number, min_value: Number | None = None) -> int:
    """MobileNetV2's channel rounding (torchvision `_make_divisible`): nearest multiple of
    `divisor`, at least `min_value` (default `divisor`), never more than 10% below `value`."""
    divisor = int(divisor)
    if divisor <= 0:
        raise ValueError("divisor must be positive")
    low = divisor if min_value is None else int(min_value)
    new = max(low, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _round(x: Number, ndigits: Number | None = None) -> Number:
    return round(x) if ndigits is None else round(x, int(ndigits))


# name -> (function, min args, max args, how it is called)
FUNCTIONS: dict[str, tuple] = {
    "int": (lambda x: int(x), 1, 1, "int(x)"),
    "round": (_round, 1, 2, "round(x) or round(x, digits)"),
    "min": (min, 2, 16, "min(a, b, ...)"),
    "max": (max, 2, 16, "max(a, b, ...)"),
    "divisible": (make_divisible, 2, 3, "divisible(x, d) or divisible(x, d, least)"),
    "ceil": (lambda x: math.ceil(x), 1, 1, "ceil(x)"),
    "floor": (lambda x: math.floor(x), 1, 1, "floor(x)"),
}

_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def _check(value: Number, span: Span) -> Number:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise CnnError("expression is not a finite number", span)
        if value.is_integer() and abs(value) > LIMIT:
            raise CnnError("number too large", span, f"values must stay below {LIMIT:,}")
    if abs(value) > LIMIT:
        raise CnnError("number too large", span, f"values must stay below {LIMIT:,}")
    return value


def evaluate(expr: Expr, env: dict[str, Number]) -> Number:
    """The value of `expr` with names looked up in `env`.

    Raises:
        CnnError: for unknown names, division by zero, wrong function arguments, or a value
            out of bounds, positioned at the offending sub-expression.
    """
    if isinstance(expr, Num):
        return _check(expr.value, expr.span)
    if isinstance(expr, Var):
        if expr.name not in env:
            raise CnnError(f"unknown name '{expr.name}'", expr.span, did_you_mean(expr.name, env) or _declare(expr.name, env))
        return env[expr.name]
    if isinstance(expr, Neg):
        return -evaluate(expr.operand, env)
    if isinstance(expr, BinOp):
        a, b = evaluate(expr.left, env), evaluate(expr.right, env)
        if expr.op in ("/", "//", "%") and b == 0:
            raise CnnError("division by zero", expr.span)
        return _check(_OPS[expr.op](a, b), expr.span)
    if isinstance(expr, Func):
        if expr.name not in FUNCTIONS:
            raise CnnError(f"unknown function '{expr.name}'", expr.span,
                           did_you_mean(expr.name, FUNCTIONS) or f"functions: {', '.join(FUNCTIONS)}")
        fn, lo, hi, usage = FUNCTIONS[expr.name]
        if not lo <= len(expr.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise CnnError(f"{expr.name}() takes {want} argument{'s' if hi > 1 else ''}, got {len(expr.args)}",
                           expr.span, f"like {usage}")
        args = [evaluate(a, env) for a in expr.args]
        try:
            return _check(fn(*args), expr.span)
        except (ValueError, OverflowError) as exc:
            raise CnnError(f"{expr.name}(): {exc}", expr.span) from None
    raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover - internal


def _declare(name: str, env: dict[str, Number]) -> str:
    """How to make `name` known, and the names that are (a few of them)."""
    hint = f"declare it with 'param {name} = ...'"
    if env:
        shown = sorted(env)
        hint += f"; the names here are {', '.join(shown[:8])}{', ...' if len(shown) > 8 else ''}"
    return hint


def free_names(expr: Expr) -> set[str]:
    """The names an expression reads (params, block arguments), functions not included."""
    if isinstance(expr, Var):
        return {expr.name}
    if isinstance(expr, Num):
        return set()
    if isinstance(expr, Neg):
        return free_names(expr.operand)
    if isinstance(expr, Func):
        return set().union(*(free_names(a) for a in expr.args))
    return free_names(expr.left) | free_names(expr.right)


def unparse(expr: Expr, parent: int = 0) -> str:
    """Canonical text of an expression (used by `fmt`), with only the parentheses needed."""
    prec = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2}
    if isinstance(expr, Num):
        return format_number(expr.value)
    if isinstance(expr, Var):
        return expr.name
    if isinstance(expr, Neg):
        return f"-{unparse(expr.operand, 3)}"
    if isinstance(expr, Func):
        return f"{expr.name}({', '.join(unparse(a) for a in expr.args)})"
    p = prec[expr.op]
    # left-associative: the right operand needs parentheses at equal precedence
    text = f"{unparse(expr.left, p)} {expr.op} {unparse(expr.right, p + 1)}"
    return f"({text})" if p < parent else text


def format_number(value: Number) -> str:
    """Numbers as the language writes them: ints plain, floats shortest round-trip."""
    if isinstance(value, bool):
        value = int(value)
    return str(value) if isinstance(value, int) else repr(float(value))
