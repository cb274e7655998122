"""`render --style volumes`: the paper figure, checked through the SVG it writes.

Every box is a `<g class="volume" data-shape="HxWxC">` of three polygons (front, top, side), so the
tests measure the drawn geometry itself; arcs are `<path class="shortcut">`, the fan-out into join
branches `<polyline class="branch">`, pyramid edges `<polyline class="kernel">`. Expected values are
worked out by hand from the program text and from the size rule of docs/render.md:
height(H) = 8 + 14 log2 H, oblique depth(W) = height(W) / 2, thickness(C) = 2 + 5 log2 C.
"""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import cnndsl
from cnndsl.backends.volumes import render, to_svg, to_tikz
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = sorted((ROOT / "architectures").glob("*.cnn"))
NS = "{http://www.w3.org/2000/svg}"
needs_rsvg = pytest.mark.skipif(shutil.which("rsvg-convert") is None,
                                reason="librsvg's rsvg-convert is not installed (apt-get install librsvg2-bin)")
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (apt-get "
                                    "install texlive-latex-base texlive-pictures; see README)")


class Drawing:
    def __init__(self, text: str):
        self.root = ET.fromstring(text)
        self.volumes = [g for g in self.root.iter(f"{NS}g") if g.get("class") == "volume"]
        self.texts = [t.text for t in self.root.iter(f"{NS}text")]
        self.arcs = [p for p in self.root.iter(f"{NS}path") if p.get("class") == "shortcut"]
        self.lines = list(self.root.iter(f"{NS}polyline"))

    def shapes(self) -> list[str]:
        return [g.get("data-shape") for g in self.volumes]

    def box(self, shape: str) -> dict[str, float]:
        """The drawn size of the first box of `shape`: front face width and height, and the top face's slant."""
        g = next(g for g in self.volumes if g.get("data-shape") == shape)
        front, top, _ = [[tuple(map(float, p.split(","))) for p in poly.get("points").split()]
                         for poly in g.iter(f"{NS}polygon")]
        xs, ys = [p[0] for p in front], [p[1] for p in front]
        return {"thickness": max(xs) - min(xs), "height": max(ys) - min(ys), "slant": top[0][1] - top[1][1],
                "x": min(xs), "y": min(ys)}

    def cls(self, name: str) -> list:
        return [p for p in self.lines if p.get("class") == name]


def draw(net, **options) -> Drawing:
    return Drawing(to_svg(net, **options))


def test_box_sizes_follow_the_log_rule_by_hand():
    d = draw(cnndsl.parse("input 56x56x64; conv 1x1x256; conv 3x3x512 s2 p1"))
    big, deep = d.box("56x56x256"), d.box("28x28x512")
    # 56x56x256: height 8 + 14 * log2(56) = 89.30, slant (8 + 14 * 5.807) / 2 = 44.65, thickness 2 + 5 * 8 = 42
    assert big["height"] == pytest.approx(89.30, abs=0.1)
    assert big["slant"] == pytest.approx(44.65, abs=0.1)
    assert big["thickness"] == pytest.approx(42.0, abs=0.1)
    # 28x28x512: height 8 + 14 * 4.807 = 75.30, slant 37.65, thickness 2 + 5 * 9 = 47
    assert deep["height"] == pytest.approx(75.30, abs=0.1)
    assert deep["slant"] == pytest.approx(37.65, abs=0.1)
    assert deep["thickness"] == pytest.approx(47.0, abs=0.1)
    # the 56x56 map is taller and deeper; the 512-channel one is thicker
    assert big["height"] > deep["height"] and big["slant"] > deep["slant"] and big["thickness"] < deep["thickness"]


def test_lenet5_reads_its_maps_in_order():
    d = draw(cnndsl.parse_file(ROOT / "architectures" / "lenet5.cnn"))
    # input, C1, S2, C3, S4, C5, F6, output (tanh folds into the layer before it)
    assert d.shapes() == ["32x32x1", "28x28x6", "14x14x6", "10x10x16", "5x5x16", "1x1x120", "84", "10"]
    for shape in d.shapes():
        assert shape in d.texts
    assert "5x5 conv, 6" in d.texts and "avg pool 2x2 /2" in d.texts and "fc 84" in d.texts
    # fc layers and the 1x1x120 map are bars 8 wide; 84 units: 8 + 9 * log2(84) = 65.53 high
    assert d.box("84")["thickness"] == pytest.approx(8.0) and d.box("1x1x120")["thickness"] == pytest.approx(8.0)
    assert d.box("84")["height"] == pytest.approx(8 + 9 * math.log2(84), abs=0.1)
    # two poolings, each a narrowing (a translucent funnel), and no pyramids unless asked
    funnels = [p for p in d.root.iter(f"{NS}polygon") if p.get("fill-opacity") == "0.35"]
    assert len(funnels) == 2
    assert d.cls("kernel") == []


