"""Keeping train.log readable: no hub access, progress bars, model cards or library
chatter; our own progress lines and the events carry the progress.
"""

from __future__ import annotations

import os
from typing import Any


def quiet_libraries() -> None:
    """No hub access ever, and no progress bars or deprecation chatter in train.log: our
    own progress lines and the events carry the progress."""
    import logging
    import warnings

    # bitsandbytes' CPU backend looks for an optional Hub kernel and warns when it is not
    # there; the built-in kernel works, so the warning would only alarm users.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        import datasets
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_warning()
        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()
    except ImportError:
        pass


def drop_printer(trainer: Any) -> None:
    """With tqdm off, transformers prints every log dict; our callback already prints a
    readable line per log, so the raw dicts would only double train.log."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def no_model_cards(trainer: Any) -> None:
    """trl writes a model-card README.md into ``args.output_dir`` (our ``checkpoints/``) at
    every checkpoint; that folder holds resumable state only, so the card is dropped. The
    adapter/model folder still gets peft's own README from ``save_pretrained``."""
    if hasattr(trainer, "create_model_card"):
        trainer.create_model_card = lambda *args, **kwargs: None
