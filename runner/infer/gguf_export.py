"""``tunetui export --gguf``: merge, convert, quantize, write a Modelfile, verify.

The steps, all into a temporary sibling folder renamed into place at the end (so an
interrupted export leaves nothing half written):

1. merge the adapter into its base (`export.export_merged`, CPU, checkpoint dtype); a run
   without an adapter (full fine-tuning) or a plain model folder is converted as is;
2. convert with llama.cpp's converter (`gguf.convert`), and quantize below 8 bits with
   llama.cpp's quantizer;
3. write an Ollama ``Modelfile`` beside the GGUF (`modelfile`), from the merged model's own
   chat template, EOS and generation config;
4. verify (`verify.verify_gguf`) and write the table to ``verification.json``.

An export that fails its verification is still written (to inspect it) but reported as
failed, and the CLI exits 1: a file that talks gibberish is not called good.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunetui.planner.errors import UserError
from tunetui.runner.data.templates import special_tokens, template_source
from tunetui.runner.infer import gguf, modelfile
from tunetui.runner.infer.export import check_output, export_merged
from tunetui.runner.infer.inference import quiet_libraries
from tunetui.runner.infer.target import Target
from tunetui.runner.infer.verify import VERIFICATION_FILE, Verification, verify_gguf
from tunetui.runner.rundir import replace_folder


@dataclass
class GgufResult:
    """What was written, for the CLI's message and ``--json``."""

    output: str
    gguf: str
    quant: str
    size_mb: float
    seconds: float
    modelfile: str
    ollama_name: str
    template_note: str
    verification: Verification

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "verification"}
        return {**data, "verification": self.verification.as_dict()}


def default_gguf_output(target: Target) -> Path:
    """``<run>/gguf`` for a run, ``<adapter>-gguf`` beside an adapter folder, and
    ``./<model>-gguf`` for a plain model (never inside a cache or someone's model folder)."""
    if target.run_dir is not None:
        return target.run_dir / "gguf"
    if target.adapter is not None:
        return target.adapter.with_name(target.adapter.name + "-gguf")
    return Path.cwd() / f"{ollama_name(target)}-gguf"


def ollama_name(target: Target) -> str:
    """A model name ``ollama create`` accepts: lowercase letters, digits, - _ ."""
    raw = target.label if target.run_dir or target.adapter else target.base.name
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(raw).name.lower())
    return name.strip("-.") or "tunetui-model"


def export_gguf(
    target: Target,
    quant: str = "q8_0",
    output: Path | None = None,
    overwrite: bool = False,
    say=print,
) -> GgufResult:
    """Write ``<output>/<name>-<quant>.gguf``, its Modelfile and its verification."""
    if quant not in gguf.QUANTS:
        raise UserError(f"unknown --quant {quant!r}", f"choose one of {', '.join(gguf.QUANTS)}")
    if quant not in ("f16", "q8_0"):
        gguf.require_llama_cpp(f"--quant {quant}")
    output = Path(output) if output is not None else default_gguf_output(target)
    check_output(output, overwrite)
    started = time.monotonic()
    quiet_libraries()
    name = ollama_name(target)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.work-", dir=output.parent))
    try:
        hf_dir = _merged_source(target, work, say)
        gguf_file = tmp / f"{name}-{quant}.gguf"
        _convert(hf_dir, gguf_file, quant, work, say)
        card, note = _modelfile(hf_dir, gguf_file.name)
        (tmp / "Modelfile").write_text(card.text(), encoding="utf-8")
        say(f"verifying {gguf_file.name} against {hf_dir.name} ...")
        report = verify_gguf(hf_dir, gguf_file, quant, "" if note else card.template, card.system)
        if note:
            report.add("Modelfile template", False, note)
        (tmp / VERIFICATION_FILE).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        replace_folder(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    final = output / gguf_file.name
    return GgufResult(
        output=str(output),
        gguf=str(final),
        quant=quant,
        size_mb=round(final.stat().st_size / 1e6, 1),
        seconds=round(time.monotonic() - started, 1),
        modelfile=str(output / "Modelfile"),
        ollama_name=name,
        template_note=note,
        verification=report,
    )


def _merged_source(target: Target, work: Path, say) -> Path:
    """The HF folder to convert: the merged model, or the model itself without adapter."""
    if target.adapter is None:
        return target.base
    say(f"merging {target.adapter} into {target.base} ...")
    return Path(export_merged(target, work / "merged").output)


def _convert(hf_dir: Path, gguf_file: Path, quant: str, work: Path, say) -> None:
    say(f"converting to GGUF ({quant}) with llama.cpp's converter ...")
    log = work / "convert.log"
    if quant in ("f16", "q8_0"):
        gguf.convert(hf_dir, gguf_file, quant, log, say)
        return
    f16 = work / "f16.gguf"
    gguf.convert(hf_dir, f16, "f16", log, say)
    say(f"quantizing to {quant} with llama.cpp's quantizer ...")
    gguf.quantize(f16, gguf_file, quant, log)


def _modelfile(hf_dir: Path, gguf_name: str) -> tuple[modelfile.Modelfile, str]:
    """The Modelfile for the merged model, and a note when its template is not translated."""
    source, _ = template_source("auto", hf_dir)
    tokens = special_tokens(hf_dir)
    generation = _read_json(hf_dir / "generation_config.json")
    try:
        fmt = modelfile.chat_format(source, tokens["eos_token"])
    except modelfile.UnsupportedTemplate as exc:
        card = modelfile.Modelfile(gguf_name, "{{ .Prompt }}", stops=[tokens["eos_token"]])
        return card, f"chat template not translated ({exc}); Ollama will use the raw prompt"
    card = modelfile.Modelfile(
        gguf_name,
        modelfile.ollama_template(fmt),
        system=fmt.default_system,
        stops=modelfile.stop_strings(fmt, [tokens["eos_token"]]),
        parameters=modelfile.generation_parameters(generation, None),
    )
    return card, ""


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
