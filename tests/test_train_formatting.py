"""Training rows: masking, truncation, bucketing and packing (a toy tokenizer; no model)."""

from __future__ import annotations

import pytest

from syllabus.errors import DataError
from syllabus.record import Example
from syllabus.train.formatting import IGNORE, Row, batches, tokenize_pair, tokenize_sft
from syllabus.train.state import held_out_split, lr_at

torch = pytest.importorskip("torch")


class CharTokenizer:
    """One id per character; BOS 1, EOS 2; no chat template (the plain rendering is used)."""

    chat_template = None
    bos_token_id, eos_token_id, pad_token_id = 1, 2, 0

    def __call__(self, text, add_special_tokens=True):
        class Out:
            input_ids = ([1] if add_special_tokens else []) + [ord(c) for c in text]

        return Out


def test_prompt_tokens_carry_no_loss_and_the_answer_ends_with_eos():
    row = tokenize_sft(CharTokenizer(), Example.from_prompt("hi", completion="ok"), max_length=64)
    prompt_len = len(row.input_ids) - 4  # " ok" + EOS
    assert row.labels[:prompt_len] == [IGNORE] * prompt_len
    assert row.labels[prompt_len:] == [ord(" "), ord("o"), ord("k"), 2] == row.input_ids[prompt_len:]
    assert row.supervised == 4
    everything = tokenize_sft(CharTokenizer(), Example.from_prompt("hi", completion="ok"), train_on="all")
    assert everything.labels == everything.input_ids


def test_long_rows_lose_prompt_from_the_left_then_answer_from_the_right():
    long_prompt = tokenize_sft(CharTokenizer(), Example.from_prompt("x" * 100, completion="ok"), max_length=20)
    assert len(long_prompt.input_ids) == 20 and long_prompt.input_ids[-4:] == [32, 111, 107, 2]
    long_answer = tokenize_sft(CharTokenizer(), Example.from_prompt("q", completion="y" * 100), max_length=20)
    assert len(long_answer.input_ids) == 20 and long_answer.labels[0] == IGNORE
    with pytest.raises(DataError, match="no completion"):
        tokenize_sft(CharTokenizer(), Example.from_prompt("q"))


def test_pairs_share_the_prompt():
    pair = tokenize_pair(CharTokenizer(), Example.from_prompt("q"), "yes", "no")
    assert pair.chosen[-1] == pair.rejected[-1] == 2 and pair.prompt[0] == 1


def test_bucketing_sorts_within_windows_and_keeps_window_order():
    rows = [Row([1] * n, [1] * n, f"r{i}") for i, n in enumerate([5, 1, 3, 2, 9, 8, 7, 6])]
    got = [b.ids for b in batches(rows, batch_size=2, pad_id=0, bucket=True, window=2)]
    assert got == [["r1", "r3"], ["r2", "r0"], ["r7", "r6"], ["r5", "r4"]]  # first window of 4 rows, then the next
    plain = [b.ids for b in batches(rows, batch_size=2, pad_id=0, bucket=False)]
    assert plain == [["r0", "r1"], ["r2", "r3"], ["r4", "r5"], ["r6", "r7"]]


def test_padding_is_masked_and_packing_masks_row_boundaries():
    (b,) = batches([Row([5, 6, 7], [IGNORE, 6, 7], "a"), Row([8], [8], "b")], batch_size=2, pad_id=0, bucket=False)
    assert b.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]] and b.labels[1].tolist() == [8, IGNORE, IGNORE]
    (packed,) = batches([Row([5, 6], [IGNORE, 6], "a"), Row([8, 9], [8, 9], "b")], batch_size=1, pad_id=0, pack=True, max_length=8)
    assert packed.input_ids.tolist() == [[5, 6, 8, 9]] and packed.labels.tolist() == [[IGNORE, 6, IGNORE, 9]]
    assert packed.ids == ["a+b"] and packed.supervised == 2


def test_held_out_split_is_stable_and_learning_rate_schedule_has_warmup_and_decay():
    items = [Example.from_prompt(str(i), id=f"e{i}") for i in range(200)]
    train, held = held_out_split(items, 0.1)
    assert 8 <= len(held) <= 35 and len(train) + len(held) == 200
    assert held_out_split(list(reversed(items)), 0.1)[1] == list(reversed(held))
    lrs = [lr_at(s, 20, lr=1.0, warmup=0.1, schedule="cosine") for s in range(20)]
    assert lrs[0] == 0.5 and lrs[1] == 1.0 and lrs[-1] < 0.05 and lrs == lrs[:2] + sorted(lrs[2:], reverse=True)
