"""Every size of the shipped families against the figures torchvision publishes with its pretrained
weights (tests/data/zoo/families.json, copied from torchvision 0.29.1's source; see its README): each
torchvision builder is one shipped file at some `--set` values, its parameter count equals the published
`num_params` exactly and its multiply-adds, at the resolution the published `_ops` is measured at, round
to the published figure; where torchvision's figures count an auxiliary head the shipped network leaves
out (or the reverse), the head is counted by hand. The catalog of published weights
(`architectures/weights.json`) names the same URLs and sha256 prefixes as torchvision."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from conftest import ARCHITECTURES, ROOT

import cnndsl

PUBLISHED = json.loads((ROOT / "tests" / "data" / "zoo" / "families.json").read_text())["builders"]


def numbered(prefix: str, values, start: int = 1) -> dict:
    """Params numbered per stage: `numbered("d", (1, 3))` is `{"d1": 1, "d2": 3}`."""
    return {f"{prefix}{i}": v for i, v in enumerate(values, start)}


def regnet(depths, widths, group_width, se=0):
    """The --set values of a RegNet size: torchvision's BlockParams for its builder, worked out."""
    return {**numbered("d", depths), **numbered("w", widths), "group_width": group_width, "se": se}


def efficientnet(width, depth, dropout, eps=1e-5, momentum=0.1):
    return {"width": width, "depth": depth, "dropout": dropout, "eps": eps, "momentum": momentum}


def efficientnet_v2(widths, depths, dropout):
    """The --set values of an EfficientNetV2 size: torchvision's `_efficientnet_conf` stage table (the stem
    and stage widths c0..c7, the stage depths n1..n7)."""
    return {**numbered("c", widths, 0), **numbered("n", depths), "dropout": dropout}


