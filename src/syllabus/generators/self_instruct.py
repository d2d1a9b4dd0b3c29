"""``self-instruct``: bootstrap instruction data from a few seed tasks (Wang et al., 2022).

The method, round by round:

1. **Instructions.** Each prompt shows 8 instructions from the task pool, 6 human-written
   seeds and 2 generated in earlier rounds (in round 0 there are none, so all 8 are
   seeds; while fewer than 2 exist, seeds fill the gap), shuffled, and asks the teacher to
   continue the numbered list with new tasks. The list is parsed.
2. **Instruction filters**, in order: ``length`` (words, kept within ``min_words`` ..
   ``max_words``; the paper drops <= 3 and > 150), ``blacklist`` (tasks a text model
   cannot do: image, picture, graph, file, map, draw, plot, go to, video, audio, ...),
   ``format`` (starts with punctuation, starts with a non-ASCII character, "Write a
   program", cut off by ``max_tokens``), ``novelty`` (ROUGE-L with *every* instruction of
   the pool, seeds and all instructions kept so far, at most ``novelty_threshold`` = 0.7;
   gated by :class:`~syllabus.text.rouge.NoveltyIndex`, which gives the exact brute-force
   decisions without comparing every pair).
3. **Classification detection.** The teacher is asked, few-shot with seed tasks of known
   type, whether the task is a classification task with a small set of output labels.
4. **Instances.** Input-first for ordinary tasks (write an input, then its output);
   *output-first* for classification tasks (write a class label, then an input for it),
   so the labels do not all collapse onto one class. Instances are parsed and filtered:
   ``output-empty``, ``output-is-input``, ``incomplete`` (input or output ending in a
   colon), ``duplicate`` (repeats, and all instances of an input given different
   outputs), ``too-long``.

Each record is one instance: the instruction (with the input after a blank line, as
Alpaca does) is the user message, the output is the completion; ``meta`` holds
``selfinstruct.is_classification``, ``selfinstruct.round``, ``selfinstruct.instruction``,
``selfinstruct.input`` and ``alpaca.input`` (so exporting to Alpaca recovers both parts).
Every phase keeps its stats, so ``generation.json`` shows each filter's yield.

Seed tasks come from ``--prompts FILE`` and/or ``--set seed_tasks=FILE`` (JSONL, one task
per line), and from the built-in seeds (``syllabus/data/seed_tasks.jsonl``, 32 tasks) when
no file is given (``builtin_seeds``: auto, always or never). A line is one of::

    {"instruction": "Sort the numbers.", "instances": [{"input": "3, 1", "output": "1, 3"}],
     "is_classification": false}                                        # Self-Instruct's format
    {"instruction": "Is it spam?", "input": "WIN NOW", "output": "Spam", "is_classification": true}
    {"id": "s1", "messages": [{"role": "user", "content": "Name a color."}], "completion": "Red"}

(``id`` is optional everywhere; in the Example form ``meta["selfinstruct.is_classification"]``
gives the type.) The run is resumable: rerunning in the same folder reads finished phases
back, rebuilds the novelty pool from the seeds and the kept instructions of earlier rounds,
and makes the same prompts, so it gives the same ids with no duplicates::

    syllabus generate --generator self-instruct --teacher builtin:smollm2-135m-instruct \\
        --prompts my_seeds.jsonl --n 200 --out runs/si
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from random import Random
from typing import Any, Literal

from syllabus.errors import ConfigError, DataError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.llm.base import LLM, Generation, SamplingParams
from syllabus.parsing import ParseError, numbered_items
from syllabus.pipeline.step import Drop, Filter, Step
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message
from syllabus.text.rouge import NoveltyIndex

__all__ = [
    "BLACKLIST",
    "BlacklistFilter",
    "ClassifyTask",
    "FormatFilter",
    "GenerateInstances",
    "GenerateInstructions",
    "LengthFilter",
    "NoveltyFilter",
    "SeedTask",
    "SelfInstruct",
    "SelfInstructConfig",
    "builtin_seed_tasks",
    "instance_filters",
    "load_seed_tasks",
    "mix_instructions",
    "parse_instances",
    "seed_task_from_example",
]

NS = "selfinstruct"
SEPARATOR = "\n\n"  # between an instruction and its input in the user message (Alpaca's)

#: Words that mark tasks a text-only model cannot do (the paper's list, plus other media).
BLACKLIST: tuple[str, ...] = (
    "image", "images", "picture", "pictures", "photo", "photos", "graph", "graphs",
    "file", "files", "map", "maps", "draw", "drawing", "plot", "plots", "go to",
    "video", "videos", "audio", "music", "song recording", "flowchart", "flowcharts",
    "diagram", "diagrams", "chart", "charts", "sketch", "screenshot",
)  # fmt: skip


# -- seed tasks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedTask:
    """One seed task: an instruction, example instances ``(input, output)`` and its type.

    ``is_classification`` is None when the source does not say.
    """

    id: str
    instruction: str
    instances: tuple[tuple[str, str], ...] = ()
    is_classification: bool | None = None

    @property
    def has_input(self) -> bool:
        return any(inp.strip() for inp, _ in self.instances)


def _as_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true", "1", "no", "false", "0"):
        return value.strip().lower() in ("yes", "true", "1")
    return None


def seed_task_from_example(example: Example) -> SeedTask:
    """A seed task from an input record (an Example, or an Alpaca/Self-Instruct line read as one).

    >>> from syllabus.formats import from_record
    >>> line = {"instruction": "Is it spam?", "instances": [{"input": "WIN NOW", "output": "Spam"}],
    ...         "is_classification": True}
    >>> seed_task_from_example(from_record(line))
    SeedTask(id='...', instruction='Is it spam?', instances=(('WIN NOW', 'Spam'),), is_classification=True)
    """
    meta = example.meta
    user = example.prompt
    stored = meta.get("alpaca.input")
    instruction, input_ = user, ""
    if isinstance(stored, str) and stored and user.endswith(SEPARATOR + stored):
        instruction, input_ = user[: -len(SEPARATOR + stored)], stored
    elif isinstance(meta.get(f"{NS}.input"), str) and meta.get(f"{NS}.instruction"):
        instruction, input_ = meta[f"{NS}.instruction"], meta[f"{NS}.input"]
    instances: list[tuple[str, str]] = []
    raw = meta.get("alpaca.instances")
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and isinstance(item.get("output"), str):
                instances.append((str(item.get("input") or ""), item["output"]))
    elif example.completion is not None:
        instances.append((input_, example.completion))
    flag = next(
        (
            _as_bool(meta[k])
            for k in (f"{NS}.is_classification", "alpaca.is_classification", "is_classification")
            if k in meta
        ),
        None,
    )
    return SeedTask(example.id, instruction.strip(), tuple(instances), flag)


def load_seed_tasks(path: str | Path) -> list[SeedTask]:
    """Seed tasks from a JSONL (or any format ``syllabus.formats`` reads); see the module doc.

    >>> [t.id for t in builtin_seed_tasks()][:2]
    ['seed-sentiment', 'seed-spam-check']
    """
    from syllabus.formats import read_any

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"seed_tasks {path}: no such file; give a JSONL of seed tasks (see `syllabus ls generators`)")
    tasks = [seed_task_from_example(e) for e in read_any(path)]
    for t in tasks:
        if not t.instruction:
            raise DataError(f"{path}: seed task {t.id!r} has an empty instruction")
    return tasks


@cache
def builtin_seed_tasks() -> tuple[SeedTask, ...]:
    """The project's own 32 seed tasks (10 classification, 25 with an input)."""
    import json

    from syllabus.formats import from_record

    text = resources.files("syllabus").joinpath("data/seed_tasks.jsonl").read_text(encoding="utf-8")
    return tuple(seed_task_from_example(from_record(json.loads(line))) for line in text.splitlines() if line.strip())


