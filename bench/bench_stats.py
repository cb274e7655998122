"""Benchmark: `cnndsl stats` against a torch meta-device build + FlopCounterMode, in one run.

Each measurement is a fresh process (what a user waits for), timed as the best of `--runs` wall
times, with its peak resident memory from /usr/bin/time (or getrusage of the children):

- `cnndsl stats` on a ResNet-152 program (architectures/resnet152.cnn, or an equivalent generated
  one when that file is absent), text output to /dev/null;
- the same network written by hand in torch.nn (torchvision's layout), built on the meta device
  and run once under torch.utils.flop_counter.FlopCounterMode (what a torch-based counter must do);
- `cnndsl stats` on generated 1,000- and 10,000-layer programs (cost per layer shows linearity).

Targets (issue 4): stats <= 0.25 s and 80 MB on ResNet-152, >= 15x faster than the torch run.

    python bench/bench_stats.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "architectures" / "resnet152.cnn"


def resnet152_source() -> str:
    """ResNet-152 as torchvision builds it (bottlenecks, stride on the 3x3), in cnndsl."""
    stages = "\n".join(f"layer{i + 1}: < down({c}, {1 if i == 0 else 2}); repeat {n - 1} {{ bottleneck({c}) }} >"
                       for i, (c, n) in enumerate(zip((64, 128, 256, 512), (3, 8, 36, 3))))
    return f"""network resnet152
input 224x224x3
block down(c, s) {{
  residual < conv 1x1x{{c}} nobias bn relu; conv 3x3x{{c}} s{{s}} same nobias bn relu; conv 1x1x{{c*4}} nobias bn
           | conv 1x1x{{c*4}} s{{s}} nobias bn > relu
}}
block bottleneck(c) {{
  residual < conv 1x1x{{c}} nobias bn relu; conv 3x3x{{c}} same nobias bn relu; conv 1x1x{{c*4}} nobias bn > relu
}}
stem: < conv 7x7x64 s2 p3 nobias bn relu; maxpool 3 s2 p1 >
{stages}
gap; fc 1000
"""


def generated_source(layers: int) -> str:
    """`layers` statements, written out one per line (no `repeat`): residual blocks of two
    convolutions, a downsampling step every 100 layers while the map is large enough."""
    lines = ["network generated", "input 64x64x16"]
    n, size, c = 0, 64, 16
    while n < layers:
        if n % 100 == 99 and size > 8:
            lines.append(f"conv 3x3x{c * 2} s2 same nobias bn relu")
            size, c, n = size // 2, c * 2, n + 1
        else:
            lines.append(f"residual < conv 3x3x{c} same nobias bn relu; conv 3x3x{c} same nobias bn > relu")
            n += 3
    lines.append("gap; fc 10")
    return "\n".join(lines) + "\n"


TORCH_RESNET152 = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    class Bottleneck(nn.Module):
        def __init__(self, cin, c, s):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, s, 1, bias=False), nn.BatchNorm2d(c)
            self.conv3, self.bn3 = nn.Conv2d(c, 4 * c, 1, bias=False), nn.BatchNorm2d(4 * c)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if s != 1 or cin != 4 * c:
                self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * c, 1, s, bias=False), nn.BatchNorm2d(4 * c))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet(nn.Module):
        def __init__(self, blocks=(3, 8, 36, 3), classes=1000):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
            self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
            layers, cin = [], 64
            for i, (c, n) in enumerate(zip((64, 128, 256, 512), blocks)):
                stage = []
                for j in range(n):
                    stage.append(Bottleneck(cin, c, 2 if i and not j else 1))
                    cin = 4 * c
                layers.append(nn.Sequential(*stage))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(2048, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    with torch.device("meta"):
        model = ResNet().eval()
        x = torch.zeros(1, 3, 224, 224)
    with FlopCounterMode(display=False) as counter:
        model(x)
    print(sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2)
""")


def run(cmd: list[str], runs: int) -> tuple[float, float, str, float]:
    """(best wall seconds, peak RSS MB of the best run, stdout, its CPU seconds) of `cmd` in fresh
    processes. CPU time (user + sys) is the fairer figure on a shared, loaded machine."""
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    best, peak, out, cpu = float("inf"), 0.0, "", 0.0
    for _ in range(runs):
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
            full = [timer, "-f", "%M %U %S", "-o", rss.name, *cmd] if timer else cmd
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            p = subprocess.run(full, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if p.returncode:
                raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr}")
            if timer:
                kb, user, system = rss.read().strip().splitlines()[-1].split()
                kb, used = int(kb), float(user) + float(system)
            else:
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                kb = max(before.ru_maxrss, after.ru_maxrss)
                used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if wall < best:
            best, peak, out, cpu = wall, kb / 1024, p.stdout, used
    return best, peak, out, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (best wall time is kept)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cnndsl-bench-"))
    if ARCH.exists():
        r152, origin = ARCH, "architectures/resnet152.cnn"
    else:
        r152, origin = tmp / "resnet152.cnn", "generated (architectures/resnet152.cnn absent)"
        r152.write_text(resnet152_source())
    stats_cmd = [sys.executable, "-m", "cnndsl", "stats"]
    rows = []

    wall, mem, _, cpu = run([*stats_cmd, str(r152)], args.runs)
    _, _, js, _ = run([*stats_cmd, str(r152), "--json"], 1)
    import json

    figures = json.loads(js)
    rows.append(("cnndsl stats resnet152", len(figures["layers"]), wall, mem, cpu))
    torch_script = tmp / "torch_resnet152.py"
    torch_script.write_text(TORCH_RESNET152)
    t_wall, t_mem, t_out, t_cpu = run([sys.executable, str(torch_script)], max(1, min(args.runs, 3)))
    t_params, t_macs = map(int, t_out.split())
    rows.append(("torch meta + FlopCounterMode resnet152", None, t_wall, t_mem, t_cpu))
    for n in (1_000, 10_000):
        f = tmp / f"gen{n}.cnn"
        f.write_text(generated_source(n))
        w, m, _, c = run([*stats_cmd, str(f)], max(1, args.runs // 2))
        rows.append((f"cnndsl stats generated {n:,}-layer", n, w, m, c))
    base, _, _, base_cpu = run([sys.executable, "-c", "import cnndsl.stats, cnndsl.elaborate, cnndsl.cli"], args.runs)

    print(f"ResNet-152 program: {origin}")
    print(f"{'measurement':<42} {'layers':>7} {'wall s':>8} {'cpu s':>7} {'peak MB':>8} {'cpu ms/100 layers':>18}")
    for name, layers, w, m, c in rows:
        per = f"{(c - base_cpu) * 1e5 / layers:.1f}" if layers else ""
        print(f"{name:<42} {layers or '':>7} {w:>8.3f} {c:>7.2f} {m:>8.1f} {per:>18}")
    print(f"{'(python + cnndsl imports alone)':<42} {'':>7} {base:>8.3f} {base_cpu:>7.2f}")
    print(f"\nspeed-up of cnndsl stats over torch on ResNet-152: {t_wall / rows[0][2]:.1f}x wall, "
          f"{t_cpu / max(rows[0][4], 1e-3):.1f}x cpu (target >= 15x); stats {rows[0][2]:.3f} s wall, "
          f"{rows[0][4]:.2f} s cpu, {rows[0][3]:.0f} MB (targets 0.25 s / 80 MB)")
    same = (figures["params"], figures["macs"]) == (t_params, t_macs)
    print(f"figures agree with torch: {same} (params {figures['params']:,} vs {t_params:,}; "
          f"MACs {figures['macs']:,} vs {t_macs:,})")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
