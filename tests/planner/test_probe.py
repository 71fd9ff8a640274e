"""The hardware probe against a fake `pynvml`: every failure degrades to n/a, never a crash."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from tunetui.planner import nvml
from tunetui.planner.nvml import NA, jsonable
from tunetui.planner.probe import host_sample, match_catalog, probe, sample

GiB = 1024**3


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 - pynvml's own names
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801
    pass


class NVMLError_NotFound(NVMLError):  # noqa: N801
    pass


def fake_nvml(gpus: list[dict[str, Any]], init_error: Exception | None = None) -> types.ModuleType:
    """A pynvml stand-in: handles are the dicts in `gpus`; a callable field value raises."""
    mod = types.ModuleType("pynvml")
    mod.NVMLError = NVMLError
    mod.NVML_TEMPERATURE_GPU = 0
    mod.calls = []

    def field(name: str):
        def get(handle: dict[str, Any], *args: Any) -> Any:
            mod.calls.append(name)
            value = handle.get(name, NVMLError_NotSupported("Not Supported"))
            if isinstance(value, Exception):
                raise value
            return value

        return get

    def init() -> None:
        if init_error is not None:
            raise init_error

    mod.nvmlInit = init
    mod.nvmlShutdown = lambda: None
    mod.nvmlDeviceGetCount = lambda: len(gpus)
    mod.nvmlDeviceGetHandleByIndex = lambda i: gpus[i]
    mod.nvmlSystemGetDriverVersion = lambda: b"550.54.15"
    mod.nvmlSystemGetCudaDriverVersion = lambda: 12040
    for name in (
        "Name",
        "UUID",
        "MemoryInfo",
        "CudaComputeCapability",
        "UtilizationRates",
        "Temperature",
        "PowerUsage",
        "EnforcedPowerLimit",
        "MigMode",
        "MaxMigDeviceCount",
        "ComputeRunningProcesses",
        "GraphicsRunningProcesses",
    ):
        setattr(mod, f"nvmlDeviceGet{name}", field(name))

    def mig_handle(handle: dict[str, Any], i: int) -> Any:
        slices = handle.get("slices", [])
        if i >= len(slices) or slices[i] is None:
            raise NVMLError_NotFound("Not Found")
        return slices[i]

    mod.nvmlDeviceGetMigDeviceHandleByIndex = mig_handle
    return mod


def mem(total_gib: float, used_gib: float) -> SimpleNamespace:
    total, used = int(total_gib * GiB), int(used_gib * GiB)
    return SimpleNamespace(total=total, used=used, free=total - used)


def gpu(name: str, total_gib: float, **extra: Any) -> dict[str, Any]:
    base = {
        "Name": name,
        "UUID": f"GPU-{abs(hash(name)) % 10**8:08d}",
        "MemoryInfo": mem(total_gib, 1.0),
        "CudaComputeCapability": (8, 9),
        "UtilizationRates": SimpleNamespace(gpu=37, memory=12),
        "Temperature": 55,
        "PowerUsage": 120500,
        "EnforcedPowerLimit": 450000,
        "MigMode": (0, 0),
        "ComputeRunningProcesses": [],
        "GraphicsRunningProcesses": [],
    }
    base.update(extra)
    return base


def dead_pid() -> int:
    """A pid no process has (so psutil and NVML name lookups both fail)."""
    import psutil

    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid += 1
    return pid


@pytest.fixture
def use_nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install a fake pynvml (or none) and reset the probe's one-time init around the test."""

    def install(module: types.ModuleType | None) -> types.ModuleType | None:
        monkeypatch.setitem(sys.modules, "pynvml", module)  # None makes the import fail
        nvml.reset()
        return module

    yield install
    nvml.reset()


def test_na_sentinel_is_falsy_and_serialises_to_null() -> None:
    assert not NA and str(NA) == "N/A" and isinstance(NA, str)
    assert json.dumps(jsonable({"a": NA, "b": [NA, 1]})) == '{"a": null, "b": [null, 1]}'


def test_nvml_package_missing(use_nvml) -> None:
    use_nvml(None)
    result = probe()
    assert result.gpus == [] and "nvidia-ml-py is not installed" in result.nvml_error
    assert sample() == []


def test_nvml_library_missing(use_nvml) -> None:
    use_nvml(fake_nvml([], init_error=NVMLError_LibraryNotFound("NVML Shared Library Not Found")))
    result = probe()
    data = json.loads(json.dumps(result.to_dict()))
    assert data["gpus"] == [] and data["driver"] is None and data["cuda"] is None
    assert "no NVIDIA driver" in data["no_gpu_reason"]
    assert data["host"]["cpu_cores_logical"] >= 1 and data["host"]["disk_free_gib"] > 0


def test_nvml_init_raising_other_error(use_nvml) -> None:
    use_nvml(fake_nvml([], init_error=NVMLError("Unknown Error")))
    assert probe().nvml_error == "NVML init failed: Unknown Error"


def test_init_is_attempted_once(use_nvml) -> None:
    calls = []
    mod = fake_nvml([gpu("NVIDIA GeForce RTX 4090", 23.99)])
    real_init = mod.nvmlInit
    mod.nvmlInit = lambda: calls.append(1) or real_init()
    use_nvml(mod)
    probe()
    sample()
    sample()
    assert calls == [1]


def test_zero_gpus(use_nvml) -> None:
    use_nvml(fake_nvml([]))
    result = probe()
    assert result.gpus == [] and result.nvml_error is None
    assert result.no_gpu_reason == "NVML reports no GPUs"
    assert result.driver == "550.54.15" and result.cuda == "12.4"


