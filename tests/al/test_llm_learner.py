"""The LLM learner end to end on the tiny random model: every round a real tunetui run
(the worker process, LoRA on CPU), pool scores from the label words' next-token
distribution, saved per chunk; `al loop` from `init` to its stopping rule."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from al.toytext import sentence, write_jsonl

pytest.importorskip("transformers")


@pytest.fixture
def llm_toy(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A 40-item two-class pool, 10 seed labels, 8 held out, and the oracle; a recipe that
    trains 4 steps per round on the tiny model."""
    from tunetui.runner.flags import recipe_from_flags
    from tunetui.runner.recipe_io import dump_recipe

    monkeypatch.chdir(tmp_path)
    rng = random.Random(1)
    labels = [rng.choice(["pos", "neg"]) for _ in range(40)]
    pool = [{"id": f"x{i}", "text": sentence(rng, y)} for i, y in enumerate(labels)]
    seed = [{"text": sentence(rng, y), "label": y} for y in ["pos", "neg"] * 5]
    held = [{"text": sentence(rng, y), "label": y} for y in ["pos", "neg"] * 4]
    recipe = recipe_from_flags(
        recommend=False, name="al-round", model=str(tiny_model_dir), method="lora", rank=4,
        max_steps=4, batch=4, grad_accum=1, cutoff_len=96, precision="fp32", save_steps=2,
        report_to=["tensorboard"],
    )  # fmt: skip
    (tmp_path / "recipe.yaml").write_text(dump_recipe(recipe))
    return {
        "pool": write_jsonl(tmp_path / "pool.jsonl", pool),
        "seed": write_jsonl(tmp_path / "seed.jsonl", seed),
        "heldout": write_jsonl(tmp_path / "held.jsonl", held),
        "oracle": write_jsonl(
            tmp_path / "oracle.jsonl", [{"id": f"x{i}", "label": y} for i, y in enumerate(labels)]
        ),
        "recipe": tmp_path / "recipe.yaml",
        "model": tiny_model_dir,
        "project": tmp_path / "proj",
    }


def _init(cli, t: dict, *extra: str) -> None:
    code, out, err = cli(
        "al", "init", str(t["project"]), "--pool", str(t["pool"]), "--seed-labels",
        str(t["seed"]), "--heldout", str(t["heldout"]), "--model", str(t["model"]),
        "--recipe", str(t["recipe"]), *extra,
    )  # fmt: skip
    assert code == 0, err
    assert "llm learner" in out


def test_loop_end_to_end_with_the_llm_learner(cli, llm_toy: dict) -> None:
    """init (llm by default with --model) -> loop: each round is a finished run under
    runs/round-NNN with an adapter, pool scores per chunk, and a full round record."""
    from tunetui.runner.runstate import read_state

    proj = llm_toy["project"]
    _init(cli, llm_toy, "--warm-start")
    code, out, err = cli("al", "loop", str(proj), "--oracle", str(llm_toy["oracle"]),
                         "--rounds", "1", "--k", "6", "--strategy", "badge", "--json")  # fmt: skip
    assert code == 0, err
    rounds = json.loads(out)["rounds"]
    assert [r["n_labels"] for r in rounds] == [10, 16]
    assert [r["warm_start_from"] for r in rounds] == ["base", "round-000"]
    assert all(r["learner"] == "llm" and 0.0 <= r["metric"] <= 1.0 for r in rounds)
    assert all(r["seconds"] > 0 and r["gpu_seconds"] == 0.0 for r in rounds)
    assert len({r["data_hash"] for r in rounds}) == 2
    assert rounds[1]["kappa"] is not None
    for r in rounds:
        run = proj / r["run_dir"]
        assert read_state(run).state == "finished"
        assert (run / "adapter" / "adapter_config.json").is_file()
        assert list((run / "scores" / "pool").glob("chunk-*.npz"))
    assert (proj / "models" / "round-000" / "config.json").is_file()
    assert list((proj / "tensorboard").glob("events.out.tfevents.*"))


