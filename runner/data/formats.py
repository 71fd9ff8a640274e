"""Turning one raw record (alpaca, sharegpt, pairwise, KTO, text) into a normalized `Sample`.

Every format ends up as chat messages (`{"role", "content"}`) split into the context the model
sees (`prompt`: system, history, the last user turn) and what it learns to say (`completion`,
or `chosen` / `rejected`, with a KTO `label`). The stage then picks the fields it needs
(see `build`). Doing the split here, once, is what makes completion-only loss, DPO and KTO
agree on what "the prompt" is. Errors name the file, the line and the field.

Light module: stdlib only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.data.dataset_info import SHAREGPT_TAGS, DatasetSpec

Message = dict[str, str]

_CANONICAL_ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function_call": "function",
    "ipython": "tool",
}


@dataclass
class Sample:
    """One normalized example; which fields are set depends on the dataset's kind."""

    prompt: list[Message] = field(default_factory=list)
    completion: list[Message] = field(default_factory=list)
    chosen: list[Message] | None = None
    rejected: list[Message] | None = None
    label: bool | None = None
    tools: str | None = None
    text: str | None = None

    def plain_text(self) -> str:
        """All the words in the sample, for length statistics and pretraining."""
        if self.text is not None:
            return self.text
        parts = [m["content"] for m in self.prompt + self.completion + (self.chosen or [])]
        return "\n".join(p for p in parts if p)


def expand_turns(sample: Sample) -> list[Sample]:
    """One sample per assistant turn, each with everything before it as the prompt.

    trl's completion-only loss learns only `completion`; a conversation kept whole would teach
    only its last answer (for tool-calling data: never the function call). Splitting it gives
    every assistant turn a loss once, with its full context, like LLaMA-Factory's default
    (`mask_history: false`); `data.mask_history: true` keeps only the last turn.
    """
    out: list[Sample] = []
    for i, message in enumerate(sample.prompt):
        if message["role"] == "assistant" and i > 0:
            out.append(Sample(prompt=sample.prompt[:i], completion=[message], tools=sample.tools))
    out.append(sample)
    return out


class RecordError(UserError):
    """A malformed record: carries file and line in its problem text."""


def _where(spec: DatasetSpec, file: str, line: int) -> str:
    return f"{file} line {line}"


def _need(rec: dict[str, Any], key: str | None, where: str, what: str = "") -> Any:
    if not key or key not in rec or rec[key] is None:
        raise RecordError(
            f'{where}: missing "{key}"{what}',
            "Add the field, or map the right column in dataset_info.json",
        )
    return rec[key]


def _text(value: Any, key: str, where: str, allow_empty: bool = False) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(
            f'{where}: "{key}" must be a string, got {type(value).__name__}', "Fix the value"
        )
    if not allow_empty and not value.strip():
        raise RecordError(f'{where}: "{key}" is empty', "Give it text or drop the record")
    return value


