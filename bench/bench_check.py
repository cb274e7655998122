"""`cnndsl check` on generated programs of 1,000 and 10,000 statements, plain (one layer per line)
and mixed (residuals, concats, SE and block calls among them), as a user runs it (a fresh
process: interpreter start-up, imports, grammar, parse, elaboration, shape inference).

Targets on a 2-core machine: 10,000 plain statements in at most 0.6 s (issue 12), 10,000 mixed
ones in under 1 s (issue 3). Also reports where the time goes inside one process, so a regression
points at its stage.

    python bench/bench_check.py
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = ["conv 3x3x16 same nobias bn relu", "relu", "bn", "conv 1x1x16", "dropout 0.1", "maxpool 3 s1 same"]
# statements that each hold several layers: about 1.6 layers and 2.5 nodes per statement
MIXED = [*PLAIN, "residual < conv 3x3x16 same bn relu; conv 3x3x16 same bn >", "se r=4",
         "concat < conv 1x1x8 | conv 3x3x8 same >", "unit(16)"]


def program(n: int, seed: int = 1, kinds=MIXED) -> str:
    rng = random.Random(seed)
    lines = ["network big", "input 64x64x16", "param width = 16",
             "block unit(c) { conv 3x3x{c} same nobias bn relu; conv 1x1x{width} }"]
    lines += [rng.choice(kinds) for _ in range(n)]
    return "\n".join(lines) + "\n"


def wall(cmd: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def stages(path: Path) -> dict[str, float]:
    code = f"""
import time
t0 = time.perf_counter()
import cnndsl
from cnndsl.syntax import parse_program, _lark
from cnndsl.elaborate import elaborate
from cnndsl.passes.shapes import analyze
t1 = time.perf_counter(); _lark(); t2 = time.perf_counter()
text = open({str(path)!r}).read()
p = parse_program(text, "big.cnn"); t3 = time.perf_counter()
n = elaborate(p); t4 = time.perf_counter()
analyze(n); t5 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return dict(zip(["import", "grammar", "parse", "elaborate", "shapes"], map(float, out)))


def main() -> None:
    cli = [sys.executable, "-m", "cnndsl", "check"]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'program':>16}  {'check (wall, median of 5)':>26}  stages (one process, s)")
        for kinds, label in ((PLAIN, "plain"), (MIXED, "mixed")):
            for n in (1_000, 10_000):
                path = Path(tmp) / f"{label}{n}.cnn"
                path.write_text(program(n, kinds=kinds))
                t = wall([*cli, str(path)])
                st = "  ".join(f"{k} {v:.3f}" for k, v in stages(path).items())
                target = 0.6 if label == "plain" else 1.0
                verdict = "ok" if n < 10_000 or t <= target else f"OVER the {target:g} s target"
                print(f"{label:>6} {n:>9,}  {t:>24.3f} s  {st}   {verdict}")
        print(f"{'baseline':>16}  {wall([sys.executable, '-c', 'pass']):>24.3f} s  (python -c pass)")


if __name__ == "__main__":
    main()