# torchvision's builder -> the shipped file and the --set values that build it (as each file's header says)
SIZES = {
    "resnet18": ("resnet18", {}),
    "resnet34": ("resnet34", {}),
    "resnet50": ("resnet50", {}),
    "resnet101": ("resnet101", {}),
    "resnet152": ("resnet152", {}),
    "resnext50_32x4d": ("resnext50_32x4d", {}),
    "resnext101_32x8d": ("resnext50_32x4d", {"depth": 101, "width_per_group": 8}),
    "resnext101_64x4d": ("resnext50_32x4d", {"depth": 101, "groups": 64}),
    "wide_resnet50_2": ("wide_resnet50_2", {}),
    "wide_resnet101_2": ("wide_resnet50_2", {"depth": 101}),
    "vgg16": ("vgg16", {}),
    "vgg19": ("vgg19", {}),
    "alexnet": ("alexnet", {}),
    "googlenet": ("googlenet", {}),
    "inception_v3": ("inception_v3", {}),
    "mobilenet_v2": ("mobilenet_v2", {}),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}),
    "densenet121": ("densenet121", {}),
    "densenet161": ("densenet121", {"growth": 48, "init": 96, "layers3": 36, "layers4": 24}),
    "densenet169": ("densenet121", {"layers3": 32, "layers4": 32}),
    "densenet201": ("densenet121", {"layers3": 48, "layers4": 32}),
    "squeezenet1_0": ("squeezenet1_0", {}),
    "squeezenet1_1": ("squeezenet1_1", {}),
    "shufflenet_v2_x0_5": ("shufflenet_v2_x1_0", {"width": 0.5}),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}),
    "shufflenet_v2_x1_5": ("shufflenet_v2_x1_0", {"width": 1.5}),
    "shufflenet_v2_x2_0": ("shufflenet_v2_x1_0", {"width": 2.0}),
    "mnasnet0_5": ("mnasnet1_0", {"alpha": 0.5}),
    "mnasnet0_75": ("mnasnet1_0", {"alpha": 0.75}),
    "mnasnet1_0": ("mnasnet1_0", {}),
    "mnasnet1_3": ("mnasnet1_0", {"alpha": 1.3}),
    "efficientnet_b0": ("efficientnet_b0", {}),
    "efficientnet_b1": ("efficientnet_b0", efficientnet(1.0, 1.1, 0.2)),
    "efficientnet_b2": ("efficientnet_b0", efficientnet(1.1, 1.2, 0.3)),
    "efficientnet_b3": ("efficientnet_b0", efficientnet(1.2, 1.4, 0.3)),
    "efficientnet_b4": ("efficientnet_b0", efficientnet(1.4, 1.8, 0.4)),
    "efficientnet_b5": ("efficientnet_b0", efficientnet(1.6, 2.2, 0.4, eps=0.001, momentum=0.01)),
    "efficientnet_b6": ("efficientnet_b0", efficientnet(1.8, 2.6, 0.5, eps=0.001, momentum=0.01)),
    "efficientnet_b7": ("efficientnet_b0", efficientnet(2.0, 3.1, 0.5, eps=0.001, momentum=0.01)),
    "efficientnet_v2_s": ("efficientnet_v2_s", {}),
    "efficientnet_v2_m": ("efficientnet_v2_s",
                          efficientnet_v2((24, 24, 48, 80, 160, 176, 304, 512), (3, 5, 5, 7, 14, 18, 5), 0.3)),
    "efficientnet_v2_l": ("efficientnet_v2_s",
                          efficientnet_v2((32, 32, 64, 96, 192, 224, 384, 640), (4, 7, 7, 10, 19, 25, 7), 0.4)),
    "regnet_x_400mf": ("regnet_x_400mf", {}),
    "regnet_x_800mf": ("regnet_x_400mf", regnet((1, 3, 7, 5), (64, 128, 288, 672), 16)),
    "regnet_x_1_6gf": ("regnet_x_400mf", regnet((2, 4, 10, 2), (72, 168, 408, 912), 24)),
    "regnet_x_3_2gf": ("regnet_x_400mf", regnet((2, 6, 15, 2), (96, 192, 432, 1008), 48)),
    "regnet_x_8gf": ("regnet_x_400mf", regnet((2, 5, 15, 1), (80, 240, 720, 1920), 120)),
    "regnet_x_16gf": ("regnet_x_400mf", regnet((2, 6, 13, 1), (256, 512, 896, 2048), 128)),
    "regnet_x_32gf": ("regnet_x_400mf", regnet((2, 7, 13, 1), (336, 672, 1344, 2520), 168)),
    "regnet_y_400mf": ("regnet_x_400mf", regnet((1, 3, 6, 6), (48, 104, 208, 440), 8, se=0.25)),
    "regnet_y_800mf": ("regnet_x_400mf", regnet((1, 3, 8, 2), (64, 144, 320, 784), 16, se=0.25)),
    "regnet_y_1_6gf": ("regnet_x_400mf", regnet((2, 6, 17, 2), (48, 120, 336, 888), 24, se=0.25)),
    "regnet_y_3_2gf": ("regnet_x_400mf", regnet((2, 5, 13, 1), (72, 216, 576, 1512), 24, se=0.25)),
    "regnet_y_8gf": ("regnet_x_400mf", regnet((2, 4, 10, 1), (224, 448, 896, 2016), 56, se=0.25)),
    "regnet_y_16gf": ("regnet_x_400mf", regnet((2, 4, 11, 1), (224, 448, 1232, 3024), 112, se=0.25)),
    "regnet_y_32gf": ("regnet_x_400mf", regnet((2, 5, 12, 1), (232, 696, 1392, 3712), 232, se=0.25)),
    "regnet_y_128gf": ("regnet_x_400mf", regnet((2, 7, 17, 1), (528, 1056, 2904, 7392), 264, se=0.25)),
    "convnext_tiny": ("convnext_tiny", {}),
    "convnext_small": ("convnext_tiny", {"d3": 27, "sd": 0.4}),
    "convnext_base": ("convnext_tiny", {"d3": 27, "sd": 0.5, "c1": 128, "c2": 256, "c3": 512, "c4": 1024}),
    "convnext_large": ("convnext_tiny", {"d3": 27, "sd": 0.5, "c1": 192, "c2": 384, "c3": 768, "c4": 1536}),
    "fcn_resnet50": ("fcn_resnet50", {}),
    "fcn_resnet101": ("fcn_resnet50", {"depth": 101}),
    "deeplabv3_resnet50": ("deeplabv3_resnet50", {}),
    "deeplabv3_resnet101": ("deeplabv3_resnet50", {"depth": 101}),
}


