"""A small renderer for the subset of Go's text/template that our Ollama Modelfiles use.

Ollama renders prompts with Go templates; tunetui writes those templates from the run's
Jinja chat template (`modelfile.ollama_template`). A template that renders a different
prompt than the one the model was trained on is the classic "the exported model talks
gibberish" bug, so the export verifies the written template by rendering it here and
comparing with the Jinja rendering. Go is not needed for that: the generated templates use
only ``range $i, $_ := .Messages``, ``if / else if / else / end``, variables (``$x := v``,
``$x = v``), fields (``.Role``, ``$.System``), string and integer literals and the
functions ``eq ne and or not len slice``. Anything else raises ValueError, so a template
this module cannot check is never reported as checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_WORD = re.compile(r'"(?:\\.|[^"\\])*"|[()]|[^\s()]+')


def _tokens(template: str) -> list[tuple[str, str]]:
    """('text', literal) and ('action', body) pieces, with ``{{-``/``-}}`` trimming applied."""
    out: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for match in _ACTION.finditer(template):
        text = template[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        out.append(("text", text))
        out.append(("action", match.group(2)))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = template[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def _parse(tokens: list[tuple[str, str]], i: int = 0) -> tuple[list[Any], int, str]:
    """Nodes up to an ``end``/``else`` (returned as the stop word) or the end of input."""
    nodes: list[Any] = []
    while i < len(tokens):
        kind, body = tokens[i]
        i += 1
        if kind == "text":
            if body:
                nodes.append(("text", body))
            continue
        word = body.split(None, 1)[0] if body else ""
        if word in ("end", "else"):
            return nodes, i, body
        if word in ("if", "range"):
            node, i = _parse_block(word, body[len(word) :].strip(), tokens, i)
            nodes.append(node)
        else:
            nodes.append(("expr", body))
    return nodes, i, ""


def _parse_block(word: str, head: str, tokens: list[tuple[str, str]], i: int) -> tuple[Any, int]:
    """An if/else-if/else chain or a range block, consumed up to its ``end``."""
    branches: list[tuple[str | None, list[Any]]] = []
    cond: str | None = head
    while True:
        body, i, stop = _parse(tokens, i)
        branches.append((cond, body))
        if stop == "end":
            return (word, branches), i
        if not stop:
            raise ValueError(f"unclosed {{{{ {word} }}}} in template")
        rest = stop[len("else") :].strip()
        if rest.startswith("if "):
            cond = rest[3:].strip()
        elif not rest:
            cond = None
        else:
            raise ValueError(f"unsupported {{{{ {stop} }}}}")


class _Scope:
    """The dot, the root data and the variables visible to an action."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.dot: Any = root
        self.vars: dict[str, Any] = {"$": root}


def _split(expr: str) -> list[str]:
    """Top-level words of an expression; parenthesised groups stay one word."""
    words, depth, current = [], 0, ""
    for token in _WORD.findall(expr):
        if token == "(":
            depth += 1
            current += "("
            continue
        if token == ")":
            depth -= 1
            current += ")"
            if depth == 0:
                words.append(current)
                current = ""
            continue
        if depth:
            current += token + " "
        else:
            words.append(token)
    return words


_FUNCS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "and": lambda *a: next((x for x in a if not x), a[-1]),
    "or": lambda *a: next((x for x in a if x), a[-1]),
    "not": lambda a: not a,
    "len": len,
    "slice": lambda x, i, j=None: x[i:j],
}


def _value(word: str, scope: _Scope) -> Any:
    if word.startswith("(") and word.endswith(")"):
        return _eval(word[1:-1].strip(), scope)
    if word.startswith('"'):
        return json.loads(word)
    if word.lstrip("-").isdigit():
        return int(word)
    if word.startswith("$"):
        name, _, field = word.partition(".")
        base = scope.vars[name] if name != "$" or word == "$" else scope.root
        return base[field] if field else base
    if word == ".":
        return scope.dot
    if word.startswith("."):
        return scope.dot[word[1:]]
    raise ValueError(f"unsupported template word {word!r}")


def _eval(expr: str, scope: _Scope) -> Any:
    words = _split(expr)
    if len(words) >= 3 and words[1] in (":=", "="):
        scope.vars[words[0]] = _eval(" ".join(words[2:]), scope)
        return ""
    if words[0] in _FUNCS:
        return _FUNCS[words[0]](*(_value(w, scope) for w in words[1:]))
    if len(words) != 1:
        raise ValueError(f"unsupported template expression {expr!r}")
    return _value(words[0], scope)


def _run(nodes: list[Any], scope: _Scope, out: list[str]) -> None:
    for kind, payload in nodes:
        if kind == "text":
            out.append(payload)
        elif kind == "expr":
            value = _eval(payload, scope)
            out.append("" if value is None else str(value))
        elif kind == "if":
            for cond, body in payload:
                if cond is None or _eval(cond, scope):
                    _run(body, scope, out)
                    break
        else:  # range
            _range(payload, scope, out)


def _range(branches: list[tuple[str | None, list[Any]]], scope: _Scope, out: list[str]) -> None:
    head, body = branches[0]
    assert head is not None
    names, _, source = head.partition(":=")
    items = _eval(source.strip() if source else head, scope)
    index_var, _, item_var = (n.strip() for n in names.partition(",")) if source else ("", "", "")
    saved = scope.dot
    for index, item in enumerate(items):
        scope.dot = item
        if index_var:
            scope.vars[index_var] = index
        if item_var:
            scope.vars[item_var] = item
        _run(body, scope, out)
    scope.dot = saved


def render(template: str, data: dict[str, Any]) -> str:
    """Render ``template`` with ``data`` (e.g. ``{"Messages": [...], "System": "..."}``)."""
    nodes, _, stop = _parse(_tokens(template))
    if stop:
        raise ValueError(f"unexpected {{{{ {stop} }}}} in template")
    out: list[str] = []
    _run(nodes, _Scope(data), out)
    return "".join(out)
