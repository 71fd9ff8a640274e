"""More than one process: the accelerate launch of a recipe's ``distributed`` section.

tunetui does not launch ranks itself. Multi-GPU set-up is where fine-tuning users lose the
most time (NCCL hangs, a config that does not match the machine), so this module writes the
engines' own files and the engines' own command, and the user can run exactly the same by
hand (``tunetui run --print-launch``) under SLURM, torchrun or on a second node:

- ``accelerate_config.yaml`` in the run dir: accelerate's config (`ClusterConfig`) for DDP
  (``MULTI_GPU``), FSDP (FSDP2 ``fully_shard``, auto-wrap by decoder layer: accelerate
  wraps the model's ``_no_split_modules``, i.e. its decoder layer class) or DeepSpeed;
- ``deepspeed_config.json`` for zero2/zero3: DeepSpeed's JSON with ``"auto"`` where the
  Hugging Face Trainer fills the value from the recipe (batch, accumulation, precision,
  clipping), so the two cannot disagree;
- the command: ``python -m accelerate.commands.launch --config_file ... -m
  tunetui.runner.train.worker RUN_DIR``. On a machine without GPUs the processes use gloo on
  the CPU (the ``MULTI_GPU`` launcher runs torch.distributed.run; the ranks find no CUDA and
  pick gloo), which is how the tests run two real ranks.

`preflight` runs before anything starts: the number of processes against the visible GPUs,
a free port, the deepspeed extra for zero2/zero3, and on GPUs a short NCCL all-reduce in a
subprocess with a timeout (`runner.train.collective`), so a broken interconnect is one
line, never a hang.

Light module: no torch, no accelerate (only a subprocess imports them).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tunetui.planner.errors import UserError
from tunetui.runner.recipe import Recipe

ACCELERATE_CONFIG = "accelerate_config.yaml"
DEEPSPEED_CONFIG = "deepspeed_config.json"
DEFAULT_PORT = 29500
WORKER_MODULE = "tunetui.runner.train.worker"
COLLECTIVE_MODULE = "tunetui.runner.train.collective"
COLLECTIVE_TIMEOUT_S = 90.0
# torchrun's agent gives the ranks this long to save their checkpoint after a stop
# (SIGTERM) before it kills them; its own default (30 s) is too short for a sharded save.
SHUTDOWN_TIMEOUT_S = 900
ZERO = ("zero2", "zero3")


@dataclass
class LaunchSpec:
    """What starts the ranks: the argv, the environment additions and the config files
    (run-dir file name -> text), all shown by ``--print-launch``."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    num_processes: int = 1
    cpu: bool = False


def is_distributed(recipe: Recipe) -> bool:
    return recipe.distributed.strategy != "none"


def visible_gpus() -> int:
    """GPUs the ranks can use: NVML's count, narrowed by ``CUDA_VISIBLE_DEVICES``."""
    from tunetui.planner import nvml

    count = 0 if nvml.init() else len(list(nvml.handles()))
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    if mask is None:
        return count
    entries = [e for e in mask.split(",") if e.strip()]
    if any(e.strip().startswith("-") for e in entries):  # "-1": CUDA hides every GPU
        return 0
    return min(count, len(entries))


def resolve_processes(recipe: Recipe, gpus: int) -> tuple[int, bool]:
    """(processes on this machine, on CPU?) for `recipe` on a machine with `gpus` GPUs."""
    d = recipe.distributed
    if gpus == 0:
        if d.strategy in ZERO:
            raise UserError(
                f"strategy {d.strategy} needs CUDA GPUs and none is visible",
                "Use strategy ddp or fsdp with distributed.num_processes for CPU processes "
                "(gloo), or strategy none",
            )
        if d.num_processes is None:
            raise UserError(
                f"strategy {d.strategy} and no GPU visible: 'every visible GPU' is none",
                "Set distributed.num_processes (--gpus N) for N CPU processes (gloo), or "
                "strategy none",
            )
        return d.num_processes, True
    n = d.num_processes or gpus
    if n > gpus:
        raise UserError(
            f"distributed.num_processes is {n} but {gpus} GPU(s) are visible",
            f"Use --gpus {gpus} (or fewer), or check CUDA_VISIBLE_DEVICES",
        )
    return n, False


