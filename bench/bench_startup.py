"""Start-up and warm-process speed (issue 12, "Faster start"), in one run.

- `cnndsl stats resnet152` as a user runs it (a fresh process), beside the floor any such
  program pays, `python -c "import lark, pydantic"`, measured in the same loop (alternating, so
  a loaded machine slows both alike);
- `cnndsl stats` of each network issue 13 added (the same budget: "stays within the plan issue's
  start-up budget");
- `cnndsl check` of a generated program of 10,000 plain statements (bench_check.py's generator);
- parse + stats of resnet152 in a warm process (what the playground pays per edit), and its
  stages;
- where a fresh process spends its time: imports, grammar tables, first parse.

Every figure is the best of `--runs` runs (wall seconds). The package's bytecode is compiled first
(`compileall`), as `pip install` does: with PYTHONDONTWRITEBYTECODE set and no `__pycache__`,
every run would also compile cnndsl's sources (about 0.05 s). Targets (issue 12), set on a 2-core
machine where the floor took 0.09 s: stats resnet152 <= 0.15 s, check of 10,000 statements <= 0.6 s,
warm parse + stats <= 15 ms. A fresh process's time scales with the machine, so the first two are
judged as ratios to the floor measured in the same run (<= 1.67x and <= 6.67x). The warm figure, pure
computation, is judged in milliseconds, and also shown at the reference machine's speed (scaled by
0.09 s / this run's floor), since this machine's speed also varies from run to run.

    python bench/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # measure the checkout this file is in
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
RESNET152 = ROOT / "architectures" / "resnet152.cnn"
ZOO = ("resnext50_32x4d", "wide_resnet50_2", "densenet121", "squeezenet1_1", "shufflenet_v2_x1_0", "mnasnet1_0",
       "efficientnet_b0", "mobilenet_v3_large", "regnet_x_400mf", "convnext_tiny", "fcn_resnet50",
       "deeplabv3_resnet50", "unet")  # issue 13's networks
REFERENCE_FLOOR = 0.09  # seconds: `import lark, pydantic` on the machine the targets were set on

STAGES = f"""
import time
t0 = time.perf_counter()
import cnndsl
t1 = time.perf_counter()
from cnndsl.syntax import _lark
_lark()
t2 = time.perf_counter()
net = cnndsl.parse_file({str(RESNET152)!r})
t3 = time.perf_counter()
cnndsl.stats(net)
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t


def best_walls(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Best wall time of each command, the commands alternating run after run."""
    best = dict.fromkeys(cmds, float("inf"))
    for _ in range(runs):
        for name, cmd in cmds.items():
            best[name] = min(best[name], wall(cmd))
    return best


def warm(runs: int) -> dict[str, float]:
    """Best times, in one warm process, of parse + stats of resnet152 and of its stages."""
    import cnndsl
    from cnndsl.elaborate import elaborate, read_source
    from cnndsl.passes.shapes import analyze
    from cnndsl.stats import compute
    from cnndsl.syntax import parse_program

    text, name = read_source(RESNET152), str(RESNET152)
    cnndsl.stats(cnndsl.parse(text, filename=name))  # warm-up: grammar, lexer, schemas
    best = dict.fromkeys(("parse + stats", "syntax", "elaborate", "shapes", "stats rows"), float("inf"))
    for _ in range(max(runs, 20)):
        t0 = time.perf_counter()
        cnndsl.stats(cnndsl.parse(text, filename=name))
        t1 = time.perf_counter()
        program = parse_program(text, name)
        t2 = time.perf_counter()
        network = elaborate(program)
        t3 = time.perf_counter()
        analysis = analyze(network)
        t4 = time.perf_counter()
        compute(network, analysis)
        t5 = time.perf_counter()
        for key, t in zip(best, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            best[key] = min(best[key], t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per measurement (the best is kept)")
    args = ap.parse_args()
    from bench_check import PLAIN, program

    compileall.compile_dir(ROOT / "cnndsl", quiet=1)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain10000.cnn"
        plain.write_text(program(10_000, kinds=PLAIN))
        fresh = best_walls({"floor": [py, "-c", "import lark, pydantic"],
                            "stats": [py, "-m", "cnndsl", "stats", str(RESNET152)],
                            "check": [py, "-m", "cnndsl", "check", str(plain)],
                            **{name: [py, "-m", "cnndsl", "stats", str(ROOT / "architectures" / f"{name}.cnn")]
                               for name in ZOO}}, args.runs)
    stages = [float("inf")] * 4
    for _ in range(args.runs):
        out = subprocess.run([py, "-c", STAGES], check=True, capture_output=True, text=True, env=ENV).stdout
        stages = [min(a, float(b)) for a, b in zip(stages, out.split())]
    w = warm(args.runs)

    def verdict(t: float, target: float, unit: str) -> str:
        return f"target <= {target:g} {unit}: {'ok' if t <= target else 'OVER'}"

    def ratio(t: float, target: float) -> str:  # a target set where the floor was 0.09 s, as a ratio
        r, most = t / fresh["floor"], target / REFERENCE_FLOOR
        return f"{r:4.2f}x floor, target <= {most:.2f}x ({target:g} s at a {REFERENCE_FLOOR:g} s floor): " \
               f"{'ok' if r <= most else 'OVER'}"

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} CPUs; best of {args.runs} runs, wall seconds")
    floor = 'python -c "import lark, pydantic" (floor)'
    print(f"{floor:<46} {fresh['floor']:8.3f} s")
    print(f"{'cnndsl stats resnet152':<46} {fresh['stats']:8.3f} s  {ratio(fresh['stats'], 0.15)}")
    for name in ZOO:
        print(f"{'cnndsl stats ' + name:<46} {fresh[name]:8.3f} s  {ratio(fresh[name], 0.15)}")
    print(f"{'cnndsl check, 10,000 plain statements':<46} {fresh['check']:8.3f} s  {ratio(fresh['check'], 0.6)}")
    warm_ms = w["parse + stats"] * 1e3
    print(f"{'warm process: parse + stats of resnet152':<46} {warm_ms:8.1f} ms {verdict(warm_ms, 15, 'ms')}; "
          f"{warm_ms * REFERENCE_FLOOR / fresh['floor']:.1f} ms at the reference floor: "
          f"{'ok' if warm_ms * REFERENCE_FLOOR / fresh['floor'] <= 15 else 'OVER'}")
    print("  stages: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in w.items() if k != "parse + stats"))
    print("fresh process, stats resnet152 in stages: " + ", ".join(
        f"{k} {v:.3f} s" for k, v in zip(("import cnndsl", "grammar tables", "parse", "stats"), stages)))


if __name__ == "__main__":
    main()
