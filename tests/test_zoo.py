"""The wider zoo against torchvision 0.29.1: the thirteen networks of issue 13 (`ZOO`'s first thirteen),
and squeezenet1_0, mobilenet_v3_small and efficientnet_v2_s, the sizes of their families that no param
of squeezenet1_1.cnn, mobilenet_v3_large.cnn and efficientnet_b0.cnn gives. Each file equals its
reference manifest (`tests/data/zoo/`, measured from torchvision; see its README): params and MACs from
stats, the `state_dict` keys and shapes in order and the output shape from `cnndsl.load`. The other
sizes of each family, one `--set` away, equal the figures torchvision publishes with their pretrained
weights (tests/test_families.py). Hand-written modules that follow torchvision's source line by line
give the same outputs with the same weights, and the source that `cnndsl compile` writes runs on its own
and matches `cnndsl.load`."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from collections import OrderedDict
from functools import cache

import pytest
from conftest import ARCHITECTURES, ROOT

import cnndsl
from cnndsl import cli

ZOO_DATA = ROOT / "tests" / "data" / "zoo"
ZOO = ("resnext50_32x4d", "wide_resnet50_2", "densenet121", "squeezenet1_1", "mnasnet1_0", "regnet_x_400mf",
       "convnext_tiny", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0", "unet", "fcn_resnet50",
       "deeplabv3_resnet50", "squeezenet1_0", "mobilenet_v3_small", "efficientnet_v2_s")
SEGMENTATION = ("unet", "fcn_resnet50", "deeplabv3_resnet50")


def chw(shape) -> list[int]:
    """An output shape as the manifests write it: C x H x W for a map (segmentation), N when flat."""
    return [shape[2], shape[0], shape[1]] if len(shape) == 3 else list(shape)


@cache
def manifest(name: str) -> dict:
    return json.loads((ZOO_DATA / f"{name}.json").read_text())


def path(name: str):
    return ARCHITECTURES / f"{name}.cnn"


@pytest.mark.parametrize("name", ZOO)
def test_figures_equal_manifest(name):
    ref = manifest(name)
    net = cnndsl.parse_file(path(name))
    s = cnndsl.stats(net)
    assert list(net.input) == ref["input"]
    assert chw(s.output) == ref["output"]
    assert (s.params, s.macs) == (ref["params"], ref["macs"])
    assert net.params["classes"] == ref["output"][0]


@pytest.mark.parametrize("name", SEGMENTATION)
def test_segmentation_output_follows_the_runtime_input(name):
    """The maps come back at the size of the image given, not the one on the `input` line."""
    torch = pytest.importorskip("torch")
    model = cnndsl.load(path(name), res=64, classes=3).eval()
    with torch.no_grad():
        assert list(model(torch.randn(1, 3, 96, 80)).shape) == [1, 3, 96, 80]


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_backbone_taps(name):
    """`outputs=backbone`: the dilated ResNet-50's features, output stride 8."""
    torch = pytest.importorskip("torch")
    model = cnndsl.load(path(name), res=64, outputs=["backbone"]).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert list(out) == ["backbone"] and list(out["backbone"].shape) == [1, 2048, 8, 8]


def test_resnext_depth_must_fit_the_layer3_rule():
    with pytest.raises(cnndsl.CnnError, match="whole number"):
        cnndsl.parse_file(path("resnext50_32x4d"), depth=100)


