"""The active-learning screen, on real AL projects (toy text data), and one snapshot.

Pilot tests cover what only the screen does (widgets, keys, refresh, colour classes); the
view model (`tui.alview`) has plain tests in tests/al/test_alview.py. Projects are built
with the `runner.al` API (init, train, select, import), the files the CLI really writes.
The snapshot and the generation project write state.json as a raw JSON object in the
documented format, so the picture never depends on the classifier and a file written by an
earlier version is shown to load. Update the snapshot with
``pytest tests/tui/test_al_screen.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from al.toytext import label_batch as _label
from al.toytext import run_rounds as _rounds
from al.toytext import toy_project
from al.toytext import write_jsonl as _write
from textual.widgets import DataTable, Static
from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.rounds import train_round
from tunetui.runner.al.stopping import StopRules
from tunetui.tui.screens import active_learning as al_screen
from tunetui.tui.screens.active_learning import ActiveLearningApp, ActiveLearningScreen, run_al_app
from waiting import pilot_until

SIZE = (80, 24)


@pytest.fixture
def toy(tmp_path: Path) -> dict:
    return toy_project(tmp_path)


def _state_file(project: Path, **fields: Any) -> Path:
    """state.json as a raw JSON object with the documented keys (what any version wrote)."""
    project.mkdir()
    state = {
        "version": 1, "created": 0.0, "task": "classify", "text_field": "text",
        "label_field": "label", "labels": None, "model": None, "seed": 0,
        "rules": {"budget": None, "plateau_delta": 0.005, "plateau_rounds": 3, "kappa": 0.99,
                  "kappa_window": 3},
        "labelled": {}, "seed_ids": [], "in_flight": [], "selections": [], "rounds": [],
        "stop_set": [], "stop_preds": None,
    }  # fmt: skip
    state.update(fields)
    (project / st.STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    return project


Scenario = Callable[[Any, ActiveLearningScreen], Awaitable[None]]


async def _loaded(pilot: Any, screen: ActiveLearningScreen, loads: int = 1) -> None:
    """Wait until the screen has shown `loads` reads from disk."""
    await pilot_until(pilot, lambda: screen.loads >= loads, what=f"{loads} loads")


def _on_screen(project: Path, scenario: Scenario, poll_s: float | None = None) -> ActiveLearningApp:
    """Open the app on `project`, wait for the first read, run `scenario`; return the app."""
    app = ActiveLearningApp(project, poll_s=poll_s)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, ActiveLearningScreen)
            await _loaded(pilot, screen)
            await scenario(pilot, screen)

    asyncio.run(run())
    return app


def _text(screen: ActiveLearningScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


# ---------------------------------------------------------------------------- app
def test_run_al_app_refuses_a_non_project(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="al init"):
        run_al_app(tmp_path)


def test_run_al_app_opens_the_app(toy: dict, monkeypatch) -> None:
    opened: list[Path] = []
    monkeypatch.setattr(ActiveLearningApp, "run", lambda self: opened.append(self.project))
    run_al_app(toy["project"])
    assert opened == [toy["project"]]


# ---------------------------------------------------------------------------- screen
def test_fresh_project_says_what_to_run_next(toy: dict) -> None:
    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        assert "CONTINUE" in _text(screen, "#al-decision")
        assert "tunetui al train" in _text(screen, "#al-decision")
        assert "labels 10/40" in _text(screen, "#al-summary")
        assert _cells(screen.query_one("#al-rounds", DataTable))[0][2] == "no rounds"
        items = _cells(screen.query_one("#al-items", DataTable))
        assert len(items) == 1 and "tunetui al select" in items[0][0]

    _on_screen(toy["project"], scenario)


def test_rounds_curve_items_refresh_and_keys(toy: dict) -> None:
    batch = _rounds(toy, 2)

    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        app = screen.app
        summary = _text(screen, "#al-summary")
        assert "labels 18/40 (8 spent, 10 seed)" in summary and "in flight 6" in summary
        rounds = _cells(screen.query_one("#al-rounds", DataTable))
        assert [r[:2] for r in rounds] == [["0", "10"], ["1", "14"], ["2", "18"]]
        assert rounds[0][3] == "-"  # no kappa before a second round
        assert screen.query_one("#al-curve").border_title == "macro_f1 vs labels"
        items = screen.query_one("#al-items", DataTable)
        assert [r[0] for r in _cells(items)] == [r["id"] for r in batch]
        assert items.border_title == "to label next: 6 of 6 in flight"
        assert "tunetui al import" in str(items.border_subtitle)
        assert batch[0]["id"] in _text(screen, "#al-item-text")
        await pilot.press("down")
        assert batch[1]["id"] in _text(screen, "#al-item-text")

        # Two of the batch get labelled on disk; `r` shows it.
        _label(toy, batch, 2)
        await pilot.press("r")
        await _loaded(pilot, screen, 2)
        assert items.border_title == "to label next: 4 of 6 in flight"
        assert _cells(items)[0][3] == toy["answers"][batch[0]["id"]]
        assert "in flight 4" in _text(screen, "#al-summary")

        assert app.focused is items
        await pilot.press("tab")
        assert app.focused is screen.query_one("#al-rounds", DataTable)
        await pilot.press("tab")
        assert app.focused is items
        await pilot.press("q")

    app = _on_screen(toy["project"], scenario)
    assert app.return_code == 0


def test_markup_in_the_data_is_shown_as_text(toy: dict) -> None:
    """Texts and labels come from people: brackets must never be read as markup."""
    rows = [{"id": "[b]x1", "text": "[red]not red[/red] [/b] [link=x]", "guess": "[i]", "score": 1}]
    _write(toy["project"] / st.TO_LABEL_JSONL, rows)

    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        row = _cells(screen.query_one("#al-items", DataTable))[0]
        assert row[:2] == ["[b]x1", "[i]"] and row[4].startswith("[red]not red[/red]")
        assert "[b]x1: [red]not red" in _text(screen, "#al-item-text")

    _on_screen(toy["project"], scenario)


def test_generation_project(tmp_path: Path) -> None:
    """Task generate: no label set, a negative metric (neg_nll), long generated guesses.

    The rounds carry only the keys early versions wrote (no metrics, no run_dir)."""
    rounds = [
        {"round": r, "n_labels": n, "metric_name": "neg_nll", "metric": m, "kappa": None}
        for r, (n, m) in enumerate([(1, -2.31), (6, -2.05)])
    ]
    project = _state_file(
        tmp_path / "gen", task="generate", pool_size=50, seed_ids=["s0"],
        labelled={"s0": "an answer"}, in_flight=["p1"], rounds=rounds,
    )  # fmt: skip
    guess = "a long generated answer that goes on and on " * 3
    _write(project / st.TO_LABEL_JSONL, [{"id": "p1", "text": "q?", "guess": guess, "score": 2.5}])

    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        assert "generate  ·  neg_nll" in _text(screen, "#al-title")
        rounds = _cells(screen.query_one("#al-rounds", DataTable))
        assert rounds[1][2:] == ["-2.0500", "-"]
        item = _cells(screen.query_one("#al-items", DataTable))[0]
        assert item[:3] == ["p1", "a long gene…", "2.500"]

    _on_screen(project, scenario)


def test_budget_reached_says_stop_in_the_stop_colour(toy: dict) -> None:
    state = st.load_state(toy["project"])
    state.rules = StopRules(budget=10)
    st.save_state(toy["project"], state)
    train_round(toy["project"])

    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        decision = screen.query_one("#al-decision", Static)
        assert "STOP budget reached" in str(decision.render())
        assert decision.has_class("al-stop")

    _on_screen(toy["project"], scenario)


def test_changes_on_disk_are_picked_up_without_a_key(toy: dict) -> None:
    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        _rounds(toy, 0)
        # A coarse file system may keep the old mtime: move it on explicitly.
        later = screen.view.mtimes[0] + 5
        os.utime(toy["project"] / st.STATE_FILE, (later, later))
        await _loaded(pilot, screen, 2)
        await pilot_until(pilot, lambda: screen.view.mtimes[0] == later, what="the newest read")
        assert _cells(screen.query_one("#al-rounds", DataTable))[0][:2] == ["0", "10"]
        assert screen.query_one("#al-items", DataTable).row_count == 6

    _on_screen(toy["project"], scenario, poll_s=0.05)


def test_refresh_never_blocks_the_keyboard(toy: dict, monkeypatch) -> None:
    """A slow read (a huge state.json on a network disk) runs while keys still work.

    The read is held until the keys were handled, so the test does not depend on timing.
    """
    real = al_screen.load_view
    release = threading.Event()

    def held(project):
        release.wait(10)
        return real(project)

    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        monkeypatch.setattr(al_screen, "load_view", held)
        await pilot.press("r", "tab", "r", "r")
        assert screen.app.focused is screen.query_one("#al-rounds", DataTable)
        assert screen.loads == 1  # the read is still going on
        release.set()

        def settled() -> bool:
            worker = screen._worker
            return worker is not None and worker.is_finished and not screen._again

        # The held read, then exactly one queued read for both later `r`s.
        await _loaded(pilot, screen, 3)
        await pilot_until(pilot, settled, what="no read pending")
        assert screen.loads == 3

    _on_screen(toy["project"], scenario)


def test_no_color_keeps_the_decision_in_words(toy: dict, monkeypatch) -> None:
    train_round(toy["project"])
    monkeypatch.setenv("NO_COLOR", "1")

    async def scenario(pilot: Any, screen: ActiveLearningScreen) -> None:
        assert screen.app.no_color
        assert _text(screen, "#al-decision").startswith("CONTINUE keep going")

    _on_screen(toy["project"], scenario)


def test_escape_inside_another_app_goes_back(toy: dict) -> None:
    from textual.app import App

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ActiveLearningScreen(toy["project"], poll_s=None))

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            await pilot_until(pilot, lambda: isinstance(app.screen, ActiveLearningScreen))
            await _loaded(pilot, app.screen)
            await pilot.press("escape")
            await pilot_until(pilot, lambda: not isinstance(app.screen, ActiveLearningScreen))
            assert app.is_running

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- snapshot
def _fixed_project(root: Path) -> Path:
    """state.json in the documented format with fixed numbers, and a to_label.jsonl."""
    curve = [(20, 0.612, None), (40, 0.705, 0.81), (60, 0.771, 0.9), (80, 0.802, 0.955)]
    labelled = {f"s{i}": "pos" for i in range(20)} | {f"x{i}": "neg" for i in range(60)}
    project = _state_file(
        root / "demo-al",
        labels=["neg", "pos"],
        rules={"budget": 120, "plateau_delta": 0.005, "plateau_rounds": 3, "kappa": 0.99,
               "kappa_window": 3},
        pool_size=400,
        seed_ids=[f"s{i}" for i in range(20)],
        labelled=labelled,
        in_flight=[f"x{i}" for i in range(60, 72)],
        rounds=[
            {
                "round": r, "t": 0.0, "n_labels": n, "metric_name": "macro_f1", "metric": m,
                "metrics": {"macro_f1": m}, "kappa": k, "run_dir": f"runs/round-{r:03d}",
            }
            for r, (n, m, k) in enumerate(curve)
        ],
    )  # fmt: skip
    texts = [
        "The battery lasts two days but the screen scratches far too easily for the price",
        "Delivery was late.",
        "Not sure what to think: the plot is thin\nyet the acting carries it",
        "Support answered within an hour and fixed the billing mistake on the spot",
    ]
    _write(
        project / st.TO_LABEL_JSONL,
        [
            {"id": f"x{i}", "text": texts[i % 4], "guess": ["pos", "neg"][i % 2],
             "score": round(0.01 * (i - 55), 3)}
            for i in range(60, 72)
        ],
    )  # fmt: skip
    return project


def test_snapshot(snap_compare, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _fixed_project(tmp_path)
    app = ActiveLearningApp(Path("demo-al"), poll_s=None)

    async def run_before(pilot) -> None:
        await _loaded(pilot, pilot.app.screen)
        await pilot.pause()  # let the plot and tables repaint once after the read

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
