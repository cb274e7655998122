"""The tests read nothing outside the repository: a bare `git clone` runs them. The figures they
check against live in tests/data/ (copied from the published reference set, with its README)."""

from pathlib import Path

from conftest import REFERENCE, ROOT

TESTS = Path(__file__).resolve().parent
# built, so that this file does not name what it forbids
FORBIDDEN = ("/".join(["..", "shared"]), "/".join(["shared", "reference"]))  # noqa: FLY002


def test_reference_figures_live_in_the_repository():
    assert REFERENCE.is_relative_to(ROOT / "tests" / "data")
    assert (REFERENCE / "README.md").is_file()
    assert sorted(REFERENCE.glob("*.json")), "no reference figures in tests/data"


def test_no_test_names_a_folder_outside_the_repository():
    offenders = []
    for path in sorted(TESTS.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pt"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            offenders += [f"{path.relative_to(ROOT)}:{n}: {word}" for word in FORBIDDEN if word in line]
    assert not offenders, "tests must read nothing outside the repository:\n" + "\n".join(offenders)
