"""The GPU memory harness runs end to end on CPU (tiny model), so it is ready for a GPU."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_memory.py"


def test_grid_is_large_enough() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, check=True
    )
    assert len(out.stdout.strip().splitlines()) >= 60


def test_one_config_on_cpu_writes_a_row(tmp_path: Path) -> None:
    csv_path = tmp_path / "gm.csv"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--only", "tiny",
         "--cache", str(tmp_path / "cache"), "--out", str(csv_path)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 1
    row = rows[0]
    assert row["outcome"] == "ok", row["error"]
    assert float(row["alloc_gib"]) > 0 and float(row["est_alloc_gib"]) > 0
    assert row["torch"] and row["transformers"]
