"""Word-level mutation of the shipped programs: every mutant either checks fine or fails with a
positioned `CnnError` (its span names a file the program reads and a line within it). Any other
exception, or a mutant that runs for more than TIME_LIMIT seconds, is a bug in cnndsl.

A mutant deletes, duplicates, swaps, replaces or inserts one word of `architectures/*.cnn` or
`architectures/blocks/*.cnn`, with the language's own words as the vocabulary (the registry's
keywords, options, structure words, punctuation, numbers, expressions) and the file's own words.
A used file (`blocks/resnet.cnn`) is mutated in a copy and checked through the programs using it.

CI runs a fixed count and seed; `CNNDSL_MUTANTS=100000` (and `CNNDSL_MUTANT_SEED=N`) runs more.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ARCHITECTURES, ROOT

import cnndsl
from cnndsl.errors import CnnError
from cnndsl.layers import REGISTRY

COUNT = int(os.environ.get("CNNDSL_MUTANTS", "6000"))
SEED = int(os.environ.get("CNNDSL_MUTANT_SEED", "12"))
TIME_LIMIT = 10  # seconds for one mutant: a hang guard, not a benchmark

SHIPPED = sorted(ARCHITECTURES.glob("*.cnn")) + sorted((ARCHITECTURES / "blocks").glob("*.cnn"))

OPTIONS = """same valid nobias bn relu ceil nopadcount if_same s1 s2 s2x1 s0 p0 p1 p1x0 p-1 d2 g2 g3 g0
    r=16 r=4 r=0 multiplier=2 eps=0.001 momentum=0.01 slope=0.2 size=5 alpha=0.0001 beta=0.75 k=2 divisor=8
    x= =3""".split()
STRUCTURE = "residual concat add aux repeat block param use network input from as if_same _ _: stem: x".split()
PUNCTUATION = list("<>|{}();:,=")
NUMBERS = """0 1 -1 2 3 7 2.5 0.5 1e9 -3 224 3x3 1x1 3x3x64 7x7x64 224x224x3 0x0 3x3x0 3x3x-1 1x1x1x1 3x 1e-9
    0.0""".split()
EXPRESSIONS = """{max(4)} {min(4)} {x} {c} {c * 2} {1 // 0} {i} {res} {} {{c}} max min int round max(4) min(4)
    int(c) c c*2 * // + - % ( )""".split()
STRINGS = ['"blocks/resnet.cnn"', '"x.cnn"', '"../x.cnn"', '"title"', '""', '"']
VOCABULARY = list(dict.fromkeys(sorted(REGISTRY) + OPTIONS + STRUCTURE + PUNCTUATION + NUMBERS + EXPRESSIONS + STRINGS))
OPS = ("delete", "duplicate", "swap", "replace", "insert")

# a word: a string, one punctuation character, or a run of anything else; comments are not words
WORD = re.compile(r'(?P<skip>#[^\n]*|\s+)|(?P<word>"[^"\n]*"|[<>|{}();:,=]|[^\s<>|{}();:,=#"]+|.)')


def words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in WORD.finditer(text) if m.lastgroup == "word"]


def users(library: Path) -> list[Path]:
    """The shipped programs that `use` `library`."""
    out = []
    for p in SHIPPED:
        for used in re.findall(r'^use\s+"([^"]+)"', p.read_text(), re.MULTILINE):
            if (p.parent / used).resolve() == library.resolve():
                out.append(p)
    return out


@dataclass(frozen=True)
class Mutant:
    file: Path  # the shipped file it mutates
    change: str  # what was done, in words
    text: str = field(repr=False)
    at: int  # offset of the change in `text`

    def __str__(self) -> str:
        line = self.text.count("\n", 0, self.at) + 1
        shown = self.text.splitlines()[line - 1] if self.text.splitlines() else ""
        return f"{self.file.relative_to(ROOT)}:{line} ({self.change}): {shown.strip()!r}"


def mutants(count: int, seed: int) -> Iterator[Mutant]:
    """`count` mutants, the shipped files taken in turn, each change drawn from `seed`."""
    rng = random.Random(seed)
    sources = [(p, p.read_text()) for p in SHIPPED]
    sources = [(p, t, words(t)) for p, t in sources]
    for n in range(count):
        path, text, ws = sources[n % len(sources)]
        op = rng.choice(OPS)
        i = rng.randrange(len(ws))
        s, e = ws[i]
        word = text[s:e]
        if rng.random() < 0.8:
            other = rng.choice(VOCABULARY)
        else:  # one of the file's own words
            a, b = rng.choice(ws)
            other = text[a:b]
        if op == "delete":
            yield Mutant(path, f"delete {word!r}", text[:s] + text[e:], s)
        elif op == "duplicate":
            yield Mutant(path, f"duplicate {word!r}", text[:e] + " " + word + text[e:], s)
        elif op == "swap":
            j = (i + rng.randint(1, 3)) % len(ws)
            (s, e), (s2, e2) = sorted([ws[i], ws[j]])
            a, b = text[s:e], text[s2:e2]
            yield Mutant(path, f"swap {a!r} and {b!r}", text[:s] + b + text[e:s2] + a + text[e2:], s)
        elif op == "replace":
            yield Mutant(path, f"replace {word!r} with {other!r}", text[:s] + other + text[e:], s)
        else:
            yield Mutant(path, f"insert {other!r} before {word!r}", text[:s] + other + " " + text[s:], s)


