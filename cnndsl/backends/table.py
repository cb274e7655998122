"""Tables: one record (a dict) per row, rendered as text, markdown, csv or json.

Record, then render (torchinfo's `formatting.py` keeps the same split): the builders below turn
`Stats`, sweep results and diffs into `Table`s; `render` prints any `Table` in any format, so the
formats cannot disagree about what a row holds. Text and markdown use thousands separators and
K/M/G units; csv and json keep exact numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("text", "markdown", "csv", "json")


def count(n: int) -> str:
    """`25557032` -> `25,557,032`."""
    return f"{n:,}"


def human(n: float) -> str:
    """`4089184256` -> `4.09G`, `118013952` -> `118.0M`, `640` -> `640` (three significant digits)."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            v = n / size
            return f"{sign}{v:.3g}{unit}" if v < 100 else f"{sign}{v:.0f}{unit}"
    return f"{sign}{n:g}"


def signed(n: int) -> str:
    """`+1,234` / `-56` / `0`."""
    return f"{n:+,}" if n else "0"


def shape(dims: Sequence[int] | str) -> str:
    """`(7, 7, 512)` -> `7x7x512`; text is kept as it is."""
    return dims if isinstance(dims, str) else "x".join(str(d) for d in dims)


@dataclass(frozen=True)
class Column:
    """A column: `title`, how to read a record's `key`, how text/markdown shows it (`text`), alignment."""

    title: str
    key: str
    text: Callable[[Any], str] = str
    right: bool = False


@dataclass
class Table:
    columns: list[Column]
    records: list[dict]
    title: str = ""
    footer: list[str] = field(default_factory=list)  # text lines printed under a text table
    indent: str | None = None  # a record key giving each row's nesting, for the first text column


def render(table: Table, fmt: str = "text") -> str:
    """`table` as text (aligned columns), markdown, csv, or json (a list of records)."""
    if fmt == "json":
        import json

        return json.dumps(table.records, indent=1)
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow([c.key for c in table.columns])
        for r in table.records:
            w.writerow([_csv(r.get(c.key)) for c in table.columns])
        return out.getvalue().rstrip("\n")
    cells = [[_cell(c, r) for c in table.columns] for r in table.records]
    if table.indent and fmt == "text":
        for row, r in zip(cells, table.records):
            row[0] = "  " * r[table.indent] + row[0]
    titles = [c.title for c in table.columns]
    if fmt == "markdown":
        lines = [f"**{table.title}**", ""] if table.title else []
        lines.append("| " + " | ".join(titles) + " |")
        lines.append("|" + "|".join("---:" if c.right else "---" for c in table.columns) + "|")
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in cells]
        lines += [""] + [f"{line}  " for line in table.footer] if table.footer else []
        return "\n".join(lines)
    if fmt != "text":
        raise ValueError(f"unknown table format {fmt!r}")
    widths = [max([len(t)] + [len(row[i]) for row in cells]) for i, t in enumerate(titles)]

    def line(values):
        return "  ".join(v.rjust(w) if c.right else v.ljust(w)
                         for v, w, c in zip(values, widths, table.columns)).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    lines = [table.title] if table.title else []
    lines += [line(titles), rule, *(line(row) for row in cells)]
    if table.footer:
        lines += [rule, *table.footer]
    return "\n".join(lines)


def _cell(col: Column, record: dict) -> str:
    v = record.get(col.key)
    return "" if v is None else col.text(v)


