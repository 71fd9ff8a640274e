"""Snapshots of every screen at 80x24 (pytest-textual-snapshot).

Deterministic: fixed probe/plan answers (`FixedServices`), the shipped demo data, events
with fixed timestamps, and every worker finished before the picture is taken. Update
with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gpu_fixtures import FourGpus
from textual.widgets import Input
from tui_fixtures import FixedServices, event, training_events, write_run
from tunetui.tui.app import TuneApp
from tunetui.tui.dashboard import DashboardApp, DashboardScreen
from waiting import pilot_until

SIZE = (80, 24)


QUIET_S = 0.2  # a worker's result may start the next worker: idle this long means done


async def settle(pilot) -> None:
    """Wait until the screen stops changing: worker threads (probe, plan, data stats) are
    done and shown, and a dashboard has replayed its run."""
    app = pilot.app
    last_busy = time.monotonic()

    def quiet() -> bool:
        nonlocal last_busy
        screen = app.screen
        replaying = isinstance(screen, DashboardScreen) and not screen.replayed
        if replaying or any(w.is_running for w in app.workers):
            last_busy = time.monotonic()
        return time.monotonic() - last_busy >= QUIET_S

    await pilot_until(pilot, quiet, timeout=15, what="the screen to settle")
    for field in app.screen.query(Input):  # a blinking cursor would make pictures random
        field.cursor_blink = False
    await pilot.pause()  # one repaint without the cursor


def at_step(step: int):
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.go(step)
        await settle(pilot)

    return run_before


@pytest.fixture
def wizard(tmp_path: Path, monkeypatch) -> TuneApp:
    monkeypatch.chdir(tmp_path)
    return TuneApp(services=FixedServices(real_data=False), runs_root=tmp_path / "runs")


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5, 6])
def test_wizard_step(snap_compare, wizard: TuneApp, step: int) -> None:
    assert snap_compare(wizard, terminal_size=SIZE, run_before=at_step(step))


def test_hardware_without_gpu(snap_compare, tmp_path: Path) -> None:
    app = TuneApp(services=FixedServices(gpus=False, real_data=False), runs_root=tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_method_does_not_fit(snap_compare, wizard: TuneApp) -> None:
    wizard.state["model"] = "llama-3.1-8b"
    wizard.state["batch"] = 16
    assert snap_compare(wizard, terminal_size=SIZE, run_before=at_step(4))


def test_hardware_with_four_gpus_offers_strategy_and_offload(snap_compare, tmp_path) -> None:
    app = TuneApp(services=FourGpus(real_data=False), runs_root=tmp_path)
    app.state.set_parallel("zero3")
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_method_with_four_gpus_offers_the_strategy(snap_compare, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = TuneApp(services=FourGpus(real_data=False), runs_root=tmp_path / "runs")
    app.state.set_parallel("fsdp")
    assert snap_compare(app, terminal_size=SIZE, run_before=at_step(4))


def test_dashboard_live(snap_compare, tmp_path: Path) -> None:
    events = [*training_events(30, 50), event("eval", 30, step=30, metrics={"eval_loss": 1.5})]
    run_dir = write_run(tmp_path / "demo", events, partial='{"v":1,"type":"lo')
    assert snap_compare(DashboardApp(run_dir), terminal_size=SIZE, run_before=settle)


def test_dashboard_four_ranks(snap_compare, tmp_path: Path) -> None:
    """Four processes: one compact line per rank's GPU (issue 14)."""
    events = training_events(30, 50)
    for rank in range(4):
        gpu = {"index": rank, "util": 90 + rank, "mem_used_gib": 20.5 + rank / 10,
               "mem_total_gib": 24.0, "temp_c": 70 + rank, "power_w": 400 + rank}  # fmt: skip
        events.append(event("gpu", 31, gpus=[gpu], rank=rank))
    run_dir = write_run(tmp_path / "ranks", events, plan_gib=21.0)
    assert snap_compare(DashboardApp(run_dir), terminal_size=SIZE, run_before=settle)


def test_dashboard_error(snap_compare, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    events = [
        *training_events(5, 50),
        event("error", 6, message="CUDA out of memory. Tried to allocate 2.00 GiB",
              traceback_tail=["  File \"trainer.py\", line 10, in step",
                              "torch.OutOfMemoryError: CUDA out of memory"]),
    ]  # fmt: skip
    run_dir = write_run(Path("failed"), events)
    assert snap_compare(DashboardApp(run_dir), terminal_size=SIZE, run_before=settle)


def test_runs_screen(snap_compare, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "runs"
    done = [*training_events(50, 50), event("end", 51, step=50, output="adapter")]
    write_run(root / "finished-run", done)
    write_run(root / "failed-run", [*training_events(5, 50), event("error", 6, message="x")])
    app = TuneApp(services=FixedServices(real_data=False), runs_root=root)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
