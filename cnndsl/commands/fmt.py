"""`cnndsl fmt FILE... [--check] [--write]`: print programs in the one canonical layout."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("fmt", help="format programs in the canonical layout",
                       description="Print each program in the canonical layout (comments kept). "
                                   "--check exits 1 if any file is not formatted; --write rewrites files.")
    p.add_argument("files", nargs="+", metavar="FILE")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 and list the files that would change")
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")
    return p


def run(args) -> int:
    import cnndsl
    from cnndsl.elaborate import read_source
    from cnndsl.format import format_text

    changed = []
    for name in args.files:
        path = cnndsl.resolve(name)
        text = read_source(Path(path))
        pretty = format_text(text, str(path))
        if args.check:
            if pretty != text:
                changed.append(str(path))
                print(f"would reformat {path}", file=sys.stderr)
        elif args.write:
            if pretty != text:
                Path(path).write_text(pretty, encoding="utf-8")
                print(f"reformatted {path}", file=sys.stderr)
        else:
            sys.stdout.write(pretty)
    return 1 if changed else 0
