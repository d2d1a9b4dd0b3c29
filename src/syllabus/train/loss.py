"""Log-probabilities of the supervised tokens only, through a chunked output layer.

A causal LM's forward pass computes logits for every position over the whole vocabulary
(262k words for Gemma 3): for a batch of 8 x 256 tokens that is half a billion numbers,
most of the step's time and memory, and most of them are for prompt tokens whose loss is
masked anyway. Here the decoder runs once, the hidden states of the positions that predict
a supervised token are gathered, and the output layer is applied to them in chunks whose
logits are recomputed in the backward pass instead of stored (activation checkpointing).
The result equals ``model(..., labels=labels).loss`` up to float rounding (tested).

>>> # loss = -token_logprobs(model, batch.input_ids, batch.attention_mask, batch.labels).logprobs.mean()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TokenLogprobs", "output_layer", "token_logprobs"]

IGNORE = -100


@dataclass
class TokenLogprobs:
    """``logprobs[i]`` is log p of supervised token i; it belongs to batch row ``rows[i]``."""

    logprobs: Any  # (N,) float tensor, differentiable
    rows: Any  # (N,) long tensor

    def per_row(self, n_rows: int) -> Any:
        """Summed log-probability of each row's supervised tokens (DPO's sequence log-probs)."""
        import torch

        out = torch.zeros(n_rows, dtype=self.logprobs.dtype, device=self.logprobs.device)
        return out.index_add(0, self.rows, self.logprobs)


def output_layer(model: Any) -> tuple[Any, Any, float | None]:
    """(decoder, output embedding module, final logit soft-cap) of a causal LM, PEFT-wrapped or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cap = getattr(base.config, "final_logit_softcapping", None)
    return base.get_decoder(), base.get_output_embeddings(), cap


def _chunk_logprobs(hidden: Any, weight: Any, bias: Any, targets: Any, cap: float | None) -> Any:
    import torch

    logits = torch.nn.functional.linear(hidden, weight, bias).float()
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return -torch.nn.functional.cross_entropy(logits, targets, reduction="none")


def token_logprobs(model: Any, input_ids: Any, attention_mask: Any, labels: Any, *, chunk_size: int = 512) -> TokenLogprobs:
    """Log p of every supervised token (``labels != -100``, shifted as in causal LM training)."""
    import torch
    from torch.utils.checkpoint import checkpoint

    decoder, head, cap = output_layer(model)
    hidden = decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    picked = hidden[:, :-1][keep]
    wanted = targets[keep]
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(1).expand_as(targets)[keep]
    parts = []
    bias = getattr(head, "bias", None)
    for start in range(0, picked.shape[0], chunk_size):
        h, t = picked[start : start + chunk_size], wanted[start : start + chunk_size]
        if torch.is_grad_enabled() and h.requires_grad:
            parts.append(checkpoint(_chunk_logprobs, h, head.weight, bias, t, cap, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(h, head.weight, bias, t, cap))
    logprobs = torch.cat(parts) if parts else picked.new_zeros(0)
    return TokenLogprobs(logprobs, rows)
