"""The wizard and `init --headless` write the same recipe for the same choices.

Both derive from the option table (`tunetui.options`); this guards the places a wizard can
still differ: defaults it fills in itself (it used to write ``learning_rate: 2e-4`` for
every stage, 40x too high for DPO + LoRA), and how a screen stores what was typed. The
flags below are written by hand, not generated from the recipe, so a round trip through the
same code cannot hide a difference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from gpu_fixtures import FourGpus
from textual.widgets import Input, Select
from tui_fixtures import FixedServices
from tunetui.runner.recipe_io import save_recipe
from tunetui.tui.app import TuneApp
from tunetui.tui.state import WizardState
from waiting import pilot_until

from tunetui.options import METHODS, STAGES

DATASET = {"sft": "identity", "pt": "pretrain_demo", "dpo": "dpo_demo", "kto": "kto_demo",
           "orpo": "dpo_demo", "rm": "dpo_demo"}  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stage", STAGES)
def test_same_recipe_for_every_stage_and_method(stage: str, method: str, cli, tmp_path) -> None:
    state = WizardState()
    state["name"], state["stage"], state["dataset"] = "same", stage, [DATASET[stage]]
    state.set_method(method)
    state["rank"], state["batch"], state["grad_accum"] = 16, 1, 8  # rank: hidden unless LoRA
    (tmp_path / "wizard").mkdir(), (tmp_path / "flags").mkdir()
    save_recipe(state.to_recipe(), tmp_path / "wizard" / "recipe.yaml")
    bits = ["--bits", "4"] if method == "qlora" else []
    rank = ["--rank", "16"] if method in ("lora", "dora", "qlora") else []
    code, _, err = cli(
        "init", "--headless", "-o", str(tmp_path / "flags" / "recipe.yaml"), "--name", "same",
        "--stage", stage, "--method", method, "--dataset", DATASET[stage], *rank,
        "--batch", "1", "--grad-accum", "8", *bits,
    )  # fmt: skip
    assert code == 0, err
    wizard = (tmp_path / "wizard" / "recipe.yaml").read_text()
    assert wizard == (tmp_path / "flags" / "recipe.yaml").read_text()


def test_typed_fields_reach_the_recipe_like_flags(cli, tmp_path: Path, monkeypatch) -> None:
    """Values typed into the real screens equal the same values given as flags."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wizard").mkdir(), (tmp_path / "flags").mkdir()

    async def scenario() -> None:
        app = TuneApp(services=FixedServices(real_data=False))
        async with app.run_test(size=(80, 24)) as pilot:

            async def step(n: int) -> None:
                app.go(n)
                await pilot_until(pilot, lambda: n == app.screen.STEP and app.screen.is_mounted)
                await pilot.pause()

            def typed(**values: object) -> Callable[[], bool]:
                return lambda: all(app.state[k] == v for k, v in values.items())

            await step(3)
            app.screen.query_one("#cutoff-len", Input).value = "512"
            await pilot_until(pilot, typed(cutoff_len=512), what="cutoff_len")
            await step(4)
            app.screen.query_one("#rank", Input).value = "32"
            app.screen.query_one("#grad-accum", Input).value = "2"
            await pilot_until(pilot, typed(rank=32, grad_accum=2), what="rank, grad_accum")
            await step(5)
            app.screen.query_one("#name", Input).value = "typed"
            app.screen.query_one("#max-steps", Input).value = "7"
            app.screen.query_one("#lr", Input).value = "3e-5"
            await pilot_until(pilot, typed(name="typed", max_steps=7, lr=3e-5), what="step 5")
            save_recipe(app.state.to_recipe(), tmp_path / "wizard" / "recipe.yaml")

    asyncio.run(scenario())
    code, _, err = cli(
        "init", "--headless", "-o", str(tmp_path / "flags" / "recipe.yaml"), "--name", "typed",
        "--method", "lora", "--cutoff-len", "512", "--rank", "32", "--grad-accum", "2",
        "--max-steps", "7", "--lr", "3e-5",
    )  # fmt: skip
    assert code == 0, err
    wizard = (tmp_path / "wizard" / "recipe.yaml").read_text()
    assert wizard == (tmp_path / "flags" / "recipe.yaml").read_text()


# ------------------------------------------------------------- several GPUs (issue 14)