def _label(value: Any, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise RecordError(
        f'{where}: "{key}" must be true or false, got {value!r}', "Use a JSON boolean"
    )


def _tools(rec: dict[str, Any], key: str | None, where: str) -> str | None:
    if not key or not rec.get(key):
        return None
    value = rec[key]
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            raise RecordError(
                f'{where}: "{key}" is not valid JSON', "Give a JSON list of tool schemas"
            ) from None
        return value
    return json.dumps(value, ensure_ascii=False)


def detect(spec: DatasetSpec, rec: Any, where: str) -> None:
    """Fill in formatting/columns for a dataset given as a bare file path, from its first record."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: a record must be a JSON object", "Fix the data")
    keys = set(rec)
    cols: dict[str, str | None] = {}
    for key in ("system", "tools"):
        if key in keys:
            cols[key] = key
    for key in ("chosen", "rejected"):
        if key in keys:
            cols[key] = key
    for key in ("kto_tag", "label"):
        if key in keys:
            cols["kto_tag"] = key
    messages = next((k for k in ("conversations", "messages") if k in keys), None)
    if messages:
        spec.formatting = "sharegpt"
        cols["messages"] = messages
    elif "instruction" in keys or "prompt" in keys:
        spec.formatting = "alpaca"
        cols["prompt"] = "instruction" if "instruction" in keys else "prompt"
        cols["query"] = "input" if "input" in keys else None
        response = next((k for k in ("output", "response", "completion") if k in keys), None)
        cols["response"] = response
        cols["history"] = "history" if "history" in keys else None
    elif "text" in keys:
        spec.formatting = "alpaca"
        cols.update(prompt="text", query=None, response=None)
    else:
        raise RecordError(
            f"{where}: cannot tell the format from keys {sorted(keys)}",
            "Use alpaca (instruction/input/output), sharegpt (conversations), or text keys, "
            "or describe it in dataset_info.json",
        )
    spec.ranking = "chosen" in cols and "rejected" in cols
    spec.columns = {k: v for k, v in cols.items() if v}


def _placeholders(text: str, values: dict[str, str]) -> str:
    if "{{" not in text:
        return text
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


class RecordParser:
    """Parses the records of one dataset; holds the per-dataset settings and placeholders."""

    def __init__(self, spec: DatasetSpec, placeholders: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.values = placeholders or {}
        self._tags: dict[str, str] | None = None

    def fill(self, text: str) -> str:
        return _placeholders(text, self.values)

    def col(self, key: str, rec: dict[str, Any]) -> str | None:
        """The record's column for `key`: as configured, else a same-named field when the
        dataset_info entry does not map it (LLaMA-Factory would ignore such a field)."""
        mapped = self.spec.column(key)
        if mapped or key in self.spec.explicit_columns:
            return mapped
        return key if key in rec else None

    def msg(self, role: str, content: str) -> Message:
        return {"role": role, "content": self.fill(content)}

    # -- alpaca -----------------------------------------------------------------------------
    def _alpaca_prompt(self, rec: dict[str, Any], where: str) -> list[Message]:
        messages: list[Message] = []
        col = self.spec.column
        system = self.col("system", rec)
        if system and rec.get(system):
            messages.append(self.msg("system", _text(rec[system], system, where)))
        history_key = self.col("history", rec)
        history = rec.get(history_key) if history_key else None
        if history:
            if not isinstance(history, list):
                raise RecordError(f'{where}: "{history_key}" must be a list of pairs', "Fix it")
            for n, pair in enumerate(history):
                if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                    raise RecordError(
                        f'{where}: "{history_key}"[{n}] must be [question, answer]', "Fix it"
                    )
                messages.append(self.msg("user", _text(pair[0], history_key, where)))
                messages.append(self.msg("assistant", _text(pair[1], history_key, where)))
        prompt_key = col("prompt") or "instruction"
        instruction = _text(_need(rec, prompt_key, where), prompt_key, where)
        query_key = col("query")
        query = rec.get(query_key) if query_key else None
        if query:
            instruction = instruction + "\n" + _text(query, query_key, where, allow_empty=True)
        messages.append(self.msg("user", instruction))
        return messages

    def _alpaca(self, rec: dict[str, Any], where: str, need_response: bool) -> Sample:
        col = self.spec.column
        sample = Sample(
            prompt=self._alpaca_prompt(rec, where), tools=_tools(rec, col("tools"), where)
        )
        if self.spec.ranking:
            for key in ("chosen", "rejected"):
                name = col(key) or key
                value = _need(rec, name, where, " (a preference dataset needs chosen/rejected)")
                if isinstance(value, dict):  # LLaMA-Factory also accepts a message here
                    value = value.get("value", value.get("content"))
                setattr(sample, key, [self.msg("assistant", _text(value, name, where))])
            return sample
        response = col("response")
        if need_response or (response and rec.get(response) is not None):
            value = _need(rec, response or "output", where)
            sample.completion = [self.msg("assistant", _text(value, response or "output", where))]
        return sample

    # -- sharegpt ---------------------------------------------------------------------------
    def _tags_for(self, first: Any) -> dict[str, str]:
        if self._tags is None:
            tags = dict(self.spec.tags or SHAREGPT_TAGS)
            explicit = bool(self.spec.tags) and self.spec.tags != SHAREGPT_TAGS
            if not explicit and isinstance(first, dict) and "role" in first and "from" not in first:
                tags.update(role_tag="role", content_tag="content")
                tags.update(user_tag="user", assistant_tag="assistant")
            self._tags = tags
        return self._tags

    def _role(self, raw: Any, tags: dict[str, str]) -> str | None:
        by_tag = {
            tags.get("user_tag"): "user",
            tags.get("assistant_tag"): "assistant",
            tags.get("observation_tag"): "tool",
            tags.get("function_tag"): "function",
            tags.get("system_tag"): "system",
        }
        return by_tag.get(raw) or _CANONICAL_ROLES.get(str(raw).lower())

    def _message(self, raw: Any, where: str, index: int, tags: dict[str, str]) -> Message:
        role_tag, content_tag = tags["role_tag"], tags["content_tag"]
        if isinstance(raw, str):
            raise RecordError(
                f"{where}: message {index + 1} is a string, not a message object",
                f'Write {{"{role_tag}": ..., "{content_tag}": ...}}',
            )
        if not isinstance(raw, dict) or role_tag not in raw or content_tag not in raw:
            raise RecordError(
                f'{where}: message {index + 1} needs "{role_tag}" and "{content_tag}"',
                "Fix the message, or set tags in dataset_info.json",
            )
        role = self._role(raw[role_tag], tags)
        if role is None:
            raise RecordError(
                f"{where}: message {index + 1} has unknown role {raw[role_tag]!r}",
                f"Use {tags['user_tag']!r}/{tags['assistant_tag']!r} or set tags",
            )
        content = raw[content_tag]
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        return {"role": role, "content": self.fill(content)}

    def _sharegpt(self, rec: dict[str, Any], where: str, stage_kind: str) -> Sample:
        col = self.spec.column
        key = col("messages") or "conversations"
        raw = _need(rec, key, where)
        if not isinstance(raw, list):
            raise RecordError(f'{where}: "{key}" must be a list of messages', "Fix it")
        if not raw:
            raise RecordError(f'{where}: empty conversation in "{key}"', "Drop the record")
        tags = self._tags_for(raw[0])
        messages = [self._message(m, where, i, tags) for i, m in enumerate(raw)]
        system: list[Message] = []
        if messages[0]["role"] == "system":
            system = [messages.pop(0)]
        system_key = self.col("system", rec)
        if system_key and rec.get(system_key):
            system = [self.msg("system", _text(rec[system_key], system_key, where))]
        if not messages:
            raise RecordError(f"{where}: conversation has only a system message", "Add turns")
        for i, m in enumerate(messages):
            expected = ("user", "tool") if i % 2 == 0 else ("assistant", "function")
            if m["role"] not in expected:
                raise RecordError(
                    f"{where}: message {i + 1 + len(system)} is {m['role']!r} where "
                    f"{' or '.join(expected)} is expected (turns must alternate, user first)",
                    "Fix the role order",
                )
        for m in messages:  # function calls are assistant turns for the chat template
            if m["role"] == "function":
                m["role"] = "assistant"
        sample = Sample(tools=_tools(rec, self.col("tools", rec), where))
        if self.spec.ranking:
            if len(messages) % 2 == 0:
                raise RecordError(
                    f"{where}: a preference conversation must end with a user turn",
                    "Move the answers into chosen/rejected",
                )
            sample.prompt = system + messages
            for field_name in ("chosen", "rejected"):
                name = col(field_name) or field_name
                value = _need(rec, name, where, " (a preference dataset needs chosen/rejected)")
                if isinstance(value, str):
                    content = self.fill(value)
                else:
                    content = self._message(value, where, len(raw), tags)["content"]
                if not content.strip():
                    raise RecordError(f'{where}: "{name}" is empty', "Give it text")
                setattr(sample, field_name, [{"role": "assistant", "content": content}])
            return sample
        if stage_kind == "text":
            sample.text = "\n".join(m["content"] for m in system + messages)
            return sample
        if len(messages) % 2 == 1:
            raise RecordError(
                f"{where}: conversation ends with a {messages[-1]['role']} turn",
                "End it with the assistant's answer",
            )
        sample.prompt = system + messages[:-1]
        sample.completion = [messages[-1]]
        return sample

    # -- entry point --------------------------------------------------------------------------
    def parse(self, rec: Any, file: str, line: int, stage_kind: str) -> Sample:
        """One record -> Sample; `stage_kind` is conv | pair | kto | text."""
        where = _where(self.spec, file, line)
        if not isinstance(rec, dict):
            raise RecordError(
                f"{where}: a record must be a JSON object, got {type(rec).__name__}",
                "Fix the data",
            )
        if self.spec.formatting is None:
            detect(self.spec, rec, where)
        if self.spec.formatting == "sharegpt":
            sample = self._sharegpt(rec, where, stage_kind)
        else:
            sample = self._alpaca(rec, where, need_response=stage_kind in ("conv", "kto"))
            if stage_kind == "text":
                sample.text = sample.plain_text()
        if stage_kind == "kto" and not self.spec.ranking:
            key = self.spec.column("kto_tag") or "kto_tag"
            sample.label = _label(
                _need(rec, key, where, " (KTO needs a true/false tag)"), key, where
            )
        return sample
