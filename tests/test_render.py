"""`cnndsl render`: diagrams rendered by the real `dot`, checked through the SVG's structure.

Graphviz writes one `<g class="node">` per node (its `<title>` is the node id, which starts with
the node's kind: `add12`, `concat7`, `block3`) and one `<g class="edge">` per edge (its `<text>` is
the edge label). Expected counts are worked out by hand from the program text, in the comments.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import cnndsl
from cnndsl.backends.graphviz import has_dot, to_svg
from cnndsl.cli import main
from cnndsl.layers.attention import SqueezeExcite
from cnndsl.layers.blocks import Aux, Container, MultiBranch, Residual

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = sorted((ROOT / "architectures").glob("*.cnn"))
NS = "{http://www.w3.org/2000/svg}"
SHAPE = re.compile(r"^\d+(x\d+)*$")

needs_dot = pytest.mark.skipif(not has_dot(), reason="Graphviz's dot is not installed")


class Svg:
    """The parts of a Graphviz SVG that the tests look at."""

    def __init__(self, text: str):
        self.root = ET.fromstring(text)
        groups = list(self.root.iter(f"{NS}g"))
        self.nodes = [g for g in groups if g.get("class") == "node"]
        self.edges = [g for g in groups if g.get("class") == "edge"]
        self.clusters = [g for g in groups if g.get("class") == "cluster"]

    @staticmethod
    def texts(g) -> list[str]:
        return [t.text.strip() for t in g.iter(f"{NS}text") if t.text and t.text.strip()]

    @staticmethod
    def title(g) -> str:
        return g.find(f"{NS}title").text

    def ids(self, prefix: str) -> list[str]:
        return [self.title(n) for n in self.nodes if re.fullmatch(rf"{prefix}\d+", self.title(n))]

    def edge_labels(self) -> list[str]:
        return [" ".join(self.texts(e)) for e in self.edges]

    def marks(self) -> list[int]:
        """The `x N` marks of repeats: a node's bold `x N`, a cluster label `x N` or ending in `  x N`
        (a title such as `Bottleneck x 3` is not a mark)."""
        found = []
        for g in self.nodes + self.clusters:
            for text in (t.text for t in g.iter(f"{NS}text") if t.text):
                found += [int(m) for m in re.findall(r"(?:^\s*|\s\s)x (\d+)\s*$", text)]
        return sorted(found)

    def node_text(self) -> str:
        return "\n".join(" ".join(self.texts(n)) for n in self.nodes)


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)


def svg(network, **options) -> Svg:
    return Svg(to_svg(network, **options))


# A program with every drawing rule; its counts are worked out by hand below.
DEMO = """
network demo
input 32x32x3
block basic(c) {
  residual <
    conv 3x3x{c} same nobias bn relu
    conv 3x3x{c} same nobias bn
  > relu
}
block down(c) {
  residual <
    conv 3x3x{c} s2 same nobias bn relu
    conv 3x3x{c} same nobias bn
  | conv 1x1x{c} s2 nobias bn
  > relu
}
stem: conv 3x3x16 same bn relu
stage1: repeat 3 { basic(16) }
stage2: < down(32); repeat 2 { basic(32) } >
mix: concat < conv 1x1x8 | conv 3x3x8 same | maxpool 3 s1 same; conv 1x1x8 >
aux < gap; fc 10 >
gap; fc 10
"""


@pytest.fixture(scope="module")
def demo():
    return cnndsl.parse(DEMO)


@needs_dot
def test_demo_default_depth(demo):
    s = svg(demo)
    # input, stem conv, basic(16) x3, down(32), basic(32) x2, 4 concat-branch layers, concat,
    # aux gap + fc + aux output, gap, fc, output
    assert len(s.nodes) == 1 + 1 + 1 + 1 + 1 + 4 + 1 + 3 + 2 + 1 == 16
    # input->stem->basic->down->basic (4); fan-out into 3 branches (3) + maxpool->conv (1);
    # 3 branch ends -> concat (3); concat -> aux gap -> fc -> aux output (3); concat -> gap -> fc -> output (3)
    assert len(s.edges) == 4 + 3 + 1 + 3 + 3 + 3 == 17
    assert s.marks() == [2, 3]
    assert len(s.ids("concat")) == 1 and s.ids("add") == []
    assert len(s.ids("block")) == 3  # the block calls, drawn collapsed
    labels = s.edge_labels()
    assert all(SHAPE.match(label) for label in labels), labels
    # 32x32x3 in; stem keeps 32x32, 16 channels; down(32) halves to 16x16x32; concat joins 8+8+8 channels
    for shape in ("32x32x3", "32x32x16", "16x16x32", "16x16x24", "1x1x24", "10"):
        assert shape in labels, shape
    assert "basic(16)" in s.node_text() and "down(32)" in s.node_text()
    assert "stem 3x3 conv, 16 BN, ReLU" in s.node_text()  # the label over the lecture's words, fused parts under


@needs_dot
def test_demo_depth_one_opens_calls_not_repeats(demo):
    s = svg(demo, depth=1)
    # input, stem; basic(16) opened once: 2 convs + add; down(32): 3 convs + add; basic(32): 2 convs + add;
    # concat: 4 + 1; aux: 2 + aux output; gap, fc, output
    assert len(s.nodes) == 1 + 1 + 3 + 4 + 3 + 5 + 3 + 3 == 23
    assert len(s.ids("add")) == 3
    assert s.marks() == [2, 3]  # repeats stay collapsed, marked on their clusters


@needs_dot
def test_demo_expand_draws_every_layer(demo):
    s = svg(demo, expand=True)
    # leaves: stem 1, stage1 3 x 2 convs, down 3 convs, stage2 repeat 2 x 2 convs, concat 4, aux 2, gap + fc 2
    leaves = 1 + 6 + 3 + 4 + 4 + 2 + 2
    joins = 3 + 1 + 2 + 1  # six residual adds, one concat
    io = 3  # input, output, aux output
    assert len(s.nodes) == leaves + joins + io == 32
    assert len(s.ids("add")) == 6 and len(s.ids("concat")) == 1
    # every node but the input and the joins has one incoming edge; a residual's add has two, the concat three
    assert len(s.edges) == (32 - 1 - 7) + 6 * 2 + 3 == 39
    assert s.marks() == []
    # the shortcuts: 5 identity edges plus the projection's two edges (in and out of its conv)
    shortcut = [e for e in s.edges if any(p.get("stroke") == "#c2185b" for p in e.iter(f"{NS}path"))]
    assert len(shortcut) == 5 + 2


@needs_dot
def test_identity_shortcut_is_its_own_curved_edge():
    net = cnndsl.parse("input 8x8x4; conv 3x3x4 same; residual < conv 3x3x4 same; conv 3x3x4 same >; gap")
    s = svg(net)
    (add,) = s.ids("add")
    into_add = [e for e in s.edges if s.title(e).endswith(f"->{add}")]
    assert len(into_add) == 2  # the body's last conv, and the shortcut from the conv before the residual
    first_conv = s.title(s.nodes[1])
    shortcut = [e for e in into_add if s.title(e).startswith(f"{first_conv}->")]
    assert len(shortcut) == 1
    d = shortcut[0].find(f"{NS}path").get("d")
    assert "C" in d  # a Bezier curve, not a straight segment
    points = [tuple(map(float, p.split(","))) for p in re.findall(r"-?[\d.]+,-?[\d.]+", d)]
    xs = [x for x, _ in points]
    assert max(xs) - min(xs) > 10  # it bows out to the side of the body it skips


@needs_dot
def test_aux_head_is_off_the_main_path():
    net = cnndsl.parse("input 8x8x4; conv 3x3x4 same; aux < gap; fc 3 >; gap; fc 5")
    s = svg(net)
    assert len(s.ids("auxout")) == 1
    dashed = [e for e in s.edges if any(p.get("stroke-dasharray") for p in e.iter(f"{NS}path"))]
    assert len(dashed) == 3  # conv -> aux gap -> aux fc -> aux output
    main_path = [e for e in s.edges if e not in dashed]
    assert len(main_path) == 4  # input -> conv -> gap -> fc -> output


@needs_dot
def test_concat_branches_side_by_side():
    net = cnndsl.parse("input 8x8x4; concat < conv 1x1x2 | conv 3x3x3 same | conv 5x5x5 same >")
    s = svg(net)
    branch = {s.title(n): n for n in s.nodes if s.title(n).startswith("conv")}
    ys = {n.find(f"{NS}text").get("y") for n in branch.values()}
    xs = sorted(float(n.find(f"{NS}text").get("x")) for n in branch.values())
    assert len(branch) == 3 and len(ys) == 1  # the three branches share one rank...
    assert xs[1] - xs[0] > 30 and xs[2] - xs[1] > 30  # ...side by side
    (concat,) = s.ids("concat")
    assert sum(s.title(e).endswith(f"->{concat}") for e in s.edges) == 3
    assert "8x8x10" in s.edge_labels()  # 2 + 3 + 5 channels


RESNET152 = """
network resnet152
input 224x224x3
block bottleneck(c, s=1) {
  residual <
    conv 1x1x{c} nobias bn relu
    conv 3x3x{c} s{s} same nobias bn relu
    conv 1x1x{c*4} nobias bn
  | conv 1x1x{c*4} s{s} nobias bn
  > relu
}
block unit(c) {
  residual <
    conv 1x1x{c} nobias bn relu
    conv 3x3x{c} same nobias bn relu
    conv 1x1x{c*4} nobias bn
  > relu
}
stem: < conv 7x7x64 s2 same nobias bn relu; maxpool 3 s2 same >
layer1: < bottleneck(64); repeat 2 { unit(64) } >
layer2: < bottleneck(128, s=2); repeat 7 { unit(128) } >
layer3: < bottleneck(256, s=2); repeat 35 { unit(256) } >
layer4: < bottleneck(512, s=2); repeat 2 { unit(512) } >
gap; fc 1000
"""


@needs_dot
def test_resnet152_collapsed_and_expanded():
    net = cnndsl.parse(RESNET152)
    s = svg(net, fold=False)
    # input, conv, maxpool, 4 x (bottleneck + unit x N), gap, fc, output
    assert len(s.nodes) == 1 + 2 + 8 + 2 + 1  # 14, well under the 40 a slide can take
    assert s.marks() == [2, 2, 7, 35]
    e = svg(net, expand=True, fold=False)
    blocks = 3 + 8 + 36 + 3  # 50 bottlenecks: 152 = 1 stem conv + 50 x 3 convs + 1 fc
    convs = 1 + blocks * 3 + 4  # plus 4 projection shortcuts
    leaves = convs + 3  # maxpool, gap, fc
    assert len(e.nodes) == leaves + blocks + 2 == 210  # one add per block; input and output
    assert len(e.ids("add")) == 50


@needs_dot
def test_shipped_resnet152():
    path = ROOT / "architectures" / "resnet152.cnn"
    if not path.exists():
        pytest.skip("architectures/resnet152.cnn not shipped yet (the inline program above stands in)")
    net = cnndsl.parse_file(path)
    # input; conv1, bn1, relu, maxpool; layer1..4 (one stage call each); gap, fc; output
    s = svg(net, fold=False)
    assert len(s.nodes) == 1 + 4 + 4 + 2 + 1 <= 40
    # folded: bn1 and relu are lines of conv1's node
    assert len(svg(net).nodes) == 1 + 2 + 4 + 2 + 1
    # the stages opened: bottleneck_down(c, s) and bottleneck(c) x (n - 1) each, n = 3, 8, 36, 3
    d1 = svg(net, depth=1, fold=False)
    assert len(d1.nodes) == 1 + 4 + 4 * 2 + 2 + 1
    assert d1.marks() == [2, 2, 7, 35]
    # every layer: a bottleneck is conv, bn, relu, conv, bn, relu, conv, bn (8), a stage's first one
    # adds downsample's conv and bn; 3 + 8 + 36 + 3 = 50 bottlenecks, one add each
    x = svg(net, expand=True, fold=False)
    leaves = 4 + 50 * 8 + 4 * 2 + 2
    assert len(x.nodes) == leaves + 50 + 2 == 466
    assert len(x.ids("add")) == 50


def _expected(network) -> tuple[int, int]:
    """(nodes, edges) of the fully expanded drawing, counted from the IR alone: one node per leaf
    layer (none for `from`), per residual / add / mul / concat / split join, per aux head's output, plus
    input and output; one edge into every node except the input, one more into each join for each
    extra branch, and one more into `upsample to LABEL` (from LABEL). An opened `se` is four nodes
    (pool, fc, fc, the multiply) and five edges (the input into the pool and into the multiply,
    three along the side branch)."""
    nodes = edges = 0

    def walk(seq):
        nonlocal nodes, edges
        for n in seq:
            if isinstance(n, SqueezeExcite):
                nodes += 4
                edges += 5
                continue
            if not isinstance(n, Container):
                if n.kind == "from":  # no node: its branch starts at the labeled tensor
                    continue
                nodes += 1
                edges += 1 + (n.ref() is not None)  # `upsample to LABEL` also gets an edge from LABEL
                continue
            for b in n.branches():
                walk(b)
            if isinstance(n, (Residual, MultiBranch)):
                nodes += 1
                edges += 2 if isinstance(n, Residual) else len(n.paths)
            if isinstance(n, Aux):
                nodes += 1
                edges += 1

    walk(network.body)
    return nodes + 2, edges + 1


@needs_dot
@pytest.mark.parametrize("path", ARCHITECTURES, ids=[p.stem for p in ARCHITECTURES])
def test_every_architecture_renders(path):
    net = cnndsl.parse_file(path)
    out = cnndsl.analyze(net).output
    s = svg(net)
    assert 2 <= len(s.nodes) <= 60, "a default-depth diagram should fit a slide"
    labels = s.edge_labels()
    assert labels and all(SHAPE.match(label) for label in labels), labels
    (input_node,) = [n for n in s.nodes if " ".join(s.texts(n)) == "input"]
    first = [e for e in s.edges if s.title(e).startswith(s.title(input_node) + "->")]
    want_in = re.search(r"^input\s+(\S+)", path.read_text(encoding="utf-8"), re.MULTILINE)
    if want_in and "{" not in want_in.group(1):
        assert s.edge_labels()[s.edges.index(first[0])] == want_in.group(1)
    into_output = [e for e in s.edges if re.search(r"->output\d+$", s.title(e))]
    assert [" ".join(s.texts(e)) for e in into_output] == ["x".join(map(str, out))]
    nodes, edges = _expected(net)
    x = svg(net, expand=True, fold=False)
    assert (len(x.nodes), len(x.edges)) == (nodes, edges)
    assert x.marks() == []


@needs_dot
def test_tiny_by_hand():
    s = svg(cnndsl.parse_file(ROOT / "architectures" / "tiny.cnn"))
    # input; stem: conv, maxpool; stage1: basic(16) x 2; stage2: basic(32, s=2), basic(32);
    # concat: 3 branches with 4 layers + concat; se; aux: gap, fc, aux output; gap, dropout, fc; output
    assert len(s.nodes) == 1 + 2 + 1 + 2 + 5 + 1 + 3 + 3 + 1 == 19
    assert s.marks() == [2]
    assert [c for c in s.clusters if "stem" in Svg.texts(c)]


@needs_dot
def test_png_size_is_sane(tmp_path):
    out = tmp_path / "demo.png"
    src = tmp_path / "demo.cnn"
    src.write_text(DEMO, encoding="utf-8")
    assert main(["render", str(src), "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    # 16 nodes in one column at 150 dpi: a few inches wide, taller than wide, not a poster
    assert 400 <= width <= 3000 and 1000 <= height <= 8000 and height > width, (width, height)
    assert len(data) > 20_000


@needs_dot
def test_korean_title(tmp_path):
    fonts = run(["fc-list", ":lang=ko", "family"]).stdout
    if not fonts.strip():
        pytest.skip("no font with Korean glyphs installed (Debian: fonts-nanum)")
    net = cnndsl.parse(DEMO)
    s = svg(net, title="잔차 신경망 예제")
    assert "잔차 신경망 예제" in [t for g in s.root.iter(f"{NS}text") for t in [g.text] if t]
    src = tmp_path / "demo.cnn"
    src.write_text(DEMO, encoding="utf-8")
    out = tmp_path / "ko.png"
    proc = run([sys.executable, "-m", "cnndsl", "render", str(src), "-o", str(out),
                           "--title", "잔차 신경망 예제"])
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr
    assert out.stat().st_size > 20_000


def test_dot_output_needs_no_graphviz_program(tmp_path):
    src = tmp_path / "demo.cnn"
    src.write_text(DEMO, encoding="utf-8")
    env = {**os.environ, "PATH": str(tmp_path)}  # no dot here
    dot = tmp_path / "demo.dot"
    ok = run([sys.executable, "-m", "cnndsl", "render", str(src), "-o", str(dot)], env=env)
    assert ok.returncode == 0, ok.stderr
    assert dot.read_text(encoding="utf-8").startswith("digraph")
    for fmt in ("svg", "png", "pdf"):
        bad = run([sys.executable, "-m", "cnndsl", "render", str(src), "-o", str(tmp_path / f"d.{fmt}")],
                             env=env)
        assert bad.returncode == 2
        assert "Traceback" not in bad.stderr
        assert bad.stderr.count("error:") == 1 and "Graphviz" in bad.stderr and "install" in bad.stderr
        assert not (tmp_path / f"d.{fmt}").exists()


@needs_dot
def test_render_imports_no_torch(tmp_path):
    code = ("import sys; from cnndsl.cli import main; "
            f"assert main(['render', 'tiny', '-o', {str(tmp_path / 't.svg')!r}]) == 0; "
            f"assert main(['render', 'tiny', '--expand', '-o', {str(tmp_path / 't.png')!r}]) == 0; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = run([sys.executable, "-c", code], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_to_dot_options(demo):
    dot = cnndsl.to_dot(demo)
    assert dot.startswith("digraph") and "32x32x16" in dot and "rankdir=TB" in dot
    assert "rankdir=LR" in cnndsl.to_dot(demo, rankdir="LR")
    bare = cnndsl.to_dot(demo, shapes=False)
    assert "32x32x16" not in bare
    assert "params" in cnndsl.to_dot(demo, params=True)
    assert "#0d1117" in cnndsl.to_dot(demo, theme="dark")
    for bad in ({"theme": "neon"}, {"rankdir": "BT"}, {"depth": -1}, {"colour": 1}):
        with pytest.raises(cnndsl.CnnError):
            cnndsl.to_dot(demo, **bad)


@needs_dot
def test_jupyter_repr(demo):
    text = demo._repr_svg_()
    assert "<svg" in text and Svg(text).nodes


def test_cli_errors(tmp_path, capsys):
    src = tmp_path / "demo.cnn"
    src.write_text(DEMO, encoding="utf-8")
    assert main(["render", str(src), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "format" in capsys.readouterr().err
    assert main(["render", str(src), "--depth", "-1"]) == 2
    assert main(["render", str(src)]) == 0
    assert capsys.readouterr().out.startswith("digraph")


# ---------------------------------------------------------------- lecture figures (issue 14)

def _dot_edges(dot: str) -> list[tuple[str, str, str]]:
    """(tail, head, label) of every labeled edge of DOT text."""
    return re.findall(r'^\s*(\w+) -> (\w+) \[label=" ([\dx]+) "', dot, re.MULTILINE)


def _node_of(dot: str, text: str) -> str:
    """The id of the one node whose label holds `text`."""
    (nid,) = re.findall(rf'^\s*(\w+) \[label=<[^\n]*\b{re.escape(text)}\b', dot, re.MULTILINE)
    return nid


def test_aux_heads_leave_their_taps():
    dot = cnndsl.to_dot(cnndsl.parse_file(ROOT / "architectures" / "googlenet.cnn"))
    edges = _dot_edges(dot)
    # GoogLeNet's Table 1: inception (4a) outputs 14x14x512, inception (4d) 14x14x528; the heads are
    # declared after inception5b (7x7x1024), which must feed neither
    for tap, shape in (("inception4a", "14x14x512"), ("inception4d", "14x14x528")):
        into_aux = [(h, s) for t, h, s in edges if t == _node_of(dot, tap) and h != "" and re.search(
            rf"^\s*{h} \[[^\n]*dashed", dot, re.MULTILINE)]
        assert [s for _, s in into_aux] == [shape], (tap, into_aux)
    assert not [e for e in edges if e[0] == _node_of(dot, "inception5b") and e[2] != "7x7x1024"]
    # two statements: the head taps b1 (8x8x4), not b2 (8x8x6) just before it
    dot = cnndsl.to_dot(cnndsl.parse("input 8x8x4; b1: conv 3x3x4 same; b2: conv 3x3x6 same; "
                                     "aux from b1 < gap; fc 3 >; gap"))
    (gap_aux,) = [h for t, h, s in _dot_edges(dot) if t == _node_of(dot, "b1") and s == "8x8x4"
                  and h.startswith("gap")]
    assert re.search(rf"^\s*{gap_aux} \[[^\n]*dashed", dot, re.MULTILINE)


@needs_dot
def test_concat_branches_left_to_right_in_source_order():
    net = cnndsl.parse("""input 28x28x192
    block inception(c1, c3r, c3, c5r, c5, pool) {
      concat <
        branch1: conv 1x1x{c1} nobias bn relu
      | branch2: < conv 1x1x{c3r} nobias bn relu; conv 3x3x{c3} p1 nobias bn relu >
      | branch3: < conv 1x1x{c5r} nobias bn relu; conv 3x3x{c5} p1 nobias bn relu >
      | branch4: < maxpool 3 s1 p1 ceil; conv 1x1x{pool} nobias bn relu >
      >
    }
    inception3a: inception(64, 96, 128, 16, 32, 32)""")
    s = svg(net, depth=1)
    x = {" ".join(s.texts(n)): float(n.find(f"{NS}text").get("x")) for n in s.nodes}
    heads = [next(v for k, v in x.items() if w in k) for w in ("1x1 conv, 64", "1x1 conv, 96", "1x1 conv, 16",
                                                                "max pool 3x3")]
    assert heads == sorted(heads), x  # channel order: 64, then 128 (from 96), 32 (from 16), 32 (after the pool)
    assert "28x28x256" in s.edge_labels()  # 64 + 128 + 32 + 32


def test_lecture_words():
    dot = cnndsl.to_dot(cnndsl.parse("input 224x224x3; conv 7x7x64 s2 p3 nobias bn relu; maxpool 3 s2 p1; "
                                     "dwconv 3x3 p1; conv 1x1x128 g4; gap; fc 1000"))
    for words in ("7x7 conv, 64 /2<br/>", "BN, ReLU", "max pool 3x3 /2", "<3x3 depthwise>", "1x1 conv, 128, 4 groups",
                  "global avg pool", "fc 1000"):
        assert words in dot, words
    assert "#9ec5fe" in dot  # the depthwise conv's own colour
    # a transposed convolution enlarges: U-Net's "up-conv" and the factor, not a stride `/2`
    dot = cnndsl.to_dot(cnndsl.parse("input 8x8x3; convtranspose 2x2x4 s2 bn relu"))
    assert "2x2 up-conv, 4 x2<br/>" in dot and "BN, ReLU" in dot and "/2" not in dot
    # the activation after a join is named as a leaf's fused one (torch.nn's class names)
    dot = cnndsl.to_dot(cnndsl.parse("input 8x8x4; residual < conv 3x3x4 p1 > relu; add < relu6 | identity > hardswish"),
                        depth=99)
    assert '<font point-size="11">ReLU</font>' in dot and '<font point-size="11">Hardswish</font>' in dot
    assert ">relu<" not in dot and ">hardswish<" not in dot


def test_fold_bottleneck_at_depth_two():
    net = cnndsl.parse_file(ROOT / "architectures" / "resnet50.cnn")
    def nodes(dot: str) -> list[str]:
        return re.findall(r"^\s*(\w+) \[label=", dot, re.MULTILINE)

    # layer1.1 is a Bottleneck: conv1 (+ bn1, relu), conv2 (+ bn2, relu), conv3 (+ bn3), the add (+ relu),
    # inside input and output
    folded = nodes(cnndsl.to_dot(net, focus="layer1.1"))
    assert len(folded) - 2 == 4  # at most 5, as issue 14 asks
    assert len(nodes(cnndsl.to_dot(net, focus="layer1.1", fold=False))) - 2 == 8 + 1  # 3 convs, 3 bns, 2 relus, add
    # at depth 2 the whole network: input; conv1 (bn1, relu folded); each of the 4 stages opens to its
    # first Bottleneck and one repeated Bottleneck, 4 nodes each, plus the first one's projection
    # (conv, bn folded); maxpool, gap, fc; output
    assert len(nodes(cnndsl.to_dot(net, depth=2))) == 1 + 1 + 4 * (2 * 4 + 1) + 3 + 1


@needs_dot
@pytest.mark.parametrize("depth", [0, 1])
@pytest.mark.parametrize("path", ARCHITECTURES, ids=[p.stem for p in ARCHITECTURES])
def test_fit_16_9(path, depth):
    s = to_svg(cnndsl.parse_file(path), fit="16:9", depth=depth)
    width, height = (float(v) for v in re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', s).groups())
    assert abs(width / height / (16 / 9) - 1) <= 0.2, (width, height)
    if depth == 0:  # the smallest text, 11 pt scaled by the drawing's transform, read at 1920x1080
        scale = float(re.search(r"scale\(([\d.]+)", s).group(1))
        smallest = min(float(v) for v in re.findall(r'font-size="([\d.]+)"', s))
        assert smallest * scale * 1920 / width >= 13.5, smallest * scale


def test_fit_columns_and_errors():
    net = cnndsl.parse_file(ROOT / "architectures" / "vgg16.cnn")
    dot = cnndsl.to_dot(net, fit="16:9")
    assert "constraint=false" in dot  # a column break
    for bad in ("16/9", "0:9", "x", "16:9:1"):
        with pytest.raises(cnndsl.CnnError, match="--fit"):
            cnndsl.to_dot(net, fit=bad)


FOCUSED = [(p, n.name) for p in ARCHITECTURES for n in cnndsl.parse_file(p).body if n.name and not n.name.isdigit()]


@pytest.mark.parametrize("path,label", FOCUSED, ids=[f"{p.stem}-{n}" for p, n in FOCUSED])
def test_focus_every_top_level_label(path, label):
    net = cnndsl.parse_file(path)
    row = next(r for r in cnndsl.analyze(net).rows if r.path == label)
    dot = cnndsl.to_dot(net, focus=label)
    edges = _dot_edges(dot)
    assert [s for t, _, s in edges if t.startswith("input")][:1] == ["x".join(map(str, row.input))]
    if not isinstance(row.node, Aux):  # an aux head passes its input on; what it draws ends in `aux output`
        assert [s for _, h, s in edges if h.startswith("output")] == ["x".join(map(str, row.output))]
    assert label in dot


def test_focus_examples(capsys):
    # GoogLeNet Table 1: inception (3a) takes 28x28x192 and gives 28x28x256
    dot = cnndsl.to_dot(cnndsl.parse_file(ROOT / "architectures" / "googlenet.cnn"), focus="inception3a")
    edges = _dot_edges(dot)
    assert [s for t, _, s in edges if t.startswith("input")] == ["28x28x192"] * 4
    assert [s for _, h, s in edges if h.startswith("output")] == ["28x28x256"]
    # SE-ResNet-50's first block: 56x56x64 in, 256 out; the SE gate opened: pool to 1x1x256, fc to
    # 256 / 16 = 16, fc back to 256, multiplying the main path
    dot = cnndsl.to_dot(cnndsl.parse_file(ROOT / "architectures" / "se_resnet50.cnn"), focus="layer1.0")
    labels = [s for _, _, s in _dot_edges(dot)]
    assert labels[0] == "56x56x64" and labels[-1] == "56x56x256"
    assert "1x1x256" in labels and "1x1x16" in labels and "excite: fc 16 (C/16)" in dot and "×" in dot
    (mul,) = re.findall(r"^\s*(mul\d+) \[", dot, re.MULTILINE)
    assert sum(h == mul for _, h, _ in _dot_edges(dot)) == 2  # the gate and the main path
    # MobileNet's `1` is blocks.1: a stride-2 depthwise separable pair, 112x112x64 -> 56x56x128
    dot = cnndsl.to_dot(cnndsl.parse_file(ROOT / "architectures" / "mobilenet.cnn"), focus="1")
    labels = [s for _, _, s in _dot_edges(dot)]
    assert labels[0] == "112x112x64" and labels[-1] == "56x56x128" and "3x3 depthwise /2" in dot
    # U-Net's up1 reads down3, outside the focused statement: a plain node of that name feeds the concat
    dot = cnndsl.to_dot(cnndsl.parse_file(ROOT / "architectures" / "unet.cnn"), focus="up1")
    assert [(h[:6], s) for t, h, s in _dot_edges(dot) if t.startswith("tensor")] == [("concat", "32x32x512")]
    assert re.search(r'^\s*tensor\d+ \[.*down3', dot, re.MULTILINE)
    assert main(["render", "googlenet", "--focus", "inception9z"]) == 2
    err = capsys.readouterr().err
    assert "--focus" in err and "inception3a" in err and "Traceback" not in err


def test_titles_and_display_groups():
    net = cnndsl.parse_file(ROOT / "architectures" / "resnet152.cnn")
    dot = cnndsl.to_dot(net)
    # ResNet-152: conv2_x .. conv5_x have 3, 8, 36, 3 Bottlenecks (the paper's Table 1)
    for n in (3, 8, 36, 3):
        assert f"Bottleneck x {n}" in dot
    assert 'label="layer3: Bottleneck x 36' in cnndsl.to_dot(net, depth=1)
    # a display-only group names no module: the same state_dict paths as without it
    plain = "input 8x8x3; a: conv 3x3x4 same; relu; conv 1x1x2; gap"
    grouped = 'input 8x8x3; "Entry flow" < a: conv 3x3x4 same; relu >; "Exit" < conv 1x1x2; gap >'
    def paths(text: str) -> list[str]:
        return [r.path for r in cnndsl.analyze(cnndsl.parse(text)).rows if not r.node.takes_branches]

    assert paths(grouped) == paths(plain) == ["a", "1", "2", "3"]
    dot = cnndsl.to_dot(cnndsl.parse(grouped))
    assert 'label="Entry flow"' in dot and 'label=Exit' in dot
    with pytest.raises(cnndsl.CnnError, match="display-only"):
        cnndsl.parse('input 8x8x3; x: "Entry" < relu >')
    # a block's title fills its holes per call
    net = cnndsl.parse('input 8x8x3\nblock unit(c, n) "Unit x {n}, {c * 2}" { conv 1x1x{c}; repeat {n} { relu } }\nunit(4, 3)')
    assert net.body[0].call.title == "Unit x 3, 8"
    assert "Unit x 3, 8" in cnndsl.to_dot(net)
    # Xception's flows (Chollet 2017, Figure 5)
    dot = cnndsl.to_dot(cnndsl.parse_file(ROOT / "architectures" / "xception.cnn"))
    assert all(f'label="{f} flow"' in dot for f in ("Entry", "Middle", "Exit"))


def test_render_cli_options(tmp_path):
    out = tmp_path / "g.dot"
    assert main(["render", "resnet50", "--fit", "4:3", "--no-fold", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert re.search(r"^\s*bn\d+ \[label=<[^\n]*>BN>", text, re.MULTILINE)  # bn1 a node of its own
    assert 'size="15.000,11.250!"' in text and "constraint=false" in text  # 1440x1080 at 96 dpi; columns
    assert main(["render", "resnet50", "--fit", "16x9x2"]) == 2

@needs_dot
def test_render_says_what_it_wrote(tmp_path, capsys):
    import matplotlib.image

    png, svgf, dot = tmp_path / "r.png", tmp_path / "r.svg", tmp_path / "r.dot"
    for out in (png, svgf, dot):
        assert main(["render", "tiny", "-o", str(out)]) == 0
    said = capsys.readouterr().err.splitlines()
    height, width = matplotlib.image.imread(png).shape[:2]  # the PNG's own pixels, read by another decoder
    root = ET.parse(svgf).getroot()
    w, h = (root.get(k).removesuffix("pt") for k in ("width", "height"))
    assert said == [f"wrote {png} ({width}x{height} px)", f"wrote {svgf} ({w}x{h} pt)", f"wrote {dot}"]
