"""`cnndsl diff`: alignment by label then position, and the exact cost of each difference."""

import json

import cnndsl
from cnndsl.cli import main
from cnndsl.commands.diff import diff

from test_stats import resnet, vgg


def total(net):
    s = cnndsl.stats(net)
    return s.params, s.macs


def check_sums(a, b, changes):
    """The rows add up to the difference of the totals."""
    (pa, ma), (pb, mb) = total(a), total(b)
    assert sum(c.d_params for c in changes) == pb - pa
    assert sum(c.d_macs for c in changes) == mb - ma


def test_vgg16_vs_vgg19():
    a, b = cnndsl.parse(vgg([2, 2, 3, 3, 3], "vgg16")), cnndsl.parse(vgg([2, 2, 4, 4, 4], "vgg19"))
    changes = diff(a, b)
    # one extra 3x3 conv in each of the last three stages:
    # 3*3*256*256 + 256 = 590,080 at 56x56 (MACs 56*56*256*2304 = 1,849,688,064);
    # 3*3*512*512 + 512 = 2,359,808 at 28x28 (MACs 28*28*512*4608 = 1,849,688,064) and 14x14 (462,422,016)
    assert [(c.change, c.name, c.b, c.d_params, c.d_macs) for c in changes] == [
        ("added", "features.9", "conv 3x3x256 p1 relu", 590_080, 1_849_688_064),
        ("added", "features.12", "conv 3x3x512 p1 relu", 2_359_808, 1_849_688_064),
        ("added", "features.19", "conv 3x3x512 p1 relu", 2_359_808, 462_422_016)]
    check_sums(a, b, changes)


def test_resnet_vs_se_resnet():
    src = resnet([3, 4, 6, 3], "resnet50")
    se = src.replace("conv 1x1x{c*4} nobias bn\n", "conv 1x1x{c*4} nobias bn; se r=16\n").replace(
        "conv 1x1x{c*4} nobias bn > relu", "conv 1x1x{c*4} nobias bn; se r=16 > relu")
    a, b = cnndsl.parse(src), cnndsl.parse(se)
    changes = diff(a, b)
    assert len(changes) == 16 and {c.change for c in changes} == {"added"}
    assert changes[0].name == "layer1.0.3" and changes[0].b == "se r=16"
    # SE on 256 channels, r=16: 256*16 + 16 + 16*256 + 256 = 8,464 params; MACs 2 * 256*16 = 8,192
    assert (changes[0].d_params, changes[0].d_macs) == (8_464, 8_192)
    check_sums(a, b, changes)


def test_changed_options_and_resized():
    a = cnndsl.parse("input 16x16x3; stem: conv 3x3x8 same; body: < conv 3x3x8 same; maxpool 2 >; gap; fc 10")
    b = cnndsl.parse("input 16x16x3; stem: conv 3x3x16 s2 same; body: < conv 3x3x8 same; maxpool 2 >; gap; fc 10")
    changes = diff(a, b)
    stem, body = changes[0], changes[1]
    # stem: 8*27+8 = 224 -> 16*27+16 = 448; MACs 256*8*27 = 55,296 -> 64*16*27 = 27,648
    assert (stem.change, stem.name, stem.d_params, stem.d_macs) == ("changed", "stem", 224, -27_648)
    assert "out 8→16" in stem.options and "stride 1→2" in stem.options
    # body.0 sees 8x8x16 instead of 16x16x8: 8*8*9+8 = 584 -> 8*16*9+8 = 1,160; MACs 256*8*72 -> 64*8*144
    assert (body.change, body.name, body.d_params, body.d_macs) == ("resized", "body.0", 576, 73_728 - 147_456)
    check_sums(a, b, changes)


def test_removed_and_labels_first():
    a = cnndsl.parse("input 8x8x3; a: conv 1x1x4; b: conv 1x1x4; c: conv 1x1x4")
    b = cnndsl.parse("input 8x8x3; a: conv 1x1x4; c: conv 1x1x4")
    changes = diff(a, b)
    assert [(c.change, c.name, c.d_params) for c in changes] == [("removed", "b", -20)]  # 4*4 + 4


