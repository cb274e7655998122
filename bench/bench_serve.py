"""`cnndsl serve` under typing: keystroke-to-response time and 20 concurrent editors.

A real server (`cnndsl serve --port 0` in a subprocess, uvicorn on loopback) answers `POST /api/analyze`
as the page sends it after each (debounced) keystroke: each request carries a slightly different text,
as typing makes it. Measured from the client: the request's wall time, median and 90th percentile,
for tiny, resnet50 and resnet152, asking for the figures only (parse, stats, the table), the figures
and the PyTorch source, and all of it with the Graphviz layout; the server's own split (parse +
stats, diagram, source) is printed beside it.

Then `--clients` clients (default 20) each edit a different program for `--seconds` (default 30): every
answer is checked against the params and MACs computed once up front with `cnndsl.stats` (and every
typo against its line), and wrong answers and failed requests are counted.

Targets (issue 15): resnet152 under 50 ms without the Graphviz layout (the figures), under 300 ms with
it (and the source); no error and no wrong answer under load.

    python bench/bench_serve.py [--seconds 30] [--clients 20] [--runs 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnndsl
from cnndsl.source import shipped

# what a keystroke asks for: (diagram, source). The page shows the table and figures, the diagram, the source.
MODES = {"figures": ("none", False), "+source": ("none", True), "+graph": ("graph", True)}
TARGETS_MS = {("resnet152", "figures"): 50, ("resnet152", "+graph"): 300}


class Server:
    """`cnndsl serve` in a subprocess on a free loopback port."""

    def __enter__(self):
        self.folder = tempfile.TemporaryDirectory()
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen([sys.executable, "-m", "cnndsl", "serve", "--port", "0"], cwd=self.folder.name,
                                     env=env, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://([\d.]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"the server did not start: {line!r}")
        self.host, self.port = m[1], int(m[2])
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
        self.folder.cleanup()

    def client(self) -> Client:
        return Client(self.host, self.port)


class Client:
    """One keep-alive connection, as a browser tab holds."""

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def analyze(self, **body) -> tuple[float, int, dict]:
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        self.conn.request("POST", "/api/analyze", data, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        raw = resp.read()
        return time.perf_counter() - t0, resp.status, json.loads(raw)


def keystroke_latency(server: Server, runs: int) -> list[tuple]:
    client = server.client()
    rows = []
    for name in ("tiny", "resnet50", "resnet152"):
        text = shipped()[name].read_text(encoding="utf-8")
        for mode, (diagram, source) in MODES.items():
            times, split = [], []
            for i in range(runs + 2):
                wall, status, r = client.analyze(text=text + f"# {'x' * i}\n", architecture=name, diagram=diagram,
                                                 source=source)
                assert status == 200 and r["ok"], r
                if i >= 2:  # the first two warm the path (the dot program, the caches of the OS)
                    times.append(wall * 1000)
                    split.append(r["timings"])
            t = sorted(times)
            parts = {k: statistics.median(s[k] for s in split) for k in ("analyze_ms", "diagram_ms", "source_ms")}
            rows.append((name, mode, statistics.median(t), t[int(0.9 * (len(t) - 1))], parts))
    return rows


def edits(name: str, n: int = 6) -> list[tuple[str, tuple | int]]:
    """`n` texts a user might type into `name`, each with its expected (params, MACs), computed once
    here with `cnndsl.stats`; every third is a typo on a new last line, expected as that line's error."""
    text = shipped()[name].read_text(encoding="utf-8")
    m = re.search(r"^param classes = (\d+)", text, re.MULTILINE)
    out = []
    for j in range(n):
        if j % 3 == 2:
            bad = text.rstrip("\n") + "\nconb 3x3x8\n"
            out.append((bad, bad.count("\n")))
            continue
        edited = text[:m.start(1)] + str(int(m[1]) + j) + text[m.end(1):] if m else text + f"# edit {j}\n"
        s = cnndsl.stats(cnndsl.parse(edited, filename=str(shipped()[name])))
        out.append((edited, (s.params, s.macs)))
    return out


def concurrent_editors(server: Server, clients: int, seconds: float) -> dict:
    names = [n for n, p in shipped().items() if "param classes" in p.read_text(encoding="utf-8")]
    work = {i: (names[i % len(names)], edits(names[i % len(names)])) for i in range(clients)}
    counts = {"requests": 0, "wrong": 0, "failed": 0}
    lock = threading.Lock()
    walls: list[float] = []
    stop = time.perf_counter() + seconds

    def editor(i: int):
        name, texts = work[i]
        client = server.client()
        j = 0
        while time.perf_counter() < stop:
            text, expected = texts[j % len(texts)]
            j += 1
            try:
                wall, status, r = client.analyze(text=text, architecture=name, diagram="none")
            except (OSError, http.client.HTTPException, ValueError):
                with lock:
                    counts["failed"] += 1
                client = server.client()
                continue
            if isinstance(expected, int):
                right = status == 200 and not r["ok"] and r["errors"][0]["line"] == expected
            else:
                right = status == 200 and r["ok"] and (r["stats"]["totals"]["params"],
                                                       r["stats"]["totals"]["macs"]) == expected
            with lock:
                counts["requests"] += 1
                counts["wrong"] += not right
                walls.append(wall * 1000)

    threads = [threading.Thread(target=editor, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    walls.sort()
    counts["programs"] = sorted({n for n, _ in work.values()})
    counts["median_ms"] = statistics.median(walls) if walls else float("nan")
    counts["p90_ms"] = walls[int(0.9 * (len(walls) - 1))] if walls else float("nan")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30, help="how long the concurrent editors type (default 30)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent editors (default 20)")
    ap.add_argument("--runs", type=int, default=15, help="measured keystrokes per program and mode (default 15)")
    args = ap.parse_args()
    with Server() as server:
        print(f"server: http://{server.host}:{server.port}/ (cnndsl serve, uvicorn, one process); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print("\nkeystroke -> answer (client wall time; server split: parse+stats / diagram / source)")
        print(f"{'program':<10} {'asks for':<8} {'median':>9} {'p90':>9}   {'stats':>8} {'diagram':>8} {'source':>8}  target")
        for name, mode, med, p90, parts in keystroke_latency(server, args.runs):
            target = TARGETS_MS.get((name, mode))
            verdict = "" if target is None else f"< {target} ms: {'met' if med < target else 'MISSED'}"
            print(f"{name:<10} {mode:<8} {med:>6.1f} ms {p90:>6.1f} ms   {parts['analyze_ms']:>5.1f} ms "
                  f"{parts['diagram_ms']:>5.1f} ms {parts['source_ms']:>5.1f} ms  {verdict}")
        print(f"\n{args.clients} concurrent editors for {args.seconds:g} s, each its own program "
              "(diagram off, as typing sends it):")
        c = concurrent_editors(server, args.clients, args.seconds)
        print(f"  programs: {', '.join(c['programs'])}")
        print(f"  {c['requests']:,} answers ({c['requests'] / args.seconds:.1f}/s), median {c['median_ms']:.1f} ms, "
              f"p90 {c['p90_ms']:.1f} ms; wrong answers: {c['wrong']}, failed requests: {c['failed']} "
              f"(target: 0 and 0: {'met' if c['wrong'] == c['failed'] == 0 else 'MISSED'})")


if __name__ == "__main__":
    main()
