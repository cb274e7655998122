"""Screenshots of the playground for the README: docs/img/playground.png (light) and
docs/img/playground-dark.png (dark, presentation mode).

    python docs/playground_screenshots.py

Starts `cnndsl serve` on a free port, opens it in Debian's headless Chromium (/usr/bin/chromium) with
Playwright, and photographs MobileNet with its `alpha` slider moved to 0.5.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, server: subprocess.Popen) -> None:
    for _ in range(200):
        if server.poll() is not None:
            sys.exit(f"cnndsl serve exited with status {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"cnndsl serve did not answer at {url}")


def shoot(page, path: Path, dark: bool) -> None:
    if dark:
        page.click("#theme")
        page.click("#presentation")
    page.select_option("#open", "mobilenet")
    expect(page.locator("#params-total")).to_have_attribute("data-value", "4231976", timeout=20_000)
    slider = page.locator('#params input[name="alpha"]')
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#params-total")).not_to_have_attribute("data-value", "4231976", timeout=20_000)
    page.wait_for_timeout(300)
    page.click(".cm-content")
    page.keyboard.press("Control+Home")
    page.screenshot(path=path)
    print(path.relative_to(ROOT))


def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "cnndsl", "serve", "--port", str(port)], cwd=ROOT)
    try:
        wait_for(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for name, dark in (("playground.png", False), ("playground-dark.png", True)):
                page = browser.new_page(viewport={"width": 1600, "height": 900}, color_scheme="light")
                page.goto(url)
                shoot(page, IMG / name, dark)
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
