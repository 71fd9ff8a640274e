"""The CPU worker's malloc (runner.allocator): mimalloc for CPU runs, glibc elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tunetui.runner import allocator, launcher
from waiting import wait_until

# CI installs the `train` extra, which brings cmeel-mimalloc on Linux x86_64
MIMALLOC = allocator.mimalloc_library()


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (allocator.ALLOCATOR_ENV, "LD_PRELOAD", "PYTORCH_CUDA_ALLOC_CONF",
                 "PYTORCH_ALLOC_CONF"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_the_installed_mimalloc_is_found_without_loading_it() -> None:
    assert MIMALLOC is not None and MIMALLOC.name == "libmimalloc.so" and MIMALLOC.is_file()
    assert allocator.allocator_library() == str(MIMALLOC)


def test_only_a_cpu_run_gets_it_and_an_existing_preload_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "LD_PRELOAD" not in allocator.worker_env("cuda")
    assert allocator.worker_env(None) == {}  # no plan: leave the worker as it was
    monkeypatch.setenv("LD_PRELOAD", "/opt/libprofiler.so")
    assert allocator.worker_env("cpu") == {"LD_PRELOAD": f"{MIMALLOC} /opt/libprofiler.so"}


def test_the_user_can_keep_glibc_or_name_a_library(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(allocator.ALLOCATOR_ENV, "system")
    assert allocator.worker_env("cpu") == {}
    lib = tmp_path / "libjemalloc.so.2"
    lib.write_bytes(b"")
    monkeypatch.setenv(allocator.ALLOCATOR_ENV, str(lib))
    assert allocator.worker_env("cpu") == {"LD_PRELOAD": str(lib)}


def test_without_mimalloc_a_system_jemalloc_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "mimalloc_library", lambda: None)
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    assert allocator.worker_env("cpu") == {}
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: f"lib{name}.so.2")
    assert allocator.worker_env("cpu") == {"LD_PRELOAD": "libjemalloc.so.2"}


@pytest.mark.parametrize(
    ("preload", "name"),
    [("", "glibc"), (f"{MIMALLOC}", "mimalloc"), ("libjemalloc.so.2 x.so", "jemalloc")],
)
def test_the_worker_names_what_it_runs_on(
    preload: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LD_PRELOAD", preload)
    assert allocator.allocator_in_use() == name


def test_the_launcher_preloads_it_into_a_cpu_worker_only(
    fake_runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's environment, as the launcher builds it from plan.json (no GPU here)."""
    recipe = fake_runs("alloc", max_steps=1)
    dump = "import os, sys; open(sys.argv[1] + '/env.txt', 'w').write(os.environ['LD_PRELOAD'])"
    monkeypatch.setenv(launcher.WORKER_ENV, f'{sys.executable} -c "{dump}"')
    launch = launcher.start_run(recipe)
    assert launch.process.wait(timeout=30) == 0
    env_file = launch.run_dir / "env.txt"
    wait_until(env_file.exists)
    assert env_file.read_text() == str(MIMALLOC)


def test_a_gpu_run_gets_expandable_segments_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert allocator.worker_env("cuda") == {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    monkeypatch.setenv("PYTORCH_ALLOC_CONF", "max_split_size_mb:128")
    assert allocator.worker_env("cuda") == {}  # theirs, under either name, wins
    monkeypatch.delenv("PYTORCH_ALLOC_CONF")
    monkeypatch.setenv(allocator.ALLOCATOR_ENV, "system")
    assert allocator.worker_env("cuda") == {}
