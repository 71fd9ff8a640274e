"""GGUF export: a tiny model goes through llama.cpp's converter and comes back verified.

The tiny model here carries SmolLM2's tokenizer: llama.cpp's converter identifies a BPE
pre-tokenizer by hashing its output on a fixed text, so the project's own tiny tokenizer
(trained on seven sentences) is, rightly, refused. The weights stay tiny and random.
llama.cpp's converter is installed once into the tunetui cache (`gguf.ensure_converter`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tunetui.runner.infer import gguf
from tunetui.runner.infer.gguf_export import export_gguf
from tunetui.runner.infer.target import resolve_target
from tunetui.runner.infer.verify import verify_gguf

pytestmark = pytest.mark.slow


def _tiny_with_smollm2_tokenizer(
    dest: Path, smollm2_dir: Path, seed: int, init_range: float = 0.02
) -> Path:
    """Random weights; ``init_range`` 0.2 makes its predictions peaked, unlike the default."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from tunetui.runner.train.tiny import tiny_config

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    config = tiny_config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config.initializer_range = init_range
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def smol_tiny(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    return _tiny_with_smollm2_tokenizer(tmp_path_factory.mktemp("smol") / "tiny", smollm2_dir, 0)


@pytest.fixture(scope="module")
def q8_export(smol_tiny: Path, tmp_path_factory: pytest.TempPathFactory):
    gguf.ensure_converter()
    out = tmp_path_factory.mktemp("q8") / "gguf"
    return export_gguf(resolve_target(str(smol_tiny)), "q8_0", out, say=lambda _: None)


def test_q8_export_writes_gguf_modelfile_and_a_passing_verification(q8_export) -> None:
    out = Path(q8_export.output)
    assert sorted(p.name for p in out.iterdir()) == [
        "Modelfile",
        "tiny-q8_0.gguf",
        "verification.json",
    ]
    report = q8_export.verification
    assert report.passed, report.table()
    assert [c.name for c in report.checks] == [
        "chat template", "EOS token", "tokenizer", "greedy answers", "next-token agreement",
        "perplexity", "Modelfile template",
    ]  # fmt: skip
    assert json.loads((out / "verification.json").read_text())["passed"] is True
    modelfile = (out / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./tiny-q8_0.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM' in modelfile
    assert not list(out.parent.glob(".gguf.*")), "temp folders left behind"


def test_gguf_metadata_carries_the_chat_template_and_eos(q8_export, smol_tiny: Path) -> None:
    from transformers import AutoTokenizer

    meta = gguf.read_metadata(Path(q8_export.gguf))
    tokenizer = AutoTokenizer.from_pretrained(smol_tiny)
    assert meta["tokenizer.chat_template"] == tokenizer.chat_template
    assert meta["tokenizer.ggml.eos_token_id"] == tokenizer.eos_token_id


def test_verification_fails_against_a_different_model(q8_export, tmp_path, smollm2_dir) -> None:
    other = _tiny_with_smollm2_tokenizer(tmp_path / "other", smollm2_dir, 1, init_range=0.2)
    report = verify_gguf(other, Path(q8_export.gguf), "q8_0")
    failed = {c.name for c in report.checks if not c.passed}
    assert {"perplexity", "next-token agreement"} <= failed, report.table()
    assert not report.passed


def test_lora_run_exports_to_f16_through_the_cli(cli, tmp_path, smol_tiny: Path) -> None:
    """Adapter -> merge -> GGUF f16, with the table and the ollama line printed."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(smol_tiny, dtype=torch.float32)
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(tmp_path / "adapter")
    code, out, err = cli("export", str(tmp_path / "adapter"), "--gguf", "--quant", "f16")
    assert code == 0, out + err
    assert "=> PASSED" in out and "PASS  greedy answers" in out
    assert "ollama create adapter -f Modelfile" in out
    assert (tmp_path / "adapter-gguf" / "adapter-f16.gguf").is_file()


def test_q4_k_m_is_quantized_by_llama_cpp_and_checked_by_perplexity(tmp_path, smol_tiny) -> None:
    result = export_gguf(resolve_target(str(smol_tiny)), "q4_k_m", tmp_path / "q4", say=print)
    assert result.verification.backend == "llama.cpp"
    assert result.verification.passed, result.verification.table()
    greedy = next(c for c in result.verification.checks if c.name == "greedy answers")
    assert "not required for q4_k_m" in greedy.detail


def test_q4_without_llama_cpp_names_the_extra(cli, hide_packages, tiny_model_dir) -> None:
    hide_packages("llama_cpp")
    code, _, err = cli("export", str(tiny_model_dir), "--gguf", "--quant", "q4_k_m")
    assert code == 2 and "pip install 'tunetui[gguf]'" in err
    assert len(err.strip().splitlines()) == 1


def test_an_empty_converter_folder_is_one_line(cli, monkeypatch, tmp_path, smol_tiny) -> None:
    monkeypatch.setenv("TUNETUI_GGUF_CONVERTER", str(tmp_path / "empty"))
    code, _, err = cli("export", str(smol_tiny), "--gguf", "-o", str(tmp_path / "out"))
    assert code == 2 and "convert_hf_to_gguf.py" in err and "pip install" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
