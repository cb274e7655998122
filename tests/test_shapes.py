"""Shape inference, figures and receptive fields, against values derived by hand (in the comments).

PyTorch output size: floor((n + 2p - d(k-1) - 1) / s) + 1; pooling with `ceil` rounds up but drops
a last window that would start in the right padding. Conv params: out * in/g * kh * kw (+ out
bias); MACs: out elements * in/g * kh * kw. The same cases are checked against torch modules
built by hand in test_shapes_torch.py.
"""

from fractions import Fraction

import pytest

import cnndsl
from cnndsl.errors import CnnError
from cnndsl.passes.shapes import analyze


def one(src: str):
    a = analyze(cnndsl.parse(src))
    return a.output, a.params, a.macs


# (program, output, params, macs), derived by hand
CASES = {
    # 10x10x3, same pad 1: 10x10x8; params 8*3*9 + 8 = 224; macs 100*8*27 = 21,600
    "conv": ("input 10x10x3; conv 3x3x8 same", (10, 10, 8), 224, 21_600),
    # H: (11 + 4 - 4 - 1)//2 + 1 = 6; W: (9 + 2 - 2 - 1)//1 + 1 = 9; params 6*4*5*3 = 360; macs 54*6*60 = 19,440
    "conv asymmetric": ("input 11x9x4; conv 5x3x6 s2x1 p2x1 nobias", (6, 9, 6), 360, 19_440),
    # groups 3: in/g = 2; out (8-3)+1 = 6; params 12*2*9 + 12 = 228; macs 36*12*18 = 7,776
    "conv groups": ("input 8x8x6; conv 3x3x12 g3", (6, 6, 12), 228, 7_776),
    # dilation 2: extent 5, out 9-5+1 = 5; params 4*2*9 + 4 = 76; macs 25*4*18 = 1,800
    "conv dilation": ("input 9x9x2; conv 3x3x4 d2", (5, 5, 4), 76, 1_800),
    # same with dilation 2: pad 2, size kept; params 76; macs 81*4*18 = 5,832
    "conv dilation same": ("input 9x9x2; conv 3x3x4 d2 same", (9, 9, 4), 76, 5_832),
    # stride 2 same: (7 + 2 - 2 - 1)//2 + 1 = 4 (= ceil(7/2)); params 5*3*9+5 = 140; macs 16*5*27 = 2,160
    "conv stride same": ("input 7x7x3; conv 3x3x5 s2 same", (4, 4, 5), 140, 2_160),
    # conv + bn + relu: params 4*2*9 (nobias) + 2*4 (bn affine) = 80; macs 16*4*18 = 1,152
    "conv bn relu": ("input 6x6x2; conv 3x3x4 nobias bn relu", (4, 4, 4), 80, 1_152),
    # depthwise: (9+2-3)//2+1 = 5; params 8*9 + 8 = 80; macs 25*8*9 = 1,800
    "dwconv": ("input 9x9x8; dwconv 3x3 s2 same", (5, 5, 8), 80, 1_800),
    # depthwise, multiplier 2: 16 filters of 1x3x3; params 16*9 + 16 = 160; macs 25*16*9 = 3,600
    "dwconv multiplier": ("input 5x5x8; dwconv 3x3 same multiplier=2", (5, 5, 16), 160, 3_600),
    # (8-3)//2 + 1 = 3
    "maxpool": ("input 8x8x2; maxpool 3 s2", (3, 3, 2), 0, 0),
    # ceil: ceil((8-3)/2) + 1 = 4 (last window starts at 6 < 8)
    "maxpool ceil": ("input 8x8x2; maxpool 3 s2 ceil", (4, 4, 2), 0, 0),
    # padding: (7 + 2 - 3)//2 + 1 = 4
    "maxpool padding": ("input 7x7x2; maxpool 3 s2 p1", (4, 4, 2), 0, 0),
    # ceil with padding: ceil((5+2-2)/2) + 1 = 4, but window 4 would start at 6 >= 5 + 1: dropped -> 3
    "maxpool ceil padding": ("input 5x5x1; maxpool 2 s2 p1 ceil", (3, 3, 1), 0, 0),
    "avgpool": ("input 8x8x3; avgpool 2", (4, 4, 3), 0, 0),
    # ceil((7 + 2 - 3)/2) + 1 = 4; (4-1)*2 = 6 < 7 + 1: kept
    "avgpool ceil padding": ("input 7x7x3; avgpool 3 s2 p1 ceil nopadcount", (4, 4, 3), 0, 0),
    "gap": ("input 7x5x6; gap", (1, 1, 6), 0, 0),
    "adaptiveavgpool": ("input 7x7x2; adaptiveavgpool 3x3", (3, 3, 2), 0, 0),
    # flatten 4*4*3 = 48; fc 48*10 + 10 = 490; macs 480
    "flatten fc": ("input 4x4x3; flatten; fc 10", (10,), 490, 480),
    # fc on a 1x1xC map (after gap) is flat: 5*7 + 7 = 42
    "gap fc": ("input 3x3x5; gap; fc 7", (7,), 42, 35),
    # fc nobias bn relu: 5*7 + 2*7 = 49
    "fc bn": ("input 5; fc 7 nobias bn relu", (7,), 49, 35),
    "dropout": ("input 4x4x3; dropout 0.3", (4, 4, 3), 0, 0),
    "bn map": ("input 4x4x3; bn", (4, 4, 3), 6, 0),
    "bn flat": ("input 4x4x3; flatten; bn relu", (48,), 96, 0),
    "lrn": ("input 4x4x8; lrn size=5 alpha=0.0001 beta=0.75 k=2", (4, 4, 8), 0, 0),
    **{f"act {a}": (f"input 4x4x3; {a}", (4, 4, 3), 0, 0)
       for a in ("relu", "relu6", "sigmoid", "tanh", "softmax", "silu", "hardswish", "leakyrelu", "gelu")},
    # se r=4 on 16 channels: 16*4+4 + 4*16+16 = 148; macs 16*4 + 4*16 = 128
    "se": ("input 4x4x16; se r=4", (4, 4, 16), 148, 128),
    # 120 channels, r=4 divisor=8: _make_divisible(30, 8) = int(30 + 4) // 8 * 8 = 32 (not below 0.9 * 30):
    # 120*32+32 + 32*120+120 = 7,832; macs 2 * 120*32 = 7,680
    "se divisor": ("input 4x4x120; se r=4 divisor=8 act=silu gate=hardsigmoid", (4, 4, 120), 7_832, 7_680),
    # squeeze=3 on 16 channels: 16*3+3 + 3*16+16 = 115; macs 2 * 16*3 = 96
    "se squeeze": ("input 4x4x16; se squeeze=3", (4, 4, 16), 115, 96),
    # weight and bias per channel: 2 * 8 = 16
    "layernorm map": ("input 4x4x8; layernorm eps=1e-6", (4, 4, 8), 16, 0),
    "layernorm flat": ("input 2x2x3; flatten; layernorm", (12,), 24, 0),
    # a linear layer at each of 3*5 positions: 8*6+6 = 54 params; macs 15 * 8*6 = 720
    "fc channels": ("input 3x5x8; fc 6 channels gelu", (3, 5, 6), 54, 720),
    # 18 channels / 3^2 = 2, each 3x4 map 3 times larger: 9x12x2
    "pixelshuffle": ("input 3x4x18; pixelshuffle 3", (9, 12, 2), 0, 0),
    # one parameter per channel
    "scale": ("input 4x4x6; scale init=0.5", (4, 4, 6), 6, 0),
    "droppath": ("input 4x4x3; droppath 0.2", (4, 4, 3), 0, 0),
    # two 3x3x4 convs: 2 * (4*4*9 + 4) = 296; macs 2 * 36*4*36 = 10,368
    "residual identity": ("input 6x6x4; residual < conv 3x3x4 same; conv 3x3x4 same > relu", (6, 6, 4), 296, 10_368),
    # body 8*4*9 + 8 = 296 (macs 9*8*36 = 2,592), shortcut 8*4 + 8 = 40 (macs 9*8*4 = 288)
    "residual projection": ("input 6x6x4; residual < conv 3x3x8 s2 same | conv 1x1x8 s2 >", (3, 3, 8), 336, 2_880),
    # 1x1: 4*4+4 = 20 (macs 36*4*4 = 576); 3x3: 4*4*9+4 = 148 (macs 36*4*36 = 5,184); identity 0
    "add": ("input 6x6x4; add < conv 1x1x4 | conv 3x3x4 same | identity >", (6, 6, 4), 168, 5_760),
    # the same branches multiplied: the product owns no params and no MACs, so the figures are add's
    "mul": ("input 6x6x4; mul < conv 1x1x4 | conv 3x3x4 same | identity >", (6, 6, 4), 168, 5_760),
    # 1x1x2: 3*2+2 = 8 (macs 36*2*3 = 216); 3x3x3: 3*3*9+3 = 84 (macs 36*3*27 = 2,916); pool keeps 3 -> C = 8
    "concat": ("input 6x6x3; concat < conv 1x1x2 | conv 3x3x3 same | maxpool 3 s1 same >", (6, 6, 8), 92, 3_132),
    # a labeled sequence: conv 4*2*9 (nobias) + bn 2*4 = 80; macs 36*4*18 = 2,592
    "group": ("input 6x6x2; stem: < conv 3x3x4 same nobias; bn; relu >", (6, 6, 4), 80, 2_592),
    # three 3x3x4 convs on 4 channels: 3 * 148 = 444 params; macs 3 * 25*4*36 = 10,800
    "repeat": ("input 5x5x4; repeat 3 { conv 3x3x4 same relu }", (5, 5, 4), 444, 10_800),
    # block called twice: conv 1x1x{c}: (2*4+4) + (4*6+6) = 42; macs 16*4*2 + 16*6*4 = 512
    "block call": ("input 4x4x2; block pw(c) { conv 1x1x{c} }; pw(4); pw(6)", (4, 4, 6), 42, 512),
    # main: conv 3*4*9+4 = 112 (macs 64*4*27 = 6,912), fc 4*2+2 = 10 (macs 8); aux fc 4*3+3 = 15 counted in
    # params only (eval-mode MACs skip the head)
    "aux": ("input 8x8x3; conv 3x3x4 same; aux < gap; fc 3 >; gap; fc 2", (2,), 137, 6_920),
    # aux from a: taps 8x8x4 (4 channels), not the 4x4x8 that follows: aux fc 4*3+3 = 15;
    # main: 112 + (8*4*9+8 = 296, macs 16*8*36 = 4,608) + fc 8*2+2 = 18 (macs 16)
    "aux from": ("input 8x8x3; a: conv 3x3x4 same; conv 3x3x8 s2 same; aux from a < gap; fc 3 >; gap; fc 2",
                 (2,), 441, 6_912 + 4_608 + 16),
    # (5 - 1)*2 - 2*1 + (3 - 1) + 1 + 1 = 10; params 8 * 6/2 * 9 + 6 = 222; macs 25*8 inputs * 6/2 * 9 = 5,400
    "convtranspose": ("input 5x5x8; convtranspose 3x3x6 s2 p1 output_padding=1 g2", (10, 10, 6), 222, 5_400),
    # U-Net's up-convolution: (4 - 1)*2 + 1 + 1 = 8; params 8*4*4 = 128; macs 4*4*8 * 4 * 4 = 2,048
    "convtranspose unet": ("input 4x4x8; convtranspose 2x2x4 s2 nobias", (8, 8, 4), 128, 2_048),
    "upsample": ("input 3x3x2; upsample 2 bilinear", (6, 6, 2), 0, 0),
    "upsample nearest": ("input 3x5x2; upsample 3", (9, 15, 2), 0, 0),
    # back to the input's 6x6 after a 3x3 map; conv 1x1x4: 2*4+4 = 12, macs 9*4*2 = 72
    "upsample to input": ("input 6x6x2; maxpool 2; conv 1x1x4; upsample to input bilinear", (6, 6, 4), 12, 72),
    # to the labeled 7x7 map (not a multiple of 3): conv 3x3x2 s2: (7-3)//2+1 = 3; 2*2*9+2 = 38, macs 9*2*18 = 324
    "upsample to label": ("input 7x7x2; a: identity; conv 3x3x2 s2; upsample to a", (7, 7, 2), 38, 324),
    "shuffle": ("input 4x4x6; shuffle 3", (4, 4, 6), 0, 0),
    # chunks of 4: identity, conv 3x3x4: 4*4*9+4 = 148, macs 25*4*36 = 3,600; joined: 4 + 4 = 8
    "split": ("input 5x5x8; split < identity | conv 3x3x4 same >", (5, 5, 8), 148, 3_600),
    # a: 4*4+4 = 20 (macs 36*16 = 576); 3x3 s2: 148 (macs 9*4*36 = 1,296); the concat joins a (6x6x4) and
    # conv 1x1x2 of the upsampled 6x6x4: 4*2+2 = 10 (macs 36*2*4 = 288): 6x6x6
    "from": ("input 6x6x4; a: conv 1x1x4; conv 3x3x4 s2 same; upsample 2; concat < from a | conv 1x1x2 >",
             (6, 6, 6), 178, 2_160),
    # `from` across modules: b's concat reads a from the top level; b: 3x3x4 s2 148 (macs 1,296), up, 1x1x2
    # on the 8 joined channels: 8*2+2 = 18 (macs 36*2*8 = 576); a 20 (576)
    "from outer": (("input 6x6x4; a: conv 1x1x4; b: < conv 3x3x4 s2 same; upsample 2; concat < from a | identity >;"
                    " conv 1x1x2 >"), (6, 6, 2), 186, 2_448),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hand_derived(name):
    src, shape, params, macs = CASES[name]
    assert one(src) == (shape, params, macs)


def test_aux_params_and_eval_macs():
    a = analyze(cnndsl.parse(CASES["aux from"][0]))
    assert a.aux_params == 15  # fc 4 -> 3
    aux_rows = [r for r in a.rows if r.aux]
    assert {r.node.kind for r in aux_rows} == {"aux", "gap", "fc"}
    assert aux_rows[0].macs == 12  # the head's own MACs are still shown on its row


@pytest.mark.parametrize("src, rf, jump", [
    ("input 32x32x3; conv 3x3x4; conv 3x3x4", 5, 1),  # 1 + 2 + 2
    ("input 32x32x3; conv 3x3x4 s2; conv 3x3x4", 7, 2),  # 1 + 2*1 = 3, then + 2*2 = 7
    ("input 32x32x3; conv 3x3x4 d2", 5, 1),  # extent 2*(3-1)+1 = 5
    ("input 32x32x3; maxpool 2; conv 3x3x4", 6, 2),  # 1 + 1 = 2, then + 2*2 = 6
    ("input 32x32x3; conv 7x7x4 s2 p3; maxpool 3 s2 p1", 11, 4),  # 7, then + 2*2 = 11; jump 4
    # residual: body 3x3, 3x3 -> 5; identity 1; the join keeps the largest
    ("input 32x32x4; residual < conv 3x3x4 same; conv 3x3x4 same >", 5, 1),
    # concat of 1x1 (1) and 5x5 (5) branches -> 5, then a 3x3 -> 7
    ("input 32x32x4; concat < conv 1x1x2 | conv 5x5x2 same >; conv 3x3x4", 7, 1),
    # an aux head does not change the main path's receptive field
    ("input 32x32x4; conv 3x3x4; aux < conv 5x5x4; gap; fc 2 >; conv 3x3x4", 5, 1),
    # a global pooling turns the path global: the figure is the deepest spatial point's, here the input's
    ("input 8x8x4; gap", 1, 1),
    # a 5x5 conv (5) before the global pooling and the fc: 5 at the conv
    ("input 8x8x4; conv 5x5x4; gap; fc 2", 5, 1),
    # `avgpool 7` over a 7x7 map is a global pooling too; the 3x3 conv before it: 3
    ("input 9x9x4; conv 3x3x4; avgpool 7", 3, 1),
    # flat branches joined: still global; the 3x3 conv before them gives the figure
    ("input 8x8x4; conv 3x3x4; flatten; add < fc 4 | fc 4 >", 3, 1),
    # 3x3 s2: 3, jump 2; pixelshuffle 2 halves the jump to 1; a 3x3 then adds 2 * 1: 5
    ("input 8x8x16; conv 3x3x16 s2; pixelshuffle 2; conv 3x3x4", 5, 1),
    # upsampling the input: neighbouring outputs are half a pixel apart; a 3x3 then adds 2 * 0.5
    ("input 8x8x4; pixelshuffle 2; conv 3x3x1", 2, 0.5),
    # fc over channels sees one position (unlike fc on a flattened map)
    ("input 8x8x4; conv 3x3x4; fc 8 channels", 3, 1),
    # upsampling by 2 halves the jump: 3 (jump 2), then jump 1, then 3 + 2*1 = 5
    ("input 32x32x3; conv 3x3x4 s2; upsample 2; conv 3x3x4", 5, 1),
    # at the input's resolution the jump becomes a half: a 3x3 conv then sees 1 + 2 * 1/2 = 2 input pixels
    ("input 8x8x3; upsample 2; conv 3x3x4", 2, Fraction(1, 2)),
    # a transposed 2x2 s2 conv: each output sees ceil(2/2) = 1 input pixel; the jump 2 becomes 1
    ("input 8x8x3; conv 3x3x4 s2 p1; convtranspose 2x2x4 s2", 3, 1),
    # to a 6x6 input from 3x3 at jump 2 (after maxpool 2: rf 2): jump 2 * 3/6 = 1
    ("input 6x6x3; maxpool 2; upsample to input", 2, 1),
    # `from a` branch: (3, 1); the other branch continues from (7, 1) (5x5 s2 then upsample); the join keeps 7
    ("input 16x16x3; a: conv 3x3x4 same; conv 5x5x4 s2 p2; upsample 2; add < from a | conv 1x1x4 >", 7, 1),
])
def test_receptive_field(src, rf, jump):
    a = analyze(cnndsl.parse(src))
    assert (a.rf, a.jump) == (rf, jump)


def test_global_rows_and_the_named_layer():
    # conv 3x3 (3), maxpool 2 (3 + 1*1 = 4, jump 2), then global: gap, flatten, fc
    a = analyze(cnndsl.parse("input 16x16x3; c1: conv 3x3x4; p: maxpool 2; gap; flatten; fc 10"))
    assert [(r.rf, r.jump) for r in a.rows] == [(3, 1), (4, 2), (None, None), (None, None), (None, None)]
    assert (a.rf, a.jump, a.rf_at) == (4, 2, "p")
    # a layer that keeps the figure does not take the name: the first statement reaching it does
    a = analyze(cnndsl.parse("input 16x16x3; c1: conv 3x3x4; relu; gap; fc 10"))
    assert (a.rf, a.rf_at) == (3, "c1")


def test_aux_rows_show_the_tap():
    # googlenet: aux1 reads inception4a (14x14x512, torchvision's InceptionAux(512, ...)), aux2 reads
    # inception4d (14x14x528, InceptionAux(528, ...)); both end in fc 1000 (flat: global)
    a = analyze(cnndsl.parse_file("googlenet"))
    rows = {r.path: r for r in a.rows}
    assert (rows["aux1"].input, rows["aux1"].output, rows["aux1"].rf) == ((14, 14, 512), (1000,), None)
    assert (rows["aux2"].input, rows["aux2"].output, rows["aux2"].rf) == ((14, 14, 528), (1000,), None)
    # inside the head the receptive field goes on from the tap's: inception4a's is 107 at jump 16 (stem
    # 7/2, maxpool 3/2, 1x1, 3x3, maxpool 3/2 -> 27 at jump 8; 3a, 3b add a 3x3 (+16) each -> 59; maxpool 3/2
    # -> 75, jump 16; 4a's 3x3 -> 107); the adaptive 14 -> 4 pool has windows 4 wide, 3 apart: 107 + 3*16
    assert (rows["aux1.0"].input, rows["aux1.0"].rf, rows["aux1.0"].jump) == ((14, 14, 512), 155, 48)
    # the main path goes on from inception5b, not from a head
    assert rows["18"].input == (7, 7, 1024)


def test_receptive_field_per_row():
    a = analyze(cnndsl.parse("input 32x32x3; conv 3x3x4 s2; conv 3x3x4; conv 3x3x4"))
    assert [(r.rf, r.jump) for r in a.rows] == [(3, 2), (7, 2), (11, 2)]


def test_paths_depths_and_parents():
    a = analyze(cnndsl.parse("input 8x8x3; stem: < conv 3x3x4 same; relu >; l1: repeat 2 { conv 1x1x4 }; gap"))
    rows = [(r.path, r.depth, r.node.kind) for r in a.rows]
    assert rows == [("stem", 0, "group"), ("stem.0", 1, "conv"), ("stem.1", 1, "act"),
                    ("l1", 0, "group"), ("l1", 1, "repeat"), ("l1.0", 1, "conv"), ("l1.1", 1, "conv"),
                    ("2", 0, "gap")]
    assert [r.parent for r in a.rows] == [None, 0, 0, None, 3, 4, 4, None]


def test_totals_equal_sums_of_rows():
    net = cnndsl.parse_file("tiny")
    a = analyze(net)
    leaves = [r for r in a.rows if not r.node.takes_branches]
    assert a.params == sum(r.params for r in leaves)
    assert a.macs == sum(r.macs for r in leaves if not r.aux)
    assert a.flops == sum(r.own_flops for r in a.rows if not r.aux)
    assert a.activations == sum(r.own_activations for r in a.rows if not r.aux)
    top = [r for r in a.rows if r.parent is None]
    assert a.params == sum(r.params for r in top)


def test_activations_and_peak():
    # conv bn relu writes 3 tensors of 8*8*4 = 256; maxpool 4*4*4 = 64; residual add + relu 2 * 64;
    # inside: conv 64 -> total 768 + 64 + 64 + 128 = 1,024; peak 256
    a = analyze(cnndsl.parse("input 8x8x3; conv 3x3x4 same bn relu; maxpool 2; residual < conv 3x3x4 same > relu"))
    assert a.activations == 3 * 256 + 64 + 64 + 2 * 64
    assert a.peak_activation == 256


def test_flops_rules():
    # conv 3x3x4 same on 4x4x2 with bias and relu: 2 * macs (16*4*18 = 1,152) + bias 64 + relu 64
    a = analyze(cnndsl.parse("input 4x4x2; conv 3x3x4 same relu"))
    assert a.flops == 2 * 1_152 + 64 + 64
    # maxpool 2 on 4x4x1: 4 outputs * (4 - 1) comparisons; avgpool: 4 outputs * 4 adds
    assert analyze(cnndsl.parse("input 4x4x1; maxpool 2")).flops == 12
    assert analyze(cnndsl.parse("input 4x4x1; avgpool 2")).flops == 16
    # residual sum of 4x4x2 + relu after it: 32 + 32
    assert analyze(cnndsl.parse("input 4x4x2; residual < bn > relu")).flops == 2 * 32 + 32 + 32


def err(src: str) -> CnnError:
    with pytest.raises(CnnError) as info:
        analyze(cnndsl.parse(src, filename="net.cnn"))
    return info.value


@pytest.mark.parametrize("src, line, col, words", [
    ("input 4x4x3\n  x: conv 5x5x8", 2, 3, "too small"),
    ("input 3x3x3\nmaxpool 2; maxpool 2", 2, 12, "too small"),
    ("input 8x8x3\nresidual < conv 3x3x4 same >", 2, 1, "residual body and shortcut disagree"),
    ("input 8x8x4\nresidual < conv 3x3x4 s2 same | conv 1x1x4 >", 2, 1, "disagree: 4x4x4, 8x8x4"),
    ("input 8x8x3\nadd < conv 1x1x4 | conv 1x1x5 >", 2, 1, "add branches disagree"),
    ("input 8x8x3\n\nconcat < conv 1x1x2 | conv 3x3x2 >", 3, 1, "concat branches"),
    ("input 8x8x3\nconv 3x3x6 g2", 2, 1, "groups (2) must divide"),
    ("input 8x8x4\nconv 3x3x6 g4", 2, 1, "groups (4) must divide"),
    ("input 8x8x3\nconv 1x1x4; fc 10", 2, 13, "needs a flat input"),
    ("input 8x8x3; flatten\nmaxpool 2", 2, 1, "feature map"),
    ("input 8x8x3\nse r=8", 2, 1, "squeezes 3 channels"),
])
def test_shape_errors_are_positioned(src, line, col, words):
    e = err(src)
    assert (e.span.line, e.span.col) == (line, col), e.render()
    assert words in e.message
    assert e.render().startswith(f"net.cnn:{line}:{col}: error:")
