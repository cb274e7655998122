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
