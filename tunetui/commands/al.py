"""`tunetui al ...`: the active-learning loop on a project directory.

init -> (select -> people label (`al label` in the terminal, or to_label.csv and
`al import`) -> train)* -> stop. `loop` runs the
same steps unattended against a file of known labels (simulation, benchmarking). The work
is in `tunetui.runner.al` (one module per verb); this module only parses options and prints.

`status` and `import` need only the core install. `init`, `select`, `train` and `loop`
compute (numpy, scikit-learn: the `al` extra); they check for it first, so a light
install gets one line naming the extra instead of a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Active learning: pick what to label next, retrain, measure.",
)

STRATEGY_HELP = "margin|entropy|mnlp|random|cluster-margin|kcenter|badge"


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=1, default=str))


def _need_al_extra() -> None:
    """One line naming the extra when numpy or scikit-learn is not installed."""
    import importlib.util

    from tunetui.planner.errors import UserError

    missing = [m for m in ("numpy", "sklearn") if importlib.util.find_spec(m) is None]
    if missing:
        names = " and ".join("scikit-learn" if m == "sklearn" else m for m in missing)
        raise UserError(
            f"this step of `tunetui al` needs {names} (not installed)",
            "Install the extra: pip install 'tunetui[al]'.",
        )


def _progress(quiet: bool) -> Any:
    """Scoring progress on stderr (one line, rewritten), so stdout stays the result."""
    import sys

    if quiet or not sys.stderr.isatty():
        return None

    def show(phase: str, done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\r{phase} {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


# Over 60 lines only because typer reads every option from this signature.
@app.command()
def init(
    project: Path = typer.Argument(..., help="Project directory to create."),
    pool: Path = typer.Option(..., "--pool", help="Unlabelled items (.jsonl/.csv)."),
    seed_labels: Path = typer.Option(..., "--seed-labels", help="Labelled seed items."),
    task: str = typer.Option("classify", "--task", help="classify | generate"),
    text_field: str = typer.Option("text", "--text-field"),
    label_field: str = typer.Option("label", "--label-field"),
    heldout: Path | None = typer.Option(None, "--heldout", help="Labelled held-out file."),
    heldout_frac: float = typer.Option(
        0.2, "--heldout-frac", help="Without --heldout: share of seed labels held out."
    ),
    labels: str | None = typer.Option(None, "--labels", help="Comma-separated label set."),
    model: str | None = typer.Option(
        None, "--model", help="Model to fine-tune (llm learner) or score with (generate)."
    ),
    learner: str | None = typer.Option(
        None, "--learner", help="llm | proxy (default: llm when --model is given)."
    ),
    warm_start: bool = typer.Option(
        False, "--warm-start", help="llm: each round continues from the previous round's weights."
    ),
    recipe: Path | None = typer.Option(None, "--recipe", help="llm: recipe for every round."),
    prompt: str | None = typer.Option(
        None, "--prompt", help="llm classify: question template with {text} (and {labels})."
    ),
    report_to: str = typer.Option("none", "--report-to", help="llm: loggers, e.g. tensorboard."),
    budget: int | None = typer.Option(None, "--budget", help="Stop after this many labels."),
    plateau_delta: float = typer.Option(0.005, "--plateau-delta"),
    plateau_rounds: int = typer.Option(3, "--plateau-rounds"),
    kappa: float = typer.Option(0.99, "--kappa", help="Stabilising-predictions threshold."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create an AL project from a pool and seed labels."""
    _need_al_extra()
    from tunetui.runner.al.create import LearnerOptions, init_project
    from tunetui.runner.al.stopping import StopRules

    rules = StopRules(budget, plateau_delta, plateau_rounds, kappa)
    label_set = [s.strip() for s in labels.split(",") if s.strip()] if labels else None
    loggers = [s.strip() for s in report_to.split(",") if s.strip()]
    learn = LearnerOptions(learner, warm_start, recipe, prompt, loggers)
    state = init_project(
        project, pool, seed_labels, task, text_field, label_field, heldout, heldout_frac,
        label_set, model, rules, seed, overwrite, learn,
    )  # fmt: skip
    summary = {
        "project": str(project),
        "task": task,
        "pool": state.pool_size,
        "seed_labels": len(state.seed_ids),
        "labels": state.labels,
        "learner": state.learner,
    }
    if as_json:
        _echo_json(summary)
        return
    typer.echo(
        f"created {project} ({state.learner} learner): {summary['pool']} items, "
        f"{summary['seed_labels']} seed labels"
        + (f", labels {', '.join(state.labels)}" if state.labels else "")
    )
    typer.echo(f"next: tunetui al train {project} && tunetui al select {project} --k 50")


