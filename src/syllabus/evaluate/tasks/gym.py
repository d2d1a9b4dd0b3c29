"""``gym:NAME``: any ``reasoning-gym`` dataset as a task, scored by its own scorer.

`reasoning-gym <https://pypi.org/project/reasoning-gym/>`_ (Apache-2.0) generates
verifiable reasoning problems procedurally (``basic_arithmetic``, ``chain_sum``,
``leg_counting``, ``time_intervals``, ``word_sorting`` and ~100 more) from a seed, and
ships a scorer per dataset. ``gym:chain_sum`` evaluates on ``size`` problems drawn with
``seed``; the dataset's default configuration is used (reasoning-gym configs are not
settable here, so every report of ``gym:NAME`` with the same size and seed means the same
problems).

Prompt: the problem, then an instruction to put the final answer between ``<answer>`` and
``</answer>`` tags, reasoning-gym's own convention. The answer is what the **last** such
pair encloses (``reasoning_gym.utils.extract_answer``); because generation stops at
``</answer>``, a tag left open at the very end also counts. Metrics per problem:

* ``score``: ``dataset.score_answer(answer, entry)``, reasoning-gym's scorer (in [0, 1];
  some datasets give partial credit); 0 when no answer was found or the scorer fails on it;
* ``exact``: ``score == 1``;
* ``format_ok``: a non-empty answer was found in the tags.

External data: these problems are written by reasoning-gym, not by syllabus, and the
GSM-style templates (``gsm_symbolic``) derive from GSM8K *test* items. Examples carry
``meta["source"] = "external-eval"`` so training pipelines can refuse them; never train
on them.

>>> task = GymTask(dataset="chain_sum", size=3)
>>> task.name, len(task.load())
('gym:chain_sum', 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from syllabus.errors import ConfigError, DataError, MissingDependencyError, UnknownNameError
from syllabus.evaluate.task import Output, Task
from syllabus.llm.base import Generation, SamplingParams
from syllabus.record import Example

__all__ = ["EXTERNAL_EVAL", "GymTask", "extract_final_answer"]

EXTERNAL_EVAL = "external-eval"  # meta["source"] of data that must never be trained on
INSTRUCTION = (
    "Give your final answer between <answer> and </answer> tags, with nothing else inside "
    "the tags."
)


def _reasoning_gym() -> Any:
    try:
        import reasoning_gym
    except ImportError:
        raise MissingDependencyError("reasoning-gym", extra="eval") from None
    return reasoning_gym


def extract_final_answer(text: str) -> str | None:
    """The last ``<answer>...</answer>`` content; an open tag at the end counts (stop sequence).

    >>> extract_final_answer("2+2 is <answer>3</answer>, no: <answer> 4 </answer>")
    '4'
    >>> extract_final_answer("Sure. <answer>12")
    '12'
    >>> extract_final_answer("12") is None
    True
    """
    from reasoning_gym.utils import extract_answer

    found = extract_answer(text)
    if found is None and "<answer>" in text:
        # Generation stops at "</answer>" and backends cut the stop sequence, so a
        # finished answer arrives as "<answer>X" at the end.
        found = text.rsplit("<answer>", 1)[1].strip()
    return found or None


@dataclass
class GymTask(Task):
    """A reasoning-gym dataset (named by ``gym:NAME``) as a generation task."""

    name: ClassVar[str] = "gym:"
    version: ClassVar[str] = "1"
    metrics: ClassVar[tuple[str, ...]] = ("score", "exact", "format_ok")
    source: ClassVar[str] = "reasoning-gym NAME, external; never train on it"

    dataset: str = field(default="basic_arithmetic", metadata={"help": "reasoning-gym dataset name"})
    size: int = field(default=50, metadata={"help": "number of problems"})
    seed: int = field(default=42, metadata={"help": "which problems are generated"})
    instruction: str = field(default=INSTRUCTION, metadata={"help": "appended to every problem"})

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"gym:{self.dataset}: size must be >= 1, got {self.size}")
        known = _reasoning_gym().factory.DATASETS
        if self.dataset not in known:
            raise UnknownNameError("reasoning-gym dataset", self.dataset, known)
        # One class serves every dataset, so each instance names itself: reports, sample
        # files and score keys then say which dataset they are about.
        self.name = f"gym:{self.dataset}"  # type: ignore[misc]
        self.source = f"reasoning-gym {self.dataset}, external; never train on it"  # type: ignore[misc]

    # -- data --------------------------------------------------------------------------------
    @cached_property
    def _data(self) -> Any:
        try:
            return _reasoning_gym().create_dataset(self.dataset, size=self.size, seed=self.seed)
        except (TypeError, ValueError, AssertionError) as e:
            raise ConfigError(f"gym:{self.dataset}: reasoning-gym refused size={self.size}, seed={self.seed}: {e}") from None

    def _example(self, entry: dict[str, Any], index: int, split: str) -> Example:
        return Example.from_prompt(
            f"{entry['question'].rstrip()}\n\n{self.instruction}",
            id=f"{self.dataset}-{split}{self.seed}-{index}",
            reference=str(entry["answer"]),
            meta={
                "source": EXTERNAL_EVAL,
                "gym.dataset": self.dataset,
                "gym.seed": self.seed,
                "gym.index": index,
                "gym.split": split,
            },
        )

    def load(self) -> list[Example]:
        return [self._example(self._data[i], i, "eval") for i in range(self.size)]

    def fewshot_pool(self) -> list[Example]:
        """Solved problems from another seed, minus any that repeat an evaluated question."""
        if self.num_fewshot <= 0:
            return []
        asked = {self._data[i]["question"] for i in range(self.size)}
        other = _reasoning_gym().create_dataset(self.dataset, size=4 * self.num_fewshot + 8, seed=self.seed + 1_000_003)
        pool = []
        for i in range(len(other)):
            entry = other[i]
            if entry["question"] not in asked:
                demo = self._example(entry, i, "demo")
                demo.completion = f"<answer>{entry['answer']}</answer>"
                pool.append(demo)
        return pool

    def sampling(self) -> SamplingParams:
        return SamplingParams(max_tokens=self.max_tokens, temperature=0.0, stop=("</answer>",))

    # -- scoring -----------------------------------------------------------------------------
    def _entry(self, example: Example) -> dict[str, Any]:
        index = int(example.meta["gym.index"])
        entry = self._data[index]
        # The problem is regenerated from (dataset, seed, index); a different reasoning-gym
        # version could generate another one, and scoring against it would be silently wrong.
        if entry["question"].rstrip() not in example.prompt:
            raise DataError(
                f"gym:{self.dataset}: problem {index} regenerated differently than when it was asked; "
                "was reasoning-gym upgraded mid-run? Re-run the evaluation in a fresh folder."
            )
        return entry

    def score(self, example: Example, outputs: Sequence[Output]) -> dict[str, float]:
        (output,) = outputs
        if not isinstance(output, Generation):
            raise ConfigError(f"gym:{self.dataset} needs generated text")
        entry = self._entry(example)
        answer = extract_final_answer(output.text)
        value = 0.0
        if answer is not None:
            try:
                value = float(self._data.score_answer(answer, entry))
            except Exception:  # noqa: BLE001 - a scorer choking on odd model output is a wrong answer, not a crash
                value = 0.0
        return {"score": value, "exact": float(value == 1.0), "format_ok": float(answer is not None)}
