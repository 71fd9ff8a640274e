"""The wizard end to end with Pilot at 80x24: from the first screen to a written recipe."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Checkbox, Input, OptionList, Select, Static
from tui_fixtures import FixedServices
from tunetui.runner.recipe_io import load_recipe
from tunetui.tui.app import TuneApp
from waiting import pilot_until


async def _wait(pilot, app: TuneApp, screen_name: str) -> None:
    """Until step `screen_name` is shown with its widgets mounted (a screen is current a
    moment before its composed widgets are)."""

    def shown() -> bool:
        screen = app.screen
        return type(screen).__name__ == screen_name and screen.is_mounted

    await pilot_until(pilot, shown, what=screen_name)
    await pilot.pause()


async def _settle(pilot, app: TuneApp) -> None:
    """Let worker threads (probe, plan, data stats) finish and their updates land."""
    await pilot_until(pilot, lambda: not any(w.is_running for w in app.workers), what="workers")
    await pilot.pause()  # the workers' call_from_thread updates


def _text(app: TuneApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def test_wizard_end_to_end_writes_recipe(tmp_path: Path, monkeypatch, cli) -> None:
    monkeypatch.chdir(tmp_path)
    services = FixedServices()

    async def scenario() -> None:
        app = TuneApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await _wait(pilot, app, "HardwareScreen")
            await _settle(pilot, app)
            assert "RTX 4090" in str(app.screen.query_one("#hw-text", Static).render())
            # this machine: the RTX 4090, then its CPU; the catalog under its heading
            await pilot.press("down", "down", "enter")  # plan for the A100 instead
            await _wait(pilot, app, "ModelScreen")
            assert app.state.gpu_key == "a100-80g"
            app.screen.query_one("#model", Input).value = "llama-3.1-8b"
            await _settle(pilot, app)
            assert "8.03 B" in str(app.screen.query_one("#model-info", Static).render())
            await pilot.press("ctrl+n")
            await _wait(pilot, app, "DataScreen")
            await _settle(pilot, app)
            info = str(app.screen.query_one("#data-info", Static).render())
            assert "identity" in info and "sample 1" in info and "p95" in info
            await pilot.press("ctrl+n")
            await _wait(pilot, app, "MethodScreen")
            await _settle(pilot, app)
            await pilot.press("ctrl+r")  # take the recommendation: qlora 4-bit r16
            await _settle(pilot, app)
            assert (app.state["method"], app.state["bits"], app.state["rank"]) == ("qlora", 4, 16)
            await pilot.press("ctrl+n")
            await _wait(pilot, app, "TrainingScreen")
            app.screen.query_one("#name", Input).value = "llama-qlora"
            app.screen.query_one("#max-steps", Input).value = "200"
            app.screen.query_one("#lr", Input).value = "1e-4"
            await pilot_until(pilot, lambda: app.state["lr"] == 1e-4, what="the typed lr")
            # Back and forth: nothing typed is lost.
            await pilot.press("escape")
            await _wait(pilot, app, "MethodScreen")
            assert app.screen.query_one("#rank", Input).value == "16"
            await pilot.press("ctrl+n")
            await _wait(pilot, app, "TrainingScreen")
            assert app.screen.query_one("#name", Input).value == "llama-qlora"
            await pilot.press("ctrl+n")
            await _wait(pilot, app, "ReviewScreen")
            await pilot.press("ctrl+s")
            await pilot_until(pilot, lambda: app.saved_recipe is not None, what="the save")

    asyncio.run(scenario())
    recipe = load_recipe(tmp_path / "recipe.yaml")
    assert recipe.name == "llama-qlora"
    assert recipe.model.name_or_path.lower().endswith("llama-3.1-8b")  # id or its HF name
    assert recipe.method == "qlora" and recipe.quantization.bits == 4
    assert recipe.lora.rank == 16 and recipe.training.gradient_checkpointing
    assert recipe.training.max_steps == 200 and recipe.training.learning_rate == 1e-4
    assert recipe.training.grad_accum == 8
    # The same choices through `tunetui init --headless` write the same recipe.
    from tunetui.runner.flags import flags_from_recipe

    (tmp_path / "headless").mkdir()
    monkeypatch.chdir(tmp_path / "headless")
    code, _, err = cli("init", "--headless", *flags_from_recipe(recipe), "-o", "recipe.yaml")
    assert code == 0, err
    headless = tmp_path / "headless" / "recipe.yaml"
    assert load_recipe(headless) == recipe
    assert headless.read_text() == (tmp_path / "recipe.yaml").read_text()


def test_vram_bar_turns_red_and_says_by_how_much(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices())
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            app.go(4)
            await _wait(pilot, app, "MethodScreen")
            await _settle(pilot, app)
            bar = app.screen.query_one("#vram-bar")
            assert "fits" in str(bar.render()) and not bar.has_class("over")
            app.screen.query_one("#batch", Input).value = "32"
            await _settle(pilot, app)
            text = str(bar.render())
            assert "DOES NOT FIT" in text and "GiB over" in text and bar.has_class("over")
            app.screen.query_one("#grad-ckpt", Checkbox).value = True
            await _settle(pilot, app)
            assert app.state["grad_ckpt"]
            app.screen.query_one("#method", Select).value = "qlora"
            await _settle(pilot, app)
            assert app.state["bits"] == 4

    asyncio.run(scenario())


def test_no_gpu_plans_for_this_machines_cpu_and_says_so_on_every_step(tmp_path: Path) -> None:
    services = FixedServices(gpus=False)

    async def scenario() -> None:
        app = TuneApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            text = _text(app, "#hw-text")
            assert "No GPU found" in text and "NVML" in text and "train on the CPU" in text
            listing = app.screen.query_one("#gpu-list", OptionList)
            assert listing.highlighted == 0
            assert "this machine: CPU, 16 cores, 126 GiB RAM" in str(
                listing.get_option_at_index(0).prompt
            )
            assert app.state.gpu_key == "cpu"  # the planner's gpu="cpu": RAM and CPU speed
            for step in range(2, 7):
                app.go(step)
                await _settle(pilot, app)
                assert "planning for: this machine's CPU" in _text(app, "#step-title"), step
                if step == 4:
                    assert services.plans[-1]["gpu"] == "cpu"
                    assert "GiB free RAM" in _text(app, "#vram-bar")

    asyncio.run(scenario())


def test_a_catalog_gpu_is_another_machine_on_every_later_step(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices(gpus=False))
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            listing = app.screen.query_one("#gpu-list", OptionList)
            assert listing.get_option_at_index(1).disabled  # the catalog's heading
            await pilot.press("down", "enter")  # the heading is skipped: the first GPU
            await _wait(pilot, app, "ModelScreen")
            assert app.state.gpu_key == "a100-80g"
            title = _text(app, "#step-title")
            assert "planning for: A100 80GB, another machine (catalog)" in title
            await pilot.press("escape")
            await _wait(pilot, app, "HardwareScreen")
            await pilot.press("home", "enter")  # back to this machine's CPU
            await _wait(pilot, app, "ModelScreen")
            assert "planning for: this machine's CPU" in _text(app, "#step-title")

    asyncio.run(scenario())


METHOD_CONTROLS = {
    "lora": {"rank"},
    "dora": {"rank"},
    "qlora": {"rank", "bits"},
    "full": set(),
    "freeze": {"trainable-layers"},
}


def test_method_step_shows_only_the_controls_of_the_chosen_method(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices())
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            app.go(4)
            await _wait(pilot, app, "MethodScreen")
            for method, shown in METHOD_CONTROLS.items():
                app.screen.query_one("#method", Select).value = method
                await pilot_until(pilot, lambda m=method: app.state["method"] == m, what=method)
                for name in ("rank", "bits", "trainable-layers"):
                    field = app.screen.query_one(f"#{name}-field")
                    assert field.display == (name in shown), (method, name)
                for name in ("optim", "precision", "batch", "grad-accum", "cutoff-len"):
                    assert app.screen.query_one(f"#{name}-field").display, (method, name)
            app.screen.query_one("#trainable-layers", Input).value = "4"
            await pilot_until(pilot, lambda: app.state["trainable_layers"] == 4, what="layers")
            assert app.state.to_recipe().freeze.trainable_layers == 4

    asyncio.run(scenario())


def test_optimizer_and_precision_are_chosen_in_the_wizard(tmp_path: Path) -> None:
    services = FixedServices()

    async def scenario() -> None:
        app = TuneApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            app.go(4)
            await _wait(pilot, app, "MethodScreen")
            await _settle(pilot, app)
            app.screen.query_one("#optim", Select).value = "adamw_8bit"
            app.screen.query_one("#precision", Select).value = "fp16"
            await pilot_until(
                pilot,
                lambda: (
                    services.plans[-1]["optim"] == "adamw_8bit"
                    and services.plans[-1]["precision"] == "fp16"
                ),
                what="a plan with the chosen optimizer and precision",
            )
            recipe = app.state.to_recipe()
            assert (recipe.training.optimizer, recipe.training.precision) == ("adamw_8bit", "fp16")
            # the recommendation's optimizer reaches the screen too
            await pilot.press("ctrl+r")
            await pilot_until(pilot, lambda: app.state["optim"] == "adamw", what="ctrl+r")
            assert app.screen.query_one("#optim", Select).value == "adamw"

    asyncio.run(scenario())


def test_review_saves_again_launches_and_refuses_foreign_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "theirs.yaml").write_text("name: keep-me\n")
    services = FixedServices(real_data=False)

    async def scenario() -> None:
        app = TuneApp(services=services, runs_root=tmp_path / "runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            app.go(6)
            await _wait(pilot, app, "ReviewScreen")
            await pilot.press("ctrl+s")
            saved = tmp_path / "recipe.yaml"
            await pilot_until(pilot, saved.is_file, what="recipe.yaml saved")
            app.state["name"] = "second"
            await pilot.press("ctrl+s")  # our own file: saved again
            await pilot_until(pilot, lambda: "name: second" in saved.read_text(), what="resave")
            assert load_recipe(saved).name == "second"
            app.screen.query_one("#recipe-path", Input).value = "theirs.yaml"
            await pilot_until(pilot, lambda: app.state.recipe_path == "theirs.yaml")
            await pilot.press("ctrl+r")  # refuses: someone else's file; nothing launched
            await _settle(pilot, app)
            assert (tmp_path / "theirs.yaml").read_text() == "name: keep-me\n"
            assert services.launched == []
            app.screen.query_one("#recipe-path", Input).value = "new.yaml"
            await pilot_until(pilot, lambda: app.state.recipe_path == "new.yaml")
            await pilot.press("ctrl+r")
            await _settle(pilot, app)
            assert services.launched == [Path("new.yaml")]
            assert type(app.screen).__name__ == "DashboardScreen"
            await pilot.press("q")
            await _wait(pilot, app, "ReviewScreen")

    asyncio.run(scenario())


def test_unknown_dataset_is_one_line_in_the_data_panel(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices())
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            app.go(3)
            await _wait(pilot, app, "DataScreen")
            app.screen.query_one("#dataset", Input).value = "identiti"
            info = app.screen.query_one("#data-info", Static)
            await pilot_until(pilot, lambda: "identiti" in str(info.render()), what="the error")
            assert "Traceback" not in str(info.render())

    asyncio.run(scenario())


def test_runs_screen_opens_a_finished_run(tmp_path: Path) -> None:
    from tui_fixtures import event, training_events, write_run

    root = tmp_path / "runs"
    write_run(root / "done", [*training_events(10, 10), event("end", 11, step=10)])

    async def scenario() -> None:
        app = TuneApp(services=FixedServices(real_data=False), runs_root=root)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            await pilot.press("ctrl+o")
            await _wait(pilot, app, "RunsScreen")
            await pilot.press("enter")
            await _wait(pilot, app, "DashboardScreen")
            await pilot_until(pilot, lambda: app.screen.view.status == "finished", what="replay")
            assert app.screen.view.status == "finished" and app.screen.view.step == 10
            await pilot.press("q")
            await _wait(pilot, app, "RunsScreen")
            await pilot.press("escape")
            await _wait(pilot, app, "HardwareScreen")

    asyncio.run(scenario())


def test_enter_in_a_field_goes_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices(real_data=False))
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(pilot, app)
            app.go(2)
            await _wait(pilot, app, "ModelScreen")
            app.screen.query_one("#model", Input).focus()
            await pilot.press("enter")
            await _wait(pilot, app, "DataScreen")

    asyncio.run(scenario())
