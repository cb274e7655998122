"""`cnndsl plot`: the bubble chart of MACs against params, and its sweep curves."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from cnndsl.cli import main

pytest.importorskip("matplotlib")

NS = "{http://www.w3.org/2000/svg}"

# conv 3x3x{w} on 16x16x3, same padding: params 27w + w, MACs 16*16*27w; then gap and fc 10: 10w + 10
SMALL = """network small
param w = 8
param res = 16
input {res}x{res}x3
conv 3x3x{w} same
gap
fc 10
"""
BIG = "network big\ninput 32x32x3\nconv 3x3x64 same\nconv 3x3x64 same\ngap\nfc 10\n"


def write(tmp_path, name, text):
    p = tmp_path / f"{name}.cnn"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_bubbles_labeled_by_name(tmp_path, capsys):
    out = tmp_path / "chart.svg"
    assert main(["plot", write(tmp_path, "small", SMALL), write(tmp_path, "big", BIG), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    # small at w=8: 27*8 + 8 = 224 conv params + 8*10 + 10 = 90 fc params; MACs 16*16*8*27 + 80
    assert "small: 314 params, 55,376 MACs" in printed
    root = ET.parse(out).getroot()
    texts = "".join(t for t in root.itertext())
    assert "small" in texts and "big" in texts
    assert "MACs" in texts and "parameters" in texts


def test_sweep_joins_the_grid_as_curves(tmp_path, capsys):
    out = tmp_path / "sweep.svg"
    small = write(tmp_path, "small", SMALL)
    assert main(["plot", small, write(tmp_path, "big", BIG), "-o", str(out),
                 "--sweep", "w=4,8,16", "--sweep", "res=8,16"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("small")]
    assert len(lines) == 3 * 2  # every point of the 3 x 2 grid
    assert any(ln.startswith("small w=8 res=16: 314 params, 55,376 MACs") for ln in lines)
    root = ET.parse(out).getroot()
    texts = [t.strip() for t in root.itertext() if t.strip()]
    # one curve per w value, along res (the last swept param), each named in the legend
    assert [t for t in texts if t.startswith("small w=")] == ["small w=4", "small w=8", "small w=16"]
    assert any("along res" in t for t in texts)
    # each point is marked with its res value
    assert texts.count("8") >= 3 and texts.count("16") >= 3
    assert "big" in texts  # a file without the swept params is one plain bubble


def test_png_and_errors(tmp_path, capsys):
    small = write(tmp_path, "small", SMALL)
    out = tmp_path / "chart.png"
    assert main(["plot", small, "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert 800 <= width <= 3000 and 500 <= height <= 2000
    assert main(["plot", small, "-o", str(tmp_path / "chart.gif")]) == 2
    assert main(["plot", small, "-o", str(out), "--sweep", "nope=1,2"]) == 2
    assert "no param 'nope'" in capsys.readouterr().err
    assert main(["plot", small, "-o", str(out), "--sweep", "w"]) == 2


def test_missing_matplotlib_is_one_clear_error(tmp_path):
    small = write(tmp_path, "small", SMALL)
    code = ("import sys; sys.modules['matplotlib'] = None; from cnndsl.cli import main; "
            f"sys.exit(main(['plot', {small!r}, '-o', {str(tmp_path / 'c.png')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "matplotlib" in proc.stderr and "pip install" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c.png").exists()


def test_plot_imports_no_torch(tmp_path):
    small = write(tmp_path, "small", SMALL)
    code = ("import sys; from cnndsl.cli import main; "
            f"assert main(['plot', {small!r}, '-o', {str(tmp_path / 'c.svg')!r}]) == 0; "
            "assert 'torch' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- labels, titles, colours, axes, accuracy

CROWD = ["lenet5", "alexnet", "vgg16", "googlenet", "resnet18", "resnet34", "resnet50", "se_resnet50", "resnet101",
         "resnet152", "mobilenet", "mobilenet_v2"]


def figure_of(files, **options):
    from cnndsl.commands import plot

    args = plot.add_parser(__import__("argparse").ArgumentParser().add_subparsers()).parse_args(
        [*files, "-o", "x.png"])
    series = [(pts[0].name, pts) for pts in (plot.points(f, args, {}) for f in files)]
    return plot.chart(series, **options)


def geometry(fig):
    """The labels' boxes and the bubbles' circles, in display pixels, as matplotlib's renderer draws them."""
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    circles = []
    for coll in ax.collections:
        centers = ax.transData.transform(coll.get_offsets())
        radii = [(s ** 0.5) / 2 * fig.dpi / 72 for s in coll.get_sizes()]
        circles += [(x, y, r) for (x, y), r in zip(centers, radii)]
    return boxes, circles


