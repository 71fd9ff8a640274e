"""Measured vs planned memory, and the calibration file later plans learn from (issue 13 §2).

Everything here runs on CPU, where the measurement is the process's peak RSS; the cache
(and so the calibration file) is a tmp folder through ``$TUNETUI_CACHE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from tunetui.planner.calibration import FORMULA, Measurement, correction, job_key
from tunetui.runner.events import EventWriter, read_events

JOB = {"gpu": "CPU", "architecture": "llama", "method": "lora", "bits": 16, "seq": 64,
       "batch": 2, "precision": "fp32", "formula": FORMULA, "grad_ckpt": False}  # fmt: skip


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The calibration file in its default place, a temp cache (conftest moves it away)."""
    monkeypatch.setenv("TUNETUI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TUNETUI_CALIBRATION", raising=False)
    return tmp_path / "cache"


def test_correction_is_the_median_ratio_of_similar_jobs_on_this_gpu() -> None:
    def m(planned: float, measured: float, **changes) -> Measurement:
        return Measurement(**{**JOB, **changes}, planned_gib=planned, measured_gib=measured)

    rows = [m(10, 10.4), m(10, 10.2), m(10, 10.6), m(10, 8, method="full"), m(10, 30)]
    found = correction(rows, **JOB)
    assert found.runs == 3 and found.note == "calibrated on 3 runs on this CPU: +4%"
    assert correction(rows, **{**JOB, "gpu": "NVIDIA A100"}) is None
    assert correction(rows, **{**JOB, "precision": "bf16"}) is None
    assert correction(rows, **{**JOB, "grad_ckpt": True}) is None
    on_gpu = [m(10, 10.4, gpu="NVIDIA A100")]
    assert correction(on_gpu, **{**JOB, "gpu": "NVIDIA A100"}).note.endswith("this GPU: +4%")


def test_rows_of_an_older_formula_or_without_precision_match_nothing() -> None:
    """A ratio learnt against another formula (or before the CPU plan moved from fp32 to
    bf16) is not a correction of this one."""
    old = {k: v for k, v in JOB.items() if k not in ("precision", "formula")}
    rows = [Measurement(**old, planned_gib=10, measured_gib=7) for _ in range(3)]
    assert correction(rows, **JOB) is None
    stale = [Measurement(**{**JOB, "formula": "2026-11-01"}, planned_gib=10, measured_gib=7)]
    assert correction(stale, **JOB) is None
    assert correction(stale, **{**JOB, "formula": "2026-11-01"}).runs == 1


def test_first_step_writes_planned_and_measured_memory_and_a_calibration_line(
    tmp_path: Path, cache: Path
) -> None:
    from tunetui.runner.calibration import calibration_file, measurements
    from tunetui.runner.train.memory import MemoryCallback

    events = tmp_path / "events.jsonl"
    job = {**JOB, "planned_gib": 1.5}
    callback = MemoryCallback(EventWriter(events), planned_gib=1.6, job=job)
    for step in (0, 1, 2):  # only the first finished optimizer step is measured
        callback.on_step_end(None, SimpleNamespace(global_step=step), None)
    memory = [e for e in read_events(events) if e["type"] == "memory"]
    assert len(memory) == 1
    assert memory[0]["step"] == 1 and memory[0]["planned_gib"] == 1.6
    assert memory[0]["kind"] == "rss" and memory[0]["measured_gib"] > 0.05
    assert calibration_file() == cache / "calibration.jsonl"
    (row,) = measurements()
    assert row.planned_gib == 1.5 and row.measured_gib == memory[0]["measured_gib"]


def test_without_a_plan_the_measurement_is_shown_but_not_learnt(
    tmp_path: Path, cache: Path, make_run
) -> None:
    from tunetui.runner.calibration import plan_job
    from tunetui.runner.recipe_io import load_recipe
    from tunetui.runner.train.memory import MemoryCallback

    run_dir = make_run()
    job = plan_job(run_dir, load_recipe(run_dir / "recipe.yaml"))
    assert job is None  # no plan.json
    callback = MemoryCallback(EventWriter(tmp_path / "events.jsonl"), None, job)
    callback.on_step_end(None, SimpleNamespace(global_step=1), None)
    (event,) = read_events(tmp_path / "events.jsonl")
    assert event["type"] == "memory" and event["planned_gib"] is None
    assert not (cache / "calibration.jsonl").exists()


def _cpu_plan(**flags) -> dict:
    from tunetui.planner.plan import build_plan

    return build_plan("smollm2-135m", gpu="cpu", method="lora", batch=2, cutoff_len=64, **flags)


def test_plan_applies_the_ratio_of_similar_runs_and_says_so(cache: Path) -> None:
    from tunetui.runner.calibration import measurements, save_measurement

    raw = _cpu_plan()
    job = {**job_key(raw), "planned_gib": raw["estimate"]["total_gib"]}
    for ratio in (1.03, 1.04, 1.05):
        save_measurement(job, job["planned_gib"] * ratio)
    save_measurement({**job, "method": "full"}, job["planned_gib"] * 1.4)  # not similar
    plan = _cpu_plan(calibration=measurements())
    assert plan["calibration"]["note"] == "calibrated on 3 runs on this CPU: +4%"
    assert plan["calibration"]["raw_total_gib"] == pytest.approx(raw["estimate"]["total_gib"])
    assert plan["estimate"]["total_gib"] == pytest.approx(raw["estimate"]["total_gib"] * 1.04, 1e-3)
    assert plan["recommendation"]["total_gib"] == pytest.approx(plan["estimate"]["total_gib"], 1e-2)
    assert "calibrated on 3 runs on this CPU: +4%" in plan["estimate"]["notes"]
    assert _cpu_plan()["calibration"] is None  # none given: the raw formula