def gather_seeds(run: GenerationRun, seed_tasks: str | None, builtin: str) -> list[SeedTask]:
    """The seed pool: ``--prompts`` inputs, the ``seed_tasks`` file, then (per ``builtin``) the built-ins."""
    user = [seed_task_from_example(e) for e in run.inputs]
    if seed_tasks:
        user += load_seed_tasks(seed_tasks)
    if builtin == "always" or (builtin == "auto" and not user):
        user += list(builtin_seed_tasks())
    if not user:
        raise ConfigError(
            "self-instruct needs seed tasks: give --prompts FILE, --set seed_tasks=FILE, or builtin_seeds=auto"
        )
    seen: set[str] = set()
    out = []
    for t in user:  # the same id twice (a user seed repeating a built-in one) counts once
        if t.id not in seen:
            seen.add(t.id)
            out.append(t)
    return out


def mix_instructions(
    rng: Random, seeds: Sequence[str], machine: Sequence[str], n_seed: int = 6, n_machine: int = 2
) -> list[str]:
    """The in-context instructions of one prompt: up to ``n_machine`` generated ones, seeds for the rest.

    Early rounds have fewer generated instructions, so seeds fill their places (round 0:
    all seeds); with fewer seeds than places, more generated ones fill in. Shuffled.

    >>> sorted(mix_instructions(Random(0), ["s1", "s2", "s3"], [], n_seed=2, n_machine=1))  # round 0
    ['s1', 's2', 's3']
    >>> sorted(mix_instructions(Random(0), ["s1", "s2", "s3"], ["m1", "m2"], n_seed=2, n_machine=1))
    ['m2', 's1', 's2']
    """
    total = n_seed + n_machine
    take_machine = min(n_machine, len(machine))
    take_seed = min(len(seeds), total - take_machine)
    take_machine = min(len(machine), total - take_seed)
    chosen = rng.sample(list(machine), take_machine) + rng.sample(list(seeds), take_seed)
    rng.shuffle(chosen)
    return chosen


# -- prompts ----------------------------------------------------------------------------------------
INSTRUCTIONS_CHAT = PromptTemplate(
    "self-instruct/instructions-chat",
    user=(
        "Here is a numbered list of tasks that a person might ask an AI assistant to do:\n\n"
        "{tasks}\n\n"
        "Continue the list with {count} new tasks, numbered {first} to {last}. Each new task must be "
        "different from the ones above and from each other: vary the topic and the kind of task "
        "(writing, classifying, answering, rewriting, reasoning, advice). Each task is one or two "
        "sentences, can be done with text alone, and is written as an instruction. "
        "Write one task per line and nothing else."
    ),
)
# Base models continue text: the paper's prompt, ending where the next task begins.
INSTRUCTIONS_RAW = PromptTemplate(
    "self-instruct/instructions-raw", user="Come up with a series of tasks:\n\n{tasks}\nTask {first}:"
)

CLASSIFY = PromptTemplate(
    "self-instruct/classify",
    user=(
        "A task is a classification task if its answer is one label from a small fixed set "
        "(for example yes/no, positive/negative, or one of a few named categories). "
        "For each task, say Yes if it is a classification task and No if it is not.\n\n"
        "{examples}\n\nTask: {instruction}\nIs it classification?"
    ),
)

