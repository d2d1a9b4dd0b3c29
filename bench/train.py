"""SFT training throughput: the syllabus recipe against a plain transformers + PEFT loop and TRL.

A fixed workload on ``builtin:gemma-3-270m`` with LoRA (r=16 on every attention and MLP
projection), float32, micro-batches of 8: deterministic instruction rows of 64 to 256
tokens (prompt about half, loss on the completion only, as instruction tuning does).
Measured, each as real (non-padding) tokens per second over the timed steps, after one
untimed warm-up step, model load excluded:

1. ``plain``: the loop everyone writes first: batches in data order, padded to the longest
   row, ``model(**batch, labels=labels).loss.backward()``: full-vocabulary logits at every
   position (the baseline).
2. ``trl``: TRL's ``SFTTrainer`` with the same LoRA config, ``completion_only_loss``, float32
   (its bf16 and gradient-checkpointing defaults turned off, see ``run_trl``).
3. ``syllabus``: :func:`syllabus.train.sft.train_sft` (output layer at supervised positions
   only, chunked and recomputed in backward; length bucketing).

Also printed: the first-step loss of ``plain`` and of the syllabus loss on the *same* batch
(they must agree to 1e-3).

    python bench/train.py                 # 4 timed steps per method (about 6 minutes on 2 cores)
    python bench/train.py --steps 2 --only plain,syllabus
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = [
    *[
        "river",
        "mountain",
        "quiet",
        "engine",
        "garden",
        "winter",
        "letter",
        "market",
        "silver",
        "ocean",
        "museum",
        "window",
        "history",
        "science",
    ],
    *[
        "village",
        "harbor",
        "teacher",
        "student",
        "library",
        "morning",
        "evening",
        "thunder",
        "forest",
        "painter",
        "kitchen",
        "station",
    ],
    *["journey", "machine", "theory"],
]
STUDENT = "builtin:gemma-3-270m"


def build_examples(n: int, seed: int = 0) -> list[Any]:
    """``n`` rows whose prompt and completion lengths vary (about 30-130 words each)."""
    import random

    from syllabus.record import Example

    rng = random.Random(seed)
    out = []
    for i in range(n):
        p_words = rng.randint(25, 110)
        c_words = rng.randint(25, 110)
        prompt = "Continue the notes about " + " ".join(rng.choice(WORDS) for _ in range(p_words)) + "."
        completion = " ".join(rng.choice(WORDS) for _ in range(c_words)) + "."
        out.append(Example.from_prompt(prompt, id=f"b{i:03d}", completion=completion))
    return out


def lora_model() -> tuple[Any, Any]:
    from syllabus.train.model import add_lora, load_student

    model, tokenizer, _ = load_student(STUDENT, dtype="float32")
    return add_lora(model), tokenizer


def run_plain(examples: list[Any], batch: int, steps: int) -> dict[str, Any]:
    import torch

    from syllabus.train.formatting import batches, tokenize_sft

    model, tokenizer = lora_model()
    rows = [tokenize_sft(tokenizer, e, max_length=256) for e in examples]
    data = list(batches(rows, batch_size=batch, pad_id=tokenizer.pad_token_id, bucket=False))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    first_loss = None
    tokens, seconds = 0, 0.0
    for i, b in enumerate(data[: steps + 1]):
        started = time.perf_counter()
        loss = model(input_ids=b.input_ids, attention_mask=b.attention_mask, labels=b.labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i == 0:
            first_loss = loss.item()
            continue  # warm-up
        seconds += time.perf_counter() - started
        tokens += b.tokens
    return {"tokens": tokens, "seconds": seconds, "first_loss": first_loss, "first_batch": data[0]}


def syllabus_loss_on(batch: Any) -> float:
    import torch

    from syllabus.train.loss import token_logprobs

    model, _ = lora_model()
    with torch.no_grad():
        return float(-token_logprobs(model, batch.input_ids, batch.attention_mask, batch.labels).logprobs.mean())


def run_syllabus(examples: list[Any], batch: int, steps: int) -> dict[str, Any]:
    from syllabus.train.sft import SFTSettings, train_sft

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SFTSettings(
            student=STUDENT,
            batch_size=batch,
            max_length=256,
            max_steps=steps + 1,
            save_every=10_000,
            dtype="float32",
            warmup=0.0,
            lr=1e-4,
        )
        train_sft([examples], tmp, cfg, eval_examples=[])
        log = [json.loads(line) for line in (Path(tmp) / "train_log.jsonl").read_text().splitlines()]
    timed = [r for r in log if r["event"] == "step"]
    # tokens_per_second in the log is cumulative from the first step; take the timed steps only.
    first, last = timed[0], timed[-1]
    t_first = first["tokens"] / first["tokens_per_second"]
    t_last = last["tokens"] / last["tokens_per_second"]
    return {"tokens": last["tokens"] - first["tokens"], "seconds": t_last - t_first}


def run_trl(examples: list[Any], batch: int, steps: int) -> dict[str, Any]:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from syllabus.llm.templating import prompt_text
    from syllabus.train.model import DEFAULT_LORA_TARGETS, load_student

    model, tokenizer, _ = load_student(STUDENT, dtype="float32")
    rows = [{"prompt": prompt_text(tokenizer, e.messages), "completion": " " + e.completion} for e in examples]
    times: list[float] = []
    tokens: list[int] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t)

    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(
            output_dir=tmp,
            per_device_train_batch_size=batch,
            max_steps=steps + 1,
            max_length=256,
            completion_only_loss=True,
            report_to=[],
            logging_steps=1,
            save_strategy="no",
            dataloader_num_workers=0,
            use_cpu=True,
            learning_rate=1e-4,
            lr_scheduler_type="constant",
            # float32 like the other rows: TRL's bf16 default is emulated (and very slow) on a CPU
            # without native bf16, and its gradient-checkpointing default recomputes the decoder.
            bf16=False,
            fp16=False,
            gradient_checkpointing=False,
        )
        peft = LoraConfig(
            r=16, lora_alpha=32, lora_dropout=0.0, target_modules=list(DEFAULT_LORA_TARGETS), task_type="CAUSAL_LM"
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            peft_config=peft,
            processing_class=tokenizer,
            callbacks=[Clock()],
        )
        loader = trainer.get_train_dataloader()
        for i, b in enumerate(loader):
            if i > steps:
                break
            tokens.append(int(b["attention_mask"].sum()) if "attention_mask" in b else int(b["input_ids"].numel()))
        trainer.train()
    return {"tokens": sum(tokens[1 : steps + 1]), "seconds": sum(times[1 : steps + 1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps per method (after one warm-up)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--only", default="plain,trl,syllabus")
    parser.add_argument("--out", default="bench/results/train.json")
    args = parser.parse_args()
    import torch

    examples = build_examples(args.batch * (args.steps + 1))
    wanted = args.only.split(",")
    results: dict[str, dict[str, Any]] = {}
    for name, fn in (("plain", run_plain), ("trl", run_trl), ("syllabus", run_syllabus)):
        if name not in wanted:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = fn(examples, args.batch, args.steps)
        except Exception as e:  # noqa: BLE001  (a failing method is a row that says why, not a crash)
            results[name] = {"error": f"{type(e).__name__}: {e}"}
    base = results.get("plain", {})
    print(
        f"\n{STUDENT}, LoRA r=16, float32, batch {args.batch}, {args.steps} timed steps, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'method':10} {'tokens':>8} {'seconds':>9} {'tok/s':>8} {'vs plain':>9}")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:10} skipped: {r['error']}")
            continue
        rate = r["tokens"] / r["seconds"] if r["seconds"] else float("nan")
        ratio = rate / (base["tokens"] / base["seconds"]) if base.get("seconds") else float("nan")
        r["tokens_per_second"] = round(rate, 1)
        print(f"{name:10} {r['tokens']:8d} {r['seconds']:9.1f} {rate:8.1f} {ratio:8.2f}x")
    if "plain" in results and "first_batch" in base:
        ours = syllabus_loss_on(base.pop("first_batch"))
        print(
            f"first-step loss on the same batch: plain {base['first_loss']:.6f}, syllabus {ours:.6f}, "
            f"difference {abs(ours - base['first_loss']):.2e}"
        )
        base["syllabus_loss_same_batch"] = ours
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"machine": platform.processor() or platform.machine(), "results": results, "steps": args.steps}
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
