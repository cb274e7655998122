"""Render time of every shipped architecture, and of generated networks, at default depth.

    python bench/bench_render.py [--repeat 3] [--format svg]

Prints one row per network: drawn nodes, the time to build the DOT text (parse excluded: analyze,
record, emit), the time `dot` takes, their sum (best of --repeat), and for shipped files the wall
and CPU time of the whole command `cnndsl render FILE -o OUT` in a fresh process (Python start-up,
imports, parse and `dot` included; the CPU time is what the machine's load does not inflate).
Target: under 1 s each, with no torch imported (checked at the end). The `volumes` column is the
volume drawing (`--style volumes`, SVG, every block opened one level, kernel pyramids drawn),
parse excluded; target: under 2 s each.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnndsl
from cnndsl.backends import volumes
from cnndsl.backends.graphviz import Recorder, options, pipe, to_dot

TARGET = 1.0
VOLUMES_TARGET = 2.0


def generated(blocks: int, unrolled: bool) -> str:
    """A ResNet-like program with `blocks` residual blocks, as block calls or as a repeat."""
    head = """network gen
input 224x224x3
block unit(c) { residual < conv 1x1x{c} nobias bn relu; conv 3x3x{c} same nobias bn relu; conv 1x1x{c*4} nobias bn
                | conv 1x1x{c*4} nobias bn > relu }
conv 7x7x64 s2 same nobias bn relu; maxpool 3 s2 same
"""
    body = "\n".join("unit(64)" for _ in range(blocks)) if unrolled else f"repeat {blocks} {{ unit(64) }}"
    return head + body + "\ngap; fc 1000\n"


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--format", default="svg", choices=("svg", "png", "pdf"))
    args = ap.parse_args()

    files = {p.stem: p for p in sorted((ROOT / "architectures").glob("*.cnn"))}
    cases = [(name, cnndsl.parse_file(p)) for name, p in files.items()]
    for n in (10, 50, 200):
        cases.append((f"generated: {n} block calls", cnndsl.parse(generated(n, True))))
    cases.append(("generated: repeat 1000", cnndsl.parse(generated(1000, False))))

    print(f"{'network':<30} {'nodes':>6} {'to_dot':>9} {'dot':>9} {'total':>9} {'command wall / cpu':>19} "
          f"{'volumes':>9}")
    out = Path(tempfile.mkdtemp()) / f"out.{args.format}"
    slow = []
    for name, net in cases:
        nodes = len(Recorder(net, options()).diagram.nodes)
        t_dot, text = best(lambda net=net: to_dot(net), args.repeat)
        t_run, _ = best(lambda text=text: pipe(text, args.format), args.repeat)
        total = t_dot + t_run
        cli = ""
        if name in files:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cnndsl", "render", str(files[name]), "-o", str(out)], check=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cli = f"{wall * 1e3:>7.0f}ms / {cpu * 1e3:.0f}ms"
            total = max(total, cpu)
        t_vol, _ = best(lambda net=net: volumes.to_svg(net, depth=1, kernels=True), args.repeat)
        flag = "" if total < TARGET else "  (over 1 s)"
        flag += "" if t_vol < VOLUMES_TARGET else "  (volumes over 2 s)"
        if total >= TARGET or t_vol >= VOLUMES_TARGET:
            slow.append(name)
        print(f"{name:<30} {nodes:>6} {t_dot * 1e3:>7.1f}ms {t_run * 1e3:>7.1f}ms {(t_dot + t_run) * 1e3:>7.1f}ms "
              f"{cli:>19} {t_vol * 1e3:>7.1f}ms{flag}")
    print(f"torch imported: {'torch' in sys.modules}")
    return 1 if slow or "torch" in sys.modules else 0


if __name__ == "__main__":
    sys.exit(main())
