"""The AL screen's view model (`tui.alview`): plain calls on real toy projects, no terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from al.toytext import label_batch as _label
from al.toytext import run_rounds as _rounds
from al.toytext import toy_project
from tunetui.runner.al import state as st
from tunetui.runner.al.rounds import train_round
from tunetui.runner.al.status import al_status
from tunetui.runner.al.stopping import StopRules
from tunetui.tui import alview
from tunetui.tui.alview import clip, load_view, next_step


@pytest.fixture
def toy(tmp_path: Path) -> dict:
    """A fresh project (overrides the conftest's input files: these tests need a project)."""
    return toy_project(tmp_path)


def test_load_view_fresh_project_has_no_rounds_and_no_batch(toy: dict) -> None:
    view = load_view(toy["project"])
    assert view.error is None
    assert view.status is not None and view.status["rounds"] == []
    assert view.items == []
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


def test_next_step_follows_the_loop(toy: dict) -> None:
    project = toy["project"]

    def step() -> str:
        view = load_view(project)
        assert view.status is not None
        return next_step(project, view.status, view.items)

    assert "tunetui al train" in step()
    batch = _rounds(toy, 0)
    assert "tunetui al import" in step()
    _label(toy, batch)
    assert "tunetui al train" in step()
    train_round(project)
    assert "tunetui al select" in step()


def test_decision_is_spelled_out_for_each_case(toy: dict) -> None:
    project = toy["project"]
    fresh = alview.decision(al_status(project))
    assert (fresh.word, fresh.css) == ("CONTINUE", "al-continue")
    assert fresh.reason == f"no rounds yet: tunetui al train {project}"
    train_round(project)
    going = alview.decision(al_status(project))
    assert (going.word, going.reason) == ("CONTINUE", "keep going: no stopping rule fired")
    state = st.load_state(project)
    state.rules = StopRules(budget=10)
    st.save_state(project, state)
    stop = alview.decision(al_status(project))
    assert (stop.word, stop.css) == ("STOP", "al-stop")
    assert stop.reason.startswith("budget reached")


def test_summary_counts_seed_spent_and_budget(toy: dict) -> None:
    _rounds(toy, 1)
    status = al_status(toy["project"])
    line = alview.summary_line(status)
    # pool 70 (60 items + the 10 seed texts kept as labelled) - 14 labelled - 6 in flight
    assert line == "labels 14/40 (4 spent, 10 seed) · pool left 50 · in flight 6"
    status["budget"] = None
    assert alview.summary_line(status).endswith("· no budget")


def test_item_cells_clip_each_column_to_the_screen_width() -> None:
    item = alview.ToLabelItem(id="p1", text="word " * 40, guess="g" * 30, score=2.5)
    width = alview.text_width([item], 80)
    cells = alview.item_cells(item, width)
    assert cells[:4] == ("p1", "g" * 11 + "…", "2.500", "·")
    assert len(cells[4]) == width and cells[4].endswith("…")
    assert width == 80 - (2 + 2) - (12 + 2) - (5 + 2) - (5 + 2) - 6
    assert alview.text_width([item], 30) == 20  # never narrower than 20