def test_kernel_pyramids_four_edges_per_conv_on_a_map():
    d = draw(cnndsl.parse_file(ROOT / "architectures" / "lenet5.cnn"), kernels=True)
    # C1 (from the input), C3 (from S2), C5 (from S4): three pyramids of four edges
    assert len(d.cls("kernel")) == 3 * 4


@pytest.mark.parametrize(("options", "arcs", "dashed", "marks"), [
    ({}, 0, 0, []),  # every stage is one collapsed call: no residual is drawn
    ({"depth": 1}, 8, 4, ["x 2", "x 3", "x 5", "x 2"]),  # per stage: the projection block + the rest, x (n - 1)
    ({"depth": 2}, 8, 4, ["x 2", "x 3", "x 5", "x 2"]),  # blocks opened (`bottleneck(64)  x 2`), repeats drawn once
    ({"expand": True}, 3 + 4 + 6 + 3, 4, []),  # every block: 16
])
def test_resnet50_arcs_one_per_residual_drawn(options, arcs, dashed, marks):
    d = draw(cnndsl.parse_file(ROOT / "architectures" / "resnet50.cnn"), **options)
    assert len(d.arcs) == arcs
    assert sum(1 for a in d.arcs if a.get("stroke-dasharray")) == dashed  # projection shortcuts
    assert [m.group(1) for t in d.texts if (m := re.search(r"(?:^|  )(x \d+)$", t))] == marks


def test_resnet50_depth_one_maps():
    d = draw(cnndsl.parse_file(ROOT / "architectures" / "resnet50.cnn"), depth=1)
    # input, conv1, maxpool, then per stage the two drawn blocks' outputs, gap, fc
    assert d.shapes() == ["224x224x3", "112x112x64", "56x56x64", "56x56x256", "56x56x256", "28x28x512",
                          "28x28x512", "14x14x1024", "14x14x1024", "7x7x2048", "7x7x2048", "1x1x2048", "1000"]


def test_inception_branches_in_source_order_top_to_bottom():
    d = draw(cnndsl.parse_file(ROOT / "architectures" / "googlenet.cnn"), focus="inception3a")
    # inception(64, 96, 128, 16, 32, 32) on 28x28x192: 1x1 64 | 1x1 96, 3x3 128 | 1x1 16, 3x3 32 | pool, 1x1 32
    assert d.shapes() == ["28x28x192", "28x28x64", "28x28x96", "28x28x128", "28x28x16", "28x28x32", "28x28x192",
                          "28x28x32", "28x28x256"]
    assert len(d.cls("branch")) == 4
    firsts = [d.box(s)["y"] for s in ("28x28x64", "28x28x96", "28x28x16")]
    assert firsts == sorted(firsts)  # branch1 above branch2 above branch3
    assert "googlenet: inception3a" in d.texts


def test_googlenet_aux_heads_hang_from_their_taps():
    d = draw(cnndsl.parse_file(ROOT / "architectures" / "googlenet.cnn"))
    aux = [g for g in d.volumes if g.get("stroke-dasharray")]
    assert [g.get("data-shape") for g in aux] == ["1000", "1000"]  # aux_head() collapsed, twice
    # each hangs from the inception it taps (4a: 14x14x512, 4d: 14x14x528): its dashed line starts under it
    dashed = [p for p in d.lines if p.get("stroke-dasharray") and p.get("class") is None]
    starts = [float(p.get("points").split()[0].split(",")[0]) for p in dashed]
    for tap, x in zip(("14x14x512", "14x14x528"), starts):
        b = d.box(tap)
        assert b["x"] < x < b["x"] + b["thickness"] + b["slant"]


def test_mobilenet_one_depthwise_separable_block():
    d = draw(cnndsl.parse_file(ROOT / "architectures" / "mobilenet.cnn"), focus="blocks.1.0")
    assert d.shapes() == ["112x112x64", "56x56x64", "56x56x128"]
    assert "3x3 depthwise /2" in d.texts and "1x1 conv, 128" in d.texts and "dwsep(128, s=2)" in d.texts


def test_options_title_themes_fit_no_shapes():
    net = cnndsl.parse_file(ROOT / "architectures" / "lenet5.cnn")
    assert "르넷-5" in draw(net, title="르넷-5").texts
    assert 'fill="#0d1117"' in to_svg(net, theme="dark")  # the dark theme's background
    assert "32x32x1" not in draw(net, shapes=False).texts
    for fit, aim in (("16:9", 16 / 9), ("4:3", 4 / 3)):
        w, h = map(float, Drawing(to_svg(net, fit=fit)).root.get("viewBox").split()[2:])
        assert w / h == pytest.approx(aim, rel=0.01)
    root = Drawing(to_svg(net, fit="1280x720")).root
    assert (root.get("width"), root.get("height")) == ("1280", "720")


