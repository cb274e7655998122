"""`cnndsl serve`'s HTTP API (Starlette's TestClient): figures against hand arithmetic and published
references, positioned errors, param overrides, the size limit, what the server may read and
write on disk, and concurrent requests each getting their own answer."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 for its test client; httpx works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

from conftest import ARCHITECTURES, REFERENCE, ROOT

import cnndsl
from cnndsl.backends.graphviz import THEMES
from cnndsl.cli import main
from cnndsl.server.analysis import Request, analyze, span
from cnndsl.server.app import create_app
from cnndsl.syntax import MAX_FILE_BYTES

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")

# conv 3x3x16 same: 3*3*3*16 + 16 = 448 params, 32*32*16 outputs x 27 MACs = 442,368;
# fc 10 on 16 features: 160 + 10 = 170 params, 160 MACs.
SMALL = "input 32x32x3\nconv 3x3x16 same relu\nmaxpool 2\ngap\nfc 10\n"
SMALL_PARAMS, SMALL_MACS = 448 + 170, 442_368 + 160


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def post(client, **body):
    r = client.post("/api/analyze", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_good_program_gives_its_figures_table_diagram_and_source(client):
    r = post(client, text=SMALL)
    assert r["ok"] is True
    assert r["network"] == {"name": "playground", "title": None, "input": [32, 32, 3], "output": [10]}
    totals = r["stats"]["totals"]
    assert (totals["params"], totals["macs"], totals["weight_layers"]) == (SMALL_PARAMS, SMALL_MACS, 2)
    assert totals["rf"] == 4 and totals["rf_at"] == "1"  # 3x3 conv then a 2x2 pool: 3 + (2 - 1) x 1
    rows = r["stats"]["rows"]
    assert [(x["path"], x["output"], x["params"], x["macs"]) for x in rows] == [
        ("0", [32, 32, 16], 448, 442_368), ("1", [16, 16, 16], 0, 0), ("2", [1, 1, 16], 0, 0), ("3", [10], 170, 160)]
    assert "618 (618)" in r["stats"]["text"] and r["stats"]["footer"].startswith("macs: multiply-accumulates")
    assert r["svg"].lstrip().startswith(("<?xml", "<svg")) and "</svg>" in r["svg"]
    tree = ast.parse(r["source"])  # the standalone PyTorch source: valid Python, one class per network
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == ["Playground"]
    assert "nn.Conv2d(3, 16, kernel_size=3" in r["source"] and "nn.Linear(16, 10)" in r["source"]
    assert set(r["timings"]) == {"analyze_ms", "diagram_ms", "source_ms"}


def test_resnet50_has_torchvisions_figures_and_the_cli_stats_text(client, capsys):
    ref = json.loads((REFERENCE / "resnet50.json").read_text())
    text = (ARCHITECTURES / "resnet50.cnn").read_text()
    r = post(client, text=text, architecture="resnet50", diagram="none", source=False)
    assert (r["stats"]["totals"]["params"], r["stats"]["totals"]["macs"]) == (ref["params"], ref["macs"])
    assert r["stats"]["totals"]["params"] == 25_557_032 and r["svg"] is None and r["source"] is None
    assert main(["stats", "resnet50"]) == 0
    assert r["stats"]["text"] == capsys.readouterr().out  # exactly what `cnndsl stats` prints
    deep = post(client, text=text, architecture="resnet50", diagram="none", source=False, depth=0)
    assert main(["stats", "resnet50", "--depth", "1"]) == 0
    assert deep["stats"]["text"] == capsys.readouterr().out  # depth 0 opens no block: the top level only
    assert {x["depth"] for x in deep["stats"]["rows"]} == {0}
    # without `architecture`, its `use "blocks/resnet.cnn"` is looked for beside the playground, not found
    alone = post(client, text=text, diagram="none", source=False)
    assert not alone["ok"] and alone["errors"][0]["message"].startswith("no such file")


def test_the_volume_drawing_and_no_fold(client):
    r = post(client, text=SMALL, diagram="volumes", source=False)
    assert "<svg" in r["svg"] and "3x3 conv, 16" in r["svg"]
    text = "input 32x32x3\nconv 3x3x16 same\nbn\nrelu\ngap\nfc 10\n"
    folded, unfolded = (post(client, text=text, fold=f, source=False)["svg"] for f in (True, False))
    assert unfolded.count('class="node"') == folded.count('class="node"') + 2  # bn and relu become nodes of their own


def test_a_typo_is_an_error_at_its_line_and_column_with_a_hint(client):
    r = post(client, text="input 32x32x3\nconv 3x3x16 same\n  conb 3x3x8\n")
    assert r["ok"] is False
    (e,) = r["errors"]
    assert (e["file"], e["line"], e["col"], e["end_line"], e["end_col"]) == ("playground.cnn", 3, 3, 3, 7)
    assert e["here"] is True  # in the text sent
    assert e["message"] == "unknown layer 'conb'" and e["hint"] == "did you mean 'conv'?" and e["param"] is None
    assert e["text"].splitlines() == ["playground.cnn:3:3: error: unknown layer 'conb'", " 3 |   conb 3x3x8",
                                      "   |   ^^^^", "hint: did you mean 'conv'?"]


def test_a_shape_error_found_after_parsing_is_positioned_with_its_own_line(client):
    r = post(client, text="input 8x8x3\nconv 3x3x4\nfc 10\n")
    (e,) = r["errors"]
    assert (e["line"], e["col"]) == (3, 1) and "flat" in e["message"] and "flatten" in e["hint"]
    assert " 3 | fc 10" in e["text"].splitlines()


def test_slider_defaults_are_the_declared_values_even_where_they_do_not_build(client):
    # at the declared res = 4 the program does not elaborate (a repeat count of 4 - 8); with the override it
    # does. The slider still resets to 4, and a derived param to its value at the declared res (4 * 2)
    text = "param res = 4\nparam c = res * 2\ninput {res}x{res}x3\nrepeat {res - 8} { conv 3x3x{c} p1 }\n"
    r = post(client, text=text, params={"res": 16}, diagram="none", source=False)
    assert r["ok"] is True
    sliders = {p["name"]: (p["value"], p["default"]) for p in r["params"]}
    assert sliders == {"res": (16, 4), "c": (32, 8)}


def test_an_error_inside_a_block_call_has_notes(client):
    r = post(client, text="input 8x8x3\nblock b(c) {\n  conv 3x3x{c}\n}\nb(0)\n")
    (e,) = r["errors"]
    assert e["line"] == 3 and [(n["file"], n["line"], n["col"]) for n in e["notes"]] == [("playground.cnn", 5, 1)]


def test_params_get_sliders_and_override_the_figures(client):
    text = (ARCHITECTURES / "mobilenet.cnn").read_text()
    ref = {(m["alpha"], m["res"]): m for m in json.loads((REFERENCE / "mobilenet_v1_multipliers.json").read_text())}
    full = post(client, text=text, diagram="none", source=False)
    half = post(client, text=text, params={"alpha": 0.5, "res": 160}, diagram="none", source=False)
    for r, key in ((full, (1.0, 224)), (half, (0.5, 160))):
        assert (r["stats"]["totals"]["params"], r["stats"]["totals"]["macs"]) == (ref[key]["params"], ref[key]["macs"])
    sliders = {p["name"]: p for p in half["params"]}
    assert list(sliders) == ["alpha", "res", "classes"]
    assert sliders["alpha"] == {"name": "alpha", "value": 0.5, "default": 1.0, "min": 0.25, "max": 2.0, "step": 0.05}
    assert sliders["res"] == {"name": "res", "value": 160, "default": 224, "min": 32, "max": 448, "step": 32}
    assert sliders["classes"] == {"name": "classes", "value": 1000, "default": 1000, "min": 8, "max": 2000, "step": 8}
    wide = post(client, text=text, params={"classes": 5000}, diagram="none", source=False)
    assert {p["name"]: p["max"] for p in wide["params"]}["classes"] == 5000  # the range holds the value


def test_a_bad_param_is_an_error_naming_it(client):
    text = (ARCHITECTURES / "mobilenet.cnn").read_text()
    (e,) = post(client, text=text, params={"alhpa": 0.5})["errors"]
    assert e["param"] == "alhpa" and e["line"] == 0 and e["file"] is None and e["here"] is False
    assert "no param 'alhpa'" in e["message"] and e["hint"] == "did you mean 'alpha'?"
    (e,) = post(client, text=text, params={"alpha": "half"})["errors"]
    assert e["param"] == "alpha" and "must be a number" in e["message"]
    # parse's own keyword arguments are not params: they cannot reach it from a request
    (e,) = post(client, text=text, params={"allow_outside": True})["errors"]
    assert e["param"] == "allow_outside" and "no param 'allow_outside'" in e["message"]


def serving(folder, blocks: str):
    """A client of the server on `folder`/net.cnn, beside `folder`/blocks.cnn holding `blocks`: (client, net.cnn)."""
    folder.mkdir()
    (folder / "blocks.cnn").write_text(blocks)
    served = folder / "net.cnn"
    served.write_text("input 4x4x2\n")
    return TestClient(create_app(served)), served


def test_an_error_in_a_used_file_is_not_here_and_its_call_is(tmp_path):
    folder = tmp_path / "work"
    client, served = serving(folder, "block inner(c) {\n  conv 1x1x{c}\n}\n")
    (e,) = post(client, text='use "blocks.cnn"\ninput 4x4x2\ninner(0)\n')["errors"]  # a conv of 0 channels
    # under `1x1x{c}`, after "  conv ": line 2, column 8 of blocks.cnn
    assert (e["file"], e["line"], e["col"], e["here"]) == (str(folder / "blocks.cnn"), 2, 8, False)
    assert [(n["file"], n["line"], n["col"], n["here"]) for n in e["notes"]] == [(str(served), 3, 1, True)]  # the call
    (e,) = post(client, text='use "blocks.cnn"\ninput 4x4x2\ninnr(1)\n')["errors"]
    assert (e["file"], e["line"], e["here"]) == (str(served), 3, True)  # the served file's name: here
    bad = client.post("/api/render", json={"text": "input 8x8x3\nconb 3x3x4\n", "format": "svg"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["here"] is True


def svg_colours(svg: str) -> set[str]:
    """The fill and stroke colours an SVG uses."""
    return set(re.findall(r'(?:fill|stroke)="(#[0-9a-f]{6}|white|black)"', svg))


@pytest.mark.parametrize("diagram", ["graph", "volumes"])
def test_the_dark_theme_draws_in_the_backends_dark_colours(client, diagram):
    light, dark = (post(client, text=SMALL, diagram=diagram, source=False, theme=t)["svg"] for t in ("light", "dark"))
    assert post(client, text=SMALL, diagram=diagram, source=False)["svg"] == light  # the default
    for theme, svg in (("light", light), ("dark", dark)):
        t = THEMES[theme]
        wanted = {t.background, t.text, *t.families["conv"], *t.families["pool"]}
        assert wanted <= svg_colours(svg), (theme, wanted - svg_colours(svg))
    assert THEMES["dark"].background not in svg_colours(light) and THEMES["light"].families["conv"][0] not in \
        svg_colours(dark)
    image = client.post("/api/render", json={"text": SMALL, "diagram": diagram, "theme": "dark", "format": "svg"})
    assert image.status_code == 200 and image.text == dark  # the download is the drawing shown


def aspect(svg: str) -> float:
    """The drawing's width / height, from its viewBox."""
    _, _, w, h = (float(v) for v in re.search(r'viewBox="([^"]+)"', svg)[1].split())
    return w / h