# Chat models follow few-shot examples best as earlier turns of the conversation: these
# templates are one turn each (the system prompt says what to do, the user turn names the
# task), and the seed demonstrations come before it as user/assistant pairs.
CLASSIFY_CHAT = PromptTemplate(
    "self-instruct/classify-chat",
    system=(
        "A task is a classification task if its answer is one label from a small fixed set "
        "(for example yes/no, positive/negative, or one of a few named categories). "
        "Reply Yes if the user's task is a classification task and No if it is not; reply with one word."
    ),
    user="Task: {instruction}\nIs it classification?",
)
INSTANCES_INPUT_FIRST_CHAT = PromptTemplate(
    "self-instruct/instances-input-first-chat",
    system=(
        "Write examples for the user's task. Each example has an 'Input:' line and an 'Output:' line "
        "with the correct output. If the task needs no input, leave the Input empty. Write up to "
        "{count} different examples, numbered 'Example 1', 'Example 2', ..., and nothing else."
    ),
    user="Task: {instruction}",
)
INSTANCES_OUTPUT_FIRST_CHAT = PromptTemplate(
    "self-instruct/instances-output-first-chat",
    system=(
        "The user gives a classification task. List its possible class labels and, for each label, "
        "write an input that belongs to that class: a 'Class label:' line followed by an 'Input:' "
        "line, up to {count} pairs, and nothing else."
    ),
    user="Task: {instruction}",
)


def few_shot_messages(
    template: PromptTemplate, shots: Sequence[tuple[dict[str, Any], str]], **values: Any
) -> list[Message]:
    """A chat few-shot prompt: the template's system prompt, each shot as a user turn (the
    template's user text) with its answer as the assistant turn, then the real user turn.

    >>> t = PromptTemplate("t", system="Answer Yes or No.", user="Task: {instruction}")
    >>> [m["role"] for m in few_shot_messages(t, [({"instruction": "Is 3 odd?"}, "Yes")], instruction="Is 4 odd?")]
    ['system', 'user', 'assistant', 'user']
    """
    rendered = template.render(**values)
    turns: list[Message] = list(rendered[:-1])
    for fields, answer in shots:
        turns.append({"role": "user", "content": template.user.format(**{**values, **fields})})
        turns.append({"role": "assistant", "content": answer})
    return [*turns, rendered[-1]]


INSTANCES_INPUT_FIRST = PromptTemplate(
    "self-instruct/instances-input-first",
    user=(
        "Come up with examples for the following tasks. Each example has an Input and the "
        "correct Output. If the task needs no input, leave the Input empty and write only the "
        "Output. Write up to {count} different examples for the last task, in the same format.\n\n"
        "{demos}\n\nTask: {instruction}\n"
    ),
)
INSTANCES_OUTPUT_FIRST = PromptTemplate(
    "self-instruct/instances-output-first",
    user=(
        "Given a classification task, list its possible class labels and, for each label, write "
        "an input that belongs to that class. Write up to {count} pairs for the last task, each "
        "as a 'Class label:' line followed by an 'Input:' line. If the task needs no input, write "
        "only the class labels.\n\n{demos}\n\nTask: {instruction}\n"
    ),
)


# -- steps ---------------------------------------------------------------------------------------------
def _text(request: list[Message], raw: bool) -> list[Message] | str:
    # A base model gets the prompt as plain text to continue; chat models get a user turn.
    return request[-1]["content"] if raw else request


_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d"}


def _clean_instruction(item: str) -> str:
    """One list item as a bare instruction: no "Task 3:" label, no second number, no quotes.

    Small models write items like ``"3. Is it correct?" - No.``: the quoted text is the task.

    >>> _clean_instruction('Task 9: "3. Is the sentence correct?" - No.')
    'Is the sentence correct?'
    """
    label = r"^\s*(?:\*\*)?(?:task|instruction)\s*\d*\s*(?:\*\*)?\s*[:.)]\s*"
    item = re.sub(label, "", item, flags=re.IGNORECASE).strip().strip("*").strip()
    close = _QUOTES.get(item[:1])
    if close:
        item = item[1:]
    item = re.sub(r"^\d{1,3}\s*[.)]\s+", "", item).strip()
    if close and close in item:
        item = item[: item.index(close)]
    return item.strip()


