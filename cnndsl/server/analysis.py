"""The playground's analysis: a program's text, its param overrides and the drawing options -> the
JSON object `POST /api/analyze` answers (docs/serve.md).

Pure and torch-free: no web framework, no global state, nothing written; each call parses its own
text (the front end is re-entrant), so calls may run in many threads at once. The figures, the
table text, the diagram and the source come from the same functions as `cnndsl stats`, `cnndsl
render` and `cnndsl compile`.

Example:
    >>> r = analyze(Request("input 32x32x3; conv 3x3x16 same relu; maxpool 2; gap; fc 10", diagram="none",
    ...                     source=False), "play.cnn")
    >>> r["ok"], r["stats"]["totals"]["params"], r["network"]["output"]
    (True, 618, [10])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from cnndsl.errors import CnnError
from cnndsl.ir import Network

DIAGRAMS = ("graph", "volumes", "none")
IMAGES = ("svg", "png")
THEMES = ("light", "dark")  # the page's two; the drawings' colours are the backends' themes of those names


class BadRequest(ValueError):
    """A request body that is not the JSON the API takes (the server answers 400 with the message)."""


@dataclass(frozen=True)
class Request:
    """What `POST /api/analyze` takes. `depth`: block calls opened in the diagram (None: the CLI's
    defaults, `render`'s 0 and `stats`' 2 levels of table); the table then shows `depth + 1` levels,
    the same ones. `architecture`: the text is that shipped architecture's (opened from the menu),
    so its `use "blocks/..."` lines resolve beside the shipped file. `theme`: the drawing's colours
    (`render --theme`); `fit`: a slide's shape, as `render --fit` takes it (None: no fit)."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)
    diagram: str = "graph"
    depth: int | None = None
    fold: bool = True
    source: bool = True
    architecture: str | None = None
    theme: str = "light"
    fit: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> Request:
        """The request in a decoded JSON body; anything else is a `BadRequest` saying what is wrong
        (an unknown key too: nothing sent is silently ignored)."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        unknown = sorted(set(body) - set(cls.__dataclass_fields__))
        if unknown:
            raise BadRequest(f"unknown key '{unknown[0]}'; the keys are {', '.join(cls.__dataclass_fields__)}")
        for key, ok, what in (("text", lambda v: isinstance(v, str), "a string"),
                              ("params", lambda v: isinstance(v, dict), "an object of param values"),
                              ("diagram", lambda v: v in DIAGRAMS, f"one of {', '.join(DIAGRAMS)}"),
                              ("depth", lambda v: v is None or _whole(v) and v >= 0, "null or a whole number >= 0"),
                              ("fold", lambda v: isinstance(v, bool), "true or false"),
                              ("source", lambda v: isinstance(v, bool), "true or false"),
                              ("architecture", lambda v: v is None or isinstance(v, str), "null or a name"),
                              ("theme", lambda v: v in THEMES, f"one of {', '.join(THEMES)}"),
                              ("fit", lambda v: v is None or isinstance(v, str), "null or a slide's shape")):
            if key in body and not ok(body[key]):
                raise BadRequest(f"'{key}' must be {what}")
        if "text" not in body:
            raise BadRequest("'text' is missing")
        if body.get("fit") is not None:
            from cnndsl.backends.graphviz import parse_fit

            try:
                parse_fit(body["fit"])
            except CnnError as err:
                raise BadRequest(f"'fit': {err.message}") from None
        return cls(**body)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def analyze(request: Request, filename: str) -> dict:
    """The answer to `request`: `{"ok": true, "network", "params", "stats", "svg", "source",
    "timings"}`, or `{"ok": false, "errors": [...]}` when the program (or an override) is wrong.

    `filename` is the name the text is parsed under: it appears in error positions, and `use`
    paths resolve beside it, under the CLI's rules (never outside its folder).
    """
    from cnndsl.commands.stats import TEXT_DEPTH, folded
    from cnndsl.elaborate import parse_text
    from cnndsl.stats import compute

    t0 = perf_counter()
    try:
        net = parse_text(request.text, filename, request.params)
        stats = compute(net)
        table_depth = TEXT_DEPTH if request.depth is None else request.depth + 1
        answer = {"ok": True, "network": {"name": net.name, "title": net.title, "input": list(net.input),
                                          "output": stats.output},
                  "params": controls(net, _defaults(request, filename, net)),
                  "stats": stats_json(folded(stats, table_depth))}
        t1 = perf_counter()
        style = request.diagram
        answer["svg"] = None if style == "none" else draw(net, style, "svg", request).decode()
        t2 = perf_counter()
        answer["source"] = _source(net) if request.source else None
    except CnnError as err:
        return {"ok": False, "errors": [error_json(err, filename)]}
    t3 = perf_counter()
    answer["timings"] = {"analyze_ms": _ms(t1 - t0), "diagram_ms": _ms(t2 - t1), "source_ms": _ms(t3 - t2)}
    return answer


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _defaults(request: Request, filename: str, net: Network) -> dict[str, Any]:
    """The params' values as the program declares them: `net.params` when nothing is overridden, else
    the declarations evaluated without the overrides (not the whole program again; `net.params`
    where that fails)."""
    from cnndsl.elaborate import declared_params

    if not request.params:
        return net.params
    try:
        return declared_params(request.text, filename)
    except CnnError:
        return net.params


def _source(net: Network) -> str:
    from cnndsl.backends.torch_source import emit

    return emit(net)


LAYOUT_SECONDS = 10.0  # the most Graphviz may take for one drawing: a worker thread is not held for minutes


def draw(net: Network, style: str, fmt: str, request: Request) -> bytes:
    """`net` drawn in `style` (graph or volumes) as `fmt` bytes, as `cnndsl render --style STYLE`
    draws it with `request`'s depth (None: render's default, 0), theme and fit; `fold` applies to the
    graph style. A layout over `LAYOUT_SECONDS` is a CnnError saying to draw fewer levels."""
    from cnndsl.backends import graphviz

    options = dict(theme=request.theme, **{k: v for k, v in (("depth", request.depth), ("fit", request.fit))
                                           if v is not None})
    limit = graphviz.LAYOUT_SECONDS.set(LAYOUT_SECONDS)
    try:
        if style == "graph":
            return graphviz.render(net, fmt, fold=request.fold, **options)
        from cnndsl.backends.volumes import render

        return render(net, fmt, **options)
    finally:
        graphviz.LAYOUT_SECONDS.reset(limit)


def image(request: Request, filename: str, fmt: str) -> bytes:
    """The drawing `POST /api/render` downloads: `request`'s program drawn as `fmt` (svg or png).

    Raises:
        BadRequest: no such format, or `diagram` is "none".
        CnnError: the program (or an override) is wrong.
    """
    from cnndsl.elaborate import parse_text

    if fmt not in IMAGES:
        raise BadRequest(f"'format' must be one of {', '.join(IMAGES)}")
    if request.diagram == "none":
        raise BadRequest("'diagram' must be graph or volumes to render an image")
    return draw(parse_text(request.text, filename, request.params), request.diagram, fmt, request)


def stats_json(stats) -> dict:
    """The `stats` object of the answer, from a (folded) `Stats`: the table's exact text (what `cnndsl
    stats` prints), its rows, the totals and the convention footer."""
    from cnndsl.backends.table import CONVENTION_FOOTER, layer_table, render

    return {
        "text": render(layer_table(stats), "text") + "\n",
        "rows": [{"path": r.name, "layer": r.layer, "input": r.input, "output": r.output, "params": r.params,
                  "macs": r.macs, "rf": r.receptive_field, "depth": r.depth} for r in stats.layers],
        "totals": {"params": stats.params, "aux_params": stats.aux_params, "macs": stats.macs, "flops": stats.flops,
                   "activations": stats.activations, "rf": stats.receptive_field,
                   "rf_at": stats.receptive_field_at, "weight_layers": stats.weight_layers},
        "footer": "\n".join(CONVENTION_FOOTER),
    }


def controls(net: Network, defaults: dict[str, Any]) -> list[dict]:
    """A slider for each `param`, in declaration order: `{name, value, default, min, max, step}`,
    the range drawn around the declared default `d` (`span`), widened to hold the current value."""
    out = []
    for name, value in net.params.items():
        d = defaults.get(name, value)
        lo, hi, step = span(d)
        out.append({"name": name, "value": value, "default": d, "min": min(lo, value), "max": max(hi, value),
                    "step": step})
    return out


def span(d: float) -> tuple[int | float, int | float, int | float]:
    """The slider range `(min, max, step)` of a param declared as `d`:

    - a whole number `d > 0` (a size, a count): multiples of `step` from `step` to `2 d`, where `step`
      is the largest power of two that divides `d` and is at most `d / 4`, so the values keep the
      divisibility the program was written with: `res = 224` -> 32 .. 448 by 32, `classes = 1000`
      -> 8 .. 2000 by 8, `width = 16` -> 4 .. 32 by 4, a count like `layers1 = 6` -> 1 .. 12 by 1;
    - a fraction `d > 0` (written with a point: a multiplier, a rate): `d / 4` .. `2 d` in steps of
      `d / 20`: MobileNet's `alpha = 1.0` -> 0.25 .. 2 by 0.05;
    - zero or less: `d - 10` .. `d + 10` by 1 (whole) or `d - 1` .. `d + 1` by 0.05 (fraction).
    """
    if isinstance(d, int):
        if d <= 0:
            return d - 10, d + 10, 1
        step = 1 << min((d & -d).bit_length() - 1, max(0, (d // 4).bit_length() - 1))
        return step, 2 * d, step
    if d <= 0:
        return d - 1, d + 1, 0.05
    return _round(d / 4), _round(2 * d), _round(d / 20)


def _round(x: float) -> float:
    """`x` to 12 significant digits: 0.1 / 20 is 0.005, not 0.005000000000000001."""
    return float(f"{x:.12g}") if math.isfinite(x) else x


def error_json(err: CnnError, filename: str) -> dict:
    """A `CnnError` as the API reports it: the 1-based position the CLI prints (0 for an error
    without one, such as a bad param override, which names its `param`), `here` (the position is
    in the text sent, parsed as `filename`, not in a file it `use`s), message, hint, notes (each
    with its file and `here`), and `text`, the error exactly as the CLI renders it."""
    s = err.span
    return {"file": s.file if s else None, "line": s.line if s else 0, "col": s.col if s else 0,
            "end_line": s.end_line if s else 0, "end_col": s.end_col if s else 0,
            "here": s is not None and s.file == filename,
            "message": err.message, "hint": err.hint, "param": err.param,
            "notes": [{"file": n.file, "line": n.line, "col": n.col, "here": n.file == filename, "message": text}
                      for n, text in err.notes],
            "text": err.render()}
