"""A stand-in for ``python -m tunetui.runner.train.worker RUN_DIR [--resume]`` in fast tests.

It speaks the same protocol as the real worker (events.jsonl, checkpoints/checkpoint-N,
adapter/, SIGTERM or a STOP file = checkpoint then ``stopped``, ``--resume`` continues from
the newest checkpoint) without torch, so launcher/console/CLI tests take seconds.
Run it as a script (the launcher's ``$TUNETUI_WORKER``); knobs come from the environment,
because the recipe schema forbids unknown keys:

- ``FAKE_STEPS`` (default: the recipe's training.max_steps, else 20)
- ``FAKE_STEP_S`` seconds per step (default 0.02)
- ``FAKE_SAVE_EVERY`` steps between checkpoints (default: training.save_steps)
- ``FAKE_FAIL_AT`` step at which to emit an ``error`` and exit 1
- ``FAKE_DIE_AT`` step at which to die abruptly (``os._exit(137)``, no final event)
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path

import yaml
from tunetui.runner.events import EventWriter

_stop_requested = False


def _on_term(signum: int, frame: object) -> None:
    global _stop_requested
    _stop_requested = True


def _latest_checkpoint(run_dir: Path) -> int:
    steps = [
        int(p.name.rsplit("-", 1)[1])
        for p in (run_dir / "checkpoints").glob("checkpoint-*")
        if p.name.rsplit("-", 1)[1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(steps, default=0)


def _save(run_dir: Path, step: int) -> Path:
    path = run_dir / "checkpoints" / f"checkpoint-{step}"
    path.mkdir(parents=True, exist_ok=True)
    # written last, like the real trainer's: a checkpoint without it is incomplete
    (path / "trainer_state.json").write_text(f'{{"global_step": {step}}}\n')
    return path


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0])
    resume = "--resume" in argv[1:]
    signal.signal(signal.SIGTERM, _on_term)
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text()) or {}
    training = recipe.get("training") or {}
    total = int(os.environ.get("FAKE_STEPS") or training.get("max_steps") or 20)
    step_s = float(os.environ.get("FAKE_STEP_S", "0.02"))
    save_every = int(os.environ.get("FAKE_SAVE_EVERY") or training.get("save_steps") or 100)
    fail_at = int(os.environ.get("FAKE_FAIL_AT", "0"))
    die_at = int(os.environ.get("FAKE_DIE_AT", "0"))
    first = _latest_checkpoint(run_dir) if resume else 0
    print(f"fake worker: {run_dir} from step {first} of {total}", flush=True)
    with EventWriter(run_dir / "events.jsonl") as ev:
        ev.emit(
            "start",
            run=run_dir.name,
            stage=recipe.get("stage", "sft"),
            method=recipe.get("method", "lora"),
            model="fake",
            total_steps=total,
            step=first,  # like the real worker: the step this attempt starts from
            pid=os.getpid(),
            device="cpu",
            resumed_from=f"checkpoint-{first}" if resume and first else None,
        )
        loss = 3.0 * (0.97**first)
        for step in range(first + 1, total + 1):
            time.sleep(step_s)
            loss *= 0.97
            if step == die_at:
                print("fake worker: dying without a word", flush=True)
                os._exit(137)
            if step == fail_at:
                try:
                    raise RuntimeError(f"fake failure at step {step}")
                except RuntimeError as err:
                    traceback.print_exc()
                    tail = traceback.format_exc().strip().splitlines()[-3:]
                    ev.emit("error", message=str(err), traceback_tail="\n".join(tail))
                return 1
            ev.emit(
                "log",
                step=step,
                loss=round(loss, 4),
                lr=2e-4 * (1 - step / total),
                tokens_per_s=1000.0,
                eta_s=(total - step) * step_s,
            )
            if step % save_every == 0:
                ev.emit("checkpoint", step=step, path=str(_save(run_dir, step)))
            if (_stop_requested or (run_dir / "STOP").exists()) and step < total:
                path = _save(run_dir, step)
                ev.emit("checkpoint", step=step, path=str(path))
                ev.emit("stopped", step=step, checkpoint=str(path))
                return 0
        out = run_dir / "adapter"
        out.mkdir(exist_ok=True)
        (out / "adapter_config.json").write_text("{}\n")
        ev.emit(
            "end",
            step=total,
            metrics={"train_loss": round(loss, 4)},
            peak_mem_gib=0.5,
            peak_kind="rss",
            output=str(out),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
