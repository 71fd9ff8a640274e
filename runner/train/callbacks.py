"""The trainer callback that turns training into events, and the stop switch.

Views never talk to the training process: they tail ``events.jsonl``. So everything the
dashboard shows (progress, loss, throughput, checkpoints, evaluation) is emitted here from
transformers' callback hooks, plus a plain progress line on stdout for ``train.log``.

Stopping is cooperative: SIGTERM/SIGINT or a ``RUN_DIR/STOP`` file only sets a flag; at the
next optimizer-step boundary the callback asks the trainer to save a checkpoint and stop,
so a stopped run always resumes from exactly where it stopped.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from tunetui.runner.events import EventWriter

STOP_FILE = "STOP"


class StopSwitch:
    """Set by a signal or a STOP file; read by the callback at step boundaries."""

    def __init__(self, run_dir: Path) -> None:
        self.stop_file = run_dir / STOP_FILE
        self._event = threading.Event()
        self.reason: str | None = None
        self._announced = False

    def install(self) -> None:
        """Route SIGTERM and SIGINT to the switch (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        # No printing here: a handler that writes to stdout while the interrupted main
        # thread is inside a print raises "reentrant call". `requested` reports it.
        self.request(signal.Signals(signum).name)

    def request(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def clear_stale_file(self) -> None:
        """A resumed run must not obey the STOP file that stopped its previous session."""
        self.stop_file.unlink(missing_ok=True)

    @property
    def requested(self) -> bool:
        if not self._event.is_set() and self.stop_file.exists():
            self.request("STOP file")
        if self._event.is_set() and not self._announced:
            self._announced = True
            print(f"Stop requested ({self.reason}): saving a checkpoint and stopping.", flush=True)
        return self._event.is_set()


class TokenCounter:
    """Counts the non-padding tokens that go through the trained forward pass.

    A forward pre-hook on the base model sees every stage's batches (SFT's input_ids, DPO's
    concatenated chosen+rejected, reward pairs) in one place. Only forwards in training mode
    with gradients count, which leaves out evaluation and DPO's reference passes.
    """

    def __init__(self) -> None:
        self.tokens = 0
        self._handle: Any = None

    def attach(self, model: Any) -> None:
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        import torch

        if not (module.training and torch.is_grad_enabled()):
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        if mask is not None and hasattr(mask, "sum") and mask.dim() == 2:
            self.tokens += int(mask.sum())
        elif ids is not None and hasattr(ids, "numel"):
            self.tokens += int(ids.numel())


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


_LOG_KEYS = {"loss", "learning_rate", "grad_norm", "epoch"}
_SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second"}


class EventsCallback(TrainerCallback):
    """start/log/eval/checkpoint events from the trainer, and the stop check."""

    def __init__(
        self,
        writer: EventWriter,
        start_fields: dict[str, Any],
        stop: StopSwitch,
        tokens: TokenCounter | None = None,
        samples_per_step: int = 1,
    ) -> None:
        self.writer = writer
        self.start_fields = start_fields
        self.stop = stop
        self.tokens = tokens or TokenCounter()
        self.samples_per_step = samples_per_step
        self.stopped_at: int | None = None
        self.summary: dict[str, Any] = {}
        self.last_metrics: dict[str, Any] = {}
        self.last_eval: dict[str, Any] = {}
        self._t0 = self._last_t = time.time()
        self._step0 = self._last_step = 0
        self._last_tokens = 0
        self._max_steps = 0

    # -- lifecycle
    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._t0 = self._last_t = time.time()
        self._step0 = self._last_step = state.global_step
        self._last_tokens = self.tokens.tokens
        self._max_steps = state.max_steps
        fields = {
            **self.start_fields,
            "total_steps": state.max_steps,
            # with max_steps set, the trainer works out how many epochs that is
            "num_epochs": getattr(state, "num_train_epochs", None) or args.num_train_epochs,
            "step": state.global_step,
        }
        self.writer.emit("start", **fields)
        for message in fields.get("warnings") or []:  # after `start`: views fold from there
            self.writer.emit("warning", message=message)
        resumed = fields.get("resumed_from")
        where = f", resuming at step {state.global_step} from {resumed}" if resumed else ""
        print(
            f"Training {fields.get('stage')}/{fields.get('method')} on {fields.get('device')}: "
            f"{state.max_steps} steps{where}",
            flush=True,
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        from tunetui.runner.train.ranks import any_rank

        # every rank stops at the same step, or the others wait for it in an all-reduce
        if any_rank(self.stop.requested, args.device) and self.stopped_at is None:
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True

    # -- reporting
    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw) -> None:
        logs = dict(logs or {})
        if _SUMMARY_KEYS & logs.keys():
            self.summary = logs
            return
        if "loss" not in logs or any(k.startswith("eval_") for k in logs):
            return
        now, step = time.time(), state.global_step
        dt = max(now - self._last_t, 1e-9)
        tokens = self.tokens.tokens
        steps_done = max(step - self._last_step, 0)
        tps = (tokens - self._last_tokens) / dt if tokens > self._last_tokens else None
        sps = steps_done * self.samples_per_step / dt if steps_done else None
        elapsed, done = now - self._t0, step - self._step0
        eta = (self._max_steps - step) * elapsed / done if done > 0 else None
        extra = {k: v for k, v in logs.items() if k not in _LOG_KEYS and _is_number(v)}
        event = {
            "step": step,
            "loss": logs.get("loss"),
            "lr": logs.get("learning_rate"),
            "grad_norm": logs.get("grad_norm"),
            "tokens_per_s": round(tps, 1) if tps is not None else None,
            "samples_per_s": round(sps, 3) if sps is not None else None,
            "epoch": logs.get("epoch"),
            "eta_s": round(eta, 1) if eta is not None else None,
        }
        if extra:
            event["metrics"] = extra
        self.last_metrics = {"loss": logs.get("loss"), **extra}
        self.writer.emit("log", **event)
        self._last_t, self._last_step, self._last_tokens = now, step, tokens
        print(_progress_line(event, self._max_steps), flush=True)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kw):
        metrics = {k: v for k, v in (metrics or {}).items() if _is_number(v)}
        self.last_eval = metrics
        self.writer.emit("eval", step=state.global_step, metrics=metrics)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if "loss" in k or "acc" in k)
        print(f"eval at step {state.global_step}: {shown}", flush=True)

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.writer.emit("checkpoint", step=state.global_step, path=str(path))
        print(f"checkpoint saved: {path}", flush=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _progress_line(event: dict[str, Any], total: int) -> str:
    parts = [f"step {event['step']}/{total}"]
    if event.get("loss") is not None:
        parts.append(f"loss {event['loss']:.4f}")
    if event.get("lr") is not None:
        parts.append(f"lr {event['lr']:.2e}")
    if event.get("tokens_per_s") is not None:
        parts.append(f"{event['tokens_per_s']:.0f} tok/s")
    parts.append(f"eta {_fmt_eta(event.get('eta_s'))}")
    return "  ".join(parts)
