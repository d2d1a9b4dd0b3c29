"""The DPO recipe (IPO as an option): LoRA preference tuning on chosen/rejected pairs, top to bottom.

    syllabus train --student builtin:gemma-3-270m --data pairs.jsonl --recipe dpo-lora --out runs/x --beta 0.1

Same shape as :mod:`syllabus.train.sft` (and the same training folder, checkpoints and
resume): load the student, add LoRA, turn each example's ``meta["pref.chosen"]`` /
``meta["pref.rejected"]`` (``pref.chosen`` falls back to ``completion``, as in
:func:`syllabus.formats.to_preference`) into a prompt and two completions, then step.

The loss, with sequence log-probabilities (summed over completion tokens) of the policy
``pc``/``pr`` and of the reference ``rc``/``rr`` on the chosen/rejected responses::

    logits = (pc - pr) - (rc - rr)
    sigmoid (DPO):  -log sigmoid(beta * logits)
    ipo:            (logits - 1 / (2 * beta)) ** 2

>>> import torch
>>> out = dpo_loss(torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]), beta=0.5)
>>> round(float(out.losses[0]), 4), float(out.margins[0])      # -log sigmoid(0.5 * 2), 0.5 * 2
(0.3133, 1.0)

Why not TRL's ``DPOTrainer``: it computes full-vocabulary logits for every position of
both responses (the cost :mod:`syllabus.train.loss` avoids on a CPU), keeps a second copy of
the model or recomputes the reference each step, and its checkpoint/resume and curriculum
conventions differ from the SFT recipe's. The pair format is TRL's, so the same data feeds
``DPOTrainer`` unchanged on a bigger machine.

The reference model is the student with the adapter switched off (``disable_adapter``), so
there is no second copy in memory. Its log-probabilities are computed **once, for every
pair, before the first step**: the reference never changes, so recomputing it each batch
would cost one more forward pass per step for the same numbers; precomputing costs one
no-gradient pass over the data (cheaper than a training step per pair) and is repeated on
resume, where it gives the same values because the base weights are frozen.

Logged per optimizer step (``train_log.jsonl``): ``loss``, ``margin`` (mean of
``beta * logits``: the chosen minus rejected implicit reward) and ``accuracy`` (share of
pairs with a positive margin); evaluations log the same three on held-out pairs as
``heldout_loss``, ``heldout_margin`` and ``heldout_accuracy``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from syllabus.errors import ConfigError
from syllabus.jsonl import write_text_atomic
from syllabus.record import Example, content_hash
from syllabus.train.formatting import IGNORE, PairRow, Row, batches, tokenize_pair
from syllabus.train.loss import token_logprobs
from syllabus.train.model import add_lora, load_student
from syllabus.train.sft import SFTSettings

# syllabus.train.state: one schedule, log and checkpoint implementation for both recipes, so
# a DPO checkpoint is laid out, found and resumed exactly like an SFT one.
from syllabus.train.state import TrainLog, held_out_split, lr_at, resume, save_checkpoint

__all__ = ["DPOLoss", "DPOSettings", "dpo_loss", "preference_pairs", "train_dpo"]

LossType = Literal["sigmoid", "ipo"]


@dataclass
class DPOSettings(SFTSettings):
    """The SFT settings plus DPO's own (``train_on`` and ``pack`` do not apply to pairs)."""

    beta: float = field(default=0.1, metadata={"help": "strength of the pull toward the reference model"})
    loss_type: LossType = field(default="sigmoid", metadata={"help": "DPO (sigmoid) or IPO loss"})


@dataclass
class DPOLoss:
    """Per-pair ``losses`` and ``margins`` (``beta * logits``, the implicit reward gap), tensors."""

    losses: Any
    margins: Any


def dpo_loss(
    policy_chosen: Any, policy_rejected: Any, ref_chosen: Any, ref_rejected: Any, *, beta: float, loss_type: LossType = "sigmoid"
) -> DPOLoss:
    """DPO or IPO loss per pair from sequence log-probabilities (1-D tensors of one length).

    >>> import torch
    >>> z = torch.zeros(1)
    >>> float(dpo_loss(z, z, z, z, beta=0.1, loss_type="ipo").losses[0])    # (0 - 1/(2*0.1))^2
    25.0
    """
    import torch.nn.functional as F

    if beta <= 0:
        raise ConfigError(f"--beta must be > 0, got {beta}")
    logits = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected)
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * logits)
    elif loss_type == "ipo":
        # IPO (Azar et al.) regresses the log-ratio gap to 1/(2 beta) instead of pushing it to
        # infinity. TRL averages log-probs per token for IPO; here they are summed as for DPO,
        # so beta means the same thing for both losses.
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ConfigError(f"--loss-type must be sigmoid or ipo, got {loss_type!r}")
    return DPOLoss(losses, (beta * logits).detach())


def preference_pairs(examples: Sequence[Example]) -> tuple[list[tuple[Example, str, str]], int]:
    """(example, chosen, rejected) for every example with a pair, and how many had none."""
    pairs, skipped = [], 0
    for e in examples:
        chosen, rejected = e.meta.get("pref.chosen", e.completion), e.meta.get("pref.rejected")
        if chosen is None or rejected is None:
            skipped += 1
            continue
        pairs.append((e, str(chosen), str(rejected)))
    return pairs, skipped


