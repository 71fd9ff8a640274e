"""Is `tunetui plan` fast? Whole-process wall time of `tunetui plan --json` vs `import torch`.

The promise is an answer "in well under a second, before anything is downloaded"; the
target is a plan in under a tenth of what importing torch alone costs. Both are timed as
fresh processes (median of several runs), so interpreter start-up is included in both.

    python bench/plan_startup.py [--runs 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PLAN = [sys.executable, "-m", "tunetui", "plan", "--model", "llama-3.1-8b", "--gpu", "4090",
        "--json"]  # fmt: skip
TORCH = [sys.executable, "-c", "import torch"]


def median_seconds(cmd: list[str], runs: int) -> float:
    """Median wall time of ``runs`` fresh processes (one untimed warm-up for the page cache)."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    plan = median_seconds(PLAN, args.runs)
    try:
        torch = median_seconds(TORCH, max(3, args.runs // 2))
    except subprocess.CalledProcessError:
        torch = float("nan")
    ratio = plan / torch if torch == torch else float("nan")
    result = {"plan_s": round(plan, 3), "import_torch_s": round(torch, 3),
              "ratio": round(ratio, 3), "target_ratio": 0.1, "ok": ratio < 0.1}  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        print(f"tunetui plan --json : {plan * 1000:7.0f} ms (median of {args.runs})")
        print(f"python -c 'import torch': {torch * 1000:7.0f} ms")
        print(f"ratio {ratio:.3f} (target < 0.1): {'ok' if result['ok'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
