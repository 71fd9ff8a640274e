"""User-facing errors shared by every layer.

A `UserError` is something the user can fix (a typo'd model name, a missing file, an
impossible option). The CLI prints it as one line, ``error: <problem>. <fix>``, and exits
with code 2; no traceback unless ``--debug``. Anything else that escapes is a bug.

This module is stdlib-only so the planner, runner and TUI can all raise it cheaply.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A problem the user can fix: `problem` says what is wrong, `fix` says what to do."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem.rstrip(". ")
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        """The one line the user sees."""
        return f"{self.problem}. {self.fix}" if self.fix else f"{self.problem}."


def close_matches(word: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Close matches for a typo, case-insensitive, keeping the choices' own spelling."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    hits = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=cutoff)
    return [by_lower[h] for h in hits]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``Did you mean 'x'?`` or an empty string when nothing is close."""
    hits = close_matches(word, choices, n=1)
    return f"Did you mean '{hits[0]}'?" if hits else ""


def unknown(kind: str, word: str, choices: Iterable[str], listing: str | None = None) -> UserError:
    """The standard error for an unknown name: suggestion first, else where to look."""
    choices = list(choices)
    hint = did_you_mean(word, choices)
    if not hint:
        hint = f"Run `{listing}` to see them." if listing else "Known: " + ", ".join(choices[:12])
    return UserError(f"unknown {kind} '{word}'", hint)
