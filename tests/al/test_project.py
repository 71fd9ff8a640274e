"""The loop on a project directory, through the CLI: init, select, import, train, loop, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.al.create import init_project
from tunetui.runner.al.labels import import_labels
from tunetui.runner.al.selection import select_batch
from tunetui.runner.al.state import load_state
from tunetui.runner.events import read_events


def _init(cli, toy, *extra: str) -> None:
    code, _, err = cli(
        "al", "init", str(toy["project"]), "--pool", str(toy["pool"]),
        "--seed-labels", str(toy["seed"]), *extra,
    )  # fmt: skip
    assert code == 0, err


def test_three_round_loop_with_status(cli, toy) -> None:
    _init(cli, toy)
    code, out, err = cli(
        "al", "loop", str(toy["project"]), "--oracle", str(toy["oracle"]),
        "--rounds", "3", "--k", "5", "--strategy", "margin", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    rounds = result["rounds"]
    assert [r["n_labels"] for r in rounds] == [10, 15, 20, 25]  # seed 12, 2 held out
    assert all(0.0 <= r["metric"] <= 1.0 for r in rounds)
    assert result["stop"]["reason"]
    state = load_state(toy["project"])
    picked = [i for s in state.selections for i in s.ids]
    assert len(picked) == len(set(picked)) == 15
    assert not state.in_flight
    events = read_events(toy["project"] / "runs" / "round-003" / "events.jsonl")
    assert [e["type"] for e in events] == ["start", "eval", "end"]

    code, out, _ = cli("al", "status", str(toy["project"]), "--json")
    info = json.loads(out)
    assert code == 0 and info["n_spent"] == 15 and len(info["rounds"]) == 4
    code, out, _ = cli("al", "status", str(toy["project"]))
    assert code == 0 and "macro_f1" in out and "labels" in out


def test_loop_stops_on_budget(cli, toy) -> None:
    _init(cli, toy)
    code, out, err = cli(
        "al", "loop", str(toy["project"]), "--oracle", str(toy["oracle"]),
        "--rounds", "10", "--k", "4", "--budget", "18", "--strategy", "random", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["stop"]["rule"] == "budget"
    assert result["rounds"][-1]["n_labels"] == 18  # the last batch is cut to fit


@pytest.mark.parametrize("strategy", ["entropy", "cluster-margin", "kcenter", "badge", "random"])
def test_select_never_returns_labelled_or_in_flight(toy, strategy: str) -> None:
    init_project(toy["project"], toy["pool"], toy["seed"])
    first = select_batch(toy["project"], 20, strategy)
    second = select_batch(toy["project"], 20, strategy)
    state = load_state(toy["project"])
    ids = [r["id"] for r in first + second]
    assert len(ids) == len(set(ids)) == 40
    assert not set(ids) & set(state.labelled)
    assert set(state.in_flight) == set(ids)
    rows = (toy["project"] / "to_label.csv").read_text().splitlines()
    assert rows[0] == "id,text,guess,score,label" and len(rows) == 21


def test_select_writes_guess_and_score(toy) -> None:
    init_project(toy["project"], toy["pool"], toy["seed"])
    rows = select_batch(toy["project"], 3, "margin")
    assert all(r["guess"] in ("pos", "neg") and 0.0 <= r["score"] <= 1.0 for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def _labels(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"id": "x1", "label": "pos"}, {"id": "zzz", "label": "pos"}], "line 2: unknown id 'zzz'"),
        ([{"id": "x1", "label": "positive"}], "line 1: label 'positive' is not in the label set"),
        ([{"id": "x1", "label": "pos"}, {"id": "x1", "label": "neg"}], "line 2: duplicate id 'x1'"),
        ([{"id": "x1"}], "line 1: missing label"),
        ([{"label": "pos"}], 'line 1: missing "id"'),
    ],
)
def test_import_rejects_bad_rows_and_merges_nothing(cli, toy, rows, message) -> None:
    _init(cli, toy)
    before = (toy["project"] / "state.json").read_text()
    path = _labels(toy["tmp"] / "labels.jsonl", rows)
    code, _, err = cli("al", "import", str(toy["project"]), str(path))
    assert code == 2
    assert message in err and "nothing was merged" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (toy["project"] / "state.json").read_text() == before


def test_import_csv_round_trip_and_already_labelled(toy) -> None:
    init_project(toy["project"], toy["pool"], toy["seed"])
    rows = select_batch(toy["project"], 3, "margin")
    csv_path = toy["project"] / "to_label.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([lines[0]] + [ln + "pos" for ln in lines[1:]]) + "\n")
    assert import_labels(toy["project"], csv_path) == 3
    state = load_state(toy["project"])
    assert all(state.labelled[r["id"]] == "pos" for r in rows) and not state.in_flight
    with pytest.raises(UserError, match="already labelled"):
        import_labels(toy["project"], csv_path)


def test_csv_errors_name_the_line(cli, toy) -> None:
    _init(cli, toy)
    path = toy["tmp"] / "labels.csv"
    path.write_text("id,label\nx1,pos\nx2,maybe\n")
    code, _, err = cli("al", "import", str(toy["project"]), str(path))
    assert code == 2 and "labels.csv line 3: label 'maybe'" in err


def test_init_errors(cli, toy) -> None:
    code, _, err = cli("al", "init", str(toy["project"]), "--pool", "missing.jsonl",
                       "--seed-labels", str(toy["seed"]))  # fmt: skip
    assert code == 2 and "missing.jsonl not found" in err
    bad = toy["tmp"] / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "pos"}\n{"text": "b"\n')
    code, _, err = cli("al", "init", str(toy["project"]), "--pool", str(toy["pool"]),
                       "--seed-labels", str(bad))  # fmt: skip
    assert code == 2 and "bad.jsonl line 2" in err
    assert not toy["project"].exists()
    _init(cli, toy)
    code, _, err = cli("al", "init", str(toy["project"]), "--pool", str(toy["pool"]),
                       "--seed-labels", str(toy["seed"]))  # fmt: skip
    assert code == 2 and "--overwrite" in err
    code, _, err = cli("al", "select", str(toy["project"]), "--strategy", "margn")
    assert code == 2 and "'margin'" in err
    code, _, err = cli("al", "status", str(toy["tmp"]))
    assert code == 2 and "not an active-learning project" in err


def test_status_tui_opens_the_screen(cli, toy, monkeypatch) -> None:
    from tunetui.tui.screens import active_learning as m

    _init(cli, toy)
    opened = []
    monkeypatch.setattr(m.ActiveLearningApp, "run", lambda self: opened.append(self.project))
    code, _, err = cli("al", "status", str(toy["project"]), "--tui")
    assert code == 0, err
    assert opened == [toy["project"]]


def test_state_written_by_an_earlier_version_loads_and_round_trips(tmp_path: Path) -> None:
    """The on-disk format is unchanged: an old file (no pool_size, rounds without metrics)
    loads, and saving it back writes every key it had, in the same order."""
    from tunetui.runner.al.state import STATE_FILE, save_state

    old = {
        "version": 1, "created": 1.5, "task": "classify", "text_field": "text",
        "label_field": "label", "labels": ["neg", "pos"], "model": None, "seed": 3,
        "rules": {"budget": 40, "plateau_delta": 0.005, "plateau_rounds": 3, "kappa": 0.99,
                  "kappa_window": 3},
        "labelled": {"s1": "pos"}, "seed_ids": ["s1"], "in_flight": ["x2"],
        "selections": [{"t": 2.0, "strategy": "margin", "k": 1, "ids": ["x2"], "after_round": 0}],
        "rounds": [{"round": 0, "n_labels": 1, "metric_name": "macro_f1", "metric": 0.5,
                    "kappa": None}],
        "stop_set": ["x2"], "stop_preds": ["pos"], "from_the_future": {"kept": True},
    }  # fmt: skip
    (tmp_path / STATE_FILE).write_text(json.dumps(old))
    state = load_state(tmp_path)
    assert state.rules.budget == 40 and state.rounds[0].metric == 0.5
    assert state.pool_size is None and state.selections[0].ids == ["x2"]
    save_state(tmp_path, state)
    again = json.loads((tmp_path / STATE_FILE).read_text())
    assert list(again)[: len(old) - 1] == [k for k in old if k != "from_the_future"]
    assert again["from_the_future"] == {"kept": True}
    assert {k: again[k] for k in old if k != "rounds"} == {
        k: v for k, v in old.items() if k != "rounds"
    }
    assert again["rounds"][0].items() >= old["rounds"][0].items()


def test_a_damaged_state_is_one_line_naming_the_field(cli, toy) -> None:
    _init(cli, toy)
    path = toy["project"] / "state.json"
    state = json.loads(path.read_text())
    state["labelled"] = ["not", "a", "mapping"]
    path.write_text(json.dumps(state))
    code, _, err = cli("al", "status", str(toy["project"]))
    assert code == 2 and "is damaged (labelled:" in err
    assert len(err.strip().splitlines()) == 1


def test_status_import_label_and_the_screen_models_do_not_need_numpy() -> None:
    """`al status`, `al import`, `al label` and the TUI screens work on a core install."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import tunetui.runner.al.status, tunetui.runner.al.labels, tunetui.tui.alview\n"
        "import tunetui.commands.al, tunetui.runner.al.labelling, tunetui.tui.allabel\n"
        "import tunetui.tui.screens.al_label\n"
        "print(sorted(m for m in ('numpy', 'sklearn', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("verb", ["init", "select", "train", "loop"])
def test_missing_al_extra_is_one_line_naming_it(cli, toy, hide_packages, verb: str) -> None:
    hide_packages("sklearn")
    args = {
        "init": ["--pool", str(toy["pool"]), "--seed-labels", str(toy["seed"])],
        "loop": ["--oracle", str(toy["oracle"])],
    }.get(verb, [])
    code, _, err = cli("al", verb, str(toy["project"]), *args)
    assert code == 2
    assert err.strip() == (
        "error: this step of `tunetui al` needs scikit-learn (not installed). "
        "Install the extra: pip install 'tunetui[al]'."
    )