class GenerateInstructions(TeacherStep):
    """Ask for new instructions continuing a numbered list; one candidate record per item.

    The prompt record carries its in-context instructions in ``meta["selfinstruct.context"]``
    (and their ids in ``selfinstruct.context_ids``); each parsed item becomes a record with
    the item as the user message and ``selfinstruct.instruction``.

    >>> from syllabus.llm.fake import ScriptedLLM
    >>> step = GenerateInstructions(ScriptedLLM(["Name a fruit.\\nTask 4: Add two numbers."]), count=2, raw=True)
    >>> prompt = Example(id="p", messages=[{"role": "user", "content": "-"}],
    ...                  meta={"selfinstruct.context": ["Say hi.", "Count to 3."]})
    >>> step.request(prompt)
    'Come up with a series of tasks:\\n\\nTask 1: Say hi.\\nTask 2: Count to 3.\\nTask 3:'
    >>> [e.prompt for e in step([prompt])]
    ['Name a fruit.', 'Add two numbers.']
    """

    name = "instructions"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        params: SamplingParams | None = None,
        *,
        count: int = 8,
        raw: bool = False,
        namespace: str = NS,
        template: PromptTemplate | None = None,
        number: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(llm, params, template=template or (INSTRUCTIONS_RAW if raw else INSTRUCTIONS_CHAT), **kwargs)
        self.count, self.raw, self.ns = count, raw, namespace
        # How list items are numbered: the paper's "Task 1:" lines for base models (which the
        # raw prompt ends with), a plain "1." list for chat models.
        self.number = number or ("Task {}:" if raw else "{}.")

    def fields(self, example: Example) -> dict[str, Any]:
        context = list(example.meta[f"{self.ns}.context"])
        tasks = "\n".join(f"{self.number.format(i)} {t}" for i, t in enumerate(context, 1))
        first = len(context) + 1
        return {"tasks": tasks, "count": self.count, "first": first, "last": first + self.count - 1}

    def request(self, example: Example) -> list[Message] | str:
        return _text(super().request(example), self.raw)  # type: ignore[arg-type]

    def parse(self, text: str, example: Example, sample: int) -> list[Example]:
        first = len(example.meta[f"{self.ns}.context"]) + 1
        # A raw prompt ends with the next item's number, so the answer starts mid-item (unless
        # the model wrote the number again).
        head = self.number.format(first)
        body = text
        if self.raw and not text.lstrip().lower().startswith(head.lower()):
            body = f"{head} {text.lstrip()}"
        else:
            # Chat models often copy the given list before continuing it: start at the first new number.
            start = re.search(rf"^\s*(?:\*\*)?(?:task\s*)?{first}\s*[.):]", body, re.IGNORECASE | re.MULTILINE)
            if start:
                body = body[start.start() :]
        items = [_clean_instruction(i) for i in numbered_items(body)][: self.count]
        items = [i for i in items if i]
        if not items:
            raise ParseError("no numbered list", text[:80])
        out = []
        for j, item in enumerate(items):
            child = example.derive(
                suffix=f"i{j}" if sample == 0 else f"s{sample}i{j}",
                step=self.name,
                messages=[{"role": "user", "content": item}],
            )
            child.meta.pop(f"{self.ns}.context", None)  # the ids below say it; the texts are in the pool
            child.set_meta(self.ns, "instruction", item)
            child.set_meta(self.ns, "position", j)
            child.set_meta(self.ns, "items", len(items))
            out.append(child)
        return out

    def annotate(self, out: Example, generation: Generation) -> None:
        super().annotate(out, generation)
        # The paper drops the last instruction of an answer cut off by the token limit: it is
        # usually unfinished.
        last = out.meta.get(f"{self.ns}.position") == out.meta.get(f"{self.ns}.items", 0) - 1
        out.set_meta(self.ns, "truncated", bool(last and generation.finish_reason == "length"))


def instruction_of(example: Example, namespace: str = NS) -> str:
    value = example.meta.get(f"{namespace}.instruction")
    return value if isinstance(value, str) else example.prompt


class LengthFilter(Filter):
    """Keep instructions of ``min_words`` to ``max_words`` words (inclusive).

    >>> f = LengthFilter(4, 150)
    >>> f.keep(Example.from_prompt("Sort it.")), f.keep(Example.from_prompt("Sort these numbers please."))
    (Drop(reason='too short'), True)
    """

    name = "length"

    def __init__(self, min_words: int = 4, max_words: int = 150, namespace: str = NS):
        if min_words < 1 or max_words < min_words:
            raise ConfigError(f"need 1 <= min_words <= max_words, got {min_words}..{max_words}")
        self.min_words, self.max_words, self.ns = min_words, max_words, namespace

    def keep(self, example: Example) -> bool | Drop:
        words = len(instruction_of(example, self.ns).split())
        if words < self.min_words:
            return Drop("too short")
        if words > self.max_words:
            return Drop("too long")
        return True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_words": self.min_words, "max_words": self.max_words}


class BlacklistFilter(Filter):
    """Drop instructions that name a blacklisted word (whole words, any case); meta says which.

    >>> f = BlacklistFilter(["image", "go to"])
    >>> f.keep(Example.from_prompt("Describe the Image below.")), f.keep(Example.from_prompt("Imagine a city."))
    (Drop(reason='blacklisted keyword'), True)
    """

    name = "blacklist"

    def __init__(self, words: Sequence[str] = BLACKLIST, namespace: str = NS):
        self.words = [w.lower().strip() for w in words if w.strip()]
        self.ns = namespace
        alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(self.words, key=len, reverse=True))
        self._pattern = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE) if self.words else None

    def keep(self, example: Example) -> bool | Drop:
        if self._pattern is None:
            return True
        m = self._pattern.search(instruction_of(example, self.ns))
        if m:
            example.set_meta(self.ns, "blacklisted", m.group(0).lower())
            return Drop("blacklisted keyword")
        return True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "words": self.words}


class FormatFilter(Filter):
    """The paper's surface checks: punctuation or non-ASCII first character, "Write a program", cut off.

    >>> f = FormatFilter()
    >>> [f.keep(Example.from_prompt(t)) for t in ["- List fruits.", "¿Qué hora es?", "Write a program to add."]]
    [Drop(reason='starts with punctuation'), Drop(reason='non-english start'), Drop(reason='write a program')]
    """

    name = "format"

    def __init__(self, namespace: str = NS):
        self.ns = namespace

    def keep(self, example: Example) -> bool | Drop:
        text = instruction_of(example, self.ns).strip()
        if not text:
            return Drop("empty")
        if example.meta.get(f"{self.ns}.truncated"):
            return Drop("cut off")
        if text[0] in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~":
            return Drop("starts with punctuation")
        if not text[0].isascii():
            return Drop("non-english start")
        if text.lower().startswith("write a program"):
            return Drop("write a program")
        return True


