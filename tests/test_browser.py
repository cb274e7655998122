"""The playground page (`cnndsl serve`) in a real browser, and the checks on its committed bundle.

The browser tests drive Debian's headless Chromium (`/usr/bin/chromium`, not a Playwright download) with
Playwright against a real uvicorn server on a free port: type a program and see the figures and the diagram
follow, type a mistake and see the squiggle under it, move MobileNet's `alpha` slider, save with Ctrl+S.
Without Chromium or Playwright they skip, except under CI (the `CI` variable set), where they fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

import cnndsl

WEB = ROOT / "web"
STATIC = ROOT / "cnndsl" / "server" / "static"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 10_000  # the longest a figure may take to follow an edit (a loaded CI machine)


# ---- the bundle: built from the committed sources, with their licences


def source_hash() -> str:
    """web/build.mjs's sha256 of the bundle's inputs: each file under web/src, web/build.mjs and
    web/package-lock.json, sorted by path, as its path, NUL, its bytes, NUL."""
    paths = [p.relative_to(WEB).as_posix() for p in (WEB / "src").rglob("*") if p.is_file()]
    h = hashlib.sha256()
    for path in sorted([*paths, "build.mjs", "package-lock.json"]):
        h.update(path.encode() + b"\0" + (WEB / path).read_bytes() + b"\0")
    return h.hexdigest()


@pytest.mark.parametrize("name", ["playground.js", "playground.css"])
def test_the_bundle_is_built_from_the_committed_sources(name):
    first = (STATIC / name).read_text(encoding="utf-8").split("\n", 1)[0]
    found = re.search(r"sources sha256 ([0-9a-f]{64})", first)
    assert found, f"{name} has no source hash header"
    assert found.group(1) == source_hash(), f"{name} is stale: cd web && npm ci && npm run build"


def test_notice_holds_the_licence_of_every_bundled_package():
    lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
    installed = {(path.rsplit("node_modules/", 1)[1], p["version"], p["license"])
                 for path, p in lock["packages"].items() if path and not p.get("dev")}
    notice = (STATIC / "NOTICE").read_text(encoding="utf-8")
    named = set(re.findall(r"^(@?[\w./-]+) (\d[\w.-]*) \((\w[\w.-]*)\)$", notice, re.MULTILINE))
    assert named <= installed  # the locked versions (tree shaking may leave some out)
    assert {"codemirror", "@codemirror/view", "@codemirror/state", "@lezer/highlight", "style-mod"} <= \
        {name for name, _, _ in named}
    assert notice.count("Permission is hereby granted, free of charge") == len(named)  # each one's MIT text


def test_the_highlighter_knows_the_grammars_keywords_and_every_layer():
    from cnndsl.layers import REGISTRY

    words = json.loads((WEB / "src" / "words.json").read_text(encoding="utf-8"))
    grammar = (ROOT / "grammars" / "cnn.lark").read_text(encoding="utf-8")
    assert sorted(words["keywords"]) == sorted(re.findall(r'^[A-Z]+: "([a-z]+)"', grammar, re.MULTILINE))
    assert words["layers"] == sorted(REGISTRY)


# ---- the page in Chromium


def need(ready: bool, what: str) -> None:
    """Skip without `what` on a developer's machine; under CI, where it is installed, fail."""
    if not ready:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{what} is not installed")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A uvicorn server of the playground on a free port, serving a writable file: (url, path)."""
    try:
        import uvicorn

        from cnndsl.server.app import create_app
    except ImportError:
        need(False, "cnndsl[serve] (starlette, uvicorn)")
    path = tmp_path_factory.mktemp("served") / "mine.cnn"
    path.write_text("network mine\ninput 32x32x3\nconv 3x3x8 same relu\ngap\nfc 10\n", encoding="utf-8")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(path), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/", path
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    need(CHROMIUM.exists(), str(CHROMIUM))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright (pip)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, served, tmp_path):
    url, _ = served
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(url)
    expect(page.locator("#params-total")).to_have_attribute("data-value", re.compile(r"\d"), timeout=WAIT_MS)
    yield page
    page.screenshot(path=tmp_path / "page.png")
    context.close()
    assert not errors, f"the page threw: {errors}"


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def retype(page, lines: list[str]) -> None:
    """Replace the editor's text by typing `lines`, key by key."""
    page.click(".cm-content")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    for i, line in enumerate(lines):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)


