"""Files that are not what they should be: one line naming the file and the fix, every time."""

from __future__ import annotations

from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.userfiles import read_json_object, read_text


def test_reads_utf8_and_drops_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffhello é\n".encode())
    assert read_text(path) == "hello é\n"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"line one\nline two \xff\xfe bad\n", "is not UTF-8 text (byte 18, line 2)"),
        (b"PK\x03\x04\x00\x00binary", "is a binary file, not text (NUL byte at line 1)"),
    ],
)
def test_not_text_names_the_file_and_where(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        read_text(path, "dataset")
    assert err.value.problem == f"dataset {path} {needle}"
    assert "UTF-8" in (err.value.fix or "")


def test_a_folder_and_a_missing_file_say_so(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a folder, not a file"):
        read_text(tmp_path, "recipe")
    with pytest.raises(UserError, match=r"recipe .*nope\.yaml not found"):
        read_text(tmp_path / "nope.yaml", "recipe")


def test_json_object_errors_name_the_line_and_the_shape(tmp_path: Path) -> None:
    path = tmp_path / "info.json"
    path.write_text('{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(UserError, match=r"info\.json line 4: bad JSON"):
        read_json_object(path, "dataset_info.json", "Fix it")
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="must be a JSON object"):
        read_json_object(path, "dataset_info.json", "Fix it")
    path.write_text('{"a": 1}')
    assert read_json_object(path, "dataset_info.json", "Fix it") == {"a": 1}


def test_an_empty_recipe_is_refused(tmp_path: Path) -> None:
    from tunetui.runner.recipe_io import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text("\n# nothing here\n")
    with pytest.raises(UserError, match="is empty"):
        load_recipe(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".txt", ".csv"])
def test_one_huge_record_is_refused_with_the_limit(tmp_path: Path, suffix: str) -> None:
    from tunetui.runner.data.readers import MAX_RECORD_CHARS, read_records

    big = "x" * (MAX_RECORD_CHARS + 10)
    path = tmp_path / f"data{suffix}"
    path.write_text(
        {
            ".jsonl": f'{{"text": "ok"}}\n{{"text": "{big}"}}\n',
            ".json": f'[{{"text": "ok"}},\n {{"text": "{big}"}}]',
            ".txt": f"ok\n{big}\n",
            ".csv": f"instruction,output\nhi,{big}\nhi,ok\n",
        }[suffix]
    )
    with pytest.raises(UserError) as err:
        list(read_records(path))
    assert f"data{suffix} line 2: one record is" in err.value.problem  # csv: header is line 1
    assert f"{MAX_RECORD_CHARS:,}-character limit" in err.value.problem


def test_a_csv_dataset_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    from tunetui.runner.data.readers import read_records

    path = tmp_path / "data.csv"
    path.write_bytes(b"instruction,output\nhi,caf\xe9\n")
    with pytest.raises(UserError, match=r"data\.csv is not UTF-8 text \(byte 25, line 2\)"):
        list(read_records(path))


def test_init_refuses_a_recipe_path_it_cannot_write(cli, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = cli("init", "--headless", "--method", "lora", "-o", str(blocker / "r.yaml"))
    assert code == 2 and "cannot be created" in err and "a-file is a file" in err, err
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o555)
    from tunetui.runner import userfiles

    real_access = userfiles.os.access  # CI runs as root, for whom nothing is read-only
    monkeypatch.setattr(
        userfiles.os, "access", lambda p, mode: Path(p) != readonly and real_access(p, mode)
    )
    code, _, err = cli("init", "--headless", "--method", "lora", "-o", str(readonly / "r.yaml"))
    assert code == 2 and "is not writable" in err and "Traceback" not in err, err
    assert list(readonly.iterdir()) == []