class NoveltyFilter(Filter):
    """ROUGE-L novelty against the whole pool: keep an instruction whose similarity to every
    pooled instruction is at most the index's threshold, then add it to the pool.

    Decisions are made once, in input order, when the filter is built (``candidates`` are
    the records it will see): each candidate is compared with the pool as it stands after
    the candidates before it. That makes the phase's outcome independent of sharding and of
    which shards a resumed run skips, and leaves ``index`` holding the pool for the next
    round. Meta records ``<ns>.rouge_l`` (the highest similarity found) and, for drops,
    ``<ns>.similar_to`` (the key of the pooled text).

    >>> index = NoveltyIndex(0.7)
    >>> index.add("Write a poem about the sea.", key="seed-1")
    >>> cands = [Example.from_prompt(t, id=t) for t in ["Write a poem about the sea!", "Name a fruit."]]
    >>> f = NoveltyFilter(index, cands)
    >>> [f.keep(c) for c in cands], len(index)
    ([Drop(reason='too similar'), True], 2)
    """

    name = "novelty"

    def __init__(self, index: NoveltyIndex, candidates: Sequence[Example], namespace: str = NS):
        self.index, self.ns = index, namespace
        self.decisions: dict[str, tuple[bool, float, str | None]] = {}
        for example in candidates:
            text = instruction_of(example, namespace)
            score, key = index.max_similarity(text)
            novel = score <= index.threshold
            self.decisions[example.id] = (novel, score, key)
            if novel:
                index.add(text, key=example.id)

    def keep(self, example: Example) -> bool | Drop:
        decision = self.decisions.get(example.id)
        if decision is None:  # a record the filter was not built for: a caller bug
            raise RuntimeError(f"NoveltyFilter was not prepared for {example.id!r}")
        novel, score, key = decision
        example.set_meta(self.ns, "rouge_l", round(score, 4))
        if novel:
            return True
        example.set_meta(self.ns, "similar_to", key)
        return Drop("too similar")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "threshold": self.index.threshold}


_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


class ClassifyTask(TeacherStep):
    """Ask whether a task is classification (few-shot); sets ``<ns>.is_classification``.

    >>> from syllabus.llm.fake import ScriptedLLM
    >>> step = ClassifyTask(ScriptedLLM([" Yes, it is."]), shots=[("Is it spam?", True)], raw=True)
    >>> [e.meta["selfinstruct.is_classification"] for e in step([Example.from_prompt("Is it odd?")])]
    [True]
    """

    name = "classify"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        params: SamplingParams | None = None,
        *,
        shots: Sequence[tuple[str, bool]],
        raw: bool = False,
        namespace: str = NS,
        **kwargs: Any,
    ):
        super().__init__(llm, params, template=CLASSIFY if raw else CLASSIFY_CHAT, **kwargs)
        self.raw, self.ns, self.shots = raw, namespace, list(shots)
        self.examples = "\n\n".join(f"Task: {t}\nIs it classification? {'Yes' if c else 'No'}" for t, c in shots)

    def fields(self, example: Example) -> dict[str, Any]:
        return {"examples": self.examples, "instruction": instruction_of(example, self.ns)}

    def request(self, example: Example) -> list[Message] | str:
        if self.raw:
            return _text(super().request(example), True)  # type: ignore[arg-type]
        shots = [({"instruction": t}, "Yes" if c else "No") for t, c in self.shots]
        return few_shot_messages(CLASSIFY_CHAT, shots, instruction=instruction_of(example, self.ns))

    def parse(self, text: str, example: Example, sample: int) -> Example:
        m = _YES_NO.search(text)
        if m is None:
            raise ParseError("no yes or no", text[:80])
        out = replace(example, meta=dict(example.meta), provenance=dict(example.provenance))
        out.set_meta(self.ns, "is_classification", m.group(1).lower() == "yes")
        return out


_NONE_INPUT = {"", "none", "n/a", "na", "empty", "(empty)", "<noinput>", "no input", "(none)", "-", "null"}
_LINE_FIELD = re.compile(
    r"^\s*(?:\*\*)?\s*(class\s*label|label|input|output)\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*(.*)$", re.IGNORECASE
)
_EXAMPLE_LINE = re.compile(r"^\s*(?:\*\*|#+\s*)?example\s*\d*\s*(?:\*\*)?\s*[:.]?\s*(?:\*\*)?\s*$", re.IGNORECASE)


