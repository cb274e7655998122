"""CLI subcommands, one module each, and what they share."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnndsl.errors import CnnError


def add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                   help="override a param, e.g. --set width=32 (repeatable)")
    p.add_argument("--allow-outside", action="store_true",
                   help="let `use` reach files outside the program's folder")


def parse_sets(sets: list[str]) -> dict[str, str]:
    """`["width=32", "alpha=0.5"]` -> {"width": "32", "alpha": "0.5"}; values are parsed later,
    as numbers only."""
    out: dict[str, str] = {}
    for item in sets:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier() or not value.strip():
            raise CnnError(f"--set takes NAME=VALUE, got '{item}'", hint="like --set width=32")
        if key in ("outputs", "weights"):
            raise CnnError(f"'{key}' is reserved and cannot be a param")
        out[key] = value.strip()
    return out


def load(path: str, args: argparse.Namespace, extra: dict | None = None, extra_flag: str = "--set"):
    """Parse a program named on the command line, with its --set overrides (and `extra` ones,
    given by `extra_flag`). An error about an override names its option: `--set alhpa=0.5: ...`."""
    import cnndsl
    from cnndsl.elaborate import parse_path

    params = {**parse_sets(getattr(args, "sets", [])), **(extra or {})}
    try:  # the overrides as a dict: `--set filename=x` is a param name like any other
        return parse_path(cnndsl.resolve(path), params, allow_outside=getattr(args, "allow_outside", False))
    except CnnError as err:
        if err.param is None:
            raise
        flag = extra_flag if err.param in (extra or {}) else "--set"
        raise CnnError(f"{flag} {err.message}", hint=err.hint, param=err.param) from None


def display(path: str) -> str:
    import cnndsl

    return str(cnndsl.resolve(Path(path)))
