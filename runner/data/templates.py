"""Chat templates: the tokenizer's own, or a named Jinja template for models that lack one.

trl renders every conversational sample with `tokenizer.apply_chat_template`, and its
completion-only loss finds where the answer starts by rendering the prompt alone (with the
generation prompt) and the prompt + answer: that only works when the first is a prefix of
the second. Every template here is written so it is (tests/runner/test_templates.py checks).

`template: auto` keeps the tokenizer's `chat_template` (what the model was trained with);
base models without one get ChatML. Names accept LLaMA-Factory's spellings (qwen3_nothink,
llama3, gemma2, phi4...) so imported recipes keep working.

`render_chat` renders with jinja2 directly, for the wizard's preview without transformers.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from tunetui.planner.errors import unknown

_BOS = "{% if bos_token %}{{ bos_token }}{% endif %}"
_EOS = "(eos_token if eos_token else '')"

# Tool schemas go into the system turn, Hermes/Qwen style, so tool-calling data (sharegpt
# function_call / observation turns) trains with the tools the model is allowed to call.
_TOOLS_SYSTEM = (
    "{% if tools %}{{ '<|im_start|>system\n' }}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{{ messages[0]['content'] + '\n\n' }}{% endif %}"
    "{{ '# Tools\n\nYou may call these functions:\n<tools>\n' }}"
    "{% for tool in tools %}{{ tool | tojson }}{{ '\n' }}{% endfor %}"
    '{{ \'</tools>\nTo call one, answer with {"name": ..., "arguments": ...}.<|im_end|>\n\' }}'
    "{% endif %}"
)

CHATML = (
    _TOOLS_SYSTEM + "{% for message in messages %}"
    "{% if not (tools and loop.first and message['role'] == 'system') %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

QWEN = (
    "{% if not tools and (not messages or messages[0]['role'] != 'system') %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}" + CHATML
)

LLAMA3 = (
    _BOS + "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

MISTRAL = (
    "{% set sys = namespace(text='') %}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set sys.text = messages[0]['content'] + '\n\n' %}{% set msgs = messages[1:] %}"
    "{% else %}{% set msgs = messages %}{% endif %}" + _BOS + "{% for message in msgs %}"
    "{% if message['role'] == 'assistant' %}{{ ' ' + message['content'] + " + _EOS + " }}"
    "{% else %}{{ '[INST] ' + sys.text + message['content'] + ' [/INST]' }}"
    "{% set sys.text = '' %}{% endif %}"
    "{% endfor %}"
)

GEMMA = (
    _BOS + "{% set sys = namespace(text='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set sys.text = message['content'] + '\n\n' %}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<start_of_turn>model\n' + message['content'] + '<end_of_turn>\n' }}"
    "{% else %}{{ '<start_of_turn>user\n' + sys.text + message['content'] + '<end_of_turn>\n' }}"
    "{% set sys.text = '' %}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

PHI = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

ALPACA = (
    "{% if not messages or messages[0]['role'] != 'system' %}"
    "{{ 'Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n' }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + " + _EOS + " + '\n\n' }}"
    "{% else %}{{ '### Instruction:\n' + message['content'] + '\n\n### Response:\n' }}"
    "{% endif %}{% endfor %}"
)

DEFAULT = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ 'System: ' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + " + _EOS + " + '\n' }}"
    "{% else %}{{ 'Human: ' + message['content'] + '\nAssistant:' }}"
    "{% endif %}{% endfor %}"
)

TEMPLATES: dict[str, str] = {
    "chatml": CHATML,
    "qwen": QWEN,
    "llama3": LLAMA3,
    "mistral": MISTRAL,
    "gemma": GEMMA,
    "phi": PHI,
    "alpaca": ALPACA,
    "default": DEFAULT,
}

# LLaMA-Factory / model-family spellings -> our names.
ALIASES: dict[str, str] = {
    "qwen2": "qwen",
    "qwen2.5": "qwen",
    "qwen3": "qwen",
    "qwen3_nothink": "qwen",
    "qwen2_vl": "qwen",
    "llama3.1": "llama3",
    "llama3.2": "llama3",
    "llama-3": "llama3",
    "ministral": "mistral",
    "mixtral": "mistral",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "phi3": "phi",
    "phi4": "phi",
    "phi-3": "phi",
    "smollm": "chatml",
    "smollm2": "chatml",
    "empty": "default",
    "vicuna": "default",
}

AUTO = "auto"
FALLBACK = "chatml"


def template_names() -> list[str]:
    """Names a recipe may use, `auto` first."""
    return [AUTO, *TEMPLATES]


def canonical_name(name: str) -> str:
    """Our name for a template (aliases resolved); UserError with a close match if unknown."""
    key = name.strip().lower()
    if key == AUTO or key in TEMPLATES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise unknown("chat template", name, [*template_names(), *ALIASES])


def apply_template(tokenizer: Any, name: str = AUTO) -> str:
    """Set `tokenizer.chat_template` for the recipe's `data.template`; returns the name used.

    `auto` keeps a tokenizer's own template and falls back to ChatML when it has none (base
    models); a named template always replaces the tokenizer's.
    """
    key = canonical_name(name)
    if key == AUTO:
        if getattr(tokenizer, "chat_template", None):
            return AUTO
        key = FALLBACK
    tokenizer.chat_template = TEMPLATES[key]
    return key


def template_source(name: str, tokenizer_dir: str | Path | None = None) -> tuple[str, str]:
    """(jinja source, name used) without transformers: `auto` reads tokenizer_config.json."""
    key = canonical_name(name)
    if key != AUTO:
        return TEMPLATES[key], key
    if tokenizer_dir is not None:
        for fname in ("chat_template.jinja", "tokenizer_config.json"):
            path = Path(tokenizer_dir) / fname
            if not path.is_file():
                continue
            if fname.endswith(".jinja"):
                return path.read_text(encoding="utf-8"), AUTO
            config = json.loads(path.read_text(encoding="utf-8"))
            template = config.get("chat_template")
            if isinstance(template, list):  # named templates: take "default"
                template = next(
                    (t["template"] for t in template if t.get("name") == "default"), None
                )
            if isinstance(template, str) and template:
                return template, AUTO
    return TEMPLATES[FALLBACK], FALLBACK


def special_tokens(tokenizer_dir: str | Path | None) -> dict[str, str]:
    """bos/eos strings from tokenizer_config.json, for rendering without transformers."""
    out = {"bos_token": "", "eos_token": ""}
    if tokenizer_dir is None:
        return out
    path = Path(tokenizer_dir) / "tokenizer_config.json"
    if path.is_file():
        config = json.loads(path.read_text(encoding="utf-8"))
        for key in out:
            value = config.get(key)
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                out[key] = value
    return out


@functools.lru_cache(maxsize=16)
def compile_template(source: str) -> Any:
    """A compiled jinja template (cached: compiling costs ~10 ms, rendering microseconds)."""
    return _environment().from_string(source)


def _environment() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        from jinja2.exceptions import TemplateError

        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, **kw: Any) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, **kw)

    env.filters["tojson"] = tojson
    return env


def render_chat(
    source: str,
    messages: list[dict[str, str]],
    add_generation_prompt: bool = False,
    tools: list[dict] | None = None,
    **tokens: str,
) -> str:
    """Render messages with a chat template the way transformers does (same jinja settings)."""
    return compile_template(source).render(
        messages=messages, add_generation_prompt=add_generation_prompt, tools=tools, **tokens
    )
