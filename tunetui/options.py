"""The option vocabulary: every choice a user makes about a job, defined once.

A LoRA rank used to be called ``rank``, ``lora_rank``, ``lora.rank`` and ``r`` on its way from
the wizard to peft, with a default of 16 in the planner and 8 in the recipe, and the lists of
methods, optimizers and schedulers were restated in four places. Here each option has one
name (the ``tunetui init --headless`` flag without dashes), one place in the recipe, one
default, one help text and, when it is a choice, one list of choices. Everything else is
derived from this table:

- the recipe schema (`tunetui.runner.recipe`) takes defaults, bounds, help and choices from it
  (`field`), and its ``Literal`` types from the choice tuples;
- the ``init --headless`` flags (`tunetui.runner.flags`) are the options that have a flag;
- the wizard's state (`tunetui.tui.state`) is a mapping from these names to values;
- the planner's request (`tunetui.runner.flags.plan_request`) is the options the planner
  takes (`Option.plans`), under these same names, and the planner's defaults are these.

Stdlib only: the planner (no runner, no pydantic at import), the runner, the TUI and the CLI
all import it, so it must stay a leaf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- choices
STAGES = ("sft", "pt", "dpo", "kto", "orpo", "rm")
METHODS = ("lora", "qlora", "dora", "full", "freeze")
ADAPTER_METHODS = ("lora", "dora", "qlora")
BITS = (4, 8)
# adamw: torch AdamW, multi-tensor ("foreach"): a one-state temporary during step();
# adamw_fused: one fused kernel, no temporary (the Trainer's default on recent torch)
OPTIMIZERS = ("adamw_fused", "adamw", "adamw_8bit", "paged_adamw", "sgd", "galore")
# How the loss is computed (planner): hf = bf16 logits upcast to fp32 (transformers);
# chunked = per-chunk log-softmax (torchtune, LitGPT); fused = Liger fused linear CE, whose
# logits never exist (the recipe says it with `liger`); tiled = trl's fused LM head (SFT,
# pretraining, DPO, KTO on trl >= 1.16): the logits exist one tile at a time.
LOSS_IMPLS = ("hf", "chunked", "fused", "tiled")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "cosine_with_min_lr")
LOGGERS = ("none", "tensorboard", "wandb", "mlflow")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
ATTENTIONS = ("sdpa", "flash_attention_2", "eager")
TARGET_PRESETS = ("all", "attn", "qv")
PARALLELS = ("none", "ddp", "zero2", "zero3", "fsdp")
OFFLOADS = ("none", "cpu")  # ZeRO-3 / FSDP: parameters and optimizer states in host RAM

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class Option:
    """One user choice.

    ``name`` is the Python keyword and the flag (``--`` + dashes); ``path`` is where it lives
    in the recipe (dotted); ``kind`` says how a command line writes it: ``value``, ``bool``
    (``--x/--no-x``), ``list`` (repeatable) or ``csv`` (``a,b,c``). ``bounds`` are pydantic's
    ``ge``/``gt``/``lt``/``le``. ``plans`` marks the options the planner takes. ``type`` is
    the value's Python type, needed only where the default (None) does not tell it.
    """

    name: str
    path: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    kind: str = "value"
    bounds: dict[str, float] = field(default_factory=dict)
    plans: bool = False
    type: type | None = None
    aliases: tuple[str, ...] = ()  # more flags for the same option (``--seq``)
    # The methods the option means something for (empty: every method). The wizard shows a
    # LoRA rank only for adapters, the trainable layers only for freeze, the bits only for
    # qlora: a control that changes nothing must not be on screen.
    methods: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def value_type(self) -> type:
        """The type of one value: bool for switches, str for lists' items and csv."""
        if self.kind == "bool":
            return bool
        if self.kind in ("list", "csv"):
            return str
        return self.type or type(self.default)

    @property
    def section(self) -> str:
        """The recipe section it belongs to (help panels group flags by it)."""
        head = self.path.split(".")[0]
        return _SECTIONS.get(head, head)


_SECTIONS = {
    "name": "model", "stage": "model", "method": "model", "lora": "method", "freeze": "method",
    "quantization": "method", "output_dir": "training", "report_to": "training",
    "distributed": "training",
}  # fmt: skip


def _o(name: str, path: str, default: Any, help: str, **kw: Any) -> Option:
    return Option(name, path, default, help, **kw)