class TookTooLong(Exception):
    pass


def _alarm(signum, frame):
    raise TookTooLong(f"more than {TIME_LIMIT} s")


class Checker:
    """Checks mutants in this process. A used file's mutant is written into a copy of the
    architectures folder and checked through each program that uses it, in turn."""

    def __init__(self, scratch: Path):
        self.copy = scratch / "architectures"
        shutil.copytree(ARCHITECTURES, self.copy, dirs_exist_ok=True)
        self.users = {p: users(p) for p in SHIPPED}
        self.turn = 0

    def program(self, m: Mutant) -> tuple[str, str]:
        """(text, filename) of the program to check for `m`."""
        if not self.users[m.file]:
            return m.text, str(m.file)
        rel = m.file.relative_to(ARCHITECTURES)
        (self.copy / rel).write_text(m.text)
        self.turn += 1
        user = self.users[m.file][self.turn % len(self.users[m.file])]
        user = self.copy / user.relative_to(ARCHITECTURES)
        return user.read_text(), str(user)

    def check(self, m: Mutant) -> str:
        """"ok" (checks fine), "error" (a positioned error), or what went wrong."""
        text, filename = self.program(m)
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
        try:
            cnndsl.analyze(cnndsl.parse(text, filename=filename))
        except CnnError as err:
            return unpositioned(err, {filename: text}) or "error"
        except Exception as exc:  # noqa: BLE001  (what this test looks for)
            return f"{type(exc).__name__}: {exc}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return "ok"


def unpositioned(err: CnnError, texts: dict[str, str]) -> str | None:
    """What is wrong with `err`'s position, or None: it must name a file the program reads (the
    program itself or a file on disk), a line within it and a column within that line (or one
    past its end), and render."""
    span = err.span
    if span is None:
        return f"CnnError without a position: {err.message}"
    text = texts.get(span.file)
    if text is None:
        if not Path(span.file).is_file():
            return f"CnnError naming no file the program reads ({span.file!r}): {err.message}"
        text = Path(span.file).read_text()
    lines = text.split("\n")
    if not 1 <= span.line <= len(lines):
        return f"CnnError at line {span.line} of a {len(lines)}-line file: {err.message}"
    if not 1 <= span.col <= len(lines[span.line - 1]) + 1:
        return f"CnnError at column {span.col} of a {len(lines[span.line - 1])}-character line: {err.message}"
    first = err.render().split("\n", 1)[0]
    if not first.startswith(f"{span.file}:{span.line}:{span.col}: error: "):
        return f"CnnError rendered as {first!r}"
    return None


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    old = signal.signal(signal.SIGALRM, _alarm)
    yield Checker(tmp_path_factory.mktemp("mutants"))
    signal.signal(signal.SIGALRM, old)


def key(problem: str) -> str:
    """Problems that differ only in numbers and quoted words are one problem."""
    return re.sub(r"'[^']*'|\d+", "_", problem)


def test_mutants_check_fine_or_fail_with_a_positioned_error(checker):
    outcomes = {"ok": 0, "error": 0}
    found: dict[str, list[tuple[Mutant, str]]] = {}
    for m in mutants(COUNT, SEED):
        verdict = checker.check(m)
        if verdict in outcomes:
            outcomes[verdict] += 1
        else:
            found.setdefault(key(verdict), []).append((m, verdict))
    assert outcomes["ok"] and outcomes["error"], outcomes  # both outcomes, or the run proves nothing
    if found:
        report = [f"{len(ms)} mutant(s): {ms[0][1]}" + "".join(f"\n    {m}" for m, _ in ms[:3]) for ms in found.values()]
        pytest.fail(f"{sum(map(len, found.values()))} of {COUNT} mutants (seed {SEED}) break cnndsl:\n" +
                    "\n".join(report), pytrace=False)


def test_cli_check_agrees_on_mutants(tmp_path):
    """`python -m cnndsl check` on a few mutants: exit 0 with `ok` where the mutant checks fine,
    else exit 2 with exactly the positioned message the library raises; never a traceback."""
    copy = tmp_path / "architectures"
    shutil.copytree(ARCHITECTURES, copy)
    fine, wrong = [], []
    for m in mutants(400, SEED + 1):
        if m.file.parent != ARCHITECTURES:
            continue  # a used file: checked through its users in the test above
        path = copy / m.file.name
        try:
            cnndsl.analyze(cnndsl.parse(m.text, filename=str(path)))
            fine.append((m, path, None))
        except CnnError as err:
            wrong.append((m, path, err.render()))
        except Exception:  # noqa: BLE001, S110  (reported by the test above)
            pass
    assert len(fine) >= 3 and len(wrong) >= 5
    for m, path, expected in fine[:3] + wrong[:5]:
        path.write_text(m.text)
        r = subprocess.run([sys.executable, "-m", "cnndsl", "check", str(path)], capture_output=True, text=True,
                           check=False, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
        shutil.copy(ARCHITECTURES / m.file.name, path)
        assert "Traceback" not in r.stderr, f"{m}\n{r.stderr}"
        if expected is None:
            assert (r.returncode, r.stderr) == (0, ""), f"{m}\n{r.stderr}"
            assert ": ok: " in r.stdout
        else:
            assert r.returncode == 2, f"{m}\n{r.stderr}"
            assert r.stderr.rstrip("\n") == expected, m
