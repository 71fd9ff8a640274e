"""What the active-learning screen shows, as plain data: no Textual here.

`load_view(project_dir)` reads an AL project (state.json through `al_status`, and
to_label.jsonl written by `tunetui al select`) into an `ALView`; the functions below turn
it into the screen's words (summary, decision, next command, column widths). Keeping this
pure means it is tested without a terminal, and the screen
(`tui.screens.active_learning`) only puts these strings into widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.io import read_rows
from tunetui.runner.al.status import al_status

MAX_ITEMS = 500  # to_label.jsonl is one batch; more than this is not read into the table
# Widest cell (characters) of the id, guess and label columns of the items table.
ID_W, GUESS_W, LABEL_W = 12, 12, 10


@dataclass
class ToLabelItem:
    """One row of to_label.jsonl, plus the label it got since (None while in flight)."""

    id: str
    text: str
    guess: str | None
    score: float | None
    label: str | None = None


@dataclass
class ALView:
    """Everything the screen shows, read from disk in one go (in a worker thread)."""

    status: dict[str, Any] | None = None
    items: list[ToLabelItem] = field(default_factory=list)
    items_note: str = ""  # why the items pane is empty, or a read problem
    error: str | None = None  # the project could not be read at all
    mtimes: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Decision:
    """The stopping decision in words: `word` (STOP/CONTINUE) never depends on colour."""

    word: str
    reason: str
    css: str  # al-stop | al-continue


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def project_mtimes(project: Path) -> tuple[float, float]:
    """Modification times of state.json and to_label.jsonl (0.0 when missing)."""
    return _mtime(project / st.STATE_FILE), _mtime(project / st.TO_LABEL_JSONL)


def load_view(project_dir: str | Path) -> ALView:
    """Read the project; problems become text on the screen, never an exception.

    The files are hand-editable input (people fix labels in them), so anything that does
    not parse is reported as damaged with the fix, instead of ending the app.
    """
    project = Path(project_dir)
    view = ALView(mtimes=project_mtimes(project))
    try:
        view.status = al_status(project)
        _read_items(project, view, dict(st.load_state(project).labelled))
    except UserError as err:
        view.status, view.error = None, err.line()
    except Exception as err:  # a hand-edited file must not end the app
        view.status = None
        view.error = f"{project / st.STATE_FILE} is damaged ({err!r}). Restore it or re-run init."
    return view


def _read_items(project: Path, view: ALView, labelled: dict[str, str]) -> None:
    """to_label.jsonl into `view.items`; a missing or bad file only empties that pane."""
    path = project / st.TO_LABEL_JSONL
    if not path.is_file():
        view.items_note = f"no batch selected yet: tunetui al select {project} --k 50"
        return
    try:
        rows = read_rows(path)
    except UserError as err:
        view.items_note = err.line()
        return
    for _, row in rows[:MAX_ITEMS]:
        ident = str(row.get("id", ""))
        score = row.get("score")
        view.items.append(
            ToLabelItem(
                id=ident,
                text=str(row.get("text", "")),
                guess=None if row.get("guess") is None else str(row["guess"]),
                score=float(score) if isinstance(score, (int, float)) else None,
                label=labelled.get(ident),
            )
        )
    if not view.items:
        view.items_note = f"to_label.jsonl is empty: tunetui al select {project} --k 50"


def next_step(project: Path, status: dict[str, Any], items: list[ToLabelItem]) -> str:
    """The command that moves the loop on from where the project stands."""
    if status["stop"]["stop"]:
        return "a stopping rule fired: the labels so far are enough"
    if any(i.label is None for i in items) or status["n_in_flight"]:
        csv = project / st.TO_LABEL_CSV
        return f"label it, then: tunetui al import {project} {csv}"
    if not status["rounds"] or status["rounds"][-1]["n_labels"] != status["n_labelled"]:
        return f"next: tunetui al train {project}"
    return f"next: tunetui al select {project} --k 50"


def title(project: Path, status: dict[str, Any]) -> str:
    """``Active learning  NAME  ·  task  ·  metric``."""
    metric = f"  ·  {status['metric_name']}" if status["metric_name"] else ""
    return f"Active learning  {project.name}  ·  {status['task']}{metric}"


def summary_line(status: dict[str, Any]) -> str:
    """``labels 25/40 (15 spent, 10 seed) · pool left 90 · in flight 5 · round 3``.

    The budget counts every label, seed included (that is what the budget rule checks).
    """
    budget = status.get("budget")
    labels = f"labels {status['n_labelled']}" + (f"/{budget}" if budget else "")
    parts = [
        f"{labels} ({status['n_spent']} spent, {status['n_seed']} seed)",
        f"pool left {max(status['n_unlabelled'], 0)}",
        f"in flight {status['n_in_flight']}",
    ]
    if not budget:
        parts.append("no budget")
    return " · ".join(parts)


def decision(status: dict[str, Any]) -> Decision:
    """STOP with the rule's reason, or CONTINUE with why (no rounds yet: what to run)."""
    stop = status["stop"]
    if stop["stop"]:
        return Decision("STOP", stop["reason"], "al-stop")
    if not status["rounds"]:
        reason = f"no rounds yet: tunetui al train {status['project']}"
        return Decision("CONTINUE", reason, "al-continue")
    return Decision("CONTINUE", stop["reason"], "al-continue")


def items_title(view: ALView) -> str:
    """The items pane's title: how many of the batch still wait for a label."""
    if not view.items:
        return "to label next"
    left = sum(1 for i in view.items if i.label is None)
    return f"to label next: {left} of {len(view.items)} in flight"


def item_cells(item: ToLabelItem, text_w: int) -> tuple[str, str, str, str, str]:
    """(id, guess, score, label, text) of one items-table row, each clipped to its column."""
    label = clip(item.label, LABEL_W) if item.label is not None else "·"
    return (
        clip(item.id, ID_W),
        clip(item.guess or "-", GUESS_W),
        fmt_num(item.score, 3),
        label,
        clip(item.text, text_w),
    )


def text_width(items: list[ToLabelItem], screen_width: int) -> int:
    """What is left of the screen width for the text column, so nothing scrolls sideways.

    Each other column is as wide as its header or widest (clipped) cell, plus one cell
    of padding each side; the table has a border and a vertical scrollbar.
    """
    widths = (
        max(2, *(min(len(i.id), ID_W) for i in items)),
        max(5, *(min(len(i.guess or "-"), GUESS_W) for i in items)),
        5,
        max(5, *(min(len(i.label or "·"), LABEL_W) for i in items)),
    )
    used = sum(w + 2 for w in widths) + 2 + 2 + 2  # text padding, border, scrollbar
    return max(screen_width - used, 20)


def fmt_num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters (newlines folded, an ellipsis when cut)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