def test_stats_imports_no_torch():
    files = [str(path(n)) for n in ZOO]
    code = ("import sys; from cnndsl import cli; code = cli.main(['stats', *sys.argv[1:]]); "
            "assert 'torch' not in sys.modules, 'stats imported torch'; sys.exit(code)")
    r = subprocess.run([sys.executable, "-c", code, *files], check=False, capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "4,230,479,872" in r.stdout  # resnext50_32x4d's MACs, one of the five columns


# ------------------------------------------------------------------------- the PyTorch module


# the two ResNets run at 64x64 to save CI time (global pooling: the output shape does not depend on it);
# test_forward_equals_torchvision_written_by_hand runs their blocks too
FORWARD_SIZE = {"resnext50_32x4d": 64, "wide_resnet50_2": 64, "unet": 64,  # U-Net: 48 GMACs at 256
                "fcn_resnet50": 64, "deeplabv3_resnet50": 64}


@pytest.mark.parametrize("name", ZOO)
def test_module_equals_manifest(name):
    torch = pytest.importorskip("torch")
    ref = manifest(name)
    model = cnndsl.load(path(name)).eval()
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == ref["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == ref["params"]
    h, w, c = ref["input"]
    h = w = FORWARD_SIZE.get(name, h)
    with torch.no_grad():
        y = model(torch.randn(1, c, h, w))
    out = ref["output"] if len(ref["output"]) == 1 else [ref["output"][0], h, w]  # a map follows the input
    assert list(y.shape) == [1, *out]
    assert torch.isfinite(y).all()


def _randomize_norms(model, torch):
    """Non-trivial batch norms (a wrong eps or a missed norm shows), deterministic."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    for name, p in model.named_parameters():  # ConvNeXt's layer scale starts at 1e-6: the blocks would not show
        if name.endswith("layer_scale"):
            p.data.copy_(torch.rand(p.shape, generator=g) + 0.5)


# Small settings of each file (the same code paths, a fraction of the time) and the torchvision-style
# module written by hand below that builds the same network. `res` 64 keeps every pooling valid.
SMALL = {
    "resnext50_32x4d": {"res": 64, "groups": 4, "width_per_group": 4, "classes": 10},
    "wide_resnet50_2": {"res": 64, "width": 0.5, "classes": 10},  # inner widths c / 2
    "densenet121": {"res": 64, "growth": 8, "init": 16, "layers1": 2, "layers2": 3, "layers3": 2,
                    "layers4": 2, "classes": 10},
    "squeezenet1_1": {"res": 64, "classes": 10},
    "squeezenet1_0": {"res": 64, "classes": 10},
    "mnasnet1_0": {"res": 64, "alpha": 0.25, "classes": 10},  # alpha 0.25: the 96-stack's first block adds
    "convnext_tiny": {"res": 64, "d1": 1, "d2": 1, "d3": 2, "d4": 1, "c1": 16, "c2": 24, "c3": 32, "c4": 40,
                      "classes": 10},
    "mobilenet_v3_large": {"res": 64, "alpha": 0.5, "classes": 10},
    "mobilenet_v3_small": {"res": 64, "alpha": 0.75, "classes": 10},  # 0.75: 72 * 0.75 = 54 rounds to 56
    "efficientnet_b0": {"res": 64, "width": 0.5, "depth": 0.5, "classes": 10},  # 1, 1, 1, 2, 2, 2, 1 blocks
    # every stage, the seventh (of M and L) included; widths 19 and 37 expand to 19 x 4 = 76 and 37 x 6 = 222,
    # which torchvision's _make_divisible rounds to 80 and 224
    "efficientnet_v2_s": {"res": 64, "c0": 8, "c1": 8, "c2": 16, "c3": 19, "c4": 24, "c5": 32, "c6": 37, "c7": 40,
                          "n1": 2, "n2": 2, "n3": 2, "n4": 2, "n5": 1, "n6": 2, "n7": 2, "classes": 10},
    # RegNetY's squeeze-and-excitation, and a first stage narrower than the group width (one group)
    "regnet_x_400mf": {"res": 64, "d3": 2, "d4": 2, "w1": 8, "w2": 32, "w3": 48, "w4": 64, "group_width": 16,
                       "se": 0.25, "classes": 10},
    "shufflenet_v2_x1_0": {"res": 64, "width": 0.5, "classes": 10},
    "unet": {"res": 64, "base": 8, "classes": 3},
    "fcn_resnet50": {"res": 64, "classes": 3},
    "deeplabv3_resnet50": {"res": 64, "classes": 3},
}


def _hand_written(name: str, torch):
    """torchvision's classes for `name` at its SMALL settings, transcribed from torchvision/models/*.py
    (forward passes as torchvision writes them: DenseNet keeps the list of all earlier features)."""
    nn, F = torch.nn, torch.nn.functional

    class Bottleneck(nn.Module):  # resnet.py, with groups, base_width and dilation
        def __init__(self, inplanes, planes, stride, groups, base_width, dilation=1, downsample=None):
            super().__init__()
            width = int(planes * (base_width / 64.0)) * groups
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation=dilation, groups=groups, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = downsample
            if downsample is None and (stride != 1 or inplanes != planes * 4):
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                                nn.BatchNorm2d(planes * 4))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + identity)

    class ResNet(nn.Module):
        def __init__(self, layers, groups, width_per_group, num_classes):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            inplanes = 64
            for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
                blocks = []
                for j in range(n):
                    blocks.append(Bottleneck(inplanes, planes, 2 if i and not j else 1, groups, width_per_group))
                    inplanes = planes * 4
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class DenseLayer(nn.Module):  # densenet.py
        def __init__(self, num_input_features, growth_rate, bn_size):
            super().__init__()
            self.norm1 = nn.BatchNorm2d(num_input_features)
            self.relu1 = nn.ReLU()
            self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
            self.relu2 = nn.ReLU()
            self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

        def forward(self, prev_features):
            x = torch.cat(prev_features, 1)
            return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))

    class DenseBlock(nn.ModuleDict):
        def __init__(self, num_layers, num_input_features, bn_size, growth_rate):
            super().__init__()
            for i in range(num_layers):
                self.add_module(f"denselayer{i + 1}",
                                DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size))

        def forward(self, init_features):
            features = [init_features]
            for layer in self.values():
                features.append(layer(features))
            return torch.cat(features, 1)

    class DenseNet(nn.Module):
        def __init__(self, growth_rate, block_config, num_init_features, num_classes, bn_size=4):
            super().__init__()
            self.features = nn.Sequential(OrderedDict([
                ("conv0", nn.Conv2d(3, num_init_features, 7, 2, 3, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU()),
                ("pool0", nn.MaxPool2d(3, 2, 1)),
            ]))
            num_features = num_init_features
            for i, num_layers in enumerate(block_config):
                self.features.add_module(f"denseblock{i + 1}",
                                         DenseBlock(num_layers, num_features, bn_size, growth_rate))
                num_features += num_layers * growth_rate
                if i != len(block_config) - 1:
                    self.features.add_module(f"transition{i + 1}", nn.Sequential(OrderedDict([
                        ("norm", nn.BatchNorm2d(num_features)),
                        ("relu", nn.ReLU()),
                        ("conv", nn.Conv2d(num_features, num_features // 2, 1, bias=False)),
                        ("pool", nn.AvgPool2d(2, 2)),
                    ])))
                    num_features //= 2
            self.features.add_module("norm5", nn.BatchNorm2d(num_features))
            self.classifier = nn.Linear(num_features, num_classes)

        def forward(self, x):
            out = F.relu(self.features(x))
            out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
            return self.classifier(out)

    class Fire(nn.Module):  # squeezenet.py
        def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
            super().__init__()
            self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
            self.squeeze_activation = nn.ReLU()
            self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
            self.expand1x1_activation = nn.ReLU()
            self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
            self.expand3x3_activation = nn.ReLU()

        def forward(self, x):
            x = self.squeeze_activation(self.squeeze(x))
            return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                              self.expand3x3_activation(self.expand3x3(x))], 1)

    class SqueezeNet(nn.Module):
        def __init__(self, version, num_classes):
            super().__init__()
            pool = {"kernel_size": 3, "stride": 2, "ceil_mode": True}
            if version == "1_0":
                self.features = nn.Sequential(
                    nn.Conv2d(3, 96, 7, 2), nn.ReLU(), nn.MaxPool2d(**pool),
                    Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), nn.MaxPool2d(**pool),
                    Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                    Fire(384, 64, 256, 256), nn.MaxPool2d(**pool), Fire(512, 64, 256, 256))
            else:
                self.features = nn.Sequential(
                    nn.Conv2d(3, 64, 3, 2), nn.ReLU(), nn.MaxPool2d(**pool),
                    Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(**pool),
                    Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(**pool),
                    Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                    Fire(512, 64, 256, 256))
            self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(),
                                            nn.AdaptiveAvgPool2d((1, 1)))

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    momentum = 1 - 0.9997  # mnasnet.py

    class InvertedResidual(nn.Module):
        def __init__(self, in_ch, out_ch, kernel_size, stride, expansion_factor):
            super().__init__()
            mid_ch = in_ch * expansion_factor
            self.apply_residual = in_ch == out_ch and stride == 1
            self.layers = nn.Sequential(
                nn.Conv2d(in_ch, mid_ch, 1, bias=False), nn.BatchNorm2d(mid_ch, momentum=momentum), nn.ReLU(),
                nn.Conv2d(mid_ch, mid_ch, kernel_size, padding=kernel_size // 2, stride=stride, groups=mid_ch,
                          bias=False),
                nn.BatchNorm2d(mid_ch, momentum=momentum), nn.ReLU(),
                nn.Conv2d(mid_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch, momentum=momentum))

        def forward(self, x):
            return self.layers(x) + x if self.apply_residual else self.layers(x)

    def stack(in_ch, out_ch, kernel_size, stride, exp_factor, repeats):
        return nn.Sequential(InvertedResidual(in_ch, out_ch, kernel_size, stride, exp_factor),
                             *[InvertedResidual(out_ch, out_ch, kernel_size, 1, exp_factor)
                               for _ in range(1, repeats)])

    def round_to_multiple_of(val, divisor, round_up_bias=0.9):
        new_val = max(divisor, int(val + divisor / 2) // divisor * divisor)
        return new_val if new_val >= round_up_bias * val else new_val + divisor

    class MNASNet(nn.Module):
        def __init__(self, alpha, num_classes):
            super().__init__()
            d = [round_to_multiple_of(c * alpha, 8) for c in (32, 16, 24, 40, 80, 96, 192, 320)]
            self.layers = nn.Sequential(
                nn.Conv2d(3, d[0], 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(d[0], momentum=momentum),
                nn.ReLU(),
                nn.Conv2d(d[0], d[0], 3, padding=1, groups=d[0], bias=False), nn.BatchNorm2d(d[0], momentum=momentum),
                nn.ReLU(),
                nn.Conv2d(d[0], d[1], 1, bias=False), nn.BatchNorm2d(d[1], momentum=momentum),
                stack(d[1], d[2], 3, 2, 3, 3), stack(d[2], d[3], 5, 2, 3, 3), stack(d[3], d[4], 5, 2, 6, 3),
                stack(d[4], d[5], 3, 1, 6, 2), stack(d[5], d[6], 5, 2, 6, 4), stack(d[6], d[7], 3, 1, 6, 1),
                nn.Conv2d(d[7], 1280, 1, bias=False), nn.BatchNorm2d(1280, momentum=momentum), nn.ReLU())
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

        def forward(self, x):
            return self.classifier(self.layers(x).mean([2, 3]))

    class ResBottleneckBlock(nn.Module):  # regnet.py: bottleneck multiplier 1
        def __init__(self, width_in, width_out, stride, group_width, se_ratio):
            super().__init__()
            self.proj = None
            if width_in != width_out or stride != 1:
                self.proj = nn.Sequential(nn.Conv2d(width_in, width_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(width_out))
            layers = OrderedDict([
                ("a", nn.Sequential(nn.Conv2d(width_in, width_out, 1, bias=False), nn.BatchNorm2d(width_out),
                                    nn.ReLU())),
                ("b", nn.Sequential(nn.Conv2d(width_out, width_out, 3, stride, 1, groups=width_out // group_width,
                                              bias=False), nn.BatchNorm2d(width_out), nn.ReLU())),
            ])
            if se_ratio:  # BottleneckTransform: from the block's input width, ReLU inside, sigmoid gate
                layers["se"] = SqueezeExcitation(width_out, round(se_ratio * width_in))
                layers["se"].scale_activation = nn.Sigmoid()
            layers["c"] = nn.Sequential(nn.Conv2d(width_out, width_out, 1, bias=False), nn.BatchNorm2d(width_out))
            self.f = nn.Sequential(layers)
            self.activation = nn.ReLU()

        def forward(self, x):
            return self.activation((x if self.proj is None else self.proj(x)) + self.f(x))

    class RegNet(nn.Module):
        def __init__(self, depths, widths, group_width, se_ratio, num_classes):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
            stages, width_in = [], 32
            for i, (depth, width) in enumerate(zip(depths, widths)):
                gw = min(group_width, width)  # BlockParams._adjust_widths_groups_compatibilty
                blocks = [(f"block{i + 1}-{j}", ResBottleneckBlock(width_in if j == 0 else width, width,
                                                                    2 if j == 0 else 1, gw, se_ratio))
                          for j in range(depth)]
                stages.append((f"block{i + 1}", nn.Sequential(OrderedDict(blocks))))
                width_in = width
            self.trunk_output = nn.Sequential(OrderedDict(stages))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(width_in, num_classes)

        def forward(self, x):
            x = self.avgpool(self.trunk_output(self.stem(x)))
            return self.fc(x.flatten(start_dim=1))

    class LayerNorm2d(nn.LayerNorm):  # convnext.py
        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)

    class Permute(nn.Module):  # torchvision/ops/misc.py
        def __init__(self, dims):
            super().__init__()
            self.dims = dims

        def forward(self, x):
            return torch.permute(x, self.dims)

    class StochasticDepth(nn.Module):  # torchvision/ops/stochastic_depth.py, mode "row"
        def __init__(self, p):
            super().__init__()
            self.p = p

        def forward(self, x):
            if not self.training or self.p == 0.0:
                return x
            noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1)).bernoulli_(1.0 - self.p)
            return x * noise.div_(1.0 - self.p)

    class CNBlock(nn.Module):
        def __init__(self, dim, layer_scale, stochastic_depth_prob):
            super().__init__()
            self.block = nn.Sequential(
                nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True), Permute([0, 2, 3, 1]),
                nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim),
                Permute([0, 3, 1, 2]))
            self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
            self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

        def forward(self, x):
            result = self.stochastic_depth(self.layer_scale * self.block(x))
            result += x
            return result

    class ConvNeXt(nn.Module):
        def __init__(self, dims, depths, stochastic_depth_prob, num_classes):
            super().__init__()
            layers = [nn.Sequential(nn.Conv2d(3, dims[0], 4, 4, 0, bias=True), LayerNorm2d(dims[0], eps=1e-6))]
            total, block_id = sum(depths), 0
            for i, (dim, depth) in enumerate(zip(dims, depths)):
                stage = []
                for _ in range(depth):
                    stage.append(CNBlock(dim, 1e-6, stochastic_depth_prob * block_id / (total - 1.0)))
                    block_id += 1
                layers.append(nn.Sequential(*stage))
                if i < 3:
                    layers.append(nn.Sequential(LayerNorm2d(dim, eps=1e-6), nn.Conv2d(dim, dims[i + 1], 2, 2)))
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(LayerNorm2d(dims[-1], eps=1e-6), nn.Flatten(1),
                                            nn.Linear(dims[-1], num_classes))

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)))

    class SqueezeExcitation(nn.Module):  # torchvision/ops/misc.py, with mobilenetv3.py's hard-sigmoid gate
        def __init__(self, input_channels, squeeze_channels):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
            self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
            self.activation = nn.ReLU()
            self.scale_activation = nn.Hardsigmoid()

        def forward(self, x):
            return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x

    def conv_norm_act(cin, cout, k, stride=1, groups=1, act=None):  # Conv2dNormActivation, mobilenetv3's BN
        layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout, eps=0.001, momentum=0.01)]
        return nn.Sequential(*layers, *([act()] if act else []))

    class InvertedResidualV3(nn.Module):  # mobilenetv3.py
        def __init__(self, cin, kernel, expanded, cout, use_se, act, stride):
            super().__init__()
            self.use_res_connect = stride == 1 and cin == cout
            layers = [conv_norm_act(cin, expanded, 1, act=act)] if expanded != cin else []
            layers.append(conv_norm_act(expanded, expanded, kernel, stride, expanded, act))
            if use_se:
                layers.append(SqueezeExcitation(expanded, round_to_multiple_of(expanded // 4, 8)))
            layers.append(conv_norm_act(expanded, cout, 1))
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            result = self.block(x)
            return result + x if self.use_res_connect else result

    RE, HS = nn.ReLU, nn.Hardswish
    mobilenet_v3_settings = {  # mobilenetv3.py's _mobilenet_v3_conf: (cin, kernel, expanded, cout, se, act, stride)
        "large": [(16, 3, 16, 16, False, RE, 1), (16, 3, 64, 24, False, RE, 2), (24, 3, 72, 24, False, RE, 1),
                  (24, 5, 72, 40, True, RE, 2), (40, 5, 120, 40, True, RE, 1), (40, 5, 120, 40, True, RE, 1),
                  (40, 3, 240, 80, False, HS, 2), (80, 3, 200, 80, False, HS, 1), (80, 3, 184, 80, False, HS, 1),
                  (80, 3, 184, 80, False, HS, 1), (80, 3, 480, 112, True, HS, 1),
                  (112, 3, 672, 112, True, HS, 1), (112, 5, 672, 160, True, HS, 2),
                  (160, 5, 960, 160, True, HS, 1), (160, 5, 960, 160, True, HS, 1)],
        "small": [(16, 3, 16, 16, True, RE, 2), (16, 3, 72, 24, False, RE, 2), (24, 3, 88, 24, False, RE, 1),
                  (24, 5, 96, 40, True, HS, 2), (40, 5, 240, 40, True, HS, 1), (40, 5, 240, 40, True, HS, 1),
                  (40, 5, 120, 48, True, HS, 1), (48, 5, 144, 48, True, HS, 1), (48, 5, 288, 96, True, HS, 2),
                  (96, 5, 576, 96, True, HS, 1), (96, 5, 576, 96, True, HS, 1)],
    }

    class MobileNetV3(nn.Module):
        def __init__(self, arch, width_mult, num_classes):
            super().__init__()
            adjust = lambda c: round_to_multiple_of(c * width_mult, 8)  # noqa: E731
            setting, last_channel = mobilenet_v3_settings[arch], {"large": 1280, "small": 1024}[arch]
            layers = [conv_norm_act(3, adjust(16), 3, 2, act=HS)]
            for cin, k, e, cout, se, act, stride in setting:
                layers.append(InvertedResidualV3(adjust(cin), k, adjust(e), adjust(cout), se, act, stride))
            last = 6 * adjust(setting[-1][3])
            layers.append(conv_norm_act(adjust(setting[-1][3]), last, 1, act=HS))
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(last, adjust(last_channel)), HS(), nn.Dropout(0.2),
                                            nn.Linear(adjust(last_channel), num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    class SqueezeExcitationSiLU(SqueezeExcitation):  # efficientnet.py: SiLU inside, sigmoid gate
        def __init__(self, input_channels, squeeze_channels):
            super().__init__(input_channels, squeeze_channels)
            self.activation, self.scale_activation = nn.SiLU(), nn.Sigmoid()

    class MBConv(nn.Module):  # efficientnet.py
        def __init__(self, expand_ratio, kernel, stride, cin, cout, sd_prob):
            super().__init__()
            self.use_res_connect = stride == 1 and cin == cout
            expanded = round_to_multiple_of(cin * expand_ratio, 8)
            layers = [conv_norm_act(cin, expanded, 1, act=nn.SiLU)] if expanded != cin else []
            layers.append(conv_norm_act(expanded, expanded, kernel, stride, expanded, nn.SiLU))
            layers.append(SqueezeExcitationSiLU(expanded, max(1, cin // 4)))
            layers.append(conv_norm_act(expanded, cout, 1))
            self.block = nn.Sequential(*layers)
            self.stochastic_depth = StochasticDepth(sd_prob)

        def forward(self, x):
            result = self.block(x)
            if self.use_res_connect:
                result = self.stochastic_depth(result)
                result += x
            return result

    class EfficientNet(nn.Module):
        def __init__(self, width_mult, depth_mult, num_classes):
            super().__init__()
            adjust = lambda c: round_to_multiple_of(c * width_mult, 8)  # noqa: E731
            setting = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                       (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
            layers = [conv_norm_act(3, adjust(32), 3, 2, act=nn.SiLU)]
            total, block_id = sum(math.ceil(n * depth_mult) for *_, n in setting), 0
            for e, k, stride, cin, cout, n in setting:
                stage = []
                for j in range(math.ceil(n * depth_mult)):
                    stage.append(MBConv(e, k, stride if j == 0 else 1, adjust(cin) if j == 0 else adjust(cout),
                                        adjust(cout), 0.2 * block_id / total))
                    block_id += 1
                layers.append(nn.Sequential(*stage))
            layers.append(conv_norm_act(adjust(320), 4 * adjust(320), 1, act=nn.SiLU))
            self.features = nn.Sequential(*layers)
            for m in self.features.modules():  # conv_norm_act has mobilenetv3's norms; EfficientNet-B0 the defaults
                if isinstance(m, nn.BatchNorm2d):
                    m.eps, m.momentum = 1e-5, 0.1
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * adjust(320), num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    class FusedMBConv(MBConv):  # efficientnet.py: one kxk convolution to the expanded width, then a projection
        def __init__(self, expand_ratio, kernel, stride, cin, cout, sd_prob):
            nn.Module.__init__(self)
            self.use_res_connect = stride == 1 and cin == cout
            expanded = round_to_multiple_of(cin * expand_ratio, 8)
            if expanded != cin:
                layers = [conv_norm_act(cin, expanded, kernel, stride, act=nn.SiLU), conv_norm_act(expanded, cout, 1)]
            else:
                layers = [conv_norm_act(cin, cout, kernel, stride, act=nn.SiLU)]
            self.block = nn.Sequential(*layers)
            self.stochastic_depth = StochasticDepth(sd_prob)

    class EfficientNetV2(nn.Module):  # efficientnet.py's EfficientNet with a _efficientnet_conf("efficientnet_v2_*")
        def __init__(self, setting, num_classes):  # rows: (block, expand_ratio, kernel, stride, cin, cout, layers)
            super().__init__()
            layers = [conv_norm_act(3, setting[0][4], 3, 2, act=nn.SiLU)]
            total, block_id = sum(row[-1] for row in setting), 0
            for block, e, k, stride, cin, cout, n in setting:
                stage = []
                for j in range(n):
                    stage.append(block(e, k, stride if j == 0 else 1, cin if j == 0 else cout, cout,
                                       0.2 * block_id / total))
                    block_id += 1
                layers.append(nn.Sequential(*stage))
            layers.append(conv_norm_act(setting[-1][5], 1280, 1, act=nn.SiLU))
            self.features = nn.Sequential(*layers)
            for m in self.features.modules():  # partial(nn.BatchNorm2d, eps=1e-03): momentum the default
                if isinstance(m, nn.BatchNorm2d):
                    m.eps, m.momentum = 1e-3, 0.1
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    class DoubleConv(nn.Module):  # milesial/Pytorch-UNet unet/unet_parts.py
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.double_conv = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
                nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

        def forward(self, x):
            return self.double_conv(x)

    class Down(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

        def forward(self, x):
            return self.maxpool_conv(x)

    class Up(nn.Module):  # bilinear=False
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

        def forward(self, x1, x2):
            x1 = self.up(x1)
            dy, dx = x2.size()[2] - x1.size()[2], x2.size()[3] - x1.size()[3]
            x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            return self.conv(torch.cat([x2, x1], dim=1))

    class OutConv(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

        def forward(self, x):
            return self.conv(x)

    class UNet(nn.Module):  # unet/unet_model.py, bilinear=False, the widths scaled by `b` (64 there)
        def __init__(self, n_channels, n_classes, b):
            super().__init__()
            self.inc = DoubleConv(n_channels, b)
            self.down1, self.down2 = Down(b, 2 * b), Down(2 * b, 4 * b)
            self.down3, self.down4 = Down(4 * b, 8 * b), Down(8 * b, 16 * b)
            self.up1, self.up2 = Up(16 * b, 8 * b), Up(8 * b, 4 * b)
            self.up3, self.up4 = Up(4 * b, 2 * b), Up(2 * b, b)
            self.outc = OutConv(b, n_classes)

        def forward(self, x):
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            x4 = self.down3(x3)
            x5 = self.down4(x4)
            x = self.up1(x5, x4)
            x = self.up2(x, x3)
            x = self.up3(x, x2)
            x = self.up4(x, x1)
            return self.outc(x)

    def channel_shuffle(x, groups):  # shufflenetv2.py
        b, c, h, w = x.size()
        x = x.view(b, groups, c // groups, h, w)
        return torch.transpose(x, 1, 2).contiguous().view(b, -1, h, w)

    class ShuffleInvertedResidual(nn.Module):  # shufflenetv2.py's InvertedResidual (mnasnet.py has one too)
        def __init__(self, inp, oup, stride):
            super().__init__()
            self.stride = stride
            f = oup // 2
            if stride > 1:
                self.branch1 = nn.Sequential(
                    nn.Conv2d(inp, inp, 3, stride, 1, bias=False, groups=inp), nn.BatchNorm2d(inp),
                    nn.Conv2d(inp, f, 1, 1, 0, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True))
            else:
                self.branch1 = nn.Sequential()
            self.branch2 = nn.Sequential(
                nn.Conv2d(inp if stride > 1 else f, f, 1, 1, 0, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True),
                nn.Conv2d(f, f, 3, stride, 1, bias=False, groups=f), nn.BatchNorm2d(f),
                nn.Conv2d(f, f, 1, 1, 0, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True))

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        def __init__(self, stages_repeats, stages_out_channels, num_classes):
            super().__init__()
            c = stages_out_channels[0]
            self.conv1 = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            for stage, repeats, out in zip(["stage2", "stage3", "stage4"], stages_repeats, stages_out_channels[1:]):
                seq = [ShuffleInvertedResidual(c, out, 2)]
                seq += [ShuffleInvertedResidual(out, out, 1) for _ in range(repeats - 1)]
                setattr(self, stage, nn.Sequential(*seq))
                c = out
            out = stages_out_channels[-1]
            self.conv5 = nn.Sequential(nn.Conv2d(c, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True))
            self.fc = nn.Linear(out, num_classes)

        def forward(self, x):
            x = self.maxpool(self.conv1(x))
            x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
            return self.fc(x.mean([2, 3]))

    class DilatedResNet50(nn.Module):
        """resnet50(replace_stride_with_dilation=[False, True, True]) as IntermediateLayerGetter keeps it
        (no avgpool, no fc); `_make_layer` with `dilate`."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.inplanes, self.dilation = 64, 1
            self.layer1 = self._make_layer(64, 3)
            self.layer2 = self._make_layer(128, 4, stride=2)
            self.layer3 = self._make_layer(256, 6, stride=2, dilate=True)
            self.layer4 = self._make_layer(512, 3, stride=2, dilate=True)

        def _make_layer(self, planes, blocks, stride=1, dilate=False):
            previous_dilation = self.dilation
            if dilate:
                self.dilation *= stride
                stride = 1
            downsample = None
            if stride != 1 or self.inplanes != planes * 4:
                downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                           nn.BatchNorm2d(planes * 4))
            layers = [Bottleneck(self.inplanes, planes, stride, 1, 64, previous_dilation, downsample)]
            self.inplanes = planes * 4
            layers += [Bottleneck(self.inplanes, planes, 1, 1, 64, self.dilation) for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def conv_bn_relu(cin, cout, k, d=1):
        return [nn.Conv2d(cin, cout, k, padding=d * (k // 2), dilation=d, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    class ASPPPooling(nn.Sequential):  # segmentation/deeplabv3.py
        def __init__(self, in_channels, out_channels):
            super().__init__(nn.AdaptiveAvgPool2d(1), *conv_bn_relu(in_channels, out_channels, 1))

        def forward(self, x):
            size = x.shape[-2:]
            for mod in self:
                x = mod(x)
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    class ASPP(nn.Module):
        def __init__(self, in_channels, atrous_rates, out_channels=256):
            super().__init__()
            modules = [nn.Sequential(*conv_bn_relu(in_channels, out_channels, 1))]
            modules += [nn.Sequential(*conv_bn_relu(in_channels, out_channels, 3, r)) for r in atrous_rates]
            modules.append(ASPPPooling(in_channels, out_channels))
            self.convs = nn.ModuleList(modules)
            self.project = nn.Sequential(*conv_bn_relu(len(self.convs) * out_channels, out_channels, 1), nn.Dropout(0.5))

        def forward(self, x):
            return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))

    class SegmentationModel(nn.Module):  # segmentation/_utils.py _SimpleSegmentationModel, the "out" map
        def __init__(self, classifier):
            super().__init__()
            self.backbone, self.classifier = DilatedResNet50(), classifier

        def forward(self, x):
            input_shape = x.shape[-2:]
            x = self.classifier(self.backbone(x))
            return F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)

    s = SMALL[name]
    if name == "efficientnet_b0":
        return EfficientNet(s["width"], s["depth"], s["classes"])
    if name == "efficientnet_v2_s":
        c, n = [s[f"c{i}"] for i in range(8)], [s[f"n{i}"] for i in range(1, 8)]
        kinds, expand, strides = [FusedMBConv] * 3 + [MBConv] * 4, (1, 4, 4, 4, 6, 6, 6), (1, 2, 2, 2, 1, 2, 1)
        return EfficientNetV2([(kinds[i], expand[i], 3, strides[i], c[i], c[i + 1], n[i]) for i in range(7)],
                              s["classes"])
    if name.startswith("mobilenet_v3_"):
        return MobileNetV3(name.removeprefix("mobilenet_v3_"), s["alpha"], s["classes"])
    if name == "convnext_tiny":
        return ConvNeXt([s[f"c{i}"] for i in range(1, 5)], [s[f"d{i}"] for i in range(1, 5)], 0.1, s["classes"])
    if name == "regnet_x_400mf":
        return RegNet([1, 2, s["d3"], s["d4"]], [s[f"w{i}"] for i in range(1, 5)], s["group_width"], s["se"],
                      s["classes"])
    if name == "fcn_resnet50":  # FCNHead(2048, classes)
        return SegmentationModel(nn.Sequential(*conv_bn_relu(2048, 512, 3), nn.Dropout(0.1),
                                               nn.Conv2d(512, s["classes"], 1)))
    if name == "deeplabv3_resnet50":  # DeepLabHead(2048, classes)
        return SegmentationModel(nn.Sequential(ASPP(2048, [12, 24, 36]), *conv_bn_relu(256, 256, 3),
                                               nn.Conv2d(256, s["classes"], 1)))
    if name == "shufflenet_v2_x1_0":  # width 0.5: torchvision's shufflenet_v2_x0_5
        return ShuffleNetV2([4, 8, 4], [24, 48, 96, 192, 1024], s["classes"])
    if name == "unet":
        return UNet(3, s["classes"], s["base"])
    if name == "resnext50_32x4d":
        return ResNet((3, 4, 6, 3), s["groups"], s["width_per_group"], s["classes"])
    if name == "wide_resnet50_2":
        return ResNet((3, 4, 6, 3), 1, 64 * s["width"], s["classes"])
    if name == "densenet121":
        return DenseNet(s["growth"], tuple(s[f"layers{i}"] for i in range(1, 5)), s["init"], s["classes"])
    if name.startswith("squeezenet"):
        return SqueezeNet(name.removeprefix("squeezenet"), s["classes"])
    mnasnet = MNASNet(s["alpha"], s["classes"])
    assert mnasnet.layers[11][0].apply_residual  # the case `residual if_same` must catch
    return mnasnet


@pytest.mark.parametrize("name", ZOO)
def test_forward_equals_torchvision_written_by_hand(name):
    """The hand-written torchvision module's weights load strictly into `cnndsl.load` (same keys and
    shapes) and both give the same outputs in eval mode, and the same batch-norm updates in training."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    hand = _hand_written(name, torch)
    _randomize_norms(hand, torch)
    model = cnndsl.load(path(name), weights=hand.state_dict(), **SMALL[name])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), hand.eval()(x), atol=1e-5, rtol=1e-4)
        torch.manual_seed(2)  # the same seed: stochastic depth drops the same samples, dropout draws alike
        model.train()(x)  # the running statistics must agree (DeepLabV3 has a batch norm after its dropout)
        torch.manual_seed(2)
        hand.train()(x)
    for (k, a), b in zip(model.state_dict().items(), hand.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k


# ------------------------------------------------------------------------- emitted source

RUN_EMITTED = """
import sys, torch
assert "cnndsl" not in sys.modules
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2:]:
    module = __import__(name)
    saved = torch.load(f"{sys.argv[1]}/{name}.pt")
    src = open(f"{sys.argv[1]}/{name}.py").read()
    net = getattr(module, src.split("\\nclass ")[-1].split("(")[0])().eval()
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == saved["shapes"], name
    net.load_state_dict(saved["state"])
    with torch.no_grad():
        torch.save(net(saved["x"]), f"{sys.argv[1]}/{name}.out.pt")
"""


def test_emitted_source_runs_and_matches_load(tmp_path):
    """`cnndsl compile` of each file (at its SMALL settings) imported in a fresh interpreter without
    cnndsl: the same state_dict keys and shapes in order as `cnndsl.load`, the same outputs."""
    torch = pytest.importorskip("torch")
    expected = {}
    for name in ZOO:
        sets = [a for k, v in SMALL[name].items() for a in ("--set", f"{k}={v}")]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert cli.main(["compile", str(path(name)), "-o", str(tmp_path / f"{name}.py"), *sets]) == 0, err
        torch.manual_seed(0)
        model = cnndsl.load(path(name), **SMALL[name]).eval()
        _randomize_norms(model, torch)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            expected[name] = model(x)
        torch.save({"shapes": [(k, tuple(v.shape)) for k, v in model.state_dict().items()],
                    "state": model.state_dict(), "x": x}, tmp_path / f"{name}.pt")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-I", "-c", RUN_EMITTED, str(tmp_path), *ZOO], check=True, cwd=tmp_path,
                   env=clean)
    for name, y in expected.items():
        assert torch.allclose(torch.load(tmp_path / f"{name}.out.pt"), y, atol=1e-5, rtol=1e-4), name


def test_convnext_stochastic_depth_rises_linearly_as_torchvision():
    """convnext.py: block k of 18 drops with probability 0.1 * k / 17 in training."""
    pytest.importorskip("torch")
    model = cnndsl.load(path("convnext_tiny"), max_params=None)
    got = [m.p for m in model.modules() if type(m).__name__ == "StochasticDepth"]
    assert got == pytest.approx([0.1 * k / 17 for k in range(18)], abs=1e-12)
