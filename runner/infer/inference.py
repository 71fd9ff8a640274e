"""Load a trained result for generation: a run, an adapter, a model directory or a model name.

Export, chat, eval and the demo all start from the same question: "the user pointed at
*this*; which base model and which adapter does that mean?". `resolve_target` answers it
without torch (so bad input fails fast, with one line), and `load_model` turns the answer
into a ready ``(model, tokenizer)`` pair. `generate` is the one greedy/sampling call they
all share, so the demo's answers are exactly what ``tunetui chat --prompt`` prints.

Heavy libraries (torch, transformers, peft) are imported inside functions only.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunetui.planner.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ADAPTER_CONFIG = "adapter_config.json"
# Used only when a tokenizer ships no chat template (a base model): ChatML, which is what
# SmolLM2 and most small instruct models use, so prompts still look like conversations.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Target:
    """What a user's RUN|ADAPTER|MODEL argument means.

    ``base`` is a local model directory; ``adapter`` a PEFT adapter directory or None;
    ``run_dir`` is set when the user named a run; ``quantized`` is True when the adapter was
    trained on a quantized (QLoRA) base, which matters for merging.
    """

    base: Path
    adapter: Path | None = None
    run_dir: Path | None = None
    quantized: bool = False
    trust_remote_code: bool = False

    @property
    def label(self) -> str:
        """Short human name: the run's or adapter's folder, else the model's."""
        if self.run_dir is not None:
            return self.run_dir.name
        return str(self.adapter or self.base)


def quiet_libraries() -> None:
    """Silence import-time chatter (bitsandbytes' CPU-kernel warning, hub progress bars).

    Output of chat/eval/demo must be readable in a pipe; these messages are noise there.
    """
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - the training extra is missing
        pass


def _resolve_model_dir(name: str) -> Path:
    """A model name or path to a local directory (the embedded model is converted once)."""
    try:
        from tunetui.runner.train.loading import resolve_model_dir
    except ImportError as exc:  # pragma: no cover - only while runner.models is missing
        path = Path(name).expanduser()
        if (path / "config.json").is_file():
            return path
        raise UserError(
            f"cannot resolve model '{name}' ({exc})", "pass a local Hugging Face model directory"
        ) from exc
    return Path(resolve_model_dir(name))


def _read_recipe_model(run_dir: Path) -> tuple[str, str, bool]:
    """(model name_or_path, method, trust_remote_code) from a run's resolved recipe."""
    recipe_path = run_dir / "recipe.yaml"
    try:
        from tunetui.runner.recipe_io import load_recipe

        recipe = load_recipe(recipe_path)
        return recipe.model.name_or_path, recipe.method, recipe.model.trust_remote_code
    except ImportError:  # pragma: no cover - only while recipe_io is missing
        import yaml

        data = yaml.safe_load(recipe_path.read_text(encoding="utf-8")) or {}
        model = data.get("model") or {}
        return (
            model.get("name_or_path", "smollm2-135m"),
            data.get("method", "lora"),
            bool(model.get("trust_remote_code", False)),
        )


