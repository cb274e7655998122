"""Sweeps: evaluate a grid of param overrides under a budget, the static half of "search under a
budget" (as in the MobileNet paper's width/resolution tables).

Example:
    >>> import cnndsl
    >>> src = "param w = 8; input 32x32x3; conv 3x3x{w} same; gap; fc 10"
    >>> pts = sweep(lambda **kw: cnndsl.parse(src, **kw), {"w": ["8", "16"]}, max_params="300")
    >>> [(p.set, p.stats.params) for p in pts]
    [({'w': 8}, 314)]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from cnndsl.errors import CnnError
from cnndsl.ir import Network, parse_number

SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


@dataclass(frozen=True)
class Point:
    """One combination of the grid: the overrides (`set`, values as numbers) and its `Stats`."""

    set: dict
    stats: object  # cnndsl.stats.Stats

    def to_json(self) -> dict:
        return {"set": self.set, **self.stats.model_dump()}


def parse_budget(text: str | int, what: str = "budget") -> int:
    """`"25M"` -> 25_000_000, `"4.1G"` -> 4_100_000_000, `"1,000"` -> 1000 (K/M/G/T are powers of 1000).

    Raises:
        CnnError: not a number with an optional suffix.
    """
    if isinstance(text, int):
        return text
    t = text.strip().replace(",", "").replace("_", "")
    unit = t[-1:].upper() if t[-1:].isalpha() else ""
    num = parse_number(t[: len(t) - len(unit)]) if unit in SUFFIXES else None
    if num is None or num < 0:
        raise CnnError(f"{what} must be a number with an optional K/M/G suffix, got '{text}'", hint="like 25M or 4.1G")
    return int(round(num * SUFFIXES[unit]))


def parse_axes(items: list[str]) -> dict[str, list[str]]:
    """`["alpha=1.0,0.5", "res=224,160"]` -> {"alpha": ["1.0", "0.5"], "res": ["224", "160"]}.

    Raises:
        CnnError: an item that is not NAME=V1,V2,..., or a name given twice.
    """
    axes: dict[str, list[str]] = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip()
        vals = [v.strip() for v in values.split(",")]
        if not eq or not key.isidentifier() or not all(vals):
            raise CnnError(f"--sweep takes NAME=V1,V2,..., got '{item}'", hint="like --sweep width=16,32,64")
        if key in axes:
            raise CnnError(f"--sweep names '{key}' twice", hint="give all its values in one --sweep")
        axes[key] = vals
    return axes


def grid(axes: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of `axes`, the first axis varying slowest."""
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def sweep(load: Callable[..., Network], axes: dict[str, list[str]], *, max_params: str | int | None = None,
          max_macs: str | int | None = None) -> list[Point]:
    """Stats of every combination of `axes` within budget, sorted by MACs (then params).

    Args:
        load: makes the network from overrides, e.g. `lambda **kw: cnndsl.parse_file(path, **kw)`.
        axes: param name -> values to try (strings as on the command line, or numbers).
        max_params, max_macs: budgets (`"25M"`); combinations above either are dropped.

    Raises:
        CnnError: a bad budget, or a combination whose network is invalid (its error names it).
    """
    from cnndsl.stats import compute

    limit_p = parse_budget(max_params, "--max-params") if max_params is not None else None
    limit_m = parse_budget(max_macs, "--max-macs") if max_macs is not None else None
    points = []
    for combo in grid(axes):
        try:
            stats = compute(load(**combo))
        except CnnError as err:
            where = ", ".join(f"{k}={v}" for k, v in combo.items())
            raise CnnError(f"with {where}: {err.message}", err.span, err.hint) from None
        if (limit_p is not None and stats.params > limit_p) or (limit_m is not None and stats.macs > limit_m):
            continue
        shown = {k: _number(v) for k, v in combo.items()}
        points.append(Point(shown, stats))
    points.sort(key=lambda p: (p.stats.macs, p.stats.params))
    return points


def _number(v):
    if isinstance(v, str):
        n = parse_number(v)
        return v if n is None else n
    return v
