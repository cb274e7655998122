"""The front end is re-entrant: parsing in several threads at once gives exactly the IR of a
serial parse, spans (which name their file) included."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import cnndsl
from cnndsl.syntax import parse_expr
from conftest import ARCHITECTURES

ARCHS = sorted(ARCHITECTURES.glob("*.cnn"))


def test_eight_threads_parse_every_architecture_like_one():
    assert len(ARCHS) >= 16
    serial = {p: cnndsl.parse_file(p).model_dump() for p in ARCHS}
    assert all(d["span"][0] == str(p) for p, d in serial.items())
    work = [p for _ in range(4) for p in ARCHS]  # each file parsed 4 times, in a shuffled-by-threads order
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: (p, cnndsl.parse_file(p).model_dump()), work))
    assert len(results) == len(work)
    for p, dump in results:
        assert dump == serial[p], p.name


def test_threads_keep_expression_positions_apart():
    # every parse places its expression at its own (line, col) in its own file
    def one(i):
        e = parse_expr(f"a{i} + {i}", f"f{i}.cnn", i + 1, 2 * i + 1)
        return e.left.span, e.right.span

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(one, range(400)))
    for i, (left, right) in enumerate(got):
        width = len(f"a{i}")
        assert left == (f"f{i}.cnn", i + 1, 2 * i + 1, i + 1, 2 * i + 1 + width)
        assert right[:3] == (f"f{i}.cnn", i + 1, 2 * i + 1 + width + 3)


def quoted_from_threads(one) -> list[tuple[str, str]]:
    """`one(i)` for 600 texts on 8 threads: (the text's faulty line, the line its error quotes)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(600)))


def test_threads_quote_their_own_text_under_one_name():
    # a server parses every request as `<string>`: each error must show its own request's line
    def one(i):
        text = f"input 8x8x3\nconv{'' if i % 2 else ' '} 3x3x{{w{i}}}\n" if i % 3 else f"input 8x8x3\nconb{i} 3x3x8\n"
        try:
            cnndsl.parse(text)
        except cnndsl.CnnError as err:
            return text.splitlines()[1], err.render().splitlines()[1]
        raise AssertionError("no error")

    for own, shown in quoted_from_threads(one):
        assert shown.endswith(own), (own, shown)


def test_threads_quote_their_own_text_for_errors_found_after_parsing():
    # a shape that does not fit is found by the shape pass, after parsing: its quoted line comes from
    # the text this network was parsed from, never from another thread's text under the same name
    def one(i):
        text = f"input 2x2x3\nconv {i % 5 + 3}x{i % 5 + 3}x{i + 1}  # {i}\n"
        net = cnndsl.parse(text, filename="same.cnn")
        try:
            cnndsl.stats(net)
        except cnndsl.CnnError as err:
            return text.splitlines()[1], err.render().splitlines()[1]
        raise AssertionError("no error")

    for own, shown in quoted_from_threads(one):
        assert shown == f" 2 | {own}"
