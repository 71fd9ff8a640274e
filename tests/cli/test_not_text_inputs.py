"""Files that are not text, and folders where a file is expected, over every command that
reads a user file: one line naming the file and the fix, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

BINARY = b"PK\x03\x04\x14\x00\x00\x00\x08\x00binary\xff\xfe"
LATIN1 = "model_name_or_path: caf\xe9\n".encode("latin-1")


@pytest.mark.parametrize("content", [BINARY, LATIN1])
@pytest.mark.parametrize("command", ["import-lf", "run"])
def test_a_file_that_is_not_text_is_one_line(cli, tmp_path: Path, command, content) -> None:
    path = tmp_path / "input.yaml"
    path.write_bytes(content)
    code, out, err = cli(command, str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and ("not UTF-8 text" in err or "binary file" in err)
    assert "Traceback" not in err + out


@pytest.mark.parametrize("command", ["import-lf", "run"])
def test_a_folder_given_for_a_file_says_it_is_a_folder(cli, tmp_path: Path, command) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    code, _, err = cli(command, str(folder))
    assert code == 2 and "is a folder" in err, err


def test_a_dataset_that_is_not_text_is_refused_by_run_and_init(cli, fake_runs, tmp_path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_bytes(BINARY)
    recipe = fake_runs("bin")
    recipe.write_text(recipe.read_text() + f"data:\n  datasets: [{data}]\n")
    code, _, err = cli("run", str(recipe), "--detach")
    assert code == 2 and "data.jsonl is not UTF-8 text (byte 16, line 1)" in err, err
    assert not (tmp_path / "runs" / "bin").exists()
    code, _, err = cli("init", "--headless", "-o", str(tmp_path / "r.yaml"), "--dataset", str(data))
    assert code == 0 and "data.jsonl is not UTF-8 text" in err  # a warning: data may come later
