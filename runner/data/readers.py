"""Reading raw records from data files, each with the line it starts on.

Errors in user data must point at a line ("data.json line 37: ..."), so readers yield
`(line, record)` pairs. JSON arrays are walked element by element with `raw_decode` to know
where each record starts; JSONL is one record per line; plain text is one `{"text": line}`
per non-empty line (as LLaMA-Factory reads .txt); CSV rows become dicts keyed by header.

Light module: stdlib only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.userfiles import read_text

Record = tuple[int, Any]

# One record longer than this is refused at validation. A single 200 MB record once grew the
# worker past 15 GB before its first step; no sample needs more than a million characters
# (~250k tokens, far beyond any cutoff_len: a longer text is cut there anyway).
MAX_RECORD_CHARS = 1_000_000


def _capped(path: Path, line: int, size: int) -> None:
    if size > MAX_RECORD_CHARS:
        raise UserError(
            f"{path.name} line {line}: one record is {size:,} characters, over the "
            f"{MAX_RECORD_CHARS:,}-character limit per record",
            "Split it into several records (anything past cutoff_len is cut anyway)",
        )


def _read_text(path: Path) -> str:
    return read_text(path, "dataset", "Check data.datasets and data.dataset_dir")


def _bad_json(path: Path, exc: json.JSONDecodeError, line: int | None = None) -> UserError:
    return UserError(
        f"{path.name} line {line or exc.lineno}: bad JSON ({exc.msg})",
        "Fix that line (one JSON object per record)",
    )


def _json_array(path: Path, text: str) -> Iterator[Record]:
    decoder = json.JSONDecoder()
    n = len(text)
    i = 0
    line = 1

    def skip(i: int, line: int) -> tuple[int, int]:
        while i < n and text[i] in " \t\r\n":
            line += text[i] == "\n"
            i += 1
        return i, line

    i, line = skip(i, line)
    i += 1  # the '['
    while True:
        i, line = skip(i, line)
        if i >= n:
            raise UserError(f"{path.name} line {line}: JSON array not closed", "Add the final ']'")
        if text[i] == "]":
            return
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise _bad_json(path, exc) from None
        _capped(path, line, end - i)
        yield line, obj
        line += text.count("\n", i, end)
        i, line = skip(end, line)
        if i < n and text[i] == ",":
            i += 1
        elif i < n and text[i] != "]":
            raise UserError(f"{path.name} line {line}: expected ',' or ']'", "Fix the JSON array")


def _jsonl(path: Path, text: str) -> Iterator[Record]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        _capped(path, number, len(raw))
        try:
            yield number, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _bad_json(path, exc, number) from None


def _csv_rows(path: Path, text: str) -> Iterator[Record]:
    # csv's own field limit (128 KiB) would raise before our cap could name the line.
    csv.field_size_limit(2**31 - 1)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            _capped(path, reader.line_num, sum(len(v or "") for v in row.values() if v))
            yield reader.line_num, dict(row)
    except csv.Error as exc:
        raise UserError(
            f"{path.name} line {reader.line_num}: bad CSV ({exc})", "Fix that row"
        ) from None


def read_records(path: Path) -> Iterator[Record]:
    """Yield `(line, record)` for every record in a .json/.jsonl/.txt/.csv file."""
    suffix = path.suffix.lower()
    text = _read_text(path)
    if suffix == ".csv":
        yield from _csv_rows(path, text)
        return
    if suffix == ".txt":
        for number, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                _capped(path, number, len(raw))
                yield number, {"text": raw}
        return
    stripped = text.lstrip()
    if suffix == ".json" and stripped.startswith("["):
        yield from _json_array(path, text)
    elif suffix == ".json" and stripped.startswith("{") and "\n{" not in stripped:
        _capped(path, 1, len(text))
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad_json(path, exc) from None
        yield 1, obj
    else:  # .jsonl, or a .json that is really JSON lines
        yield from _jsonl(path, text)
