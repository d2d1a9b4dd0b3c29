"""``skillmix``: instructions that require a random combination of k skills (Instruct-SkillMix).

Kaur et al. (2024) have a strong model name the skills that instruction following needs
and the kinds of requests people make; every data point then draws a random pair of skills
and a request type, and the teacher writes a request whose answer needs both skills, and
the answer. Random combinations push the data away from the few skills a teacher favours
when asked for "an instruction", which is where its diversity comes from.

Phases:

1. **skills** (unless given): the teacher lists skills for a topic (``topic``), several
   samples, parsed as numbered lists, normalised and deduplicated. Or a user list
   (``skills: [...]`` or ``skills_file``, one per line), or the built-in list
   (``extract_skills: false``). The same for **query types** (a built-in list by default;
   ``extract_query_types: true`` asks the teacher).
2. **instructions**: for data point i, a k-combination of skills (distinct combinations,
   drawn from ``run.rng``; the skill order inside a combination is shuffled too) and a
   query type (cycling through a reshuffled list) fill the instruction prompt. Filters:
   length bounds, and prompt echoes (the teacher repeating the prompt instead of writing a
   request). A second phase drops exact duplicates of earlier instructions.
3. **responses**: the teacher answers each instruction as an ordinary user turn.

Design choice: the paper writes instruction and response in one conversation (and then
critiques and rewrites both). Here they are **two calls**: small teachers follow a
one-field prompt far more reliably than a two-field one, and the answer is generated from
exactly the prompt the student will see at training time. The price is that the response
call does not see the skill list; the instruction is written to require the skills.

**Shirkers** (``shirker_fraction``): for ablations and for testing curation, that fraction
of the final records gets its response replaced by a low-quality one, written without a
model from fixed patterns (evasive, restating the question, short and off topic, long
generic filler), chosen deterministically from ``run.rng``. Such records carry
``skillmix.shirker: true``, the pattern in ``skillmix.shirker_kind`` and the teacher's
answer in ``skillmix.original_response``; all others carry ``skillmix.shirker: false``.

Base models (a teacher without a chat template, or ``raw: true``) get the same prompts as
plain text ending with a cue to continue (``1.`` for lists, ``Request:`` for the request),
and their answer is cut at the first blank line.

Records: the instruction as the user turn, the response as ``completion``, ``meta.skill``
the combination as text (``"analogy + budgeting"``), ``skillmix.skills`` the list,
``skillmix.query_type``, ``skillmix.k``.

    syllabus generate --generator skillmix --teacher builtin:smollm2-135m-instruct --n 50 \\
        --set topic="everyday science" --set k=2 --out runs/skillmix
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from syllabus.errors import ConfigError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.generators.magpie import FirstOccurrence, normalise_text
from syllabus.parsing import ParseError, labelled_fields, numbered_items
from syllabus.pipeline.respond import Respond
from syllabus.pipeline.step import Drop, Filter
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message

__all__ = [
    "DEFAULT_QUERY_TYPES",
    "DEFAULT_SKILLS",
    "ExtractList",
    "SkillMix",
    "SkillMixConfig",
    "WriteInstruction",
    "normalise_skill",
    "plan_tasks",
    "shirk",
    "skill_combinations",
]

SKILLS_PROMPT = PromptTemplate(
    "skillmix-skills",
    user=(
        "List {count} different skills that an assistant needs to answer requests about {topic} well. "
        'Name each skill in two to four words (for example: "persuasive writing", "unit conversion"). '
        "Write a numbered list with one skill per line and nothing else."
    ),
)
QUERY_TYPES_PROMPT = PromptTemplate(
    "skillmix-query-types",
    user=(
        "List {count} different kinds of requests that people send to an AI assistant about {topic} "
        '(for example: "asking for advice", "creative writing"). '
        "Write a numbered list with one kind per line and nothing else."
    ),
)
INSTRUCTION_PROMPT = PromptTemplate(
    "skillmix-instruction",
    user=(
        "Write one request that a person could send to an AI assistant.\n"
        "Kind of request: {query_type}\n"
        "A good answer to it must use all of these skills: {skills}.\n"
        "Make the request specific and realistic, with concrete details, and do not name the skills. "
        'Write only the request, starting with "Request:".'
    ),
)
# Phrases of INSTRUCTION_PROMPT that never belong in a request: a teacher that repeats them
# copied the prompt instead of following it.
_PROMPT_ECHOES = (
    "kind of request:",
    "must use all of these skills",
    "do not name the skills",
    "could send to an ai assistant",
)

DEFAULT_QUERY_TYPES = (
    "information seeking",
    "asking for advice",
    "step-by-step how-to",
    "creative writing",
    "comparing options",
    "planning",
    "explaining a concept",
    "making a decision",
    "feedback on a draft",
    "problem solving with numbers",
    "writing code",
    "rewriting or summarising a text",
    "role play or conversation",
    "finding an error",
)
DEFAULT_SKILLS = (
    "logical reasoning",
    "arithmetic",
    "unit conversion",
    "estimation",
    "persuasive writing",
    "summarisation",
    "step-by-step explanation",
    "comparing alternatives",
    "empathy",
    "giving concrete examples",
    "structuring a plan",
    "time management",
    "budgeting",
    "analogy",
    "storytelling",
    "formal tone",
    "humour",
    "critical thinking",
    "classification",
    "rewriting for clarity",
    "cause and effect reasoning",
    "safety awareness",
    "scheduling",
    "defining terms",
    "spotting errors",
    "simple programming",
    "reading a table",
    "writing instructions",
    "weighing pros and cons",
    "audience awareness",
)


@dataclass
class SkillMixConfig:
    k: int = field(default=2, metadata={"help": "skills combined in one instruction"})
    skills: list[str] = field(default_factory=list, metadata={"help": "the skill list (instead of extracting it)"})
    skills_file: str | None = field(default=None, metadata={"help": "a text file of skills, one per line"})
    extract_skills: bool = field(
        default=True, metadata={"help": "without a skill list: ask the teacher (true) or use the built-in list (false)"}
    )
    topic: str = field(
        default="everyday tasks", metadata={"help": "domain the extracted skills and query types are for"}
    )
    num_skills: int = field(default=30, metadata={"help": "skills to extract at most"})
    extract_samples: int = field(
        default=3, metadata={"help": "teacher samples of the skill list (merged, deduplicated)"}
    )
    query_types: list[str] = field(
        default_factory=lambda: list(DEFAULT_QUERY_TYPES), metadata={"help": "kinds of requests to cycle through"}
    )
    query_types_file: str | None = field(default=None, metadata={"help": "a text file of query types, one per line"})
    extract_query_types: bool = field(default=False, metadata={"help": "ask the teacher for the query types"})
    num_query_types: int = field(default=12, metadata={"help": "query types to extract at most"})
    min_words: int = field(default=4, metadata={"help": "shorter instructions are dropped"})
    max_words: int = field(default=200, metadata={"help": "longer instructions are dropped"})
    raw: bool | None = field(
        default=None,
        metadata={"help": "plain-text prompts without a chat template (default: when the teacher has none)"},
    )
    shirker_fraction: float = field(
        default=0.0, metadata={"help": "share of records whose response is replaced by a shirker (ablations)"}
    )


# -- skills and combinations --------------------------------------------------------------------------
_BULLET = re.compile(r"^[\s\-*•#\d.)]+")


def normalise_skill(item: str) -> str:
    """One list item as a skill name: no markup or definition, lowercase, single spaces.

    >>> normalise_skill('**Persuasive Writing**: convincing a reader.')
    'persuasive writing'
    >>> normalise_skill('"unit_conversion"')
    'unit conversion'
    """
    text = item.replace("**", "").replace("__", " ").replace("_", " ")
    text = re.split(r"\s[-–—]\s|:|\(", text, maxsplit=1)[0]
    text = _BULLET.sub("", text)
    text = text.strip().strip("\"'`.,;").strip()
    return " ".join(text.lower().split())


def _merge_items(lists: Sequence[Sequence[str]], limit: int, max_words: int = 6) -> list[str]:
    """Normalised, deduplicated items of several lists, in order, at most ``limit``."""
    out: dict[str, None] = {}
    for items in lists:
        for item in items:
            name = normalise_skill(item)
            if name and len(name.split()) <= max_words and not any(ch.isdigit() for ch in name[:1]):
                out.setdefault(name, None)
    return list(out)[:limit]


def _read_list(path: str, option: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--set {option}={path}: no such file (a text file with one item per line)")
    items = [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
    return [i for i in items if i and not i.startswith("#")]


def skill_combinations(skills: Sequence[str], k: int, rng: random.Random) -> Iterator[tuple[str, ...]]:
    """Every k-combination of ``skills`` once, in random order (each combination's order shuffled too).

    Small pools are enumerated and shuffled; large ones are sampled with rejection of
    repeats, which is cheap while the combinations drawn are a small share of all of them.

    >>> combos = list(skill_combinations(["a", "b", "c"], 2, random.Random(0)))
    >>> sorted(tuple(sorted(c)) for c in combos)
    [('a', 'b'), ('a', 'c'), ('b', 'c')]
    """
    m = len(skills)
    total = math.comb(m, k)
    if total <= 100_000:
        pool = list(combinations(range(m), k))
        rng.shuffle(pool)
        indices: Iterator[tuple[int, ...]] = iter(pool)
    else:

        def sampled() -> Iterator[tuple[int, ...]]:
            seen: set[tuple[int, ...]] = set()
            while len(seen) < total:
                combo = tuple(sorted(rng.sample(range(m), k)))
                if combo not in seen:
                    seen.add(combo)
                    yield combo

        indices = sampled()
    for combo in indices:
        order = list(combo)
        rng.shuffle(order)
        yield tuple(skills[i] for i in order)


def plan_tasks(
    skills: Sequence[str], query_types: Sequence[str], k: int, rng: random.Random
) -> Iterator[tuple[tuple[str, ...], str]]:
    """(skill combination, query type) pairs, all distinct, in a seeded order.

    Query types cycle through a list reshuffled at every cycle. When every combination has
    been used, a new pass pairs them again, each with a query type it has not met yet; the
    stream ends when every pair has appeared once.
    """
    if len(skills) < k:
        raise ConfigError(f"skillmix: k={k} needs at least {k} distinct skills, got {len(skills)}")
    types = list(query_types)
    cycle: list[str] = []
    met: dict[frozenset[str], set[str]] = {}
    for _ in range(len(types)):
        # Each pass gives every combination one query type it has not met, so after one pass
        # per query type every (combination, query type) pair has appeared exactly once.
        for combo in skill_combinations(skills, k, rng):
            used = met.setdefault(frozenset(combo), set())
            if len(used) == len(types):
                continue
            if not cycle:
                cycle = rng.sample(types, len(types))
            pick = next((i for i, t in enumerate(cycle) if t not in used), None)
            qtype = cycle.pop(pick) if pick is not None else rng.choice(sorted(set(types) - used))
            used.add(qtype)
            yield combo, qtype


# -- steps ----------------------------------------------------------------------------------------------
class ExtractList(TeacherStep):
    """Ask the teacher for a numbered list (skills or query types); one record per sample."""

    name = "extract"
    version = "1"

    def __init__(self, *args: object, raw: bool = False, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.raw = raw

    def fields(self, example: Example) -> dict[str, object]:
        return {"count": example.meta["skillmix.count"], "topic": example.meta["skillmix.topic"]}

    def request(self, example: Example) -> list[Message] | str:
        messages = super().request(example)
        # A base model continues text: end the prompt with the list's first number.
        return f"{messages[-1]['content']}\n\n1." if self.raw and isinstance(messages, list) else messages  # type: ignore[return-value]

    def parse(self, text: str, example: Example, sample: int) -> Example:
        if self.raw and not text.lstrip().startswith("1"):
            text = "1." + text
        items = numbered_items(text, min_items=2)
        out = example.derive(suffix=f"s{sample}", step=self.name)
        out.set_meta("skillmix", "items", items)
        return out


class WriteInstruction(TeacherStep):
    """Fill the instruction prompt with a record's skills and query type; parse the request."""

    name = "instruction"
    version = "1"
    template = INSTRUCTION_PROMPT

    def __init__(self, *args: object, raw: bool = False, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.raw = raw

    def fields(self, example: Example) -> dict[str, object]:
        return {"query_type": example.meta["skillmix.query_type"], "skills": ", ".join(example.meta["skillmix.skills"])}

    def request(self, example: Example) -> list[Message] | str:
        messages = super().request(example)
        return f"{messages[-1]['content']}\n\nRequest:" if self.raw and isinstance(messages, list) else messages  # type: ignore[return-value]

    def parse(self, text: str, example: Example, sample: int) -> Example:
        if self.raw:
            # The prompt ended with the label; a base model rambles on after a blank line.
            text = text.strip().split("\n\n", 1)[0]
        fields = labelled_fields(text, ["Request", "Response", "Answer"], required=[])
        request = fields.get("Request")
        if request is None:
            # No label: the whole answer is the request, unless it is an answer to one.
            if fields:
                raise ParseError("no request")
            request = text
        request = request.strip().strip('"').strip()
        if not request:
            raise ParseError("empty request")
        out = Example(id=example.id, messages=[{"role": "user", "content": request}], meta=dict(example.meta))
        out.meta["source"] = "skillmix"
        return out


class InstructionLength(Filter):
    """Drop instructions with fewer than ``min_words`` or more than ``max_words`` words."""

    name = "length"

    def __init__(self, min_words: int, max_words: int):
        self.min_words, self.max_words = min_words, max_words

    def keep(self, example: Example) -> bool | Drop:
        words = len(example.prompt.split())
        if words < self.min_words:
            return Drop("too short")
        if words > self.max_words:
            return Drop("too long")
        return True


class PromptEcho(Filter):
    """Drop an instruction that repeats the instruction prompt's own wording."""

    name = "prompt-echo"

    def keep(self, example: Example) -> bool | Drop:
        text = example.prompt.lower()
        return Drop("copies the prompt") if any(p in text for p in _PROMPT_ECHOES) else True


class NonEmptyResponse(Filter):
    name = "empty-response"

    def keep(self, example: Example) -> bool | Drop:
        return True if (example.completion or "").strip() else Drop("empty response")


# -- shirkers -------------------------------------------------------------------------------------------
SHIRKER_KINDS = ("evasive", "restate", "off-topic", "filler")
_EVASIVE = (
    "That depends on a lot of things, so it is hard to say. You may want to look into it yourself or ask an expert.",
    "There is no single answer to this. It really varies, so I would suggest doing some research on your own.",
    "I am not sure that I can help with this one. It is a complicated topic with many sides to it.",
)
_OFF_TOPIC = (
    "Sure. Did you know that honey never spoils?",
    "Good question. The weather has been nice lately.",
    "Okay. Many people enjoy a walk in the park on Sundays.",
)
_FILLER = (
    "Well, basically, this is something that a lot of people think about, and there are really many different "
    "ways of looking at it. In general, it is kind of important to keep in mind that things can be different "
    "depending on the situation, and so, generally speaking, it is a good idea to consider the various factors "
    "that might be involved. At the end of the day, it really just depends, and there is a lot to think about."
)


def shirk(instruction: str, kind: str, rng: random.Random) -> str:
    """A low-quality response of the given kind, written from fixed patterns (no model).

    >>> shirk("Name three fruits.", "restate", random.Random(0))
    'You are asking: Name three fruits. That is an interesting question, and there is a lot one could say about it.'
    """
    if kind == "evasive":
        return rng.choice(_EVASIVE)
    if kind == "restate":
        return f"You are asking: {instruction.strip()} That is an interesting question, and there is a lot one could say about it."
    if kind == "off-topic":
        return rng.choice(_OFF_TOPIC)
    if kind == "filler":
        return _FILLER
    raise ValueError(f"unknown shirker kind {kind!r}; one of {', '.join(SHIRKER_KINDS)}")


def inject_shirkers(records: list[Example], fraction: float, rng: random.Random) -> list[Example]:
    """Replace the response of ``round(fraction * len(records))`` records, chosen by ``rng``."""
    chosen = set(rng.sample(range(len(records)), round(fraction * len(records)))) if records else set()
    for i, record in enumerate(records):
        record.set_meta("skillmix", "shirker", i in chosen)
        if i in chosen:
            kind = rng.choice(SHIRKER_KINDS)
            record.set_meta("skillmix", "shirker_kind", kind)
            record.set_meta("skillmix", "original_response", record.completion)
            record.completion = shirk(record.prompt, kind, rng)
    return records


# -- the generator --------------------------------------------------------------------------------------
class SkillMix(Generator):
    """Instructions requiring random k-skill combinations × query types, then responses."""

    name = "skillmix"
    version = "1"
    Config = SkillMixConfig

    def _check(self) -> None:
        cfg: SkillMixConfig = self.config
        if cfg.k < 1:
            raise ConfigError(f"skillmix: --set k must be >= 1, got {cfg.k}")
        if not 0.0 <= cfg.shirker_fraction <= 1.0:
            raise ConfigError(f"skillmix: --set shirker_fraction must be in [0, 1], got {cfg.shirker_fraction}")
        if cfg.min_words < 1 or cfg.max_words < cfg.min_words:
            raise ConfigError(f"skillmix: need 1 <= min_words <= max_words, got {cfg.min_words} and {cfg.max_words}")
        if cfg.extract_samples < 1 or cfg.num_skills < cfg.k:
            raise ConfigError("skillmix: need extract_samples >= 1 and num_skills >= k")

    def _raw(self, run: GenerationRun) -> bool:
        """Plain-text prompts: as configured, else when the teacher has no chat template (base models)."""
        cfg: SkillMixConfig = self.config
        teacher = getattr(run.teacher, "inner", run.teacher)  # a dry run wraps the teacher
        return cfg.raw if cfg.raw is not None else not teacher.capabilities.chat_template

    def _given_skills(self) -> list[str] | None:
        """The user's skill list (option or file), the built-in list, or None (extract)."""
        cfg: SkillMixConfig = self.config
        if cfg.skills or cfg.skills_file:
            given = list(cfg.skills) + (_read_list(cfg.skills_file, "skills_file") if cfg.skills_file else [])
            return _merge_items([given], limit=len(given), max_words=50)
        return None if cfg.extract_skills else list(DEFAULT_SKILLS)

    def _given_query_types(self) -> list[str] | None:
        cfg: SkillMixConfig = self.config
        if cfg.extract_query_types:
            return None
        given = list(cfg.query_types) + (
            _read_list(cfg.query_types_file, "query_types_file") if cfg.query_types_file else []
        )
        types = _merge_items([given], limit=len(given), max_words=50)
        if not types:
            raise ConfigError("skillmix: --set query_types is empty; give at least one query type")
        return types

    def _extract_step(self, run: GenerationRun, what: str) -> tuple[ExtractList, Example]:
        cfg: SkillMixConfig = self.config
        template = SKILLS_PROMPT if what == "skills" else QUERY_TYPES_PROMPT
        count = cfg.num_skills if what == "skills" else cfg.num_query_types
        step = ExtractList(
            run.teacher,
            run.params,
            n=cfg.extract_samples,
            origin=self.origin,
            name=f"extract-{what}",
            template=template,
            raw=self._raw(run),
        )
        seed = Example(
            id=f"skillmix-{what}",
            messages=[],
            meta={"skillmix.topic": cfg.topic, "skillmix.count": count},
        )
        return step, seed

    def _extract(self, run: GenerationRun, what: str) -> list[str]:
        cfg: SkillMixConfig = self.config
        step, seed = self._extract_step(run, what)
        found = run.phase(what, [seed], [step])
        limit = cfg.num_skills if what == "skills" else cfg.num_query_types
        items = _merge_items([e.meta["skillmix.items"] for e in found], limit=limit)
        need = cfg.k if what == "skills" else 1
        if len(items) < need:
            option = (
                "skills=[...] or --set extract_skills=false (built-in list)"
                if what == "skills"
                else "extract_query_types=false"
            )
            raise ConfigError(
                f"skillmix: the teacher {run.teacher.model_id} listed {len(items)} usable {what} "
                f"(need at least {need}); give --set {option}"
            )
        return items

    def _tasks(self, cfg: SkillMixConfig, skills: list[str], types: list[str], run: GenerationRun) -> Iterator[Example]:
        for i, (combo, qtype) in enumerate(plan_tasks(skills, types, cfg.k, run.rng("combinations"))):
            yield Example(
                id=f"skillmix-{i:06d}",
                messages=[],
                meta={
                    "skill": " + ".join(combo),
                    "skillmix.skills": list(combo),
                    "skillmix.query_type": qtype,
                    "skillmix.k": cfg.k,
                },
            )

    def _steps(self, run: GenerationRun) -> tuple[WriteInstruction, InstructionLength, PromptEcho, Respond]:
        cfg: SkillMixConfig = self.config
        raw = self._raw(run)
        write = WriteInstruction(
            run.teacher, run.params, batch_size=run.settings.batch_size, origin=self.origin, raw=raw
        )
        respond = Respond(
            run.teacher, run.params, batch_size=run.settings.batch_size, origin=self.origin, name="response", raw=raw
        )
        return write, InstructionLength(cfg.min_words, cfg.max_words), PromptEcho(), respond

    def generate(self, run: GenerationRun) -> list[Example]:
        cfg: SkillMixConfig = self.config
        self._check()
        skills = self._given_skills() or self._extract(run, "skills")
        types = self._given_query_types() or self._extract(run, "query-types")
        write, length, echo, respond = self._steps(run)
        tasks = self._tasks(cfg, skills, types, run)
        target, seen, kept, tried = run.settings.n, set(), [], 0
        for round_ in range(run.settings.max_rounds):
            needed = target - len(kept)
            if needed <= 0:
                break
            rate = len(kept) / tried if tried and kept else 0.7
            batch = [t for _, t in zip(range(max(1, math.ceil(needed / max(rate, 0.02) * 1.1))), tasks)]
            if not batch:  # every (combination, query type) pair has been used
                run.note(f"all skill combinations x query types used; {len(kept)} of {target} kept")
                break
            tried += len(batch)
            written = run.phase(f"instructions-r{round_:02d}", batch, [write, length, echo])
            unique = FirstOccurrence.of(written, key=lambda e: normalise_text(e.prompt), seen=seen)
            written = run.phase(f"dedupe-r{round_:02d}", written, [unique])
            answered = run.phase(f"responses-r{round_:02d}", written, [respond, NonEmptyResponse()], kept=True)
            kept += answered
            if not answered:
                run.note(f"round {round_} kept nothing; stopped with {len(kept)} of {target}")
                break
        kept = kept[:target]
        return inject_shirkers(kept, cfg.shirker_fraction, run.rng("shirkers"))

    def plan(self, run: GenerationRun) -> Plan:
        cfg: SkillMixConfig = self.config
        self._check()
        phases, factors, notes = [], [], []
        skills, types = self._given_skills(), self._given_query_types()
        if skills is None:
            step, seed = self._extract_step(run, "skills")
            phases.append(("skills", step, [seed]))
            factors.append(1.0)
            skills = [f"<skill {i + 1}>" for i in range(max(cfg.k, 4))]
            notes.append("skills come from the teacher; the instruction prompts shown use placeholders")
        if types is None:
            step, seed = self._extract_step(run, "query-types")
            phases.append(("query-types", step, [seed]))
            factors.append(1.0)
            types = ["<query type>"]
        write, _, _, respond = self._steps(run)
        sample = [t for _, t in zip(range(3), self._tasks(cfg, skills, types, run))]
        planned = math.ceil(run.settings.n / 0.7 * 1.1)
        phases += [
            ("instructions", write, sample),
            ("responses", respond, [Example.from_prompt("<an instruction>", id=f"i{i}") for i in range(len(sample))]),
        ]
        factors += [planned / max(len(sample), 1), run.settings.n / max(len(sample), 1)]
        notes.append("the first round assumes 70% of instructions survive the filters")
        if cfg.shirker_fraction:
            notes.append(
                f"{cfg.shirker_fraction:.0%} of the kept responses will be replaced by shirkers (no model calls)"
            )
        return Plan.of(run, phases, calls_per_input=factors, notes=notes)
