"""CPU SFT benchmark: the job LLaMA-Factory 0.9.5 ran on this kind of machine, through tunetui.

The job: SmolLM2-135M, LoRA r8 on all linear layers, identity + alpaca_en_demo,
max_samples 100, cutoff 512, batch 2 x grad-accum 4, 10 steps, lr 1e-4 (80 samples).
LLaMA-Factory measured 0.938 train samples/s (train_runtime 85.3 s), 122 s wall from command
to saved adapter, peak RSS 2.55 GB. Targets: >= 1.3x its samples/s, <= 60 s wall, peak RSS
<= 2.55 GB.

The job runs exactly as a user would run it: a generated recipe, then
``tunetui run RECIPE --headless`` in a subprocess (launcher -> worker in its own session).
Wall time runs from that command to the adapter's weights on disk; peak RSS is the largest
resident set of any process in the tree (``RUSAGE_CHILDREN``; the worker's own ``end`` event
reports its peak too). The embedded model is converted from its GGUF before the clock starts,
as LLaMA-Factory's figures assume a model already downloaded.

    nice python bench/cpu_sft.py [--json] [--keep]

Writes ``bench/results/cpu_sft.json``. LLaMA-Factory's data comes from
``../shared/data/llamafactory`` beside the project (``--data-dir`` to point elsewhere).
Timings on a shared, loaded machine are pessimistic: the JSON records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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

LLAMA_FACTORY = {
    "version": "0.9.5",
    "train_samples_per_s": 0.938,
    "train_runtime_s": 85.3,
    "wall_s": 122.0,
    "peak_rss_gb": 2.55,
}
TARGETS = {"samples_per_s_ratio": 1.3, "wall_s": 60.0, "peak_rss_gb": 2.55}


def bench_recipe(data_dir: Path, precision: str = "auto") -> Any:
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
            },
        }
    )


def prepare_model() -> float:
    """Convert the embedded model once (outside the timed part); returns seconds spent."""
    started = time.monotonic()
    code = (
        "from tunetui.runner.train.loading import resolve_model_dir; "
        "resolve_model_dir('smollm2-135m')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.monotonic() - started


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
    data_dir: Path, work: Path, threads: int | None = None, precision: str = "auto"
) -> dict[str, Any]:
    """Run the job via the CLI and measure it; returns the raw figures.

    ``threads`` sets ``OMP_NUM_THREADS`` for the run: on a CPU shared with other jobs, torch's
    default (one thread per core) spin-waits on cores others hold, and steps get many times
    slower; one thread per free core is the fair, fast setting.
    """
    from tunetui.runner.recipe_io import save_recipe

    recipe_path = save_recipe(bench_recipe(data_dir, precision), work / "cpu_sft.yaml")
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
    hwm = sampler.stop()
    peak_bytes = max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
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
        "final_loss": _round(metrics.get("train_loss")),
        "device": start.get("device"),
    }


def _round(value: Any, digits: int = 3) -> Any:
    return round(float(value), digits) if isinstance(value, (int, float)) else value


def compare(measured: dict[str, Any]) -> dict[str, Any]:
    """Ratios against LLaMA-Factory and pass/fail per target."""
    sps = measured.get("train_samples_per_s") or 0.0
    ratio = sps / LLAMA_FACTORY["train_samples_per_s"]
    return {
        "samples_per_s_ratio": round(ratio, 2),
        "wall_speedup": round(LLAMA_FACTORY["wall_s"] / measured["wall_s"], 2),
        "pass": {
            "samples_per_s": ratio >= TARGETS["samples_per_s_ratio"],
            "wall_s": measured["wall_s"] <= TARGETS["wall_s"],
            "peak_rss_gb": measured["peak_rss_gb"] <= TARGETS["peak_rss_gb"],
        },
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on; the load average says how shared the CPU was."""
    import psutil

    return {
        "cpus": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "nice": os.nice(0),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def report(result: dict[str, Any]) -> str:
    m, lf, c = result["measured"], LLAMA_FACTORY, result["comparison"]
    ok = {True: "ok", False: "MISSED"}
    rows = [
        ("train samples/s", f"{m['train_samples_per_s']}", f"{lf['train_samples_per_s']}",
         f">= {TARGETS['samples_per_s_ratio']}x: {c['samples_per_s_ratio']}x "
         f"{ok[c['pass']['samples_per_s']]}"),
        ("train runtime s", f"{m['train_runtime_s']}", f"{lf['train_runtime_s']}", ""),
        ("wall s (to adapter)", f"{m['wall_s']}", f"{lf['wall_s']}",
         f"<= {TARGETS['wall_s']:.0f} s {ok[c['pass']['wall_s']]}"),
        ("peak RSS GB", f"{m['peak_rss_gb']}", f"{lf['peak_rss_gb']}",
         f"<= {TARGETS['peak_rss_gb']} {ok[c['pass']['peak_rss_gb']]}"),
    ]  # fmt: skip
    lines = [f"{'':22}{'tunetui':>10}{'LF 0.9.5':>10}  target"]
    lines += [f"{a:22}{b:>10}{c_:>10}  {d}" for a, b, c_, d in rows]
    mach = result["machine"]
    lines.append(
        f"machine: {mach['cpus']} cpus, load {mach['loadavg_1m']} at start "
        "(a shared machine makes these figures pessimistic)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the run folder")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for the run (default: torch's)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update the results file")
    parser.add_argument(
        "--precision", default="auto", choices=("auto", "bf16", "fp32"), help="training precision"
    )
    args = parser.parse_args(argv)
    if not (args.data_dir / "dataset_info.json").is_file():
        print(f"error: LLaMA-Factory data not found in {args.data_dir}. Pass --data-dir.")
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    convert_s = prepare_model()
    mach = machine()
    if args.threads:
        mach["omp_num_threads"] = str(args.threads)
    work = Path(tempfile.mkdtemp(prefix="tunetui-bench-"))
    measured = run_job(args.data_dir, work, args.threads, args.precision)
    measured["precision"] = args.precision
    result = {
        "job": "SmolLM2-135M LoRA r8 all-linear, identity+alpaca_en_demo, 100 samples/dataset, "
        "cutoff 512, 2x4, 10 steps, lr 1e-4, CPU",
        "measured": measured,
        "llamafactory": LLAMA_FACTORY,
        "targets": TARGETS,
        "comparison": compare(measured),
        "machine": mach,
        "model_conversion_s": round(convert_s, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        measured.pop("run_dir")
    if not args.no_write:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        tmp = RESULT.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, RESULT)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