OPTIONS: tuple[Option, ...] = (
    _o("name", "name", "run", "Run name (letters, digits, . _ -)."),
    _o("model", "model.name_or_path", DEFAULT_MODEL, "Embedded id, HF folder or cached hub id.",
       plans=True),
    _o("stage", "stage", "sft", "Training stage.", choices=STAGES, plans=True),
    _o("method", "method", "lora", "Fine-tuning method.", choices=METHODS, plans=True),
    _o("dataset", "data.datasets", ["identity"],
       "Dataset file, folder, or name in dataset_info.json (repeatable, or a,b).", kind="list"),
    _o("dataset_dir", "data.dataset_dir", None, "Folder with dataset_info.json.", type=str),
    _o("template", "data.template", "auto", "Chat template (auto = the tokenizer's)."),
    _o("cutoff_len", "data.cutoff_len", 1024, "Max tokens per sample (the sequence length).",
       bounds={"ge": 16}, plans=True, aliases=("--seq",)),
    _o("packing", "data.packing", False, "Pack samples into full sequences.", kind="bool"),
    _o("val_size", "data.val_size", 0.0, "Fraction held out for evaluation.",
       bounds={"ge": 0.0, "lt": 1.0}),
    _o("max_samples", "data.max_samples", None, "Use at most N samples per dataset.",
       bounds={"ge": 1}, type=int),
    _o("train_on_prompt", "data.train_on_prompt", False,
       "Also learn the prompt (default: responses only).", kind="bool"),
    _o("mask_history", "data.mask_history", False,
       "Learn only the last answer of a conversation, not every turn.", kind="bool"),
    _o("rank", "lora.rank", 8, "LoRA rank.", bounds={"ge": 1, "le": 4096}, plans=True,
       methods=ADAPTER_METHODS),
    _o("alpha", "lora.alpha", 16, "LoRA alpha.", bounds={"ge": 1}, methods=ADAPTER_METHODS),
    _o("dropout", "lora.dropout", 0.05, "LoRA dropout.", bounds={"ge": 0.0, "lt": 1.0},
       methods=ADAPTER_METHODS, plans=True),
    _o("targets", "lora.targets", "all",
       "LoRA target modules: all | attn | qv, or module names a,b.", kind="csv", plans=True,
       methods=ADAPTER_METHODS),
    _o("trainable_layers", "freeze.trainable_layers", 2,
       "freeze: train the last N decoder layers.", bounds={"ge": 1}, methods=("freeze",)),
    _o("train_embeddings", "freeze.train_embeddings", False,
       "freeze: also train the embeddings.", kind="bool", methods=("freeze",)),
    _o("bits", "quantization.bits", None, "Quantized base weights (qlora), bits:",
       choices=BITS, plans=True, type=int, methods=("qlora",)),
    _o("epochs", "training.epochs", 1.0, "Epochs.", bounds={"gt": 0}, plans=True),
    _o("max_steps", "training.max_steps", None, "Optimizer steps (overrides epochs).",
       bounds={"ge": 1}, plans=True, type=int),
    _o("lr", "training.learning_rate", None,
       "Learning rate (default: by stage and method, see default_learning_rate).",
       bounds={"gt": 0}, type=float),
    _o("scheduler", "training.lr_scheduler", "cosine", "Learning-rate schedule.",
       choices=SCHEDULERS),
    _o("warmup_ratio", "training.warmup_ratio", 0.0, "Warm-up share of the steps.",
       bounds={"ge": 0.0, "lt": 1.0}),
    _o("batch", "training.batch_size", 2, "Per-device batch size.", bounds={"ge": 1},
       plans=True),
    _o("grad_accum", "training.grad_accum", 4, "Gradient accumulation steps.",
       bounds={"ge": 1}, plans=True),
    _o("grad_ckpt", "training.gradient_checkpointing", False, "Gradient checkpointing.",
       kind="bool", plans=True),
    _o("precision", "training.precision", "auto", "Training precision.", choices=PRECISIONS,
       plans=True),
    _o("optim", "training.optimizer", "adamw_fused", "Optimizer.", choices=OPTIMIZERS,
       plans=True),
    _o("seed", "training.seed", 42, "Random seed."),
    _o("save_steps", "training.save_steps", 100, "Checkpoint every N steps.", bounds={"ge": 1}),
    _o("eval_steps", "training.eval_steps", None, "Evaluate every N steps.", bounds={"ge": 1},
       type=int),
    _o("logging_steps", "training.logging_steps", 1, "Log every N steps.", bounds={"ge": 1}),
    _o("save_total_limit", "training.save_total_limit", 2, "Keep at most N checkpoints.",
       bounds={"ge": 1}),
    _o("pref_beta", "training.pref_beta", 0.1, "Beta for DPO/KTO/ORPO.", bounds={"gt": 0}),
    _o("weight_decay", "training.weight_decay", 0.0, "Weight decay.", bounds={"ge": 0.0}),
    _o("max_grad_norm", "training.max_grad_norm", 1.0, "Gradient clipping norm.",
       bounds={"ge": 0.0}),
    _o("output_dir", "output_dir", None, "Run folder (default: runs/<name>).", type=str),
    _o("report_to", "report_to", ["none"], "Loggers (repeatable, or a,b).", choices=LOGGERS,
       kind="list"),
    _o("trust_remote_code", "model.trust_remote_code", False,
       "Run the model's own code from its folder.", kind="bool"),
    _o("attn", "model.attn_implementation", "sdpa", "Attention implementation.",
       choices=ATTENTIONS, plans=True),
    _o("liger", "model.liger_kernel", False,
       "Use Liger kernels when installed (fused linear cross-entropy: no logits).",
       kind="bool", plans=True),
    # More than one GPU or node (runner.distributed): not `plans`, because `plan` has its
    # own --gpus/--parallel; the launcher passes them to the planner (launcher.make_plan).
    _o("parallel", "distributed.strategy", "none",
       "Multi-GPU strategy (through accelerate; zero2/zero3 need the deepspeed extra).",
       choices=PARALLELS),
    _o("gpus", "distributed.num_processes", None,
       "Processes (GPUs) per machine (default: every visible GPU).", bounds={"ge": 1},
       type=int),
    _o("offload", "distributed.offload", "none",
       "zero3/fsdp: parameters and optimizer states in CPU RAM.", choices=OFFLOADS, plans=True),
    _o("num_machines", "distributed.num_machines", 1, "Machines (nodes) in the job.",
       bounds={"ge": 1}),
    _o("machine_rank", "distributed.machine_rank", 0, "This machine's rank (0 = main).",
       bounds={"ge": 0}),
    _o("main_process_ip", "distributed.main_process_ip", None,
       "Address of machine 0 (more than one machine).", type=str),
    _o("main_process_port", "distributed.main_process_port", None,
       "Port on machine 0 (default: a free one; fix it for several machines).",
       bounds={"ge": 1, "le": 65535}, type=int),
)  # fmt: skip
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
BY_PATH: dict[str, Option] = {o.path: o for o in OPTIONS}


