"""Resolving dataset names to files, with LLaMA-Factory's `dataset_info.json` convention.

LLaMA-Factory users already keep their data in folders with a `dataset_info.json` registry
(`file_name`, `formatting`, `ranking`, `columns`, `tags`); reading that convention as is means
their folders work unchanged (`data.dataset_dir`). A recipe's dataset entry is either a name
in that registry or a path to a data file (format then detected from the records).
`dataset_dir: null` means the demo data shipped inside the package (`tunetui.recipes/data`).

Light module: stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunetui.planner.errors import UserError, unknown
from tunetui.runner.userfiles import read_json_object

Formatting = Literal["alpaca", "sharegpt"]
DATA_SUFFIXES = (".json", ".jsonl", ".txt", ".csv")

# LLaMA-Factory's defaults for each column / tag when dataset_info.json leaves them out.
ALPACA_COLUMNS = {
    "prompt": "instruction",
    "query": "input",
    "response": "output",
    "history": None,
    "system": None,
    "tools": None,
    "chosen": None,
    "rejected": None,
    "kto_tag": None,
}
SHAREGPT_COLUMNS = {
    "messages": "conversations",
    "system": None,
    "tools": None,
    "chosen": None,
    "rejected": None,
    "kto_tag": None,
}
SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
_KNOWN_KEYS = {
    "file_name",
    "formatting",
    "ranking",
    "columns",
    "tags",
    "split",
    "folder",
    "subset",
    "hf_hub_url",
    "ms_hub_url",
    "om_hub_url",
    "script_url",
    "num_samples",
    "load_from",
}


@dataclass
class DatasetSpec:
    """One dataset: where its files are and how to read their records."""

    name: str
    files: list[Path]
    formatting: Formatting | None = None  # None: detect from the first record
    ranking: bool = False
    columns: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    explicit_columns: set[str] = field(default_factory=set)

    @property
    def is_kto(self) -> bool:
        return bool(self.columns.get("kto_tag"))

    def column(self, key: str) -> str | None:
        return self.columns.get(key)


def shipped_data_dir() -> Path:
    """The demo data folder inside the installed package (works for editable installs too)."""
    import importlib.resources

    return Path(str(importlib.resources.files("tunetui.recipes") / "data"))


def data_dir_of(dataset_dir: str | None) -> Path:
    """The folder a recipe's datasets are looked up in."""
    if dataset_dir is None or dataset_dir == "":
        return shipped_data_dir()
    return Path(dataset_dir).expanduser()


def load_dataset_info(folder: Path) -> dict[str, dict[str, Any]]:
    """Parse `<folder>/dataset_info.json`, or {} when the folder has none."""
    path = folder / "dataset_info.json"
    if not path.is_file():
        return {}
    return read_json_object(path, "dataset_info.json", "Fix dataset_info.json")


def _files_of(target: Path, name: str) -> list[Path]:
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
        if not files:
            raise UserError(
                f"dataset '{name}': folder {target} has no .json/.jsonl/.txt/.csv files",
                "Put the data files there or fix file_name",
            )
        return files
    if not target.is_file():
        raise UserError(
            f"dataset '{name}': file {target} not found", "Fix file_name in dataset_info.json"
        )
    return [target]


def spec_from_entry(name: str, entry: dict[str, Any], folder: Path) -> DatasetSpec:
    """Build a DatasetSpec from one dataset_info.json entry."""
    if not isinstance(entry, dict):
        raise UserError(f"dataset_info.json: entry '{name}' must be an object", "Fix it")
    bad = sorted(set(entry) - _KNOWN_KEYS)
    if bad:
        raise unknown(f"key in dataset_info.json entry '{name}'", bad[0], sorted(_KNOWN_KEYS))
    if "file_name" not in entry:
        hub = entry.get("hf_hub_url") or entry.get("ms_hub_url") or entry.get("script_url")
        raise UserError(
            f"dataset '{name}' is on a hub ({hub}), and tunetui reads local files only",
            f"Download it into {folder} and give the entry a file_name",
        )
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("alpaca", "sharegpt"):
        raise unknown(f"formatting for dataset '{name}'", str(formatting), ["alpaca", "sharegpt"])
    given = dict(entry.get("columns") or {})
    defaults = ALPACA_COLUMNS if formatting == "alpaca" else SHAREGPT_COLUMNS
    bad_cols = sorted(set(given) - set(defaults) - {"images", "videos", "audios", "response"})
    if bad_cols:
        raise unknown(f"column key in dataset '{name}'", bad_cols[0], sorted(defaults))
    tags = {**SHAREGPT_TAGS, **(entry.get("tags") or {})}
    return DatasetSpec(
        name=name,
        files=_files_of(folder / str(entry["file_name"]), name),
        formatting=formatting,
        ranking=bool(entry.get("ranking", False)),
        columns={**defaults, **given},
        tags=tags,
        explicit_columns=set(given),
    )


def looks_like_path(name: str) -> bool:
    """Whether a dataset entry is written as a file path rather than a registry name.

    A missing path deserves "file not found", not "unknown dataset" with registry names.
    """
    return (
        "/" in name or "\\" in name or name.startswith("~") or name.lower().endswith(DATA_SUFFIXES)
    )


def resolve_dataset(name: str, folder: Path, info: dict[str, dict[str, Any]]) -> DatasetSpec:
    """A registry name, else a path to a data file or folder (absolute or under `folder`)."""
    if name in info:
        return spec_from_entry(name, info[name], folder)
    for candidate in (Path(name).expanduser(), folder / name):
        if candidate.exists() and (candidate.is_dir() or candidate.suffix.lower() in DATA_SUFFIXES):
            return DatasetSpec(name=name, files=_files_of(candidate, name))
    if looks_like_path(name):
        where, fix = "", "Fix the path in data.datasets"
        if not Path(name).expanduser().is_absolute():
            where = f" (looked in {Path.cwd()} and {folder})"
            fix += " (relative paths start at the recipe file's folder)"
        raise UserError(f"dataset file '{name}' not found{where}", fix)
    if info:
        local = sorted(k for k, v in info.items() if isinstance(v, dict) and "file_name" in v)
        err = unknown("dataset", name, local or sorted(info))
        if not err.fix or not err.fix.startswith("Did you mean"):
            err = UserError(err.problem, f"{err.fix} (in {folder / 'dataset_info.json'})")
        raise err
    raise UserError(
        f"unknown dataset '{name}': no dataset_info.json in {folder} and no such file",
        "Give a path to a .json/.jsonl/.txt/.csv file or set data.dataset_dir",
    )


def resolve_datasets(names: list[str], dataset_dir: str | None) -> list[DatasetSpec]:
    """Every dataset a recipe names, resolved against its dataset_dir (or the shipped demo data)."""
    folder = data_dir_of(dataset_dir)
    if dataset_dir and not folder.is_dir():
        raise UserError(f"data.dataset_dir '{dataset_dir}' is not a folder", "Fix the path")
    if not names:
        raise UserError("data.datasets is empty", "Name at least one dataset, e.g. identity")
    info = load_dataset_info(folder)
    return [resolve_dataset(n.strip(), folder, info) for n in names]
