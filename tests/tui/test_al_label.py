"""The labelling screen (`tunetui al label`) at 80x24, on real AL projects (toy text).

What is checked on disk is what a dropped SSH session would leave behind: every key that
changes an answer is in `labelling.json` before the next key is read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from al.toytext import toy_project
from al.toytext import write_jsonl as _write
from textual.widgets import Input, Static
from tunetui.runner.al import state as st
from tunetui.runner.al.rounds import train_round
from tunetui.runner.al.selection import select_batch
from tunetui.tui.screens.al_label import LabelApp, LabelScreen
from waiting import pilot_until

SIZE = (80, 24)


@pytest.fixture
def batch(tmp_path: Path) -> dict:
    """A toy project after round 0 with a batch of 4 in flight."""
    toy = toy_project(tmp_path)
    train_round(toy["project"])
    toy["rows"] = select_batch(toy["project"], 4)
    return toy


def _saved(project: Path) -> dict:
    return json.loads((project / st.LABELLING_FILE).read_text(encoding="utf-8"))


def _text(screen: LabelScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _on_screen(project: Path, scenario: Callable[[Any, LabelScreen], Awaitable[None]]) -> LabelApp:
    app = LabelApp(project)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot_until(pilot, lambda: isinstance(app.screen, LabelScreen), what="screen")
            await scenario(pilot, app.screen)

    asyncio.run(run())
    return app


def test_number_keys_skip_back_and_undo_save_at_every_key(batch: dict) -> None:
    project, ids = batch["project"], [r["id"] for r in batch["rows"]]

    async def scenario(pilot, screen: LabelScreen) -> None:
        assert _text(screen, "#lab-progress").startswith("item 1/4 · 0 answered")
        assert "model's guess: " in _text(screen, "#lab-guess")
        assert _text(screen, "#lab-choices").startswith("1 neg   2 pos  ·  s skip")
        await pilot.press("2")
        assert _saved(project)["answers"] == {ids[0]: "pos"}
        assert _text(screen, "#lab-progress").startswith("item 2/4 · 1 answered")
        await pilot.press("s")
        assert _saved(project)["skipped"] == [ids[1]]
        await pilot.press("1")
        assert _saved(project)["answers"] == {ids[0]: "pos", ids[2]: "neg"}
        await pilot.press("u")
        assert _saved(project)["answers"] == {ids[0]: "pos"}
        assert screen.session.item.id == ids[2]
        await pilot.press("b", "b")
        assert screen.session.item.id == ids[0]
        assert _text(screen, "#lab-answer") == "answer: pos"
        await pilot.press("1")  # a new answer replaces the old one
        assert _saved(project)["answers"][ids[0]] == "neg"

    _on_screen(project, scenario)


def test_quit_in_the_middle_then_resume_and_merge(batch: dict) -> None:
    """A session that ends without merging (a dropped connection) leaves its answers; the
    next one starts at the first open item; leaving merges into state.json."""
    project, ids = batch["project"], [r["id"] for r in batch["rows"]]
    answers = batch["answers"]
    key = {"neg": "1", "pos": "2"}

    async def first(pilot, screen: LabelScreen) -> None:
        await pilot.press(key[answers[ids[0]]], key[answers[ids[1]]])
        pilot.app.exit()  # gone without a goodbye, like a killed terminal

    _on_screen(project, first)
    assert len(_saved(project)["answers"]) == 2
    assert st.load_state(project).in_flight == ids  # nothing merged yet

    async def second(pilot, screen: LabelScreen) -> None:
        assert screen.session.item.id == ids[2]
        assert "2 answered" in _text(screen, "#lab-progress")
        await pilot.press(key[answers[ids[2]]], key[answers[ids[3]]])
        assert "all answered" in _text(screen, "#lab-answer")
        await pilot.press("q")

    app = _on_screen(project, second)
    assert app.return_value == 4
    state = st.load_state(project)
    assert state.in_flight == [] and all(state.labelled[i] == answers[i] for i in ids)
    assert not (project / st.LABELLING_FILE).exists()


def test_partial_labels_then_the_rest_by_csv_import(batch: dict) -> None:
    """`al import` of a CSV keeps working next to the screen."""
    from tunetui.runner.al.labels import import_labels

    project, ids = batch["project"], [r["id"] for r in batch["rows"]]

    async def scenario(pilot, screen: LabelScreen) -> None:
        await pilot.press("1", "q")

    assert _on_screen(project, scenario).return_value == 1
    csv = batch["tmp"] / "rest.csv"
    csv.write_text("id,label\n" + "".join(f"{i},{batch['answers'][i]}\n" for i in ids[1:]))
    assert import_labels(project, csv) == 3
    assert st.load_state(project).in_flight == []


def test_free_text_answers_for_a_generation_project(tmp_path: Path) -> None:
    project = tmp_path / "gen"
    project.mkdir()
    state = st.ProjectState(task="generate", in_flight=["q1", "q2"], pool_size=2)
    st.save_state(project, state)
    _write(project / st.POOL_FILE, [{"id": "q1", "text": "Add 1 and 1."},
                                   {"id": "q2", "text": "Add 2 and 2."}])  # fmt: skip
    _write(project / st.TO_LABEL_JSONL, [
        {"id": "q1", "text": "Add 1 and 1.", "guess": "3", "score": 1.25},
        {"id": "q2", "text": "Add 2 and 2.", "guess": "4", "score": 0.5},
    ])  # fmt: skip

    async def scenario(pilot, screen: LabelScreen) -> None:
        assert _text(screen, "#lab-guess") == "model's guess: 3 · uncertainty 1.250"
        screen.query_one(Input).focus()
        await pilot.press("2", "enter")
        assert _saved(project)["answers"] == {"q1": "2"}
        assert screen.session.item.id == "q2"
        await pilot.press("ctrl+z")
        assert _saved(project)["answers"] == {}
        await pilot.press("escape")

    assert _on_screen(project, scenario).return_value == 0


def test_nothing_in_flight_is_one_line_before_any_ui(cli, tmp_path: Path) -> None:
    toy = toy_project(tmp_path)
    code, _, err = cli("al", "label", str(toy["project"]))
    assert code == 2
    assert "nothing in flight to label" in err and "tunetui al select" in err


def test_snapshot(snap_compare, batch: dict, monkeypatch) -> None:
    monkeypatch.chdir(batch["tmp"])
    app = LabelApp(Path("proj"))

    async def run_before(pilot) -> None:
        await pilot_until(pilot, lambda: isinstance(pilot.app.screen, LabelScreen))
        await pilot.press("2")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_a_label_set_beyond_nine_is_typed_and_checked(tmp_path: Path) -> None:
    labels = [f"topic{n}" for n in range(12)]
    project = tmp_path / "many"
    project.mkdir()
    st.save_state(project, st.ProjectState(task="classify", labels=labels, in_flight=["a"]))
    _write(project / st.POOL_FILE, [{"id": "a", "text": "about topic 11"}])
    _write(project / st.TO_LABEL_JSONL, [{"id": "a", "text": "about topic 11", "guess": "topic1",
                                          "score": 0.5}])  # fmt: skip

    async def scenario(pilot, screen: LabelScreen) -> None:
        assert _text(screen, "#lab-choices").startswith("type one of: topic0, topic1")
        screen.query_one(Input).focus()
        await pilot.press(*"topic99", "enter")
        assert "'topic99' is not in the label set" in _text(screen, "#lab-note")
        screen.query_one(Input).value = "topic11"
        await pilot.press("enter")
        assert _saved(project)["answers"] == {"a": "topic11"}

    _on_screen(project, scenario)
