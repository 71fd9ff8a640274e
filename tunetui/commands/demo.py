"""`tunetui demo`: the main job. LoRA on the embedded SmolLM2, then answers before and after.

This is what `make demo` runs on a fresh machine, so it takes the real path a user takes:
the shipped quickstart recipe goes through the launcher (validation, run folder, worker in
its own session) and the headless console view follows the events, exactly like
``tunetui run recipes/quickstart.yaml --headless``. The embedded model is converted from its
GGUF once, on the first run. Answers are greedy, so the comparison is reproducible, and the
output is plain text that reads well in a pipe or a CI log.
"""

from __future__ import annotations

import functools
import json
import sys
import textwrap
import time
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)

QUESTIONS = ("Who are you?", "What can you do?")
# The demo trains the shipped quickstart recipe as is. One epoch shows the loss falling but
# not yet a new identity ("I am SmolLM"); its three epochs at 1e-3 (30 steps of 4) make the
# change plain and take about two minutes on a 2-core CPU. Measured: "Who are you?" ->
# "I am tunetui, a helpful assistant made by the tunetui team." `--steps` overrides it.
WIDTH = 78


def _quickstart_recipe(model: str | None, steps: int | None):  # -> Recipe
    """The shipped quickstart recipe (defaults if it is missing), named demo."""
    import importlib.resources

    from tunetui.runner.recipe import Recipe

    path = Path(str(importlib.resources.files("tunetui.recipes") / "quickstart.yaml"))
    if path.is_file():
        from tunetui.runner.recipe_io import load_recipe

        recipe = load_recipe(path)
    else:  # pragma: no cover - only while recipes/quickstart.yaml is missing
        recipe = Recipe()
    recipe = recipe.model_copy(update={"name": "demo", "output_dir": None}, deep=True)
    if model is not None:
        recipe.model.name_or_path = model
    if steps is not None:
        recipe.training.max_steps = steps
    return recipe


