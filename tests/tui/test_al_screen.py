"""The active-learning screen on real AL projects (toy text data) and one snapshot.

Pilot tests build the project with the `runner.al` API (init, train, select, import), so
the screen is tested against the files the CLI really writes. The snapshot writes
state.json through `runner.al.state` with fixed numbers, so the picture never depends on
the classifier. Update it with
``pytest tests/tui/test_al_screen.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static
from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.stopping import StopRules
from tunetui.tui.screens import active_learning as al_screen
from tunetui.tui.screens.active_learning import (
    ActiveLearningApp,
    ActiveLearningScreen,
    clip,
    load_view,
    next_step,
    run_al_app,
)

SIZE = (80, 24)
POS = ["great", "wonderful", "excellent", "superb", "lovely", "brilliant"]
NEG = ["awful", "terrible", "boring", "dreadful", "bad", "poor"]
FILL = ["movie", "film", "plot", "acting", "story", "cast", "score", "ending"]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _sentence(rng: random.Random, label: str) -> str:
    words = POS if label == "pos" else NEG
    return f"the {rng.choice(FILL)} was {rng.choice(words)} and {rng.choice(FILL)} is fine"


@pytest.fixture
def toy(tmp_path: Path) -> dict:
    """A fresh AL project on 60 two-class sentences (12 seed labels), and the answers."""
    from tunetui.runner.al.project import init_project

    rng = random.Random(0)
    answers = {f"x{i}": rng.choice(["pos", "neg"]) for i in range(60)}
    pool = _write(
        tmp_path / "pool.jsonl", [{"id": i, "text": _sentence(rng, y)} for i, y in answers.items()]
    )
    seed = _write(
        tmp_path / "seed.jsonl",
        [{"text": _sentence(rng, y), "label": y} for y in ["pos", "neg"] * 6],
    )
    project = tmp_path / "proj"
    init_project(project, pool, seed, rules=StopRules(budget=40))
    return {"project": project, "answers": answers, "tmp": tmp_path}


def _label(toy: dict, rows: list[dict], n: int | None = None) -> int:
    """Answer the first `n` selected items through a label file, as a person would."""
    from tunetui.runner.al.project import import_labels

    done = [{"id": r["id"], "label": toy["answers"][r["id"]]} for r in rows[:n]]
    return import_labels(toy["project"], _write(toy["tmp"] / "labels.jsonl", done))


def _rounds(toy: dict, n: int, k: int = 4) -> list[dict]:
    """Train, then `n` x (select k, label them, train); finally select the next batch."""
    from tunetui.runner.al.project import select_batch, train_round

    train_round(toy["project"])
    for _ in range(n):
        _label(toy, select_batch(toy["project"], k))
        train_round(toy["project"])
    return select_batch(toy["project"], 6)


async def _loaded(pilot, screen: ActiveLearningScreen, loads: int = 1) -> None:
    """Wait until the screen has shown `loads` reads from disk."""
    for _ in range(200):
        if screen.loads >= loads:
            break
        await pilot.pause(0.02)
    assert screen.loads >= loads
    await pilot.pause(0.05)


def _text(screen: ActiveLearningScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


# ---------------------------------------------------------------------------- reading
def test_load_view_fresh_project_has_no_rounds_and_no_batch(toy: dict) -> None:
    view = load_view(toy["project"])
    assert view.error is None and view.status is not None
    assert view.status["rounds"] == [] and view.items == []
    assert "tunetui al select" in view.items_note


def test_load_view_reads_problems_as_text(tmp_path: Path, toy: dict) -> None:
    assert "not an active-learning project" in (load_view(tmp_path / "nowhere").error or "")
    (toy["project"] / st.TO_LABEL_JSONL).write_text('{"id": "x1"}\nnot json\n')
    view = load_view(toy["project"])
    assert view.error is None and "line 2" in view.items_note
    (toy["project"] / st.STATE_FILE).write_text('{"version": 1}')
    assert "damaged" in (load_view(toy["project"]).error or "")


def test_clip_folds_lines_and_marks_the_cut() -> None:
    assert clip("a\nb  c", 10) == "a b c"
    assert clip("abcdefghij", 5) == "abcd…"


def test_run_al_app_refuses_a_non_project(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="al init"):
        run_al_app(tmp_path)


# ---------------------------------------------------------------------------- screen
def test_fresh_project_says_what_to_run_next(toy: dict) -> None:
    async def scenario() -> None:
        app = ActiveLearningApp(toy["project"], poll_s=None)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, ActiveLearningScreen)
            await _loaded(pilot, screen)
            assert "CONTINUE" in _text(screen, "#al-decision")
            assert "tunetui al train" in _text(screen, "#al-decision")
            assert "labels 10/40" in _text(screen, "#al-summary")
            assert _cells(screen.query_one("#al-rounds", DataTable))[0][2] == "no rounds"
            items = _cells(screen.query_one("#al-items", DataTable))
            assert len(items) == 1 and "tunetui al select" in items[0][0]

    asyncio.run(scenario())


def test_rounds_curve_items_refresh_and_keys(toy: dict) -> None:
    batch = _rounds(toy, 2)

    async def scenario() -> None:
        app = ActiveLearningApp(toy["project"], poll_s=None)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, ActiveLearningScreen)
            await _loaded(pilot, screen)
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
        assert app.return_code == 0

    asyncio.run(scenario())


def test_markup_in_the_data_is_shown_as_text(toy: dict) -> None:
    """Texts and labels come from people: brackets must never be read as markup."""
    rows = [{"id": "[b]x1", "text": "[red]not red[/red] [/b] [link=x]", "guess": "[i]", "score": 1}]
    _write(toy["project"] / st.TO_LABEL_JSONL, rows)

    async def scenario() -> None:
        app = ActiveLearningApp(toy["project"], poll_s=None)
        async with app.run_test(size=SIZE) as pilot:
            await _loaded(pilot, app.screen)
            row = _cells(app.screen.query_one("#al-items", DataTable))[0]
            assert row[:2] == ["[b]x1", "[i]"] and row[4].startswith("[red]not red[/red]")
            assert "[b]x1: [red]not red" in _text(app.screen, "#al-item-text")

    asyncio.run(scenario())


def test_generation_project(tmp_path: Path) -> None:
    """Task generate: no label set, a negative metric (neg_nll), long generated guesses."""
    project = tmp_path / "gen"
    project.mkdir()
    state = st.new_state("generate", "text", "label", None, None, StopRules(), 0)
    state.update(pool_size=50, seed_ids=["s0"], labelled={"s0": "an answer"}, in_flight=["p1"])
    state["rounds"] = [
        {"round": r, "n_labels": n, "metric_name": "neg_nll", "metric": m, "kappa": None}
        for r, (n, m) in enumerate([(1, -2.31), (6, -2.05)])
    ]
    st.save_state(project, state)
    guess = "a long generated answer that goes on and on " * 3
    _write(project / st.TO_LABEL_JSONL, [{"id": "p1", "text": "q?", "guess": guess, "score": 2.5}])

    async def scenario() -> None:
        app = ActiveLearningApp(project, poll_s=None)
        async with app.run_test(size=SIZE) as pilot:
            await _loaded(pilot, app.screen)
            assert "generate  ·  neg_nll" in _text(app.screen, "#al-title")
            rounds = _cells(app.screen.query_one("#al-rounds", DataTable))
            assert rounds[1][2:] == ["-2.0500", "-"]
            item = _cells(app.screen.query_one("#al-items", DataTable))[0]
            assert item[:3] == ["p1", "a long gene…", "2.500"]

    asyncio.run(scenario())


def test_budget_reached_says_stop(toy: dict) -> None:
    from tunetui.runner.al.project import train_round

    state = st.load_state(toy["project"])
    state["rules"]["budget"] = 10
    st.save_state(toy["project"], state)
    train_round(toy["project"])

    async def scenario() -> None:
        app = ActiveLearningApp(toy["project"], poll_s=None)
        async with app.run_test(size=SIZE) as pilot:
            await _loaded(pilot, app.screen)
            decision = app.screen.query_one("#al-decision", Static)
            assert "STOP budget reached" in str(decision.render())
            assert decision.has_class("al-stop")

    asyncio.run(scenario())


def test_changes_on_disk_are_picked_up_without_a_key(toy: dict) -> None:
    async def scenario() -> None:
        app = ActiveLearningApp(toy["project"], poll_s=0.05)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await _loaded(pilot, screen)
            time.sleep(0.01)  # a new mtime even on coarse file systems
            _rounds(toy, 0)
            await _loaded(pilot, screen, 2)
            assert _cells(screen.query_one("#al-rounds", DataTable))[0][:2] == ["0", "10"]
            assert screen.query_one("#al-items", DataTable).row_count == 6

    asyncio.run(scenario())


def test_refresh_never_blocks_the_keyboard(toy: dict, monkeypatch) -> None:
    """A slow read (a huge state.json on a network disk) runs while keys still work.

    The read is held until the keys were handled, so the test does not depend on timing.
    """
    real = al_screen.load_view
    release = threading.Event()

    def held(project):
        release.wait(10)
        return real(project)

    async def scenario() -> None:
        app = ActiveLearningApp(toy["project"], poll_s=None)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            await _loaded(pilot, screen)
            monkeypatch.setattr(al_screen, "load_view", held)
            await pilot.press("r", "tab", "r", "r")
            assert app.focused is screen.query_one("#al-rounds", DataTable)
            assert screen.loads == 1  # the read is still going on
            release.set()
            await _loaded(pilot, screen, 3)  # the held read, then one queued read for both r
            await pilot.pause(0.2)
            assert screen.loads == 3

    asyncio.run(scenario())


def test_no_color_keeps_the_decision_in_words(toy: dict, monkeypatch) -> None:
    from tunetui.runner.al.project import train_round

    train_round(toy["project"])
    monkeypatch.setenv("NO_COLOR", "1")

    async def scenario() -> None:
        app = ActiveLearningApp(toy["project"], poll_s=None)
        assert app.no_color
        async with app.run_test(size=SIZE) as pilot:
            await _loaded(pilot, app.screen)
            assert _text(app.screen, "#al-decision").startswith("CONTINUE keep going")

    asyncio.run(scenario())


def test_run_al_app_opens_the_app(toy: dict, monkeypatch) -> None:
    opened: list[Path] = []
    monkeypatch.setattr(ActiveLearningApp, "run", lambda self: opened.append(self.project))
    run_al_app(toy["project"])
    assert opened == [toy["project"]]


def test_next_step_follows_the_loop(toy: dict) -> None:
    from tunetui.runner.al.project import train_round

    project = toy["project"]
    assert "tunetui al train" in next_step(project, load_view(project).status, [])
    batch = _rounds(toy, 0)
    view = load_view(project)
    assert "tunetui al import" in next_step(project, view.status, view.items)
    _label(toy, batch)
    view = load_view(project)
    assert "tunetui al train" in next_step(project, view.status, view.items)
    train_round(project)
    view = load_view(project)
    assert "tunetui al select" in next_step(project, view.status, view.items)


def test_escape_inside_another_app_goes_back(toy: dict) -> None:
    from textual.app import App

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ActiveLearningScreen(toy["project"], poll_s=None))

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            await _loaded(pilot, app.screen)
            await pilot.press("escape")
            await pilot.pause(0.05)
            assert not isinstance(app.screen, ActiveLearningScreen)
            assert app.is_running

    asyncio.run(scenario())


# ---------------------------------------------------------------------------- snapshot
def _fixed_project(root: Path) -> Path:
    """state.json in the documented format with fixed numbers, and a to_label.jsonl."""
    project = root / "demo-al"
    project.mkdir()
    state = st.new_state("classify", "text", "label", ["neg", "pos"], None, StopRules(120), 0)
    state["created"] = 0.0
    state["pool_size"] = 400
    state["seed_ids"] = [f"s{i}" for i in range(20)]
    state["labelled"] = {f"s{i}": "pos" for i in range(20)}
    state["labelled"].update({f"x{i}": "neg" for i in range(60)})
    state["in_flight"] = [f"x{i}" for i in range(60, 72)]
    curve = [(20, 0.612, None), (40, 0.705, 0.81), (60, 0.771, 0.9), (80, 0.802, 0.955)]
    state["rounds"] = [
        {
            "round": r, "t": 0.0, "n_labels": n, "metric_name": "macro_f1", "metric": m,
            "metrics": {"macro_f1": m}, "kappa": k, "run_dir": f"runs/round-{r:03d}",
        }
        for r, (n, m, k) in enumerate(curve)
    ]  # fmt: skip
    st.save_state(project, state)
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
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
