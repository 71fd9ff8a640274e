"""Tools for a trained model: load it with its adapter, chat, evaluate, export.

Heavy (torch, transformers, peft), like the training process, and used by the CLI
commands `chat`, `eval` and `export` inside their functions only.
"""
