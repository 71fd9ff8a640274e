"""CLI conventions: one-line errors, exit code 2, close-match suggestions."""

from __future__ import annotations


def test_help_lists_commands(cli) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    for name in ("plan", "probe", "run", "init"):
        assert name in out


def test_version(cli) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("tunetui ")


def test_unknown_command_suggests(cli) -> None:
    code, _, err = cli("plna")
    assert code == 2
    assert "unknown command 'plna'" in err and "'plan'" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
