"""The training process: `python -m tunetui.runner.train.worker RUN_DIR`.

Everything here may import torch, transformers, peft and trl; nothing on the light side of
the runner (recipe, launcher, console, run state) imports this package, so `tunetui run`
and the TUI start without them. Import contracts in pyproject.toml keep it that way.
"""
