"""Unknown choices and contradictory options are refused at the door, the same way on every
command that takes them, with one line (close match or fix), exit 2 and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunetui.options import OPTIONS

# Every choice-valued option, a near-miss for it, and the suggestion expected.
CHOICES = [
    ("stage", "sfft", "sft"),
    ("method", "qlor", "qlora"),
    ("optim", "adamw8bit", "adamw_8bit"),
    ("scheduler", "cosin", "cosine"),
    ("report_to", "tensorbord", "tensorboard"),
    ("precision", "bf61", "bf16"),
    ("attn", "sdp", "sdpa"),
    ("template", "chatmll", "chatml"),
    ("parallel", "zer3", "zero3"),
    ("offload", "cpuu", "cpu"),
]
CONTRADICTIONS = [
    (["--method", "lora", "--bits", "4"], "a 4-bit base is QLoRA"),
    (["--method", "full", "--bits", "8"], "--bits 8 means nothing for --method full"),
    (["--method", "freeze", "--rank", "32"], "--rank 32 means nothing for --method freeze"),
    (["--method", "lora", "--trainable-layers", "3"], "--trainable-layers 3 means nothing"),
    (["--method", "full", "--targets", "q_proj"], "--targets q_proj means nothing"),
]


def test_the_table_covers_every_choice_valued_option() -> None:
    with_choices = {o.name for o in OPTIONS if o.choices} | {"template"}
    assert with_choices - {"bits"} == {name for name, _, _ in CHOICES}


@pytest.mark.parametrize(("name", "wrong", "meant"), CHOICES)
def test_init_refuses_an_unknown_choice(cli, tmp_path: Path, name, wrong, meant) -> None:
    out = tmp_path / "r.yaml"
    flag = "--" + name.replace("_", "-")
    code, _, err = cli("init", "--headless", "-o", str(out), flag, wrong)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"'{wrong}'" in err and f"Did you mean '{meant}'?" in err
    assert not out.exists()


@pytest.mark.parametrize(("name", "wrong", "meant"), CHOICES)
def test_run_refuses_a_recipe_with_an_unknown_choice(
    cli, fake_runs, tmp_path: Path, name, wrong, meant
) -> None:
    from tunetui.options import BY_NAME

    recipe = fake_runs("bad")
    *sections, leaf = BY_NAME[name].path.split(".")
    value = f"[{wrong}]" if BY_NAME[name].kind == "list" else wrong
    text = recipe.read_text()
    text += "".join(f"{'  ' * i}{s}:\n" for i, s in enumerate(sections) if s != "training")
    if sections == ["training"]:
        text = text.replace("training:\n", f"training:\n  {leaf}: {value}\n")
    else:
        text += f"{'  ' * len(sections)}{leaf}: {value}\n"
    recipe.write_text(text)
    code, _, err = cli("run", str(recipe), "--detach")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"'{wrong}'" in err and meant in err
    assert not (tmp_path / "runs" / "bad").exists()


@pytest.mark.parametrize(("args", "needle"), CONTRADICTIONS)
def test_init_refuses_contradictions(cli, tmp_path: Path, args, needle) -> None:
    out = tmp_path / "r.yaml"
    code, _, err = cli("init", "--headless", "-o", str(out), *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_bit_width_alone_means_qlora(cli, tmp_path: Path) -> None:
    from tunetui.runner.recipe_io import load_recipe

    out = tmp_path / "r.yaml"
    code, _, err = cli("init", "--headless", "-o", str(out), "--bits", "8")
    assert code == 0, err
    recipe = load_recipe(out)
    assert (recipe.method, recipe.quantization.bits) == ("qlora", 8)


@pytest.mark.parametrize(
    ("args", "needle"), [c for c in CONTRADICTIONS if "--trainable-layers" not in c[0]]
)  # plan does not take --trainable-layers
def test_plan_refuses_the_same_contradictions(cli, args, needle) -> None:
    code, out, err = cli("plan", "--gpu", "4090", *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert out == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--parallel", "zero9", "--gpus", "2"],
            "unknown --parallel 'zero9'. Did you mean 'zero3'?",
        ),
        (["--optim", "adam"], "unknown --optim 'adam'. Did you mean 'adamw'?"),
        (["--stage", "dpoo"], "Did you mean 'dpo'?"),
        (["--precision", "bf61"], "Did you mean 'bf16'?"),
    ],
)
def test_plan_refuses_unknown_choices(cli, args, needle) -> None:
    code, _, err = cli("plan", "--gpu", "4090", *args)
    assert code == 2 and needle in err, err


def test_a_recipe_with_bits_on_lora_is_refused(cli, fake_runs) -> None:
    recipe = fake_runs("bits")
    recipe.write_text(recipe.read_text() + "method: lora\nquantization:\n  bits: 4\n")
    code, _, err = cli("run", str(recipe), "--detach")
    assert code == 2 and "needs method: qlora" in err, err
