"""Methods (full/freeze/LoRA/DoRA/QLoRA), targets, precision and optimizers on CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.recipe import Recipe

pytestmark = pytest.mark.filterwarnings("ignore")

HAS_BNB = importlib.util.find_spec("bitsandbytes") is not None


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir: Path):
    from tunetui.runner.train.loading import load_model

    return load_model(tiny_model_dir)


def _recipe(**kw) -> Recipe:
    return Recipe.model_validate(kw)


# ------------------------------------------------------------------ pure setup


def test_precision_auto_on_cpu_follows_native_bf16_and_fp16_is_refused(monkeypatch) -> None:
    import torch
    from tunetui.runner.train import methods
    from tunetui.runner.train.methods import resolve_precision

    monkeypatch.setattr(methods, "cpu_has_native_bf16", lambda: False)
    auto = resolve_precision(_recipe(), "cpu")
    assert (auto.name, auto.load_dtype) == ("fp32", torch.float32)
    assert not auto.bf16 and not auto.fp16
    monkeypatch.setattr(methods, "cpu_has_native_bf16", lambda: True)
    auto = resolve_precision(_recipe(), "cpu")
    assert (auto.name, auto.load_dtype) == ("bf16", torch.bfloat16)
    bf16 = resolve_precision(_recipe(training={"precision": "bf16"}), "cpu")
    assert bf16.bf16 and bf16.load_dtype == torch.bfloat16
    with pytest.raises(UserError, match="fp16 needs a CUDA GPU"):
        resolve_precision(_recipe(training={"precision": "fp16"}), "cpu")


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ("all", "all-linear"),
        ("attn", ["k_proj", "o_proj", "q_proj", "v_proj"]),
        ("qv", ["q_proj", "v_proj"]),
        (["q_proj", "down_proj"], ["q_proj", "down_proj"]),
        ("q_proj,v_proj", ["q_proj", "v_proj"]),
    ],
)
def test_lora_targets(tiny_model, targets, expected) -> None:
    from tunetui.runner.train.methods import lora_targets

    assert lora_targets(targets, tiny_model) == expected


def test_unknown_lora_target_suggests_a_close_name(tiny_model) -> None:
    from tunetui.runner.train.methods import lora_targets

    with pytest.raises(UserError, match="q_proj"):
        lora_targets(["q_prj"], tiny_model)


def test_freeze_trains_only_the_last_layers(tiny_model_dir: Path) -> None:
    from tunetui.runner.train.loading import load_model
    from tunetui.runner.train.methods import apply_freeze

    model = load_model(tiny_model_dir)
    apply_freeze(model, _recipe(method="freeze", freeze={"trainable_layers": 1}))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("model.layers.1.") for n in trainable)
    with pytest.raises(UserError, match="has 2 layers"):
        apply_freeze(model, _recipe(method="freeze", freeze={"trainable_layers": 5}))


def test_freeze_with_embeddings(tiny_model_dir: Path) -> None:
    from tunetui.runner.train.loading import load_model
    from tunetui.runner.train.methods import apply_freeze

    model = load_model(tiny_model_dir)
    recipe = _recipe(method="freeze", freeze={"trainable_layers": 1, "train_embeddings": True})
    apply_freeze(model, recipe)
    assert model.get_input_embeddings().weight.requires_grad


def test_galore_without_the_package_names_the_pip_command(hide_packages) -> None:
    from tunetui.runner.train.methods import optimizer_args

    hide_packages("galore_torch")
    with pytest.raises(UserError, match=r"pip install 'tunetui\[galore\]'"):
        optimizer_args(_recipe(method="full", training={"optimizer": "galore"}), "cpu")


def test_optimizer_names() -> None:
    from tunetui.runner.train.methods import optimizer_args

    # each name is one implementation on every device: the default, fused, and foreach
    assert optimizer_args(_recipe(), "cpu")["optim"] == "adamw_torch_fused"
    assert optimizer_args(_recipe(), "cuda")["optim"] == "adamw_torch_fused"
    foreach = _recipe(training={"optimizer": "adamw"})
    assert optimizer_args(foreach, "cuda")["optim"] == "adamw_torch"
    r = _recipe(training={"optimizer": "adamw_8bit"})
    assert optimizer_args(r, "cpu")["optim"] == "adamw_bnb_8bit"


@pytest.mark.skipif(not HAS_BNB, reason="bitsandbytes not installed")
def test_qlora_config_is_nf4_double_quant() -> None:
    import torch
    from tunetui.runner.train.methods import quantization_config, resolve_precision

    r = _recipe(method="qlora")
    q = quantization_config(r, resolve_precision(r, "cpu"), "cpu")
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16
    q8 = quantization_config(_recipe(method="qlora", quantization={"bits": 8}), None, "cpu")
    assert q8.load_in_8bit


# ------------------------------------------------------------------ training runs


def _train(make_run, run_worker, **kw) -> list[dict]:
    run_dir = make_run(training={"max_steps": 2, "save_steps": 5, **kw.pop("training", {})}, **kw)
    code, events = run_worker(run_dir)
    assert code == 0, events[-1]
    assert events[-1]["type"] == "end"
    return events


def test_dora_trains_a_magnitude_vector(make_run, run_worker) -> None:
    from safetensors import safe_open

    events = _train(make_run, run_worker, method="dora")
    adapter = Path(events[-1]["output"])
    assert json.loads((adapter / "adapter_config.json").read_text())["use_dora"] is True
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        assert any("lora_magnitude_vector" in key for key in weights.keys())  # noqa: SIM118


def test_freeze_run_saves_a_full_model(make_run, run_worker) -> None:
    events = _train(make_run, run_worker, method="freeze", training={"optimizer": "sgd"})
    assert Path(events[-1]["output"]).name == "model"


@pytest.mark.skipif(not HAS_BNB, reason="bitsandbytes not installed")
@pytest.mark.parametrize("bits", [4, 8])
def test_qlora_on_cpu_says_what_it_does(bits: int, make_run, run_worker) -> None:
    events = _train(make_run, run_worker, method="qlora", quantization={"bits": bits})
    start = events[0]
    assert start["notes"] and "QLoRA on CPU" in start["notes"][0]
    assert f"{bits}-bit" in start["notes"][0]
    assert Path(events[-1]["output"]).name == "adapter"


@pytest.mark.skipif(not HAS_BNB, reason="bitsandbytes not installed")
@pytest.mark.parametrize("optimizer", ["adamw_8bit", "paged_adamw"])
def test_bitsandbytes_optimizers_run_on_cpu(optimizer: str, make_run, run_worker) -> None:
    _train(make_run, run_worker, method="full", training={"optimizer": optimizer})


def test_bf16_on_cpu_when_asked(make_run, run_worker) -> None:
    events = _train(make_run, run_worker, training={"precision": "bf16"})
    assert events[0]["precision"] == "bf16"


def test_missing_logger_is_a_user_error(hide_packages) -> None:
    from tunetui.runner.train.preflight import check_loggers

    assert check_loggers(["none"]) == []
    hide_packages("wandb")
    with pytest.raises(UserError, match=r"pip install 'tunetui\[wandb\]'"):
        check_loggers(["wandb"])


def test_pretraining_with_packing(make_run, run_worker) -> None:
    events = _train(make_run, run_worker, stage="pt", data={"packing": True})
    assert events[-1]["metrics"]["loss"] > 0


@pytest.mark.skipif(not HAS_BNB, reason="bitsandbytes not installed")
def test_reward_model_with_qlora_on_cpu(make_run, run_worker) -> None:
    """trl casts QLoRA trainables to bf16; the fp32 reward head must be cast back on CPU."""
    events = _train(make_run, run_worker, stage="rm", method="qlora")
    assert events[-1]["metrics"]["train_loss"] > 0


def test_sharing_the_autocast_input_gives_identical_gradients(tiny_model_dir: Path) -> None:
    """peft's fp32 round trip of a bf16 input is exact, so skipping it changes nothing but
    memory: same loss, same adapter gradients, bit for bit."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tunetui.runner.train.loading import load_model
    from tunetui.runner.train.methods import resolve_precision, share_adapter_inputs

    def grads(share: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        torch.manual_seed(0)
        base = load_model(tiny_model_dir, dtype=torch.bfloat16)
        model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear"))
        for name, p in model.named_parameters():
            if "lora_B" in name:  # non-zero B, so every adapter's gradient is non-trivial
                torch.nn.init.normal_(p, std=0.02)
        recipe = _recipe(training={"precision": "bf16"})
        if share:
            assert share_adapter_inputs(model, recipe, resolve_precision(recipe, "cpu")) > 0
        ids = torch.arange(24).reshape(2, 12) % base.config.vocab_size
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        return loss.detach(), [p.grad for p in model.parameters() if p.requires_grad]

    loss_a, grads_a = grads(False)
    loss_b, grads_b = grads(True)
    assert torch.equal(loss_a, loss_b)
    assert len(grads_a) == len(grads_b) > 0
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b, strict=True))
