"""Labels given in the terminal (`tunetui al label`), saved one by one until merged.

Every key a labeller presses is written at once to ``DIR/labelling.json`` (atomically,
through `runner.rundir.write_atomic`), so a dropped SSH session or a killed terminal loses
nothing: the next `al label` starts where the last one stopped. Leaving the screen merges
the answers into `state.json` through the same validation as `al import` (the label must
be in the label set, the id in flight), and removes the file. Light: no numpy, so
labelling works on a core install.

The file::

    {"answers": {"x12": "pos", ...}, "skipped": ["x14"], "order": ["x12", "x13", ...]}

`order` is the batch as it was when labelling started, so positions survive a new
`to_label.jsonl` written meanwhile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.al import state as st
from tunetui.runner.al.io import write_json


@dataclass
class Answers:
    """What the labeller has done so far in this batch."""

    answers: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)


def load_answers(project: str | Path) -> Answers:
    """The answers in flight (empty when there is no file); a damaged file is a UserError."""
    path = Path(project) / st.LABELLING_FILE
    if not path.is_file():
        return Answers()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Answers(
            {str(k): str(v) for k, v in data.get("answers", {}).items()},
            [str(i) for i in data.get("skipped", [])],
            [str(i) for i in data.get("order", [])],
        )
    except (json.JSONDecodeError, AttributeError, TypeError) as err:
        raise UserError(
            f"{path} is damaged ({err})", "Fix or delete it (its answers are then lost)."
        ) from None


def save_answers(project: str | Path, answers: Answers) -> None:
    """Write the answers atomically (called after every key that changes them)."""
    write_json(
        Path(project) / st.LABELLING_FILE,
        {"answers": answers.answers, "skipped": answers.skipped, "order": answers.order},
    )


def merge_answers(project: str | Path) -> int:
    """Merge the saved answers into state.json (validated like `al import`); remove the
    file. Answers for ids no longer in flight (imported meanwhile) are dropped."""
    from tunetui.runner.al.labels import validate_labels

    project = Path(project)
    saved = load_answers(project)
    state = st.load_state(project)
    in_flight = set(state.in_flight)
    rows = [
        (n, {"id": i, "label": y})
        for n, (i, y) in enumerate(saved.answers.items(), start=1)
        if i in in_flight
    ]
    merged = validate_labels(state, rows, st.LABELLING_FILE, in_flight) if rows else {}
    if merged:
        state.merge(merged)
        st.save_state(project, state)
    (project / st.LABELLING_FILE).unlink(missing_ok=True)
    return len(merged)
