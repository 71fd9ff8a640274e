"""Learning from this machine: measured vs planned peak memory of earlier runs' first steps.

Each run's first optimizer step appends one JSON line (GPU, model architecture and size,
method, bits, sequence length, batch, planned and measured GiB) to a calibration file in the
user's cache (`tunetui.runner.calibration` knows where). When similar jobs were measured on
the same GPU, `correction` gives the median measured/planned ratio, which the plan applies
and states ("calibrated on 3 runs on this GPU: +4%"). Pure stdlib: the planner stays
torch-free.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .trainconfig import Estimate

# Jobs are "similar" when the same GPU trained the same architecture at the same size with
# the same method and bit width: the formula's error comes from the stack and the model's
# code, which these fix, and from how its terms weigh against each other, which the size
# decides (a 135M model is mostly logits and runtime, an 8B one mostly weights); sequence
# length and batch scale the terms the formula already scales.
MATCH_KEYS = ("gpu", "architecture", "method", "bits", "precision", "grad_ckpt", "formula")
# The memory formula's revision: a ratio is learnt against one formula, and a later formula
# (a new term, a changed constant) would be corrected by it twice. Bump on any such change;
# rows of another revision are kept in the file but no longer match.
FORMULA = "2026-12-02b"
MAX_RATIO_CHANGE = 0.5  # a ratio outside 0.5-1.5 is a broken measurement, not a correction
SIZE_SEP = "@"  # "llama@1.7B": no model_type contains it


def size_bucket(params: float) -> str:
    """A parameter count to two significant figures ('135M' -> '130M', 8.03e9 -> '8.0B'):
    fine-tunes of one base (same count) share a bucket, siblings of another size never do."""
    if params <= 0:
        return "0"
    unit, scale = ("B", 1e9) if params >= 1e9 else ("M", 1e6) if params >= 1e6 else ("K", 1e3)
    value = float(f"{params / scale:.2g}")
    return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"


def architecture_key(family: str, params: float) -> str:
    """What the calibration file calls a model: its architecture and its size bucket
    ('llama@130M'), so that a tiny test llama and SmolLM2 never correct each other."""
    return f"{family}{SIZE_SEP}{size_bucket(params)}"


def _same_architecture(recorded: str, asked: object) -> bool:
    """A sized key matches only the same size; a bare family (a caller that does not know
    the size) matches every size of that family, as every key did before sizes."""
    if not isinstance(asked, str):
        return False
    if SIZE_SEP in asked:
        return recorded == asked
    return recorded.split(SIZE_SEP, 1)[0] == asked


@dataclass(frozen=True)
class Measurement:
    gpu: str
    architecture: str
    method: str
    bits: int
    seq: int
    batch: int
    planned_gib: float
    measured_gib: float
    # Rows from before the key had it read "" and match nothing: the CPU plan switched from
    # fp32 to bf16 with it, and a ratio learnt against the old formula would be wrong.
    precision: str = ""
    formula: str = ""
    # With and without checkpointing the unmodelled share differs (CPU bench: +2% vs +11%
    # measured over planned): one median over both fitted neither.
    grad_ckpt: bool | None = None


@dataclass(frozen=True)
class Correction:
    ratio: float
    runs: int
    where: str = "this GPU"

    @property
    def note(self) -> str:
        """What the plan says about it: 'calibrated on 3 runs on this GPU: +4%'."""
        pct = round((self.ratio - 1) * 100)
        runs = "1 run" if self.runs == 1 else f"{self.runs} runs"
        return f"calibrated on {runs} on {self.where}: {pct:+d}%"

    def apply(self, est: Estimate) -> Estimate:
        """The estimate scaled by the ratio, every part alike (the breakdown still sums to
        the total), with the note among its notes."""
        r = self.ratio
        return replace(
            est,
            allocated_gib=est.allocated_gib * r,
            reserved_gib=est.reserved_gib * r,
            total_gib=est.total_gib * r,
            breakdown_gib={k: v * r for k, v in est.breakdown_gib.items()},
            notes=[*est.notes, self.note],
        )


def job_key(plan: dict[str, Any]) -> dict[str, Any] | None:
    """A plan's job as the file keys it (`build_plan`'s dict, a run's plan.json): the GPU
    it sized against, the model's architecture, the method, weight bits, length and batch.
    Plan and worker both key from the plan, so a lookup finds what a run recorded."""
    try:
        rec, estimate = plan["recommendation"], plan["estimate"]
        key = {
            "gpu": str(plan["hardware"]["name"]),
            "architecture": architecture_key(
                str(plan["model"]["family"]), float(plan["model"]["params"])
            ),
            "method": str(rec["method"]),
            "bits": int(rec["bits"]),
            "seq": int(rec["cutoff_len"]),
            "batch": int(rec["batch"]),
            "precision": str(rec["precision"]),
            "formula": str(plan.get("formula", "")),
            "grad_ckpt": bool(rec["grad_ckpt"]),
        }
        float(estimate["total_gib"])
    except (KeyError, TypeError, ValueError):
        return None
    return key


def record(path: Path, m: Measurement) -> None:
    """Append one measurement (one line; a crash mid-write loses at most that line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(m)) + "\n")


def load(path: Path) -> list[Measurement]:
    """Every readable line of the file; a damaged line is skipped, never an error."""
    out: list[Measurement] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(Measurement(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return out


def correction(rows: list[Measurement], **job: object) -> Correction | None:
    """The median measured/planned ratio of the rows matching ``job`` on MATCH_KEYS
    (``architecture``: an `architecture_key`; a bare family matches all its sizes)."""
    exact = [k for k in MATCH_KEYS if k != "architecture"]
    ratios = [
        r.measured_gib / r.planned_gib
        for r in rows
        if all(getattr(r, k) == job.get(k) for k in exact)
        and _same_architecture(r.architecture, job.get("architecture"))
        and r.planned_gib > 0
        and abs(r.measured_gib / r.planned_gib - 1) <= MAX_RATIO_CHANGE
    ]
    if not ratios:
        return None
    where = "this CPU" if job.get("gpu") == "CPU" else "this GPU"
    return Correction(statistics.median(ratios), len(ratios), where)
