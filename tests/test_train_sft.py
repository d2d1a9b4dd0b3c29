"""The SFT recipe on a builtin model: exact loss, learning, masking, resume, the command."""

from __future__ import annotations

import json

import pytest

from syllabus.record import Example

pytestmark = pytest.mark.integration
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

STUDENT = "builtin:smollm2-135m-instruct"
WORDS = ["apple", "river", "stone", "cloud", "green", "seven", "paper", "house", "tiger", "lemon", "glass", "north"]


def shout(i: int, word: str) -> Example:
    return Example.from_prompt(f"Write the word {word} in capital letters.", id=f"w{i:02d}", completion=word.upper())


TRAIN = [shout(i, w) for i, w in enumerate(WORDS[:8])]
HELD = [shout(i + 8, w) for i, w in enumerate(WORDS[8:])]


def settings(**changes):
    from syllabus.train.sft import SFTSettings

    base = {"student": STUDENT, "batch_size": 4, "lr": 2e-3, "max_length": 64, "save_every": 2, "dtype": "float32", "warmup": 0.0}
    return SFTSettings(**{**base, **changes})


def test_chunked_supervised_loss_equals_the_models_own_loss():
    from syllabus.train.formatting import batches, tokenize_sft
    from syllabus.train.loss import token_logprobs
    from syllabus.train.model import load_student

    model, tokenizer, _ = load_student(STUDENT, dtype="float32")
    rows = [tokenize_sft(tokenizer, e, max_length=64) for e in TRAIN[:4]]
    (batch,) = batches(rows, batch_size=4, pad_id=tokenizer.pad_token_id, bucket=False)
    with torch.no_grad():
        ours = -token_logprobs(model, batch.input_ids, batch.attention_mask, batch.labels, chunk_size=7).logprobs.mean()
        theirs = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels).loss
    assert abs(float(ours) - float(theirs)) < 1e-4
    # Masked prompt tokens get no gradient signal: changing them cannot change which tokens are scored.
    assert int((batch.labels[:, 1:] != -100).sum()) == sum(r.supervised for r in rows)


def test_sft_lowers_held_out_loss_and_resumes_after_a_kill(tmp_path):
    from syllabus.train.sft import train_sft

    full = train_sft([TRAIN], tmp_path / "full", settings(epochs=3), eval_examples=HELD)
    losses = [e["heldout_loss"] for e in full["evals"]]
    assert losses[-1] < losses[0] * 0.7, losses

    class Killed(Exception):
        pass

    def kill_at_step_3(record):
        if record["event"] == "step" and record["step"] == 3:
            raise Killed

    with pytest.raises(Killed):
        train_sft([TRAIN], tmp_path / "killed", settings(epochs=3), eval_examples=HELD, on_step=kill_at_step_3)
    assert (tmp_path / "killed" / "checkpoints" / "step_2").exists()
    resumed = train_sft([TRAIN], tmp_path / "killed", settings(epochs=3), eval_examples=HELD)
    steps = [json.loads(line)["step"] for line in (tmp_path / "killed" / "train_log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps.count(3) == 1  # the step after the checkpoint ran once more, logged once
    assert resumed["evals"][-1]["heldout_loss"] == pytest.approx(full["evals"][-1]["heldout_loss"], rel=1e-4)


def test_train_command_writes_adapter_log_and_report(tmp_path, capsys):
    from syllabus.cli import main

    data = tmp_path / "data.jsonl"
    data.write_text("".join(e.to_json() + "\n" for e in TRAIN + HELD))
    out = tmp_path / "run"
    argv = ["train", "--student", STUDENT, "--data", str(data), "--out", str(out), "--max-steps", "2", "--batch-size", "4",
            "--max-length", "64", "--eval-fraction", "0.3", "--no-progress", "--dtype", "float32"]
    assert main(argv) == 0
    train_dir = out / "r00" / "04_train"
    assert (train_dir / "adapter" / "adapter_config.json").exists() and (train_dir / "chat_template").exists()
    html = (train_dir / "report.html").read_text()
    assert "<svg" in html and "held-out loss" in html
    assert "held-out loss" in capsys.readouterr().out
