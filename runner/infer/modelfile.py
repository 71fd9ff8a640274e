"""An Ollama ``Modelfile`` for an exported GGUF: template, system prompt, stops, defaults.

Ollama prompts with a Go template, the model was trained with a Jinja chat template; a
mismatch (or a missing stop token) is what makes an exported model ramble or talk
gibberish. Arbitrary Jinja cannot be translated to Go, but the chat templates in use are
all "wrap each message in a role prefix and suffix" templates, so the wrapping is *measured*
instead: the Jinja template is rendered on a few marker conversations and the prefix and
suffix of each role, the generation prompt and any default system prompt are read off the
output (`chat_format`). The Go template is written from those pieces (`ollama_template`),
and the export checks it by rendering both on real conversations (`gotemplate.render`). A
Jinja template that does not decompose this way raises `UnsupportedTemplate`, and the
export says so instead of writing a wrong template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tunetui.runner.data.templates import render_chat

# Marker contents: plain words no template rewrites, and unlikely in a template's text.
_S, _U, _A, _U2 = "SYSTEM7Q", "USER7Q", "ASSISTANT7Q", "SECOND7Q"
# Stands for the BOS token while measuring, so a BOS that is also a turn marker (SmolLM2's
# BOS is <|im_start|>) is told apart from the template printing ``bos_token`` itself.
BOS_MARK = "BOS7Q"


class UnsupportedTemplate(ValueError):
    """The Jinja template is not a per-message wrapping tunetui can translate."""


@dataclass(frozen=True)
class ChatFormat:
    """A chat template as role wrappings: ``prefix + content + suffix`` for each message.

    ``folded_system``: the system prompt goes inside the first user turn, followed by
    ``system_suffix`` (Mistral, Gemma), instead of being a turn of its own.
    """

    system_prefix: str
    system_suffix: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation_prompt: str
    default_system: str = ""
    folded_system: bool = False


def _between(text: str, start: str, end: str | None) -> str:
    """The text after marker ``start`` and before marker ``end`` (or the end of text)."""
    i = text.find(start)
    j = len(text) if end is None else text.find(end, i + len(start))
    if i < 0 or j < 0:
        raise UnsupportedTemplate("the chat template drops or reorders message contents")
    return text[i + len(start) : j]


def _strip(prefix: str, text: str, what: str) -> str:
    if not text.startswith(prefix):
        raise UnsupportedTemplate(f"cannot find the {what} in the chat template's output")
    return text[len(prefix) :]


def render_without_bos(template: str, messages: list[dict[str, str]], gen: bool, eos: str) -> str:
    """The Jinja rendering minus a leading ``bos_token``: llama.cpp and Ollama add the BOS
    from the GGUF's tokenizer metadata, so a prompt that also printed it would double it."""
    text = render_chat(template, messages, gen, bos_token=BOS_MARK, eos_token=eos)
    return text.removeprefix(BOS_MARK)


def chat_format(template: str, eos_token: str = "") -> ChatFormat:
    """Measure ``template``'s role wrappings by rendering marker conversations."""

    def render(messages: list[tuple[str, str]], gen: bool = False) -> str:
        msgs = [{"role": r, "content": c} for r, c in messages]
        try:
            return render_without_bos(template, msgs, gen, eos_token)
        except Exception as exc:  # jinja raising: roles it refuses, unknown filters
            raise UnsupportedTemplate(f"the chat template failed to render: {exc}") from exc

    user_only = render([("user", _U)])
    user_suffix = _between(user_only, _U, None)
    generation_prompt = _strip(user_only, render([("user", _U)], True), "generation prompt")
    pair = render([("user", _U), ("assistant", _A)])
    assistant_prefix = _strip(user_suffix, _between(pair, _U, _A), "assistant prefix")
    assistant_suffix = _between(pair, _A, None)
    three = render([("user", _U), ("assistant", _A), ("user", _U2)])
    user_prefix = _strip(assistant_suffix, _between(three, _A, _U2), "user prefix")
    before_user = user_only[: user_only.find(_U)]
    if not before_user.endswith(user_prefix):
        raise UnsupportedTemplate("the first user turn is wrapped unlike the others")
    default = before_user[: len(before_user) - len(user_prefix)]
    with_system = render([("system", _S), ("user", _U)])
    head, middle = with_system[: with_system.find(_S)], _between(with_system, _S, _U)
    if head == user_prefix and not middle.endswith(user_prefix):
        # Mistral/Gemma: "[INST] system\n\nuser [/INST]", the system folded into the turn.
        return ChatFormat(
            "", middle, user_prefix, user_suffix, assistant_prefix, assistant_suffix,
            generation_prompt, default, folded_system=True,
        )  # fmt: skip
    if not middle.endswith(user_prefix):
        raise UnsupportedTemplate("cannot find where the system turn ends")
    system_suffix = middle[: len(middle) - len(user_prefix)]
    if default and not (default.startswith(head) and default.endswith(system_suffix)):
        raise UnsupportedTemplate("the template adds text before the first turn")
    default_system = default[len(head) : len(default) - len(system_suffix)] if default else ""
    return ChatFormat(
        head, system_suffix, user_prefix, user_suffix, assistant_prefix, assistant_suffix,
        generation_prompt, default_system,
    )  # fmt: skip