def applies(name: str, method: str) -> bool:
    """Whether option `name` means anything for `method` (see `Option.methods`)."""
    methods = BY_NAME[name].methods
    return not methods or method in methods


def default(name: str) -> Any:
    """The default of option `name` (a fresh copy for lists)."""
    value = BY_NAME[name].default
    return list(value) if isinstance(value, list) else value


# Learning rates people use per stage and method when they don't pick one (LLaMA-Factory's
# example recipes and trl's defaults): adapters tolerate ~10x the rate of full fine-tuning,
# and preference stages want far smaller steps than SFT.
_LR = {
    ("sft", True): 2e-4, ("sft", False): 2e-5,
    ("pt", True): 2e-4, ("pt", False): 2e-5,
    ("rm", True): 1e-4, ("rm", False): 1e-5,
    ("dpo", True): 5e-6, ("dpo", False): 1e-6,
    ("kto", True): 5e-6, ("kto", False): 1e-6,
    ("orpo", True): 8e-6, ("orpo", False): 2e-6,
}  # fmt: skip


def default_learning_rate(stage: str, method: str) -> float:
    """The learning rate a recipe gets when nobody chose one (the ``lr`` option's default)."""
    return _LR.get((stage, method in ADAPTER_METHODS), 2e-4)


def unknown_choice(name: str, value: Any) -> tuple[str, str, list[str]] | None:
    """(the flag, the bad value, the choices) when `value` (or an item of a list) is not
    among option `name`'s choices: the arguments of `planner.errors.unknown`."""
    choices = BY_NAME[name].choices
    values = value if isinstance(value, list) else [value]
    if value is None or not choices or all(v in choices for v in values):
        return None
    bad = next(v for v in values if v not in choices)
    return BY_NAME[name].flag, str(bad), [str(c) for c in choices]


def contradiction(method: str, given: dict[str, Any]) -> tuple[str, str] | None:
    """(problem, fix) when options given together contradict each other, else None.

    One rule for every surface (the flags of `init` and `plan`, the wizard, the recipe):
    an option given for a method it means nothing for is refused, never silently dropped,
    with the fix. A bit width with LoRA is named for what it means (that is QLoRA).
    """
    bits = given.get("bits")
    if bits in BITS and method in ("lora", "dora"):
        return (
            f"--bits {bits} with --method {method}: a {bits}-bit base is QLoRA",
            f"Use --method qlora --bits {bits}, or drop --bits for a 16-bit base",
        )
    if method == "qlora" and bits not in (None, *BITS):
        return (
            f"--method qlora with --bits {bits}: QLoRA trains on a 4- or 8-bit base",
            "Use --bits 4 or 8, or --method lora for a 16-bit base",
        )
    for name, value in given.items():
        if value is None or name not in BY_NAME or applies(name, method):
            continue
        if name == "bits" and value == 16:
            continue  # 16 bits = an unquantized base: true of every other method
        allowed = ", ".join(BY_NAME[name].methods)
        shown = ",".join(map(str, value)) if isinstance(value, list) else value
        return (
            f"{BY_NAME[name].flag} {shown} means nothing for --method {method} "
            f"(only for {allowed})",
            f"Drop {BY_NAME[name].flag}, or use --method {BY_NAME[name].methods[0]}",
        )
    return None
