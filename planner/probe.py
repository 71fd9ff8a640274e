"""Hardware probe: what GPUs (through NVML) and what host this machine has.

The planner sizes a job against `probe()`'s GPUs (or a catalog GPU from `--gpu NAME` when
there are none); the runner's 1 Hz sampler and the TUI call `sample()` / `host_sample()`,
which reuse cached NVML handles so a sample costs a few NVML calls and no re-init.

Every field NVML cannot give (no driver, no GPU, MIG, "not supported", "no permission") is
`NA`: a falsy "N/A" string that `to_dict()` turns into JSON null. Nothing here raises for a
missing or odd GPU.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

from tunetui.planner import nvml
from tunetui.planner.gpus import GPUSpec, match_nvml_name
from tunetui.planner.nvml import NA, NaType, jsonable

GiB = 1024**3

MaybeFloat = float | NaType
MaybeInt = int | NaType
MaybeStr = str | NaType


@dataclass
class GPUProcess:
    """A process holding memory on a GPU (what else competes for the memory we plan for)."""

    pid: int
    name: MaybeStr
    used_gib: MaybeFloat


@dataclass
class MIGDevice:
    """One MIG slice: a training process sees only the slice it is given, not the whole GPU."""

    index: int
    name: MaybeStr
    uuid: MaybeStr
    memory_total_gib: MaybeFloat
    memory_used_gib: MaybeFloat


@dataclass
class GPUInfo:
    """One physical GPU as NVML reports it."""

    index: int
    name: MaybeStr
    uuid: MaybeStr = NA
    memory_total_gib: MaybeFloat = NA
    memory_free_gib: MaybeFloat = NA
    memory_used_gib: MaybeFloat = NA
    compute_capability: tuple[int, int] | NaType = NA
    bf16: bool | NaType = NA
    util_pct: MaybeInt = NA
    memory_util_pct: MaybeInt = NA
    temp_c: MaybeInt = NA
    power_w: MaybeFloat = NA
    power_limit_w: MaybeFloat = NA
    mig_mode: bool | NaType = NA
    mig_devices: list[MIGDevice] = field(default_factory=list)
    processes: list[GPUProcess] = field(default_factory=list)

    @property
    def plan_memory_gib(self) -> MaybeFloat:
        """Memory one training process can use: the largest MIG slice when MIG is on."""
        if self.mig_mode and self.mig_devices:
            sizes = [m.memory_total_gib for m in self.mig_devices if m.memory_total_gib]
            return max(sizes) if sizes else NA
        return self.memory_total_gib

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        cc = self.compute_capability
        data["compute_capability"] = f"{cc[0]}.{cc[1]}" if isinstance(cc, tuple) else NA
        data["plan_memory_gib"] = self.plan_memory_gib
        spec = match_catalog(self)
        data["catalog_key"] = spec.key if spec else NA
        return jsonable(data)


@dataclass
class HostInfo:
    """The machine around the GPUs: CPU, RAM, and free disk where runs/ will be written."""

    cpu_model: MaybeStr = NA
    cpu_cores_physical: MaybeInt = NA
    cpu_cores_logical: MaybeInt = NA
    ram_total_gib: MaybeFloat = NA
    ram_available_gib: MaybeFloat = NA
    disk_path: str = "."
    disk_free_gib: MaybeFloat = NA
    disk_total_gib: MaybeFloat = NA
    os: str = ""
    python: str = ""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass
class ProbeResult:
    """Everything `tunetui probe` shows; `nvml_error` says why `gpus` is empty, if it is."""

    gpus: list[GPUInfo]
    host: HostInfo
    nvml_error: str | None = None
    driver: MaybeStr = NA
    cuda: MaybeStr = NA

    @property
    def no_gpu_reason(self) -> str | None:
        """Why there is no GPU to plan for (None when there is one)."""
        if self.gpus:
            return None
        return self.nvml_error or "NVML reports no GPUs"

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpus": [g.to_dict() for g in self.gpus],
            "host": self.host.to_dict(),
            "nvml_error": self.nvml_error,
            "no_gpu_reason": self.no_gpu_reason,
            "driver": jsonable(self.driver),
            "cuda": jsonable(self.cuda),
        }


def _gib(value: Any, digits: int = 2) -> MaybeFloat:
    if isinstance(value, NaType) or value is None:
        return NA
    return round(value / GiB, digits)


def _attr(obj: Any, name: str) -> Any:
    return NA if isinstance(obj, NaType) else getattr(obj, name, NA)


def _cuda_version(raw: Any) -> MaybeStr:
    """NVML gives the CUDA driver version as 12040; users know it as 12.4."""
    if not isinstance(raw, int) or isinstance(raw, bool):
        return NA
    return f"{raw // 1000}.{raw % 1000 // 10}"


def _process_name(pid: int) -> MaybeStr:
    try:
        import psutil

        return psutil.Process(pid).name()
    except Exception:  # gone, another user's process in a container, no psutil
        name = nvml.query("nvmlSystemGetProcessName", pid)
        return os.path.basename(name) if name else NA


def _processes(handle: Any) -> list[GPUProcess]:
    """Compute and graphics processes on one GPU, each pid once."""
    seen: dict[int, GPUProcess] = {}
    for func in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        for proc in nvml.query(func, handle, default=[]) or []:
            pid = getattr(proc, "pid", None)
            if pid is None or pid in seen:
                continue
            used = getattr(proc, "usedGpuMemory", None)  # None when the driver hides it
            seen[pid] = GPUProcess(pid=pid, name=_process_name(pid), used_gib=_gib(used))
    return sorted(seen.values(), key=lambda p: p.pid)


def _mig_devices(handle: Any) -> list[MIGDevice]:
    count = nvml.query("nvmlDeviceGetMaxMigDeviceCount", handle, default=0) or 0
    devices = []
    for i in range(count):
        mig = nvml.query("nvmlDeviceGetMigDeviceHandleByIndex", handle, i, default=None)
        if mig is None:  # empty slot
            continue
        mem = nvml.query("nvmlDeviceGetMemoryInfo", mig)
        devices.append(
            MIGDevice(
                index=i,
                name=nvml.query("nvmlDeviceGetName", mig),
                uuid=nvml.query("nvmlDeviceGetUUID", mig),
                memory_total_gib=_gib(_attr(mem, "total")),
                memory_used_gib=_gib(_attr(mem, "used")),
            )
        )
    return devices


def _gpu_info(index: int, handle: Any) -> GPUInfo:
    q = nvml.query
    mem = q("nvmlDeviceGetMemoryInfo", handle)
    cc = q("nvmlDeviceGetCudaComputeCapability", handle)
    cc = tuple(cc) if isinstance(cc, (tuple, list)) and len(cc) == 2 else NA
    util = q("nvmlDeviceGetUtilizationRates", handle)
    power = q("nvmlDeviceGetPowerUsage", handle)
    limit = q("nvmlDeviceGetEnforcedPowerLimit", handle)
    mig = q("nvmlDeviceGetMigMode", handle)
    mig_on: bool | NaType = bool(mig[0]) if isinstance(mig, (tuple, list)) and mig else NA
    temp_sensor = getattr(nvml.lib(), "NVML_TEMPERATURE_GPU", 0)
    return GPUInfo(
        index=index,
        name=q("nvmlDeviceGetName", handle),
        uuid=q("nvmlDeviceGetUUID", handle),
        memory_total_gib=_gib(_attr(mem, "total")),
        memory_free_gib=_gib(_attr(mem, "free")),
        memory_used_gib=_gib(_attr(mem, "used")),
        compute_capability=cc,
        bf16=cc >= (8, 0) if isinstance(cc, tuple) else NA,
        util_pct=_attr(util, "gpu"),
        memory_util_pct=_attr(util, "memory"),
        temp_c=q("nvmlDeviceGetTemperature", handle, temp_sensor),
        power_w=round(power / 1000, 1) if isinstance(power, (int, float)) else NA,
        power_limit_w=round(limit / 1000, 1) if isinstance(limit, (int, float)) else NA,
        mig_mode=mig_on,
        mig_devices=_mig_devices(handle) if mig_on else [],
        processes=_processes(handle),
    )


# CPU features that run bf16 matmuls natively (VDPBF16PS; Sapphire Rapids' AMX tiles)
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def _proc_cpuinfo() -> str:
    """/proc/cpuinfo once per process (the CPU does not change under a plan); "" if unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            return fh.read(200_000)
    except OSError:
        return ""


