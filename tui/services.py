"""What the wizard asks of the planner and the data layer, behind one small interface.


Screens talk to a `Services` object, never to planner modules directly, so tests and
snapshots can pass a fixed one (deterministic probe, no clock, no GPU). The real one calls
the planner, the data layer and the launcher's typed functions directly. Everything here is
called from worker threads by the screens: none of it may touch widgets.

What a finished run offers (chat, base vs tuned, export, serve) needs torch, which the TUI
never imports: those run in child processes (`tui.runprocs`: `ChatProcess`, `ServerProcess`)
that are the console's own code paths, so the TUI shows what `tunetui chat/export/serve`
would print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.planner.timing import format_duration
from tunetui.tui.runprocs import ChatProcess, ServerProcess, tunetui_child


@dataclass
class GpuChoice:
    """A GPU the plan can target: probed on this host, or from the catalog."""

    name: str
    memory_gib: float
    free_gib: float | None = None
    key: str | None = None  # catalog key; None for a probed GPU


@dataclass
class MachineView:
    """The probe result, reduced to what the hardware screen shows (the planner's
    `plan.Hardware` is what a plan is sized against; this is what the user is shown)."""

    gpus: list[GpuChoice] = field(default_factory=list)
    cpu_cores: int | None = None
    ram_gib: float | None = None
    ram_free_gib: float | None = None
    disk_free_gib: float | None = None
    note: str = ""  # e.g. the NVML error when there is no GPU


@dataclass
class ModelInfo:
    name: str
    architecture: str = "?"
    params_b: float | None = None
    detail: str = ""


@dataclass
class PlanInfo:
    """The estimate for the wizard's current settings, and the recommendation."""

    total_gib: float | None = None
    breakdown_gib: dict[str, float] = field(default_factory=dict)
    gpu_gib: float | None = None
    speed_text: str = ""  # throughput, and the whole run's duration when known
    device: str = "cuda"  # what the memory is: "cpu" plans are sized against RAM
    recommendation: dict[str, Any] = field(default_factory=dict)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    peak_tflops: float | None = None  # of the planned GPU; None = CPU or unknown
    error: str = ""

    @property
    def fits(self) -> bool | None:
        if self.total_gib is None or self.gpu_gib is None:
            return None
        return self.total_gib <= self.gpu_gib

    @property
    def over_gib(self) -> float:
        if self.total_gib is None or self.gpu_gib is None:
            return 0.0
        return max(0.0, self.total_gib - self.gpu_gib)


@dataclass
class DataInfo:
    """Format, size, samples and token-length statistics of the chosen datasets."""

    formats: list[str] = field(default_factory=list)
    total: int = 0
    previews: list[str] = field(default_factory=list)
    p50: int | None = None
    p95: int | None = None
    max: int | None = None
    unit: str = "tokens"
    error: str = ""


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and out >= 0 else None  # NaN and NA sentinels (-1)


def _local(entry: Any, folder: Path) -> bool:
    """A dataset_info.json entry whose data is on this disk (hub-only entries have no
    ``file_name``; a listed file may also simply not be there)."""
    name = entry.get("file_name") if isinstance(entry, dict) else None
    return isinstance(name, str) and (folder / name).exists()


