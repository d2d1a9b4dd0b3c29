"""``evol-instruct``: make instructions harder, round after round (WizardLM, Xu et al. 2023).

Evol-Instruct starts from a pool of instructions and, for ``rounds`` rounds (the paper's
M, default 3), asks the teacher to rewrite every instruction in the pool with one randomly
chosen operation:

- **in-depth** evolution, a harder version of the same instruction: ``add-constraints``
  (one more constraint or requirement), ``deepen`` (a broader, deeper inquiry),
  ``concretize`` (specific concepts instead of general ones), ``reasoning`` (ask for
  several explicit reasoning steps), ``complicate-input`` (add a concrete input to work
  on: a small table, data, a code snippet, a passage);
- **in-breadth** evolution (``breadth``, rarer: ``breadth_probability``), a brand-new
  instruction in the same domain, rarer and more unusual.

After each evolution the **elimination step** drops failed evolutions, each with its
reason (in ``excluded/``):

(a) ``no information gain``: the evolved instruction equals its parent, exactly or in the
    judgement of the teacher asked "are these two instructions equal?" (``judge: true``; an
    answer that is neither keeps the evolution unless ``unclear_verdict: drop``);
(b) ``hard to answer``: the teacher's response contains "sorry" and is short
    (< ``sorry_max_words`` words);
(c) ``only stop words``: the response is nothing but punctuation and stop words;
(d) ``copies the evolving prompt``: the instruction repeats wording of the evolution
    prompt ("given instruction", "rewritten prompt", ...). A single leading label such as
    ``Rewritten instruction:`` is taken as formatting and removed when parsing; the same
    words anywhere else mean the teacher copied the prompt.

As in the paper, a failed evolution leaves its parent in the pool for the next round; a
successful one replaces it. The records are every successful evolution of every round
(with the teacher's response as ``completion``), at most ``n``.

Seeds: ``--prompts FILE`` (user instructions), else the built-in seed tasks
(``syllabus/data/seed_tasks.jsonl``, instruction plus its first instance's input), else the
built-in everyday prompts. The pool takes ``pool_size`` of them (default: enough for ``n``
at an assumed 50% yield over the rounds), chosen by ``run.rng``.

Base models (a teacher without a chat template, or ``raw: true``) get the prompts as plain
text ending with a cue (``Rewritten instruction:``, ``New instruction:``, ``Answer:``); an
evolved instruction is cut at the first blank line.

Records keep the evolution path: ``evol.round``, ``evol.operation``, ``evol.path`` (the
operations from the seed), ``evol.parent_instruction``, ``evol.seed_id``, and the parent's
id in ``provenance.parents``.

    syllabus generate --generator evol-instruct --teacher builtin:smollm2-135m-instruct --n 30 \\
        --set rounds=3 --out runs/evol
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Literal

from syllabus.errors import ConfigError, DataError, did_you_mean
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.generators.magpie import normalise_text
from syllabus.parsing import ParseError
from syllabus.pipeline.respond import Respond
from syllabus.pipeline.step import Drop, Filter
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message

__all__ = [
    "BREADTH",
    "DEPTH_OPERATIONS",
    "CopiesEvolvingPrompt",
    "EqualityJudge",
    "EvolConfig",
    "EvolInstruct",
    "Evolve",
    "HardToAnswer",
    "NoInformationGain",
    "OnlyStopWords",
    "load_seed_instructions",
    "parse_verdict",
]

_DEPTH_INTRO = (
    "Rewrite the instruction below into a more difficult version, one that AI assistants would find "
    "harder to handle. The new version must still be reasonable and answerable by people, and must keep "
    "any input of the original (text, table, code). {method} Add at most {max_added} words.\n\n"
    "Instruction:\n{instruction}\n\nWrite only the rewritten instruction."
)
DEPTH_OPERATIONS: dict[str, str] = {
    "add-constraints": "Add one more constraint or requirement to it.",
    "deepen": "If it asks about a specific issue, make the inquiry broader and deeper.",
    "concretize": "Replace general concepts with more specific ones.",
    "reasoning": "If it can be solved with a few simple steps of thinking, rewrite it so that it explicitly "
    "asks for reasoning in several steps.",
    "complicate-input": "Give the task a concrete input to work on, such as a small table, a short list of data, "
    "a short code snippet or a short passage, and make the instruction refer to it.",
}
BREADTH = "breadth"
PROMPTS: dict[str, PromptTemplate] = {
    op: PromptTemplate(f"evol-{op}", user=_DEPTH_INTRO.replace("{method}", method))
    for op, method in DEPTH_OPERATIONS.items()
}
PROMPTS[BREADTH] = PromptTemplate(
    "evol-breadth",
    user=(
        "Take inspiration from the instruction below and write a brand-new instruction in the same domain, "
        "but about something rarer and more unusual. It should be about as long and as difficult, reasonable, "
        "and answerable by people.\n\nInstruction:\n{instruction}\n\nWrite only the new instruction."
    ),
)
JUDGE_PROMPT = PromptTemplate(
    "evol-equal",
    user=(
        "Here are two instructions for an AI assistant.\n\nFirst instruction:\n{first}\n\n"
        "Second instruction:\n{second}\n\n"
        "Are they equal, that is, do they have the same constraints and requirements and ask for the same "
        "depth and breadth? Answer with one word: Equal or Different."
    ),
)
# Wording of the prompts above (and of the paper's prompts, which teachers may have seen):
# in an evolved instruction it means the teacher copied the prompt.
COPIED_PHRASES = (
    "given instruction",
    "rewritten instruction",
    "new instruction",
    "original instruction",
    "instruction below",
    "given prompt",
    "rewritten prompt",
    "created prompt",
    "#rewritten prompt#",
    "#given prompt#",
    "#created prompt#",
)
_LEADING_LABEL = re.compile(
    r"^\s*(?:\*\*|#+\s*)?(?:the\s+)?(?:rewritten|new|more difficult|harder|evolved|created)?\s*"
    r"(?:instruction|prompt|version)\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?",
    re.IGNORECASE,
)
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    ok okay yes sure well oh also""".split()  # noqa: SIM905 - a word list reads better as text
)


