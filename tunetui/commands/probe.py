"""`tunetui probe`: show the GPUs (through NVML), CPU, RAM and disk of this machine."""

from __future__ import annotations

import json
from typing import Any

import typer

app = typer.Typer(add_completion=False)


def _na(value: Any, fmt: str = "{}") -> str:
    """Format a value, or "n/a" for NA/None (the probe's missing fields)."""
    if value is None or (isinstance(value, str) and not value):
        return "n/a"
    return fmt.format(value)


@app.command()
def probe(
    as_json: bool = typer.Option(False, "--json", help="Print the probe as JSON."),
) -> None:
    """Show every NVIDIA GPU (memory, compute capability, bf16, load, processes) and the host.

    Without a driver or GPU it says why; plan for a GPU you do not have with
    `tunetui plan --gpu NAME` (see `tunetui gpus`).
    """
    from tunetui.planner.probe import probe as run_probe

    result = run_probe()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print(result.to_dict())


def _print(data: dict[str, Any]) -> None:
    """Rich tables that fit 80 columns: GPUs, their processes, then the host."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=80)
    gpus = data["gpus"]
    if not gpus:
        console.print(f"no NVIDIA GPU found ({data['no_gpu_reason']}).")
        console.print(
            "Plan for a GPU anyway with `tunetui plan --gpu NAME` (list: `tunetui gpus`)."
        )
    else:
        head = f"driver {_na(data['driver'])}, CUDA {_na(data['cuda'])}"
        table = Table(title=f"GPUs ({head})", width=80)
        for col, just in (
            ("#", "right"),
            ("name", "left"),
            ("memory GiB", "right"),
            ("cc", "right"),
            ("bf16", "center"),
            ("util", "right"),
            ("temp", "right"),
            ("power W", "right"),
        ):
            table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
        for g in gpus:
            used, total = g["memory_used_gib"], g["memory_total_gib"]
            memory = f"{_na(used, '{:.1f}')}/{_na(total, '{:.1f}')}"
            power = f"{_na(g['power_w'], '{:.0f}')}/{_na(g['power_limit_w'], '{:.0f}')}"
            name = _na(g["name"]).removeprefix("NVIDIA ")
            if g["mig_mode"]:
                name += f" [MIG: {len(g['mig_devices'])} slices]"
            bf16 = "n/a" if g["bf16"] is None else ("yes" if g["bf16"] else "no")
            table.add_row(
                str(g["index"]),
                name,
                memory,
                _na(g["compute_capability"]),
                bf16,
                _na(g["util_pct"], "{}%"),
                _na(g["temp_c"], "{}C"),
                power,
            )
        console.print(table)
        _print_mig_and_processes(console, gpus)
    h = data["host"]
    console.print(
        f"CPU   {_na(h['cpu_model'])} ({_na(h['cpu_cores_physical'])} cores, "
        f"{_na(h['cpu_cores_logical'])} threads)\n"
        f"RAM   {_na(h['ram_available_gib'], '{:.1f}')} GiB free of "
        f"{_na(h['ram_total_gib'], '{:.1f}')} GiB\n"
        f"disk  {_na(h['disk_free_gib'], '{:.1f}')} GiB free at {h['disk_path']}\n"
        f"OS    {h['os']}, Python {h['python']}",
        highlight=False,
        soft_wrap=True,
    )


def _print_mig_and_processes(console: Any, gpus: list[dict[str, Any]]) -> None:
    """MIG slices and the processes holding GPU memory, only when there are any."""
    from rich.table import Table

    slices = [(g["index"], m) for g in gpus for m in g["mig_devices"]]
    if slices:
        table = Table(title="MIG slices")
        for col, just in (
            ("gpu", "right"),
            ("slice", "right"),
            ("name", "left"),
            ("memory GiB", "right"),
        ):
            table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
        for gpu_index, m in slices:
            memory = f"{_na(m['memory_used_gib'], '{:.1f}')}/{_na(m['memory_total_gib'], '{:.1f}')}"
            table.add_row(str(gpu_index), str(m["index"]), _na(m["name"]), memory)
        console.print(table)
    procs = [(g["index"], p) for g in gpus for p in g["processes"]]
    if procs:
        table = Table(title="GPU processes")  # as wide as its content, numbers right
        for col, just in (("gpu", "right"), ("pid", "right"), ("name", "left"), ("GiB", "right")):
            table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
        for gpu_index, p in procs:
            table.add_row(
                str(gpu_index), str(p["pid"]), _na(p["name"]), _na(p["used_gib"], "{:.2f}")
            )
        console.print(table)