class Services:
    """The real planner, data layer and launcher."""

    def __init__(self) -> None:
        self._recommendations: dict[tuple[Any, ...], PlanInfo] = {}
        # The app's download panel (`TuneApp.download_progress`), told how a hub model's
        # download goes; called from worker threads.
        self.on_download: Callable[[Any], None] | None = None

    # -- hardware ------------------------------------------------------------------------
    def hardware(self) -> MachineView:
        from tunetui.planner.probe import probe

        result = probe()
        gpus = [
            GpuChoice(
                name=str(g.name or "GPU"),
                memory_gib=_float(g.plan_memory_gib) or 0.0,
                free_gib=_float(g.memory_free_gib),
            )
            for g in result.gpus
        ]
        host = result.host
        cores = host.cpu_cores_logical
        return MachineView(
            gpus=gpus,
            cpu_cores=cores if isinstance(cores, int) else None,
            ram_gib=_float(host.ram_total_gib),
            ram_free_gib=_float(host.ram_available_gib),
            disk_free_gib=_float(host.disk_free_gib),
            note=str(result.no_gpu_reason or result.nvml_error or ""),
        )

    def catalog_gpus(self) -> list[GpuChoice]:
        from tunetui.planner.gpus import CATALOG

        return [GpuChoice(g.name, g.memory_gib, key=g.key) for g in CATALOG]

    # -- models --------------------------------------------------------------------------
    def model_ids(self) -> list[str]:
        from tunetui.planner.models import CATALOG

        return list(CATALOG)

    def describe_model(self, arg: str) -> ModelInfo:
        from tunetui.planner.models import resolve_model

        spec = resolve_model(arg)
        count = spec.counts().total or spec.published_params
        moe = f", {spec.num_experts} experts" if spec.num_experts else ""
        return ModelInfo(
            name=spec.id,
            architecture=spec.family,
            params_b=count / 1e9 if count else None,
            detail=f"{spec.num_hidden_layers} layers, hidden {spec.hidden_size}{moe}",
        )

    # -- plan ----------------------------------------------------------------------------
    def plan(self, request: dict[str, Any]) -> PlanInfo:
        """The estimate for exactly these settings, plus the recommendation.

        `request` is `WizardState.plan_request()`: the same `build_plan` keywords the
        launcher writes plan.json with, so the wizard shows what the run will be planned
        with. The estimate is cheap (~4 ms: fine on every change); the recommendation
        searches many configurations, so it is cached per model/GPU/stage/length.
        """
        from tunetui.planner.plan import build_plan
        from tunetui.runner.calibration import measurements

        key = tuple(request.get(k) for k in ("model", "gpu", "gpus", "stage", "cutoff_len"))
        if key not in self._recommendations:
            self._recommendations[key] = self._recommend(request)
        rec = self._recommendations[key]
        try:
            plan = build_plan(**request, calibration=measurements())
        except UserError as err:
            return PlanInfo(error=err.line())
        info = plan_info_from_dict(plan)
        info.recommendation, info.alternatives = rec.recommendation, rec.alternatives
        return info

    def _recommend(self, request: dict[str, Any]) -> PlanInfo:
        """The planner's own pick for this model, GPU, stage and length (no method flags)."""
        from tunetui.planner.plan import build_plan

        asked = {k: request.get(k) for k in ("model", "gpu", "gpus", "stage", "cutoff_len")}
        try:
            return plan_info_from_dict(build_plan(**{k: v for k, v in asked.items() if v}))
        except UserError as err:
            return PlanInfo(error=err.line())

    # -- data ----------------------------------------------------------------------------
    def dataset_names(self, dataset_dir: str | None) -> tuple[list[str], int]:
        """The datasets of a dataset_info.json that can be used here (a local file that
        exists), and how many others it lists. LLaMA-Factory's own list has ~100 entries,
        most on a hub: listing those would offer what the run cannot read."""
        from tunetui.runner.data.dataset_info import data_dir_of, load_dataset_info

        folder = data_dir_of(dataset_dir)
        info = load_dataset_info(folder)
        usable = sorted(name for name, entry in info.items() if _local(entry, folder))
        return usable, len(info) - len(usable)

    def data_info(self, recipe: Any, n: int = 3) -> DataInfo:
        """Formats, 3 previews and length stats, without loading a model (worker thread)."""
        from tunetui.runner.data import data_stats, preview, validate_data

        report = validate_data(recipe)
        stats = data_stats(recipe, None)
        return DataInfo(
            formats=[f"{d.name}: {d.format}, {d.records} records" for d in report.datasets],
            total=report.total,
            previews=[str(p) for p in preview(recipe, n=n)],
            p50=stats["p50"],
            p95=stats["p95"],
            max=stats["max"],
        )

    # -- doctor --------------------------------------------------------------------------
    def doctor(self, recipe: Any, gpu: str) -> list[Any]:
        """The cheap checks `tunetui run` makes before it starts, for the review step."""
        from tunetui.runner.doctor import run_checks
        from tunetui.runner.rundir import runs_root

        try:
            return run_checks(recipe, runs_root(), cheap=True, gpu=gpu)
        except UserError as err:
            from tunetui.runner.doctor import Check

            return [Check("plan", "warn", err.line())]

    # -- launching -----------------------------------------------------------------------
    def launch(self, recipe_path: Path) -> Path:
        """Start the run; a hub model is downloaded first, its progress in the app's panel
        (the launcher would download it too, but with bars on a terminal the TUI owns)."""
        from tunetui.runner.launcher import start_run
        from tunetui.runner.recipe_io import load_recipe

        self.fetch_model(load_recipe(Path(recipe_path)).model.name_or_path)
        return Path(start_run(recipe_path).run_dir)

    def fetch_model(self, name: str) -> None:
        """Download a hub model that is not cached yet, reporting to `on_download`; the
        last report has ``finished`` set, also when the download fails (UserError)."""
        from tunetui.runner.modelpath import (
            DownloadProgress,
            fetch_hub_model,
            needs_download,
            progress_bars,
        )

        if not needs_download(name):
            return
        report = self.on_download or (lambda progress: None)
        last = [DownloadProgress(name)]

        def seen(progress: DownloadProgress) -> None:
            last[0] = progress
            report(progress)

        report(last[0])
        try:
            fetch_hub_model(name, say=lambda line: None, tqdm_class=progress_bars(name, seen))
        finally:
            report(replace(last[0], finished=True))

    # -- a finished run: chat, compare, export, serve ------------------------------------
    def open_chat(self, run_dir: Path) -> ChatProcess:
        """The run's model in its own process, loaded (blocks for the load: call it from a
        worker). A UserError carries the child's one-line reason."""
        chat = ChatProcess(run_dir)
        chat.wait_ready()
        return chat

    def run_command(self, args: list[str], on_line: Callable[[str], None]) -> int:
        """``tunetui ARGS`` in a child process, each output line handed to ``on_line``; the
        exit code (0 done, 1 failed verification, 2 user error)."""
        proc = tunetui_child(args)
        assert proc.stdout is not None
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        return proc.wait()

    def start_server(self, run_dir: Path, port: int) -> ServerProcess:
        """``tunetui serve RUN --port PORT`` in a child process (not waited for)."""
        return ServerProcess(run_dir, port)


