"""The training process: ``python -m tunetui.runner.train.worker RUN_DIR [--resume]``.

The launcher spawns this in its own session with stdout/stderr going to ``train.log``;
nothing talks to it except signals (SIGTERM/SIGINT or a ``RUN_DIR/STOP`` file = save a
checkpoint and stop). It reads ``RUN_DIR/recipe.yaml``, trains, and reports through
``RUN_DIR/events.jsonl``: ``start``, ``log``/``gpu``/``eval``/``checkpoint`` while training,
and exactly one of ``end``, ``stopped`` or ``error`` at the end.

Exit codes: 0 finished or stopped on request, 2 a user error (bad recipe/data/model, the
one-line message is in the ``error`` event), 1 a crash (full traceback in train.log).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunetui.planner.errors import UserError
from tunetui.runner.events import EVENTS_FILE, EventWriter
from tunetui.runner.rundir import find_checkpoint, plan_gib
from tunetui.runner.train.outputs import (
    OUTPUT_ADAPTER,
    OUTPUT_MODEL,
    count_parameters,
    peak_memory,
    save_output,
)
from tunetui.runner.train.quiet import drop_printer, no_model_cards, quiet_libraries

if TYPE_CHECKING:
    from tunetui.runner.recipe import Recipe
    from tunetui.runner.train.methods import PrecisionChoice
    from tunetui.runner.train.stages.registry import StageSpec


@dataclass
class Loaded:
    """What `Worker._load` reads from disk before the trainer is built."""

    model_dir: Path
    tokenizer: Any
    train: Any
    eval: Any
    model: Any


class Worker:
    """One training session of a run directory."""

    def __init__(self, run_dir: Path, resume: bool, writer: EventWriter) -> None:
        from tunetui.runner.train.callbacks import StopSwitch

        self.run_dir = run_dir
        self.resume = resume
        self.writer = writer
        self.stop = StopSwitch(run_dir)
        self.sampler: Any = None
        self.device = "cpu"
        self.disk: Any = None  # the DiskGuard of the trainer being built

    def run(self) -> int:
        """Check, load, train and save; the exit code (0 finished or stopped)."""
        from tunetui.runner.recipe_io import load_recipe
        from tunetui.runner.train import complete, diskguard, recovery
        from tunetui.runner.train.methods import detect_device
        from tunetui.runner.train.preflight import preflight
        from tunetui.runner.train.ranks import any_rank

        self.stop.install()
        if self.resume:
            self.stop.clear_stale_file()
        recipe = load_recipe(self.run_dir / "recipe.yaml")
        preflight(recipe)
        checkpoint = find_checkpoint(self.run_dir) if self.resume else None
        if self.resume and checkpoint is None:
            print("No checkpoint to resume from: starting from step 0.", flush=True)
        done = complete.finished_step(checkpoint)
        if done is not None:  # died after its last checkpoint, before `end`
            output = OUTPUT_ADAPTER if recipe.is_peft else OUTPUT_MODEL
            return complete.finish(self.writer, self.run_dir, checkpoint, done, output)
        self.device = detect_device()
        if self.device == "cpu":  # see runner.train.hostmem: 4.6 -> 2.3 GiB on the CPU bench
            from tunetui.runner.train.hostmem import tune_for_cpu

            for change in tune_for_cpu():
                _say(f"Memory: {change}")
        elif self.device == "cuda":  # runner.allocator: set by the launcher unless the user did
            from tunetui.runner.allocator import cuda_alloc_conf

            _say(f"Memory: CUDA caching allocator: {cuda_alloc_conf() or 'PyTorch default'}")
        self._start_sampler()
        trainer, tokenizer, callback = self.build_trainer(recipe, checkpoint)
        if any_rank(self.stop.requested, trainer.args.device):  # stopped while loading
            step = trainer.state.global_step
            self.writer.emit(
                "stopped", step=step, checkpoint=str(checkpoint) if checkpoint else None
            )
            return 0
        try:
            trainer, tokenizer, callback = recovery.train(
                self, recipe, (trainer, tokenizer, callback), checkpoint
            )
        except (OSError, RuntimeError) as exc:  # a save on a full disk: say so, plainly
            raise diskguard.explain(exc, self.run_dir / "checkpoints") or exc from None
        if self.disk.problem is not None:  # stopped before a save that would not fit
            raise self.disk.problem
        if self._stopped_early(trainer, callback):
            return 0
        return self._finish(trainer, tokenizer, callback, recipe)

    def _stopped_early(self, trainer: Any, callback: Any) -> bool:
        """Emit ``stopped`` when a stop request ended training before its last step."""
        state = trainer.state
        if callback.stopped_at is None or state.global_step >= state.max_steps:
            return False
        path = self.run_dir / "checkpoints" / f"checkpoint-{state.global_step}"
        self.writer.emit("stopped", step=state.global_step, checkpoint=str(path))
        print(
            f"Stopped at step {state.global_step}; resume with "
            f"`tunetui run --resume {self.run_dir.name}`.",
            flush=True,
        )
        return True

    def _start_sampler(self) -> None:
        from tunetui.runner.train.ranks import nvml_index
        from tunetui.runner.train.sampler import Sampler

        self.sampler = Sampler(self.writer, gpu_index=nvml_index())
        self.sampler.start()

    def build_trainer(self, recipe: Recipe, checkpoint: Path | None = None) -> tuple[Any, Any, Any]:
        """Resolve the model, load data and weights, and build the stage's trainer; returns
        (trainer, tokenizer, events callback). Public so a test can check what the recipe
        becomes in trl/peft on the same path a run takes, without training."""
        from tunetui.runner.calibration import plan_job
        from tunetui.runner.train import methods
        from tunetui.runner.train.callbacks import EventsCallback, TokenCounter
        from tunetui.runner.train.diskguard import DiskGuard
        from tunetui.runner.train.memory import MemoryCallback
        from tunetui.runner.train.stages.common import StageContext
        from tunetui.runner.train.stages.registry import get_stage

        spec = get_stage(recipe.stage)
        precision = methods.resolve_precision(recipe, self.device)
        # GaLore projects fp32 gradients with matmuls: those must stay fp32
        if self.device == "cpu" and precision.bf16 and recipe.training.optimizer != "galore":
            from tunetui.runner.train.hostmem import bf16_matmuls_for_fp32_copies

            if bf16_matmuls_for_fp32_copies():
                _say("Speed: fp32 matmuls of bf16 values run on the CPU's bf16 units")
        notes = methods.method_notes(recipe, self.device)
        for note in notes:
            _say(note)
        loaded = self._load(recipe, spec, precision)
        tokens = TokenCounter()
        tokens.attach(loaded.model)
        start_fields = self._start_fields(recipe, loaded, precision.name, checkpoint, notes)
        t = recipe.training
        callback = EventsCallback(
            self.writer,
            start_fields,
            self.stop,
            tokens,
            samples_per_step=t.batch_size * t.grad_accum,
        )
        self.disk = DiskGuard(self.run_dir / "checkpoints")
        job = plan_job(self.run_dir, recipe)  # None once an OOM retry changed the settings
        memory = MemoryCallback(self.writer, plan_gib(self.run_dir), job)
        ctx = StageContext(
            recipe=recipe,
            run_dir=self.run_dir,
            model=loaded.model,
            tokenizer=loaded.tokenizer,
            train_dataset=loaded.train,
            eval_dataset=loaded.eval,
            peft_config=methods.peft_config(recipe, loaded.model, spec.task),
            precision=precision,
            device=self.device,
            callbacks=[callback, memory, self.disk],
        )
        trainer = spec.build(ctx)
        methods.fp32_trainables_without_bf16(trainer.model, recipe, precision)
        if methods.share_adapter_inputs(trainer.model, recipe, precision):
            _say("Memory: LoRA adapters share the autocast input (no fp32 copy per linear)")
        drop_printer(trainer)
        no_model_cards(trainer)
        trainable, total = count_parameters(trainer.model)
        start_fields.update(trainable_params=trainable, total_params=total)
        _say(f"Trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)")
        return trainer, loaded.tokenizer, callback

    def _load(self, recipe: Recipe, spec: StageSpec, precision: PrecisionChoice) -> Loaded:
        """The tokenizer, the datasets and the prepared base model, in the order that fails
        fastest: a data error is found before the weights are read."""
        from tunetui.runner.train import methods
        from tunetui.runner.train.data import build_datasets
        from tunetui.runner.train.loading import (
            load_model,
            load_tokenizer,
            pick_attention,
            resolve_model_dir,
        )

        model_dir = resolve_model_dir(recipe.model.name_or_path, log=_say)
        tokenizer = load_tokenizer(model_dir, recipe.model.trust_remote_code)
        train_ds, eval_ds = build_datasets(recipe, tokenizer)
        quant = methods.quantization_config(recipe, precision, self.device)
        _say(f"Loading {model_dir} ({precision.name}, {recipe.method}) on {self.device}")
        model = load_model(
            model_dir,
            task=spec.task,
            dtype=precision.load_dtype,
            attn_implementation=pick_attention(recipe.model.attn_implementation, self.device),
            quantization_config=quant,
            trust_remote_code=recipe.model.trust_remote_code,
            # a quantized base loads on this rank's GPU (LOCAL_RANK), not every rank on GPU 0
            device_map={"": int(os.environ.get("LOCAL_RANK", "0"))}
            if quant is not None and self.device == "cuda"
            else None,
            pad_token_id=tokenizer.pad_token_id,
        )
        if not (spec.prepares_kbit and recipe.method == "qlora"):
            model = methods.prepare_model(model, recipe, recipe.training.gradient_checkpointing)
        return Loaded(model_dir, tokenizer, train_ds, eval_ds, model)

    def _start_fields(
        self,
        recipe: Recipe,
        loaded: Loaded,
        precision: str,
        checkpoint: Path | None,
        notes: list[str],
    ) -> dict[str, Any]:
        """The ``start`` event's fields (the callback adds the step counts and parameters)."""
        from tunetui.runner.requirements import fallback_warnings
        from tunetui.runner.train import ranks

        fields: dict[str, Any] = {
            "run": self.run_dir.name,
            "stage": recipe.stage,
            "method": recipe.method,
            "model": recipe.model.name_or_path,
            "model_dir": str(loaded.model_dir),
            "pid": os.getpid(),
            "device": self.device,
            "precision": precision,
            "resumed_from": str(checkpoint) if checkpoint else None,
            "train_samples": len(loaded.train),
            "eval_samples": len(loaded.eval) if loaded.eval is not None else 0,
        }
        if notes:
            fields["notes"] = notes
        warnings = fallback_warnings(recipe, self.device)
        if warnings:
            fields["warnings"] = warnings  # emitted as `warning` events after `start`
        if recipe.distributed.strategy != "none":
            fields["distributed"] = ranks.describe(recipe)
        return fields

    def _finish(self, trainer: Any, tokenizer: Any, callback: Any, recipe: Recipe) -> int:
        from tunetui.runner.requirements import sharding_fallback
        from tunetui.runner.train.ranks import weight_digests

        # a full copy per rank (accelerate runs fsdp as DDP on CPU)
        replicated = recipe.distributed.strategy in ("ddp", "zero2") or bool(
            sharding_fallback(recipe, self.device)
        )
        digests = weight_digests(trainer.model, trainer.args.device) if replicated else None
        output = save_output(trainer, tokenizer, self.run_dir, recipe.is_peft)
        peak = peak_memory(self.device)
        metrics = {**callback.last_metrics, **callback.last_eval, **callback.summary}
        step = trainer.state.global_step
        self.writer.emit(
            "end",
            step=step,
            metrics=metrics,
            **peak,
            plan_gib=plan_gib(self.run_dir),
            output=str(output),
            **({"rank_digests": digests} if digests else {}),
        )
        _say(
            f"Done: {step} steps, peak {peak['peak_mem_gib']} GiB ({peak['peak_kind']}). "
            f"Output: {output}"
        )
        return 0

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()


