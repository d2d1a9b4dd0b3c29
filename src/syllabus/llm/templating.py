"""How a conversation becomes tokens: one definition for inference, scoring and training.

A student is trained on exactly the token sequence it will be prompted with later, so the
``hf`` backend and the training recipes both call these functions:

- with a chat template, the prompt is the template rendered with the generation prompt
  (its own special tokens included), and the completion is what the template writes after
  it for the assistant turn (the answer plus the end-of-turn marker);
- without one (a base model), the prompt is the plain ``USER: ... / ASSISTANT:`` rendering
  with the tokenizer's special tokens (BOS), and the completion is `` <answer>`` plus EOS.

>>> class Tok:  # a toy tokenizer: one id per character
...     chat_template, bos_token_id, eos_token_id = None, 1, 2
...     def __call__(self, text, add_special_tokens=True):
...         class Out: input_ids = ([1] if add_special_tokens else []) + [ord(c) for c in text]
...         return Out
>>> ids = completion_token_ids(Tok(), [{"role": "user", "content": "hi"}], "ok")
>>> ids[-1] == 2 and bytes(ids[:-1]).decode()
' ok'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syllabus.llm.base import render_plain
from syllabus.record import Message

__all__ = ["completion_token_ids", "has_chat_template", "prompt_text", "prompt_token_ids"]


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_text(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The prompt as text: the chat template with the generation prompt, or the plain rendering."""
    if has_chat_template(tokenizer):
        return str(tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False, add_generation_prompt=True))
    return render_plain(messages)


def prompt_token_ids(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    # A chat template writes its own special tokens (BOS included, where the model wants one);
    # the plain rendering gets the tokenizer's.
    special = not has_chat_template(tokenizer)
    return list(tokenizer(prompt_text(tokenizer, messages), add_special_tokens=special).input_ids)


def completion_token_ids(tokenizer: Any, messages: Sequence[Message], completion: str) -> list[int]:
    """The tokens that follow the prompt when the answer is ``completion``, end-of-turn included."""
    if has_chat_template(tokenizer):
        prompt = prompt_text(tokenizer, messages)
        full = str(
            tokenizer.apply_chat_template(
                [*map(dict, messages), {"role": "assistant", "content": completion}], tokenize=False, add_generation_prompt=False
            )
        )
        if full.startswith(prompt):
            return list(tokenizer(full[len(prompt) :], add_special_tokens=False).input_ids)
        # A template that rewrites earlier turns when an answer follows (rare): answer + EOS.
    ids = list(tokenizer(" " + completion if not has_chat_template(tokenizer) else completion, add_special_tokens=False).input_ids)
    eos = tokenizer.eos_token_id
    return ids + ([eos] if eos is not None else [])