def inception_aux(cin: int, convs: list[tuple[int, int, int]], fcs: list[tuple[int, int]]) -> int:
    """Parameters of an auxiliary classifier: convolutions (k, cin, cout) without bias, each with a batch
    norm (2 x cout), then linear layers (fin, fout) with bias."""
    return sum(k * k * ci * co + 2 * co for k, ci, co in convs) + sum(fi * fo + fo for fi, fo in fcs)


def fcn_head(cin: int, classes: int, size: int) -> tuple[int, int]:
    """torchvision's FCNHead(cin, classes) on a size x size map: a 3x3 convolution to cin // 4 channels
    without bias, batch norm, ReLU, dropout, a 1x1 convolution with bias; (params, MACs)."""
    c = cin // 4
    return 9 * cin * c + 2 * c + c * classes + classes, size * size * (9 * cin * c + c * classes)


# What torchvision's published figures count and the shipped network does not (or the reverse, negative):
# (params, MACs at the published resolution)
SEGMENTATION_AUX = fcn_head(1024, 21, 65)  # on layer3, 1/8 of 520x520: 65x65 (520 -> 260 -> 130 -> 65)
NOT_SHIPPED = {
    # torchvision builds these with aux_logits=True for its weights and counts AuxLogits (InceptionAux(768)):
    # a 1x1 convolution to 128, a 5x5 to 768, a linear layer to 1000; not run in eval, so no MACs
    "inception_v3": (inception_aux(768, [(1, 768, 128), (5, 128, 768)], [(768, 1000)]), 0),
    # googlenet's weights drop aux1 and aux2 (InceptionAux(512) and InceptionAux(528): a 1x1 convolution to
    # 128, linear layers 2048 -> 1024 -> 1000), which the shipped network keeps for training
    "googlenet": (-inception_aux(512, [(1, 512, 128)], [(2048, 1024), (1024, 1000)])
                  - inception_aux(528, [(1, 528, 128)], [(2048, 1024), (1024, 1000)]), 0),
    # the COCO weights are built with aux_loss=True: an FCNHead(1024, 21) on layer3
    **dict.fromkeys(("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101"),
                    SEGMENTATION_AUX),
}


def test_hand_counted_heads():
    # Inception v3's AuxLogits: 98,304 + 256 + 2,457,600 + 1,536 + 769,000
    assert NOT_SHIPPED["inception_v3"][0] == 3_326_696
    # GoogLeNet's two heads: (65,536 + 256 + 2,098,176 + 1,025,000) + (67,584 + 256 + 2,098,176 + 1,025,000)
    assert NOT_SHIPPED["googlenet"][0] == -6_379_984
    assert SEGMENTATION_AUX == (2_365_205, 9_990_739_200)


def test_every_builder_of_the_data_has_a_size():
    assert set(SIZES) == set(PUBLISHED)


@cache
def figures(file: str, settings: tuple, res: int) -> tuple[int, int]:
    """Params and MACs at res x res (the files without a `res` param are at the published one)."""
    net = cnndsl.parse_file(ARCHITECTURES / f"{file}.cnn", **dict(settings))
    if net.input[:2] != (res, res):
        net = cnndsl.parse_file(ARCHITECTURES / f"{file}.cnn", **dict(settings), res=res)
    s = cnndsl.stats(net)
    return s.params, s.macs


def resolution(weights: dict) -> int:
    """The resolution the published `_ops` is measured at: the crop (classification) or the resize
    (segmentation: 520x520)."""
    return weights["crop_size"] if "crop_size" in weights else weights["resize_size"]


CASES = [(builder, name) for builder, p in PUBLISHED.items() for name in p["weights"]]


