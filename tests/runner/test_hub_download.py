"""Models from the Hub, faked: a local folder plays the Hub, `snapshot_download` is patched.

No test touches the network. The fake keeps the real function's contract that tunetui
relies on: ``local_files_only`` answers from the cache or raises LocalEntryNotFoundError,
``allow_patterns`` filters files, gated and unknown repos raise huggingface_hub's errors.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

import pytest
from tunetui.planner.errors import UserError
from tunetui.runner.modelpath import check_model, fetch_hub_model, locate_model


def _http_error(kind: type, message: str):
    import httpx2

    request = httpx2.Request("GET", "https://huggingface.co/api/models/x")
    return kind(message, response=httpx2.Response(401, request=request))


class FakeHub:
    """Repos are local folders; downloads copy them into a cache folder."""

    def __init__(self, root: Path, repos: dict[str, Path]) -> None:
        self.cache, self.repos = root / "hf-cache", repos
        self.downloads: list[str] = []

    def snapshot_download(
        self, repo_id, local_files_only=False, allow_patterns=None, tqdm_class=None, **_
    ):
        from huggingface_hub.errors import (
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
        )

        folder = self.cache / repo_id.replace("/", "--")
        if folder.is_dir():
            return str(folder)
        if local_files_only:
            raise LocalEntryNotFoundError(f"{repo_id} is not cached")
        if repo_id.endswith("gated"):
            raise _http_error(GatedRepoError, "403 gated")
        if repo_id not in self.repos:
            raise _http_error(RepositoryNotFoundError, "404")
        self.downloads.append(repo_id)
        folder.mkdir(parents=True)
        wanted = [
            path
            for path in sorted(self.repos[repo_id].iterdir())
            if any(fnmatch.fnmatch(path.name, p) for p in allow_patterns or ["*"])
        ]
        # Progress as huggingface_hub reports it: a bytes bar and a files bar.
        total = sum(path.stat().st_size for path in wanted)
        files = tqdm_class(total=len(wanted), desc="Fetching") if tqdm_class else None
        data = tqdm_class(total=total, unit="B", unit_scale=True) if tqdm_class else None
        for path in wanted:
            shutil.copy(path, folder / path.name)
            if files is not None and data is not None:
                data.update(path.stat().st_size)
                files.update(1)
        for bar in (data, files):
            if bar is not None:
                bar.close()
        return str(folder)


@pytest.fixture
def hub(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    import huggingface_hub

    repo = tmp_path / "repo"
    shutil.copytree(tiny_model_dir, repo)
    (repo / "model-q4.gguf").write_bytes(b"GGUF")  # not wanted for training
    fake = FakeHub(tmp_path, {"org/tiny": repo})
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return fake


def test_a_hub_model_is_downloaded_once_without_other_formats(hub: FakeHub) -> None:
    said: list[str] = []
    check_model("org/tiny", say=said.append)
    folder = locate_model("org/tiny")
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not (folder / "model-q4.gguf").exists()
    assert said == ["downloading org/tiny from the Hugging Face Hub into the HF cache ..."]
    check_model("org/tiny", say=said.append)
    assert hub.downloads == ["org/tiny"] and len(said) == 1


def test_offline_a_cached_model_needs_no_download(hub: FakeHub, monkeypatch) -> None:
    fetch_hub_model("org/tiny")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch_hub_model("org/tiny") == locate_model("org/tiny")
    assert hub.downloads == ["org/tiny"]


def test_offline_an_uncached_model_is_one_line_with_the_fetch_command(hub, monkeypatch, cli):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = cli("chat", "org/tiny", "--prompt", "hi")
    assert code == 2 and "`hf download org/tiny`" in err and "HF_HUB_OFFLINE" in err
    assert len(err.strip().splitlines()) == 1 and hub.downloads == []


def test_a_gated_model_without_token_is_one_line(hub: FakeHub) -> None:
    with pytest.raises(UserError, match="gated") as info:
        check_model("org/gated")
    assert "HF_TOKEN" in str(info.value) and len(str(info.value).splitlines()) == 1


def test_an_unknown_hub_model_is_one_line(hub: FakeHub) -> None:
    with pytest.raises(UserError, match="not on the Hub"):
        fetch_hub_model("org/nope")


def test_the_training_process_downloads_too(hub: FakeHub) -> None:
    from tunetui.runner.train.loading import resolve_model_dir

    lines: list[str] = []
    folder = resolve_model_dir("org/tiny", log=lines.append)
    assert (folder / "config.json").is_file() and lines and hub.downloads == ["org/tiny"]


def test_download_progress_reaches_a_callback_not_the_terminal(hub: FakeHub, capsys) -> None:
    """A TUI cannot have bars written over its screen: `progress_bars` hands the counts to
    a callback instead, bytes and files, ending at the totals."""
    from tunetui.runner.modelpath import needs_download, progress_bars

    assert needs_download("org/tiny") and not needs_download("smollm2-135m")
    seen = []
    fetch_hub_model("org/tiny", tqdm_class=progress_bars("org/tiny", seen.append))
    last = seen[-1]
    assert last.bytes_total > 0 and last.bytes_done == last.bytes_total
    assert last.files_done == last.files_total == len(list(locate_model("org/tiny").iterdir()))
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
    assert f"/{last.files_total} files" in last.text()
    assert capsys.readouterr().err == "" and not needs_download("org/tiny")


def test_the_tui_services_report_a_download_from_start_to_finish(hub: FakeHub) -> None:
    """`Services.fetch_model` (the review step's Launch): the first report opens the
    panel, the last one (``finished``) closes it; a cached model reports nothing."""
    from tunetui.tui.services import Services

    services = Services()
    reports = []
    services.on_download = reports.append
    services.fetch_model("org/tiny")
    assert not reports[0].finished and reports[0].repo_id == "org/tiny"
    assert reports[-1].finished and reports[-1].bytes_done == reports[-1].bytes_total > 0
    assert sum(r.finished for r in reports) == 1
    reports.clear()
    services.fetch_model("org/tiny")
    assert reports == [] and hub.downloads == ["org/tiny"]


def test_a_failed_download_still_closes_the_panel(hub: FakeHub) -> None:
    from tunetui.tui.services import Services

    services = Services()
    reports = []
    services.on_download = reports.append
    with pytest.raises(UserError, match="gated"):
        services.fetch_model("org/gated")
    assert [r.finished for r in reports] == [False, True]