@app.command("select")
def select_cmd(
    project: Path = typer.Argument(...),
    k: int = typer.Option(50, "--k", help="How many items to send for labelling."),
    strategy: str = typer.Option("margin", "--strategy", help=STRATEGY_HELP),
    model: str | None = typer.Option(None, "--model", help="HF model dir (generate)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score the pool and write to_label.jsonl / to_label.csv."""
    _need_al_extra()
    from tunetui.runner.al.selection import select_batch

    rows = select_batch(project, k, strategy, model=model, progress=_progress(as_json))
    if as_json:
        _echo_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "guess", "score", "text", title=f"{len(rows)} to label ({strategy})")
    for r in rows[:20]:
        text = r["text"] if len(r["text"]) < 60 else r["text"][:57] + "..."
        table.add_row(str(r["id"]), str(r["guess"]), str(r["score"]), text)
    Console().print(table)
    typer.echo(f"wrote {project / 'to_label.jsonl'} and {project / 'to_label.csv'}")
    typer.echo(f"fill the label column, then: tunetui al import {project} {project}/to_label.csv")


@app.command("import")
def import_cmd(
    project: Path = typer.Argument(...),
    labels_file: Path = typer.Argument(..., help="Labels (.jsonl/.csv) with id and label."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Validate and merge human labels (all or nothing)."""
    from tunetui.runner.al.labels import import_labels

    n = import_labels(project, labels_file)
    if as_json:
        _echo_json({"merged": n})
    else:
        typer.echo(f"merged {n} labels into {project}")


@app.command()
def label(project: Path = typer.Argument(...)) -> None:
    """Label the batch in flight in the terminal, one item at a time (saved at every key)."""
    from tunetui.tui.screens.al_label import run_label_app

    merged = run_label_app(project)
    typer.echo(f"merged {merged or 0} labels into {project}")
    typer.echo(f"next: tunetui al train {project}")


@app.command()
def train(
    project: Path = typer.Argument(...),
    model: str | None = typer.Option(None, "--model", help="HF model dir (generate)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Retrain on all labels and record the held-out metric as a round."""
    _need_al_extra()
    from tunetui.runner.al.rounds import train_round

    record = train_round(project, model, _progress(as_json))
    if as_json:
        _echo_json(record)
        return
    typer.echo(_round_line(record))
    if record.get("note"):
        typer.echo(record["note"])
    typer.echo(("stop: " if record["stop"]["stop"] else "") + record["stop"]["reason"])


def _round_line(r: dict[str, Any]) -> str:
    kappa = "" if r.get("kappa") is None else f"  kappa {r['kappa']:.3f}"
    return (
        f"round {r['round']}: {r['n_labels']} labels  {r['metric_name']} {r['metric']:.4f}{kappa}"
    )


@app.command()
def status(
    project: Path = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Draw the learning curve."),
    tui: bool = typer.Option(
        False, "--tui", help="Open the interactive screen (r refresh, tab panes, q quit)."
    ),
) -> None:
    """Rounds, labels spent, metric per round, and the learning curve."""
    if tui:
        from tunetui.tui.screens.active_learning import run_al_app

        run_al_app(project)
        return
    from tunetui.runner.al.status import al_status

    info = al_status(project)
    if as_json:
        _echo_json(info)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{info['task']} ({info['learner']} learner): {info['n_labelled']} labelled "
        f"({info['n_seed']} seed, "
        f"{info['n_spent']} spent), {info['n_in_flight']} in flight, "
        f"{info['n_unlabelled']} unlabelled"
        + (f", budget {info['budget']}" if info["budget"] else "")
    )
    table = Table("round", "labels", info["metric_name"] or "metric", "kappa", "s", "GPU-s")
    for r in info["rounds"]:
        kap = "-" if r["kappa"] is None else f"{r['kappa']:.3f}"
        secs = "-" if r.get("seconds") is None else f"{r['seconds']:.0f}"
        gpu = "-" if r.get("gpu_seconds") is None else f"{r['gpu_seconds']:.0f}"
        table.add_row(str(r["round"]), str(r["n_labels"]), f"{r['metric']:.4f}", kap, secs, gpu)
    console.print(table)
    if plot and len(info["rounds"]) >= 2:
        typer.echo(_curve(info))
    console.print(("stop: " if info["stop"]["stop"] else "") + info["stop"]["reason"])


def _curve(info: dict[str, Any]) -> str:
    import plotext as plt

    plt.clear_figure()
    plt.plot(
        [r["n_labels"] for r in info["rounds"]], [r["metric"] for r in info["rounds"]], marker="dot"
    )
    plt.title(f"{info['metric_name']} vs labels")
    plt.plotsize(70, 14)
    plt.theme("clear")
    return plt.build()


@app.command()
def loop(
    project: Path = typer.Argument(...),
    oracle: Path = typer.Option(..., "--oracle", help="Known labels (id + label) for the pool."),
    rounds: int = typer.Option(10, "--rounds"),
    k: int = typer.Option(50, "--k"),
    strategy: str = typer.Option("margin", "--strategy", help=STRATEGY_HELP),
    budget: int | None = typer.Option(None, "--budget"),
    model: str | None = typer.Option(None, "--model", help="HF model dir (generate)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run select/label/train unattended against known labels until a rule stops it."""
    _need_al_extra()
    from tunetui.runner.al.loop import run_loop

    show = None if as_json else (lambda r: typer.echo(_round_line(r)))
    result = run_loop(
        project, oracle, rounds, k, strategy, budget, model, on_round=show,
        progress=_progress(as_json),
    )  # fmt: skip
    if as_json:
        _echo_json(result)
        return
    typer.echo(("stop: " if result["stop"]["stop"] else "") + result["stop"]["reason"])