def test_identical_networks_have_no_differences(capsys):
    assert main(["diff", "tiny", "tiny"]) == 0
    assert "no differences" in capsys.readouterr().out


def test_cli_two_widths(capsys):
    assert main(["diff", "tiny", "tiny", "--set-b", "width=8"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "tiny -> tiny width=8"
    assert "changed  stem.0" in out and "out 16→8" in out
    # tiny: 52,416 params at width 16; at width 8: 16,448 (see test_sweep / stats)
    assert "52,416 ->" in out and "16,448" in out
    assert main(["diff", "tiny", "tiny", "--set-b", "width=8", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["a"]["params"] - d["b"]["params"] == -sum(c["d_params"] for c in d["changes"])


def test_cli_errors_exit_2(capsys, tmp_path):
    f = tmp_path / "bad.cnn"
    f.write_text("input 8x8x3\nconv 9x9x4\n")
    assert main(["diff", "tiny", str(f)]) == 2
    assert f"{f}:2:1: error:" in capsys.readouterr().err
    assert main(["diff", "tiny", "tiny", "--set", "width=8", "--set-b", "width=4"]) == 2


def test_shipped_vgg16_vs_vgg19_folds_each_added_layer(capsys):
    # the shipped files write `conv ...; relu` as two statements; each added pair is one row, named by its
    # conv. A 3x3 conv 512 -> 512 with bias: 3*3*512*512 + 512 = 2,359,808 params; at 28x28 it does
    # 28*28*512*(3*3*512) = 1,849,688,064 MACs, at 14x14 a quarter of that, 462,422,016; the 256 -> 256
    # one: 3*3*256*256 + 256 = 590,080 params, 56*56*256*(3*3*256) = 1,849,688,064 MACs
    a, b = cnndsl.parse_file("vgg16"), cnndsl.parse_file("vgg19")
    changes = diff(a, b)
    assert [(c.change, c.stage, c.b, c.options, c.d_params, c.d_macs) for c in changes] == [
        ("added", "features 56x56", "conv 3x3x256 p1; relu", "3x3 conv, 256", 590_080, 1_849_688_064),
        ("added", "features 28x28", "conv 3x3x512 p1; relu", "3x3 conv, 512", 2_359_808, 1_849_688_064),
        ("added", "features 14x14", "conv 3x3x512 p1; relu", "3x3 conv, 512", 2_359_808, 462_422_016)]
    check_sums(a, b, changes)
    assert main(["diff", "vgg16", "vgg19"]) == 0
    out = capsys.readouterr().out
    assert "+ 3x3 conv, 512 (+2.36M params, +1.85G MACs)" in out
    assert "+ 3x3 conv, 512 (+2.36M params, +462M MACs)" in out
    assert main(["diff", "vgg19", "vgg16"]) == 0
    assert "- 3x3 conv, 256 (-590K params, -1.85G MACs)" in capsys.readouterr().out


def test_lecture_words():
    from cnndsl.passes.diff import lecture

    words = [lecture(n) for n in cnndsl.parse(
        "input 32x32x8; conv 3x3x128 s2 p1; dwconv 3x3 p1; conv 1x7x8 p0x3; flatten; fc 10").body]
    assert words == ["3x3 conv, 128, /2", "3x3 depthwise", "1x7 conv, 8", "flatten", "fc, 10"]


def test_equal_added_blocks_fold_into_one_row_per_stage():
    # ResNet-101 adds 17 bottlenecks to layer3 (23 - 6). One at 14x14x1024, by hand: 1x1 1024->256, 3x3 256->256,
    # 1x1 256->1024, no biases, BN 2 per channel: 262,144 + 512 + 589,824 + 512 + 262,144 + 2,048 = 1,117,184
    # params; MACs 196 * (1024*256 + 2304*256 + 256*1024) = 218,365,952
    a, b = cnndsl.parse_file("resnet50"), cnndsl.parse_file("resnet101")
    changes = diff(a, b)
    assert [(c.change, c.name, c.stage, c.count, c.d_params, c.d_macs) for c in changes] == [
        ("added", "layer3.6..22", "layer3 14x14", 17, 17 * 1_117_184, 17 * 218_365_952)]
    check_sums(a, b, changes)