@pytest.mark.parametrize(("builder", "weights"), CASES, ids=[f"{b}-{w}" for b, w in CASES])
def test_size_equals_published_figures(builder, weights):
    published = PUBLISHED[builder]["weights"][weights]
    file, settings = SIZES[builder]
    params, macs = figures(file, tuple(sorted(settings.items())), resolution(published))
    extra_params, extra_macs = NOT_SHIPPED.get(builder, (0, 0))
    assert params + extra_params == published["num_params"]
    assert round((macs + extra_macs) / 1e9, 3) == published["_ops"]


def test_efficientnet_b5_to_b7_normalize_as_torchvision():
    """torchvision's efficientnet_b5, b6 and b7 build `partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)`
    and their classifiers drop 0.4, 0.5 and 0.5: every batch norm of the module gets them."""
    torch = pytest.importorskip("torch")
    file, settings = SIZES["efficientnet_b6"]
    model = cnndsl.load(ARCHITECTURES / f"{file}.cnn", **settings, res=64)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # the stem; 2 in each of stage 1's ceil(1 x 2.6) = 3 blocks (no expansion), 3 in each of the other
    # 6 + 6 + 8 + 8 + 11 + 3 = 42; the head
    assert len(norms) == 1 + 2 * 3 + 3 * 42 + 1
    assert {(m.eps, m.momentum) for m in norms} == {(0.001, 0.01)}
    assert model.get_submodule("classifier.0").p == 0.5


def test_regnet_y_squeezes_from_the_block_input_and_regnet_x_8gf_narrows_its_groups():
    """torchvision's BottleneckTransform: `a`, `b`, `se` (to int(round(0.25 * width_in)) channels), `c`;
    `b` convolves in w // min(group_width, w) groups."""
    pytest.importorskip("torch")
    file, settings = SIZES["regnet_y_400mf"]
    sd = cnndsl.load(ARCHITECTURES / f"{file}.cnn", **settings).state_dict()
    block = "trunk_output.block2.block2-0.f."
    assert [k[len(block):] for k in sd if k.startswith(block) and k.endswith("weight")] == \
        ["a.0.weight", "a.1.weight", "b.0.weight", "b.1.weight", "se.fc1.weight", "se.fc2.weight",
         "c.0.weight", "c.1.weight"]
    assert sd[block + "se.fc1.weight"].shape == (12, 104, 1, 1)  # 0.25 x 48, the stage's input
    assert sd["trunk_output.block2.block2-1.f.se.fc1.weight"].shape == (26, 104, 1, 1)  # 0.25 x 104
    assert sd["trunk_output.block1.block1-0.f.b.0.weight"].shape == (48, 8, 3, 3)  # 6 groups of 8
    file, settings = SIZES["regnet_x_8gf"]
    model = cnndsl.load(ARCHITECTURES / f"{file}.cnn", **settings, res=64)
    assert model.get_submodule("trunk_output.block1.block1-0.f.b.0").groups == 1  # 80 wide, group width 120
    assert model.get_submodule("trunk_output.block2.block2-0.f.b.0").groups == 2  # 240 / 120


# ------------------------------------------------------------------------------ published weights

CATALOG = json.loads((ARCHITECTURES / "weights.json").read_text())["networks"]


def test_catalog_urls_and_hashes_equal_published():
    """Each published name of a shipped network (`torchvision:IMAGENET1K_V1`) is torchvision's weights enum
    member of the builder of that name, at its URL; the sha256 prefix is the one in its file name, as
    torch.hub reads it (`-([a-f0-9]*)\\.`: MNASNet's `mnasnet1.0_top1_73.512-f206786ef8.pth` included)."""
    for network, entries in CATALOG.items():
        for name, entry in entries.items():
            source, member = name.split(":")
            assert source == "torchvision"
            url = PUBLISHED[network]["weights"][member]["url"]
            assert entry["url"] == url, (network, name)
            assert entry["sha256-prefix"] == re.search(r"-([a-f0-9]*)\.", url.rsplit("/", 1)[1]).group(1)
    assert CATALOG["efficientnet_b0"]["torchvision:IMAGENET1K_V1"]["sha256-prefix"] == "7f5810bc"
