"""Measured peak GPU memory vs the planner's estimate, and real throughput (issue 7).

For a grid of configurations this runs a few real optimizer steps through tunetui's own
training path (runner.models.load_model -> runner.methods -> the SFT stage's trl trainer)
on random-init weights built from catalog configs, so nothing is downloaded. Each
configuration runs in a fresh process, so one run's allocator state never leaks into the
next and an OOM is an outcome, not a crash. Sequences are fixed-length random tokens, so the
peak is deterministic.

Three figures per row: ``torch.cuda.max_memory_allocated``, ``max_memory_reserved``, and
the NVML "used" memory at peak (what nvidia-smi shows, sampled every 10 ms). Each row is
compared with ``planner.estimator.estimate`` for the same configuration, and with the
recommender's fits/does-not-fit verdict for the GPU.

    python bench/gpu_memory.py --list                 # the grid
    python bench/gpu_memory.py                        # run it all on CUDA -> bench/results/
    python bench/gpu_memory.py --only llama-3.2-1b --limit 5
    python bench/gpu_memory.py --device cpu --only tiny   # smoke test of the harness on CPU

Results: ``bench/results/gpu_memory_<gpu>.csv`` (GPU name, driver, library versions, every
figure, the estimate and the error). ``bench/plan_accuracy.py`` reads these CSVs too.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
GIB = 1024**3

MODELS = [
    "smollm2-360m",
    "qwen2.5-0.5b",
    "llama-3.2-1b",
    "qwen2.5-1.5b",
    "llama-3.2-3b",
    "qwen2.5-7b",
    "llama-3.1-8b",
]

BASE: dict[str, Any] = {
    "method": "lora",
    "bits": 16,
    "lora_rank": 8,
    "targets": "all",
    "batch_size": 4,
    "seq_len": 512,
    "gradient_checkpointing": False,
    "attn": "sdpa",
    "optimizer": "adamw",
    "precision": "bf16",
}

CSV_FIELDS = [
    "gpu", "driver", "torch", "transformers", "peft", "trl", "bitsandbytes",
    "model", "method", "bits", "lora_rank", "targets", "batch_size", "seq_len",
    "gradient_checkpointing", "attn", "optimizer", "precision",
    "outcome", "alloc_gib", "reserved_gib", "nvml_gib",
    "est_alloc_gib", "est_reserved_gib", "est_total_gib",
    "err_alloc_pct", "err_reserved_pct", "err_total_pct",
    "planner_fits", "tokens_per_s", "step_s", "error",
]  # fmt: skip


def grid() -> list[dict[str, Any]]:
    """The configurations: one-factor sweeps around a base, per model, plus the corners.

    One-factor sweeps make each error attributable to one estimator term; the corners
    (long sequences, big batches, 8B models) are where the peak moves and OOMs live.
    """
    rows: list[dict[str, Any]] = []

    def add(model: str, **changes: Any) -> None:
        row = {**BASE, "model": model, **changes}
        if row["method"] == "qlora" and row["bits"] == 16:
            row["bits"] = 4
        if row not in rows:
            rows.append(row)

    for model in MODELS:
        add(model)
        add(model, method="qlora", bits=4)
        add(model, method="lora", lora_rank=64)
        add(model, method="lora", gradient_checkpointing=True, seq_len=2048)
    for model in MODELS[:5]:
        add(model, method="full")
        add(model, method="full", optimizer="adamw_8bit")
        add(model, method="freeze")
        add(model, method="dora")
        add(model, method="qlora", bits=8)
    for model, (batch, seq) in itertools.product(
        ("qwen2.5-0.5b", "llama-3.2-1b", "llama-3.2-3b"),
        ((1, 512), (8, 512), (1, 2048), (4, 2048), (1, 4096), (8, 4096)),
    ):
        add(model, batch_size=batch, seq_len=seq)
        add(model, batch_size=batch, seq_len=seq, gradient_checkpointing=True)
    for model in ("qwen2.5-0.5b", "llama-3.2-1b"):
        add(model, attn="eager", seq_len=1024)
        add(model, attn="eager", seq_len=2048, gradient_checkpointing=True)
    for model in ("qwen2.5-7b", "llama-3.1-8b"):
        add(model, method="qlora", bits=4, seq_len=2048, gradient_checkpointing=True)
        add(model, method="qlora", bits=4, batch_size=8, seq_len=2048)
        add(model, method="lora", batch_size=1, seq_len=4096, gradient_checkpointing=True)
        add(model, method="full", optimizer="adamw_8bit", batch_size=1)
    return rows


# ----------------------------------------------------------------------------- planner side
def planner_estimate(row: dict[str, Any], gpu_name: str | None) -> dict[str, Any]:
    """The planner's figures for a row (no torch involved)."""
    from tunetui.planner.estimator import TrainConfig, estimate

    spec = _spec(row["model"])
    cfg = TrainConfig(
        method=row["method"],
        bits=row["bits"] if row["method"] == "qlora" else None,
        lora_rank=row["lora_rank"],
        targets=row["targets"],
        batch_size=row["batch_size"],
        seq_len=row["seq_len"],
        gradient_checkpointing=row["gradient_checkpointing"],
        optimizer=row["optimizer"],
        precision=row["precision"],
        attn=row["attn"],
    )
    est = estimate(spec, cfg)
    out = {
        "est_alloc_gib": round(est.allocated_gib, 3),
        "est_reserved_gib": round(est.reserved_gib, 3),
        "est_total_gib": round(est.total_gib, 3),
        "planner_fits": "",
    }
    if gpu_name:
        try:
            from tunetui.planner.gpus import resolve_gpu

            gpu = resolve_gpu(gpu_name)
            out["planner_fits"] = est.total_gib <= gpu.memory_gib
        except Exception:  # an uncatalogued GPU: leave the verdict empty
            pass
    return out


