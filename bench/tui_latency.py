"""Dashboard latency and CPU: a writer appends events, the dashboard follows them.

A separate writer process appends `--rate` events per second (log events, a GPU sample
every 10th) for `--seconds` to a fresh run directory, stamping each with the wall time it
was written. The dashboard runs headless at 80x24 in this process; after each refresh
that shows new events it records ``now - event.t`` (append-to-render latency). CPU is
this process's CPU time (the app: polling, folding, layout and rendering) over the run,
as a share of one core.

With ``--startup`` it also times the wizard's first paint in fresh interpreters (from
the first import to the first refresh, headless), next to an empty Textual app on the
same machine as the floor.

Targets (docs/tui.md): p95 latency <= 250 ms, CPU < 15% of one core, first paint < 0.6 s.

    python bench/tui_latency.py [--seconds 30] [--rate 100] [--startup] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITER = r"""
import json, sys, time
path, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
period = 1.0 / rate
with open(path, "a", buffering=1) as fh:
    fh.write(json.dumps({"v": 1, "t": time.time(), "type": "start", "run": "bench",
                         "total_steps": int(rate * seconds)}) + "\n")
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        n += 1
        if n % 10 == 0:
            ev = {"v": 1, "t": time.time(), "type": "gpu", "gpus": [{"index": 0, "util": n % 100,
                  "mem_used_gib": 10 + n % 7, "mem_total_gib": 24, "temp_c": 60, "power_w": 250}]}
        else:
            ev = {"v": 1, "t": time.time(), "type": "log", "step": n, "loss": 2.0 / (1 + n / 500),
                  "lr": 2e-4, "epoch": n / (rate * seconds), "tokens_per_s": 1234.0,
                  "eta_s": seconds - (time.monotonic() - start)}
        fh.write(json.dumps(ev) + "\n")
        fh.flush()
        delay = start + n * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
"""


STARTUP = r"""
import sys, time
t0 = time.perf_counter()
from textual.app import App
if sys.argv[1] == "wizard":
    from tunetui.tui.app import TuneApp as Base
else:
    Base = App
class Timed(Base):
    def on_mount(self):
        if Base is not App:
            super().on_mount()
        self.call_after_refresh(lambda: self.call_after_refresh(
            lambda: self.exit(time.perf_counter() - t0)))
print(Timed().run(headless=True, size=(80, 24)))
"""


def startup_s(which: str, runs: int = 5) -> float:
    """Median first-paint time of `which` ("wizard" or "textual") over fresh processes."""
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP, which], capture_output=True, text=True, check=True
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(run_dir: Path, seconds: float, rate: float) -> dict[str, float]:
    from tunetui.tui.dashboard import DashboardApp, DashboardScreen

    latencies: list[float] = []

    def shown(events: list[dict]) -> None:
        now = time.time()
        latencies.extend(now - e["t"] for e in events if isinstance(e.get("t"), (int, float)))

    app = DashboardApp(run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        screen.on_events_shown = shown
        cpu0, wall0 = time.process_time(), time.monotonic()
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(run_dir / "events.jsonl"), str(rate), str(seconds)]
        )
        while writer.poll() is None:
            await asyncio.sleep(0.2)
        await pilot.pause(0.5)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return {
        "events": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "max_ms": 1000 * max(latencies),
        "cpu_pct_one_core": 100 * cpu / wall,
        "seconds": wall,
        "load_avg_1m": os.getloadavg()[0],
        "cores": os.cpu_count() or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--startup", action="store_true", help="also time the first paint")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "bench"
        run_dir.mkdir()
        (run_dir / "events.jsonl").touch()
        (run_dir / "train.log").write_text("bench\n")
        result = asyncio.run(measure(run_dir, args.seconds, args.rate))
    if args.startup:
        result["startup_wizard_s"] = startup_s("wizard")
        result["startup_empty_textual_s"] = startup_s("textual")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"dashboard, {args.rate:g} events/s for {args.seconds:g} s at 80x24 (headless):\n"
        f"  append-to-render latency: p50 {result['p50_ms']:.0f} ms, "
        f"p95 {result['p95_ms']:.0f} ms, "
        f"max {result['max_ms']:.0f} ms over {result['events']} events (target p95 <= 250 ms)\n"
        f"  app CPU: {result['cpu_pct_one_core']:.1f}% of one core (target < 15%)\n"
        f"  machine: {result['cores']} cores, load average {result['load_avg_1m']:.2f} "
        "(shared with other work: figures are pessimistic when the load is high)"
    )
    if args.startup:
        print(
            f"  wizard first paint: {result['startup_wizard_s']:.2f} s median of 5 "
            f"(an empty Textual app: {result['startup_empty_textual_s']:.2f} s; target < 0.6 s)"
        )


if __name__ == "__main__":
    main()
