"""Waiting on a condition instead of a fixed sleep, for tests that follow live runs.

A fixed ``time.sleep``/``pilot.pause(N)`` is either too long (a slow suite) or too short on
a loaded machine (a flaky one). These poll a predicate until it holds or a deadline passes,
and fail with the caller's description of what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEFAULT_TIMEOUT_S = 20.0


def wait_until(
    check: Callable[[], Any],
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "condition",
    interval: float = 0.02,
) -> Any:
    """Poll ``check`` every ``interval`` s until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return value


async def pilot_until(
    pilot: Any, check: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT_S, what: str = ""
) -> None:
    """The same inside a Textual Pilot: each ``pilot.pause()`` lets timers, workers and
    repaints run once, then ``check`` is asked again."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or check}")
        await pilot.pause()


async def replayed_dashboard(pilot: Any) -> Any:
    """The app's `DashboardScreen` once it has shown the run's history so far."""
    from tunetui.tui.dashboard import DashboardScreen

    def ready() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, DashboardScreen) and screen.replayed

    await pilot_until(pilot, ready, what="the dashboard's replay")
    return pilot.app.screen


def follow_to_the_end(launch: Any, out: Any, **options: Any) -> int:
    """`runner.console.follow` on a run the launcher just started, polling every 20 ms,
    until the run ends; returns the exit code (the text is in ``out``)."""
    from tunetui.runner.console import follow

    return follow(
        launch.run_dir,
        tail=launch.tail,
        history=launch.history,
        process=launch.process,
        out=out,
        poll_s=0.02,
        **options,
    )
