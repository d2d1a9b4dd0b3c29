"""Multiple choice by log-likelihood (``mc``) and verbalizer manipulation (``verbalized``).

Both tasks never generate: they ask the model for ``log p(choice | prompt)`` of every
choice and pick the best, which works on a 270M *base* model that cannot yet answer in a
format, costs one forward pass per choice, and gives smooth numbers across checkpoints.

**The data file** (JSON lines, one item a line)::

    {"question": "What colour is the sky on a clear day?", "choices": ["blue", "green"],
     "answer": 0, "cloze": "On a clear day the sky is ___."}

* ``question`` is wrapped in the prompt template (``Question: ...\\nAnswer:``), or give
  ``context`` instead: text the choice continues directly (HellaSwag-style completions);
* ``choices``: two or more strings; ``answer``: the 0-based index of the correct one;
* optional ``id``, ``cloze`` (a sentence with the blank ``___`` where the answer goes, for
  ``acc_blank``) and ``meta`` (a JSON object kept with the example).

Errors name the file and line. Without ``path`` the packaged 20-item sample is used (a
smoke test written for syllabus, not a benchmark).

**Metrics** (each per item 0/1, then mean with a Wilson interval):

* ``acc``: argmax of the summed log-probability of ``" " + choice`` (lm-evaluation-harness
  ``acc``).
* ``acc_norm``: argmax of that log-probability divided by the **character** length of the
  choice string (lm-evaluation-harness ``acc_norm``, which divides by ``len(choice)`` in
  characters, not tokens), so long answers are not penalised for having more tokens.
* ``acc_mi``: argmax of ``log p(choice | prompt) - log p(choice | "Answer:")``: pointwise
  mutual information with a neutral, domain-only context ("domain-conditional PMI",
  Holtzman et al., 2021, *Surface Form Competition*; lm-evaluation-harness's
  ``acc_mutual_info`` uses an empty context instead). It removes a choice's prior
  frequency, so "the" answers stop winning because they are common.
* ``acc_blank``: **Blank-ppl** from BOSE (Luan et al., 2025, "BOSE: A Systematic
  Evaluation Method Optimized for Base Models", arXiv 2503.00812): the item is rewritten
  as a fill-in-the-blank sentence, each choice is put into the blank, and the *whole*
  filled text is scored by perplexity (mean log-probability per token, given nothing but
  the start of text); the lowest perplexity wins. The sentence is the item's ``cloze``;
  without one it is the prompt with the blank at the end, which makes ``acc_blank`` a
  per-token-normalised score of question and answer together. BOSE reports that this
  gives steadier curves than answer-only scoring early in training.

``mutual_info`` and ``blank_ppl`` add one request per choice each; turn them off to halve
the cost.

>>> task = MultipleChoice(limit=1)
>>> example = task.load()[0]
>>> [r.continuation for r in task.requests(example)][:2]
[' blue', ' green']
>>> task.requests(example)[0].context
'Question: What colour is the sky on a clear day?\\nAnswer:'
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.evaluate.task import Output, Request, Task
from syllabus.jsonl import read_numbered_records
from syllabus.llm.base import Loglikelihood, LoglikelihoodRequest
from syllabus.record import Example, content_hash

__all__ = ["BLANK", "MultipleChoice", "Verbalized", "load_mc_file", "packaged_data"]

BLANK = "___"
_KNOWN_KEYS = ("id", "question", "context", "choices", "answer", "cloze", "meta")


def packaged_data(name: str) -> str:
    """The path of a data file shipped inside the package (``mc_sample.jsonl`` ...)."""
    return str(resources.files("syllabus") / "data" / name)


def load_mc_file(path: str | Path, namespace: str = "mc") -> list[Example]:
    """Read a multiple-choice JSONL file into Examples; errors name ``file:line``.

    The prompt side is the question (or context) as a user message, ``reference`` is the
    correct choice's text, and ``meta`` holds ``{namespace}.choices``, ``.answer`` (index),
    ``.kind`` (``question`` or ``context``) and ``.cloze``.
    """
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for lineno, record in read_numbered_records(path):
        where = f"{path}:{lineno}"
        unknown = sorted(set(record) - set(_KNOWN_KEYS))
        if unknown:
            raise DataError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_KNOWN_KEYS)} (put extra data under 'meta')")
        if ("question" in record) == ("context" in record):
            raise DataError(f"{where}: give exactly one of 'question' (wrapped in the prompt template) or 'context' (continued directly)")
        kind = "question" if "question" in record else "context"
        text = record[kind]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: '{kind}' must be a non-empty string")
        choices = record.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
            raise DataError(f"{where}: 'choices' must be a list of at least two non-empty strings, got {choices!r}")
        answer = record.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise DataError(f"{where}: 'answer' must be the 0-based index of the correct choice (0..{len(choices) - 1}), got {answer!r}")
        cloze = record.get("cloze")
        if cloze is not None and (not isinstance(cloze, str) or cloze.count(BLANK) != 1):
            raise DataError(f"{where}: 'cloze' must be a string with exactly one blank {BLANK!r} where the answer goes")
        extra = record.get("meta") or {}
        if not isinstance(extra, dict):
            raise DataError(f"{where}: 'meta' must be a JSON object")
        id_ = str(record.get("id") or content_hash({"text": text, "choices": choices}))
        if id_ in seen:
            raise DataError(f"{where}: id {id_!r} repeats line {seen[id_]}; ids must be unique")
        seen[id_] = lineno
        meta = {**extra, f"{namespace}.choices": choices, f"{namespace}.answer": answer, f"{namespace}.kind": kind}
        if cloze is not None:
            meta[f"{namespace}.cloze"] = cloze
        examples.append(Example.from_prompt(text, id=id_, reference=choices[answer], meta=meta))
    if not examples:
        raise DataError(f"{path}: no items")
    return examples


def _argmax(values: Sequence[float]) -> int:
    # The first of equal maxima, like numpy.argmax in lm-evaluation-harness.
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _logprobs(outputs: Sequence[Output]) -> list[Loglikelihood]:
    lls = [o for o in outputs if isinstance(o, Loglikelihood)]
    if len(lls) != len(outputs):
        raise ConfigError("multiple-choice scoring needs loglikelihood outputs")
    return lls


@dataclass
class MultipleChoice(Task):
    """Generic multiple choice from a JSONL file, scored by log-likelihood (see module doc)."""

    name: ClassVar[str] = "mc"
    version: ClassVar[str] = "1"
    kind: ClassVar[Literal["generate", "loglikelihood"]] = "loglikelihood"
    metrics: ClassVar[tuple[str, ...]] = ("acc", "acc_norm", "acc_mi", "acc_blank")
    source: ClassVar[str] = "a multiple-choice JSONL file (default: syllabus's own 20-item sample)"

    path: str | None = field(default=None, metadata={"help": "multiple-choice JSONL (default: the packaged sample)"})
    question_prefix: str = field(default="Question: ", metadata={"help": "text before each question"})
    answer_prefix: str = field(default="\nAnswer:", metadata={"help": "text after each question, before the choice"})
    choice_delimiter: str = field(default=" ", metadata={"help": "put before each choice (lm-eval's target_delimiter)"})
    fewshot_delimiter: str = field(default="\n\n", metadata={"help": "between demonstrations"})
    mutual_info: bool = field(default=True, metadata={"help": "also score acc_mi (one more request per choice)"})
    mi_context: str = field(default="Answer:", metadata={"help": "the neutral context of acc_mi"})
    blank_ppl: bool = field(default=True, metadata={"help": "also score acc_blank (one more request per choice)"})
    chat: bool = field(default=False, metadata={"help": "send the prompt as a user turn through the chat template"})

    # -- data --------------------------------------------------------------------------------
    @cached_property
    def _items(self) -> list[Example]:
        return load_mc_file(self.path or packaged_data("mc_sample.jsonl"), self.namespace)

    def load(self) -> list[Example]:
        return list(self._items)

    def fewshot_pool(self) -> list[Example]:
        return list(self._items)

    # -- prompts -----------------------------------------------------------------------------
    def render(self, example: Example) -> str:
        """The prompt text an item's choices continue (without demonstrations)."""
        text = example.prompt
        if example.meta.get(f"{self.namespace}.kind") == "context":
            return text
        return f"{self.question_prefix}{text}{self.answer_prefix}"

    def choices(self, example: Example) -> list[str]:
        return list(example.meta[f"{self.namespace}.choices"])

    def gold(self, example: Example) -> int:
        return int(example.meta[f"{self.namespace}.answer"])

    def context(self, example: Example) -> str:
        """Demonstrations (seeded per item, never the item itself), then the item's prompt."""
        if self.num_fewshot <= 0:
            return self.render(example)
        pool = [e for e in self.fewshot_pool() if e.id != example.id]
        if len(pool) < self.num_fewshot:
            raise ConfigError(f"task {self.name!r} has {len(pool)} demonstrations; lower num_fewshot")
        rng = random.Random(f"{self.fewshot_seed}:{example.id}")
        shots = [f"{self.render(d)}{self.choice_delimiter}{d.reference}" for d in rng.sample(pool, self.num_fewshot)]
        return self.fewshot_delimiter.join([*shots, self.render(example)])

    def _request(self, prompt: str, choice: str) -> LoglikelihoodRequest:
        if self.chat:
            return LoglikelihoodRequest(messages=({"role": "user", "content": prompt},), continuation=choice)
        return LoglikelihoodRequest(context=prompt, continuation=f"{self.choice_delimiter}{choice}")

    def cloze(self, example: Example) -> str:
        """The fill-in-the-blank sentence of ``acc_blank`` (the prompt + blank without one)."""
        given = example.meta.get(f"{self.namespace}.cloze")
        return given if given else f"{self.render(example)}{self.choice_delimiter}{BLANK}"

    def requests(self, example: Example) -> list[Request]:
        """Per choice: conditional; then, if on, neutral-context (MI); then whole cloze (Blank-ppl)."""
        choices = self.choices(example)
        context = self.context(example)
        out: list[Request] = [self._request(context, c) for c in choices]
        if self.mutual_info:
            out += [self._request(self.mi_context, c) for c in choices]
        if self.blank_ppl:
            cloze = self.cloze(example)
            # An empty context: the backend conditions on the start-of-text token alone.
            out += [LoglikelihoodRequest(context="", continuation=cloze.replace(BLANK, c, 1)) for c in choices]
        return out

    # -- scoring -----------------------------------------------------------------------------
    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float]:
        lls = _logprobs(outputs)
        choices, gold = self.choices(example), self.gold(example)
        k = len(choices)
        expected = k * (1 + self.mutual_info + self.blank_ppl)
        if len(lls) != expected:
            raise ConfigError(f"task {self.name!r}: expected {expected} outputs for {example.id!r}, got {len(lls)}")
        conditional = [o.logprob for o in lls[:k]]
        scores = {
            "acc": float(_argmax(conditional) == gold),
            "acc_norm": float(_argmax([lp / len(c) for lp, c in zip(conditional, choices, strict=True)]) == gold),
        }
        rest = lls[k:]
        if self.mutual_info:
            neutral, rest = rest[:k], rest[k:]
            scores["acc_mi"] = float(_argmax([c - n.logprob for c, n in zip(conditional, neutral, strict=True)]) == gold)
        if self.blank_ppl:
            # Lowest perplexity = highest mean log-probability per token.
            scores["acc_blank"] = float(_argmax([o.logprob / max(1, o.n_tokens) for o in rest[:k]]) == gold)
        return scores


