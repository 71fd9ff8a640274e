"""What transformers' causal-LM loss holds at its peak, per token: the planner's "hf" loss term.

The planner counts the loss of a transformers model (``loss_impl="hf"``) as
``HF_LOSS_BYTES`` per token per vocabulary entry plus ``(RMSNORM_FP32_BYTES + e)`` per token
per hidden unit beyond the checkpointed residuals (planner/estimator.py). Those figures are
measured here, not fitted to published rows: a live-bytes counter (every storage an ATen op
creates, until it is freed) runs one forward and backward of a small random-init model, the
way the HF Trainer runs a step (the outputs are dropped before ``backward``), and the peak is
differenced over two vocabulary sizes and two hidden sizes, so everything else cancels.

    python bench/loss_path.py            # the installed transformers, bf16, with and without
                                         # reentrant checkpointing

Measured on CPU with transformers 4.45.2, 4.48.1 and 5.24: 12.0 bytes per token x vocab
(the log-softmax output it keeps, its incoming gradient and the logits' gradient, all fp32;
the bf16 logits are gone with the outputs) and 6.0 per token x hidden beyond the residuals
(RMSNorm's fp32 copy and the bf16 final hidden). The kernels allocate the same tensors on CUDA.
"""

from __future__ import annotations

import argparse
import weakref
from typing import Any

TOKENS = 512


def _live_bytes_mode() -> Any:
    """A dispatch mode that tracks the bytes of every storage an op creates until it dies
    (views and in-place results share an input's storage and are not counted twice)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_map_only

    class LiveBytes(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.live: dict[int, int] = {}
            self.current = 0
            self.peak = 0

        def _track(self, tensor: torch.Tensor) -> None:
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key == 0 or key in self.live:
                return
            self.live[key] = storage.nbytes()
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._free, key)

        def _free(self, key: int) -> None:
            self.current -= self.live.pop(key, 0)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            out = func(*args, **(kwargs or {}))
            inputs: set[int] = set()
            tree_map_only(torch.Tensor, lambda t: inputs.add(t.untyped_storage().data_ptr()),
                          (args, kwargs))  # fmt: skip
            tree_map_only(
                torch.Tensor,
                lambda t: None if t.untyped_storage().data_ptr() in inputs else self._track(t),
                out,
            )
            return out

    return LiveBytes()


def peak_bytes(vocab: int, hidden: int, layers: int, checkpointing: bool) -> int:
    """Peak live bytes of one training step of a random-init Llama in bf16 (the Trainer's
    order: forward, keep only the loss, backward)."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        hidden_size=hidden, intermediate_size=64, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=2, vocab_size=vocab,
        tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config).to(torch.bfloat16).train()
    if checkpointing and layers:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        model.requires_grad_(False)  # an adapter run: the frozen base, as PEFT leaves it
        model.enable_input_require_grads()
        model.model.layers[0].self_attn.q_proj.weight.requires_grad_(True)
    ids = torch.randint(0, vocab, (1, TOKENS))
    mode = _live_bytes_mode()
    with mode:
        loss = model(input_ids=ids, labels=ids)["loss"]
        loss.backward()
    return mode.peak


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    import transformers

    vocab, hidden = 16000, 512
    print(f"transformers {transformers.__version__}, {TOKENS} tokens, bf16")
    per_vocab = (peak_bytes(2 * vocab, 64, 1, False) - peak_bytes(vocab, 64, 1, False)) / (
        TOKENS * vocab
    )
    print(f"  loss: {per_vocab:.2f} bytes per token x vocabulary entry")
    layers = 3
    wide = peak_bytes(32000, 2 * hidden, layers, True)
    narrow = peak_bytes(32000, hidden, layers, True)
    beyond = (wide - narrow) / (TOKENS * hidden) - 2 * layers
    print(f"  head: {beyond:.2f} bytes per token x hidden beyond the {layers} checkpointed inputs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
