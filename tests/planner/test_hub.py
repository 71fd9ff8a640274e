"""Planning a hub model from config.json and safetensors headers, with the Hub faked.

`huggingface_hub.hf_hub_download` and `get_safetensors_metadata` are replaced by fakes
that count their calls; nothing touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from tunetui.planner.errors import UserError
from tunetui.planner.hub import hub_spec
from tunetui.planner.models import resolve_model

# Qwen2.5-0.5B's config.json (the fields the planner reads) and its header counts.
CONFIG = {
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
}
HEADER_COUNT = {"BF16": 494_032_768}


class FakeHub:
    def __init__(self, root: Path, headers: bool = True) -> None:
        self.root, self.headers, self.calls = root, headers, []

    def hf_hub_download(self, repo_id: str, filename: str, **_) -> str:
        self.calls.append(("config", repo_id))
        path = self.root / repo_id.replace("/", "--") / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(CONFIG))
        return str(path)

    def get_safetensors_metadata(self, repo_id: str, **_):
        self.calls.append(("headers", repo_id))
        if not self.headers:
            raise OSError("model.safetensors not found (a *.bin repo)")
        return SimpleNamespace(parameter_count=HEADER_COUNT)


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import huggingface_hub

    monkeypatch.setenv("TUNETUI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))

    def install(headers: bool = True) -> FakeHub:
        hub = FakeHub(tmp_path / "hub", headers)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
        monkeypatch.setattr(
            huggingface_hub, "get_safetensors_metadata", hub.get_safetensors_metadata
        )
        return hub

    return install


def test_a_hub_model_is_planned_from_config_and_exact_header_counts(fake_hub) -> None:
    hub = fake_hub()
    spec = resolve_model("acme/qwen-half")
    assert spec.hidden_size == 896 and spec.num_key_value_heads == 2
    assert spec.published_params == 494_032_768 and not spec.approx
    assert spec.hf_id == "acme/qwen-half"
    assert abs(spec.n_params / spec.published_params - 1) < 0.01  # architecture agrees
    assert hub.calls == [("config", "acme/qwen-half"), ("headers", "acme/qwen-half")]


def test_the_second_plan_uses_the_cache_even_offline(fake_hub, monkeypatch) -> None:
    hub = fake_hub()
    hub_spec("acme/qwen-half")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_spec("acme/qwen-half").published_params == 494_032_768
    assert len(hub.calls) == 2


def test_without_headers_it_falls_back_to_the_config_and_says_so(fake_hub) -> None:
    from tunetui.planner.hub import hub_record

    fake_hub(headers=False)
    spec = hub_spec("acme/bin-only")
    assert spec.approx and spec.published_params == 0
    assert "from config.json alone" in hub_record("acme/bin-only")["note"]


def test_offline_and_never_planned_is_one_line(fake_hub, monkeypatch) -> None:
    hub = fake_hub()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE") as info:
        resolve_model("acme/other")
    assert "--params" in str(info.value) and hub.calls == []


def test_plan_cli_plans_a_hub_model(fake_hub, cli) -> None:
    fake_hub()
    code, out, err = cli("plan", "--model", "acme/qwen-half", "--json")
    assert code == 0, err
    model = json.loads(out)["model"]
    assert model["id"] == "acme/qwen-half" and model["approx"] is False


def _human(plan: dict) -> str:
    import io

    from rich.console import Console
    from tunetui.planner.render import render_plan

    console = Console(width=80, record=True, file=io.StringIO())
    render_plan(plan, console)
    return console.export_text()


def test_the_plan_says_where_the_parameter_count_came_from(fake_hub) -> None:
    """Exact from the headers, or config.json alone: `params_source` words it for the
    plan's model object, and the human plan prints a model object's ``params_note``."""
    from tunetui.planner.hub import params_source
    from tunetui.planner.plan import build_plan

    fake_hub()
    exact = params_source(resolve_model("acme/qwen-half"))
    assert exact["params_exact"] == 494_032_768
    assert "exact, from the safetensors headers (BF16 494,032,768)" in exact["params_note"]
    plan = build_plan("acme/qwen-half", gpu="rtx-4090")
    assert plan["model"]["params_exact"] == 494_032_768  # in the JSON as built
    assert "494,032,768 parameters, exact" in _human(plan)


def test_the_plan_says_when_it_fell_back_to_the_config(fake_hub) -> None:
    from tunetui.planner.hub import params_source
    from tunetui.planner.plan import build_plan

    fake_hub(headers=False)
    spec = resolve_model("acme/bin-only")
    fallback = params_source(spec)
    assert fallback["params_exact"] is None
    assert fallback["params_note"].startswith("parameters from config.json alone")
    assert params_source(resolve_model("smollm2-135m")) == {}  # not a hub plan
    plan = build_plan("acme/bin-only", gpu="rtx-4090")
    assert plan["model"]["params_note"] == fallback["params_note"]
    text = _human(plan)
    assert "(approximate)" in text and "from config.json alone" in text