def deepspeed_config(recipe: Recipe) -> dict[str, Any]:
    """DeepSpeed's JSON for zero2/zero3 (``"auto"``: the Trainer fills it from the recipe)."""
    stage = 3 if recipe.distributed.strategy == "zero3" else 2
    zero: dict[str, Any] = {
        "stage": stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if stage == 3:
        zero.update(
            {
                "stage3_prefetch_bucket_size": "auto",
                "stage3_param_persistence_threshold": "auto",
                "stage3_max_live_parameters": 1e9,
                "stage3_max_reuse_distance": 1e9,
                # the adapter/model folder gets whole 16-bit weights, not shards
                "stage3_gather_16bit_weights_on_model_save": True,
            }
        )
    if recipe.distributed.offload == "cpu":
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "train_batch_size": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
        "steps_per_print": 1_000_000,  # our events carry progress; no DeepSpeed chatter
        "wall_clock_breakdown": False,
    }


def fsdp_config(recipe: Recipe) -> dict[str, Any]:
    """accelerate's FSDP2 section (trl's shipped fsdp2.yaml, plus offload and checkpointing).

    No layer class is named: with TRANSFORMER_BASED_WRAP and no class, accelerate wraps the
    model's ``_no_split_modules`` (its decoder layer), which works for every architecture.
    FULL_STATE_DICT: the adapter/model folder is one ordinary checkpoint, as trl's docs do.
    """
    return {
        "fsdp_version": 2,
        "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "fsdp_reshard_after_forward": True,
        "fsdp_offload_params": recipe.distributed.offload == "cpu",
        "fsdp_state_dict_type": "FULL_STATE_DICT",
        "fsdp_cpu_ram_efficient_loading": True,
        # the worker turns on the model's own gradient checkpointing; FSDP must not again
        "fsdp_activation_checkpointing": False,
    }


def accelerate_config(
    recipe: Recipe, num_processes: int, cpu: bool, port: int, run_dir: Path
) -> dict[str, Any]:
    """accelerate's config file (the keys of ``accelerate config``'s ClusterConfig)."""
    d = recipe.distributed
    kinds = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}
    config: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": kinds[d.strategy],
        # the Trainer sets the precision from the recipe (TrainingArguments bf16/fp16)
        "mixed_precision": "no",
        "num_machines": d.num_machines,
        "machine_rank": d.machine_rank,
        "num_processes": num_processes * d.num_machines,  # accelerate counts every machine
        "main_process_port": port,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,  # CPU ranks: accelerate's CPU launcher is MPI only; gloo via torchrun
        "gpu_ids": "all",
    }
    if d.main_process_ip:
        config["main_process_ip"] = d.main_process_ip
    if d.strategy == "fsdp":
        config["fsdp_config"] = fsdp_config(recipe)
    if d.strategy in ZERO:
        config["deepspeed_config"] = {
            "deepspeed_config_file": str(run_dir / DEEPSPEED_CONFIG),
            "zero3_init_flag": d.strategy == "zero3",
        }
    return config


def check_deepspeed(recipe: Recipe) -> None:
    """zero2/zero3 run on DeepSpeed, an optional extra: one line naming it when missing."""
    strategy = recipe.distributed.strategy
    if strategy in ZERO and importlib.util.find_spec("deepspeed") is None:
        raise UserError(
            f"strategy {strategy} needs deepspeed, which is not installed",
            "Install it with `pip install 'tunetui[deepspeed]'`, or use strategy fsdp "
            "(sharding without DeepSpeed) or ddp",
        )


