"""The SFT recipe: LoRA (or full) fine-tuning on completions, top to bottom.

    syllabus train --student builtin:gemma-3-270m --data runs/x --recipe sft-lora --out runs/x

Reads like a script on purpose (litgpt's ``finetune/lora.py`` is the model): load the
student, wrap it with LoRA, tokenize with the same templating the ``hf`` backend prompts
with, walk the curriculum's stages in order, and log, evaluate and checkpoint as it goes.

Why this loop and not ``transformers.Trainer`` / TRL's ``SFTTrainer``: their loss takes the
model's full logits (every position x the whole vocabulary) before masking; on a CPU with
Gemma's 262k-word output layer that is most of a step. Here the output layer runs only at
supervised positions, chunked (:mod:`syllabus.train.loss`), which ``bench/train.py``
measures against both. The data formats are TRL's (``messages`` / prompt-completion), and
the adapters are PEFT's, so everything written here loads anywhere.

The training folder (``rNN/04_train``)::

    train_log.jsonl        one line per optimizer step (loss, lr, tokens, tok/s) and per evaluation
    checkpoints/step_N/    adapter + optimizer + scheduler + RNG + position: a kill resumes here
    adapter/               the final PEFT adapter (and the tokenizer), loadable with peft
    chat_template          how prompts were rendered (the student must be prompted the same way)
    train.json             the resolved settings, data counts, held-out losses and timings
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
from syllabus.train.formatting import Row, batches, tokenize_sft
from syllabus.train.loss import token_logprobs
from syllabus.train.model import DEFAULT_LORA_TARGETS, add_lora, load_student
from syllabus.train.state import TrainLog, held_out_split, lr_at, resume, save_checkpoint

__all__ = ["SFTSettings", "train_sft"]


@dataclass
class SFTSettings:
    """Everything the SFT recipe takes besides data (the ``train`` command's options)."""

    student: str = field(default="builtin:gemma-3-270m", metadata={"help": "model to fine-tune: builtin:NAME, hf:PATH or a folder"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_targets: list[str] = field(default_factory=lambda: list(DEFAULT_LORA_TARGETS), metadata={"help": "module names"})
    train_on: Literal["completion", "all"] = field(default="completion", metadata={"help": "loss on completion tokens or all"})
    max_length: int = field(default=512, metadata={"help": "tokens per row (prompt cut from the left first)"})
    batch_size: int = field(default=8, metadata={"help": "rows per micro-batch"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    epochs: int = field(default=1, metadata={"help": "passes over each stage"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps"})
    lr: float = field(default=2e-4, metadata={"help": "peak learning rate"})
    warmup: float = field(default=0.05, metadata={"help": "share of steps warming up linearly"})
    schedule: Literal["cosine", "linear", "constant"] = field(default="cosine", metadata={"help": "decay after warmup"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    bucket: bool = field(default=True, metadata={"help": "sort rows by length within windows (less padding)"})
    pack: bool = field(default=False, metadata={"help": "pack rows into max-length blocks"})
    chunk_size: int = field(default=512, metadata={"help": "output-layer rows per chunk"})
    dtype: str = field(default="auto", metadata={"help": "float32, bfloat16 or auto (bf16 only where the hardware has it)"})
    eval_fraction: float = field(default=0.1, metadata={"help": "held-out share when no --eval-data (chosen by id hash)"})
    save_every: int = field(default=25, metadata={"help": "checkpoint every N optimizer steps"})
    keep_checkpoints: int = field(default=2, metadata={"help": "checkpoints kept on disk"})
    seed: int = field(default=0, metadata={"help": "seeds LoRA init and per-epoch shuffles"})
    shuffle: bool = field(default=False, metadata={"help": "shuffle within a stage each epoch (off: keep the curriculum's order)"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})


def _mean_loss(model: Any, rows: Sequence[Row], cfg: SFTSettings, pad_id: int) -> float | None:
    """Mean NLL per supervised token over ``rows`` (no gradient)."""
    import torch

    if not rows:
        return None
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in batches(rows, batch_size=cfg.batch_size, pad_id=pad_id, bucket=True, max_length=cfg.max_length):
            lp = token_logprobs(model, batch.input_ids.to(model.device), batch.attention_mask.to(model.device),
                                batch.labels.to(model.device), chunk_size=cfg.chunk_size).logprobs
            total -= float(lp.sum())
            count += lp.numel()
    model.train(was_training)
    return total / count if count else None


def train_sft(
    stages: Sequence[Sequence[Example]],
    out_dir: str | Path,
    cfg: SFTSettings,
    *,
    eval_examples: Sequence[Example] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    lora: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``cfg.student`` on ``stages`` (in order) and write the training folder.

    ``lora=False`` trains every weight (the ``sft-full`` recipe) instead of LoRA adapters.

    Rerunning with the same arguments resumes from the last checkpoint: the data order is
    a function of the data and the seed, so the remaining batches are the same ones.
    """
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)

    # 1. The student, with LoRA adapters.
    model, tokenizer, path = load_student(cfg.student, dtype=cfg.dtype, threads=cfg.threads)
    if lora:
        model = add_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout, targets=cfg.lora_targets)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)

    # 2. Data: held-out rows, then each stage's rows in the curriculum's order.
    all_examples = [e for stage in stages for e in stage]
    if eval_examples is None:
        _, eval_examples = held_out_split(all_examples, cfg.eval_fraction)
    held_ids = {e.id for e in eval_examples}
    stage_rows = [
        [tokenize_sft(tokenizer, e, max_length=cfg.max_length, train_on=cfg.train_on) for e in stage if e.id not in held_ids]
        for stage in stages
    ]
    eval_rows = [tokenize_sft(tokenizer, e, max_length=cfg.max_length, train_on=cfg.train_on) for e in eval_examples]
    if not any(stage_rows):
        raise ConfigError("no training rows: the data is empty or all of it is held out (lower --eval-fraction)")

    def stage_batches(index: int, epoch: int) -> list[Any]:
        rows = list(stage_rows[index])
        if cfg.shuffle:
            import random

            random.Random(content_hash([cfg.seed, index, epoch])).shuffle(rows)
        return list(batches(rows, batch_size=cfg.batch_size, pad_id=pad_id, bucket=cfg.bucket, pack=cfg.pack,
                            max_length=cfg.max_length))

    plan = [(s, ep, b) for s in range(len(stages)) for ep in range(cfg.epochs) for b in stage_batches(s, ep)]
    total_steps = math.ceil(len(plan) / cfg.grad_accum)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)

    # 3. Optimizer, and the state of an interrupted run if there is one.
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_root = out_dir / "checkpoints"
    log = TrainLog(out_dir / "train_log.jsonl", on_step)
    step = resume(model, optimizer, ckpt_root, log)

    # 4. The loop: micro-batches -> optimizer steps; evaluate at stage ends; checkpoint every k steps.
    evals: list[dict[str, Any]] = []
    if step == 0:
        evals.append({"event": "eval", "step": 0, "stage": -1, "heldout_loss": _mean_loss(model, eval_rows, cfg, pad_id)})
        log.write(evals[-1])
    started, tokens_seen = time.monotonic(), 0
    micro = step * cfg.grad_accum
    model.train()
    while step < total_steps:
        group = plan[micro : micro + cfg.grad_accum]
        supervised = sum(b.supervised for _, _, b in group)
        lr = lr_at(step, total_steps, lr=cfg.lr, warmup=cfg.warmup, schedule=cfg.schedule)
        for g in optimizer.param_groups:
            g["lr"] = lr
        loss_sum = 0.0
        for _, _, batch in group:
            lp = token_logprobs(model, batch.input_ids.to(model.device), batch.attention_mask.to(model.device),
                                batch.labels.to(model.device), chunk_size=cfg.chunk_size).logprobs
            loss = -lp.sum() / max(supervised, 1)  # mean over the step's supervised tokens
            loss.backward()
            loss_sum += loss.item()
            tokens_seen += batch.tokens
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        micro += len(group)
        step += 1
        stage_now = group[-1][0]
        elapsed = time.monotonic() - started
        log.write({"event": "step", "step": step, "total_steps": total_steps, "stage": stage_now, "loss": round(loss_sum, 5),
             "lr": lr, "tokens": tokens_seen, "tokens_per_second": round(tokens_seen / elapsed, 1) if elapsed else None})
        stage_ended = micro >= len(plan) or plan[micro][0] != stage_now or step == total_steps
        if stage_ended:
            evals.append({"event": "eval", "step": step, "stage": stage_now, "heldout_loss": _mean_loss(model, eval_rows, cfg, pad_id)})
            log.write(evals[-1])
        if step % cfg.save_every == 0 or step == total_steps:
            save_checkpoint(ckpt_root / f"step_{step}", model, optimizer, step, cfg.keep_checkpoints)

    # 5. The result: the adapter (or full weights), the template, a summary.
    final = out_dir / ("adapter" if lora else "model")
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    from syllabus.llm.templating import has_chat_template

    template = tokenizer.chat_template if has_chat_template(tokenizer) else "plain: USER:/ASSISTANT: rendering (syllabus.llm.base.render_plain)"
    write_text_atomic(out_dir / "chat_template", str(template) + "\n")
    all_evals = [r for r in log.records() if r["event"] == "eval"]
    summary = {
        "recipe": "sft-lora" if lora else "sft-full",
        "settings": asdict(cfg),
        "student_path": path,
        "stages": [len(r) for r in stage_rows],
        "heldout_examples": len(eval_rows),
        "steps": step,
        "evals": all_evals,
        "output": str(final),
        "trainable_parameters": sum(p.numel() for p in params),
    }
    write_text_atomic(out_dir / "train.json", json.dumps(summary, indent=2) + "\n")
    return summary