def editor_text(page) -> str:
    return "\n".join(page.locator(".cm-line").all_text_contents())


def shows(page, id: str, value: int) -> None:
    """Wait until the figure `id` (#params-total, #macs-total) is `value`."""
    expect(page.locator(f"#{id}")).to_have_attribute("data-value", str(value), timeout=WAIT_MS)


def test_typing_a_program_updates_the_figures_and_the_diagram(page, tmp_path):
    before = page.inner_html("#diagram")
    lines = ['network play "작은 망"  # Korean, in a title and a comment', "input 32x32x3", "conv 3x3x16"]
    retype(page, lines)
    # conv 3x3x16 on 3 channels: 3*3*3*16 weights + 16 biases; 30x30x16 outputs of 27 multiply-adds each
    shows(page, "params-total", 3 * 3 * 3 * 16 + 16)
    shows(page, "macs-total", 30 * 30 * 16 * 27)
    expect(page.locator("#diagram svg")).to_contain_text("작은 망", timeout=WAIT_MS)
    assert page.inner_html("#diagram") != before
    page.keyboard.press("Enter")
    page.keyboard.type("gap; fc 10")
    shows(page, "params-total", 448 + 16 * 10 + 10)
    expect(page.locator("#shape")).to_have_text("32x32x3 → 10")
    expect(page.locator("#errors li")).to_have_count(0)
    # the Stats tab: what `cnndsl stats` prints for the same text
    program = tmp_path / "play.cnn"
    program.write_text("\n".join([*lines, "gap; fc 10"]) + "\n", encoding="utf-8")
    cli = subprocess.run([sys.executable, "-m", "cnndsl", "stats", str(program)], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    page.click('[role=tab][data-tab="stats"]')
    expect(page.locator("#stats-text")).to_have_text(cli.rstrip("\n"), timeout=WAIT_MS)
    assert page.text_content("#stats-text") == cli
    assert "macs: multiply-accumulates" in cli  # with the convention footer


def test_a_mistake_is_underlined_where_it_is_and_the_last_diagram_stays(page):
    retype(page, ["network play", "input 32x32x3", "c1: conv 3x3x16 s2 sam"])
    errors = page.locator("#errors li")
    expect(errors).to_have_count(1, timeout=WAIT_MS)
    where = len("c1: conv 3x3x16 s2 ") + 1  # 'sam' starts at column 20 of line 3
    expect(errors.locator(".where")).to_have_text(f"3:{where}")
    expect(errors).to_contain_text("unknown option 'sam'")
    expect(errors.locator(".hint")).to_have_text("hint: did you mean 'same'?")
    squiggle = page.locator(".cm-lintRange-error")
    expect(squiggle).to_have_text("sam")
    expect(page.locator(".cm-line").nth(2).locator(".cm-lintRange-error")).to_have_text("sam")  # on line 3
    squiggle.hover()  # the tooltip: the message and the hint
    expect(page.locator(".cm-tooltip-lint")).to_have_text(
        re.compile(r"unknown option 'sam' for 'conv'\s*hint: did you mean 'same'\?"), timeout=WAIT_MS)
    # the last good diagram stays, dimmed, with the last good figures
    assert page.locator("body.invalid").count() == 1
    assert page.locator("#diagram svg").count() == 1
    assert float(page.eval_on_selector("#diagram", "d => getComputedStyle(d).opacity")) < 1
    page.keyboard.type("e")  # 'same': valid again
    expect(errors).to_have_count(0, timeout=WAIT_MS)
    expect(squiggle).to_have_count(0)
    shows(page, "params-total", 448)
    assert page.locator("body.invalid").count() == 0


def test_the_alpha_slider_of_mobilenet_changes_the_macs(page):
    page.select_option("#open", "mobilenet")
    default = cnndsl.stats(cnndsl.parse_file("mobilenet"))
    shows(page, "macs-total", default.macs)
    slider = page.locator('#params input[name="alpha"]')
    assert (slider.get_attribute("type"), slider.input_value()) == ("range", "1")
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")  # 10 steps of 0.05 down
    assert slider.input_value() == "0.5"
    half = cnndsl.stats(cnndsl.parse_file("mobilenet", alpha=0.5))
    shows(page, "macs-total", half.macs)
    shows(page, "params-total", half.params)
    assert half.macs < default.macs / 3  # MACs scale about as alpha**2
    assert "param alpha = 1.0" in editor_text(page)  # the text is not edited


def test_downloads(page, served):
    def download(button: str) -> tuple[str, bytes]:
        with page.expect_download() as info:
            page.click(button)
        return info.value.suggested_filename, Path(info.value.path()).read_bytes()

    _, path = served
    assert download("#download-cnn") == ("mine.cnn", path.read_bytes())
    name, svg = download("#download-svg")
    assert name == "mine.svg" and svg.lstrip().startswith((b"<?xml", b"<svg")) and b"3x3 conv, 8" in svg
    name, png = download("#download-png")
    assert name == "mine.png" and png.startswith(b"\x89PNG\r\n\x1a\n")
    name, py = download("#download-py")
    assert name == "mine.py" and b"nn.Conv2d(3, 8, kernel_size=3, padding=1)" in py
    compile(py, name, "exec")  # Python source (compiled, never run)


def test_ctrl_s_saves_the_served_file_and_edits_on_disk_reload(page, served):
    _, path = served
    page.click(".cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("# saved from the page")
    expect(page.locator("#file-name.dirty")).to_have_count(1)  # marked: edited since saved
    page.keyboard.press("Control+S")
    expect(page.locator("#file-name.dirty")).to_have_count(0, timeout=WAIT_MS)
    assert path.read_text(encoding="utf-8") == editor_text(page)
    assert path.read_text(encoding="utf-8").endswith("fc 10\n# saved from the page")
    # another editor changes the file: the page (with nothing unsaved) loads it
    changed = "network mine\ninput 64x64x3\nconv 3x3x8 same relu\ngap\nfc 10\n"
    path.write_text(changed, encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))  # a new mtime even on a coarse clock
    expect(page.locator(".cm-line").nth(1)).to_have_text("input 64x64x3", timeout=WAIT_MS)
    assert editor_text(page) == changed
    expect(page.locator("#shape")).to_have_text("64x64x3 → 10", timeout=WAIT_MS)
    # with unsaved edits in the page, a change on disk asks first
    page.keyboard.press("Control+End")
    page.keyboard.type("# unsaved")
    path.write_text(changed.replace("64x64x3", "96x96x3"), encoding="utf-8")
    os.utime(path, (time.time() + 10, time.time() + 10))
    expect(page.locator("#changed")).to_be_visible(timeout=WAIT_MS)
    assert editor_text(page).endswith("# unsaved")
    page.click("#reload")
    expect(page.locator(".cm-line").nth(1)).to_have_text("input 96x96x3")
    expect(page.locator("#changed")).to_be_hidden()


def test_the_dark_theme_redraws_the_diagram_in_its_own_colours(page):
    from cnndsl.backends.graphviz import THEMES

    def background(theme: str):  # Graphviz's first polygon is the page, filled with the theme's background
        return page.locator(f'#diagram svg polygon[fill="{THEMES[theme].background}"]').first

    expect(background("light")).to_be_attached(timeout=WAIT_MS)
    page.click("#theme")
    assert page.get_attribute("html", "data-theme") == "dark"
    expect(background("dark")).to_be_attached(timeout=WAIT_MS)
    assert page.eval_on_selector("#diagram svg", "s => getComputedStyle(s).filter") == "none"  # no CSS inversion
    page.select_option("#fit", "16:9")  # a slide: render --fit 16:9 draws 1920 x 1080
    expect(page.locator("#diagram svg")).to_have_attribute("width", "1920pt", timeout=WAIT_MS)


def test_themes_and_presentation_mode(page):
    size = float(page.eval_on_selector(".cm-content", "e => parseFloat(getComputedStyle(e).fontSize)"))
    page.click("#theme")
    theme = page.get_attribute("html", "data-theme")
    assert theme in ("light", "dark")
    page.click("#presentation")
    assert page.locator("html.presentation").count() == 1
    assert float(page.eval_on_selector(".cm-content", "e => parseFloat(getComputedStyle(e).fontSize)")) > size * 1.5
    page.click("#theme")
    assert page.get_attribute("html", "data-theme") != theme
    page.click("#presentation")
