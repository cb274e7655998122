"""Data flows one way: text -> syntax -> elaborate -> IR / layers -> passes -> backends -> commands.
Read with `ast` (nothing is imported): an early stage never imports a later one, and only the
PyTorch backend modules import torch at module level (so `import cnndsl`, check, fmt, stats and
render never pay the 1.6 s torch import)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnndsl"
EARLY = ("syntax", "elaborate", "ir", "record", "expr", "source", "errors", "layers", "passes")
LATE = ("cnndsl.backends", "cnndsl.commands", "cnndsl.cli")
TORCH_AT_TOP = {"backends/torch_module.py", "backends/torch_source.py", "backends/runtime.py"}
# deliberate lazy imports of a later stage, inside a function: (file, imported module)
ALLOWED_LAZY = {("ir.py", "cnndsl.backends.graphviz")}  # Jupyter shows a Network as its diagram


def imports(tree: ast.Module, top_only: bool):
    nodes = tree.body if top_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for a in node.names:  # `from cnndsl import backends`
                yield f"{node.module}.{a.name}", node.lineno


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def stage(rel: str) -> str:
    return rel.split("/")[0].removesuffix(".py")


def test_early_stages_never_import_later_ones():
    bad = []
    for rel, tree in modules():
        if stage(rel) not in EARLY:
            continue
        for name, line in imports(tree, top_only=False):
            if name.startswith(LATE) and not any(rel == f and (name == m or name.startswith(m + "."))
                                                 for f, m in ALLOWED_LAZY):
                bad.append(f"cnndsl/{rel}:{line} imports {name}")
    assert not bad, "\n".join(bad)


FRONT_END = ("cnndsl.syntax", "cnndsl.elaborate", "cnndsl.expr")


def test_backends_never_import_the_front_end():
    """A backend reads the IR only: never the source text, its parser, or the expression evaluator
    (block calls and their formals are IR data)."""
    bad = []
    for rel, tree in modules():
        if not rel.startswith("backends/"):
            continue
        for name, line in imports(tree, top_only=False):
            if any(name == m or name.startswith(m + ".") for m in FRONT_END):
                bad.append(f"cnndsl/{rel}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_front_end_check_sees_every_import_form():
    forms = ["import cnndsl.syntax", "from cnndsl import syntax", "from cnndsl.expr import evaluate",
             "def f():\n    from cnndsl.elaborate import Elaborator"]
    for code in forms:
        names = [n for n, _ in imports(ast.parse(code), top_only=False)]
        assert any(n == m or n.startswith(m + ".") for n in names for m in FRONT_END), code


def test_only_the_torch_backend_imports_torch_at_module_level():
    bad = []
    for rel, tree in modules():
        if rel in TORCH_AT_TOP:
            continue
        for name, line in imports(tree, top_only=True):
            if name == "torch" or name.startswith("torch."):
                bad.append(f"cnndsl/{rel}:{line} imports {name} at module level")
    assert not bad, "\n".join(bad)


def test_pydantic_is_imported_only_where_something_is_validated():
    """The IR and `Stats` are records (`cnndsl.record`): Pydantic is imported when a record from
    outside is validated, never at module level, so `cnndsl stats` and `check` do not pay for it."""
    bad = []
    for rel, tree in modules():
        for name, line in imports(tree, top_only=True):
            if name.split(".")[0] in ("pydantic", "pydantic_core"):
                bad.append(f"cnndsl/{rel}:{line} imports {name} at module level")
    assert not bad, "\n".join(bad)


def test_the_layering_test_sees_the_package():
    names = {rel for rel, _ in modules()}
    assert {"syntax.py", "elaborate.py", "ir.py", "backends/torch_module.py", "commands/check.py"} <= names