def test_errors_name_the_option():
    net = cnndsl.parse("input 8x8x3; conv 3x3x4")
    for kwargs, message in (({"rankdir": "LR"}, "unknown volumes option 'rankdir'"), ({"fit": "wide"}, "fit must be"),
                            ({"focus": "nowhere"}, "no statement 'nowhere'"), ({"theme": "neon"}, "unknown theme")):
        with pytest.raises(cnndsl.CnnError, match=message):
            to_svg(net, **kwargs)
    with pytest.raises(cnndsl.CnnError, match="unknown drawing style"):
        cnndsl.to_svg(net, style="cubes")


def test_cli_style_volumes(tmp_path, capsys):
    out = tmp_path / "lenet.svg"
    assert main(["render", "lenet5", "--style", "volumes", "-o", str(out)]) == 0
    assert out.read_text() == cnndsl.to_svg(cnndsl.parse_file("lenet5"), style="volumes")
    assert main(["render", "lenet5", "--style", "volumes", "-o", str(tmp_path / "x.dot")]) == 2
    assert "--style volumes cannot write .dot" in capsys.readouterr().err
    assert main(["render", "lenet5", "--kernels", "-o", str(tmp_path / "x.dot")]) == 2
    assert "--kernels applies to --style volumes only" in capsys.readouterr().err
    assert main(["render", "lenet5", "--style", "volumes", "--params"]) == 2
    assert "--params applies to --style graph only" in capsys.readouterr().err


@needs_rsvg
def test_png_and_pdf(tmp_path):
    net = cnndsl.parse_file(ROOT / "architectures" / "lenet5.cnn")
    png = render(net, "png")
    w, h = struct.unpack(">II", png[16:24])
    svg_w, svg_h = map(float, Drawing(to_svg(net)).root.get("viewBox").split()[2:])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (math.ceil(svg_w * 1.5), math.ceil(svg_h * 1.5))
    assert render(net, "pdf")[:5] == b"%PDF-"


@needs_pdflatex
def test_tex_compiles_in_a_beamer_slide(tmp_path):
    (tmp_path / "figure.tex").write_text(to_tikz(cnndsl.parse_file(ROOT / "architectures" / "resnet50.cnn"),
                                                 depth=1, kernels=True, title="ResNet_50 & 100% #1"))
    (tmp_path / "slide.tex").write_text("\\documentclass{beamer}\n\\usepackage{tikz}\n\\begin{document}\n"
                                        "\\begin{frame}{ResNet-50}\\input{figure.tex}\\end{frame}\n\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "slide.tex"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "slide.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("path", ARCHITECTURES, ids=lambda p: p.stem)
def test_every_shipped_architecture(path):
    net = cnndsl.parse_file(path)
    text = to_svg(net)
    assert text == to_svg(net)  # deterministic
    d = Drawing(text)
    assert d.shapes()[0] == "x".join(map(str, net.input))
    # the last box is the output (a flatten after it folds into it: 1x1x1000 for 1000)
    assert math.prod(map(int, d.shapes()[-1].split("x"))) == math.prod(cnndsl.analyze(net).output)
    assert "\\begin{tikzpicture}" in to_tikz(net, fit="16:9")


def test_no_torch_imported():
    code = ("import sys, cnndsl\nfrom pathlib import Path\nfrom cnndsl.backends.volumes import render\n"
            "for p in sorted(Path('architectures').glob('*.cnn')):\n"
            "    net = cnndsl.parse_file(p)\n    render(net, 'svg', depth=1, kernels=True); render(net, 'tex')\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_what_follows_a_join_folds_under_its_symbol():
    d = draw(cnndsl.parse("input 8x8x4; add < conv 1x1x4 | identity > relu; bn; residual < conv 3x3x4 same > relu6"))
    # the add's ReLU and the bn after it are written under the `+`, not under the branch's conv
    assert "ReLU, BN" in d.texts and "ReLU6" in d.texts
    assert d.texts.count("1x1 conv, 4") == 1 and "ReLU" not in d.texts
    assert len(d.arcs) == 1 and len(d.cls("branch")) == 2


def test_from_branch_and_transposed_convolution():
    # the skip is drawn as the labeled tensor (8x8x4), named; the up-convolution doubles 4x4 to 8x8
    d = draw(cnndsl.parse("input 8x8x3; a: conv 3x3x4 p1; maxpool 2; "
                          "concat < from a | convtranspose 2x2x4 s2 >; upsample to input bilinear"))
    assert d.shapes() == ["8x8x3", "8x8x4", "4x4x4", "8x8x4", "8x8x4", "8x8x8", "8x8x8"]
    assert "from a" in d.texts and "2x2 up-conv, 4 x2" in d.texts and "upsample to input bilinear" in d.texts
