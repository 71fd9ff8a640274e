"""The wizard's data, method and review steps at 80x24: what they show and where."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Input, Static
from tui_fixtures import FixedServices
from tunetui.tui.app import TuneApp
from tunetui.tui.screens.method import describe_choice
from tunetui.tui.services import PlanInfo, Services, speed_text
from tunetui.tui.widgets.vram_bar import render_bar
from waiting import pilot_until

LF_DATA = Path(__file__).resolve().parents[1] / "fixtures" / "llamafactory"


async def _show_step(pilot, app: TuneApp, step: int) -> None:
    app.go(step)
    await pilot_until(pilot, lambda: app.screen.is_mounted and step == app.screen.STEP)
    await pilot_until(pilot, lambda: not any(w.is_running for w in app.workers), what="workers")
    await pilot.pause()


def test_only_datasets_usable_here_are_listed() -> None:
    names, hidden = Services().dataset_names(str(LF_DATA))
    assert "identity" in names and "alpaca_en_demo" in names
    # hub-only entries (no file_name) and a listed file that is not there
    assert not {"alpaca_en", "ultrachat_200k", "mllm_demo"} & set(names)
    assert hidden == 5


def test_data_step_with_a_llamafactory_folder_scrolls_with_pagedown() -> None:
    async def scenario() -> None:
        app = TuneApp(services=FixedServices())
        async with app.run_test(size=(80, 24)) as pilot:
            await _show_step(pilot, app, 3)
            app.screen.query_one("#dataset-dir", Input).value = str(LF_DATA)
            app.screen.query_one("#dataset", Input).value = "alpaca_en_demo,identity"
            known = app.screen.query_one("#known", Static)
            await pilot_until(pilot, lambda: "alpaca_zh_demo" in str(known.render()))
            text = str(known.render())
            assert "alpaca_en," not in text and "ultrachat" not in text
            assert "5 more in dataset_info.json are on a hub or missing here" in text
            info = app.screen.query_one("#data-info", Static)
            await pilot_until(pilot, lambda: "sample 3" in str(info.render()), what="previews")
            form = app.screen.query_one("#data-form", VerticalScroll)
            assert form.max_scroll_y > 0  # more than 80x24 holds: it must scroll
            app.screen.query_one("#dataset", Input).focus()
            await pilot.press("pagedown")
            await pilot_until(pilot, lambda: form.scroll_y > 0, what="PageDown to scroll")

    asyncio.run(scenario())


def test_save_reports_on_a_status_line_not_a_toast_over_the_buttons(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        app = TuneApp(services=FixedServices(real_data=False))
        async with app.run_test(size=(80, 24)) as pilot:
            await _show_step(pilot, app, 6)
            await pilot.press("ctrl+s")
            status = app.screen.query_one("#status", Static)
            await pilot_until(pilot, lambda: "saved" in str(status.render()), what="the save")
            assert "tunetui run recipe.yaml" in str(status.render())
            assert len(app.screen.query("Toast")) == 0
            buttons = app.screen.query_one("#review-actions").region
            assert not status.region.overlaps(buttons)

    asyncio.run(scenario())


def test_throughput_is_labelled_as_a_throughput() -> None:
    text = speed_text({"tokens_per_s": [120.0, 260.0], "seconds_total": [1500, 3300]})
    assert text == "120-260 tok/s, whole run ~25m-55m"
    bar = render_bar(PlanInfo(total_gib=2.0, gpu_gib=8.0, speed_text=text)).plain
    assert "throughput: 120-260 tok/s" in bar and "time:" not in bar
    assert "GiB free GPU memory" in bar
    cpu = render_bar(PlanInfo(total_gib=2.0, gpu_gib=8.0, device="cpu")).plain
    assert "2.0 / 8.0 GiB free RAM" in cpu


def test_alternatives_that_differ_in_optimizer_read_differently() -> None:
    rec = {"method": "full", "bits": 16, "batch": 16, "grad_accum": 1, "cutoff_len": 1024,
           "grad_ckpt": True, "optim": "adamw", "precision": "fp32"}  # fmt: skip
    plain, eight = describe_choice(rec), describe_choice({**rec, "optim": "adamw_8bit"})
    assert plain != eight
    assert plain == "full, adamw, fp32, batch 16x1, seq 1024, ckpt"  # no "16-bit" for full


def test_recommendation_on_several_gpus_sets_the_strategy_not_the_count() -> None:
    from tunetui.tui.state import WizardState

    state = WizardState()
    state.gpu_count = 8
    state.apply_recommendation({"method": "lora", "batch": 4, "gpus": 8, "parallel": "fsdp"})
    assert (state["parallel"], state["gpus"], state.planned_gpus) == ("fsdp", None, 8)
    state.apply_recommendation({"method": "lora", "batch": 4, "gpus": 1, "parallel": "none"})
    assert state["parallel"] == "fsdp"  # a one-GPU pick says nothing about the strategy


def test_plan_request_is_per_gpu_under_the_chosen_strategy() -> None:
    """The wizard's request, planned for real: 8B full on 4 x 4090 under zero3 holds a
    quarter of the weights and states per GPU; with strategy none it is one GPU's plan."""
    from tunetui.planner.plan import build_plan
    from tunetui.tui.state import WizardState

    state = WizardState.with_values(model="llama-3.1-8b", method="full", gpus=4)
    state.gpu_name, state.gpu_key = "NVIDIA GeForce RTX 4090", "4090"
    single = build_plan(**state.plan_request())
    state.set_parallel("zero3")
    sharded = build_plan(**state.plan_request())
    assert single["recommendation"]["parallel"] == "none"
    assert (sharded["recommendation"]["parallel"], sharded["hardware"]["n_gpus"]) == ("zero3", 4)
    one, four = single["estimate"]["breakdown_gib"], sharded["estimate"]["breakdown_gib"]
    for term in ("weights", "optimizer"):  # sharded 4 ways; activations are per rank
        assert four[term] == pytest.approx(one[term] / 4, rel=0.01)
    assert sharded["estimate"]["total_gib"] < single["estimate"]["total_gib"]
    assert state.target_text == "4 x RTX 4090 (zero3), another machine (catalog)"


def test_several_gpus_of_a_kind_are_one_entry_and_one_line() -> None:
    from tunetui.tui.screens.hardware import choice_option, gpu_groups, group_choice, hardware_text
    from tunetui.tui.services import GpuChoice, MachineView

    gpus = [GpuChoice("H100", 79.6, free) for free in (79.0, 70.5, 79.0)] + [
        GpuChoice("A10", 22.5, 22.0)
    ]
    groups = gpu_groups(gpus)
    assert [len(g) for g in groups] == [3, 1]
    assert group_choice(groups[0]).free_gib == 70.5  # sized by the fullest
    assert "3 x H100  80 GiB each" in str(choice_option(group_choice(groups[0]), 3).prompt)
    text = hardware_text(MachineView(gpus=gpus))
    assert "GPU 0-2: 3 x H100  79.6 GiB each, 70.5-79.0 GiB free" in text
    assert "GPU 3: A10" in text


def test_a_recommendation_over_several_gpus_reads_with_its_strategy() -> None:
    rec = {"method": "full", "batch": 2, "grad_accum": 1, "cutoff_len": 1024, "grad_ckpt": True,
           "optim": "adamw_fused", "precision": "bf16", "total_gib": 18.9}  # fmt: skip
    assert describe_choice({**rec, "gpus": 4, "parallel": "zero3"}).endswith(
        "ckpt, zero3 x4, 18.9 GiB"
    )
    assert describe_choice({**rec, "gpus": 1, "parallel": "none"}) == describe_choice(rec)
