"""Chat templates: every named template renders the prompt as a prefix of prompt + answer.

trl's completion-only loss finds the answer by tokenizing the prompt alone (with the
generation prompt) and prompt + completion; when the first is not a prefix of the second,
part of the prompt is trained on or dropped. These tests hold every template to that.
"""

from __future__ import annotations

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.data.templates import (
    TEMPLATES,
    apply_template,
    canonical_name,
    render_chat,
    template_source,
)

CONVERSATIONS = [
    ([{"role": "user", "content": "Hi there"}], [{"role": "assistant", "content": "Hello!"}]),
    (
        [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "1+1?"},
            {"role": "assistant", "content": "2"},
            {"role": "user", "content": "and 2+2?"},
        ],
        [{"role": "assistant", "content": "4"}],
    ),
]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_prompt_is_prefix_of_full_render(tiny_tokenizer, name: str) -> None:
    apply_template(tiny_tokenizer, name)
    for prompt, completion in CONVERSATIONS:
        p = tiny_tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        full = tiny_tokenizer.apply_chat_template(prompt + completion, tokenize=False)
        assert full.startswith(p), (name, p, full)
        assert completion[0]["content"] in full[len(p) :]
        for message in prompt:
            assert message["content"] in p
        p_ids = tiny_tokenizer.apply_chat_template(prompt, add_generation_prompt=True)["input_ids"]
        f_ids = tiny_tokenizer.apply_chat_template(prompt + completion)["input_ids"]
        assert f_ids[: len(p_ids)] == p_ids, name


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_jinja_render_matches_transformers(tiny_tokenizer, name: str) -> None:
    apply_template(tiny_tokenizer, name)
    prompt, completion = CONVERSATIONS[1]
    ours = render_chat(
        TEMPLATES[name],
        prompt + completion,
        bos_token=tiny_tokenizer.bos_token or "",
        eos_token=tiny_tokenizer.eos_token or "",
    )
    assert ours == tiny_tokenizer.apply_chat_template(prompt + completion, tokenize=False)


def test_auto_keeps_tokenizer_template(tiny_tokenizer) -> None:
    tiny_tokenizer.chat_template = "{{ 'custom' }}"
    assert apply_template(tiny_tokenizer, "auto") == "auto"
    assert tiny_tokenizer.chat_template == "{{ 'custom' }}"
    tiny_tokenizer.chat_template = None
    assert apply_template(tiny_tokenizer, "auto") == "chatml"
    assert tiny_tokenizer.chat_template == TEMPLATES["chatml"]


def test_aliases_and_unknown() -> None:
    assert canonical_name("qwen3_nothink") == "qwen"
    assert canonical_name("Llama3") == "llama3"
    with pytest.raises(UserError, match="unknown chat template 'chatmll'. Did you mean 'chatml'"):
        canonical_name("chatmll")


def test_template_source_reads_tokenizer_config(tmp_path) -> None:
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": "{{ 1 }}"}')
    assert template_source("auto", tmp_path) == ("{{ 1 }}", "auto")
    assert template_source("auto", None)[1] == "chatml"
    assert template_source("gemma", tmp_path)[1] == "gemma"


TOOLS = [{"name": "get_time", "description": "Current time", "parameters": {"type": "object"}}]


@pytest.mark.parametrize("name", ["chatml", "qwen"])
def test_tools_are_rendered_in_the_system_turn(tiny_tokenizer, name: str) -> None:
    apply_template(tiny_tokenizer, name)
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "time?"}]
    completion = [{"role": "assistant", "content": '{"name": "get_time", "arguments": {}}'}]
    p = tiny_tokenizer.apply_chat_template(
        prompt, tools=TOOLS, tokenize=False, add_generation_prompt=True
    )
    full = tiny_tokenizer.apply_chat_template(prompt + completion, tools=TOOLS, tokenize=False)
    assert full.startswith(p) and p.count("<|im_start|>system") == 1
    assert '"name": "get_time"' in p and "Be brief." in p
    ours = render_chat(TEMPLATES[name], prompt + completion, tools=TOOLS)
    assert ours == full
