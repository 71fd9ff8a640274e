"""The labelling screen's model: one item at a time, answers saved at every key (no Textual).

`LabelSession.open(project)` reads the batch in flight (`to_label.jsonl` rows whose ids are
still in flight) and the answers saved so far (`runner.al.labelling`), and starts at the
first item with no answer. Every change (answer, skip, undo) is saved before the method
returns, so what is on screen is what is on disk. Undo walks back through this session's
changes; back/next only move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.labelling import Answers, load_answers, save_answers
from tunetui.tui.alview import ToLabelItem, load_view

MAX_KEYS = 9  # number keys 1-9 pick a label; larger label sets type the label instead


@dataclass
class LabelSession:
    project: Path
    items: list[ToLabelItem]
    labels: list[str] | None  # None: free-text answers (generate)
    saved: Answers
    pos: int = 0
    undo_stack: list[tuple[str, str | None, bool]] = field(default_factory=list)

    @classmethod
    def open(cls, project: str | Path) -> LabelSession:
        """The batch in flight with the answers saved so far; UserError when there is none."""
        project = Path(project)
        state = st.load_state(project)
        view = load_view(project)
        if view.error:
            raise UserError(view.error, "Fix the project first.")
        in_flight = set(state.in_flight)
        saved = load_answers(project)
        by_id = {i.id: i for i in view.items if i.id in in_flight}
        order = [i for i in saved.order if i in by_id] or list(by_id)
        if not order:
            raise UserError(
                "nothing in flight to label",
                f"Select a batch first: tunetui al select {project} --k 50",
            )
        saved.order = order
        session = cls(project, [by_id[i] for i in order], state.labels, saved)
        session.pos = session.first_open()
        return session

    # -- reading -------------------------------------------------------------------------
    @property
    def item(self) -> ToLabelItem:
        return self.items[self.pos]

    def answer_of(self, ident: str) -> str | None:
        return self.saved.answers.get(ident)

    def first_open(self, start: int = 0) -> int:
        """The first item at or after `start` (wrapping) with no answer and not skipped;
        `start` itself when every item is answered or skipped."""
        n = len(self.items)
        for step in range(n):
            i = (start + step) % n
            ident = self.items[i].id
            if ident not in self.saved.answers and ident not in self.saved.skipped:
                return i
        return min(start, n - 1)

    @property
    def n_answered(self) -> int:
        return sum(1 for i in self.items if i.id in self.saved.answers)

    @property
    def done(self) -> bool:
        return self.n_answered == len(self.items)

    def progress_line(self) -> str:
        skipped = sum(1 for i in self.items if i.id in self.saved.skipped)
        extra = f", {skipped} skipped" if skipped else ""
        return f"item {self.pos + 1}/{len(self.items)} · {self.n_answered} answered{extra}"

    @property
    def typed(self) -> bool:
        """Answers are typed: free text, or a label set too big for the number keys."""
        return self.labels is None or len(self.labels) > MAX_KEYS

    def label_for_key(self, key: str) -> str | None:
        """The label a number key picks (1 = the first label), or None."""
        if self.typed or not self.labels or not key.isdigit() or key == "0":
            return None
        n = int(key)
        return self.labels[n - 1] if n <= min(len(self.labels), MAX_KEYS) else None

    def choices_line(self) -> str:
        if not self.labels:
            return "type the answer, Enter saves it"
        if self.typed:
            return "type one of: " + ", ".join(self.labels)
        keys = "   ".join(f"{n} {lab}" for n, lab in enumerate(self.labels[:MAX_KEYS], start=1))
        return keys + "  ·  s skip  b back  u undo  q save & quit"

    # -- changes (each saved at once) ---------------------------------------------------
    def _change(self, ident: str, value: str | None, skipped: bool) -> None:
        self.undo_stack.append((ident, self.saved.answers.get(ident), ident in self.saved.skipped))
        self._set(ident, value, skipped)

    def _set(self, ident: str, value: str | None, skipped: bool) -> None:
        if value is None:
            self.saved.answers.pop(ident, None)
        else:
            self.saved.answers[ident] = value
        self.saved.skipped = [i for i in self.saved.skipped if i != ident]
        if skipped:
            self.saved.skipped.append(ident)
        save_answers(self.project, self.saved)

    def answer(self, value: str) -> None:
        """Give the current item `value` (must be in the label set, if there is one)."""
        value = value.strip()
        if not value:
            return
        if self.labels is not None and value not in self.labels:
            raise UserError(f"'{value}' is not in the label set", ", ".join(self.labels))
        self._change(self.item.id, value, False)
        self.pos = self.first_open(self.pos + 1)

    def skip(self) -> None:
        """Leave the current item unanswered for now (it stays in flight)."""
        self._change(self.item.id, None, True)
        self.pos = self.first_open(self.pos + 1)

    def move(self, step: int) -> None:
        self.pos = max(0, min(len(self.items) - 1, self.pos + step))

    def undo(self) -> bool:
        """Take back the last change of this session; False when there is none."""
        if not self.undo_stack:
            return False
        ident, value, skipped = self.undo_stack.pop()
        self._set(ident, value, skipped)
        self.pos = next(n for n, i in enumerate(self.items) if i.id == ident)
        return True
