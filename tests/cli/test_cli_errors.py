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


def test_usage_errors_are_one_line_exit_2(cli) -> None:
    # typer bundles its own click: its usage errors must not turn into "internal error".
    for argv in (("plan", "--bogus"), ("plan", "--seq", "abc"), ("gpus", "h100")):
        code, _, err = cli(*argv)
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and "internal error" not in err
        assert len(err.strip().splitlines()) == 1
        assert "--help" in err


def test_group_without_subcommand_shows_help(cli) -> None:
    code, out, _ = cli("al")
    assert code == 0 and "Commands" in out


def test_cli_does_not_need_click_itself() -> None:
    import subprocess
    import sys

    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name == 'click' or name.startswith('click.'):\n"
        "        raise ImportError('no click')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "from tunetui.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as e:\n    sys.exit(e.code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_plan_fast_path_matches_typer(monkeypatch, capsys) -> None:
    """`plan` skips typer's option machinery for speed; the answer must be the same."""
    import pytest

    from tunetui.cli import main

    argv = ["plan", "--model", "qwen2.5-7b", "--gpu", "4090", "--no-grad-ckpt", "--json"]
    outs = []
    for no_fast in ("", "1"):
        monkeypatch.setenv("TUNETUI_NO_FAST", no_fast)
        with pytest.raises(SystemExit) as exc:
            main(list(argv))
        assert exc.value.code in (0, None)
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and outs[0].startswith("{")
