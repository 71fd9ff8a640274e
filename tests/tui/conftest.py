"""The TUI tests' own run index: runs they make must not land in the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_run_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tunetui.runner.rundir import STATE_ENV

    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    return tmp_path / "state"