@pytest.mark.parametrize("fit, ratio", [("16:9", 16 / 9), ("4:3", 4 / 3), ("1000x500", 2.0)])
def test_fit_lays_the_graph_out_for_a_slide(client, fit, ratio):
    text = (ARCHITECTURES / "resnet18.cnn").read_text()
    svg = post(client, text=text, architecture="resnet18", source=False, fit=fit)["svg"]
    assert aspect(svg) == pytest.approx(ratio, rel=0.01)
    plain = post(client, text=text, architecture="resnet18", source=False, fit=None)["svg"]
    assert aspect(plain) < 0.5  # a tall chain without the fit
    assert svg != plain


def test_a_layout_over_the_limit_is_an_error_not_a_held_thread(client, monkeypatch):
    # the limit is the server's: the same drawing has none on the command line
    monkeypatch.setattr("cnndsl.server.analysis.LAYOUT_SECONDS", 1e-9)
    r = post(client, text="input 8x8x3\nconv 3x3x4\n", source=False)
    assert r["ok"] is False
    assert r["errors"][0]["message"] == "laying out the diagram took over 1e-09 s"
    assert r["errors"][0]["hint"].startswith("draw fewer levels")
    assert cnndsl.to_svg(cnndsl.parse("input 8x8x3\nconv 3x3x4\n")).lstrip().startswith("<?xml")


