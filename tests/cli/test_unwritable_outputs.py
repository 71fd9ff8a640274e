"""Places that cannot be written are refused before any work, naming the path and why,
over every command that writes: run (tests/runner/test_races.py), init
(tests/runner/test_userfiles.py), export (HF and GGUF), and active learning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _adapter(tmp_path: Path, base: Path) -> Path:
    """An adapter folder (its config only: nothing is loaded before the output check)."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    config = {"base_model_name_or_path": str(base), "peft_type": "LORA", "r": 4}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("kind", ["merged", "gguf"])
def test_export_under_a_file_is_refused_before_any_work(
    cli, tmp_path: Path, tiny_model_dir: Path, kind: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    source = _adapter(tmp_path, tiny_model_dir) if kind == "merged" else tiny_model_dir
    extra = ["--gguf", "--quant", "f16"] if kind == "gguf" else []
    code, _, err = cli("export", str(source), "-o", str(blocker / "out"), *extra)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "cannot be created" in err and "a-file is a file" in err


def test_al_init_under_a_file_and_al_files_that_are_not_text(cli, tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"id": "p1", "text": "fine"}\n')
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"id": "s1", "text": "good", "label": "pos"}\n')
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = ["--pool", str(pool), "--seed-labels", str(seed)]
    code, _, err = cli("al", "init", str(blocker / "proj"), *args)
    assert code == 2 and "a-file is a file" in err, err
    binary = tmp_path / "labels.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    code, _, err = cli("al", "init", str(tmp_path / "proj"), "--pool", str(binary),
                       "--seed-labels", str(seed))  # fmt: skip
    assert code == 2 and "labels.jsonl is not UTF-8 text" in err and "Traceback" not in err
    assert not (tmp_path / "proj").exists()
