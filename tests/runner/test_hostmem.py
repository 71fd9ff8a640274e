"""CPU host-memory settings (runner.train.hostmem): the same loss in smaller tiles."""

from __future__ import annotations

import torch
from tunetui.runner.train import hostmem


def test_trl_still_has_the_tile_constants_the_worker_shrinks() -> None:
    kernel, trainer_utils = hostmem.head_tile_settings()
    assert isinstance(kernel.TOKEN_CHUNK_SIZE, int)
    assert isinstance(trainer_utils._CHUNKED_LOGPROB_CHUNK_SIZE, int)


def test_small_tiles_are_applied_and_never_grow_a_smaller_setting(monkeypatch) -> None:
    kernel, trainer_utils = hostmem.head_tile_settings()
    monkeypatch.setattr(kernel, "TOKEN_CHUNK_SIZE", 4096)
    monkeypatch.setattr(trainer_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", 64)
    assert hostmem.small_head_tiles() is True
    assert kernel.TOKEN_CHUNK_SIZE == hostmem.CPU_HEAD_TOKENS
    assert trainer_utils._CHUNKED_LOGPROB_CHUNK_SIZE == 64


def _head(tokens: int, vocab_chunk: int, monkeypatch) -> tuple[torch.Tensor, ...]:
    """Log-probs, entropy and both input gradients of trl's fused head at the given tiling."""
    kernel, _ = hostmem.head_tile_settings()
    monkeypatch.setattr(kernel, "TOKEN_CHUNK_SIZE", tokens)
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(70, 16, generator=gen, requires_grad=True)
    weight = torch.randn(300, 16, generator=gen, requires_grad=True)
    targets = torch.randint(0, 300, (70,), generator=gen)
    logp, entropy, *_ = kernel.ChunkedLogProbFunction.apply(
        hidden, weight, None, targets, 1.0, vocab_chunk, None, 1.0, ("log_probs", "entropy")
    )
    (logp.sum() + 0.1 * entropy.sum()).backward()
    return logp.detach(), entropy.detach(), hidden.grad, weight.grad


def test_small_tiles_give_the_same_loss_and_gradients(monkeypatch) -> None:
    whole = _head(4096, 32768, monkeypatch)
    tiled = _head(16, 64, monkeypatch)  # 5 token tiles x 5 vocab tiles, ragged edges
    for a, b in zip(whole, tiled, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_a_cpu_run_says_what_it_changed(make_run, run_worker, capsys) -> None:
    code, _ = run_worker(make_run())
    assert code == 0
    out = capsys.readouterr().out
    assert f"Memory: loss: LM head in tiles of {hostmem.CPU_HEAD_TOKENS} tokens" in out


def test_bf16_units_for_fp32_matmuls_of_bf16_values_keep_fp32_accumulation() -> None:
    """trl's CPU head accumulates `tile.float() @ w.float()` of bf16 values: with the switch
    the inputs convert back exactly and the sum stays fp32 (the conftest restores fp32)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(64, 512, generator=gen).bfloat16().float()
    b = torch.randn(512, 96, generator=gen).bfloat16().float()
    exact = a.double() @ b.double()
    assert hostmem.bf16_matmuls_for_fp32_copies() is True
    assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
    torch.testing.assert_close((a @ b).double(), exact, rtol=1e-5, atol=1e-4)
