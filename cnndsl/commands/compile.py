"""`cnndsl compile FILE [-o OUT.py] [--set k=v]...`: standalone PyTorch source of a program."""

from __future__ import annotations

import sys
from pathlib import Path

from cnndsl.commands import add_set, load


def add_parser(sub):
    p = sub.add_parser("compile", help="write the network as standalone PyTorch source",
                       description="Emit readable PyTorch source (one nn.Module class per block, the network as a "
                                   "class named after it) that does not import cnndsl; its state_dict keys equal "
                                   "those of cnndsl.load.")
    p.add_argument("file", metavar="FILE", help="a .cnn file, or a shipped architecture by name")
    p.add_argument("-o", "--output", metavar="OUT.py", help="write here instead of standard output")
    add_set(p)
    return p


def run(args) -> int:
    from cnndsl.backends.torch_source import emit

    text = emit(load(args.file, args))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
