"""Modelfile: the Go template written for Ollama renders what the Jinja template renders.

Every shipped chat template is measured (`chat_format`), translated (`ollama_template`) and
rendered by the Go-template subset renderer on conversations with and without a system
prompt, multi-turn, and with the template's default system prompt coming from SYSTEM.
"""

from __future__ import annotations

import pytest
from tunetui.runner.data.templates import TEMPLATES
from tunetui.runner.infer import gotemplate
from tunetui.runner.infer.modelfile import (
    Modelfile,
    UnsupportedTemplate,
    chat_format,
    generation_parameters,
    ollama_template,
    render_ollama,
    render_without_bos,
    stop_strings,
)

CONVERSATIONS = [
    [{"role": "user", "content": "Hi there"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Why?"},
    ],
    [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Why {{ not }} a template?"},
    ],
]


@pytest.mark.parametrize("name", list(TEMPLATES))
@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["one", "system", "turns", "all"])
def test_ollama_template_renders_the_jinja_prompt(name: str, conversation) -> None:
    source = TEMPLATES[name]
    fmt = chat_format(source, eos_token="</s>")
    template = ollama_template(fmt)
    expected = render_without_bos(source, conversation, True, "</s>")
    assert render_ollama(template, conversation, fmt.default_system) == expected


def test_default_system_prompts_become_the_modelfile_system() -> None:
    assert chat_format(TEMPLATES["qwen"]).default_system == "You are a helpful assistant."
    assert chat_format(TEMPLATES["chatml"]).default_system == ""
    assert chat_format(TEMPLATES["mistral"], "</s>").folded_system


def test_a_bos_that_is_also_a_turn_marker_is_kept_in_the_template() -> None:
    """SmolLM2's BOS is <|im_start|>: measuring must not strip it from the turns."""
    fmt = chat_format(TEMPLATES["chatml"], eos_token="<|im_end|>")
    assert fmt.user_prefix == "<|im_start|>user\n"
    assert fmt.generation_prompt == "<|im_start|>assistant\n"


def test_a_template_that_drops_contents_is_refused() -> None:
    with pytest.raises(UnsupportedTemplate):
        chat_format("{% for m in messages %}{{ m['role'] }}{% endfor %}")


def test_modelfile_text_has_from_template_system_stops_and_parameters() -> None:
    fmt = chat_format(TEMPLATES["qwen"], eos_token="<|im_end|>")
    card = Modelfile(
        "m-q8_0.gguf",
        ollama_template(fmt),
        system=fmt.default_system,
        stops=stop_strings(fmt, ["<|im_end|>"]),
        parameters=generation_parameters({"do_sample": True, "temperature": 0.7}, 2048),
    )
    lines = card.text().splitlines()
    assert lines[0] == "FROM ./m-q8_0.gguf"
    assert lines[1].startswith('TEMPLATE """{{ if .System }}<|im_start|>system')
    assert 'SYSTEM """You are a helpful assistant."""' in lines
    assert 'PARAMETER stop "<|im_end|>"' in lines
    assert "PARAMETER temperature 0.7" in lines and "PARAMETER num_ctx 2048" in lines


def test_greedy_models_get_temperature_zero() -> None:
    assert generation_parameters({}, None) == {"temperature": 0}


def test_go_renderer_handles_ollamas_own_chatml_template() -> None:
    """A template as Ollama's library writes it (trims, $last variable), not one of ours."""
    template = (
        "{{- range $i, $_ := .Messages }}\n"
        "{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n"
        "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
        '{{ if and $last (ne .Role "assistant") }}<|im_start|>assistant\n{{ end }}'
        "{{- end }}"
    )
    messages = [{"Role": "user", "Content": "Hi"}]
    assert gotemplate.render(template, {"Messages": messages}) == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_go_renderer_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        gotemplate.render("{{ .Content | printf }}", {"Content": "x"})


def test_gguf_output_is_beside_a_run_or_adapter_and_in_cwd_for_a_model(tmp_path, monkeypatch):
    from tunetui.runner.infer.gguf_export import default_gguf_output, ollama_name
    from tunetui.runner.infer.target import Target

    monkeypatch.chdir(tmp_path)
    cache_model = Target(base=tmp_path / "cache" / "SmolLM2-135M")
    assert default_gguf_output(cache_model) == tmp_path / "smollm2-135m-gguf"
    run = Target(base=cache_model.base, adapter=tmp_path / "runs/demo/adapter",
                 run_dir=tmp_path / "runs/demo")  # fmt: skip
    assert default_gguf_output(run) == tmp_path / "runs/demo/gguf"
    assert ollama_name(run) == "demo"
    adapter = Target(base=cache_model.base, adapter=tmp_path / "My Adapter")
    assert default_gguf_output(adapter) == tmp_path / "My Adapter-gguf"
    assert ollama_name(adapter) == "my-adapter"
