"""validate_data: every format reads, bad records fail with file + line, stage mismatches."""

from __future__ import annotations

from pathlib import Path

import pytest
from _data_fixtures import LF_DATA, data_dir, recipe
from tunetui.planner.errors import UserError
from tunetui.runner.data import validate_data
from tunetui.runner.data.validation import load_samples

ALPACA = [
    {"instruction": "Say hi", "input": "", "output": "Hi!"},
    {"instruction": "Add", "input": "1 + 1", "output": "2", "system": "Be terse."},
]


def _fails(tmp_path: Path, records, stage: str = "sft", entry: dict | None = None, name="d.json"):
    folder = data_dir(tmp_path, {"d": entry or {"file_name": name}}, {name: records})
    with pytest.raises(UserError) as info:
        validate_data(recipe(stage, ["d"], dataset_dir=str(folder)))
    return info.value.line()


def test_shipped_demo_data_validates_for_each_stage() -> None:
    for stage, names in {
        "sft": ["identity", "sharegpt_demo"],
        "dpo": ["dpo_demo"],
        "orpo": ["dpo_demo"],
        "rm": ["dpo_demo"],
        "kto": ["kto_demo"],
        "pt": ["pretrain_demo"],
    }.items():
        report = validate_data(recipe(stage, names))
        assert report.total > 0 and report.n_train == report.total, stage


def test_llamafactory_folder_works_as_is() -> None:
    """LLaMA-Factory's own dataset_info.json and demo files (a small copy), unchanged."""
    cases = {
        "sft": ["identity", "alpaca_en_demo", "alpaca_zh_demo", "glaive_toolcall_en_demo"],
        "dpo": ["dpo_en_demo"],
        "kto": ["kto_en_demo"],
        "pt": ["c4_demo", "wiki_demo"],
    }
    for stage, names in cases.items():
        report = validate_data(recipe(stage, names, dataset_dir=str(LF_DATA)))
        assert [d.name for d in report.datasets] == names
        assert all(d.records > 0 and d.used >= d.records for d in report.datasets)
    report = validate_data(recipe("sft", ["alpaca_en_demo"], dataset_dir=str(LF_DATA)))
    assert report.datasets[0].records == 6  # every record of the fixture file


def test_identity_placeholders_are_filled() -> None:
    samples = load_samples(recipe("sft", ["identity"]))[0].samples
    text = " ".join(s.plain_text() for s in samples)
    assert "{{" not in text and "tunetui" in text and "the tunetui team" in text
    custom = recipe("sft", ["identity"], placeholders={"name": "Ada", "author": "Lab"})
    assert "Ada" in " ".join(s.plain_text() for s in load_samples(custom)[0].samples)


def test_counts_max_samples_and_split(tmp_path: Path) -> None:
    folder = data_dir(tmp_path, {"d": {"file_name": "d.json"}}, {"d.json": ALPACA * 10})
    report = validate_data(recipe("sft", ["d"], dataset_dir=str(folder), max_samples=15))
    assert (report.datasets[0].records, report.datasets[0].used) == (20, 15)
    report = validate_data(
        recipe("sft", ["d"], dataset_dir=str(folder), max_samples=15, val_size=0.2)
    )
    assert (report.n_train, report.n_eval) == (12, 3)


def test_alpaca_system_history_and_input(tmp_path: Path) -> None:
    rec = {
        "instruction": "And 2+2?",
        "input": "quick",
        "output": "4",
        "system": "Be terse.",
        "history": [["1+1?", "2"]],
    }
    folder = data_dir(tmp_path, {"d": {"file_name": "d.json"}}, {"d.json": [rec]})
    sample = load_samples(recipe("sft", ["d"], dataset_dir=str(folder)))[0].samples[-1]
    assert [m["role"] for m in sample.prompt] == ["system", "user", "assistant", "user"]
    assert sample.prompt[-1]["content"] == "And 2+2?\nquick"
    assert sample.completion == [{"role": "assistant", "content": "4"}]


def test_missing_output_names_line(tmp_path: Path) -> None:
    records = [*ALPACA, {"instruction": "x", "input": ""}]
    line = _fails(tmp_path, records)
    assert line.startswith('d.json line 13: missing "output"'), line


def test_bad_json_names_line(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "d.jsonl").write_text('{"text": "a"}\n{"text": "b"\n', encoding="utf-8")
    data_dir(folder, {"d": {"file_name": "d.jsonl", "columns": {"prompt": "text"}}}, {})
    with pytest.raises(UserError, match=r"d.jsonl line 2: bad JSON"):
        validate_data(recipe("pt", ["d"], dataset_dir=str(folder)))


