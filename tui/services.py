"""What the wizard asks of the planner and the data layer, behind one small interface.

Screens talk to a `Services` object, never to planner modules directly, for two reasons:
tests and snapshots pass a fixed one (deterministic probe, no clock, no GPU), and the
real one tolerates planner/data modules that are missing or older than expected, so the
wizard still opens and says what is unavailable instead of crashing. Everything here is
called from worker threads by the screens: none of it may touch widgets.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError


@dataclass
class GpuChoice:
    """A GPU the plan can target: probed on this host, or from the catalog."""

    name: str
    memory_gib: float
    free_gib: float | None = None
    key: str | None = None  # catalog key; None for a probed GPU


@dataclass
class Hardware:
    """The probe result, reduced to what the hardware screen shows."""

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
    time_text: str = ""
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


def _call(fn: Any, options: dict[str, Any]) -> Any:
    """Call `fn` with the options it accepts (planner signatures are still moving)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**{k: v for k, v in options.items() if v is not None})
    return fn(**{k: v for k, v in options.items() if k in params and v is not None})


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute or key among `names` (dataclass, pydantic or dict)."""
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return default


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and out >= 0 else None  # NaN and NA sentinels (-1)


class Services:
    """The real planner, data layer and launcher (imports guarded; see module doc)."""

    def __init__(self) -> None:
        self._plans: dict[tuple[Any, ...], PlanInfo] = {}

    # -- hardware ------------------------------------------------------------------------
    def hardware(self) -> Hardware:
        try:
            from tunetui.planner.probe import probe
        except ImportError:
            return self._host_only("the planner's probe is not installed")
        result = probe()
        gpus = [
            GpuChoice(
                name=str(_get(g, "name") or "GPU"),
                memory_gib=_float(_get(g, "plan_memory_gib", "memory_total_gib")) or 0.0,
                free_gib=_float(_get(g, "memory_free_gib")),
            )
            for g in _get(result, "gpus", default=[]) or []
        ]
        host = _get(result, "host", default={}) or {}
        cores = _get(host, "cpu_cores_logical", "cpu_cores", "cores")
        return Hardware(
            gpus=gpus,
            cpu_cores=cores if isinstance(cores, int) else None,
            ram_gib=_float(_get(host, "ram_total_gib", "memory_total_gib", "ram_gib")),
            ram_free_gib=_float(_get(host, "ram_available_gib", "ram_free_gib")),
            disk_free_gib=_float(_get(host, "disk_free_gib")),
            note=str(_get(result, "no_gpu_reason", "nvml_error", default="") or ""),
        )

    @staticmethod
    def _host_only(note: str) -> Hardware:
        import os
        import shutil

        import psutil

        vm = psutil.virtual_memory()
        return Hardware(
            cpu_cores=os.cpu_count(),
            ram_gib=vm.total / 2**30,
            ram_free_gib=vm.available / 2**30,
            disk_free_gib=shutil.disk_usage(".").free / 2**30,
            note=note,
        )

    def catalog_gpus(self) -> list[GpuChoice]:
        from tunetui.planner.gpus import CATALOG

        return [GpuChoice(g.name, g.memory_gib, key=g.key) for g in CATALOG]

    # -- models --------------------------------------------------------------------------
    def model_ids(self) -> list[str]:
        try:
            from tunetui.planner import models
        except ImportError:
            from tunetui.runner.recipe import DEFAULT_MODEL

            return [DEFAULT_MODEL]
        catalog = getattr(models, "CATALOG", None) or getattr(models, "MODELS", None) or []
        if isinstance(catalog, dict):
            return list(catalog)
        return [str(_get(m, "id", "key", "name", default=m)) for m in catalog]

    def describe_model(self, arg: str) -> ModelInfo:
        try:
            from tunetui.planner.models import resolve_model
        except ImportError:
            return ModelInfo(arg, detail="the planner's model catalog is not installed")
        spec = resolve_model(arg)
        count = getattr(spec, "n_params", None) or _float(_get(spec, "published_params"))
        moe = f", {spec.num_experts} experts" if getattr(spec, "num_experts", 0) else ""
        return ModelInfo(
            name=str(_get(spec, "id", "name", default=arg)),
            architecture=str(_get(spec, "family", "architecture", default="?")),
            params_b=count / 1e9 if count else None,
            detail=f"{_get(spec, 'num_hidden_layers', default='?')} layers, hidden "
            f"{_get(spec, 'hidden_size', default='?')}{moe}",
        )

    # -- plan ----------------------------------------------------------------------------
    def plan(self, options: dict[str, Any]) -> PlanInfo:
        """The estimate for exactly these settings, plus the recommendation.

        Both come from `planner.plan.build_plan`, the same call as `tunetui plan`, so the
        bar shows what the CLI would print. With explicit settings it only estimates
        (~4 ms: fine on every change); the recommendation searches many configurations,
        so it is cached per model/GPU/stage/length.
        """
        try:
            from tunetui.planner.plan import build_plan
        except ImportError:
            return PlanInfo(error="the planner is not installed: no estimate")
        key = tuple(options.get(k) for k in ("model", "gpu", "stage", "seq_len", "num_gpus"))
        if key not in self._plans:
            self._plans[key] = self._build_plan(options)
        rec = self._plans[key]
        wanted = {
            "model": options["model"],
            "gpu": options.get("gpu") or "auto",
            "gpus": options.get("num_gpus"),
            "stage": options.get("stage"),
            "method": options.get("method"),
            "bits": options.get("bits"),
            "rank": options.get("lora_rank"),
            "batch": options.get("batch_size"),
            "seq": options.get("seq_len"),
            "grad_ckpt": options.get("gradient_checkpointing"),
            "optim": options.get("optimizer"),
        }
        try:
            plan = _call(build_plan, wanted) or {}
        except UserError as err:
            return PlanInfo(error=err.line(), gpu_gib=_float(options.get("gpu_memory_gib")))
        info = plan_info_from_dict(plan, options.get("gpu_memory_gib"))
        info.recommendation, info.alternatives = rec.recommendation, rec.alternatives
        info.time_text = time_text(plan.get("time"), options) or info.time_text
        return info

    def _build_plan(self, options: dict[str, Any]) -> PlanInfo:
        try:
            from tunetui.planner.plan import build_plan
        except ImportError:
            return PlanInfo()
        wanted = {
            "model": options["model"],
            "gpu": options.get("gpu") or "auto",
            "stage": options.get("stage"),
            "seq": options.get("seq_len"),
            "seq_len": options.get("seq_len"),
            "gpus": options.get("num_gpus"),
        }
        try:
            return plan_info_from_dict(_call(build_plan, wanted) or {})
        except UserError as err:
            return PlanInfo(error=err.line())

    # -- data ----------------------------------------------------------------------------
    def dataset_names(self, dataset_dir: str | None) -> list[str]:
        from tunetui.runner.data.dataset_info import data_dir_of, load_dataset_info

        return sorted(load_dataset_info(data_dir_of(dataset_dir)))

    def data_info(self, recipe: Any, n: int = 3) -> DataInfo:
        """Formats, 3 previews and length stats, without loading a model (worker thread)."""
        from tunetui.runner import data as data_pkg

        info = DataInfo()
        stats_fn = getattr(data_pkg, "data_stats", None)
        preview_fn = getattr(data_pkg, "preview", None)
        from tunetui.runner.data.validation import load_samples, validate_data

        report = validate_data(recipe)
        info.formats = [f"{d.name}: {d.format}, {d.records} records" for d in report.datasets]
        info.total = report.total
        if callable(preview_fn):
            info.previews = [str(p) for p in preview_fn(recipe, n=n)]
        else:
            loaded = load_samples(recipe)
            samples = [s for ds in loaded for s in ds.samples][:n]
            info.previews = [render_sample(s) for s in samples]
        if callable(stats_fn):
            stats = stats_fn(recipe, None)
            info.p50 = _get(stats, "p50", "tokens_p50")
            info.p95 = _get(stats, "p95", "tokens_p95")
            info.max = _get(stats, "max", "tokens_max")
        else:
            info.p50, info.p95, info.max = report.chars_p50, report.chars_p95, report.chars_max
            info.unit = "chars"
        return info

    # -- launching -----------------------------------------------------------------------
    def launch(self, recipe_path: Path) -> Path:
        from tunetui.runner.launcher import start_run

        return Path(start_run(recipe_path).run_dir)


def _train_config(options: dict[str, Any]) -> dict[str, Any]:
    """The wizard's options under `TrainConfig`'s field names."""
    return {
        "method": options.get("method"),
        "bits": options.get("bits"),
        "lora_rank": options.get("lora_rank"),
        "batch_size": options.get("batch_size"),
        "grad_accum": options.get("grad_accum"),
        "seq_len": options.get("seq_len"),
        "gradient_checkpointing": options.get("gradient_checkpointing"),
        "optimizer": options.get("optimizer"),
        "stage": options.get("stage"),
        "n_gpus": options.get("num_gpus"),
    }


def time_text(time_info: Any, options: dict[str, Any]) -> str:
    """``120-260 tok/s, 200 steps <= 25m-55m`` from the plan's time estimate."""
    rate = _get(time_info, "tokens_per_s") if isinstance(time_info, dict) else None
    if not isinstance(rate, (list, tuple)) or len(rate) != 2 or not all(rate):
        return ""
    lo, hi = float(rate[0]), float(rate[1])
    text = f"{lo:,.0f}-{hi:,.0f} tok/s"
    steps = options.get("max_steps")
    if steps and lo > 0:
        from tunetui.tui.runview import format_duration

        tokens = steps * options["batch_size"] * options["grad_accum"] * options["seq_len"]
        text += f", {steps} steps <= {format_duration(tokens / hi)}-{format_duration(tokens / lo)}"
    return text


