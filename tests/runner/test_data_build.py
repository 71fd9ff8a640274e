"""build_datasets: trl's standard formats per stage, seeded split, and trl's own masking."""

from __future__ import annotations

from pathlib import Path

from _data_fixtures import LF_DATA, recipe
from tunetui.runner.data.templates import TEMPLATES
from tunetui.runner.train.data import build_datasets


def _is_messages(value) -> bool:
    return isinstance(value, list) and all(set(m) == {"role", "content"} for m in value)


def test_sft_prompt_completion(tiny_tokenizer) -> None:
    train, ev = build_datasets(recipe("sft", ["identity", "sharegpt_demo"]), tiny_tokenizer)
    assert ev is None
    assert set(train.column_names) == {"prompt", "completion"}
    row = train[0]
    assert _is_messages(row["prompt"]) and _is_messages(row["completion"])
    assert [m["role"] for m in row["completion"]] == ["assistant"]
    roles = [[m["role"] for m in row] for row in train["prompt"]]
    assert ["user", "assistant", "user"] in roles  # multi-turn: history goes into the prompt


def test_every_assistant_turn_is_learned_unless_mask_history(tiny_tokenizer) -> None:
    train, _ = build_datasets(recipe("sft", ["sharegpt_demo"]), tiny_tokenizer)
    masked, _ = build_datasets(recipe("sft", ["sharegpt_demo"], mask_history=True), tiny_tokenizer)
    assert len(masked) == 9 and len(train) > len(masked)
    first_answer = masked[0]["prompt"][1]["content"]
    assert first_answer in [row[0]["content"] for row in train["completion"]]
    assert first_answer not in [row[0]["content"] for row in masked["completion"]]


def test_sft_train_on_prompt_uses_messages(tiny_tokenizer) -> None:
    train, _ = build_datasets(recipe("sft", ["identity"], train_on_prompt=True), tiny_tokenizer)
    assert train.column_names == ["messages"]
    assert [m["role"] for m in train[0]["messages"]] == ["user", "assistant"]


def test_preference_and_kto_and_text(tiny_tokenizer) -> None:
    for stage in ("dpo", "orpo", "rm"):
        train, _ = build_datasets(recipe(stage, ["dpo_demo"]), tiny_tokenizer)
        assert set(train.column_names) == {"prompt", "chosen", "rejected"}
        assert _is_messages(train[0]["chosen"]) and _is_messages(train[0]["rejected"])
    train, _ = build_datasets(recipe("kto", ["kto_demo"]), tiny_tokenizer)
    assert set(train.column_names) == {"prompt", "completion", "label"}
    assert set(train["label"]) == {True, False}
    train, _ = build_datasets(recipe("pt", ["pretrain_demo"]), tiny_tokenizer)
    assert train.column_names == ["text"] and isinstance(train[0]["text"], str)


def test_split_is_seeded_and_max_samples(tiny_tokenizer) -> None:
    r = recipe("sft", ["identity"], max_samples=30, val_size=0.2)
    train, ev = build_datasets(r, tiny_tokenizer)
    assert (len(train), len(ev)) == (24, 6)
    again_train, again_ev = build_datasets(r, tiny_tokenizer)
    assert ev["prompt"] == again_ev["prompt"]
    r.training.seed = 7
    assert build_datasets(r, tiny_tokenizer)[1]["prompt"] != ev["prompt"]


def test_named_template_is_applied(tiny_tokenizer) -> None:
    build_datasets(recipe("sft", ["identity"], template="llama3"), tiny_tokenizer)
    assert tiny_tokenizer.chat_template == TEMPLATES["llama3"]


def test_tools_column(tiny_tokenizer) -> None:
    r = recipe("sft", ["glaive_toolcall_en_demo", "identity"], dataset_dir=str(LF_DATA))
    train, _ = build_datasets(r, tiny_tokenizer)
    assert "tools" in train.column_names
    assert train[0]["tools"].startswith("[") and train[len(train) - 1]["tools"] is None


def test_trl_masks_exactly_the_answer(tmp_path: Path, tiny_model_dir: Path) -> None:
    """trl's own SFT preprocessing on our rows: the loss mask covers the answer, not the prompt."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    model_dir = tiny_model_dir
    tok = AutoTokenizer.from_pretrained(model_dir)
    train, _ = build_datasets(recipe("sft", ["identity"], max_samples=4), tok)
    args = SFTConfig(output_dir=str(tmp_path / "out"), report_to=[], max_length=256, use_cpu=True)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=args,
        train_dataset=train,
        processing_class=tok,
    )
    row = trainer.train_dataset[0]
    answer_ids = [i for i in row["labels"] if i != -100]
    answer = tok.decode(answer_ids)
    assert train[0]["completion"][0]["content"] in answer
    assert train[0]["prompt"][-1]["content"] not in answer