def _pair_batch(pairs: Sequence[PairRow], pad_id: int) -> Any:
    """One padded batch: the chosen rows, then the rejected rows (one forward pass for both)."""
    rows = [Row(p.prompt + p.chosen, [IGNORE] * len(p.prompt) + p.chosen, p.id) for p in pairs]
    rows += [Row(p.prompt + p.rejected, [IGNORE] * len(p.prompt) + p.rejected, p.id) for p in pairs]
    return next(batches(rows, batch_size=len(rows), pad_id=pad_id, bucket=False))


def _sequence_logprobs(model: Any, pairs: Sequence[PairRow], pad_id: int, chunk_size: int) -> tuple[Any, Any]:
    """(chosen, rejected) summed completion log-probs, one value per pair."""
    batch = _pair_batch(pairs, pad_id)
    per_row = token_logprobs(model, batch.input_ids.to(model.device), batch.attention_mask.to(model.device),
                             batch.labels.to(model.device), chunk_size=chunk_size).per_row(2 * len(pairs))
    return per_row[: len(pairs)], per_row[len(pairs) :]


def _reference_logprobs(model: Any, pairs: Sequence[PairRow], cfg: DPOSettings, pad_id: int) -> dict[str, tuple[float, float]]:
    """Pair id -> reference (chosen, rejected) log-probs: the student with its adapter off."""
    import torch

    out: dict[str, tuple[float, float]] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad(), model.disable_adapter():
        for start in range(0, len(pairs), cfg.batch_size):
            group = pairs[start : start + cfg.batch_size]
            chosen, rejected = _sequence_logprobs(model, group, pad_id, cfg.chunk_size)
            for p, c, r in zip(group, chosen.tolist(), rejected.tolist(), strict=True):
                out[p.id] = (c, r)
    model.train(was_training)
    return out


def _pair_loss(model: Any, group: Sequence[PairRow], ref: dict[str, tuple[float, float]], cfg: DPOSettings, pad_id: int) -> DPOLoss:
    import torch

    chosen, rejected = _sequence_logprobs(model, group, pad_id, cfg.chunk_size)
    ref_c = torch.tensor([ref[p.id][0] for p in group], dtype=chosen.dtype, device=chosen.device)
    ref_r = torch.tensor([ref[p.id][1] for p in group], dtype=chosen.dtype, device=chosen.device)
    return dpo_loss(chosen, rejected, ref_c, ref_r, beta=cfg.beta, loss_type=cfg.loss_type)


def _evaluate(model: Any, pairs: Sequence[PairRow], ref: dict[str, tuple[float, float]], cfg: DPOSettings, pad_id: int) -> dict[str, float | None]:
    """Mean held-out loss, margin and accuracy (no gradient); ``None`` without held-out pairs."""
    import torch

    if not pairs:
        return {"heldout_loss": None, "heldout_margin": None, "heldout_accuracy": None}
    losses, margins = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(pairs), cfg.batch_size):
            out = _pair_loss(model, pairs[start : start + cfg.batch_size], ref, cfg, pad_id)
            losses += out.losses.tolist()
            margins += out.margins.tolist()
    model.train(was_training)
    return {"heldout_loss": sum(losses) / len(losses), "heldout_margin": sum(margins) / len(margins),
            "heldout_accuracy": sum(m > 0 for m in margins) / len(margins)}


def _pair_groups(pairs: Sequence[PairRow], cfg: DPOSettings, epoch: int) -> list[list[PairRow]]:
    """Micro-batches of pairs for one epoch: optional seeded shuffle, then length bucketing in windows."""
    items = list(pairs)
    if cfg.shuffle:
        import random

        random.Random(content_hash([cfg.seed, "dpo", epoch])).shuffle(items)
    span = cfg.batch_size * 8 if cfg.bucket else cfg.batch_size
    groups = []
    for start in range(0, len(items), span):
        chunk = items[start : start + span]
        if cfg.bucket:
            chunk = sorted(chunk, key=lambda p: (len(p.prompt) + max(len(p.chosen), len(p.rejected)), p.id))
        groups += [chunk[i : i + cfg.batch_size] for i in range(0, len(chunk), cfg.batch_size)]
    return groups