def parse_instances(text: str, *, output_first: bool = False) -> list[tuple[str, str]]:
    """``(input, output)`` pairs from ``Input:``/``Output:`` blocks (or ``Class label:``/``Input:``).

    A block ends at an ``Example N`` line or when a label repeats; an empty or "None" input is "".

    >>> parse_instances("Example 1\\nInput: 2+2\\nOutput: 4\\nExample 2\\nInput: None\\nOutput: 0")
    [('2+2', '4'), ('', '0')]
    >>> parse_instances("Class label: Spam\\nInput: WIN NOW\\nClass label: Not spam\\nInput: Hi mum", output_first=True)
    [('WIN NOW', 'Spam'), ('Hi mum', 'Not spam')]
    """
    first, second = ("label", "input") if output_first else ("input", "output")
    blocks: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    field_name: str | None = None
    for line in text.splitlines():
        if _EXAMPLE_LINE.match(line):
            current, field_name = None, None
            continue
        m = _LINE_FIELD.match(line)
        if m:
            label = m.group(1).lower()
            label = "label" if "label" in label else label
            if label not in (first, second):  # e.g. an "Output:" after a class label: ignore it
                field_name = None
                continue
            if current is None or label in current or (label == first and second in current):
                current = {}
                blocks.append(current)
            current[label] = [m.group(2).strip()]
            field_name = label
        elif current is not None and field_name is not None:
            current[field_name].append(line.rstrip())
    pairs = []
    for block in blocks:
        values = {k: "\n".join(v).strip() for k, v in block.items()}
        target = values.get("label" if output_first else "output")
        # An empty "Output:" is kept as "" so that the output-empty filter counts it.
        if not target and (output_first or "output" not in values):
            continue
        inp = values.get("input", "")
        inp = "" if inp.strip().lower().strip(".") in _NONE_INPUT else inp
        pairs.append((inp, target or ""))
    return pairs


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class GenerateInstances(TeacherStep):
    """Write instances for a task, input-first or (classification) output-first; one record each.

    ``demos`` are seed tasks rendered in the step's format; at most ``max_instances`` are
    kept per task. Parsing marks repeats (``<ns>.duplicate``) and inputs given different
    outputs (``<ns>.conflict``) for the ``duplicate`` filter.
    """

    name = "instances"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        params: SamplingParams | None = None,
        *,
        output_first: bool = False,
        demos: Sequence[SeedTask] = (),
        max_instances: int = 3,
        raw: bool = False,
        namespace: str = NS,
        **kwargs: Any,
    ):
        if raw:
            template = INSTANCES_OUTPUT_FIRST if output_first else INSTANCES_INPUT_FIRST
        else:
            template = INSTANCES_OUTPUT_FIRST_CHAT if output_first else INSTANCES_INPUT_FIRST_CHAT
        super().__init__(llm, params, template=template, **kwargs)
        self.output_first, self.demos, self.max_instances, self.raw, self.ns = (
            output_first,
            [t for t in demos if t.instances],
            max_instances,
            raw,
            namespace,
        )

    @staticmethod
    def render_answer(task: SeedTask, *, output_first: bool) -> str:
        """A seed task's instances in the format the step asks for (the demonstration's answer)."""
        lines: list[str] = []
        for j, (inp, out) in enumerate(task.instances, 1):
            if output_first:
                lines += [f"Class label: {out}", f"Input: {inp}" if inp else "Input:"]
            else:
                lines += [f"Example {j}", f"Input: {inp}" if inp else "Input:", f"Output: {out}"]
        return "\n".join(lines)

    def fields(self, example: Example) -> dict[str, Any]:
        demos = "\n\n".join(
            f"Task: {t.instruction}\n{self.render_answer(t, output_first=self.output_first)}" for t in self.demos
        )
        return {"demos": demos, "instruction": instruction_of(example, self.ns), "count": self.max_instances}

    def request(self, example: Example) -> list[Message] | str:
        if self.raw:
            return _text(super().request(example), True)  # type: ignore[arg-type]
        shots = [
            ({"instruction": t.instruction}, self.render_answer(t, output_first=self.output_first)) for t in self.demos
        ]
        return few_shot_messages(
            self.template,  # type: ignore[arg-type]
            shots,
            instruction=instruction_of(example, self.ns),
            count=self.max_instances,
        )

    def parse(self, text: str, example: Example, sample: int) -> list[Example]:
        pairs = parse_instances(text, output_first=self.output_first)[: self.max_instances]
        if not pairs:
            raise ParseError("no instances", text[:80])
        outputs_by_input: dict[str, set[str]] = {}
        for inp, out in pairs:
            outputs_by_input.setdefault(_norm(inp), set()).add(_norm(out))
        seen: set[tuple[str, str]] = set()
        instruction = instruction_of(example, self.ns)
        records = []
        for j, (inp, out) in enumerate(pairs):
            key = (_norm(inp), _norm(out))
            prompt = instruction + SEPARATOR + inp if inp else instruction
            rec = example.derive(
                suffix=f"x{j}" if sample == 0 else f"s{sample}x{j}",
                step=self.name,
                messages=[{"role": "user", "content": prompt}],
                completion=out,
            )
            rec.set_meta(self.ns, "input", inp)
            if inp:
                rec.meta["alpaca.input"] = inp  # lets syllabus.formats export instruction and input apart
            rec.set_meta(self.ns, "duplicate", key in seen)
            rec.set_meta(self.ns, "conflict", len(outputs_by_input[key[0]]) > 1)
            seen.add(key)
            records.append(rec)
        return records


class _InstanceFilter(Filter):
    def __init__(self, namespace: str = NS):
        self.ns = namespace

    def _io(self, example: Example) -> tuple[str, str]:
        return str(example.meta.get(f"{self.ns}.input", "")), example.completion or ""


class OutputEmpty(_InstanceFilter):
    name = "output-empty"

    def keep(self, example: Example) -> bool | Drop:
        return True if self._io(example)[1].strip() else Drop("empty output")


class OutputIsInput(_InstanceFilter):
    name = "output-is-input"

    def keep(self, example: Example) -> bool | Drop:
        inp, out = self._io(example)
        return Drop("output equals input") if _norm(inp) == _norm(out) else True


class Incomplete(_InstanceFilter):
    """Input or output ending in a colon: usually an unfinished generation (the paper's check)."""

    name = "incomplete"

    def keep(self, example: Example) -> bool | Drop:
        inp, out = self._io(example)
        return Drop("ends with a colon") if inp.strip().endswith(":") or out.strip().endswith(":") else True


class Duplicate(_InstanceFilter):
    name = "duplicate"

    def keep(self, example: Example) -> bool | Drop:
        if example.meta.get(f"{self.ns}.conflict"):
            return Drop("same input, different outputs")
        if example.meta.get(f"{self.ns}.duplicate"):
            return Drop("repeated instance")
        return True


class TooLong(_InstanceFilter):
    name = "too-long"

    def __init__(self, max_words: int = 400, namespace: str = NS):
        super().__init__(namespace)
        self.max_words = max_words

    def keep(self, example: Example) -> bool | Drop:
        inp, out = self._io(example)
        return Drop("too long") if len(inp.split()) + len(out.split()) > self.max_words else True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "max_words": self.max_words}


def instance_filters(max_words: int = 400, namespace: str = NS) -> list[Step]:
    """The instance filters in order: empty output, output = input, colon ending, duplicates, length."""
    return [
        OutputEmpty(namespace),
        OutputIsInput(namespace),
        Incomplete(namespace),
        Duplicate(namespace),
        TooLong(max_words, namespace),
    ]


