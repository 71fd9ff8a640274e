"""The wizard's data, method and review steps at 80x24: what they show and where."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