def test_plan_cli_says_it_is_calibrated_and_no_calibration_shows_the_formula(cache: Path) -> None:
    from tunetui.runner.calibration import save_measurement
    from typer.testing import CliRunner

    from tunetui.cli import app

    raw = _cpu_plan()
    job = {**job_key(raw), "planned_gib": raw["estimate"]["total_gib"]}
    save_measurement(job, job["planned_gib"] * 1.10)
    args = ["plan", "--model", "smollm2-135m", "--gpu", "cpu", "--method", "lora",
            "--batch", "2", "--cutoff-len", "64"]  # fmt: skip
    runner = CliRunner()
    calibrated = runner.invoke(app, [*args, "--json"])
    assert calibrated.exit_code == 0, calibrated.output
    assert json.loads(calibrated.output)["calibration"]["runs"] == 1
    shown = runner.invoke(app, args)
    assert "calibrated on 1 run on this CPU: +10%" in " ".join(shown.output.split())
    plain = runner.invoke(app, [*args, "--no-calibration", "--json"])
    assert json.loads(plain.output)["calibration"] is None
    assert json.loads(plain.output)["estimate"]["total_gib"] == raw["estimate"]["total_gib"]


def test_a_worker_run_records_its_first_step_against_its_plan(
    make_run, run_worker, cache: Path
) -> None:
    from tunetui.planner.plan import build_plan
    from tunetui.runner.calibration import measurements, plan_job
    from tunetui.runner.flags import plan_request
    from tunetui.runner.recipe_io import load_recipe

    run_dir = make_run()
    recipe = load_recipe(run_dir / "recipe.yaml")
    plan = build_plan(**plan_request(recipe, gpu="cpu"))  # what the launcher writes
    (run_dir / "plan.json").write_text(json.dumps(plan))
    assert plan_job(run_dir, recipe)["batch"] == 2
    recipe.training.batch_size = 1  # what an out-of-memory retry does: not the plan's job
    assert plan_job(run_dir, recipe) is None
    code, events = run_worker(run_dir)
    assert code == 0
    (memory,) = [e for e in events if e["type"] == "memory"]
    assert memory["planned_gib"] == plan["estimate"]["total_gib"] and memory["kind"] == "rss"
    (row,) = measurements()
    assert row.planned_gib == plan["estimate"]["total_gib"]
    assert row.measured_gib == memory["measured_gib"] and row.gpu == "CPU"


def test_a_tiny_llama_and_smollm2_are_different_architectures_in_the_file(
    tiny_model_dir: Path,
) -> None:
    """Both are model_type llama: keyed on the family alone, a tiny test model's runs would
    correct SmolLM2's plans (issue 13 §3). The key carries the size bucket."""
    from tunetui.planner.calibration import architecture_key
    from tunetui.planner.plan import build_plan

    flags = {"gpu": "cpu", "method": "lora", "batch": 2, "cutoff_len": 64}
    tiny = job_key(build_plan(str(tiny_model_dir), **flags))
    smol = job_key(_cpu_plan())
    assert smol["architecture"] == architecture_key("llama", 134.5e6) == "llama@130M"
    assert tiny["architecture"].startswith("llama@") and tiny["architecture"] != "llama@130M"
    assert {k: v for k, v in tiny.items() if k != "architecture"} == {
        k: v for k, v in smol.items() if k != "architecture"
    }
    measured = [Measurement(**tiny, planned_gib=1.0, measured_gib=1.3)]
    assert correction(measured, **smol) is None
    assert correction(measured, **tiny).ratio == pytest.approx(1.3)


def test_a_bare_family_still_matches_every_size_of_it() -> None:
    """A caller that knows only the family (and lines written before sizes were keyed)
    keeps the old behaviour: the family alone decides."""
    rows = [
        Measurement(**{**JOB, "architecture": "llama@130M"}, planned_gib=10, measured_gib=11),
        Measurement(**{**JOB, "architecture": "llama@8.0B"}, planned_gib=10, measured_gib=9),
        Measurement(**{**JOB, "architecture": "qwen2@490M"}, planned_gib=10, measured_gib=14),
    ]
    assert correction(rows, **{**JOB, "architecture": "llama"}).runs == 2
    assert correction(rows, **{**JOB, "architecture": "llama@8.0B"}).ratio == pytest.approx(0.9)
    assert correction(rows, **{**JOB, "architecture": "llama@1.7B"}) is None


def test_a_plan_is_not_corrected_by_runs_of_another_size_of_its_architecture(
    cache: Path, tiny_model_dir: Path
) -> None:
    from tunetui.planner.plan import build_plan
    from tunetui.runner.calibration import measurements, save_measurement

    flags = {"gpu": "cpu", "method": "lora", "batch": 2, "cutoff_len": 64}
    tiny = build_plan(str(tiny_model_dir), **flags)
    job = {**job_key(tiny), "planned_gib": tiny["estimate"]["total_gib"]}
    save_measurement(job, job["planned_gib"] * 1.4)
    assert _cpu_plan(calibration=measurements())["calibration"] is None
