"""`tunetui al import`: merge labels from people, all or nothing.

Label files come back from spreadsheets and scripts, so every row is checked before any is
merged, and the error names the first bad row's line and how many more there are. This
module needs neither numpy nor scikit-learn: importing labels works on a light install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError, did_you_mean
from tunetui.runner.al import state as st
from tunetui.runner.al.io import read_rows


def import_labels(project: str | Path, path: str | Path) -> int:
    """Validate a label file completely, then merge it; return how many labels were merged."""
    project = Path(project)
    state = st.load_state(project)
    rows = read_rows(path)
    merged = validate_labels(state, rows, Path(path).name, set(st.load_pool(project)))
    state.merge(merged)
    st.save_state(project, state)
    return len(merged)


def validate_labels(
    state: st.ProjectState,
    rows: list[tuple[int, dict[str, Any]]],
    name: str,
    pool_ids: set[str],
) -> dict[str, str]:
    """id -> label for good rows; any bad row raises one error naming its line (first of N)."""
    errors: list[str] = []
    out: dict[str, str] = {}
    for n, row in rows:
        ident, value, problem = _row_label(state, row, pool_ids, out)
        if problem:
            errors.append(f"{name} line {n}: {problem}")
        else:
            out[ident] = value
    if errors:
        more = f" (and {len(errors) - 1} more bad rows)" if len(errors) > 1 else ""
        raise UserError(errors[0] + more, "Fix the file; nothing was merged.")
    if not out:
        raise UserError(f"{name} holds no labels", "Give rows with id and label.")
    return out


def _row_label(
    state: st.ProjectState, row: dict[str, Any], pool_ids: set[str], so_far: dict[str, str]
) -> tuple[str, str, str]:
    """(id, label, problem): `problem` is empty for a row that can be merged."""
    ident = row.get("id")
    value = row.get(state.label_field, row.get("label"))
    if ident in (None, ""):
        return "", "", 'missing "id"'
    ident = str(ident)
    if value is None or value == "":
        return ident, "", f"missing label for id '{ident}'"
    value = value if isinstance(value, str) else str(value)
    if ident not in pool_ids:
        return ident, value, f"unknown id '{ident}'"
    if state.labels is not None and value not in state.labels:
        hint = did_you_mean(value, state.labels)
        return (
            ident,
            value,
            f"label '{value}' is not in the label set" + (f" ({hint})" if hint else ""),
        )
    if ident in so_far:
        return ident, value, f"duplicate id '{ident}' in this file"
    if ident in state.labelled:
        return ident, value, f"id '{ident}' is already labelled"
    return ident, value, ""


def read_oracle(path: str | Path, state: st.ProjectState) -> dict[str, str]:
    """id -> label from a file of known labels (`al loop` labels its batches from it)."""
    field = state.label_field
    out: dict[str, str] = {}
    name = Path(path).name
    for n, row in read_rows(path):
        if "id" not in row or (field not in row and "label" not in row):
            raise UserError(f'{name} line {n}: needs "id" and "{field}"', "Fix the oracle file.")
        value = row.get(field, row.get("label"))
        out[str(row["id"])] = value if isinstance(value, str) else str(value)
    return out
