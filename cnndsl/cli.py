"""The `cnndsl` command. Each subcommand is a module in `cnndsl/commands/` with `add_parser`
and `run`, found there (adding a command adds a module); none of them imports torch at import
time (the PyTorch backend is loaded lazily).

Exit status: 0 success, 1 an internal fault (a bug: please report it), 2 a bad program or bad
arguments. A user never sees a Python traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from cnndsl.errors import CnnError

# the order `cnndsl --help` lists them in; a module of cnndsl/commands/ not named here comes after
ORDER = ("check", "fmt", "stats", "diff", "compile", "verify", "render", "plot", "serve", "list")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: usage + message, exit 2
        self.print_usage(sys.stderr)
        sys.stderr.write(f"cnndsl: error: {message}\n")
        raise SystemExit(2)


def make_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of `command` when it names one (what a run needs: it
    imports that command's module alone)."""
    from cnndsl import __version__

    parser = _Parser(prog="cnndsl", description="A language for convolutional network architectures.",
                     epilog="Tutorial, from the lecture notes: docs/tutorial.ko.md (한국어), docs/tutorial.md (English).")
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    from cnndsl import commands

    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    if command in names:
        names = [command]
    for name in sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n)):
        module = importlib.import_module(f"cnndsl.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CnnError as err:
        sys.stderr.write(err.render() + "\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in cnndsl, not the user's input
        if os.environ.get("CNNDSL_DEBUG"):
            raise
        sys.stderr.write(f"cnndsl: internal error: {type(exc).__name__}: {exc}\n"
                         "This is a bug in cnndsl; run with CNNDSL_DEBUG=1 for details.\n")
        return 1


def run() -> None:  # console-script entry point
    sys.exit(main())
