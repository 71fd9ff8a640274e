"""Reading label files with line numbers, and writing files atomically.

Human label files come from spreadsheets and scripts, so every bad row must be reported
with its line number and nothing may be merged from a file that has one. Writes go to a
temp file in the same directory and are renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.userfiles import read_text


def read_rows(path: str | os.PathLike[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs from a `.jsonl`/`.json` lines file or a `.csv` with a header.

    Raises `UserError` naming the file and line for a missing file or a malformed line.
    """
    p = Path(path)
    # missing, a folder, not UTF-8, binary: one line naming the file (runner.userfiles)
    text = read_text(p, "file", "Check the path")
    if p.suffix.lower() == ".csv":
        return list(_csv_rows(p, text))
    return list(_jsonl_rows(p, text))


def _jsonl_rows(p: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(
                f"{p.name} line {n}: not valid JSON ({err.msg})",
                "Write one JSON object per line.",
            ) from None
        if not isinstance(row, dict):
            raise UserError(
                f"{p.name} line {n}: expected a JSON object", "Write one object per line."
            )
        yield n, row


def _csv_rows(p: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise UserError(f"{p.name}: empty CSV", "Give a header row, e.g. id,label.")
    for row in reader:
        # line_num counts physical lines read so far, so quoted newlines stay correct.
        yield reader.line_num, {k: v for k, v in row.items() if k is not None}


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` via a temp file and rename (the runner's one implementation)."""
    from tunetui.runner.rundir import write_atomic

    write_atomic(Path(path), text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write pretty JSON."""
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> None:
    """Atomically write one JSON object per line."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_csv(path: str | os.PathLike[str], rows: list[dict[str, Any]], fields: list[str]) -> None:
    """Atomically write a CSV with a header (for spreadsheet users)."""
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
