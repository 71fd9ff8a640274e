"""Generation: uncertainty from a tiny random causal LM, and a short loop with it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    from tunetui.runner.train.tiny import make_tiny_model

    return str(make_tiny_model(tmp_path_factory.mktemp("lm") / "tiny"))


def test_step_scores_by_hand() -> None:
    """Per step: log p of the chosen token and the entropy, with 0 log 0 taken as 0."""
    import torch
    from tunetui.runner.infer.inference import step_scores

    # Step 1: a uniform choice over 2 of 3 tokens (the third impossible); step 2: certain.
    logits = torch.tensor([[0.0, 0.0, -math.inf], [0.0, -math.inf, -math.inf]])
    logprobs, entropies = step_scores(logits, torch.tensor([1, 0]))
    assert logprobs == pytest.approx([-math.log(2), 0.0])
    assert entropies == pytest.approx([math.log(2), 0.0])


def test_generation_uncertainty_is_finite(tiny_lm: str) -> None:
    from tunetui.runner.al.lm import generation_uncertainty, heldout_nll

    out = generation_uncertainty(tiny_lm, ["What is 2+2?", "Name a colour."], max_new_tokens=4)
    assert len(out) == 2
    for o in out:
        assert isinstance(o["guess"], str)
        assert o["entropy"] >= 0.0 and o["mnlp"] >= 0.0
        assert math.isfinite(o["entropy"]) and math.isfinite(o["mnlp"])
    nll = heldout_nll(tiny_lm, [{"text": "What is 2+2?", "label": "4"}])
    assert nll > 0 and math.isfinite(nll)


def test_generate_loop(cli, tmp_path: Path, tiny_lm: str) -> None:
    def write(name: str, rows: list[dict]) -> str:
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(tmp_path / name)

    pool = write("pool.jsonl", [{"id": f"q{i}", "text": f"Add {i} and {i}."} for i in range(8)])
    oracle = write("oracle.jsonl", [{"id": f"q{i}", "label": str(2 * i)} for i in range(8)])
    seed = write("seed.jsonl", [{"text": f"Add {i} and 1.", "label": str(i + 1)} for i in range(4)])
    proj = str(tmp_path / "proj")
    code, _, err = cli("al", "init", proj, "--pool", pool, "--seed-labels", seed,
                       "--task", "generate", "--model", tiny_lm, "--learner", "proxy")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("al", "loop", proj, "--oracle", oracle, "--rounds", "2", "--k", "2",
                         "--strategy", "mnlp", "--json")  # fmt: skip
    assert code == 0, err
    rounds = json.loads(out)["rounds"]
    assert [r["n_labels"] for r in rounds] == [3, 5, 7]
    assert all(r["metric_name"] == "neg_nll" and r["metric"] < 0 for r in rounds)
    assert (tmp_path / "proj" / "train.jsonl").is_file()
    code, _, err = cli("al", "select", proj, "--strategy", "badge")
    assert code == 2 and "unknown strategy 'badge' for task generate" in err