def free_port(preferred: int | None, host: str = "") -> int:
    """`preferred` when it can be bound here, else a free port the kernel picks."""
    if preferred is not None:
        if _bindable(preferred, host):
            return preferred
        raise UserError(
            f"port {preferred} (distributed.main_process_port) is in use on this machine",
            "Choose another --main-process-port, or leave it unset for a free one",
        )
    if _bindable(DEFAULT_PORT, host):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def launch_spec(
    recipe: Recipe, run_dir: Path, resume: bool = False, gpus: int | None = None
) -> LaunchSpec:
    """The command and config files that start `recipe`'s ranks for `run_dir`.

    Checks first (UserError, exit 2): deepspeed installed, processes vs visible GPUs, a
    free port (machine 0 binds it; other machines only connect to it).
    """
    check_deepspeed(recipe)
    d = recipe.distributed
    n, cpu = resolve_processes(recipe, visible_gpus() if gpus is None else gpus)
    main = d.machine_rank == 0
    port = free_port(d.main_process_port) if main else (d.main_process_port or DEFAULT_PORT)
    if d.num_machines > 1 and d.main_process_port is None and port != DEFAULT_PORT:
        raise UserError(
            f"port {DEFAULT_PORT} is in use and a multi-machine job needs one port on all",
            "Set distributed.main_process_port (--main-process-port) to a free port",
        )
    config = accelerate_config(recipe, n, cpu, port, run_dir)
    files = {ACCELERATE_CONFIG: yaml.safe_dump(config, sort_keys=False)}
    if d.strategy in ZERO:
        files[DEEPSPEED_CONFIG] = json.dumps(deepspeed_config(recipe), indent=2) + "\n"
    argv = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(run_dir / ACCELERATE_CONFIG),
        "-m", WORKER_MODULE, str(run_dir), *(["--resume"] if resume else []),
    ]  # fmt: skip
    env = {"TORCH_ELASTIC_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT_S), "OMP_NUM_THREADS": "1"}
    return LaunchSpec(argv, env, files, n, cpu)


def write_files(spec: LaunchSpec, run_dir: Path) -> None:
    """Save the config files in the run dir: the run can be started again by hand."""
    from tunetui.runner.rundir import write_atomic

    for name, text in spec.files.items():
        write_atomic(run_dir / name, text)


def describe(spec: LaunchSpec, run_dir: Path) -> str:
    """``--print-launch``: the environment and command, then each config file."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in spec.env.items())
    lines = [
        f"# {spec.num_processes} process(es) per machine" + (" on CPU (gloo)" if spec.cpu else ""),
        f"{env} {shlex.join(spec.argv)}".strip(),
    ]
    for name, text in spec.files.items():
        lines += ["", f"# {run_dir / name}", text.rstrip()]
    return "\n".join(lines)


def check_collective(spec: LaunchSpec, timeout_s: float = COLLECTIVE_TIMEOUT_S) -> None:
    """On GPUs, a short NCCL all-reduce across the processes, in a subprocess with a
    timeout: a broken interconnect is one line here, not a hang an hour into loading.

    Skipped on CPU (gloo) and for one process. Only this machine's GPUs are checked; a
    second machine is reached by the run itself (NCCL's own timeout applies).
    """
    if spec.cpu or spec.num_processes < 2:
        return
    argv = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={spec.num_processes}", "-m", COLLECTIVE_MODULE,
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise UserError(
            f"the NCCL all-reduce across {spec.num_processes} GPUs did not finish in "
            f"{timeout_s:.0f} s",
            "Check `nvidia-smi topo -m` and try NCCL_P2P_DISABLE=1 (or NCCL_DEBUG=INFO for "
            "details); pass --force to launch anyway",
        ) from None
    if proc.returncode != 0:
        last = next((ln for ln in reversed(out.decode(errors="replace").splitlines())
                     if ln.strip()), "no output")  # fmt: skip
        raise UserError(
            f"the NCCL all-reduce across {spec.num_processes} GPUs failed: {last.strip()}",
            "Run with NCCL_DEBUG=INFO for details, or pass --force to launch anyway",
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
