"""A mistyped run or model name, given to any command that takes RUN|MODEL, says both."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "command", [["export"], ["chat", "--prompt", "hi"], ["eval", "--data", "identity"]]
)
def test_a_name_that_is_neither_offers_the_nearest_of_both(cli, fake_runs, command) -> None:
    from tunetui.runner import launcher

    launch = launcher.start_run(fake_runs("sft-run", max_steps=2))
    assert launch.process.wait(timeout=30) == 0
    code, _, err = cli(command[0], "sftrun", *command[1:])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no run or model named 'sftrun'" in err and "Did you mean 'sft-run'?" in err
    code, _, err = cli(command[0], "smollm2-13", *command[1:])
    assert code == 2 and "Did you mean 'smollm2-135m'?" in err, err
