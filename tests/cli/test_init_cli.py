"""`tunetui init --headless` and `tunetui import-lf` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tunetui.runner.recipe_io import load_recipe

LF_EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "llamafactory" / "examples"


def test_headless_writes_recipe(cli, tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    code, stdout, err = cli(
        "init", "--headless", "-o", str(out), "--method", "lora", "--rank", "16",
        "--dataset", "identity", "--dataset", "sharegpt_demo", "--lr", "1e-4", "--grad-ckpt",
        "--report-to", "tensorboard", "--name", "mine",
    )  # fmt: skip
    assert code == 0, err
    assert f"wrote {out}" in stdout and "tunetui run" in stdout
    recipe = load_recipe(out)
    assert recipe.name == "mine" and recipe.lora.rank == 16
    assert recipe.data.datasets == ["identity", "sharegpt_demo"]
    assert recipe.training.gradient_checkpointing is True
    assert recipe.report_to == ["tensorboard"]


def test_headless_refuses_overwrite(cli, tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    assert cli("init", "--headless", "-o", str(out), "--method", "lora")[0] == 0
    code, _, err = cli("init", "--headless", "-o", str(out), "--method", "full")
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert load_recipe(out).method == "lora"
    assert cli("init", "--headless", "-o", str(out), "--method", "full", "--overwrite")[0] == 0
    assert load_recipe(out).method == "full"


def test_headless_bad_flag_is_one_line(cli, tmp_path: Path) -> None:
    code, _, err = cli("init", "--headless", "-o", str(tmp_path / "r.yaml"), "--stage", "sfft")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "sfft" in err and "Did you mean 'sft'?" in err
    assert not (tmp_path / "r.yaml").exists()


def test_headless_stdout_and_json(cli, tmp_path: Path) -> None:
    code, stdout, _ = cli("init", "--headless", "-o", "-", "--method", "qlora", "--bits", "8")
    assert code == 0 and "method: qlora" in stdout and "bits: 8" in stdout
    code, stdout, _ = cli(
        "init", "--headless", "--json", "-o", str(tmp_path / "j.yaml"), "--method", "dora"
    )
    assert code == 0 and json.loads(stdout)["method"] == "dora"


def test_init_without_tty_says_headless(cli) -> None:
    code, _, err = cli("init")
    assert code == 2 and "--headless" in err


@pytest.mark.parametrize("command", ["init", "import-lf"])
def test_commands_do_not_import_torch(tmp_path: Path, command: str) -> None:
    lf = tmp_path / "lf.yaml"
    lf.write_text("model_name_or_path: m\nstage: sft\nfinetuning_type: lora\n")
    argv = ["init", "--headless"] if command == "init" else ["import-lf", str(lf)]
    argv += ["-o", str(tmp_path / "r.yaml")]
    code = (
        "import sys\nfrom tunetui.cli import main\n"
        f"try:\n    main({argv!r})\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'trl', 'datasets', 'peft', 'textual')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr
    assert (tmp_path / "r.yaml").is_file()


def test_import_lf_cli(cli, tmp_path: Path) -> None:
    out = tmp_path / "galore.yaml"
    code, stdout, err = cli(
        "import-lf", str(LF_EXAMPLES / "extras_galore_llama3_full_sft.yaml"), "-o", str(out)
    )
    assert code == 0, err
    assert "warning: galore_rank:" in err and f"wrote {out}" in stdout
    assert load_recipe(out).training.optimizer == "galore"
    code, stdout, _ = cli(
        "import-lf", str(LF_EXAMPLES / "train_lora_qwen3_lora_dpo.yaml"), "--json"
    )
    payload = json.loads(stdout)
    assert code == 0 and payload["recipe"]["stage"] == "dpo" and payload["path"] is None
    code, _, err = cli("import-lf", str(LF_EXAMPLES / "merge_lora_qwen3_lora_sft.yaml"))
    assert code == 2 and "tunetui export" in err


def test_headless_warns_about_data(cli, tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    code, _, err = cli(
        "init", "--headless", "-o", str(out), "--method", "lora", "--dataset", "idenity"
    )
    assert code == 0 and out.is_file()
    assert "warning: the data does not validate yet" in err and "'identity'" in err


def test_init_flags_preset_the_wizard(cli, monkeypatch) -> None:
    """`tunetui init --gpus 4 --method qlora` opens the wizard with both already chosen."""
    import tunetui.tui.app as tui_app

    opened = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(tui_app, "run_app", lambda state=None: opened.append(state))
    code, _, err = cli("init", "--gpus", "4", "--method", "qlora", "--rank", "16")
    assert code == 0, err
    (state,) = opened
    assert (state["gpus"], state["method"], state["rank"]) == (4, "qlora", 16)