def test_llm_scores_are_label_word_probabilities_and_resume_from_chunks(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Restricted, renormalised label-word probabilities; a second call reads the chunks
    (the scorer is never loaded) and a partly scored pool scores only what is missing."""
    import numpy as np
    from tunetui.runner.al import llmscore

    ids = [f"i{n}" for n in range(7)]
    texts = [f"the film was great {n}" for n in range(7)]
    out = tmp_path / "scores"
    first = llmscore.score_pool(
        str(tiny_model_dir), ids[:4], texts[:4], out, labels=["pos", "neg"], chunk=3
    )
    assert first.probs.shape == (4, 2)
    assert np.allclose(first.probs.sum(axis=1), 1.0)
    assert first.emb.shape == first.last.shape == (4, 64)
    assert len(list(out.glob("chunk-*.npz"))) == 2
    seen: list[tuple[int, int]] = []
    both = llmscore.score_pool(
        str(tiny_model_dir), ids, texts, out, labels=["pos", "neg"], chunk=3,
        progress=lambda _p, done, total: seen.append((done, total)),
    )  # fmt: skip
    assert np.allclose(both.take(ids[:4]).probs, first.probs)
    assert seen[-1] == (7, 7) and seen[0][0] > 4  # only the 3 missing items were scored
    assert len(list(out.glob("chunk-*.npz"))) == 3


def test_labels_sharing_a_first_token_are_refused(tiny_model_dir: Path) -> None:
    from tunetui.planner.errors import UserError
    from tunetui.runner.al.llmscore import label_first_tokens
    from tunetui.runner.infer.inference import load_tokenizer
    from tunetui.runner.infer.target import resolve_target

    tok = load_tokenizer(resolve_target(str(tiny_model_dir)))
    assert len(set(label_first_tokens(tok, ["pos", "neg"], "Answer: "))) == 2
    with pytest.raises(UserError, match="start with the same token"):
        label_first_tokens(tok, ["positive", "positively"], "Answer: ")


def test_scoring_plan_batch_fits_the_free_memory(tiny_model_dir: Path) -> None:
    from tunetui.runner.al.llmplan import plan_scoring

    roomy = plan_scoring(tiny_model_dir, 128, "cuda", 80 * 1024**3)
    tight = plan_scoring(tiny_model_dir, 128, "cuda", 2 * 1024**2)
    assert roomy.batch == 64 and tight.batch < roomy.batch
    assert plan_scoring(tiny_model_dir, 128, "cpu", 80 * 1024**3).batch == 16
    assert "batch" in roomy.line()


def test_an_interrupted_round_run_is_resumed_or_reported(fake_runs, monkeypatch) -> None:
    """`al train` on a round whose run was stopped (or died) resumes it to the end; a round
    that failed is one line naming its train.log. (The fake worker: no torch, 20 ms steps.)"""
    from pathlib import Path

    from tunetui.planner.errors import UserError
    from tunetui.runner import launcher
    from tunetui.runner.al.llm import ensure_trained
    from tunetui.runner.runstate import read_state

    recipe = fake_runs("round-000", max_steps=10, save_steps=2)
    died = Path("died")
    monkeypatch.setenv("FAKE_DIE_AT", "4")
    launcher.start_run(recipe, output=died).process.wait()
    assert read_state(died).state == "crashed"
    monkeypatch.delenv("FAKE_DIE_AT")
    assert ensure_trained(died, recipe) >= 0.0
    assert read_state(died).state == "finished"

    failed = Path("failed")
    monkeypatch.setenv("FAKE_FAIL_AT", "3")
    with pytest.raises(UserError, match="round run failed failed: fake failure") as err:
        ensure_trained(failed, recipe)
    assert "train.log" in err.value.line()


def test_generation_round_with_the_llm_learner(cli, llm_toy: dict, tmp_path: Path) -> None:
    """generate + llm: the round fine-tunes on the answers so far, the metric is the tuned
    model's held-out NLL, and `select` ranks by the tuned model's MNLP (no re-scoring)."""
    pool = write_jsonl(tmp_path / "gp.jsonl", [{"id": f"q{i}", "text": f"Add {i} and {i}."}
                                              for i in range(6)])  # fmt: skip
    seed = write_jsonl(tmp_path / "gs.jsonl", [{"text": f"Add {i} and 1.", "label": str(i + 1)}
                                               for i in range(5)])  # fmt: skip
    proj = tmp_path / "gen"
    code, out, err = cli("al", "init", str(proj), "--pool", str(pool), "--seed-labels",
                         str(seed), "--task", "generate", "--model", str(llm_toy["model"]),
                         "--recipe", str(llm_toy["recipe"]))  # fmt: skip
    assert code == 0 and "llm learner" in out, err
    code, out, err = cli("al", "train", str(proj), "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["metric_name"] == "neg_nll" and record["metric"] < 0
    assert record["learner"] == "llm" and record["warm_start_from"] == "base"
    code, out, err = cli("al", "select", str(proj), "--k", "2", "--strategy", "mnlp", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 2 and all(isinstance(r["guess"], str) and r["score"] > 0 for r in rows)
    assert rows[0]["score"] >= rows[1]["score"]
