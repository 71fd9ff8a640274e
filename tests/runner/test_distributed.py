"""The launch of a distributed recipe: configs checked by the engines' own parsers, the
pre-flight's one-line errors, and ``run --print-launch``. No processes are started."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from tunetui.planner.errors import UserError
from tunetui.runner import distributed
from tunetui.runner.recipe import Recipe

from tunetui.options import PARALLELS


def _recipe(strategy: str, **dist: object) -> Recipe:
    return Recipe.model_validate({"distributed": {"strategy": strategy, **dist}})


def _write(tmp_path: Path, recipe: Recipe, gpus: int = 4) -> distributed.LaunchSpec:
    spec = distributed.launch_spec(recipe, tmp_path, gpus=gpus)
    distributed.write_files(spec, tmp_path)
    return spec


@pytest.fixture
def deepspeed_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """zero2/zero3 configs can be written where deepspeed is not installed (here)."""
    monkeypatch.setattr(distributed, "check_deepspeed", lambda recipe: None)


@pytest.mark.parametrize("strategy", [p for p in PARALLELS if p != "none"])
def test_accelerate_config_loads_with_accelerates_parser(tmp_path, strategy, deepspeed_found):
    from accelerate.commands.config.config_args import load_config_from_file

    _write(tmp_path, _recipe(strategy))
    config = load_config_from_file(str(tmp_path / distributed.ACCELERATE_CONFIG))
    kinds = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}
    assert config.distributed_type.value == kinds[strategy]
    assert config.num_processes == 4


def test_fsdp_section_is_fsdp2_wrapping_decoder_layers_with_launch_flags_accelerate_knows(
    tmp_path,
):
    from accelerate.commands.launch import launch_command_parser

    _write(tmp_path, _recipe("fsdp", offload="cpu"))
    fsdp = yaml.safe_load((tmp_path / distributed.ACCELERATE_CONFIG).read_text())["fsdp_config"]
    assert fsdp["fsdp_version"] == 2 and fsdp["fsdp_offload_params"] is True
    assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    known = {a.dest for a in launch_command_parser()._actions}
    assert set(fsdp) <= known


@pytest.mark.parametrize(("strategy", "stage"), [("zero2", 2), ("zero3", 3)])
def test_deepspeed_json_has_the_stage_and_leaves_sizes_to_the_trainer(
    tmp_path, strategy, stage, deepspeed_found
):
    _write(tmp_path, _recipe(strategy))
    config = json.loads((tmp_path / distributed.DEEPSPEED_CONFIG).read_text())
    assert config["zero_optimization"]["stage"] == stage
    assert config["train_micro_batch_size_per_gpu"] == "auto"
    accel = yaml.safe_load((tmp_path / distributed.ACCELERATE_CONFIG).read_text())
    assert accel["deepspeed_config"]["deepspeed_config_file"] == str(
        tmp_path / distributed.DEEPSPEED_CONFIG
    )


def test_zero3_offload_json_parses_with_deepspeeds_own_config(tmp_path, deepspeed_found):
    """DeepSpeed's pydantic ZeRO config, once the Trainer's "auto" values are filled in."""
    zero_config = pytest.importorskip("deepspeed.runtime.zero.config")
    _write(tmp_path, _recipe("zero3", offload="cpu"))
    zero = json.loads((tmp_path / distributed.DEEPSPEED_CONFIG).read_text())["zero_optimization"]
    filled = {k: (1_000_000 if v == "auto" else v) for k, v in zero.items()}
    parsed = zero_config.DeepSpeedZeroConfig(**filled)
    assert int(parsed.stage) == 3
    assert parsed.offload_param is not None and parsed.offload_param.device == "cpu"
    assert parsed.gather_16bit_weights_on_model_save is True


def test_zero_without_deepspeed_names_the_extra(hide_packages) -> None:
    hide_packages("deepspeed")
    with pytest.raises(UserError, match=r"tunetui\[deepspeed\]"):
        distributed.launch_spec(_recipe("zero3"), Path("/tmp/x"), gpus=2)


def test_zero3_without_deepspeed_is_one_line_and_exit_2_from_run(
    cli, tmp_path, monkeypatch, hide_packages
) -> None:
    hide_packages("deepspeed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNETUI_RUNS", str(tmp_path / "runs"))
    Path("z.yaml").write_text("distributed:\n  strategy: zero3\n")
    code, _, err = cli("run", "z.yaml", "--detach", "--force")
    assert code == 2
    assert err.strip().count("\n") == 0 and "pip install 'tunetui[deepspeed]'" in err
    assert not (tmp_path / "runs" / "run").exists()  # nothing half made


def test_more_processes_than_gpus_is_refused() -> None:
    with pytest.raises(UserError, match="num_processes is 8 but 2 GPU"):
        distributed.resolve_processes(_recipe("ddp", num_processes=8), gpus=2)


def test_every_visible_gpu_by_default_and_cpu_processes_only_when_asked() -> None:
    assert distributed.resolve_processes(_recipe("fsdp"), gpus=4) == (4, False)
    assert distributed.resolve_processes(_recipe("ddp", num_processes=2), gpus=0) == (2, True)
    with pytest.raises(UserError, match="no GPU visible"):
        distributed.resolve_processes(_recipe("ddp"), gpus=0)
    with pytest.raises(UserError, match="needs CUDA GPUs"):
        distributed.resolve_processes(_recipe("zero2", num_processes=2), gpus=0)


def test_a_taken_port_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port}"):
            distributed.free_port(port)


def test_offload_with_ddp_and_a_second_machine_without_address_are_refused() -> None:
    with pytest.raises(ValueError, match="offload: cpu needs strategy zero3 or fsdp"):
        _recipe("ddp", offload="cpu")
    with pytest.raises(ValueError, match="main_process_ip"):
        _recipe("ddp", num_machines=2, machine_rank=1)


def test_second_machine_config_counts_every_process_and_names_machine_0(tmp_path) -> None:
    recipe = _recipe("ddp", num_machines=2, machine_rank=1, main_process_ip="10.0.0.1",
                     main_process_port=29501)  # fmt: skip
    _write(tmp_path, recipe, gpus=8)
    config = yaml.safe_load((tmp_path / distributed.ACCELERATE_CONFIG).read_text())
    assert config["num_processes"] == 16 and config["machine_rank"] == 1
    assert config["main_process_ip"] == "10.0.0.1" and config["main_process_port"] == 29501


def test_print_launch_prepares_the_run_and_prints_command_and_configs(
    cli, tmp_path, monkeypatch, tiny_model_dir
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNETUI_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    Path("d.yaml").write_text(
        f"name: d\nmodel:\n  name_or_path: {tiny_model_dir}\n"
        "distributed:\n  strategy: fsdp\n  num_processes: 2\n"
    )
    code, out, err = cli("run", "d.yaml", "--print-launch")
    assert code == 0, err
    run_dir = tmp_path / "runs" / "d"
    assert f"--config_file {run_dir / 'accelerate_config.yaml'}" in out
    assert f"-m tunetui.runner.train.worker {run_dir}" in out
    assert "fsdp_version: 2" in out
    assert (run_dir / "recipe.yaml").is_file() and not (run_dir / "adapter").exists()
    assert json.loads((run_dir / "run.json").read_text()).get("pid") is None  # not started


def test_init_headless_writes_the_distributed_section(cli, tmp_path) -> None:
    out = tmp_path / "r.yaml"
    code, _, err = cli("init", "--headless", "--method", "lora", "--parallel", "zero3",
                       "--gpus", "4", "--offload", "cpu", "-o", str(out))  # fmt: skip
    assert code == 0, err
    section = yaml.safe_load(out.read_text())["distributed"]
    assert section["strategy"] == "zero3" and section["num_processes"] == 4
    assert section["offload"] == "cpu"