def speed_text(time_info: dict[str, Any]) -> str:
    """``120-260 tok/s, whole run ~25m-55m`` from the plan's time estimate: a throughput,
    and the run's duration only when the plan knows how many tokens (a step budget)."""
    rate, total = time_info.get("tokens_per_s"), time_info.get("seconds_total")
    if not isinstance(rate, (list, tuple)) or len(rate) != 2 or not all(rate):
        return ""
    text = f"{rate[0]:,.0f}-{rate[1]:,.0f} tok/s"
    if total:
        text += f", whole run ~{format_duration(total[0])}-{format_duration(total[1])}"
    return text


def plan_info_from_dict(plan: dict[str, Any]) -> PlanInfo:
    """Read the `tunetui plan --json` object. The memory the estimate is compared with is
    the one the planner sized against (free memory of the planned device)."""
    est, hw = plan.get("estimate") or {}, plan.get("hardware") or {}
    return PlanInfo(
        peak_tflops=_float(hw.get("peak_tflops")),
        total_gib=_float(est.get("total_gib")),
        breakdown_gib={str(k): float(v) for k, v in (est.get("breakdown_gib") or {}).items()},
        gpu_gib=_float(hw.get("memory_free_gib")),
        speed_text=speed_text(plan.get("time") or {}),
        device=str(hw.get("device") or "cuda"),
        recommendation=dict(plan.get("recommendation") or {}),
        alternatives=list(plan.get("alternatives") or []),
    )
