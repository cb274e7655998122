"""ResNet-50 forward time on CPU at batch 8: cnndsl.load's module, the source `cnndsl compile` emits,
and a hand-written torchvision-style reference, side by side (target: within 2% of the reference).

    python bench/bench_forward.py [--batch 8] [--repeats 10] [--threads N]

The three modules get the same weights; their outputs are checked equal before timing. Timings
interleave the three models round by round (fair on a shared machine) and report the median.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import cnndsl
from cnndsl.backends.torch_source import emit

ROOT = Path(__file__).resolve().parent.parent


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (stride on the 3x3 convolution)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet50(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = 64
        self.layer1 = self._layer(64, 3, 1)
        self.layer2 = self._layer(128, 4, 2)
        self.layer3 = self._layer(256, 6, 2)
        self.layer4 = self._layer(512, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, classes)

    def _layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    program = ROOT / "architectures" / "resnet50.cnn"
    if not program.exists():
        print(f"{program} is missing", file=sys.stderr)
        return 1

    ref, t_ref = timed(lambda: ResNet50().eval())
    dsl, t_dsl = timed(lambda: cnndsl.load(program).eval())

    def from_source():
        src = emit(cnndsl.parse_file(program))
        path = Path(tempfile.mkdtemp()) / "resnet50_emitted.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location("resnet50_emitted", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.Resnet50().eval()

    gen, t_gen = timed(from_source)
    state = ref.state_dict()
    dsl.load_state_dict(state)
    gen.load_state_dict(state)
    x = torch.randn(args.batch, 3, 224, 224)
    models = {"hand-written": ref, "cnndsl.load": dsl, "emitted source": gen}
    with torch.inference_mode():
        y = ref(x)
        for name, m in models.items():
            assert torch.allclose(m(x), y, atol=1e-4), name
        times: dict[str, list[float]] = {n: [] for n in models}
        for _ in range(args.repeats):
            for name, m in models.items():
                times[name].append(timed(lambda: m(x))[1])
    base = statistics.median(times["hand-written"])
    build = {"hand-written": t_ref, "cnndsl.load": t_dsl, "emitted source": t_gen}
    print(f"ResNet-50 forward, batch {args.batch}, CPU, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} (interleaved)")
    print(f"{'module':16} {'forward ms':>11} {'ratio':>7} {'build s':>8}")
    for name in models:
        med = statistics.median(times[name])
        print(f"{name:16} {med * 1e3:11.1f} {med / base:7.3f} {build[name]:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
