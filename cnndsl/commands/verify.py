"""`cnndsl verify FILE --against TARGET [--target-arg k=v]... [--mapping OUT.json] [--set k=v]...`: the
program against the PyTorch module it should equal (`cnndsl.backends.verify`). Exit 0 when params, MACs,
output shape, state_dict keys and shapes, and outputs with the reference's weights are all equal; 1
with the table of what differs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from cnndsl.commands import add_set, load
from cnndsl.errors import CnnError


def add_parser(sub):
    p = sub.add_parser(
        "verify", help="compare a program with the PyTorch module it should equal",
        description="Build the program and a reference PyTorch module and compare params, MACs (FlopCounterMode), "
                    "output shape, state_dict keys and shapes in order, and the outputs in eval mode with the "
                    "reference's weights loaded (random batch-norm statistics). Exit 0 when all are equal, 1 when "
                    "something differs.")
    p.add_argument("file", metavar="FILE", help="a .cnn file, or a shipped architecture by name")
    p.add_argument("--against", required=True, metavar="TARGET",
                   help="the reference: a factory such as torchvision.models.resnet50, timm:seresnet50 or "
                        "package.module:function (the current directory is importable)")
    p.add_argument("--target-arg", dest="target_args", action="append", default=[], metavar="K=V",
                   help="a keyword argument for the factory, its value a Python literal: a number, a quoted "
                        "string, True, False or None (repeatable)")
    p.add_argument("--mapping", metavar="OUT.json",
                   help="when the state_dict keys differ only by names, write the positional mapping "
                        "{cnndsl key: reference key} here")
    add_set(p)
    return p


LITERALS = (bool, int, float, str, type(None))


def parse_target_args(items: list[str]) -> dict:
    """`["num_classes=10", "name='b0'"]` -> {"num_classes": 10, "name": "b0"}: values by
    `ast.literal_eval`, and only numbers, strings, booleans and None (nothing is evaluated)."""
    out: dict = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise CnnError(f"--target-arg takes NAME=VALUE, got '{item}'", hint="like --target-arg num_classes=10")
        if key in out:
            raise CnnError(f"--target-arg {key} is given twice")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = ...
        if type(value) not in LITERALS:
            raise CnnError(f"--target-arg {key}: '{text}' is not a number, a quoted string, True, False or None",
                           hint=f"quote a string for the shell: --target-arg \"{key}='{text}'\"")
        out[key] = value
    return out


def run(args) -> int:
    from cnndsl.backends.verify import load_target, verify

    network = load(args.file, args)
    report = verify(network, load_target(args.against, parse_target_args(args.target_args)))
    print(f"cnndsl: {args.file}, reference: {args.against}")
    print(report.table())
    if args.mapping:
        if report.mapping is None:
            raise CnnError("--mapping: the state_dict shapes differ too, so no renaming makes the weights fit")
        Path(args.mapping).write_text(json.dumps(report.mapping, indent=2) + "\n", encoding="utf-8")
    print("equal" if report.ok else "not equal")
    return 0 if report.ok else 1
