"""`tunetui doctor RECIPE`: catch before launch what would waste a GPU-day (issue 13 §3).

Light module (no torch): versions come from package metadata, the chat template and the
tokenizer from their files, lengths from `runner.data.stats`, memory from the planner.
`tunetui run` runs the cheap checks (`CHEAP`) before it starts a worker and refuses on an
error unless ``--force``; the wizard's review step shows the same lines.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.recipe import Recipe

# The training stack the runner's tests passed with (major.minor): another minor version
# may rename a config field or change a default; a warning, not an error.
TESTED = {"torch": "2.13", "transformers": "5.24", "trl": "1.16", "peft": "0.21",
          "accelerate": "1.15", "datasets": "5.2"}  # fmt: skip
# Bytes per trainable parameter in a checkpoint: the weights (fp32 adapter or bf16 model,
# 4 at most) and Adam's two fp32 states (8).
CHECKPOINT_BYTES = 12


@dataclass
class Check:
    name: str
    status: str  # ok | warn | error | skip
    message: str

    def line(self) -> str:
        return f"{self.status:<5} {self.name}: {self.message}"


def check_versions() -> Check:
    lines, status = [], "ok"
    for package, tested in TESTED.items():
        try:
            found = version(package)
        except PackageNotFoundError:
            lines.append(f"{package} missing")
            status = "error"
            continue
        if ".".join(found.split(".")[:2]) != tested:
            lines.append(f"{package} {found} (tested {tested}.x)")
            status = "warn" if status == "ok" else status
    return Check("versions", status, "; ".join(lines) or "the tested training stack")


def check_disk(recipe: Recipe, plan: dict, folder: Path) -> Check:
    """Free disk where the run goes vs a checkpoint's size x save_total_limit (+ output)."""
    trainable = int(plan["estimate"]["trainable_params"])
    one = trainable * CHECKPOINT_BYTES / 2**30
    kept = recipe.training.save_total_limit
    need = one * ((kept or 1) + 1)
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**30
    limit = f"save_total_limit {kept}" if kept else "no save_total_limit (every one kept)"
    msg = f"{need:.1f} GiB needed ({one:.2f} GiB a checkpoint, {limit}), {free:.0f} GiB free"
    status = "error" if need > free else ("warn" if need > 0.8 * free or not kept else "ok")
    return Check("disk", status, msg)


def check_eos(recipe: Recipe, tokenizer_dir: Path | None) -> Check:
    """The chat template ends answers with an EOS the tokenizer knows: without it the model
    never learns to stop."""
    from tunetui.runner.data.templates import special_tokens, template_source

    if tokenizer_dir is None:
        return Check("eos", "skip", "no local tokenizer to check against")
    source, name = template_source(recipe.data.template, tokenizer_dir)
    eos = special_tokens(tokenizer_dir)["eos_token"]
    if not eos:
        return Check("eos", "error", "the tokenizer has no eos_token (tokenizer_config.json)")
    vocab = _vocab(tokenizer_dir)
    if vocab is not None and eos not in vocab:
        return Check("eos", "error", f"eos_token {eos!r} is not in the tokenizer's vocabulary")
    if "eos_token" not in source and eos not in source:
        return Check("eos", "error", f"chat template {name!r} never writes eos_token {eos!r}")
    return Check("eos", "ok", f"template {name!r} ends answers with {eos!r}")


def _vocab(tokenizer_dir: Path) -> set[str] | None:
    """The tokenizer's tokens from tokenizer.json (a dict for BPE/WordPiece, [token, score]
    pairs for Unigram), or None when it does not say (then the EOS is not checked)."""
    path = tokenizer_dir / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    vocab = (data.get("model") or {}).get("vocab") if isinstance(data, dict) else None
    if isinstance(vocab, dict) and vocab:
        words = set(vocab)
    elif isinstance(vocab, list) and vocab:
        words = {entry[0] for entry in vocab if isinstance(entry, list) and entry}
    else:
        return None
    return words | {t.get("content") for t in data.get("added_tokens") or []}


def check_lengths(stats: dict) -> Check:
    """The token-length spread and the share of samples cut by cutoff_len."""
    cut = stats["over_cutoff_frac"]
    msg = (
        f"{stats['n']} samples, tokens p50 {stats['p50']}, p95 {stats['p95']}, "
        f"max {stats['max']}; {cut:.0%} cut by cutoff_len={stats['cutoff_len']}"
    )
    return Check("lengths", "warn" if cut > 0.1 else "ok", msg)


def check_longest(plan: dict, longest: int) -> Check:
    """The plan for the longest batch (the first step: `runner.train.ordering`)."""
    rec, hw = plan["recommendation"], plan["hardware"]
    total = plan["estimate"]["total_gib"]
    msg = (
        f"longest batch ({rec['batch']} x {longest} tokens): {total:.1f} GiB of "
        f"{hw['memory_free_gib']:.1f} free on {hw['name']}"
    )
    if rec["fits"]:
        return Check("memory", "ok", msg)
    # On a GPU an out-of-memory ends the run; on a CPU the host swaps (slowly) and the CPU
    # estimate is rough, so it is a warning there, not a refusal.
    return Check("memory", "error" if hw["device"] == "cuda" else "warn", msg + ": does not fit")


def check_fallbacks(recipe: Recipe, device: str) -> Check:
    """What the run will do otherwise than the recipe asks (flash-attention, Liger)."""
    from tunetui.runner.requirements import fallback_warnings

    found = fallback_warnings(recipe, device)
    if found:
        return Check("fallbacks", "warn", "; ".join(found))
    return Check("fallbacks", "ok", "attention and kernels as the recipe asks")


def check_collective(plan: dict) -> Check:
    n = plan["hardware"]["n_gpus"]
    if n <= 1:
        return Check("collective", "skip", "one device: no collective to check")
    return Check("collective", "skip", f"{n} GPUs: the all-reduce check runs in the worker")


def run_checks(recipe: Recipe, folder: Path, cheap: bool = False, gpu: str = "auto") -> list[Check]:
    """Every check (``cheap``: without tokenizing the data, the plan at cutoff_len)."""
    from tunetui.planner.plan import build_plan
    from tunetui.runner.data.stats import data_stats, find_tokenizer_dir
    from tunetui.runner.flags import plan_request

    tokenizer_dir = find_tokenizer_dir(recipe)
    checks = [check_versions(), check_eos(recipe, tokenizer_dir)]
    longest = recipe.data.cutoff_len
    if not cheap:
        stats = data_stats(recipe, tokenizer_dir)
        checks.append(check_lengths(stats))
        longest = min(max(stats["max"], 1), recipe.data.cutoff_len)
    try:
        plan = build_plan(**{**plan_request(recipe, gpu=gpu), "cutoff_len": longest})
    except UserError as err:  # a model the planner cannot size: advice missing, not an error
        return [*checks, Check("plan", "warn", f"no memory plan: {err.line()}")]
    checks += [check_disk(recipe, plan, folder), check_longest(plan, longest)]
    checks.append(check_fallbacks(recipe, plan["hardware"]["device"]))
    checks.append(check_collective(plan))
    return checks