def _spec(model_id: str) -> Any:
    from tunetui.planner.models import resolve_model

    if model_id == "tiny":
        from tunetui.planner.models import spec_from_config

        return spec_from_config(_tiny_hf_config(), id_="tiny")
    return resolve_model(model_id)


def _tiny_hf_config() -> dict[str, Any]:
    return {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
        "tie_word_embeddings": True,
    }


def hf_config_of(model_id: str) -> dict[str, Any]:
    """An HF config dict for a catalog model, from the planner's architecture facts."""
    if model_id == "tiny":
        return _tiny_hf_config()
    spec = _spec(model_id)
    cfg: dict[str, Any] = {
        "model_type": spec.family,
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_hidden_layers": spec.num_hidden_layers,
        "num_attention_heads": spec.num_attention_heads,
        "num_key_value_heads": spec.num_key_value_heads,
        "vocab_size": spec.vocab_size,
        "tie_word_embeddings": spec.tie_word_embeddings,
    }
    if spec.head_dim:
        cfg["head_dim"] = spec.head_dim
    return cfg


# ----------------------------------------------------------------------------- one config
class NvmlPeak:
    """Samples NVML used memory every 10 ms in a thread; ``peak_gib`` is the max seen."""

    def __init__(self, index: int = 0) -> None:
        self.peak_gib = float("nan")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.peak_gib = 0.0
        except Exception:
            self._nvml = None

    def __enter__(self) -> NvmlPeak:
        if self._nvml is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            used = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used / GIB
            self.peak_gib = max(self.peak_gib, used)
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _model_dir(model_id: str, cache: Path) -> Path:
    """A random-init checkpoint of the model, written once per model and reused."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from tunetui.runner.train.tiny import build_tiny_tokenizer

    folder = cache / model_id
    if (folder / "config.json").exists():
        return folder
    hf = dict(hf_config_of(model_id))
    config = AutoConfig.for_model(hf.pop("model_type"), **hf)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{model_id}-"))
    model.save_pretrained(tmp)
    build_tiny_tokenizer().save_pretrained(tmp)
    os.replace(tmp, folder)
    return folder


def run_one(row: dict[str, Any], device: str, steps: int, cache: Path) -> dict[str, Any]:
    """Train ``steps`` optimizer steps for one row; return measured figures."""
    import torch
    from datasets import Dataset
    from tunetui.runner.recipe import Recipe
    from tunetui.runner.train.loading import load_model, load_tokenizer
    from tunetui.runner.train.methods import peft_config, prepare_model, resolve_precision
    from tunetui.runner.train.methods import quantization_config as quant_cfg
    from tunetui.runner.train.stages.common import StageContext
    from tunetui.runner.train.stages.registry import get_stage

    cache.mkdir(parents=True, exist_ok=True)
    model_dir = _model_dir(row["model"], cache)
    recipe = Recipe.model_validate(
        {
            "name": "gpu-bench",
            "method": row["method"],
            "model": {"name_or_path": str(model_dir), "attn_implementation": row["attn"]},
            "lora": {"rank": row["lora_rank"], "alpha": 2 * row["lora_rank"]},
            "quantization": {"bits": row["bits"] if row["method"] == "qlora" else None},
            "data": {"cutoff_len": row["seq_len"]},
            "training": {
                "batch_size": row["batch_size"],
                "grad_accum": 1,
                "max_steps": steps,
                "gradient_checkpointing": row["gradient_checkpointing"],
                "optimizer": row["optimizer"],
                "precision": row["precision"],
                "logging_steps": 1,
                "save_steps": 10**6,
                "save_total_limit": None,
            },
        }
    )
    precision = resolve_precision(recipe, device)
    tokenizer = load_tokenizer(model_dir)
    model = load_model(
        model_dir,
        dtype=precision.load_dtype,
        attn_implementation=row["attn"],
        quantization_config=quant_cfg(recipe, precision, device),
        device_map={"": 0} if device == "cuda" else None,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = prepare_model(model, recipe, row["gradient_checkpointing"])
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    n = row["batch_size"] * steps
    ids = torch.randint(0, vocab, (n, row["seq_len"]), generator=gen).tolist()
    dataset = Dataset.from_dict({"input_ids": ids})
    run_dir = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    ctx = StageContext(
        recipe=recipe,
        run_dir=run_dir,
        model=model,
        tokenizer=tokenizer,
        train_dataset=dataset,
        eval_dataset=None,
        peft_config=peft_config(recipe, model) if recipe.is_peft else None,
        precision=precision,
        device=device,
    )
    trainer = get_stage("sft").build(ctx)
    step_times: list[float] = []

    from transformers import TrainerCallback

    class _Timer(TrainerCallback):
        t0 = 0.0

        def on_step_begin(self, *a: Any, **k: Any) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            self.t0 = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            step_times.append(time.perf_counter() - self.t0)

    trainer.add_callback(_Timer())
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with NvmlPeak() as nvml:
        trainer.train()
    out: dict[str, Any] = {"outcome": "ok"}
    if device == "cuda":
        out["alloc_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
        out["reserved_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 3)
        out["nvml_gib"] = round(nvml.peak_gib, 3)
    else:
        import resource

        out["alloc_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)
    timed = step_times[1:] or step_times
    if timed:
        step_s = sorted(timed)[len(timed) // 2]
        out["step_s"] = round(step_s, 4)
        out["tokens_per_s"] = round(row["batch_size"] * row["seq_len"] / step_s, 1)
    return out


def _child(row_json: str, device: str, steps: int, cache: str, result: str) -> None:
    row = json.loads(row_json)
    try:
        out = run_one(row, device, steps, Path(cache))
    except Exception as err:  # recorded, never raised: OOM is a result here
        kind = type(err).__name__
        oom = "OutOfMemory" in kind or "out of memory" in str(err).lower()
        out = {"outcome": "oom" if oom else "error", "error": f"{kind}: {err}"[:300]}
    Path(result).write_text(json.dumps(out))


# ----------------------------------------------------------------------------- driver
def environment() -> dict[str, str]:
    """GPU name, driver and library versions for every CSV row."""
    env = {"gpu": "cpu", "driver": ""}
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        env["gpu"] = name.decode() if isinstance(name, bytes) else name
        drv = pynvml.nvmlSystemGetDriverVersion()
        env["driver"] = drv.decode() if isinstance(drv, bytes) else drv
    except Exception:
        pass
    from importlib.metadata import PackageNotFoundError, version

    for lib in ("torch", "transformers", "peft", "trl", "bitsandbytes"):
        try:
            env[lib] = version(lib)
        except PackageNotFoundError:
            env[lib] = ""
    return env


def _pct(est: Any, measured: Any) -> str:
    try:
        return f"{100.0 * (float(est) - float(measured)) / float(measured):+.1f}"
    except (TypeError, ValueError, ZeroDivisionError):
        return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="print the grid and exit")
    ap.add_argument("--only", help="comma-separated model ids (or 'tiny')")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per configuration")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "tunetui-gpu-bench"))
    ap.add_argument("--out", help="CSV path (default bench/results/gpu_memory_<gpu>.csv)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:
        _child(args.one, args.device, args.steps, args.cache, args.result)
        return 0

    rows = grid()
    if args.only:
        wanted = set(args.only.split(","))
        rows = [r for r in rows if r["model"] in wanted] or (
            [{**BASE, "model": "tiny", "seq_len": 64, "batch_size": 2, "precision": "fp32"}]
            if "tiny" in wanted
            else []
        )
    if args.limit:
        rows = rows[: args.limit]
    if args.list:
        for r in rows:
            print(json.dumps(r))
        print(f"{len(rows)} configurations", file=sys.stderr)
        return 0

    env = environment()
    gpu_key = "".join(c if c.isalnum() else "_" for c in env["gpu"]).strip("_").lower()
    out_path = Path(args.out) if args.out else RESULTS / f"gpu_memory_{gpu_key}.csv"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # the worker's allocator settings (runner.allocator), so each row measures what a run does
    from tunetui.runner.allocator import worker_env

    child_env = {**os.environ, **worker_env(args.device)}
    records = []
    for i, row in enumerate(rows, 1):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            result_path = fh.name
        cmd = [
            sys.executable, __file__, "--one", json.dumps(row), "--result", result_path,
            "--device", args.device, "--steps", str(args.steps), "--cache", args.cache,
        ]  # fmt: skip
        t0 = time.time()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, env=child_env
            )
            text = Path(result_path).read_text() if os.path.getsize(result_path) else ""
            measured = json.loads(text) if text else {
                "outcome": "crash", "error": (proc.stderr or "")[-300:]
            }  # fmt: skip
        except subprocess.TimeoutExpired:
            measured = {"outcome": "timeout", "error": f"> {args.timeout} s"}
        finally:
            os.unlink(result_path)
        try:
            est = planner_estimate(row, env["gpu"] if args.device == "cuda" else None)
        except Exception as err:
            est = {"error": f"planner: {err}"}
        rec = {**env, **row, **est, **measured}
        metric = "alloc_gib" if args.device == "cuda" else None
        if metric and measured.get("outcome") == "ok":
            rec["err_alloc_pct"] = _pct(est.get("est_alloc_gib"), measured.get("alloc_gib"))
            rec["err_reserved_pct"] = _pct(
                est.get("est_reserved_gib"), measured.get("reserved_gib")
            )
            rec["err_total_pct"] = _pct(est.get("est_total_gib"), measured.get("nvml_gib"))
        records.append(rec)
        print(
            f"[{i}/{len(rows)}] {row['model']} {row['method']} b{row['batch_size']} "
            f"s{row['seq_len']} ckpt={row['gradient_checkpointing']} -> {rec.get('outcome')} "
            f"alloc={rec.get('alloc_gib', '')} est={rec.get('est_alloc_gib', '')} "
            f"err={rec.get('err_alloc_pct', '')}% ({time.time() - t0:.0f}s)",
            flush=True,
        )
    with open(out_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    print(f"wrote {out_path} ({len(records)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