def test_bad_json_in_array_names_line(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text('[\n {"instruction": "a", "output": "b"},\n {"x": }\n]')
    data_dir(tmp_path, {"d": {"file_name": "d.json"}}, {})
    with pytest.raises(UserError, match=r"d.json line 3: bad JSON"):
        validate_data(recipe("sft", ["d"], dataset_dir=str(tmp_path)))


def test_wrong_type(tmp_path: Path) -> None:
    line = _fails(tmp_path, [{"instruction": "a", "input": "", "output": ["b"]}])
    assert 'line 2: "output" must be a string, got list' in line


def test_empty_conversation(tmp_path: Path) -> None:
    entry = {"file_name": "d.json", "formatting": "sharegpt"}
    assert "empty conversation" in _fails(tmp_path, [{"conversations": []}], entry=entry)


def test_wrong_role_order(tmp_path: Path) -> None:
    conv = [{"from": "gpt", "value": "hi"}, {"from": "human", "value": "x"}]
    entry = {"file_name": "d.json", "formatting": "sharegpt"}
    line = _fails(tmp_path, [{"conversations": conv}], entry=entry)
    assert "line 2: message 1 is 'assistant' where user or tool is expected" in line


def test_conversation_must_end_with_answer(tmp_path: Path) -> None:
    conv = [{"from": "human", "value": "hi"}]
    entry = {"file_name": "d.json", "formatting": "sharegpt"}
    assert "ends with a user turn" in _fails(tmp_path, [{"conversations": conv}], entry=entry)


def test_missing_rejected(tmp_path: Path) -> None:
    entry = {
        "file_name": "d.json",
        "ranking": True,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
    }
    rec = {
        "conversations": [{"from": "human", "value": "q"}],
        "chosen": {"from": "gpt", "value": "a"},
    }
    assert 'missing "rejected"' in _fails(tmp_path, [rec], stage="dpo", entry=entry)


def test_stage_mismatch(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="stage dpo needs preference data"):
        validate_data(recipe("dpo", ["identity"]))
    with pytest.raises(UserError, match="preference dataset .* stage is sft"):
        validate_data(recipe("sft", ["dpo_demo"]))
    with pytest.raises(UserError, match="stage kto needs a true/false label"):
        validate_data(recipe("kto", ["identity"]))


def test_kto_label_type(tmp_path: Path) -> None:
    entry = {"file_name": "d.json", "columns": {"kto_tag": "label"}}
    rec = {"instruction": "q", "input": "", "output": "a", "label": "maybe"}
    assert '"label" must be true or false' in _fails(tmp_path, [rec], stage="kto", entry=entry)


def test_pairwise_feeds_kto_unpaired() -> None:
    report = validate_data(recipe("kto", ["dpo_demo"]))
    assert report.datasets[0].used == 2 * report.datasets[0].records


def test_unknown_dataset_suggests() -> None:
    with pytest.raises(UserError, match="unknown dataset 'identiy'. Did you mean 'identity'"):
        validate_data(recipe("sft", ["identiy"]))


def test_hub_only_entry_is_explained(tmp_path: Path) -> None:
    data_dir(tmp_path, {"h": {"hf_hub_url": "org/data"}}, {})
    with pytest.raises(UserError, match="is on a hub"):
        validate_data(recipe("sft", ["h"], dataset_dir=str(tmp_path)))


def test_plain_files_are_detected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("first line of text\n\nsecond line\n")
    (tmp_path / "rows.csv").write_text("instruction,input,output\nSay hi,,Hi!\nAdd,1+1,2\n")
    sharegpt = tmp_path / "chat.jsonl"
    sharegpt.write_text(
        '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
    )
    assert validate_data(recipe("pt", [str(tmp_path / "notes.txt")])).total == 2
    report = validate_data(recipe("sft", [str(tmp_path / "rows.csv"), str(sharegpt)]))
    assert [d.records for d in report.datasets] == [2, 1]
    assert report.datasets[1].format == "sharegpt"


def test_csv_with_column_mapping(tmp_path: Path) -> None:
    (tmp_path / "qa.csv").write_text("question,answer\nWhat is 2+2?,4\nCapital of France?,Paris\n")
    entry = {"file_name": "qa.csv", "columns": {"prompt": "question", "response": "answer"}}
    data_dir(tmp_path, {"qa": entry}, {})
    samples = load_samples(recipe("sft", ["qa"], dataset_dir=str(tmp_path)))[0].samples
    assert samples[1].completion[0]["content"] == "Paris"


def test_csv_missing_cell_names_line(tmp_path: Path) -> None:
    (tmp_path / "qa.csv").write_text("question,answer\nok,fine\nmissing,\n")
    entry = {"file_name": "qa.csv", "columns": {"prompt": "question", "response": "answer"}}
    data_dir(tmp_path, {"qa": entry}, {})
    with pytest.raises(UserError, match=r'qa.csv line 3: "answer" is empty'):
        validate_data(recipe("sft", ["qa"], dataset_dir=str(tmp_path)))


def test_cutoff_warning() -> None:
    report = validate_data(recipe("dpo", ["dpo_demo"], cutoff_len=16))
    assert report.warnings and "cutoff_len=16" in report.warnings[0]


def test_alpaca_style_pairwise_and_kto(tmp_path: Path) -> None:
    pairs = [{"instruction": "2+2?", "input": "", "chosen": "4", "rejected": "5"}]
    entry = {"file_name": "p.json", "ranking": True, "columns": {"chosen": "chosen"}}
    entry["columns"]["rejected"] = "rejected"
    kto = [{"instruction": "2+2?", "output": "4", "tag": True}]
    folder = data_dir(
        tmp_path,
        {"p": entry, "k": {"file_name": "k.json", "columns": {"kto_tag": "tag"}}},
        {"p.json": pairs, "k.json": kto},
    )
    pair = load_samples(recipe("dpo", ["p"], dataset_dir=str(folder)))[0].samples[0]
    assert pair.prompt == [{"role": "user", "content": "2+2?"}]
    assert pair.chosen[0]["content"] == "4" and pair.rejected[0]["content"] == "5"
    good = load_samples(recipe("kto", ["k"], dataset_dir=str(folder)))[0].samples[0]
    assert good.label is True and good.completion[0]["content"] == "4"
