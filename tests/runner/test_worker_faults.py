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


def test_a_save_that_will_not_fit_stops_cleanly_and_says_so(
    make_run, run_worker, monkeypatch
) -> None:
    from collections import namedtuple

    from tunetui.runner.train import diskguard

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(diskguard.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 4096))
    run_dir = make_run(training={"max_steps": 4, "save_steps": 2})
    code, events = run_worker(run_dir)
    assert code == 2
    error = events[-1]
    assert error["type"] == "error" and error["message"].startswith("disk full at ")
    assert "0 MB free" in error["message"] and "stopped without saving it" in error["message"]
    assert not list((run_dir / "checkpoints").glob("checkpoint-*"))


def test_a_save_that_fails_for_space_is_one_line_and_leaves_no_partial_checkpoint(
    make_run, run_worker, monkeypatch
) -> None:
    import torch

    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):  # noqa: ANN001, ANN202 - torch.save's signature
        if str(f).endswith("optimizer.pt"):
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    run_dir = make_run(training={"max_steps": 4, "save_steps": 2})
    code, events = run_worker(run_dir)
    assert code == 2
    assert events[-1]["type"] == "error" and events[-1]["message"].startswith("disk full at ")
    assert not list((run_dir / "checkpoints").glob("checkpoint-*"))  # the partial one removed