def test_labels_overlap_nothing():
    fig = figure_of(CROWD)
    boxes, circles = geometry(fig)
    assert set(boxes) == set(CROWD) and len(circles) == len(CROWD)
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)
        box = boxes[a]
        for x, y, r in circles:  # the nearest point of the box to the centre lies outside the circle
            nx, ny = min(max(x, box.x0), box.x1), min(max(y, box.y0), box.y1)
            assert (nx - x) ** 2 + (ny - y) ** 2 >= r * r - 1e-6, a
        assert fig.axes[0].get_window_extent().contains(box.x0, box.y0)
        assert fig.axes[0].get_window_extent().contains(box.x1, box.y1)


def test_title_colours_and_axes(tmp_path):
    titled = write(tmp_path, "t", 'network t "작은 망"\ninput 16x16x3\nconv 3x3x8 same\ngap\nfc 10\n')
    fig = figure_of([titled, "lenet5", "vgg16"])
    assert {t.get_text() for t in fig.axes[0].texts} == {"작은 망", "lenet5", "vgg16"}
    # colours follow the network, not the order of the files
    one = [c.get_facecolor()[0].tolist() for c in figure_of(["lenet5", "vgg16"]).axes[0].collections]
    two = [c.get_facecolor()[0].tolist() for c in figure_of(["vgg16", "lenet5"]).axes[0].collections]
    assert one == two[::-1] and one[0] != one[1]
    # axes hug the data: LeNet-5 (416,520 MACs, 61,706 params) to VGG-16 (15,470,264,320; 138,357,544),
    # less than one decade beyond the data on each axis
    import math

    fig = figure_of(["lenet5", "vgg16"])
    (x0, x1), (y0, y1) = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
    assert x0 < 416_520 and x1 > 15_470_264_320 and math.log10(x1 / x0) < math.log10(15_470_264_320 / 416_520) + 1
    assert y0 < 61_706 and y1 > 138_357_544 and math.log10(y1 / y0) < math.log10(138_357_544 / 61_706) + 1


def test_axis_labels_in_korean(tmp_path, capsys):
    out = tmp_path / "k.svg"
    assert main(["plot", "lenet5", "vgg16", "-o", str(out), "--xlabel", "연산량", "--ylabel", "파라미터 수"]) == 0
    texts = [t.strip() for t in ET.parse(out).getroot().itertext() if t.strip()]
    assert "연산량" in texts and "파라미터 수" in texts
    from matplotlib import font_manager

    if any(f.name == "NanumGothic" for f in font_manager.fontManager.ttflist):
        assert "NanumGothic" in out.read_text(encoding="utf-8")


def test_accuracy_chart(tmp_path, capsys):
    from cnndsl.commands.plot import read_accuracy

    acc = tmp_path / "acc.csv"
    # torchvision's published ImageNet top-1 (ResNet-50 76.13, VGG-16 71.59), params and MACs
    acc.write_text("name,accuracy,params,macs\nresnet50,76.13,25557032,4089184256\n"
                   "vgg16,71.59,138357544,15470264320\n", encoding="utf-8")
    fig = figure_of(["resnet50", "vgg16"], accuracy=read_accuracy(str(acc), {}))
    ax = fig.axes[0]
    assert sorted(tuple(c.get_offsets()[0]) for c in ax.collections) == [(4_089_184_256, 76.13),
                                                                         (15_470_264_320, 71.59)]
    assert ax.get_yscale() == "linear" and ax.get_xscale() == "log"
    # without params and MACs the rows take them from the FILEs of those names: the same chart
    acc.write_text("name,accuracy\nresnet50,76.13\nvgg16,71.59\n", encoding="utf-8")
    out = tmp_path / "a.svg"
    assert main(["plot", "resnet50", "vgg16", "-o", str(out), "--accuracy", str(acc)]) == 0
    texts = [t.strip() for t in ET.parse(out).getroot().itertext() if t.strip()]
    assert "resnet50" in texts and "vgg16" in texts and "accuracy (%)" in texts


@pytest.mark.parametrize("text, message", [
    ("name,acc\nresnet50,76\n", ":1: the header must be"),
    ("name,accuracy\nresnet50,76\nvgg16,high\n", ":3: accuracy 'high' is not a number"),
    ("name,accuracy\nresnet50,76,1\n", ":2: expected 2 values, got 3"),
    ("name,accuracy\nalexnet,56\n", ":2: no network 'alexnet' among the FILEs"),
    ("name,accuracy,params,macs\nx,50,10,0\n", ":2: macs must be positive"),
    ("name,accuracy\n", ": no rows under the header"),
])
def test_bad_accuracy_csv(tmp_path, capsys, text, message):
    acc = tmp_path / "acc.csv"
    acc.write_text(text, encoding="utf-8")
    assert main(["plot", "resnet50", "-o", str(tmp_path / "a.png"), "--accuracy", str(acc)]) == 2
    err = capsys.readouterr().err
    assert f"{acc}{message}" in err and "Traceback" not in err
