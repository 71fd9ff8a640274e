"""Out-of-memory recovery (issue 13 §2), with an injected torch.OutOfMemoryError on CPU:
halve the micro-batch and double accumulation, then gradient checkpointing, then a clear
error; each retry a `warning` event, the run continuing from its last checkpoint."""

from __future__ import annotations

import pytest
import torch
import yaml
from tunetui.runner.train.ordering import LongestFirstMixin

pytestmark = pytest.mark.filterwarnings("ignore")


def _inject_oom(monkeypatch: pytest.MonkeyPatch, fails) -> list[tuple[int, int, bool]]:
    """Every trainer's training_step raises OutOfMemoryError when ``fails(step, batch,
    checkpointing)``; returns the (step, batch, checkpointing) of each failure."""
    failures: list[tuple[int, int, bool]] = []

    def training_step(self, model, inputs, *args, **kwargs):
        where = (
            self.state.global_step,
            int(inputs["input_ids"].shape[0]),
            bool(self.args.gradient_checkpointing),
        )
        if fails(*where):
            failures.append(where)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0")
        return super(LongestFirstMixin, self).training_step(model, inputs, *args, **kwargs)

    monkeypatch.setattr(LongestFirstMixin, "training_step", training_step, raising=False)
    return failures


def test_oom_halves_the_batch_and_continues_from_the_last_checkpoint(
    make_run, run_worker, monkeypatch
) -> None:
    run_dir = make_run(training={"max_steps": 4, "batch_size": 2, "grad_accum": 1,
                                 "save_steps": 2})  # fmt: skip
    failures = _inject_oom(monkeypatch, lambda step, batch, ckpt: step >= 2 and batch > 1)
    code, events = run_worker(run_dir)
    assert code == 0, events[-1]
    assert failures == [(2, 2, False)]  # the third step, at batch 2
    (warning,) = [e for e in events if e["type"] == "warning"]
    assert warning["kind"] == "oom_retry" and warning["batch_size"] == 1
    assert warning["grad_accum"] == 2  # the same effective batch
    assert warning["message"] == (
        "out of GPU memory at step 3 with batch 2 x 1 accum: "
        "retrying with batch 1 x 2 accum from checkpoint-2"
    )
    starts = [e for e in events if e["type"] == "start"]
    assert starts[1]["resumed_from"].endswith("checkpoint-2") and starts[1]["step"] == 2
    assert events[-1]["type"] == "end" and events[-1]["step"] == 4
    training = yaml.safe_load((run_dir / "recipe.yaml").read_text())["training"]
    assert (training["batch_size"], training["grad_accum"]) == (1, 2)  # --resume keeps it


def test_oom_at_batch_1_turns_on_checkpointing_then_gives_up_naming_the_fix(
    make_run, run_worker, monkeypatch
) -> None:
    run_dir = make_run(training={"max_steps": 4, "batch_size": 2, "grad_accum": 1,
                                 "gradient_checkpointing": False})  # fmt: skip
    failures = _inject_oom(monkeypatch, lambda step, batch, ckpt: True)
    code, events = run_worker(run_dir)
    assert code == 2
    assert failures == [(0, 2, False), (0, 1, False), (0, 1, True)]
    warnings = [e["message"] for e in events if e["type"] == "warning"]
    assert warnings == [
        "out of GPU memory at step 1 with batch 2 x 1 accum: "
        "retrying with batch 1 x 2 accum from step 0",
        "out of GPU memory at step 1 with batch 1 x 2 accum: "
        "retrying with batch 1 with gradient checkpointing from step 0",
    ]
    error = events[-1]
    assert error["type"] == "error"
    assert error["message"].startswith(
        "out of GPU memory at step 1 even with batch 1 x 2 accum with gradient checkpointing "
        "(CUDA out of memory; Tried to allocate 2.00 GiB)"
    )
    assert "Lower data.cutoff_len" in error["message"] and "qlora" in error["message"]


def test_qlora_with_fsdp_stores_4bit_weights_in_the_compute_dtype() -> None:
    import torch
    from tunetui.runner.recipe import Recipe
    from tunetui.runner.train.methods import PrecisionChoice, quantization_config

    recipe = Recipe.model_validate({"method": "qlora", "distributed": {"strategy": "fsdp"}})
    bf16 = PrecisionChoice("bf16", torch.bfloat16, bf16=True, fp16=False)
    config = quantization_config(recipe, bf16, "cuda")
    assert config.bnb_4bit_quant_storage == torch.bfloat16
    plain = quantization_config(Recipe.model_validate({"method": "qlora"}), bf16, "cuda")
    assert plain.bnb_4bit_quant_storage == torch.uint8


def test_under_several_ranks_an_oom_stops_instead_of_retrying(
    make_run, run_worker, monkeypatch
) -> None:
    """A retry on one rank would change its batch alone and leave the others waiting."""
    run_dir = make_run(training={"max_steps": 4, "batch_size": 2, "grad_accum": 1})
    from tunetui.runner.train import recovery

    failures = _inject_oom(monkeypatch, lambda step, batch, ckpt: True)
    monkeypatch.setattr(recovery, "several_ranks", lambda: True)  # as WORLD_SIZE=2 says
    code, events = run_worker(run_dir)
    assert code == 2 and failures == [(0, 2, False)]
    assert not [e for e in events if e["type"] == "warning"]
    assert events[-1]["type"] == "error" and "out of GPU memory" in events[-1]["message"]
