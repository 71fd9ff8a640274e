"""Faults that used to lose or corrupt work, each with the real worker on the tiny model."""

from __future__ import annotations

import json
import shutil

from tunetui.runner.events import read_events


def test_resume_after_the_last_checkpoint_only_writes_the_outputs(make_run, run_worker) -> None:
    """Killed after its final checkpoint, before `end`: a resume trains nothing more."""
    run_dir = make_run(training={"max_steps": 4, "save_steps": 2})
    code, _ = run_worker(run_dir)
    assert code == 0
    events = run_dir / "events.jsonl"
    kept = [line for line in events.read_text().splitlines() if '"end"' not in line]
    events.write_text("\n".join(kept) + "\n")  # the death: no `end`, no adapter
    shutil.rmtree(run_dir / "adapter")
    code, after = run_worker(run_dir, "--resume")
    assert code == 0
    logged = [e["step"] for e in read_events(events) if e["type"] == "log"]
    assert logged == [1, 2, 3, 4]  # no "step 5/4"
    assert after[-1]["type"] == "end" and after[-1]["step"] == 4
    assert not (run_dir / "checkpoints" / "checkpoint-5").exists()
    config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 4 and (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert not (run_dir / "adapter" / "optimizer.pt").exists()