def render_sample(sample: Any) -> str:
    """A sample as chat turns (``user: …``), for when no template renderer is present."""
    if getattr(sample, "text", None) is not None:
        return str(sample.text)
    lines = []
    for part in ("prompt", "completion", "chosen"):
        for msg in getattr(sample, part, None) or []:
            lines.append(f"{msg.get('role', '?')}: {msg.get('content', '')}")
    return "\n".join(lines)


def plan_info_from_dict(plan: dict[str, Any], gpu_gib: Any = None) -> PlanInfo:
    """Read the `tunetui plan --json` object (tolerating missing keys)."""
    est = plan.get("estimate") or {}
    hw = plan.get("hardware") or {}
    gpu = _float(gpu_gib)
    if gpu is None:
        gpu = _float(_get(hw, "memory_gib", "gpu_memory_gib", "memory_total_gib"))
        gpus = hw.get("gpus") if isinstance(hw, dict) else None
        if gpu is None and isinstance(gpus, list) and gpus:
            gpu = _float(_get(gpus[0], "memory_total_gib", "memory_gib"))
    breakdown = {
        str(k): float(v)
        for k, v in (est.get("breakdown_gib") or {}).items()
        if isinstance(v, (int, float))
    }
    time_info = plan.get("time") or {}
    time_text = ""
    if isinstance(time_info, dict):
        seconds = _float(_get(time_info, "total_s", "seconds", "estimate_s"))
        if seconds is not None:
            from tunetui.tui.runview import format_duration

            time_text = f"~{format_duration(seconds)}"
        elif time_info.get("text"):
            time_text = str(time_info["text"])
    return PlanInfo(
        peak_tflops=_float(_get(hw, "peak_tflops")),
        total_gib=_float(_get(est, "total_gib", "reserved_gib", "allocated_gib")),
        breakdown_gib=breakdown,
        gpu_gib=gpu,
        time_text=time_text,
        recommendation=dict(plan.get("recommendation") or {}),
        alternatives=list(plan.get("alternatives") or []),
    )