def _csv(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return "x".join(str(d) for d in v)
    if isinstance(v, dict):
        return " ".join(f"{k}={x}" for k, x in v.items())
    return "" if v is None else v


def mb(v: float) -> str:
    return f"{v:,.1f} MB" if v >= 1 else f"{v:.3f} MB"


# ------------------------------------------------------------------ stats

CONVENTION_FOOTER = [
    "macs: multiply-accumulates of conv and fc layers (SE's 1x1 convs included), biases not counted,",
    "      eval mode (aux heads skipped) = torch.utils.flop_counter.FlopCounterMode total / 2.",
    "flops: 2 x macs + biases, bn (2/elem), activations (relu 1 ... silu 5/elem), pooling (window/elem),",
    "      residual/add sums, SE pool+scale, lrn. params: model.parameters() incl. aux heads; BN running",
    "      stats excluded. Receptive field along H (Araujo et al. 2019). Rules: docs/stats.md.",
]


def layer_table(stats, depth: int | None = None) -> Table:
    """Per-layer table of one `Stats`: name, layer, output shape, params, MACs, receptive field;
    rows nested deeper than `depth` levels (top level = 1) are folded into their block's row."""
    records = [_layer_record(layer) for layer in stats.layers if depth is None or layer.depth < depth]
    cols = [Column("name", "name"), Column("layer", "layer"), Column("output", "output", shape),
            Column("params", "params", count, True), Column("MACs", "macs", human, True),
            Column("RF", "receptive_field", str, True), Column("stride", "effective_stride", str, True)]
    for r in records:
        if r["receptive_field"] is None:
            r["receptive_field"] = r["effective_stride"] = "global"
    s = stats
    footer = [
        f"total        {shape(s.input)} -> {shape(s.output)}",
        f"params       {count(s.params)} ({human(s.params)})" + (f", of which aux heads {count(s.aux_params)}"
                                                                  if s.aux_params else "")
        + f"; memory {mb(s.param_memory_mb.fp32)} fp32, {mb(s.param_memory_mb.fp16)} fp16, "
          f"{mb(s.param_memory_mb.int8)} int8",
        f"MACs         {count(s.macs)} ({human(s.macs)})",
        f"FLOPs        {count(s.flops)} ({human(s.flops)})",
        f"activations  {count(s.activations)} ({mb(s.activation_memory_mb.fp32)} fp32); "
        f"peak tensor {count(s.peak_activation)} ({mb(s.peak_activation * 4 / 1e6)} fp32)",
        f"receptive field {s.receptive_field} px{_rf_at(s)}, effective stride {s.effective_stride}",
        "",
        *CONVENTION_FOOTER,
    ]
    if any(layer.aux for layer in s.layers):
        footer.insert(-len(CONVENTION_FOOTER), "* rows marked aux: auxiliary head, not in the eval-mode totals")
    return Table(cols, records, title=f"{s.network}", footer=footer, indent="depth")


def _rf_at(stats) -> str:
    """` at layer4`; a positional name is followed by its statement: ` at 6 (conv 5x5x120 tanh)`."""
    name = stats.receptive_field_at
    if not name:
        return " (only the input is spatial)"
    if not name.rpartition(".")[2].isdigit():
        return f" at {name}"
    return f" at {name} ({next(layer.layer for layer in stats.layers if layer.name == name)})"


def _layer_record(layer) -> dict:
    r = dict(layer.__dict__)  # a flat model: its fields, without a serializer round trip
    if layer.aux:
        r["layer"] = f"{r['layer']} *aux"
    if layer.kind == "aux":  # a head reads a tap of its own, not the main path
        r["output"] = f"{shape(layer.input)} -> {shape(layer.output)}"
    return r


LAYER_CSV = ["name", "kind", "layer", "depth", "input", "output", "params", "macs", "flops", "activations",
             "receptive_field", "effective_stride", "aux"]


def layer_csv_table(stats_list, depth: int | None = None) -> Table:
    """Every layer of every network, exact numbers, one row each (csv)."""
    cols = [Column(k, k) for k in (["network"] if len(stats_list) > 1 else []) + LAYER_CSV]
    recs = [{"network": s.network, **layer.__dict__} for s in stats_list for layer in s.layers
            if depth is None or layer.depth < depth]
    return Table(cols, recs)


TOTALS = [  # (title, key, text)
    ("input", "input", shape), ("output", "output", shape), ("params", "params", count),
    ("aux params", "aux_params", count), ("MACs", "macs", count), ("MACs (units)", "macs", human),
    ("FLOPs", "flops", count), ("activations", "activations", count), ("peak activation", "peak_activation", count),
    ("params MB fp32", "param_memory_mb", lambda m: mb(m["fp32"])),
    ("params MB fp16", "param_memory_mb", lambda m: mb(m["fp16"])),
    ("params MB int8", "param_memory_mb", lambda m: mb(m["int8"])),
    ("weight layers", "weight_layers", str),
    ("receptive field", "receptive_field", str), ("  at layer", "receptive_field_at", str),
    ("effective stride", "effective_stride", str),
]


def compare_table(stats_list, names: list[str]) -> Table:
    """Several networks side by side: one row per figure, one column per file."""
    dumps = [s.model_dump(exclude={"layers", "convention"}) for s in stats_list]
    cols = [Column("", "figure")] + [Column(n, f"c{i}", str, True) for i, n in enumerate(names)]
    recs = [{"figure": title, **{f"c{i}": text(d[key]) for i, d in enumerate(dumps)}} for title, key, text in TOTALS]
    return Table(cols, recs, footer=["", *CONVENTION_FOOTER])


# (title, how to read it from a `Stats`, its exact text, its --units human text), by --columns name
FIGURES: dict[str, tuple[str, Callable, Callable, Callable]] = {
    "params": ("params", lambda s: s.params, count, human),
    "aux_params": ("aux params", lambda s: s.aux_params, count, human),
    "macs": ("MACs", lambda s: s.macs, count, human),
    "flops": ("FLOPs", lambda s: s.flops, count, human),
    "activations": ("activations", lambda s: s.activations, count, human),
    "peak": ("peak activation", lambda s: s.peak_activation, count, human),
    "memory": ("params MB fp32", lambda s: s.param_memory_mb.fp32, mb, mb),
    "depth": ("depth", lambda s: s.weight_layers, str, str),
    "rf": ("RF", lambda s: s.receptive_field, str, str),
    "stride": ("stride", lambda s: s.effective_stride, str, str),
    "input": ("input", lambda s: s.input, shape, shape),
    "output": ("output", lambda s: s.output, shape, shape),
}


def summary_table(stats_list, names: list[str], columns: list[str], units: str = "exact",
                  transpose: bool = False) -> Table:
    """The chosen figures (`FIGURES` keys) of several networks: one column per network, or with
    `transpose` one row per network (a slide's table). `units="human"` writes 25.6M and 4.09G in text
    and markdown; csv and json keep exact numbers."""
    text = {k: FIGURES[k][3 if units == "human" else 2] for k in columns}
    if transpose:
        cols = [Column("network", "network")] + [Column(FIGURES[k][0], k, text[k], True) for k in columns]
        recs = [{"network": n, **{k: FIGURES[k][1](s) for k in columns}} for n, s in zip(names, stats_list)]
        return Table(cols, recs)
    cols = [Column("", "figure")] + [Column(n, n, str, True) for n in names]
    recs = [{"figure": FIGURES[k][0], **{n: text[k](FIGURES[k][1](s)) for n, s in zip(names, stats_list)}}
            for k in columns]
    return Table(cols, recs)


# ------------------------------------------------------------------ sweep

def sweep_table(points, keys: list[str]) -> Table:
    """One row per combination of a `--sweep` grid: the overrides, then the network's totals."""
    cols = [Column(k, f"set.{k}", str, True) for k in keys] + [
        Column("network", "network"), Column("output", "output", shape), Column("params", "params", count, True),
        Column("MACs", "macs", count, True), Column("", "macs_h", lambda v: f"({v})"), Column("FLOPs", "flops", human, True),
        Column("activations", "activations", human, True), Column("RF", "receptive_field", str, True)]
    recs = []
    for p in points:
        s = p.stats
        recs.append({**{f"set.{k}": v for k, v in p.set.items()}, "network": s.network, "output": s.output,
                     "params": s.params, "macs": s.macs, "macs_h": human(s.macs),
                     "flops": s.flops, "activations": s.activations, "receptive_field": s.receptive_field})
    return Table(cols, recs, footer=["", *CONVENTION_FOOTER])


# ------------------------------------------------------------------ diff

def diff_table(changes, a_name: str, b_name: str, totals: list[dict]) -> Table:
    """What differs between two networks, one row per difference, with what it costs."""
    cols = [Column("change", "change"), Column("name", "name"), Column("stage", "stage"), Column(a_name, "a"),
            Column(b_name, "b"), Column("what", "what"), Column("Δparams", "d_params", signed, True),
            Column("ΔMACs", "d_macs", _signed_h, True)]
    foot = [""] + [f"{t['figure']:<7} {t['a']:>18} -> {t['b']:>18}   ({t['delta']})" for t in totals]
    return Table(cols, [_what(c if isinstance(c, dict) else c.record()) for c in changes], footer=foot)


def _what(r: dict) -> dict:
    """An added or removed layer's `what` as the lecture figures caption it:
    `+ 3x3 conv, 512 (+2.36M params, +1.85G MACs)`; a change's options as they are."""
    if r["change"] in ("added", "removed"):
        sign = "+" if r["change"] == "added" else "-"
        times = f"{r['count']} x " if r.get("count", 1) > 1 else ""
        r = {**r, "what": f"{sign} {times}{r['options']} ({_signed_h(r['d_params'])} params, "
                          f"{_signed_h(r['d_macs'])} MACs)"}
    else:
        r = {**r, "what": r["options"]}
    return r


def _signed_h(n: int) -> str:
    return ("+" if n > 0 else "") + human(n) if n else "0"
