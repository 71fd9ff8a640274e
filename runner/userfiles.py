"""Reading the files a user hands us, with one-line errors that name the file and the fix.

Recipes, LLaMA-Factory YAMLs, datasets, dataset_info.json and active-learning pools all
come from the user, so every way they can be wrong must end in a `UserError`, never a
traceback: the path does not exist, is a folder where a file is expected, is binary or not
UTF-8 (say at which byte and line), cannot be read, or (for JSON) is malformed or of the
wrong shape. Every reader of user files goes through here, so each of those messages is
written once.

Light module: stdlib only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError


def read_text(path: str | Path, what: str = "file", fix: str = "Check the path") -> str:
    """The UTF-8 text of `path` (a leading BOM dropped); `what` names it in errors
    ("recipe", "dataset", ...)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file", "Give the path of the file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{what} {path} not found", fix) from None
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror}", fix) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise UserError(
            f"{what} {path} is not UTF-8 text (byte {err.start}, line {line})",
            "Give a text file saved as UTF-8",
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UserError(
            f"{what} {path} is a binary file, not text (NUL byte at line {line})",
            "Give a text file saved as UTF-8",
        )
    return text


def read_json_object(path: str | Path, what: str, fix: str) -> dict[str, Any]:
    """A JSON object from `path`; bad JSON names its line, another JSON type is refused."""
    path = Path(path)
    try:
        data = json.loads(read_text(path, what))
    except json.JSONDecodeError as err:
        raise UserError(f"{path} line {err.lineno}: bad JSON ({err.msg})", fix) from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: {what} must be a JSON object", fix)
    return data


def check_writable(path: str | Path, what: str, fix: str = "Choose another path") -> None:
    """Refuse, before any work starts, a `path` that cannot be created or written: one under
    an existing *file*, or in a read-only folder. Says which path and why."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise UserError(f"{what} {path} cannot be created: {existing} is a file", fix)
    folder = existing if existing.is_dir() else existing.parent
    if path.exists() and not path.is_dir():
        folder = path.parent  # an existing file to replace: its folder must be writable
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path} is not writable ({folder} is read-only for you)", fix)