SPREADS = [("ddp", "none"), ("zero2", "none"), ("zero3", "none"), ("zero3", "cpu"),
           ("fsdp", "none"), ("fsdp", "cpu")]  # fmt: skip


@pytest.mark.parametrize("parallel,offload", SPREADS)
def test_same_distributed_section_as_init_flags(parallel: str, offload: str, cli, tmp_path) -> None:
    state = WizardState.with_values(name="spread", gpus=4)
    state.set_parallel(parallel)
    state["offload"] = offload
    (tmp_path / "wizard").mkdir(), (tmp_path / "flags").mkdir()
    save_recipe(state.to_recipe(), tmp_path / "wizard" / "recipe.yaml")
    code, _, err = cli(
        "init", "--headless", "-o", str(tmp_path / "flags" / "recipe.yaml"), "--name", "spread",
        "--parallel", parallel, "--gpus", "4", "--offload", offload, "--batch", "2",
    )  # fmt: skip
    assert code == 0, err
    wizard = (tmp_path / "wizard" / "recipe.yaml").read_text()
    assert wizard == (tmp_path / "flags" / "recipe.yaml").read_text()


def test_a_strategy_that_cannot_offload_resets_offload() -> None:
    state = WizardState.with_values(gpus=2, parallel="zero3", offload="cpu")
    state.set_parallel("ddp")
    assert state["offload"] == "none"
    assert state.to_recipe().distributed.offload == "none"  # the recipe would refuse cpu


def test_strategy_chosen_on_the_screens_lands_like_flags(cli, tmp_path: Path, monkeypatch) -> None:
    """Four GPUs probed: step 1 offers the strategy (zero3, then offload cpu) and a count;
    step 4 offers it again (changed to fsdp there); the recipe equals the flags'."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wizard").mkdir(), (tmp_path / "flags").mkdir()

    async def scenario() -> None:
        app = TuneApp(services=FourGpus(real_data=False))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await pilot_until(pilot, lambda: app.state.gpu_count == 4, what="the probe")
            assert screen.query_one("#parallel", Select).display
            assert not screen.query_one("#offload", Select).display  # strategy none
            screen.query_one("#parallel", Select).value = "zero3"
            await pilot_until(pilot, lambda: screen.query_one("#offload", Select).display)
            screen.query_one("#offload", Select).value = "cpu"
            screen.query_one("#gpus", Input).value = "2"
            await pilot_until(
                pilot, lambda: (app.state["offload"], app.state["gpus"]) == ("cpu", 2)
            )
            app.go(4)
            await pilot_until(pilot, lambda: app.screen.STEP == 4 and app.screen.is_mounted)
            method = app.screen
            await pilot_until(pilot, lambda: method.query_one("#parallel-field").display)
            assert method.query_one("#parallel", Select).value == "zero3"
            method.query_one("#parallel", Select).value = "fsdp"
            await pilot_until(pilot, lambda: app.state["parallel"] == "fsdp", what="fsdp")
            assert app.state["offload"] == "cpu"  # fsdp offloads too: kept
            app.go(1)  # step 1 shows what step 4 chose
            await pilot_until(pilot, lambda: app.screen is screen)
            await pilot_until(pilot, lambda: screen.query_one("#parallel", Select).value == "fsdp")
            save_recipe(app.state.to_recipe(), tmp_path / "wizard" / "recipe.yaml")

    asyncio.run(scenario())
    code, _, err = cli(
        "init", "--headless", "-o", str(tmp_path / "flags" / "recipe.yaml"),
        "--parallel", "fsdp", "--gpus", "2", "--offload", "cpu", "--batch", "2",
    )  # fmt: skip
    assert code == 0, err
    wizard = (tmp_path / "wizard" / "recipe.yaml").read_text()
    assert wizard == (tmp_path / "flags" / "recipe.yaml").read_text()


def test_one_gpu_offers_no_strategy_until_a_count_is_given() -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices(real_data=False))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await pilot_until(pilot, lambda: app.state.gpu_name is not None, what="the probe")
            await pilot.pause()
            assert not screen.query_one("#parallel", Select).display
            screen.query_one("#gpus", Input).value = "4"  # as `tunetui init --gpus 4` would
            await pilot_until(pilot, lambda: screen.query_one("#parallel", Select).display)
            assert app.state.multi_gpu and app.state.plan_request()["gpus"] == 4

    asyncio.run(scenario())
