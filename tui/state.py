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

from tunetui.options import BY_NAME, METHODS, OPTIONS, PARALLELS, applies, default

CPU_KEY = "cpu"  # the planner's ``gpu="cpu"``: plan for this host's CPU and RAM
SHARDED = ("zero3", "fsdp")  # the strategies that can offload to CPU RAM (the recipe's rule)


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
    # How many GPUs of that kind the machine has (the probe's count; 1 for a catalog GPU
    # until a count is typed). The recipe's ``gpus`` (`distributed.num_processes`), when
    # set, is how many of them the run uses; unset, it uses every one.
    gpu_count: int = 1
    # where the review screen saves the recipe
    recipe_path: str = "recipe.yaml"
    values: dict[str, Any] = field(default_factory=_defaults)

    @classmethod
    def with_values(cls, **given: Any) -> WizardState:
        """A state with `init`'s flags already chosen (``tunetui init --gpus 4`` opens the
        wizard with four GPUs and the strategy on offer); None means not given."""
        state = cls()
        for name, value in given.items():
            if value is None:
                continue
            if name == "method":
                state.set_method(value)
            else:
                state[name] = value
        return state

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
        if self.multi_gpu:
            spread = f" ({self['parallel']})" if self["parallel"] != "none" else ", one used"
            name = f"{self.planned_gpus} x {name}{spread}"
        return f"{name}, {where}"

    @property
    def planned_gpus(self) -> int:
        """GPUs the plan is for: the count chosen (``--gpus``, or typed on the hardware
        step), else every GPU of the kind picked; one for the CPU."""
        if self.gpu_key == CPU_KEY:
            return 1
        return self["gpus"] or self.gpu_count

    @property
    def multi_gpu(self) -> bool:
        """More than one GPU planned for: the steps offer the strategy (and offload)."""
        return self.planned_gpus > 1

    def set_parallel(self, strategy: str) -> None:
        """Offload goes with the sharded strategies only (the recipe refuses it otherwise):
        a strategy that cannot offload resets it, as a method without a quantized base
        resets the bits."""
        self["parallel"] = strategy
        if strategy not in SHARDED:
            self["offload"] = "none"

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
        if (rec.get("gpus") or 1) > 1 and rec.get("parallel") in PARALLELS:
            self.set_parallel(str(rec["parallel"]))  # planned for these GPUs: the count stays

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
        the GPUs planned for (a probed GPU: the planner probes it itself). The strategy is
        always passed, ``none`` too: one process on a machine of eight is planned as one
        GPU, while the recommendation (asked without it) may spread over all eight."""
        request = plan_request(self.to_recipe(), gpu=self.gpu_key or "auto")
        request["gpus"] = self.planned_gpus
        request["parallel"] = self["parallel"]
        return request


def headless_command(recipe: Recipe, path: str) -> str:
    """The ``tunetui init --headless …`` line that writes the same recipe."""
    return command_line(recipe, output=path)
