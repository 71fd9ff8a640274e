"""CPU SFT benchmark: one job through LLaMA-Factory and through tunetui, side by side.

The job: SmolLM2-135M, LoRA r8 on all linear layers, identity + alpaca_en_demo,
max_samples 100, cutoff 512, batch 2 x grad-accum 4, 10 steps, lr 1e-4 (80 samples), each
tool's own precision: tunetui's ``auto`` (bf16 on a CPU with native bf16, else fp32) and
LLaMA-Factory's default (transformers loads the config's dtype, bf16 for SmolLM2, and trains
in it with fp32 adapters). Each run records the precision it used.
With ``--lf-venv DIR`` (a venv with ``llamafactory==0.9.5`` and ``torch==2.13.0``) the script
runs LLaMA-Factory's own ``llamafactory-cli train`` on the same model folder, data and settings,
alternating with tunetui ``--repeats`` times, and reports medians: the ratio is measured in one
invocation, not remembered. ``--grad-ckpt`` adds a third contender, tunetui with gradient
checkpointing on, which is LLaMA-Factory's default. Targets (issue 18): tunetui's worker peak
at or below LLaMA-Factory's peak, and >= 1.5x its train samples/s.

The job runs exactly as a user would run it: a generated recipe, then
``tunetui run RECIPE --headless`` in a subprocess (launcher -> worker in its own session).
Wall time runs from that command to the adapter's weights on disk; peak RSS is the largest
resident set of any process in the tree (each process's ``VmHWM``; the worker's own ``end``
event reports its peak too). LLaMA-Factory is measured the same way. The embedded model is
converted from its GGUF once, before any clock starts.

    python bench/cpu_sft.py --lf-venv ../lfvenv --repeats 3 --grad-ckpt --threads 2

LLaMA-Factory 0.9.5 imports ``torchaudio`` at module level, and no torchaudio build exists
for torch 2.13 (installing one pulls a CUDA torch); when its venv has none, the script puts an
empty stand-in on that process's ``PYTHONPATH`` (a text-only job never calls it).

Writes ``bench/results/cpu_sft.json``. LLaMA-Factory's data comes from
``../shared/data/llamafactory`` beside the project (``--data-dir`` to point elsewhere).
Timings on a shared, loaded machine are pessimistic: the JSON records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT = HERE / "results" / "cpu_sft.json"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "llamafactory"
SAMPLES = 10 * 2 * 4  # steps x batch x grad-accum

TARGET_SPEED_RATIO = 1.5


def bench_recipe(data_dir: Path, precision: str = "auto", grad_ckpt: bool = False) -> Any:
    """The benchmark job as a tunetui recipe (LLaMA-Factory's defaults where it set none)."""
    from tunetui.runner.recipe import Recipe

    return Recipe.model_validate(
        {
            "name": "bench-cpu-sft",
            "stage": "sft",
            "method": "lora",
            "model": {"name_or_path": "smollm2-135m"},
            "data": {
                "datasets": ["identity", "alpaca_en_demo"],
                "dataset_dir": str(data_dir),
                "cutoff_len": 512,
                "max_samples": 100,
            },
            # LLaMA-Factory: lora_alpha defaults to 2 x rank, lora_dropout to 0.
            "lora": {"rank": 8, "alpha": 16, "dropout": 0.0, "targets": "all"},
            "training": {
                "max_steps": 10,
                "learning_rate": 1e-4,
                "batch_size": 2,
                "grad_accum": 4,
                "lr_scheduler": "cosine",
                "logging_steps": 1,
                "save_steps": 500,  # LLaMA-Factory's default: no checkpoint in 10 steps
                "precision": precision,
                "gradient_checkpointing": grad_ckpt,
            },
        }
    )


def prepare_model() -> Path:
    """Convert the embedded model once (outside the timed part); returns its folder, which
    LLaMA-Factory then loads too, so both read the same weights."""
    code = (
        "from tunetui.runner.train.loading import resolve_model_dir; "
        "print(resolve_model_dir('smollm2-135m'))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def _read_events(run_dir: Path) -> list[dict[str, Any]]:
    from tunetui.runner.events import read_events

    return read_events(run_dir / "events.jsonl")


def _adapter_saved_at(run_dir: Path) -> float | None:
    weights = sorted((run_dir / "adapter").glob("adapter_model.*"))
    return weights[0].stat().st_mtime if weights else None


class PeakRss:
    """Largest resident set of a process tree, from each process's own high-water mark.

    The worker runs in its own session and may outlive the ``tunetui run`` that started it
    by a moment (it is not always waited for), so ``RUSAGE_CHILDREN`` can miss it; Linux's
    ``VmHWM`` (peak RSS, kept by the kernel) read while it runs does not.
    """

    def __init__(self, root_pid: int) -> None:
        import threading

        self.root_pid = root_pid
        self.peak_bytes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psutil

        while not self._done.is_set():
            try:
                procs = [psutil.Process(self.root_pid)]
                procs += procs[0].children(recursive=True)
            except psutil.Error:
                procs = []
            for proc in procs:
                self.peak_bytes = max(self.peak_bytes, _vm_hwm(proc.pid))
            self._done.wait(0.2)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak_bytes


def _vm_hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run_job(
    data_dir: Path,
    work: Path,
    threads: int | None = None,
    grad_ckpt: bool = False,
    precision: str = "auto",
) -> dict[str, Any]:
    """Run the job via the CLI and measure it; returns the raw figures.

    ``threads`` sets ``OMP_NUM_THREADS`` for the run: on a CPU shared with other jobs, torch's
    default (one thread per core) spin-waits on cores others hold, and steps get many times
    slower; one thread per free core is the fair, fast setting.
    """
    from tunetui.runner.recipe_io import save_recipe

    work.mkdir(parents=True, exist_ok=True)
    recipe_path = save_recipe(
        bench_recipe(data_dir, precision=precision, grad_ckpt=grad_ckpt), work / "cpu_sft.yaml"
    )
    run_dir = work / "run"
    argv = [sys.executable, "-m", "tunetui", "run", str(recipe_path), "--headless"]
    argv += ["--output", str(run_dir)]
    wall_start = time.time()
    t0 = time.monotonic()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    sampler = PeakRss(proc.pid)
    stdout, stderr = proc.communicate()
    exit_wall = time.monotonic() - t0
    peak_bytes = sampler.stop()
    if proc.returncode != 0:
        log = (
            (run_dir / "train.log").read_text(errors="replace")[-3000:] if run_dir.exists() else ""
        )
        raise SystemExit(f"the run failed ({proc.returncode}):\n{stdout}\n{stderr}\n{log}")
    events = _read_events(run_dir)
    end = next((e for e in reversed(events) if e.get("type") == "end"), {})
    start = next((e for e in events if e.get("type") == "start"), {})
    metrics = end.get("metrics") or {}
    runtime = metrics.get("train_runtime")
    samples_per_s = metrics.get("train_samples_per_second")
    if samples_per_s is None and runtime:
        samples_per_s = SAMPLES / runtime
    saved = _adapter_saved_at(run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    raw = (plan.get("calibration") or {}).get("raw_total_gib")
    planned_rate = (plan.get("time") or {}).get("tokens_per_s")
    return {
        "run_dir": str(run_dir),
        "train_samples_per_s": _round(samples_per_s),
        "train_runtime_s": _round(runtime),
        "wall_s": _round(saved - wall_start if saved else exit_wall),
        "wall_to_exit_s": _round(exit_wall),
        "start_event_after_s": _round(start["t"] - wall_start) if start.get("t") else None,
        "peak_rss_gb": _round(peak_bytes / 1e9),
        "worker_peak_gib": end.get("peak_mem_gib"),
        "worker_peak_kind": end.get("peak_kind"),
        "plan_gib": end.get("plan_gib"),
        # the formula before this machine's calibration file corrected it (plan --no-calibration)
        "plan_raw_gib": raw if raw is not None else end.get("plan_gib"),
        "tokens_per_s": _round(metrics["num_tokens"] / runtime) if runtime else None,
        "plan_tokens_per_s": planned_rate,
        "final_loss": _round(metrics.get("train_loss")),
        "device": start.get("device"),
        "precision": start.get("precision"),
    }


def lf_config(model_dir: Path, data_dir: Path, out: Path) -> dict[str, Any]:
    """The bench job in LLaMA-Factory's terms (its defaults elsewhere: gradient checkpointing
    on, lora_alpha 2 x rank, no dropout, the weights in the config's dtype)."""
    recipe = bench_recipe(data_dir)
    d, t, lora = recipe.data, recipe.training, recipe.lora
    return {
        "model_name_or_path": str(model_dir),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": lora.rank,
        "lora_target": "all",
        "dataset": ",".join(d.datasets),
        "dataset_dir": str(data_dir),
        "template": "smollm2",
        "cutoff_len": d.cutoff_len,
        "max_samples": d.max_samples,
        "overwrite_cache": True,
        "preprocessing_num_workers": 1,
        "output_dir": str(out),
        "logging_steps": 1,
        "save_steps": t.save_steps,
        "overwrite_output_dir": True,
        "report_to": "none",
        "per_device_train_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
        "learning_rate": t.learning_rate,
        "max_steps": t.max_steps,
        "lr_scheduler_type": t.lr_scheduler,
    }


TORCHAUDIO_STUB = (
    '"""Stand-in: LLaMA-Factory imports torchaudio for audio inputs only."""\n'
    '__version__ = "0.0.0+stub"\n'
)


def lf_env(venv: Path, work: Path, threads: int | None) -> dict[str, str]:
    """The environment for LLaMA-Factory's process (see the module docstring on torchaudio)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import torchaudio"], env=env,
                           capture_output=True)  # fmt: skip
    if probe.returncode != 0:
        stub = work / "stub" / "torchaudio"
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "__init__.py").write_text(TORCHAUDIO_STUB)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(stub.parent), env.get("PYTHONPATH")]))
    return env


def run_lf(
    venv: Path, model_dir: Path, data_dir: Path, work: Path, threads: int | None
) -> dict[str, Any]:
    """``llamafactory-cli train`` on the bench job; the same figures as `run_job`."""
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    config = work / "lf.yaml"
    config.write_text(yaml.safe_dump(lf_config(model_dir, data_dir, out), sort_keys=False))
    env = lf_env(venv, work, threads)
    wall_start = time.time()
    t0 = time.monotonic()
    argv = [str(venv / "bin" / "llamafactory-cli"), "train", str(config)]
    with open(work / "lf.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
        sampler = PeakRss(proc.pid)
        proc.wait()
    exit_wall = time.monotonic() - t0
    peak_bytes = sampler.stop()
    if proc.returncode != 0:
        tail = (work / "lf.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"LLaMA-Factory failed ({proc.returncode}):\n{tail}")
    results = json.loads((out / "train_results.json").read_text())
    weights = sorted(out.glob("adapter_model.*"))
    return {
        "train_samples_per_s": _round(results.get("train_samples_per_second")),
        "train_runtime_s": _round(results.get("train_runtime")),
        "wall_s": _round(weights[0].stat().st_mtime - wall_start if weights else exit_wall),
        "wall_to_exit_s": _round(exit_wall),
        "peak_rss_gb": _round(peak_bytes / 1e9),
        "final_loss": _round(results.get("train_loss")),
        "precision": _lf_dtype((work / "lf.log").read_text(errors="replace")),
    }


def _lf_dtype(log: str) -> str | None:
    """The dtype LLaMA-Factory's model was loaded in, from transformers' line in its log."""
    import re

    found = re.search(r"Will use dtype=torch\.(\w+)", log)
    return found.group(1) if found else None


def _round(value: Any, digits: int = 3) -> Any:
    return round(float(value), digits) if isinstance(value, (int, float)) else value


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each numeric figure over the repeats (the other fields from the first)."""
    merged = dict(runs[0])
    for key, value in runs[0].items():
        values = [r.get(key) for r in runs]
        if isinstance(value, (int, float)) and all(isinstance(v, (int, float)) for v in values):
            merged[key] = _round(statistics.median(values))
    merged["repeats"] = len(runs)
    return merged


def plan_error(plan: float | None, run: dict[str, Any]) -> float | None:
    """The plan against the worker's measured peak, in percent (negative: under)."""
    measured = run.get("worker_peak_gib")
    return round(100 * (plan / measured - 1), 1) if plan and measured else None


def compare(tunetui: dict[str, Any], lf: dict[str, Any]) -> dict[str, Any]:
    """Ratios against LLaMA-Factory, and the issue's two targets, plus the planner's error."""
    ratio = (tunetui.get("train_samples_per_s") or 0.0) / (lf.get("train_samples_per_s") or 1e-9)
    worker_gb = (tunetui.get("worker_peak_gib") or 0.0) * 2**30 / 1e9
    plan = tunetui.get("plan_gib")
    return {
        "samples_per_s_ratio": round(ratio, 2),
        "wall_speedup": round(lf["wall_s"] / tunetui["wall_s"], 2),
        "worker_peak_gb": round(worker_gb, 3),
        "peak_vs_lf": round(worker_gb / lf["peak_rss_gb"], 2),
        "plan_error_pct": plan_error(plan, tunetui),
        "plan_raw_error_pct": plan_error(tunetui.get("plan_raw_gib"), tunetui),
        "pass": {
            "samples_per_s": ratio >= TARGET_SPEED_RATIO,
            "peak_at_or_below_lf": worker_gb <= lf["peak_rss_gb"],
        },
    }


def cpu_model() -> dict[str, Any]:
    """The CPU's name and the flags that decide CPU training speed (bf16, AVX-512, AMX)."""
    from tunetui.planner.probe import cpu_fields, cpu_flags

    name, flags = platform.processor() or cpu_fields().get("model name", ""), cpu_flags()
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
    return {"model": name or platform.machine(), "flags": [f for f in wanted if f in flags]}


def machine(threads: int | None) -> dict[str, Any]:
    """What the figures were measured on; the load average says how shared the CPU was."""
    import psutil

    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "nice": os.nice(0),
        "omp_num_threads": str(threads) if threads else os.environ.get("OMP_NUM_THREADS"),
    }


FIGURES = (
    ("train samples/s", "train_samples_per_s"),
    ("train runtime s", "train_runtime_s"),
    ("wall s (to adapter)", "wall_s"),
    ("peak RSS GB (tree)", "peak_rss_gb"),
    ("worker peak GiB", "worker_peak_gib"),
    ("plan GiB", "plan_gib"),
    ("plan GiB, raw", "plan_raw_gib"),
    ("tokens/s", "tokens_per_s"),
    ("plan tokens/s", "plan_tokens_per_s"),
    ("final loss", "final_loss"),
)


def report(result: dict[str, Any]) -> str:
    """A table: one column per contender, then the comparisons."""
    names = list(result["contenders"])
    lines = [f"{'':22}" + "".join(f"{n:>16}" for n in names)]
    for label, key in FIGURES:
        cells = [result["contenders"][n].get(key) for n in names]
        lines.append(f"{label:22}" + "".join(f"{'-' if c is None else c!s:>16}" for c in cells))
    for name, c in result.get("comparison", {}).items():
        ok = {k: "ok" if v else "MISSED" for k, v in c["pass"].items()}
        plan = "-" if c["plan_raw_error_pct"] is None else f"{c['plan_raw_error_pct']:+}%"
        lines.append(
            f"{name}: {c['samples_per_s_ratio']}x LF's samples/s (target >= "
            f"{TARGET_SPEED_RATIO}: {ok['samples_per_s']}), worker peak {c['worker_peak_gb']} GB "
            f"= {c['peak_vs_lf']}x LF's peak ({ok['peak_at_or_below_lf']}), "
            f"raw plan {plan} vs measured"
        )
    mach = result["machine"]
    lines.append(
        f"machine: {mach['cpu']['model']} ({', '.join(mach['cpu']['flags'])}), {mach['cpus']} "
        f"cpus, load {mach['loadavg_1m']} at start, OMP threads {mach['omp_num_threads']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--lf-venv", type=Path, help="venv with llamafactory to run beside tunetui")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each")
    parser.add_argument(
        "--grad-ckpt", action="store_true", help="also run tunetui with LF's gradient checkpointing"
    )
    parser.add_argument(
        "--fp32", action="store_true", help="also run tunetui in fp32 (the planner's fp32 terms)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for every run")
    parser.add_argument("--no-write", action="store_true", help="do not update the results file")
    args = parser.parse_args(argv)
    if not (args.data_dir / "dataset_info.json").is_file():
        print(f"error: LLaMA-Factory data not found in {args.data_dir}. Pass --data-dir.")
        return 2
    if args.lf_venv and not (args.lf_venv / "bin" / "llamafactory-cli").is_file():
        print(f"error: {args.lf_venv} has no bin/llamafactory-cli. Pass a venv with llamafactory.")
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_dir = prepare_model()
    mach = machine(args.threads)
    work = Path(tempfile.mkdtemp(prefix="tunetui-bench-"))
    contenders: dict[str, Any] = {"tunetui": lambda w: run_job(args.data_dir, w, args.threads)}
    if args.grad_ckpt:
        contenders["tunetui+ckpt"] = lambda w: run_job(args.data_dir, w, args.threads, True)
    if args.fp32:
        contenders["tunetui-fp32"] = lambda w: run_job(
            args.data_dir, w, args.threads, precision="fp32"
        )
    if args.lf_venv:
        contenders["llamafactory"] = lambda w: run_lf(
            args.lf_venv, model_dir, args.data_dir, w, args.threads
        )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    for i in range(args.repeats):  # alternate, so a change in the machine's load hits all
        for name, job in contenders.items():
            runs[name].append(job(work / f"{name}-{i}"))
            print(f"repeat {i + 1}: {name} done", file=sys.stderr, flush=True)
    result: dict[str, Any] = {
        "job": "SmolLM2-135M LoRA r8 all-linear, identity+alpaca_en_demo, 100 samples/dataset, "
        "cutoff 512, 2x4, 10 steps, lr 1e-4, each tool's default precision, CPU",
        "contenders": {name: medians(r) for name, r in runs.items()},
        "runs": runs,
        "machine": mach,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.lf_venv:
        lf = result["contenders"]["llamafactory"]
        result["comparison"] = {
            n: compare(m, lf) for n, m in result["contenders"].items() if n != "llamafactory"
        }
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        for r in runs.values():
            for one in r:
                one.pop("run_dir", None)
        for m in result["contenders"].values():
            m.pop("run_dir", None)
    if not args.no_write:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        tmp = RESULT.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, RESULT)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