# ---------------------------------------------------------------------------------------------
# Verbalizer manipulation
# ---------------------------------------------------------------------------------------------

Mode = Literal["natural", "neutral", "flipped"]
MODES: tuple[Mode, ...] = ("natural", "neutral", "flipped")


@dataclass
class Verbalized(Task):
    """Verbalizer manipulation: does the model follow the instruction or its priors?

    After Li et al. (2023), *Instruction-following Evaluation through Verbalizer
    Manipulation*. A classification set whose choices are label words (``negative`` /
    ``positive``) is asked three ways; the instruction always states the label-to-word
    mapping, and only the words change:

    * ``natural``: the label's own word (``positive`` for positive), agreeing with priors;
    * ``neutral``: arbitrary words (``foo`` / ``bar``), no prior either way;
    * ``flipped``: another label's word (``negative`` for positive; with more than two
      labels each label takes the next label's word), contradicting priors.

    Scoring is constrained choice: the word with the highest log-probability after the
    prompt is the answer. Per item and mode the task records ``acc_<mode>``, and for
    ``flipped`` also ``flipped_prior`` (the model answered with the gold label's *natural*
    word, i.e. followed its prior against the instruction). All modes are asked on the
    same items, so the report's ``flipped_minus_natural`` is a paired difference with a
    confidence interval (McNemar). A perfect instruction follower scores 1 everywhere; a
    model that only follows priors scores ~1 natural and ~0 flipped. ``chance`` is 1/k.

    The data file uses the ``mc`` format; every item must have the same ``choices`` (the
    label words, in the same order). Default: a packaged 20-review sentiment sample.

    >>> task = Verbalized(mode="flipped", limit=1)
    >>> example = task.load()[0]
    >>> print(task.prompt_text(example, "flipped"))
    Classify the sentiment of the text. Answer "positive" if it is negative and "negative" if it is positive.
    Text: I loved every minute of this film.
    Answer:
    >>> [r.continuation for r in task.requests(example)]
    [' positive', ' negative']
    """

    name: ClassVar[str] = "verbalized"
    version: ClassVar[str] = "1"
    kind: ClassVar[Literal["generate", "loglikelihood"]] = "loglikelihood"
    metrics: ClassVar[tuple[str, ...]] = ("acc_natural", "acc_neutral", "acc_flipped", "flipped_prior")
    source: ClassVar[str] = "a classification JSONL in mc format (default: syllabus's own 20-review sentiment sample)"

    path: str | None = field(default=None, metadata={"help": "classification JSONL in mc format (default: packaged sample)"})
    mode: Literal["all", "natural", "neutral", "flipped"] = field(default="all", metadata={"help": "which verbalizers to ask"})
    instruction: str = field(default="Classify the sentiment of the text.", metadata={"help": "task description before the mapping"})
    text_prefix: str = field(default="Text: ", metadata={"help": "text before each item"})
    answer_prefix: str = field(default="\nAnswer:", metadata={"help": "text after each item"})
    choice_delimiter: str = field(default=" ", metadata={"help": "put before each label word"})
    neutral_words: list[str] = field(
        default_factory=lambda: ["foo", "bar", "baz", "qux", "quux", "corge", "grault", "garply"],
        metadata={"help": "arbitrary label words of the neutral mode"},
    )
    chat: bool = field(default=False, metadata={"help": "send the prompt as a user turn through the chat template"})

    def __post_init__(self) -> None:
        if len(set(self.neutral_words)) != len(self.neutral_words):
            raise ConfigError("verbalized: neutral_words must be distinct")

    @property
    def modes(self) -> tuple[Mode, ...]:
        return MODES if self.mode == "all" else (self.mode,)

    @cached_property
    def _items(self) -> list[Example]:
        path = self.path or packaged_data("sentiment_sample.jsonl")
        items = load_mc_file(path, self.namespace)
        labels = items[0].meta[f"{self.namespace}.choices"]
        for item in items:
            if item.meta[f"{self.namespace}.choices"] != labels:
                raise DataError(
                    f"{path}: item {item.id!r} has choices {item.meta[f'{self.namespace}.choices']!r}, the first has "
                    f"{labels!r}; a verbalizer task needs one label set (the same words in the same order)"
                )
        if len(labels) > len(self.neutral_words):
            raise ConfigError(f"verbalized: {len(labels)} labels but only {len(self.neutral_words)} neutral_words")
        return items

    def load(self) -> list[Example]:
        return list(self._items)

    def labels(self) -> list[str]:
        return list(self._items[0].meta[f"{self.namespace}.choices"])

    def verbalizers(self, mode: Mode) -> list[str]:
        """The word each label (in the file's order) must be answered with in ``mode``.

        >>> Verbalized().verbalizers("flipped")
        ['positive', 'negative']
        """
        labels = self.labels()
        if mode == "natural":
            return labels
        if mode == "neutral":
            return list(self.neutral_words[: len(labels)])
        return labels[1:] + labels[:1]  # each label takes the next one's word: no label keeps its own

    def prompt_text(self, example: Example, mode: Mode) -> str:
        pairs = [f'"{word}" if it is {label}' for word, label in zip(self.verbalizers(mode), self.labels(), strict=True)]
        mapping = " and ".join(pairs) if len(pairs) == 2 else ", ".join(pairs[:-1]) + ", or " + pairs[-1]
        return f"{self.instruction} Answer {mapping}.\n{self.text_prefix}{example.prompt}{self.answer_prefix}"

    def requests(self, example: Example) -> list[Request]:
        out: list[Request] = []
        for mode in self.modes:
            prompt = self.prompt_text(example, mode)
            for word in self.verbalizers(mode):
                if self.chat:
                    out.append(LoglikelihoodRequest(messages=({"role": "user", "content": prompt},), continuation=word))
                else:
                    out.append(LoglikelihoodRequest(context=prompt, continuation=f"{self.choice_delimiter}{word}"))
        return out

    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float]:
        lls = _logprobs(outputs)
        k = len(self.labels())
        if len(lls) != k * len(self.modes):
            raise ConfigError(f"task {self.name!r}: expected {k * len(self.modes)} outputs for {example.id!r}, got {len(lls)}")
        gold = int(example.meta[f"{self.namespace}.answer"])
        scores: dict[str, float] = {}
        for i, mode in enumerate(self.modes):
            pred = _argmax([o.logprob for o in lls[i * k : (i + 1) * k]])
            scores[f"acc_{mode}"] = float(pred == gold)
            if mode == "flipped":
                # The gold label's natural word is, under the flip, the word of label gold-1.
                scores["flipped_prior"] = float(pred == (gold - 1) % k)
        return scores

    def aggregate(self, examples: Sequence[Example]) -> dict[str, Any]:
        from syllabus.evaluate.stats import compare

        out = super().aggregate(examples)
        out["chance"] = 1.0 / len(self.labels())
        keys = [f"{self.namespace}.acc_natural", f"{self.namespace}.acc_flipped"]
        paired = [e for e in examples if all(k in e.scores for k in keys)]
        if len(paired) > 1:
            result = compare([e.scores[keys[0]] for e in paired], [e.scores[keys[1]] for e in paired])
            d = result.to_dict()  # JSON-safe (NaN -> null)
            out["flipped_minus_natural"] = {
                "value": d["diff"], "low": d["low"], "high": d["high"], "n": d["n"],
                "method": d["test"], "p_value": d["p_value"], "verdict": d["verdict"],
            }
        return out