def train_dpo(
    examples: Sequence[Example],
    out_dir: str | Path,
    cfg: DPOSettings,
    *,
    eval_examples: Sequence[Example] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Preference-tune ``cfg.student`` with LoRA on the pairs in ``examples``; write the training folder.

    Held-out pairs are ``eval_examples`` (any example among them is left out of training, as
    in SFT), else ``cfg.eval_fraction`` of the pairs chosen by id hash. Rerunning with the
    same arguments resumes from the last checkpoint (same batches, same order). Returns the
    summary also written to ``train.json``.

    >>> # train_dpo(pairs, "runs/x/r00/04_train", DPOSettings(student="builtin:smollm2-135m-instruct", beta=0.1))
    """
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)

    # 1. The student, with LoRA adapters; with them off it is the reference model (so DPO is LoRA-only).
    model, tokenizer, path = load_student(cfg.student, dtype=cfg.dtype, threads=cfg.threads)
    model = add_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout, targets=cfg.lora_targets)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)

    # 2. Data: pairs as tokens, held-out pairs apart.
    train_pairs, skipped = preference_pairs(examples)
    if eval_examples is None:
        held = {e.id for e in held_out_split([e for e, _, _ in train_pairs], cfg.eval_fraction)[1]}
        eval_pairs = [p for p in train_pairs if p[0].id in held]
    else:
        eval_pairs, _ = preference_pairs(eval_examples)
    held_ids = {e.id for e, _, _ in eval_pairs}
    seen: dict[str, int] = {}

    def tokenize(e: Example, chosen: str, rejected: str) -> PairRow:
        row = tokenize_pair(tokenizer, e, chosen, rejected, max_length=cfg.max_length)
        # Preference files often hold several pairs for one prompt (one id): the reference
        # log-probs are looked up by row id, so each pair needs its own.
        seen[e.id] = seen.get(e.id, 0) + 1
        row.id = e.id if seen[e.id] == 1 else f"{e.id}#{seen[e.id]}"
        return row

    rows = [tokenize(e, c, r) for e, c, r in train_pairs if e.id not in held_ids]
    eval_rows = [tokenize(e, c, r) for e, c, r in eval_pairs]
    if not rows:
        raise ConfigError(
            f"no training pairs: {skipped} example(s) lack meta 'pref.rejected' (or a chosen response) "
            "and the rest are held out; build pairs with syllabus.train.pairs or lower --eval-fraction"
        )
    plan = [g for ep in range(cfg.epochs) for g in _pair_groups(rows, cfg, ep)]
    total_steps = math.ceil(len(plan) / cfg.grad_accum)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    # 3. Reference log-probs, once (see the module docstring for why not per batch).
    reference = _reference_logprobs(model, rows + eval_rows, cfg, pad_id)

    # 4. Optimizer, and the state of an interrupted run if there is one.
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_root = out_dir / "checkpoints"
    log = TrainLog(out_dir / "train_log.jsonl", on_step)
    step = resume(model, optimizer, ckpt_root, log)

    # 5. The loop: micro-batches of pairs -> optimizer steps; evaluate at the end; checkpoint every k steps.
    if step == 0:
        log.write({"event": "eval", "step": 0, "stage": -1, **_evaluate(model, eval_rows, reference, cfg, pad_id)})
    started, tokens_seen = time.monotonic(), 0
    micro = step * cfg.grad_accum
    model.train()
    while step < total_steps:
        group = plan[micro : micro + cfg.grad_accum]
        n_pairs = sum(len(g) for g in group)
        lr = lr_at(step, total_steps, lr=cfg.lr, warmup=cfg.warmup, schedule=cfg.schedule)
        for g in optimizer.param_groups:
            g["lr"] = lr
        loss_sum, margins = 0.0, []
        for pairs in group:
            out = _pair_loss(model, pairs, reference, cfg, pad_id)
            loss = out.losses.sum() / n_pairs  # mean over the step's pairs
            loss.backward()
            loss_sum += float(loss.detach())
            margins += out.margins.tolist()
            tokens_seen += sum(2 * len(p.prompt) + len(p.chosen) + len(p.rejected) for p in pairs)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        micro += len(group)
        step += 1
        elapsed = time.monotonic() - started
        log.write({"event": "step", "step": step, "total_steps": total_steps, "stage": 0, "loss": round(loss_sum, 5),
             "margin": round(sum(margins) / len(margins), 5), "accuracy": sum(m > 0 for m in margins) / len(margins),
             "lr": lr, "tokens": tokens_seen, "tokens_per_second": round(tokens_seen / elapsed, 1) if elapsed else None})
        if step == total_steps:
            log.write({"event": "eval", "step": step, "stage": 0, **_evaluate(model, eval_rows, reference, cfg, pad_id)})
        if step % cfg.save_every == 0 or step == total_steps:
            save_checkpoint(ckpt_root / f"step_{step}", model, optimizer, step, cfg.keep_checkpoints)

    # 6. The result: the adapter, the template, a summary.
    final = out_dir / "adapter"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    from syllabus.llm.templating import has_chat_template

    template = tokenizer.chat_template if has_chat_template(tokenizer) else "plain: USER:/ASSISTANT: rendering (syllabus.llm.base.render_plain)"
    write_text_atomic(out_dir / "chat_template", str(template) + "\n")
    all_evals = [r for r in log.records() if r["event"] == "eval"]
    summary = {
        "recipe": "dpo-lora",
        "settings": asdict(cfg),
        "student_path": path,
        "stages": [len(rows)],
        "pairs": len(rows),
        "skipped_without_pair": skipped,
        "heldout_examples": len(eval_rows),
        "steps": step,
        "evals": all_evals,
        "output": str(final),
        "trainable_parameters": sum(p.numel() for p in params),
    }
    write_text_atomic(out_dir / "train.json", json.dumps(summary, indent=2) + "\n")
    return summary