def test_unsupported_fields_become_na(use_nvml) -> None:
    laptop = gpu(
        "NVIDIA GeForce RTX 4090",
        23.99,
        PowerUsage=NVMLError_NotSupported("Not Supported"),
        Temperature=NVMLError_NotSupported("Not Supported"),
    )
    del laptop["UtilizationRates"]  # missing -> NotSupported in the fake
    use_nvml(fake_nvml([laptop]))
    info = probe().gpus[0]
    assert info.power_w is NA and info.temp_c is NA and info.util_pct is NA
    assert info.memory_total_gib == pytest.approx(23.99) and info.bf16 is True
    data = info.to_dict()
    assert data["power_w"] is None and data["util_pct"] is None
    assert data["compute_capability"] == "8.9" and data["catalog_key"] == "rtx-4090"
    assert sample()[0]["power_w"] is None and sample()[0]["mem_total_gib"] == pytest.approx(23.99)


def test_mig_enabled(use_nvml) -> None:
    slices = [
        {"Name": "NVIDIA A100-SXM4-80GB MIG 3g.40gb", "UUID": "MIG-a", "MemoryInfo": mem(39.5, 0)},
        None,  # an empty slot raises NotFound
        {"Name": "NVIDIA A100-SXM4-80GB MIG 1g.10gb", "UUID": "MIG-b", "MemoryInfo": mem(9.75, 2)},
    ]
    a100 = gpu(
        "NVIDIA A100-SXM4-80GB",
        79.25,
        CudaComputeCapability=(8, 0),
        MigMode=(1, 1),
        MaxMigDeviceCount=3,
        slices=slices,
        UtilizationRates=NVMLError_NotSupported("Not Supported"),
    )
    use_nvml(fake_nvml([a100]))
    info = probe().gpus[0]
    assert info.mig_mode is True and [m.uuid for m in info.mig_devices] == ["MIG-a", "MIG-b"]
    assert info.plan_memory_gib == pytest.approx(39.5)
    assert info.util_pct is NA
    assert match_catalog(info).key == "a100-80g"
    data = json.loads(json.dumps(info.to_dict()))
    assert data["mig_devices"][1]["memory_used_gib"] == pytest.approx(2.0)


def test_two_gpus_with_processes(use_nvml, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    me = os.getpid()
    gone = dead_pid()  # psutil fails, NVML's name lookup is n/a too
    procs0 = [SimpleNamespace(pid=me, usedGpuMemory=3 * GiB)]
    procs1 = [
        SimpleNamespace(pid=gone, usedGpuMemory=None),
        SimpleNamespace(pid=me, usedGpuMemory=GiB // 2),
    ]
    gpus = [
        gpu("NVIDIA H100 80GB HBM3", 79.65, CudaComputeCapability=(9, 0),
            ComputeRunningProcesses=procs0),
        gpu("Tesla T4", 15.0, CudaComputeCapability=(7, 5), ComputeRunningProcesses=procs1,
            GraphicsRunningProcesses=[SimpleNamespace(pid=me, usedGpuMemory=GiB // 2)]),
    ]  # fmt: skip
    use_nvml(fake_nvml(gpus))
    result = probe()
    h100, t4 = result.gpus
    assert [g.index for g in result.gpus] == [0, 1]
    assert h100.bf16 is True and t4.bf16 is False and t4.compute_capability == (7, 5)
    assert h100.processes[0].used_gib == pytest.approx(3.0) and h100.processes[0].name
    assert [p.pid for p in t4.processes] == [me, gone]  # pid listed once, sorted
    assert t4.processes[1].name is NA and t4.processes[1].used_gib is NA
    assert match_catalog(h100).key == "h100-sxm" and match_catalog(t4).key == "t4"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["gpus"][1]["processes"][1] == {"pid": gone, "name": None, "used_gib": None}
    assert data["gpus"][0]["power_w"] == 120.5 and data["gpus"][0]["power_limit_w"] == 450.0
    assert [s["index"] for s in sample()] == [0, 1]


def test_sample_reuses_handles(use_nvml) -> None:
    mod = use_nvml(fake_nvml([gpu("NVIDIA L4", 22.49)]))
    counted = []
    real = mod.nvmlDeviceGetHandleByIndex
    mod.nvmlDeviceGetHandleByIndex = lambda i: counted.append(i) or real(i)
    for _ in range(3):
        assert set(sample()[0]) == {"index", "util", "mem_used_gib", "mem_total_gib", "temp_c",
                                    "power_w"}  # fmt: skip
    assert counted == [0]


def test_host_sample_reports_rss_of_a_pid() -> None:
    import os

    data = host_sample(os.getpid())
    assert set(data) == {"util", "ram_used_gib", "ram_total_gib", "rss_gib"}
    assert data["ram_total_gib"] > 0 and data["rss_gib"] > 0
    assert host_sample(dead_pid())["rss_gib"] is None


def test_probe_cli_json_and_table(cli, use_nvml) -> None:
    procs = [SimpleNamespace(pid=1, usedGpuMemory=GiB)]
    use_nvml(fake_nvml([gpu("NVIDIA GeForce RTX 4090", 23.99, ComputeRunningProcesses=procs)]))
    code, out, _ = cli("probe", "--json")
    assert code == 0 and json.loads(out)["gpus"][0]["name"] == "NVIDIA GeForce RTX 4090"
    code, out, _ = cli("probe")
    assert code == 0 and "RTX 4090" in out and "GPU processes" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_probe_cli_without_gpu(cli, use_nvml) -> None:
    use_nvml(fake_nvml([], init_error=NVMLError_LibraryNotFound("NVML Shared Library Not Found")))
    code, out, _ = cli("probe")
    assert code == 0
    assert "no NVIDIA GPU found (NVML library not found" in out and "--gpu NAME" in out