def cpu_fields(cpuinfo: str | None = None) -> dict[str, str]:
    """The first core's ``key: value`` lines of /proc/cpuinfo (or of `cpuinfo`), first value
    of each key; empty where there is nothing to read. The planner's CPU terms (native bf16
    here, peak FLOPS in `timing`) all read the CPU through this one parse."""
    fields: dict[str, str] = {}
    for line in (_proc_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if not line.strip():
            if fields:
                break  # the first core is enough
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The first core's feature flags (empty where they cannot be read)."""
    return frozenset(cpu_fields(cpuinfo).get("flags", "").split())


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU runs bf16 matmuls natively (AVX512-BF16 or AMX-BF16).

    There bf16 training is faster and smaller than fp32 (bench/cpu_sft.py), so ``precision:
    auto`` trains in bf16; elsewhere bf16 is emulated and slower, and auto stays fp32. The
    runner (what it trains in) and the planner (what it plans) both ask this function, so
    a CPU plan is for the precision the run will use.
    """
    return bool(NATIVE_BF16_FLAGS & (cpu_flags() if flags is None else flags))


def _cpu_model() -> MaybeStr:
    """The CPU's marketing name: /proc/cpuinfo on Linux, platform elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or NA


def probe_host(path: str = ".") -> HostInfo:
    """CPU, RAM and free disk at `path` (the folder runs/ goes into)."""
    import shutil

    host = HostInfo(
        cpu_model=_cpu_model(),
        cpu_cores_logical=os.cpu_count() or NA,
        disk_path=os.path.abspath(path),
        os=platform.platform(terse=True),
        python=platform.python_version(),
    )
    try:
        import psutil

        host.cpu_cores_physical = psutil.cpu_count(logical=False) or NA
        vm = psutil.virtual_memory()
        host.ram_total_gib = _gib(vm.total)
        host.ram_available_gib = _gib(vm.available)
    except Exception:  # psutil missing or /proc unreadable: leave NA
        pass
    try:
        usage = shutil.disk_usage(path)
        host.disk_free_gib = _gib(usage.free)
        host.disk_total_gib = _gib(usage.total)
    except OSError:
        pass
    return host


def probe(path: str = ".") -> ProbeResult:
    """Every GPU NVML can see plus the host. Never raises for missing drivers or GPUs."""
    error = nvml.init()
    host = probe_host(path)
    if error:
        return ProbeResult(gpus=[], host=host, nvml_error=error)
    gpus = [_gpu_info(index, handle) for index, handle in nvml.handles()]
    return ProbeResult(
        gpus=gpus,
        host=host,
        nvml_error=None,
        driver=nvml.query("nvmlSystemGetDriverVersion"),
        cuda=_cuda_version(nvml.query("nvmlSystemGetCudaDriverVersion")),
    )


def match_catalog(gpu: GPUInfo) -> GPUSpec | None:
    """The catalog entry for a probed GPU (its TFLOPS and bandwidth), or None if unknown."""
    if not gpu.name:
        return None
    total = gpu.memory_total_gib if isinstance(gpu.memory_total_gib, float) else None
    return match_nvml_name(str(gpu.name), total)


def sample() -> list[dict[str, Any]]:
    """Cheap per-GPU readings for 1 Hz sampling; None for what NVML cannot give.

    Returns [] without NVML. Keys: index, util, mem_used_gib, mem_total_gib, temp_c, power_w.
    """
    out = []
    temp_sensor = getattr(nvml.lib(), "NVML_TEMPERATURE_GPU", 0)
    for index, handle in nvml.handles():
        mem = nvml.query("nvmlDeviceGetMemoryInfo", handle)
        power = nvml.query("nvmlDeviceGetPowerUsage", handle)
        out.append(
            jsonable(
                {
                    "index": index,
                    "util": _attr(nvml.query("nvmlDeviceGetUtilizationRates", handle), "gpu"),
                    "mem_used_gib": _gib(_attr(mem, "used"), 3),
                    "mem_total_gib": _gib(_attr(mem, "total"), 3),
                    "temp_c": nvml.query("nvmlDeviceGetTemperature", handle, temp_sensor),
                    "power_w": round(power / 1000, 1) if isinstance(power, (int, float)) else NA,
                }
            )
        )
    return out


def host_sample(pid: int | None = None) -> dict[str, Any]:
    """CPU utilisation, RAM in use and optionally a process's RSS (for CPU-only runs).

    Keys match the ``gpu`` event's ``cpu`` object (runner/events.py): util, ram_used_gib,
    ram_total_gib, and rss_gib when `pid` is given. `util` is measured since the previous call
    (psutil's non-blocking mode), so the first call in a process returns 0.0. `rss_gib`
    counts the process and its children, because dataloader workers hold memory too.
    """
    try:
        import psutil
    except ImportError:
        return {"util": None, "ram_used_gib": None, "ram_total_gib": None}
    vm = psutil.virtual_memory()
    out: dict[str, Any] = {
        "util": psutil.cpu_percent(interval=None),
        "ram_used_gib": round((vm.total - vm.available) / GiB, 3),
        "ram_total_gib": round(vm.total / GiB, 3),
    }
    if pid is not None:
        try:
            proc = psutil.Process(pid)
            rss = proc.memory_info().rss
            for child in proc.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    continue
            out["rss_gib"] = round(rss / GiB, 3)
        except psutil.Error:
            out["rss_gib"] = None
    return out