def _literal(text: str) -> str:
    """Template text with any ``{{`` made literal (Go has no raw-text escape)."""
    return text.replace("{{", '{{ "{{" }}')


def ollama_template(fmt: ChatFormat) -> str:
    """The Go template for Ollama that renders what ``fmt``'s Jinja template renders.

    ``.System`` (the request's system message, else the Modelfile's SYSTEM) is written
    before the turns, or inside the first user turn for a folded template; the generation
    prompt follows the last message when it is not the assistant's.
    """

    def a(action: str) -> str:  # a Go action
        return "{{ " + action + " }}"

    t = _literal
    if fmt.folded_system:
        head = a("$sys := .System")
        user_system = a("if $sys") + a("$sys") + t(fmt.system_suffix) + a('$sys = ""') + a("end")
    else:
        head = a("if .System") + t(fmt.system_prefix) + a(".System") + t(fmt.system_suffix)
        head += a("end")
        user_system = ""
    user = t(fmt.user_prefix) + user_system + a(".Content") + t(fmt.user_suffix)
    user += a("if eq (len (slice $.Messages $i)) 1") + t(fmt.generation_prompt) + a("end")
    assistant = t(fmt.assistant_prefix) + a(".Content") + t(fmt.assistant_suffix)
    return (
        head
        + a("range $i, $_ := .Messages")
        + (a('if eq .Role "user"') + user + a('else if eq .Role "assistant"') + assistant)
        + a("end")
        + a("end")
    )


def render_ollama(template: str, messages: list[dict[str, str]], system: str = "") -> str:
    """What Ollama would render for ``messages`` (its system message, else ``system``)."""
    from tunetui.runner.infer.gotemplate import render

    sys_msgs = [m["content"] for m in messages if m["role"] == "system"]
    turns = [{"Role": m["role"], "Content": m["content"]} for m in messages]
    return render(template, {"Messages": turns, "System": sys_msgs[0] if sys_msgs else system})


@dataclass
class Modelfile:
    """The pieces of an Ollama Modelfile; `text` writes it."""

    gguf_name: str
    template: str
    system: str = ""
    stops: list[str] = field(default_factory=list)
    parameters: dict[str, float | int] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"FROM ./{self.gguf_name}", f'TEMPLATE """{self.template}"""']
        if self.system:
            lines.append(f'SYSTEM """{self.system}"""')
        lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in self.stops]
        lines += [f"PARAMETER {key} {value}" for key, value in self.parameters.items()]
        return "\n".join(lines) + "\n"


def stop_strings(fmt: ChatFormat, eos_tokens: list[str]) -> list[str]:
    """Stop strings: the EOS tokens and the assistant turn's closing text (stripped)."""
    stops = [t for t in eos_tokens if t]
    closing = fmt.assistant_suffix.strip()
    if closing and closing not in stops:
        stops.append(closing)
    return list(dict.fromkeys(stops))


# generation_config.json keys -> Ollama PARAMETER names.
_PARAMS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k"}
_PARAMS_EXTRA = {"repetition_penalty": "repeat_penalty"}


def generation_parameters(generation_config: dict, context: int | None) -> dict[str, float | int]:
    """Ollama defaults from the model's generation config; sampling values only when the
    model samples by default (greedy models get temperature 0, as transformers would)."""
    params: dict[str, float | int] = {}
    if generation_config.get("do_sample"):
        for key, name in _PARAMS.items():
            if generation_config.get(key) is not None:
                params[name] = generation_config[key]
    else:
        params["temperature"] = 0
    for key, name in _PARAMS_EXTRA.items():
        if generation_config.get(key) not in (None, 1.0):
            params[name] = generation_config[key]
    if context:
        params["num_ctx"] = context
    return params
