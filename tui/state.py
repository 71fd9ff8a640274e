"""The wizard's single source of truth: every choice lives here, not in widgets.

Screens read their initial values from `WizardState` and write every change straight back,
so going back and forth (Esc / ctrl+n) never loses what was typed. The choices are kept
under the option vocabulary's names (`tunetui.options`: ``rank``, ``batch``, ``cutoff_len``
…), so the recipe, the plan request and the equivalent ``tunetui init --headless`` line
are each derived by the runner's own functions, not by a translation table here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunetui.runner.flags import PLANNED, command_line, plan_request, recipe_from_flags
from tunetui.runner.recipe import Recipe

from tunetui.options import BY_NAME, METHODS, OPTIONS, applies, default

CPU_KEY = "cpu"  # the planner's ``gpu="cpu"``: plan for this host's CPU and RAM


def _defaults() -> dict[str, Any]:
    # lr stays None (unset) so the recipe picks it by stage and method, as `init` does.
    return {o.name: default(o.name) for o in OPTIONS}


@dataclass
class WizardState:
    """Everything the user chose so far: the hardware planned for, and option values."""

    # hardware: what the plan is for. `gpu_key` is the planner's ``gpu`` argument: ``"cpu"``
    # for this machine's CPU (RAM, CPU throughput), a catalog key for a GPU of another
    # machine, None for this machine's probed GPU (the planner probes it itself).
    gpu_name: str | None = None
    gpu_memory_gib: float | None = None
    gpu_key: str | None = None
    gpu_count: int = 1
    # where the review screen saves the recipe
    recipe_path: str = "recipe.yaml"
    values: dict[str, Any] = field(default_factory=_defaults)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in BY_NAME:  # a typo'd name must fail loudly, not write a dead key
            raise KeyError(f"unknown option {name!r}")
        self.values[name] = value

    @property
    def target_text(self) -> str:
        """What the plan is for, in words every later step shows: a plan for a catalog GPU
        must never be mistaken for one of this machine (the run trains here)."""
        if self.gpu_name is None:
            return ""
        if self.gpu_key == CPU_KEY:
            return "this machine's CPU"
        name = self.gpu_name.replace("NVIDIA ", "").replace("GeForce ", "")
        where = "this machine" if self.gpu_key is None else "another machine (catalog)"
        return f"{name}, {where}"

    def set_method(self, method: str) -> None:
        """QLoRA implies 4-bit unless 8 was chosen; other methods have no quantized base."""
        self["method"] = method
        self["bits"] = (self["bits"] or 4) if method == "qlora" else None

    def apply_recommendation(self, rec: dict[str, Any]) -> None:
        """Take the recommender's settings (`tunetui plan --json`: option names too)."""
        if rec.get("method") in METHODS:
            self.set_method(str(rec["method"]))
        for name in PLANNED:
            if name in ("method", "bits") or rec.get(name) is None:
                continue
            self[name] = rec[name]
        if rec.get("bits") in (4, 8) and self["method"] == "qlora":
            self["bits"] = int(rec["bits"])

    def to_recipe(self) -> Recipe:
        """The recipe these choices describe, built exactly as `init --headless` builds it
        (no recommendation: every size is chosen here), so both write the same file.
        Values of options that mean nothing for the chosen method (a rank typed before
        switching to full) are left out, as their hidden fields are. Raises `UserError` for
        a value the schema refuses."""
        method = self.values["method"]
        chosen = {k: v for k, v in self.values.items() if applies(k, method)}
        return recipe_from_flags(recommend=False, **chosen)

    def plan_request(self) -> dict[str, Any]:
        """The planner's request for these choices: the launcher's own `plan_request`, plus
        the GPU planned for (a probed GPU: the planner probes it itself)."""
        request = plan_request(self.to_recipe(), gpu=self.gpu_key or "auto")
        request["gpus"] = self.gpu_count
        return request


def headless_command(recipe: Recipe, path: str) -> str:
    """The ``tunetui init --headless …`` line that writes the same recipe."""
    return command_line(recipe, output=path)
