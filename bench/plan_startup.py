"""Is `tunetui plan` fast? Whole-process wall time of `tunetui plan --json` vs `import torch`.

The promise is an answer "in well under a second, before anything is downloaded"; the
target is a plan in under a tenth of what importing torch alone costs. Both are timed as
fresh processes (median of several runs), so interpreter start-up is included in both.

    python bench/plan_startup.py [--runs 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

PLAN = [sys.executable, "-m", "tunetui", "plan", "--model", "llama-3.1-8b", "--gpu", "4090",
        "--json"]  # fmt: skip
TORCH = [sys.executable, "-c", "import torch"]
# Byte-code caching on, as in any pip install (pip compiles .pyc files at install time): a
# PYTHONDONTWRITEBYTECODE=1 environment would otherwise time the compiler on every run.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_seconds(cmd: list[str], runs: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``runs`` fresh processes, after one untimed warm-up.

    CPU time (user + sys) is reported too because on a shared machine wall time mostly
    measures the other tenants.
    """
    subprocess.run(cmd, capture_output=True, check=True, env=ENV)
    walls, cpus = [], []
    for _ in range(runs):
        cpu0, start = _child_cpu(), time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=ENV)
        walls.append(time.perf_counter() - start)
        cpus.append(_child_cpu() - cpu0)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    plan, plan_cpu = median_seconds(PLAN, args.runs)
    try:
        torch, torch_cpu = median_seconds(TORCH, max(3, args.runs // 2))
    except subprocess.CalledProcessError:
        torch = torch_cpu = float("nan")
    ratio, cpu_ratio = plan / torch, plan_cpu / torch_cpu
    result = {"plan_s": round(plan, 3), "import_torch_s": round(torch, 3),
              "plan_cpu_s": round(plan_cpu, 3), "import_torch_cpu_s": round(torch_cpu, 3),
              "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3),
              "target_ratio": 0.1, "ok": ratio < 0.1}  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'':26s} {'wall':>8s} {'cpu':>8s}   (median of {args.runs} processes)")
    print(f"{'tunetui plan --json':26s} {plan * 1e3:6.0f}ms {plan_cpu * 1e3:6.0f}ms")
    print(f"{'python -c import torch':26s} {torch * 1e3:6.0f}ms {torch_cpu * 1e3:6.0f}ms")
    print(f"ratio wall {ratio:.3f}, cpu {cpu_ratio:.3f} (target < 0.1): "
          f"{'ok' if result['ok'] else 'MISSED on wall time'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