def _say(message: str) -> None:
    print(message, flush=True)


OOM_FIX = (
    "Lower training.batch_size or data.cutoff_len, turn on training.gradient_checkpointing, "
    "or use method qlora; `tunetui plan` estimates the memory first"
)


def _error_event(writer: EventWriter, exc: BaseException) -> None:
    tail = traceback.format_exception(type(exc), exc, exc.__traceback__)
    lines = "".join(tail).rstrip().splitlines()[-12:]
    message = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (CUDA)
        what = "; ".join(str(exc).split(". ")[:2]).rstrip(".")  # "...; Tried to allocate X"
        message = f"out of GPU memory ({what}). {OOM_FIX}"
        print(f"error: {message}", file=sys.stderr, flush=True)
    writer.emit("error", message=message, traceback_tail="\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tunetui.runner.train.worker", description="Train the run in RUN_DIR."
    )
    parser.add_argument("run_dir", type=Path, help="run directory with recipe.yaml")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    args = parser.parse_args(argv)
    run_dir = args.run_dir.resolve()
    if not (run_dir / "recipe.yaml").is_file():
        print(
            f"error: {run_dir} has no recipe.yaml. Start runs with `tunetui run`.", file=sys.stderr
        )
        return 2
    quiet_libraries()
    from tunetui.runner.train import ranks

    writer = EventWriter(run_dir / EVENTS_FILE, rank=ranks.rank_from_env())
    ranks.install(run_dir, writer)  # one of several processes: see runner.train.ranks
    worker = Worker(run_dir, args.resume, writer)
    try:
        return worker.run()
    except UserError as err:
        print(f"error: {err.line()}", file=sys.stderr, flush=True)
        if ranks.should_report(run_dir):
            writer.emit("error", message=err.line())
        return 2
    except BaseException as exc:  # noqa: BLE001 - report every crash, then exit non-zero
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        if ranks.should_report(run_dir):  # the first failing rank's error is the run's
            _error_event(writer, exc)
        return 1
    finally:
        worker.close()
        writer.close()


if __name__ == "__main__":
    sys.exit(main())
