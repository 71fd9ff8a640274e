"""Log each AL round to the loggers the project's recipe names, with recipe and data hash.

Rounds are compared and rolled back by their record: labels in hand, held-out metric,
stop-set kappa, seconds and GPU-seconds, and what they trained on (the data hash and the
recipe hash; the recipe text itself is logged too). TensorBoard gets scalars against the
number of labels under ``DIR/tensorboard/`` (``tensorboard --logdir DIR/tensorboard``);
MLflow gets one run per round in the experiment ``tunetui-al/<project>`` when it is
installed. Only loggers in the recipe's ``report_to`` are used; W&B is not logged per
round yet (its per-step training curves still come from the round's own run).
Without a recipe (the proxy learner) nothing is logged.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tunetui.runner.al import state as st


def loggers(project: Path) -> list[str]:
    """The recipe's report_to (empty without a project recipe)."""
    if not (project / st.RECIPE_FILE).is_file():
        return []
    from tunetui.runner.recipe_io import load_recipe

    return [x for x in load_recipe(project / st.RECIPE_FILE).report_to if x != "none"]


def _scalars(record: st.Round) -> dict[str, float]:
    values = {f"al/{k}": float(v) for k, v in record.metrics.items()}
    for key in ("kappa", "seconds", "gpu_seconds"):
        value = getattr(record, key)
        if value is not None:
            values[f"al/{key}"] = float(value)
    return values


def log_round(project: Path, state: st.ProjectState, record: st.Round) -> list[str]:
    """Log `record` to every configured logger that is installed; returns which."""
    done = []
    use = loggers(project)
    recipe = project / (record.run_dir or "") / "recipe.yaml"
    text = recipe.read_text(encoding="utf-8") if recipe.is_file() else ""
    if "tensorboard" in use and importlib.util.find_spec("tensorboard") is not None:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(project / "tensorboard")) as tb:
            for key, value in _scalars(record).items():
                tb.add_scalar(key, value, global_step=record.n_labels)
            tb.add_text(
                f"round-{record.round:03d}",
                f"data hash {record.data_hash} · recipe hash {record.recipe_hash} · "
                f"warm start from {record.warm_start_from}\n\n```yaml\n{text}```",
                global_step=record.n_labels,
            )
        done.append("tensorboard")
    if "mlflow" in use and importlib.util.find_spec("mlflow") is not None:
        import mlflow

        mlflow.set_experiment(f"tunetui-al/{project.resolve().name}")
        with mlflow.start_run(run_name=f"round-{record.round:03d}"):
            mlflow.log_metrics({k.replace("/", "_"): v for k, v in _scalars(record).items()})
            mlflow.log_params(
                {"n_labels": record.n_labels, "data_hash": record.data_hash,
                 "recipe_hash": record.recipe_hash, "warm_start_from": record.warm_start_from}
            )  # fmt: skip
            mlflow.log_text(text, "recipe.yaml")
        done.append("mlflow")
    return done