@dataclass
class EvolConfig:
    rounds: int = field(default=3, metadata={"help": "evolution rounds (M)"})
    operations: list[str] = field(
        default_factory=lambda: [*DEPTH_OPERATIONS, BREADTH],
        metadata={"help": "operations to draw from: " + ", ".join([*DEPTH_OPERATIONS, BREADTH])},
    )
    breadth_probability: float = field(
        default=0.15, metadata={"help": "chance of in-breadth evolution (the rest is split among in-depth ones)"}
    )
    pool_size: int | None = field(
        default=None, metadata={"help": "seed instructions in the pool (default: enough for n at a 50% yield)"}
    )
    max_added_words: int = field(
        default=20, metadata={"help": "words an in-depth rewrite may add (told to the teacher)"}
    )
    judge: bool = field(
        default=True, metadata={"help": "ask the teacher whether evolved and parent are equal (rule a)"}
    )
    unclear_verdict: Literal["keep", "drop"] = field(
        default="keep",
        metadata={"help": "a judge answer that says neither equal nor different: keep the evolution or drop it"},
    )
    sorry_max_words: int = field(
        default=80, metadata={"help": "a response with 'sorry' shorter than this fails (rule b)"}
    )
    raw: bool | None = field(
        default=None,
        metadata={"help": "plain-text prompts without a chat template (default: when the teacher has none)"},
    )