def test_slider_ranges_follow_the_documented_rule():
    # whole d > 0: multiples of the largest power of two dividing d and at most d / 4, up to 2d
    assert span(224) == (32, 448, 32)  # 224 = 7 x 32, 32 <= 56
    assert span(256) == (64, 512, 64)  # 256 divides by 256, capped at 256 / 4
    assert span(1000) == (8, 2000, 8)  # 1000 = 125 x 8
    assert span(16) == (4, 32, 4)
    assert span(6) == (1, 12, 1)  # 6 / 4 = 1.5: step 1
    assert span(1) == (1, 2, 1)
    # a fraction: d / 4 .. 2d by d / 20
    assert span(1.0) == (0.25, 2.0, 0.05)
    assert span(0.1) == (0.025, 0.2, 0.005)
    assert span(0) == (-10, 10, 1) and span(0.0) == (-1.0, 1.0, 0.05)


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not JSON"), (b"[1, 2]", "JSON object"), (b'{"text": 3}', "'text' must be a string"),
    (b'{"params": {}}', "'text' is missing"), (b'{"text": "", "colour": 1}', "unknown key 'colour'"),
    (b'{"text": "", "diagram": "pie"}', "'diagram' must be one of"), (b'{"text": "", "depth": -1}', "'depth'"),
    (b'{"text": "", "depth": true}', "'depth'"), (b'{"text": "", "params": [1]}', "'params'"),
    (b'{"text": "", "params": {"alpha": NaN}}', "not JSON"), (b'{"text": "\\ud800"}', "not JSON"),
    (b"[" * 100_000, "not JSON"), (b'{"text": "", "architecture": "../../pyproject"}', "no shipped architecture"),
    (b'{"text": "", "theme": "print"}', "'theme' must be one of light, dark"), (b'{"text": "", "theme": null}', "'theme'"),
    (b'{"text": "", "fit": "16/9"}', "'fit': --fit must be a ratio"), (b'{"text": "", "fit": "0x5"}', "'fit'"),
    (b'{"text": "", "fit": 1.5}', "'fit' must be null or"),
])
def test_a_body_that_is_not_the_api_json_is_400(client, body, words):
    r = client.post("/api/analyze", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and words in r.json()["error"], r.text


def test_a_body_over_the_limit_is_413_by_length_and_by_bytes_read(client):
    big = json.dumps({"text": "#" * MAX_FILE_BYTES}).encode()
    assert client.post("/api/analyze", content=big).status_code == 413  # Content-Length says so

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"text": "'
        for _ in range(MAX_FILE_BYTES // 65536 + 1):
            yield b"#" * 65536
        yield b'"}'

    r = client.post("/api/analyze", content=chunks())
    assert r.status_code == 413 and "limit" in r.json()["error"]
    ok = json.dumps({"text": SMALL + "#" * (MAX_FILE_BYTES - 1000)}).encode()
    assert client.post("/api/analyze", content=ok).json()["ok"] is True  # just under: analyzed


def test_render_downloads_svg_and_png(client):
    svg = client.post("/api/render", json={"text": SMALL, "format": "svg"})
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and b"</svg>" in svg.content
    png = client.post("/api/render", json={"text": SMALL, "format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    bad = client.post("/api/render", json={"text": "input 8x8x3\nconb 3x3x4\n", "format": "svg"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["line"] == 2
    assert client.post("/api/render", json={"text": SMALL, "format": "gif"}).status_code == 400


def test_architectures_are_listed_and_read_by_name_only(client):
    names = [a["name"] for a in client.get("/api/architectures").json()["architectures"]]
    assert names == sorted(p.stem for p in ARCHITECTURES.glob("*.cnn")) and "resnet50" in names
    assert {"name": "unet", "title": "U-Net"} in client.get("/api/architectures").json()["architectures"]
    r = client.get("/api/architecture/tiny")
    assert r.json() == {"name": "tiny", "text": (ARCHITECTURES / "tiny.cnn").read_text()}
    for bad in ("nosuch", "..%2Fpyproject.toml", "%2e%2e%2fREADME.md", "blocks%2Fresnet", "README"):
        r = client.get(f"/api/architecture/{bad}")
        assert r.status_code == 404 and "[project]" not in r.text, bad


def test_static_files_and_no_path_traversal(client):
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text
    assert client.get("/static/index.html").text == page.text
    for bad in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2f%2e%2e%2f__init__.py",
                "/static//etc/passwd", "/static/..%5capp.py"):
        r = client.get(bad)
        assert r.status_code == 404 and "create_app" not in r.text and "root:" not in r.text, bad


def test_use_resolves_beside_the_served_file_and_never_outside(tmp_path):
    (tmp_path / "lib.cnn").write_text("block outer(c) { conv 1x1x{c} }\n")
    client, _ = serving(tmp_path / "work", "block inner(c) { conv 1x1x{c} }\n")
    inside = post(client, text='use "blocks.cnn"\ninput 4x4x2\ninner(3)\n', diagram="none", source=False)
    assert inside["ok"] and inside["stats"]["totals"]["params"] == 2 * 3 + 3
    for path in ("../lib.cnn", str(tmp_path / "lib.cnn")):
        r = post(client, text=f'use "{path}"\ninput 4x4x2\nouter(3)\n', diagram="none", source=False)
        (e,) = r["errors"]
        assert (e["line"], e["col"]) == (1, 1) and ("outside" in e["message"] or "absolute" in e["message"])


def test_without_a_file_use_stays_in_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "lib.cnn").write_text("block outer(c) { conv 1x1x{c} }\n")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    client = TestClient(create_app())
    (e,) = post(client, text='use "../lib.cnn"\ninput 4x4x2\nouter(3)\n')["errors"]
    assert e["file"] == "playground.cnn" and "outside" in e["message"]


def test_put_writes_the_served_file_and_nothing_else(tmp_path):
    served = tmp_path / "net.cnn"
    served.write_text("input 4x4x2\n")
    (tmp_path / "other.cnn").write_text("input 8x8x3\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    client = TestClient(create_app(served))
    got = client.get("/api/file").json()
    assert got == {"name": "net.cnn", "text": "input 4x4x2\n", "writable": True, "mtime": served.stat().st_mtime}
    new = "input 4x4x2\nconv 1x1x3  # 한국어\n"
    r = client.put("/api/file", json={"text": new})
    assert r.status_code == 200 and r.json()["mtime"] == served.stat().st_mtime
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == {**before, "net.cnn": new.encode("utf-8")}  # only the served file changed, no file added
    assert client.put("/api/file", json={"text": 1}).status_code == 400
    assert client.put("/api/file", json={"text": "", "path": "other.cnn"}).status_code == 400
    assert client.put("/api/file", content=json.dumps({"text": "#" * MAX_FILE_BYTES})).status_code == 413
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == after


def test_put_is_403_without_a_served_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for target in (None, "resnet50"):
        client = TestClient(create_app(target))
        r = client.put("/api/file", json={"text": "input 4x4x2\n"})
        assert r.status_code == 403 and "error" in r.json()
    assert list(tmp_path.iterdir()) == []
    shipped = client.get("/api/file").json()
    assert shipped == {"name": "resnet50.cnn", "text": (ARCHITECTURES / "resnet50.cnn").read_text(),
                       "writable": False, "mtime": None}
    assert post(client, text=shipped["text"], diagram="none", source=False)["ok"]  # its `use` resolves beside it
    starter = TestClient(create_app()).get("/api/file").json()
    assert starter == {"name": None, "text": (ARCHITECTURES / "tiny.cnn").read_text(), "writable": False, "mtime": None}


def test_an_edit_in_another_editor_changes_the_mtime(tmp_path):
    served = tmp_path / "net.cnn"
    served.write_text("input 4x4x2\n")
    client = TestClient(create_app(served))
    first = client.get("/api/file").json()["mtime"]
    served.write_text("input 8x8x2\n")
    os.utime(served, (first + 5, first + 5))
    got = client.get("/api/file").json()
    assert (got["mtime"], got["text"]) == (first + 5, "input 8x8x2\n")
    served.unlink()
    assert client.get("/api/file").status_code == 409


def test_concurrent_requests_each_get_their_own_answer(client):
    # input 8x8x3; conv 3x3x{c}: 27c + c params; 6x6xc outputs x 27 = 972c MACs. Every request is
    # parsed as playground.cnn; the bad ones fail after parsing (a 3x3 conv on a 2x2 map), and each
    # must quote its own line (errors once quoted them from a process-wide table of texts by file name).
    def one(i):
        c = i + 1
        if i % 3 == 0:
            text = f"input 2x2x3\nconv 3x3x{c}  # request {i}\n"
            (e,) = post(client, text=text, diagram="none", source=False)["errors"]
            return e["text"].splitlines()[1] == f" 2 | conv 3x3x{c}  # request {i}"
        r = post(client, text=f"input 8x8x3\nconv 3x3x{c}\n", diagram="none", source=False)
        return (r["stats"]["totals"]["params"], r["stats"]["totals"]["macs"]) == (28 * c, 972 * c)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(240)))
    assert all(results), results.count(False)


def test_threads_quote_their_own_text_after_parsing():
    # the pure analysis, in threads, one file name, a shape error found after elaboration
    def one(i):
        text = f"input 2x2x3\nconv {i % 7 + 3}x{i % 7 + 3}x{i + 1}\n"
        (e,) = analyze(Request(text, diagram="none", source=False), "same.cnn")["errors"]
        return e["text"].splitlines()[1] == f" 2 | {text.splitlines()[1]}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(one, range(400)))


def test_the_analysis_never_imports_torch():
    code = ("import sys; from cnndsl.server.analysis import Request, analyze; "
            "r = analyze(Request(open('architectures/resnet18.cnn').read(), diagram='volumes'), "
            "'architectures/resnet18.cnn'); assert r['ok'] and r['source'], r; "
            "assert 'torch' not in sys.modules; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "ok", done.stderr


def test_serve_without_the_extra_or_with_a_missing_file_is_a_clean_error(monkeypatch, capsys, tmp_path):
    assert main(["serve", str(tmp_path / "missing.cnn")]) == 2
    assert capsys.readouterr().err.startswith(f"cnndsl: error: no such file: {tmp_path / 'missing.cnn'}")
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnndsl: error: cnndsl serve needs Starlette and uvicorn") and \
        "pip install 'cnndsl[serve]'" in err and "Traceback" not in err


def test_analysis_runs_off_the_event_loop(monkeypatch):
    import asyncio

    import cnndsl.server.app as app_module

    seen = []

    def recording(*args):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:  # no loop in this thread: a worker thread
            seen.append("worker")
        return analyze(*args)

    client = TestClient(create_app())
    monkeypatch.setattr(app_module, "analyze", recording)
    assert post(client, text=SMALL, diagram="none")["ok"]
    assert seen == ["worker"]