def instruction_filters(min_words: int, max_words: int, blacklist: Sequence[str], namespace: str = NS) -> list[Step]:
    """The cheap instruction filters in the paper's order (novelty runs as its own phase)."""
    return [
        LengthFilter(min_words, max_words, namespace),
        BlacklistFilter(blacklist, namespace),
        FormatFilter(namespace),
    ]


def round_size(needed: int, kept: int, tried: int, first_guess: float, cap: int) -> int:
    """Prompts for the next round, from the yield (kept records per prompt) seen so far."""
    rate = kept / tried if tried and kept else first_guess
    return max(1, min(cap, math.ceil(needed / max(rate, 0.05) * 1.1)))


# -- the generator ---------------------------------------------------------------------------------------
@dataclass
class SelfInstructConfig:
    seed_tasks: str | None = field(
        default=None,
        metadata={
            "help": "JSONL of seed tasks, one a line: {instruction, instances: [{input, output}], "
            "is_classification} or {instruction, input, output, is_classification} or an Example "
            "(also: --prompts)"
        },
    )
    builtin_seeds: Literal["auto", "always", "never"] = field(
        default="auto", metadata={"help": "use the built-in seed tasks: auto (when no seeds are given), always, never"}
    )
    prompt_seeds: int = field(default=6, metadata={"help": "human seed instructions per prompt"})
    prompt_generated: int = field(
        default=2, metadata={"help": "generated instructions per prompt (fewer in early rounds)"}
    )
    new_per_prompt: int = field(default=8, metadata={"help": "new instructions asked for per prompt"})
    min_words: int = field(default=4, metadata={"help": "shortest instruction kept, in words"})
    max_words: int = field(default=150, metadata={"help": "longest instruction kept, in words"})
    blacklist: list[str] = field(
        default_factory=lambda: list(BLACKLIST), metadata={"help": "words that drop an instruction"}
    )
    novelty_threshold: float = field(
        default=0.7, metadata={"help": "drop an instruction whose ROUGE-L with the pool exceeds this"}
    )
    classify_shots: int = field(default=8, metadata={"help": "few-shot examples for classification detection"})
    instance_demos: int = field(default=2, metadata={"help": "seed tasks shown as examples for instance generation"})
    max_instances: int = field(default=3, metadata={"help": "instances kept per instruction"})
    max_instance_words: int = field(default=400, metadata={"help": "longest input + output kept, in words"})
    max_prompts_per_round: int = field(default=64, metadata={"help": "cap on instruction prompts per round"})
    raw: bool | None = field(
        default=None, metadata={"help": "plain-text prompts (default: when the teacher has no chat template)"}
    )

    def __post_init__(self) -> None:
        for name in ("prompt_seeds", "new_per_prompt", "max_instances", "max_prompts_per_round"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--set {name} must be >= 1, got {getattr(self, name)}")
        if self.prompt_generated < 0 or self.classify_shots < 0 or self.instance_demos < 0:
            raise ConfigError("--set prompt_generated, classify_shots and instance_demos must be >= 0")


class SelfInstruct(Generator):
    """Self-Instruct: seed pool → 6+2 prompts → filters and ROUGE-L novelty → type → instances."""

    name = "self-instruct"
    version = "1"
    Config = SelfInstructConfig
    #: Kept records per prompt assumed before the first round has measured the yield.
    first_round_yield = 2.0

    # -- building blocks ------------------------------------------------------------------------
    def _raw(self, run: GenerationRun) -> bool:
        cfg: SelfInstructConfig = self.config
        return cfg.raw if cfg.raw is not None else not run.teacher.capabilities.chat_template

    def _prompts(
        self, run: GenerationRun, round_: int, size: int, seeds: Sequence[SeedTask], machine: Sequence[Example]
    ) -> list[Example]:
        cfg: SelfInstructConfig = self.config
        rng = run.rng("prompts", round_)
        by_text = {t.instruction: t.id for t in seeds}
        by_text.update({instruction_of(m): m.id for m in machine})
        seed_texts = [t.instruction for t in seeds]
        machine_texts = [instruction_of(m) for m in machine]
        prompts = []
        for k in range(size):
            context = mix_instructions(rng, seed_texts, machine_texts, cfg.prompt_seeds, cfg.prompt_generated)
            ex = Example(id=f"si-r{round_:02d}-p{k:04d}", messages=[{"role": "user", "content": "\n".join(context)}])
            ex.set_meta(NS, "context", context)
            ex.set_meta(NS, "context_ids", [by_text[t] for t in context])
            ex.set_meta(NS, "round", round_)
            prompts.append(ex)
        return prompts

    def _classify_shots(self, run: GenerationRun, seeds: Sequence[SeedTask]) -> list[tuple[str, bool]]:
        cfg: SelfInstructConfig = self.config
        rng = run.rng("classify-shots")
        pools = {}
        for label in (True, False):
            own = [t for t in seeds if t.is_classification is label]
            # User seeds of one type only: borrow the other type from the built-in seeds.
            pools[label] = own or [t for t in builtin_seed_tasks() if t.is_classification is label]
        half = cfg.classify_shots // 2
        shots = [
            (t.instruction, True) for t in rng.sample(pools[True], min(len(pools[True]), cfg.classify_shots - half))
        ]
        shots += [(t.instruction, False) for t in rng.sample(pools[False], min(len(pools[False]), half))]
        rng.shuffle(shots)
        return shots

    def _demos(self, run: GenerationRun, seeds: Sequence[SeedTask], output_first: bool) -> list[SeedTask]:
        cfg: SelfInstructConfig = self.config
        pool = [t for t in seeds if t.instances and bool(t.is_classification) == output_first]
        if not pool:
            pool = [t for t in builtin_seed_tasks() if bool(t.is_classification) == output_first]
        rng = run.rng("instance-demos", output_first)
        chosen = rng.sample(pool, min(cfg.instance_demos, len(pool)))
        return chosen

    def _steps(self, run: GenerationRun, seeds: Sequence[SeedTask]) -> dict[str, Any]:
        cfg: SelfInstructConfig = self.config
        raw = self._raw(run)
        common = {"batch_size": run.settings.batch_size, "origin": self.origin}
        # Raw prompts: stop where a base model would start the next task or example set.
        list_params = (
            run.params_with(stop=(f"Task {cfg.prompt_seeds + cfg.prompt_generated + cfg.new_per_prompt + 1}:",))
            if raw
            else run.params
        )
        instance_params = run.params_with(stop=("\nTask:",))
        # A verdict is a word or two, and a type is a fact about the task: decode greedily.
        classify_params = run.params_with(temperature=0.0, max_tokens=min(run.params.max_tokens, 16))
        return {
            "instructions": GenerateInstructions(run.teacher, list_params, count=cfg.new_per_prompt, raw=raw, **common),
            "classify": ClassifyTask(
                run.teacher, classify_params, shots=self._classify_shots(run, seeds), raw=raw, **common
            ),
            "input_first": GenerateInstances(
                run.teacher,
                instance_params,
                output_first=False,
                name="instances",
                demos=self._demos(run, seeds, False),
                max_instances=cfg.max_instances,
                raw=raw,
                **common,
            ),
            "output_first": GenerateInstances(
                run.teacher,
                instance_params,
                output_first=True,
                name="instances-clf",
                demos=self._demos(run, seeds, True),
                max_instances=cfg.max_instances,
                raw=raw,
                **common,
            ),
        }

    def seeds(self, run: GenerationRun) -> list[SeedTask]:
        cfg: SelfInstructConfig = self.config
        return gather_seeds(run, cfg.seed_tasks, cfg.builtin_seeds)

    # -- the run ---------------------------------------------------------------------------------------
    def generate(self, run: GenerationRun) -> list[Example]:
        cfg: SelfInstructConfig = self.config
        seeds = self.seeds(run)
        steps = self._steps(run, seeds)
        pool = NoveltyIndex(cfg.novelty_threshold)
        for t in seeds:
            pool.add(t.instruction, key=t.id)
        machine: list[Example] = []
        records: list[Example] = []
        tried = 0
        for round_ in range(run.settings.max_rounds):
            needed = run.settings.n - len(records)
            if needed <= 0:
                break
            size = round_size(needed, len(records), tried, self.first_round_yield, cfg.max_prompts_per_round)
            prompts = self._prompts(run, round_, size, seeds, machine)
            tried += len(prompts)
            tag = f"r{round_:02d}"
            candidates = run.phase(
                f"instructions-{tag}",
                prompts,
                [steps["instructions"], *instruction_filters(cfg.min_words, cfg.max_words, cfg.blacklist)],
            )
            # Built from this round's candidates and the pool of earlier rounds (rebuilt the same
            # way on a resumed run), so the decisions do not depend on which shards already ran.
            novel = run.phase(f"novelty-{tag}", candidates, [NoveltyFilter(pool, candidates)])
            machine += novel
            typed = run.phase(f"classify-{tag}", novel, [steps["classify"]])
            limit = cfg.max_instance_words
            kept = run.phase(
                f"instances-{tag}",
                [t for t in typed if not t.meta[f"{NS}.is_classification"]],
                [steps["input_first"], *instance_filters(limit)],
                kept=True,
            )
            kept += run.phase(
                f"instances-clf-{tag}",
                [t for t in typed if t.meta[f"{NS}.is_classification"]],
                [steps["output_first"], *instance_filters(limit)],
                kept=True,
            )
            records += kept
            if not kept:  # a round that keeps nothing will not be followed by a better one
                run.note(f"round {round_} kept nothing; stopped with {len(records)} of {run.settings.n}")
                break
        else:
            if len(records) < run.settings.n:
                run.note(f"{len(records)} of {run.settings.n} kept after max_rounds={run.settings.max_rounds}")
        return records[: run.settings.n]

    def plan(self, run: GenerationRun) -> Plan:
        cfg: SelfInstructConfig = self.config
        seeds = self.seeds(run)
        steps = self._steps(run, seeds)
        size = round_size(run.settings.n, 0, 0, self.first_round_yield, cfg.max_prompts_per_round)
        prompts = self._prompts(run, 0, size, seeds, [])
        # Seeds stand in for the instructions later phases will see (one per prompt, scaled).
        stand_ins = []
        for t in (seeds * (len(prompts) // max(len(seeds), 1) + 1))[: len(prompts)]:
            ex = Example.from_prompt(t.instruction, id=t.id)
            ex.set_meta(NS, "instruction", t.instruction)
            stand_ins.append(ex)
        per_prompt = 3.0  # novel instructions per prompt: a planning guess, the real yield varies
        share = sum(bool(t.is_classification) for t in seeds) / len(seeds)
        return Plan.of(
            run,
            [
                ("instructions", steps["instructions"], prompts),
                ("classify", steps["classify"], stand_ins),
                ("instances", steps["input_first"], stand_ins),
                ("instances-clf", steps["output_first"], stand_ins),
            ],
            calls_per_input=[1.0, per_prompt, per_prompt * (1 - share), per_prompt * share],
            notes=[
                (
                    f"{len(seeds)} seed tasks; round 0 of up to {run.settings.max_rounds}: later rounds are sized "
                    f"from the measured yield (assumed {self.first_round_yield} kept records per prompt, "
                    f"{per_prompt:g} new instructions per prompt)"
                )
            ],
        )
