"""The TUI's model process on a tiny model: `services.ChatProcess` drives
``python -m tunetui.runner.infer.chat`` over JSON lines (the TUI itself never imports torch).

One process answers as the tuned model and as its base (peft's ``disable_adapter``), streams
pieces, turns a bad request into one line without dying, and exits when its input closes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.tui.services import ChatProcess


@pytest.fixture
def adapter_dir(tmp_path: Path, tiny_model_dir: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(tmp_path / "tuned")
    return tmp_path / "tuned"


def test_one_process_answers_as_tuned_and_base_and_survives_a_bad_request(adapter_dir) -> None:
    chat = ChatProcess(adapter_dir)
    try:
        chat.wait_ready()
        assert chat.label == str(adapter_dir) and chat.base == "llama"
        pieces: list[str] = []
        messages = [{"role": "user", "content": "hi"}]
        answer = chat.ask(messages, "tuned", pieces.append, max_new_tokens=6)
        assert pieces and "".join(pieces).strip() == answer
        assert isinstance(chat.ask(messages, "base", max_new_tokens=6), str)
        with pytest.raises(UserError) as info:
            chat.ask([{"role": "nobody"}], "tuned", max_new_tokens=2)
        assert len(str(info.value).splitlines()) == 1
        assert isinstance(chat.ask(messages, "tuned", max_new_tokens=2), str)  # still alive
    finally:
        chat.close()
    assert chat._proc.returncode == 0


def test_a_missing_run_is_one_line_from_the_process(tmp_path: Path) -> None:
    chat = ChatProcess(tmp_path / "no-such-run")
    with pytest.raises(UserError, match="does not exist") as info:
        chat.wait_ready()
    assert len(info.value.line().splitlines()) == 1
