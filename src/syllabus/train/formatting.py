"""Training rows as tokens: templating, masking, bucketing and packing, shared by every recipe.

- :func:`tokenize_sft` gives ``input_ids`` and ``labels`` with ``-100`` on every prompt
  token (loss on the completion only) or, with ``train_on="all"``, on none; the prompt is
  exactly what the ``hf`` backend sends at inference (:mod:`syllabus.llm.templating`).
- :func:`tokenize_pair` gives the shared prompt and the chosen/rejected completions of a
  preference pair.
- :func:`batches` groups rows: ``bucket`` sorts by length within windows so a batch pads
  little (the order of windows, and so the curriculum, is kept); ``pack`` concatenates rows
  into blocks of ``max_length`` (no padding; attention crosses row boundaries as in TRL's
  default packing, labels stay masked per row).

>>> rows = [Row([1, 2, 3], [-100, 2, 3]), Row([4, 5], [-100, 5])]
>>> [b.input_ids.tolist() for b in batches(rows, batch_size=2, pad_id=0, bucket=False)]
[[[1, 2, 3], [4, 5, 0]]]
>>> [b.ids for b in batches(rows, batch_size=1, pad_id=0)]  # bucketed: shorter first within a window
[[''], ['']]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from syllabus.errors import DataError
from syllabus.llm.templating import completion_token_ids, prompt_token_ids
from syllabus.record import Example

__all__ = ["Batch", "PairRow", "Row", "batches", "tokenize_pair", "tokenize_sft"]

IGNORE = -100
TrainOn = Literal["completion", "all"]


@dataclass
class Row:
    """One training sequence: token ids and labels (``-100`` = no loss), and where it came from."""

    input_ids: list[int]
    labels: list[int]
    id: str = ""

    @property
    def supervised(self) -> int:
        return sum(1 for t in self.labels[1:] if t != IGNORE)  # position 0 is never predicted


def tokenize_sft(tokenizer: Any, example: Example, *, max_length: int = 512, train_on: TrainOn = "completion") -> Row:
    """Prompt + completion tokens; the prompt is masked unless ``train_on="all"``.

    Rows longer than ``max_length`` lose prompt tokens from the left first (the answer is
    what is learned), then completion tokens from the right.
    """
    if example.completion is None:
        raise DataError(f"example {example.id!r} has no completion to train on")
    prompt = prompt_token_ids(tokenizer, example.messages)
    answer = completion_token_ids(tokenizer, example.messages, example.completion)
    if len(answer) >= max_length:
        prompt, answer = prompt[:1], answer[: max_length - 1]
    elif len(prompt) + len(answer) > max_length:
        prompt = prompt[len(prompt) + len(answer) - max_length :]
    ids = prompt + answer
    labels = ids.copy() if train_on == "all" else [IGNORE] * len(prompt) + answer
    return Row(ids, labels, example.id)


@dataclass
class PairRow:
    """A preference pair as tokens: the shared prompt and the two completions."""

    prompt: list[int]
    chosen: list[int]
    rejected: list[int]
    id: str = ""


def tokenize_pair(tokenizer: Any, example: Example, chosen: str, rejected: str, *, max_length: int = 512) -> PairRow:
    prompt = prompt_token_ids(tokenizer, example.messages)
    good = completion_token_ids(tokenizer, example.messages, chosen)
    bad = completion_token_ids(tokenizer, example.messages, rejected)
    room = max_length - max(len(good), len(bad))
    if room < 1:
        good, bad, room = good[: max_length - 1], bad[: max_length - 1], 1
    return PairRow(prompt[-room:], good, bad, example.id)


@dataclass
class Batch:
    """Padded tensors for one step: ``input_ids``, ``attention_mask``, ``labels`` and the row ids."""

    input_ids: Any
    attention_mask: Any
    labels: Any
    ids: list[str]

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())

    @property
    def supervised(self) -> int:
        return int((self.labels[:, 1:] != IGNORE).sum())


def _collate(rows: Sequence[Row], pad_id: int) -> Batch:
    import torch

    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):  # right padding: training needs no generation-time left padding
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        labels[i, :n] = torch.tensor(r.labels)
        mask[i, :n] = 1
    return Batch(ids, mask, labels, [r.id for r in rows])


def _pack(rows: Sequence[Row], max_length: int) -> list[Row]:
    packed: list[Row] = []
    ids: list[int] = []
    labels: list[int] = []
    names: list[str] = []
    for r in rows:
        if ids and len(ids) + len(r.input_ids) > max_length:
            packed.append(Row(ids, labels, "+".join(names)))
            ids, labels, names = [], [], []
        # The first token of each row is never a target of the previous row's last token.
        ids += r.input_ids
        labels += [IGNORE, *r.labels[1:]]
        names.append(r.id)
    if ids:
        packed.append(Row(ids, labels, "+".join(names)))
    return packed


def batches(
    rows: Sequence[Row],
    *,
    batch_size: int,
    pad_id: int,
    bucket: bool = True,
    pack: bool = False,
    max_length: int = 512,
    window: int = 8,
) -> Iterator[Batch]:
    """Batches in the given order; ``bucket`` sorts by length inside windows of ``window`` batches."""
    items = _pack(rows, max_length) if pack else list(rows)
    span = batch_size * window if bucket else batch_size
    for start in range(0, len(items), span):
        chunk = items[start : start + span]
        if bucket:
            chunk = sorted(chunk, key=lambda r: (len(r.input_ids), r.id))
        for i in range(0, len(chunk), batch_size):
            yield _collate(chunk[i : i + batch_size], pad_id)
