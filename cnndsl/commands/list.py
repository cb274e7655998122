"""`cnndsl list`: the shipped architectures, with their params, MACs and a one-line description."""

from __future__ import annotations

import re
import sys


def add_parser(sub):
    p = sub.add_parser("list", help="list the shipped architectures",
                       description="Every shipped architecture (usable by name, like `cnndsl stats resnet50`) "
                                   "with its params, MACs and what it is.")
    p.add_argument("--markdown", dest="fmt", action="store_const", const="markdown", default="text",
                   help="a markdown table")
    return p


def describe(text: str, title: str | None) -> str:
    """A program's one-line description: its `network NAME "TITLE"`, else its opening comment
    shortened: the network and its authors (before the paper's quoted title), and the first
    clause of an `Equals:` sentence, where the shipped files name their reference."""
    if title:
        return title
    head = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        head.append(line[1:].strip())
    what, _, equals = " ".join(head).partition("Equals:")
    what = what.split('"')[0].strip().rstrip(",")
    equals = re.split(r" \(|, |\. ", equals.strip(), maxsplit=1)[0].rstrip(".")
    return f"{what}; equals {equals}" if equals else what


def run(args) -> int:
    import cnndsl
    from cnndsl.backends.table import Column, Table, count, render
    from cnndsl.elaborate import read_source
    from cnndsl.source import shipped

    records = []
    for name, path in shipped().items():
        text = read_source(path)
        net = cnndsl.parse(text, filename=str(path))
        s = cnndsl.stats(net)
        records.append({"name": name, "params": s.params, "macs": s.macs,
                        "set": " ".join(f"{k}={v}" for k, v in net.params.items()),
                        "description": describe(text, net.title)})
    table = Table([Column("name", "name"), Column("params", "params", count, right=True),
                   Column("MACs", "macs", count, right=True), Column("--set", "set"),
                   Column("description", "description")], records)
    sys.stdout.write(render(table, args.fmt) + "\n")
    return 0