def _adapter_base(adapter: Path) -> str | None:
    """The base model path recorded in an adapter's config (None if unreadable)."""
    try:
        config = json.loads((adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("base_model_name_or_path") or None


def is_run_dir(path: Path) -> bool:
    """A tunetui run directory: it has the resolved recipe the launcher writes."""
    return (path / "recipe.yaml").is_file()


def resolve_target(target: str, adapter: str | None = None) -> Target:
    """Turn the user's RUN|ADAPTER_DIR|MODEL (+ optional --adapter) into a `Target`.

    A run gives its ``adapter/`` (on the recipe's base model) or its ``model/``; an adapter
    directory gives itself on the base recorded in ``adapter_config.json``; anything else is
    a model directory or a name that `runner.models.resolve_model_dir` knows.
    """
    path = _named_run(target) or Path(target).expanduser()
    extra_adapter = _check_adapter(Path(adapter).expanduser()) if adapter else None
    if path.is_dir() and is_run_dir(path):
        result = _resolve_run(path)
        if extra_adapter is not None:
            if result.adapter is not None:
                raise UserError(
                    f"run '{path}' already has an adapter, and --adapter was given too",
                    "drop --adapter, or point at the run's base model instead of the run",
                )
            return Target(base=result.base, adapter=extra_adapter, run_dir=path)
        return result
    if path.is_dir() and (path / ADAPTER_CONFIG).is_file():
        if extra_adapter is not None:
            raise UserError(
                f"'{path}' is an adapter, and --adapter was given too",
                "give the base model first and the adapter with --adapter, or just the adapter",
            )
        return Target(base=_base_for_adapter(path, None), adapter=path)
    if path.exists() and not (path / "config.json").is_file():
        raise UserError(
            f"'{path}' is not a run, an adapter or a model directory (no recipe.yaml, "
            f"{ADAPTER_CONFIG} or config.json)",
            "point at runs/<name>, its adapter/ folder, or a Hugging Face model folder",
        )
    if not path.exists() and _looks_like_path(target):
        raise UserError(f"'{target}' does not exist", "check the path; `tunetui runs` lists runs")
    return Target(base=_resolve_model_dir(target), adapter=extra_adapter)


def _named_run(name: str) -> Path | None:
    """``demo`` -> ``runs/demo`` when a run of that name exists and no such path does."""
    if Path(name).expanduser().exists() or os.sep in name:
        return None
    try:
        from tunetui.runner.rundir import runs_root
    except ImportError:  # pragma: no cover - only while rundir is missing
        return None
    candidate = runs_root() / name
    return candidate if is_run_dir(candidate) else None


def _looks_like_path(text: str) -> bool:
    """True for './x', '/x', '~/x' or 'runs/x' (an existing first folder), not 'org/model'."""
    if text.startswith((".", "/", "~")):
        return True
    head = Path(text).parts[0] if Path(text).parts else ""
    return os.sep in text and Path(head).is_dir()


def _check_adapter(path: Path) -> Path:
    if not (path / ADAPTER_CONFIG).is_file():
        raise UserError(
            f"'{path}' is not a PEFT adapter (no {ADAPTER_CONFIG})",
            "pass the adapter/ folder of a LoRA run with --adapter",
        )
    return path


def _resolve_run(run_dir: Path) -> Target:
    name, method, trust = _read_recipe_model(run_dir)
    adapter, model = run_dir / "adapter", run_dir / "model"
    if (adapter / ADAPTER_CONFIG).is_file():
        return Target(
            base=_base_for_adapter(adapter, name),
            adapter=adapter,
            run_dir=run_dir,
            quantized=method == "qlora",
            trust_remote_code=trust,
        )
    if (model / "config.json").is_file():
        return Target(base=model, run_dir=run_dir, trust_remote_code=trust)
    raise UserError(
        f"run '{run_dir}' has no adapter/ or model/ yet (still training, stopped or failed)",
        f"wait for it to finish (`tunetui attach {run_dir}`) or resume it",
    )


def _base_for_adapter(adapter: Path, recipe_model: str | None) -> Path:
    """The base model directory for an adapter: the recipe's model, else the recorded one."""
    for candidate in (recipe_model, _adapter_base(adapter)):
        if not candidate:
            continue
        local = Path(candidate).expanduser()
        if (local / "config.json").is_file():
            return local
        try:
            return _resolve_model_dir(candidate)
        except UserError:
            continue
    raise UserError(
        f"cannot find the base model of adapter '{adapter}'",
        "pass the base model and the adapter: `<MODEL> --adapter <ADAPTER_DIR>`",
    )


def pick_device() -> str:
    """'cuda' when a GPU is usable, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def generation_dtype(device: str) -> Any:
    """bf16 on GPUs that support it; fp32 on CPU, where bf16 matmuls are slower, not faster."""
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(target: Target) -> PreTrainedTokenizerBase:
    """The adapter's own tokenizer (it carries the training chat template), else the base's."""
    from transformers import AutoTokenizer

    source = target.base
    if target.adapter is not None and (target.adapter / "tokenizer_config.json").is_file():
        source = target.adapter
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=target.trust_remote_code)
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    target: Target,
    device: str | None = None,
    dtype: Any = None,
    merge: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``target`` ready for generation: base model, plus the adapter when there is one.

    The base is always loaded unquantized (a QLoRA adapter works on a 16-bit base too, and
    that is what merging needs). With ``merge=True`` the adapter is folded into the weights
    (faster generation, no peft wrapper); otherwise the result is a ``PeftModel`` whose
    ``disable_adapter()`` context gives the base model's behaviour without a second load.
    """
    quiet_libraries()
    from transformers import AutoModelForCausalLM

    device = device or pick_device()
    dtype = dtype if dtype is not None else generation_dtype(device)
    tokenizer = load_tokenizer(target)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            target.base, dtype=dtype, trust_remote_code=target.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise UserError(
            f"cannot load model '{target.base}': {str(exc).splitlines()[0]}",
            "check that the folder is a complete Hugging Face causal-LM checkpoint",
        ) from exc
    if target.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, target.adapter)
        if merge:
            model = model.merge_and_unload()
    model.to(device)
    model.eval()
    return model, tokenizer


def chat_inputs(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> Any:
    """Tokenised chat prompt ending with the assistant turn's opening (a BatchEncoding)."""
    return tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    messages: list[dict[str, str]],
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    streamer: Any = None,
    stopping_criteria: Any = None,
) -> str:
    """One assistant reply to ``messages``. ``temperature=0`` is greedy, so it is reproducible."""
    import torch

    inputs = chat_inputs(tokenizer, messages).to(model.device)
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id,
        "streamer": streamer,
        "stopping_criteria": stopping_criteria,
    }
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature, top_p=0.95)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        output = model.generate(**inputs, **kwargs)
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def base_and_tuned_answers(
    target: Target, questions: list[str], max_new_tokens: int = 64
) -> list[dict[str, str]]:
    """Greedy answers to each question from the base model and from base + adapter.

    One load serves both: the adapter is switched off with peft's ``disable_adapter()``
    for the base answers, so the comparison costs a single model load.
    """
    if target.adapter is None:
        raise UserError(f"'{target.label}' has no adapter to compare", "train a LoRA run first")
    model, tokenizer = load_model(target, merge=False)
    rows = []
    for question in questions:
        messages = [{"role": "user", "content": question}]
        with model.disable_adapter():
            base = generate(model, tokenizer, messages, max_new_tokens)
        tuned = generate(model, tokenizer, messages, max_new_tokens)
        rows.append({"question": question, "base": base, "tuned": tuned})
    return rows
