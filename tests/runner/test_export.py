"""Export: merging a tiny LoRA adapter gives a model with the adapter model's logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")
tiny = pytest.importorskip("tunetui.runner.train.tiny")


def make_adapter(tmp_path: Path, use_dora: bool = False) -> tuple[Path, Path]:
    """A tiny base model and a LoRA adapter with non-zero (random) B matrices."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base_dir = tiny.make_tiny_model(tmp_path / "base")
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, use_dora=use_dora
    )
    torch.manual_seed(1)
    peft_model = get_peft_model(model, config)
    adapter_dir = tmp_path / "adapter"
    peft_model.save_pretrained(adapter_dir)
    return base_dir, adapter_dir


def logits(model, ids):
    import torch

    with torch.inference_mode():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("use_dora", [False, True])
def test_merged_logits_equal_adapter_logits(tmp_path: Path, use_dora: bool) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from tunetui.runner.infer.export import EXPORT_INFO, export

    base_dir, adapter_dir = make_adapter(tmp_path, use_dora)
    result = export(str(adapter_dir))
    out = Path(result.output)
    assert out == tmp_path / "adapter-merged"
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    assert json.loads((out / EXPORT_INFO).read_text())["adapter"] == str(adapter_dir)
    assert not list(tmp_path.glob(".adapter-merged*")), "temp folder left behind"

    ids = torch.tensor([[1, 5, 9, 42, 100, 7]])
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    with_adapter = PeftModel.from_pretrained(base, adapter_dir).eval()
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    expected, got = logits(with_adapter, ids), logits(merged, ids)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert result.verification["passed"], result.verification
    assert json.loads((out / "verification.json").read_text())["passed"] is True
    with with_adapter.disable_adapter():  # the adapter really changes the model
        assert not torch.allclose(logits(with_adapter, ids), expected, atol=1e-3)


def test_export_refuses_to_overwrite(tmp_path: Path, cli) -> None:
    _, adapter_dir = make_adapter(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = cli("export", str(adapter_dir), "-o", str(out))
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert (out / "keep.txt").is_file()
    code, stdout, err = cli("export", str(adapter_dir), "-o", str(out), "--overwrite", "--json")
    assert code == 0, err
    assert json.loads(stdout)["output"] == str(out)
    assert not (out / "keep.txt").exists() and (out / "config.json").is_file()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["export", "./no/such/run"], "does not exist"),
        (["export", "--gguf", "--quant", "q5", "x"], "unknown --quant"),
    ],
)
def test_export_bad_input_is_one_line(cli, args: list[str], needle: str) -> None:
    code, _, err = cli(*args)
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_export_of_a_plain_model_says_nothing_to_merge(tmp_path: Path, cli) -> None:
    base_dir = tiny.make_tiny_model(tmp_path / "base")
    code, _, err = cli("export", str(base_dir))
    assert code == 2 and "no adapter to merge" in err