def _say(text: str = "", err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def _wrap(label: str, text: str) -> str:
    """``  label  text`` wrapped under itself, so long answers stay readable in 80 columns."""
    indent = " " * (len(label) + 4)
    body = " ".join(text.split()) or "(empty answer)"
    return textwrap.fill(body, WIDTH, initial_indent=f"  {label}  ", subsequent_indent=indent)


# Over 60 lines only through its typer option declarations; the body is short.
@app.command()
def demo(
    name: str | None = typer.Option(
        None, "--name", help="Run name (default: demo, then demo-<time>)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Run folder path."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    model: str | None = typer.Option(
        None, "--model", help="Train another model instead of the embedded SmolLM2-135M."
    ),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Override the training steps."),
    max_new_tokens: int = typer.Option(48, "--max-new-tokens", min=1, max=1024),
    as_json: bool = typer.Option(
        False, "--json", help="Print the answers as JSON (progress goes to stderr)."
    ),
    gguf: bool | None = typer.Option(
        None,
        "--gguf/--no-gguf",
        help="End with a verified GGUF q8_0 export (default: on for the embedded model).",
    ),
) -> None:
    """Fine-tune the embedded SmolLM2 with LoRA on CPU or GPU (a few minutes on a laptop CPU),
    then show its answers before and after, and export it to GGUF q8_0 for Ollama."""
    import tempfile

    from tunetui.runner import launcher
    from tunetui.runner.console import follow
    from tunetui.runner.recipe_io import save_recipe

    started = time.monotonic()
    recipe = _quickstart_recipe(model, steps)
    say = functools.partial(_say, err=as_json)  # progress goes to stderr with --json
    t = recipe.training
    length = f"{t.max_steps} steps" if t.max_steps else f"{t.epochs:g} epochs"
    say(
        f"tunetui demo: {recipe.method.upper()} on {recipe.model.name_or_path} with the "
        f"'{', '.join(recipe.data.datasets)}' data (quickstart recipe, {length}, lr "
        f"{t.learning_rate:g}),\nthen the same questions to the model before and after."
    )
    _check_model(recipe.model.name_or_path, say)
    with tempfile.TemporaryDirectory(prefix="tunetui-demo-") as tmp:
        recipe_path = Path(tmp) / "demo.yaml"
        save_recipe(recipe, recipe_path)
        launch = launcher.start_run(recipe_path, name=name, output=output, overwrite=overwrite)
    say(f"run folder: {launch.run_dir}")
    code = follow(
        launch.run_dir,
        tail=launch.tail,
        history=launch.history,
        process=launch.process,
        out=sys.stderr if as_json else sys.stdout,
        log_interval=5.0,
    )
    if code != 0:
        say(f"the demo's training did not finish; see {launch.run_dir / 'train.log'}")
        raise typer.Exit(code)
    train_s = time.monotonic() - started

    from tunetui.runner.infer.inference import base_and_tuned_answers, resolve_target

    say("loading the base model and the trained adapter for greedy answers...")
    target = resolve_target(str(launch.run_dir))
    rows = base_and_tuned_answers(target, list(QUESTIONS), max_new_tokens)
    exported = _export_gguf(target, say) if (model is None if gguf is None else gguf) else None
    total_s = time.monotonic() - started
    if as_json:
        payload = {
            "run_dir": str(launch.run_dir),
            "train_seconds": round(train_s, 1),
            "total_seconds": round(total_s, 1),
            "answers": rows,
            "gguf": exported.as_dict() if exported else None,
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        _exit_if_unverified(exported)
        return
    _print_answers(rows, max_new_tokens)
    _print_ending(launch.run_dir, exported, total_s)
    _exit_if_unverified(exported)


def _print_answers(rows: list[dict[str, str]], max_new_tokens: int) -> None:
    _say()
    _say(f"Before and after LoRA (greedy decoding, at most {max_new_tokens} new tokens):")
    for row in rows:
        _say()
        _say(f"Q: {row['question']}")
        _say(_wrap("base ", row["base"]))
        _say(_wrap("tuned", row["tuned"]))
    _say()


def _print_ending(run: Path, exported, total_s: float) -> None:
    """The GGUF verification table and the ollama line, then the next commands."""
    if exported is not None:
        _say(exported.verification.table())
        _say(f"wrote {exported.gguf} ({exported.size_mb:.0f} MB) and its Modelfile")
        create = f"ollama create {exported.ollama_name} -f Modelfile"
        _say(f"  run it in Ollama:  cd {exported.output} && {create}")
        _say()
    _say(f"done in {total_s:.0f} s. Next steps with this run:")
    _say(f"  talk to it:        tunetui chat {run}")
    _say(f"  score it:          tunetui eval {run} --data identity")
    _say(f"  serve it (OpenAI): tunetui serve {run}")
    _say(f"  merge and save it: tunetui export {run}   (or --gguf --quant q4_k_m)")


def _export_gguf(target, say):  # -> gguf_export.GgufResult
    """The demo's last step: the run as GGUF q8_0 + Modelfile, verified against the model.

    ``--overwrite`` is implied for the run's own ``gguf/`` folder: the run is new."""
    from tunetui.runner.infer.gguf_export import export_gguf

    say("exporting the run to GGUF q8_0 for llama.cpp / Ollama, then verifying it...")
    return export_gguf(target, "q8_0", overwrite=True, say=say)


def _exit_if_unverified(exported) -> None:
    """A GGUF that failed its verification is not a finished demo (exit 1)."""
    if exported is not None and not exported.verification.passed:
        raise typer.Exit(1)


def _check_model(name: str, say) -> None:
    """Fail fast on a bad --model; explain the one-time conversion of the embedded one.

    The embedded model is converted by the worker (so the launcher answers at once); any
    other name is resolved here, which is cheap, so a typo is one line, not a failed run.
    """
    from tunetui.runner.modelpath import EMBEDDED, embedded_cache_path, locate_model

    key = name.strip().lower()
    if key not in EMBEDDED:
        locate_model(name)
    elif not (embedded_cache_path(key) / "config.json").is_file():
        say(f"first run: the worker converts the embedded {key} from GGUF to safetensors (once).")