def load_seed_instructions() -> list[Example]:
    """The built-in seeds: ``seed_tasks.jsonl`` (instruction + first input), else ``base_prompts.jsonl``."""
    data = resources.files("syllabus").joinpath("data")
    for name in ("seed_tasks.jsonl", "base_prompts.jsonl"):
        file = data.joinpath(name)
        if not file.is_file():
            continue
        seeds = []
        for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = row["instruction"].strip()
                instances = row.get("instances") or []
                given = (instances[0].get("input") or "").strip() if instances else ""
            except (ValueError, KeyError, AttributeError, TypeError) as e:
                raise DataError(f"syllabus/data/{name}:{lineno}: not a seed task ({e})") from None
            seeds.append(Example.from_prompt(f"{text}\n\n{given}" if given else text, id=str(row.get("id") or lineno)))
        return seeds
    raise DataError("no built-in seed instructions found; give --prompts FILE")


class Evolve(TeacherStep):
    """Rewrite the record's instruction with its ``evol.operation``; the rewrite replaces it."""

    name = "evolve"
    version = "1"

    def __init__(self, *args: object, max_added_words: int = 20, raw: bool = False, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.max_added_words, self.raw = max_added_words, raw

    def request(self, example: Example) -> list[Message] | str:
        op = example.meta["evol.operation"]
        messages = PROMPTS[op].render(
            instruction=example.meta["evol.parent_instruction"], max_added=self.max_added_words
        )
        if self.raw:  # a base model continues text: end the prompt where the instruction starts
            return messages[-1]["content"] + ("\n\nNew instruction:" if op == BREADTH else "\n\nRewritten instruction:")
        return messages

    def parse(self, text: str, example: Example, sample: int) -> Example:
        if self.raw:  # after the instruction a base model rambles on past a blank line
            text = text.strip().split("\n\n", 1)[0]
        evolved = _LEADING_LABEL.sub("", text.strip(), count=1).strip().strip('"').strip()
        if not evolved:
            raise ParseError("empty instruction")
        out = replace(
            example,
            messages=[{"role": "user", "content": evolved}],
            meta=dict(example.meta),
            provenance=dict(example.provenance),
        )
        out.meta["evol.path"] = [*example.meta.get("evol.path", []), example.meta["evol.operation"]]
        return out


def parse_verdict(text: str) -> str:
    """``"equal"`` or ``"different"``: whichever verdict the judge's answer states first.

    >>> parse_verdict("Different. The second adds a word limit."), parse_verdict("They are equal.")
    ('different', 'equal')
    >>> parse_verdict("Not equal")
    'different'
    """
    lowered = text.lower()
    found = [
        (m.start(), "different")
        for m in re.finditer(r"\bnot\s+(?:equal|the same|identical)\b|\bdifferent\b|\bunequal\b", lowered)
    ]
    found += [
        (m.start(), "equal")
        for m in re.finditer(r"\bequal\b|\bthe same\b|\bidentical\b", lowered)
        if not re.search(r"not\s+$", lowered[: m.start()])
    ]
    if not found:
        raise ParseError("no verdict", text[:80])
    return min(found)[1]


class EqualityJudge(TeacherStep):
    """Ask the teacher whether the evolved instruction equals its parent (rule a).

    Exact copies (same normalised text) are not sent: they are equal without asking.
    """

    name = "judge"
    version = "1"
    template = JUDGE_PROMPT

    def __init__(self, *args: object, raw: bool = False, keep_unclear: bool = True, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.raw, self.keep_unclear = raw, keep_unclear

    def request(self, example: Example) -> list[Message] | str | None:
        if normalise_text(example.prompt) == normalise_text(example.meta["evol.parent_instruction"]):
            return None
        messages = super().request(example)
        if self.raw and isinstance(messages, list):
            return messages[-1]["content"] + "\n\nAnswer:"
        return messages

    def fields(self, example: Example) -> dict[str, object]:
        return {"first": example.meta["evol.parent_instruction"], "second": example.prompt}

    def parse(self, text: str, example: Example, sample: int) -> Example:
        try:
            verdict = parse_verdict(text)
        except ParseError:
            # Rule (a) eliminates what the judge calls equal; an answer that says nothing is no
            # evidence either way, so by default the evolution stays (its raw answer recorded).
            if not self.keep_unclear:
                raise
            verdict = "unclear"
        out = replace(example, meta=dict(example.meta), provenance=dict(example.provenance))
        out.meta["evol.judge"] = verdict
        out.meta["evol.judge_raw"] = text
        return out


class CopiesEvolvingPrompt(Filter):
    """Rule (d): the evolved instruction repeats the evolution prompt's wording."""

    name = "copies-prompt"

    def keep(self, example: Example) -> bool | Drop:
        text = example.prompt.lower()
        hit = next((p for p in COPIED_PHRASES if p in text), None)
        if hit:
            example.meta["evol.copied"] = hit
            return Drop("copies the evolving prompt")
        return True


class NoInformationGain(Filter):
    """Rule (a): the evolved instruction equals its parent (same text, or the judge says equal)."""

    name = "no-gain"

    def keep(self, example: Example) -> bool | Drop:
        same = normalise_text(example.prompt) == normalise_text(example.meta["evol.parent_instruction"])
        if same or example.meta.get("evol.judge") == "equal":
            return Drop("no information gain")
        return True


class HardToAnswer(Filter):
    """Rule (b): the response says "sorry" and is short: the evolution made the task unanswerable."""

    name = "hard"

    def __init__(self, max_words: int = 80):
        self.max_words = max_words

    def keep(self, example: Example) -> bool | Drop:
        response = example.completion or ""
        if "sorry" in response.lower() and len(response.split()) < self.max_words:
            return Drop("hard to answer")
        return True


_PUNCTUATION = string.punctuation + "“”‘’…–—"


class OnlyStopWords(Filter):
    """Rule (c): the response has no word besides punctuation and stop words (an empty one included)."""

    name = "stopwords"

    def keep(self, example: Example) -> bool | Drop:
        words = [w.strip(_PUNCTUATION).lower() for w in (example.completion or "").split()]
        return True if any(w and w not in STOP_WORDS for w in words) else Drop("only stop words")


class EvolInstruct(Generator):
    """M rounds of in-depth / in-breadth evolution with the elimination step after each."""

    name = "evol-instruct"
    version = "1"
    Config = EvolConfig

    def _check(self) -> None:
        cfg: EvolConfig = self.config
        known = [*DEPTH_OPERATIONS, BREADTH]
        for op in cfg.operations:
            if op not in known:
                raise ConfigError(
                    f"evol-instruct: --set operations: unknown operation {op!r}.{did_you_mean(op, known)}"
                )
        if not cfg.operations:
            raise ConfigError(f"evol-instruct: --set operations is empty; give some of {', '.join(known)}")
        if cfg.rounds < 1:
            raise ConfigError(f"evol-instruct: --set rounds must be >= 1, got {cfg.rounds}")
        if not 0.0 <= cfg.breadth_probability <= 1.0:
            raise ConfigError(
                f"evol-instruct: --set breadth_probability must be in [0, 1], got {cfg.breadth_probability}"
            )
        if cfg.pool_size is not None and cfg.pool_size < 1:
            raise ConfigError(f"evol-instruct: --set pool_size must be >= 1, got {cfg.pool_size}")

    def _weights(self) -> tuple[list[str], list[float]]:
        """Operations and their chances: ``breadth_probability`` for breadth, the rest split evenly."""
        cfg: EvolConfig = self.config
        depth = [op for op in cfg.operations if op != BREADTH]
        if BREADTH not in cfg.operations:
            return depth, [1.0] * len(depth)
        if not depth:
            return [BREADTH], [1.0]
        share = (1.0 - cfg.breadth_probability) / len(depth)
        return [*depth, BREADTH], [share] * len(depth) + [cfg.breadth_probability]

    def _pool(self, run: GenerationRun) -> list[Example]:
        cfg: EvolConfig = self.config
        seeds = list(run.inputs) or load_seed_instructions()
        size = cfg.pool_size or math.ceil(run.settings.n / (cfg.rounds * 0.5))
        if size >= len(seeds):
            return seeds
        order = list(range(len(seeds)))
        run.rng("pool").shuffle(order)
        return [seeds[i] for i in sorted(order[:size])]

    def _round_inputs(self, run: GenerationRun, pool: Sequence[Example], round_: int) -> list[Example]:
        ops, weights = self._weights()
        inputs = []
        for slot, parent in enumerate(pool):
            op = run.rng("operation", round_, slot).choices(ops, weights)[0]
            meta = {k: v for k, v in parent.meta.items() if k in ("skill", "tags", "difficulty")}
            meta.update(
                {
                    "source": "evol-instruct",
                    "evol.round": round_,
                    "evol.operation": op,
                    "evol.slot": slot,
                    "evol.parent_instruction": parent.prompt,
                    "evol.seed_id": parent.meta.get("evol.seed_id", parent.id),
                    "evol.path": list(parent.meta.get("evol.path", [])),
                }
            )
            inputs.append(
                Example(
                    id=f"{parent.id}-e{round_}",
                    messages=[{"role": "user", "content": parent.prompt}],
                    meta=meta,
                    provenance={"parents": [parent.id]},
                )
            )
        return inputs

    def _steps(self, run: GenerationRun) -> tuple[Evolve, EqualityJudge | None, Respond]:
        cfg: EvolConfig = self.config
        batch = run.settings.batch_size
        teacher = getattr(run.teacher, "inner", run.teacher)  # a dry run wraps the teacher
        raw = cfg.raw if cfg.raw is not None else not teacher.capabilities.chat_template
        evolve = Evolve(
            run.teacher, run.params, batch_size=batch, origin=self.origin, max_added_words=cfg.max_added_words, raw=raw
        )
        judge = (
            EqualityJudge(
                run.teacher,
                run.params_with(temperature=0.0, max_tokens=16),
                batch_size=batch,
                origin=self.origin,
                raw=raw,
                keep_unclear=cfg.unclear_verdict == "keep",
            )
            if cfg.judge
            else None
        )
        respond = Respond(run.teacher, run.params, batch_size=batch, origin=self.origin, name="response", raw=raw)
        return evolve, judge, respond

    def generate(self, run: GenerationRun) -> list[Example]:
        cfg: EvolConfig = self.config
        self._check()
        evolve, judge, respond = self._steps(run)
        steps = [
            evolve,
            CopiesEvolvingPrompt(),
            *([judge] if judge else []),
            NoInformationGain(),
            respond,
            HardToAnswer(cfg.sorry_max_words),
            OnlyStopWords(),
        ]
        pool = self._pool(run)
        kept: list[Example] = []
        for round_ in range(1, cfg.rounds + 1):
            survivors = run.phase(f"evolve-r{round_}", self._round_inputs(run, pool, round_), steps, kept=True)
            by_slot = {e.meta["evol.slot"]: e for e in survivors}
            kept += survivors
            # A failed evolution leaves its parent in the pool; a successful one takes its place.
            pool = [by_slot.get(slot, parent) for slot, parent in enumerate(pool)]
        return kept[: run.settings.n]

    def plan(self, run: GenerationRun) -> Plan:
        cfg: EvolConfig = self.config
        self._check()
        evolve, judge, respond = self._steps(run)
        pool = self._pool(run)
        sample = self._round_inputs(run, pool[:3], 1)
        calls = len(pool) * cfg.rounds / max(len(sample), 1)
        evolved = [replace(e, messages=[{"role": "user", "content": "<evolved instruction>"}]) for e in sample]
        phases = [("evolve", evolve, sample)]
        if judge:
            phases.append(("judge", judge, evolved))
        phases.append(("response", respond, evolved))
        return Plan.of(
            run,
            phases,
            calls_per_input=[calls] * len(phases),
            notes=[
                (
                    f"pool of {len(pool)} seed instructions x {cfg.rounds} rounds; judge and response calls are "
                    "upper bounds (failed evolutions stop earlier)"
                )
            ],
        )
