"""Chat one-shot and eval metrics on a tiny random model; BLEU/ROUGE on known strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

tiny = pytest.importorskip("tunetui.runner.train.tiny")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return tiny.make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def toy_data(tmp_path: Path) -> Path:
    rows = [
        {"instruction": "Who are you?", "input": "", "output": "I am {{name}}, an assistant."},
        {"instruction": "你是谁？", "input": "", "output": "我是一个助手。"},
        {"instruction": "What can you do?", "input": "", "output": "I can answer questions."},
    ]
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------ scoring (no model)


def test_bleu_identical_is_100_and_disjoint_is_0() -> None:
    from tunetui.runner.infer.evaluate import bleu

    refs = ["the cat sat on the mat today", "a quick brown fox jumps high"]
    assert bleu(refs, refs) == pytest.approx(100.0)
    assert bleu(["zzz yyy xxx www vvv", "qqq ppp ooo nnn mmm"], refs) < 1.0


def test_rouge_known_values() -> None:
    from tunetui.runner.infer.evaluate import rouge

    # hyp "the cat" vs ref "the cat sat": unigram P=1, R=2/3 -> F1=0.8; bigram P=1, R=1/2 -> 2/3
    scores = rouge(["the cat"], ["the cat sat"])
    assert scores["rouge-1"] == pytest.approx(80.0)
    assert scores["rouge-2"] == pytest.approx(200 / 3)
    assert scores["rouge-l"] == pytest.approx(80.0)


def test_chinese_is_scored_per_character() -> None:
    from tunetui.runner.infer.evaluate import bleu, rouge

    # Without character tokenisation both strings are one token each (or none at all).
    scores = rouge(["我是助手"], ["我是一个助手"])
    assert scores["rouge-1"] == pytest.approx(100 * 2 * 4 / 10)  # P=4/4, R=4/6 -> F1=0.8
    assert bleu(["我是一个助手。"], ["我是一个助手。"]) == pytest.approx(100.0)


def test_parse_metrics() -> None:
    from tunetui.planner.errors import UserError
    from tunetui.runner.infer.evaluate import parse_metrics

    assert parse_metrics(" PPL, rouge,ppl") == ["ppl", "rouge"]
    with pytest.raises(UserError, match="Did you mean 'bleu'"):
        parse_metrics("blue")


# ------------------------------------------------------------------ on a tiny model


def test_chat_one_shot_prints_the_greedy_answer(tiny_dir: Path, cli) -> None:
    from tunetui.runner.infer.inference import generate, load_model, resolve_target

    code, out, err = cli("chat", str(tiny_dir), "--prompt", "hello", "--max-new-tokens", "6")
    assert code == 0, err
    model, tokenizer = load_model(resolve_target(str(tiny_dir)))
    expected = generate(model, tokenizer, [{"role": "user", "content": "hello"}], 6)
    assert out == expected + "\n"


def test_chat_session_keeps_history_and_streams(tiny_dir: Path) -> None:
    from tunetui.runner.infer.chat import ChatSession
    from tunetui.runner.infer.inference import load_model, resolve_target

    model, tokenizer = load_model(resolve_target(str(tiny_dir)))
    session = ChatSession(model, tokenizer, system="be brief", max_new_tokens=4)
    pieces: list[str] = []
    streamed = session.ask("hi", on_text=pieces.append)
    assert streamed == "".join(pieces).strip()
    again = session.ask("again")
    assert session.history[-1] == {"role": "assistant", "content": again}
    assert [m["role"] for m in session.messages("x")] == ["system"] + ["user", "assistant"] * 2 + [
        "user"
    ]
    session.reset()
    assert len(session.messages("x")) == 2


def test_batched_greedy_answers_equal_one_by_one_answers(tiny_dir: Path) -> None:
    """eval and active learning (batched, left-padded) answer what chat answers alone."""
    from tunetui.runner.infer.inference import generate, generate_greedy, load_model
    from tunetui.runner.infer.target import resolve_target

    model, tokenizer = load_model(resolve_target(str(tiny_dir)))
    prompts = [[{"role": "user", "content": q}] for q in ("hi", "a much longer question here")]
    batched = generate_greedy(model, tokenizer, prompts, max_new_tokens=6, batch_size=2)
    alone = [generate(model, tokenizer, p, max_new_tokens=6) for p in prompts]
    assert [g.text for g in batched] == alone
    scored = generate_greedy(model, tokenizer, prompts, max_new_tokens=6, scores=True)
    assert [g.text for g in scored] == alone
    assert all(0 < len(g.token_logprobs) == len(g.token_entropies) <= 6 for g in scored)


def test_a_run_folder_without_a_recipe_is_one_line(tmp_path: Path, cli) -> None:
    """An AL round folder (events only) counts as a run, but has no model to chat with."""
    (tmp_path / "round-000").mkdir()
    (tmp_path / "round-000" / "events.jsonl").write_text("")
    code, _, err = cli("chat", str(tmp_path / "round-000"), "--prompt", "hi")
    assert code == 2 and "has no recipe.yaml" in err
    assert len(err.strip().splitlines()) == 1


def test_eval_on_tiny_model(tiny_dir: Path, toy_data: Path, cli) -> None:
    code, out, err = cli(
        "eval", str(tiny_dir), "--data", str(toy_data), "--json", "--max-new-tokens", "4"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["samples"] == 3
    metrics = result["metrics"]
    assert set(metrics) == {"ppl", "loss", "bleu", "rouge-1", "rouge-2", "rouge-l"}
    # A random model over a ~500-token vocabulary: perplexity in the hundreds, never below 1.
    assert 1.0 < metrics["ppl"] < 10_000
    assert metrics["ppl"] == pytest.approx(2.718281828 ** metrics["loss"], rel=1e-3)


def test_perplexity_counts_only_response_tokens(tiny_dir: Path) -> None:
    from tunetui.runner.infer.evaluate import perplexity
    from tunetui.runner.infer.inference import load_model, resolve_target

    model, tokenizer = load_model(resolve_target(str(tiny_dir)))
    short = [([{"role": "user", "content": "q"}], "answer")]
    long_prompt = [([{"role": "user", "content": "q " * 50}], "answer")]
    batched = perplexity(model, tokenizer, short + long_prompt, batch_size=2)
    one_by_one = perplexity(model, tokenizer, short + long_prompt, batch_size=1)
    assert batched[0] == pytest.approx(one_by_one[0], rel=1e-4)  # padding does not leak in


@pytest.mark.parametrize(
    "args, needle",
    [
        (["chat", "./missing-run", "--prompt", "hi"], "does not exist"),
        (["eval", "./missing-run", "--data", "x.json"], "does not exist"),
        (["eval", "smollm2-135m", "--data", "x.json", "--metrics", "ppl,blue"], "unknown metric"),
    ],
)
def test_bad_input_is_one_line(cli, args: list[str], needle: str) -> None:
    code, _, err = cli(*args)
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
