"""Human output of ``tunetui plan``: rich tables that fit 80 columns and 16 colours.

Imported lazily by the command (rich is not part of the planner's import budget). Takes the
``build_plan`` dict so the screen and ``--json`` can never disagree.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .timing import format_duration

BAR = 28
WHY = 48  # width of the settings table's "why" column
_TERMS = {
    "weights": "weights",
    "adapters": "adapters",
    "gradients": "gradients",
    "optimizer": "optimizer states",
    "activations": "activations",
    "logits": "logits + loss",
    "workspace": "workspace",
    "paged_optimizer": "paged optimizer",
    "fragmentation": "allocator slack",
    "cuda_context": "CUDA context",
    "runtime": "torch runtime",
}
_COLOURS = ("blue", "magenta", "cyan", "green", "yellow", "red", "bright_blue", "white")


def wrap_text(text: str, width: int) -> str:
    """Wrap at ``width`` so that no wrapped line holds a lone word (e.g. "GiB").

    Why: rich wraps greedily, so a line a few characters too long leaves its last word alone
    on the next line; moving one more word down keeps figures next to their units.
    """
    import textwrap

    out: list[str] = []
    for para in text.split("\n"):
        lines = textwrap.wrap(para, width, break_on_hyphens=False) or [""]
        if len(lines) > 1 and " " not in lines[-1]:
            head, _, last = lines[-2].rpartition(" ")
            if head:
                lines[-2:] = [head, f"{last} {lines[-1]}"]
        out.extend(lines)
    return "\n".join(out)


def _bar(value: float, capacity: float, colour: str) -> Text:
    cells = 0 if capacity <= 0 else round(min(value / capacity, 1.0) * BAR)
    if value > 0 and cells == 0:
        cells = 1
    return Text("█" * cells, style=colour) + Text("·" * (BAR - cells), style="bright_black")


def _memory_table(plan: dict[str, Any]) -> Table:
    hw, est, rec = plan["hardware"], plan["estimate"], plan["recommendation"]
    cap = hw["memory_free_gib"] or est["total_gib"]
    unit = "RAM" if hw["device"] == "cpu" else "VRAM"
    table = Table(box=box.SIMPLE, title=f"Peak {unit} per device", title_justify="left",
                  pad_edge=False, expand=False)  # fmt: skip
    table.add_column("term", no_wrap=True)
    table.add_column("GiB", justify="right", no_wrap=True)
    table.add_column(f"of {cap:.1f} GiB free", no_wrap=True)
    for i, (key, gib) in enumerate(est["breakdown_gib"].items()):
        table.add_row(_TERMS.get(key, key), f"{gib:.2f}", _bar(gib, cap, _COLOURS[i % 8]))
    colour = "green" if rec["fits"] else "red"
    table.add_row(
        Text("total", style="bold"), Text(f"{est['total_gib']:.2f}", style="bold"),
        _bar(est["total_gib"], cap, colour),
    )  # fmt: skip
    return table


def _verdict_text(plan: dict[str, Any], width: int) -> Text:
    """The fit verdict under the memory table, as its own lines (a table caption is only as
    wide as the table, which wrapped "GiB" onto a line of its own)."""
    est, rec = plan["estimate"], plan["recommendation"]
    fits = rec["fits"]
    verdict = "fits" if fits else f"does not fit: over by {rec['over_by_gib']:.1f} GiB"
    processes = plan["hardware"].get("processes") or 1  # CPU ranks sharing the RAM
    share = f"{100 * rec['vram_fraction']:.0f}% of free"  # for all of them (plan.build_plan)
    if processes > 1:
        share += f" for {processes} processes"
    line = (
        f"{verdict} ({share}); torch allocated "
        f"{est['allocated_gib']:.1f}, reserved {est['reserved_gib']:.1f} GiB"
    )
    text = Text(wrap_text(line, width), style="green" if fits else "red")
    for note in est.get("notes") or []:  # what the figures assume, or why it does not fit
        text.append("\n" + wrap_text(note, width), style="yellow")
    return text


def _settings_table(plan: dict[str, Any]) -> Table:
    rec = plan["recommendation"]
    title = "Recommended settings" if plan["mode"] == "recommend" else "Settings as asked"
    table = Table(box=box.SIMPLE, title=title, title_justify="left", pad_edge=False)
    table.add_column("setting", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_column("why", overflow="fold", max_width=WHY)
    reasons = rec.get("reasons") or {}
    rows = [
        ("method", rec["method"]),
        ("bits", str(rec["bits"])),
        ("rank", "-" if rec["rank"] is None else str(rec["rank"])),
        ("batch", f"{rec['batch']} x {rec['grad_accum']} accum"),
        ("cutoff_len", str(rec["cutoff_len"])),
        ("grad_ckpt", "on" if rec["grad_ckpt"] else "off"),
        ("optim", rec["optim"]),
        ("precision", rec["precision"]),
    ]
    if rec.get("gpus", 1) > 1:  # the strategy is a setting too, with the recommender's reason
        rows.append(("parallel", f"{rec['parallel']} x{rec['gpus']}"))
    for key, value in rows:
        table.add_row(key, value, wrap_text(reasons.get(key, ""), WHY))
    return table


def _alternatives_table(plan: dict[str, Any]) -> Table | None:
    alts = plan["alternatives"]
    if not alts:
        return None
    table = Table(box=box.SIMPLE, title="Alternatives", title_justify="left", pad_edge=False)
    table.add_column("option", no_wrap=True)
    table.add_column("batch", justify="right")
    table.add_column("GiB", justify="right")
    table.add_column("speed", justify="right")
    for alt in alts:
        table.add_row(alt["label"], f"{alt['batch']}x{alt['grad_accum']}",
                      f"{alt['total_gib']:.1f}", f"{alt['relative_speed']:.2f}x")  # fmt: skip
    return table


def _rate(tokens_per_s: float) -> str:
    """1,234 tokens/s as an integer; below 10 with its significant digits (0.042)."""
    return f"{tokens_per_s:,.0f}" if tokens_per_s >= 10 else f"{tokens_per_s:.2g}"


def _time_text(plan: dict[str, Any], width: int) -> Text:
    t = plan["time"]
    lo, hi = t["tokens_per_s"]
    line = f"Throughput: {_rate(lo)}-{_rate(hi)} tokens/s"
    if t["seconds_per_epoch"]:
        a, b = t["seconds_per_epoch"]
        span = f"{format_duration(a)}-{format_duration(b)}"
        line += f"; one epoch of {t['dataset_tokens']:,} tokens: {span}"
    else:
        slowest = format_duration(1e6 / lo) if lo > 0 else "unbounded"
        line += f"; 1M tokens: {format_duration(1e6 / hi) if hi > 0 else 'unbounded'}-{slowest}"
    text = Text(wrap_text(line, width) + "\n")
    basis = ("rough CPU figure. " if t["rough"] else "") + t["basis"]
    text.append(wrap_text(basis, width), style="bright_black")
    return text


def render_plan(plan: dict[str, Any], console: Console | None = None) -> None:
    """Print the plan for people (``--json`` prints the dict itself)."""
    console = console or Console(width=min(80, Console().width))
    width = console.width
    hw, model = plan["hardware"], plan["model"]
    params = (model.get("params_exact") or model["params"]) / 1e9
    head = Text(f"{model['id']}", style="bold")
    head.append(f"  {params:.2f}B params" + (" (approximate)" if model["approx"] else ""))
    if model["moe"]:
        head.append(f", {model['active_params'] / 1e9:.1f}B active")
    where = f"{hw['name']} x{hw['n_gpus']}" if hw["n_gpus"] > 1 else hw["name"]
    on = f"on {where}: {hw['memory_free_gib']:.1f} of {hw['memory_total_gib']:.1f} GiB free"
    head.append("\n" + wrap_text(f"{on} ({hw['source']})", width))
    parts: list[Any] = [head]
    if model.get("params_note"):  # a hub model: exact from its headers, or config.json alone
        style = "bright_black" if model.get("params_exact") else "yellow"
        parts.append(Text(wrap_text(model["params_note"], width), style=style))
    if hw.get("note"):
        parts.append(Text(wrap_text(hw["note"], width), style="yellow"))
    parts.append(_memory_table(plan))
    cal = plan.get("calibration")
    if cal:
        line = f"{cal['note']} (formula alone: {cal['raw_total_gib']:.1f} GiB, --no-calibration)"
        parts.append(Text(wrap_text(line, width), style="cyan"))
    parts.append(_verdict_text(plan, width))
    parts.append(_settings_table(plan))
    alts = _alternatives_table(plan)
    if alts is not None:
        parts.append(alts)
    if plan.get("suggestion"):
        parts.append(Text(wrap_text(f"Suggestion: {plan['suggestion']}", width), style="yellow"))
    parts.append(_time_text(plan, width))
    console.print(Group(*parts))


def render_models(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """``tunetui models``: the catalog as a table."""
    console = console or Console(width=min(80, Console().width))
    table = Table(box=box.SIMPLE, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=13)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("layers", justify="right", no_wrap=True)
    table.add_column("vocab", justify="right", no_wrap=True)
    table.add_column("HF id", overflow="fold")
    for r in rows:
        size = f"{r['params_b']:.2f}B"
        if r["moe"]:  # total / active per token
            size = f"{r['params_b']:.1f}B/{r['active_params_b']:.1f}B"
        table.add_row(r["id"], size, str(r["layers"]), str(r["vocab_size"]), r["hf_id"])
    console.print(table)
