"""``agent-instruct``: document-grounded instructions by agentic flows (AgentInstruct, Orca-3).

Raw text, not prompts, is the seed. Each document is cut into chunks, and every chunk goes
through three flows, each a teacher prompt (an "agent"):

1. **content transformation**: the teacher rewrites the chunk into a form suited to a
   skill: an argument passage, a debate, a meeting transcript, a list of facts, a lesson,
   a poem (:data:`TRANSFORMATIONS`; each chunk gets the transformations in its own seeded
   order, one per pass over the chunks);
2. **seed instruction creation**: for ``instructions_per_text`` question types drawn (seeded)
   from a taxonomy (:data:`TAXONOMIES`, e.g. reading comprehension: literal, inference,
   main idea, critical evaluation, vocabulary in context...), the teacher writes one task
   about the transformed text;
3. **refinement**: for ``refine_rounds`` rounds a *suggester* proposes ways to make the
   task harder (combine facts, add a condition, ask for a justification) and an *editor*
   rewrites the task accordingly;

and finally the teacher answers the task with the transformed text as context. The stored
record's user message is the transformed text followed by the task, the completion is the
answer; meta ``agentinstruct.transformation``, ``agentinstruct.taxonomy``,
``agentinstruct.question_type``, ``agentinstruct.seed_instruction``,
``agentinstruct.suggestions`` and ``agentinstruct.refined`` (how many rounds changed the
task) say how it was made, and ``source`` names the document and chunk.

Filters (each with its own yield in the stats): a chunk long enough to work from, a
transformed text that is long enough and not a copy of the chunk, a task within length
bounds before and after refinement, a non-empty answer.

    syllabus generate --generator agent-instruct --teacher builtin:smollm2-135m-instruct \\
        --set documents=builtin:samples --set refine_rounds=1 --n 20 --out runs/ai
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from syllabus.errors import ConfigError, did_you_mean
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.generators.chunking import chunk_documents, documents_for
from syllabus.llm.base import LLM, SamplingParams
from syllabus.parsing import ParseError, labelled_fields, numbered_items
from syllabus.pipeline.step import Drop, Expand, Filter, Step
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message, content_hash
from syllabus.text.rouge import rouge_l

__all__ = [
    "ANSWER",
    "EDITOR",
    "SEED_INSTRUCTION",
    "SUGGESTER",
    "TAXONOMIES",
    "TRANSFORMATIONS",
    "AgentInstruct",
    "AgentInstructConfig",
    "DocumentStep",
    "strip_preamble",
]

# -- the transformation agents: one template per target form ---------------------------------
_KEEP_FACTS = "Use only facts from the text and do not add new ones. Write only the result, no title or comments."
TRANSFORMATIONS: dict[str, PromptTemplate] = {
    "argument": PromptTemplate(
        "agentinstruct.transform.argument",
        user="Rewrite the text below as a short argumentative passage: state a claim that the facts "
        "support, give the reasons from the text, and mention one possible objection. "
        f"{_KEEP_FACTS}\n\nText:\n{{text}}",
    ),
    "debate": PromptTemplate(
        "agentinstruct.transform.debate",
        user="Rewrite the text below as a short debate between two speakers, A and B, who disagree "
        "about something in it. Write each turn on its own line as 'A: ...' or 'B: ...'. "
        f"{_KEEP_FACTS}\n\nText:\n{{text}}",
    ),
    "meeting": PromptTemplate(
        "agentinstruct.transform.meeting",
        user="Rewrite the information in the text below as the transcript of a short meeting where "
        "two or three people with names discuss it. Write each turn on its own line as 'Name: ...'. "
        f"{_KEEP_FACTS}\n\nText:\n{{text}}",
    ),
    "facts": PromptTemplate(
        "agentinstruct.transform.facts",
        user="List the facts stated in the text below as a numbered list: one short sentence per "
        "fact, each understandable on its own (use names, not 'it' or 'he'). "
        f"{_KEEP_FACTS}\n\nText:\n{{text}}",
    ),
    "lesson": PromptTemplate(
        "agentinstruct.transform.lesson",
        user="Rewrite the text below as a short lesson for a school student: a one-line title, then "
        f"short paragraphs that explain the main points in simple words. {_KEEP_FACTS}\n\nText:\n{{text}}",
    ),
    "poem": PromptTemplate(
        "agentinstruct.transform.poem",
        user="Retell the content of the text below as a short poem of 8 to 12 lines that keeps its "
        f"names, numbers and facts. {_KEEP_FACTS}\n\nText:\n{{text}}",
    ),
}

# -- instruction taxonomies: question type -> what the teacher is asked for --------------------
TAXONOMIES: dict[str, dict[str, str]] = {
    "reading-comprehension": {
        "literal": "a question whose answer is stated directly in the text",
        "inference": "a question whose answer is not stated but follows from facts in the text",
        "main-idea": "a request to state the main idea of the text or summarise it in two sentences",
        "critical-evaluation": "a question that asks whether a claim in the text is well supported, "
        "or what would strengthen or weaken it",
        "vocabulary-in-context": "a question about what a word or phrase means as it is used in the text",
        "sequence": "a question about the order in which events or steps in the text happen",
        "cause-effect": "a question about why something in the text happened or what it led to",
        "numbers": "a question that needs a number, date or quantity from the text, or a small calculation with it",
    },
    "text-modification": {
        "paraphrase": "a request to rewrite a given sentence of the text in other words",
        "simplify": "a request to rewrite part of the text for a ten-year-old reader",
        "formalise": "a request to rewrite part of the text in a formal, official tone",
        "shorten": "a request to shorten the text to a given number of words or sentences",
        "change-perspective": "a request to retell part of the text from the point of view of a person or thing in it",
        "extract": "a request to pull out all items of one kind (names, dates, places) from the text as a list",
    },
}

SEED_INSTRUCTION = PromptTemplate(
    "agentinstruct.seed-instruction",
    user="Text:\n{text}\n\nWrite one task for a student about the text above. The task must be "
    "{description}. It must be answerable from the text alone. Do not answer it.\n"
    "Reply in this form:\nInstruction: <the task>",
)
SUGGESTER = PromptTemplate(
    "agentinstruct.suggester",
    user="Text:\n{text}\n\nTask: {instruction}\n\nSuggest {k} ways to make this task harder for a "
    "student while keeping it answerable from the text: for example, require combining two or "
    "more facts, add a condition or a distracting detail, ask for a justification, or ask for the "
    "answer in a specific form. Write a numbered list of short suggestions. Do not rewrite the task.",
)
EDITOR = PromptTemplate(
    "agentinstruct.editor",
    user="Text:\n{text}\n\nTask: {instruction}\n\nSuggestions:\n{suggestions}\n\nRewrite the task "
    "following the suggestions so that it becomes harder but can still be answered from the text. "
    "Do not answer it.\nReply in this form:\nInstruction: <the rewritten task>",
)
# The answer prompt is the stored record's user message itself, so training matches what the
# teacher saw; this template documents (and hashes) that shape.
ANSWER = PromptTemplate("agentinstruct.answer", user="{text}\n\n{instruction}")

_PREAMBLE = re.compile(r"^\s*(?:sure|certainly|of course|okay|ok|here|below)\b[^\n]{0,120}[:!.]\s*\n", re.IGNORECASE)


def strip_preamble(text: str) -> str:
    """Drop a chatty first line ("Sure! Here is the rewritten text:") and surrounding space.

    >>> strip_preamble("Sure, here is the poem:\\nThe river runs.")
    'The river runs.'
    """
    return _PREAMBLE.sub("", text.strip(), count=1).strip()


_LEADING_LABEL = re.compile(r"^(?:\*\*)?(?:task|question|instruction|rewritten task)\s*(?:\*\*)?\s*:\s*", re.IGNORECASE)


def _single_field(text: str, label: str) -> str:
    """The value after ``label:`` or, without the label, the first paragraph of the answer."""
    try:
        value = labelled_fields(text, [label, "answer", "response", "solution"], required=[label])[label]
    except ParseError:
        value = strip_preamble(text).split("\n\n")[0]
    value = _LEADING_LABEL.sub("", value.split("\n\n")[0].strip()).strip().strip('"“”').strip()
    if not value:
        raise ParseError(f"no {label.lower()}")
    return value


class DocumentStep(TeacherStep):
    """A teacher step that works with chat models and, through ``raw``, with base models.

    With ``raw=True`` (teachers without a chat template) the user prompt is sent as plain
    text ending in ``cue`` (``Instruction:``), and the answer is parsed as if it began with
    the cue, so one parser serves both kinds of teacher. Subclasses set ``template``,
    ``cue`` and override ``fields`` and ``parse``::

        class Title(DocumentStep):
            name = "title"
            template = PromptTemplate("title", user="Give this text a title:\\n{text}\\nReply as Title: <title>")
            cue = "Title:"

            def fields(self, example):
                return {"text": example.prompt}
    """

    cue: str = ""

    def __init__(self, llm: LLM, params: SamplingParams | None = None, *, raw: bool = False, **kwargs: Any):
        super().__init__(llm, params, **kwargs)
        self.raw = raw

    def messages(self, example: Example) -> list[Message] | str | None:
        """The chat form of the prompt (by default the template filled with ``fields``)."""
        return super().request(example)

    def request(self, example: Example) -> list[Message] | str | None:
        messages = self.messages(example)
        if not self.raw or messages is None or isinstance(messages, str):
            return messages
        prompt = "\n\n".join(m["content"] for m in messages)
        return f"{prompt}\n\n{self.cue}" if self.cue else f"{prompt}\n\n"

    def answer_text(self, text: str) -> str:
        """The answer as the parser should read it (a raw answer continues the cue)."""
        return f"{self.cue} {text}" if self.raw and self.cue else text

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "raw": self.raw}


def _updated(example: Example, **changes: Any) -> Example:
    """A copy with the same id (one record moving through the flow), meta and provenance copied."""
    copies: dict[str, Any] = {
        "messages": [dict(m) for m in example.messages],
        "meta": dict(example.meta),
        "scores": dict(example.scores),
        "provenance": dict(example.provenance),
    }
    return replace(example, **{**copies, **changes})


# -- the steps ----------------------------------------------------------------------------------
class ChunkLength(Filter):
    """Drops chunks too short to transform (a whole document shorter than ``min_chars``)."""

    name = "chunk-length"

    def __init__(self, min_chars: int):
        self.min_chars = min_chars

    def keep(self, example: Example) -> bool | Drop:
        return True if len(example.meta["doc.text"]) >= self.min_chars else Drop("chunk too short")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_chars": self.min_chars}


class Transform(DocumentStep):
    """Rewrites the chunk with the transformation named in ``agentinstruct.transformation``."""

    name = "transform"

    def messages(self, example: Example) -> list[Message] | str | None:
        return TRANSFORMATIONS[example.meta["agentinstruct.transformation"]].render(text=example.meta["doc.text"])

    def _outputs(self, example: Example, request: Any, generation: Any, ctx: Any) -> Iterator[Example]:
        # The template differs per record: name the one this answer came from in its provenance,
        # then restore None so the step's description (part of the stage fingerprint) never changes.
        self.template = TRANSFORMATIONS[example.meta["agentinstruct.transformation"]]
        try:
            yield from super()._outputs(example, request, generation, ctx)
        finally:
            self.template = None

    def parse(self, text: str, example: Example, sample: int) -> Example:
        body = strip_preamble(text)
        if not body:
            raise ParseError("empty text")
        return _updated(example).set_meta("agentinstruct", "text", body)


class TransformedText(Filter):
    """The transformed text must be long enough and not a copy of the chunk."""

    name = "transformed-text"

    def __init__(self, min_chars: int, max_copy_rouge: float):
        self.min_chars, self.max_copy_rouge = min_chars, max_copy_rouge

    def keep(self, example: Example) -> bool | Drop:
        text = example.meta["agentinstruct.text"]
        if len(text) < self.min_chars:
            return Drop("text too short")
        similarity = rouge_l(text, example.meta["doc.text"])
        example.set_meta("agentinstruct", "copy_rouge", round(similarity, 4))
        return True if similarity <= self.max_copy_rouge else Drop("copy of the chunk")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_chars": self.min_chars, "max_copy_rouge": self.max_copy_rouge}


class PickTypes(Expand):
    """One record per question type: ``k`` distinct types drawn from the taxonomy, seeded by the record id."""

    name = "pick-types"

    def __init__(self, taxonomy: dict[str, str], k: int, seed: int):
        self.taxonomy, self.k, self.seed = dict(taxonomy), k, seed

    def expand(self, example: Example) -> Iterable[Example]:
        rng = random.Random(content_hash([self.seed, "types", example.id]))
        for kind in rng.sample(sorted(self.taxonomy), min(self.k, len(self.taxonomy))):
            # Keep the provenance (its chain of teacher calls) and point it at the parent.
            child = example.derive(suffix=kind, step=self.name, provenance=dict(example.provenance))
            child.provenance.update(parents=[example.id], step=self.name)
            child.set_meta("agentinstruct", "question_type", kind)
            yield child

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "taxonomy": self.taxonomy, "k": self.k, "seed": self.seed}


class SeedInstruction(DocumentStep):
    """Writes one task of the record's question type about the transformed text."""

    name = "seed-instruction"
    template = SEED_INSTRUCTION
    cue = "Instruction:"

    def __init__(self, *args: Any, taxonomy: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.taxonomy = dict(taxonomy)

    def fields(self, example: Example) -> dict[str, Any]:
        kind = example.meta["agentinstruct.question_type"]
        return {"text": example.meta["agentinstruct.text"], "description": self.taxonomy[kind]}

    def parse(self, text: str, example: Example, sample: int) -> Example:
        instruction = _single_field(self.answer_text(text), "Instruction")
        out = _updated(example)
        out.set_meta("agentinstruct", "seed_instruction", instruction)
        out.set_meta("agentinstruct", "instruction", instruction)
        out.set_meta("agentinstruct", "suggestions", [])
        out.set_meta("agentinstruct", "refined", 0)
        return out


class InstructionLength(Filter):
    """The current task must be between ``min_chars`` and ``max_chars`` characters."""

    name = "instruction-length"

    def __init__(self, min_chars: int, max_chars: int, *, name: str | None = None):
        self.min_chars, self.max_chars = min_chars, max_chars
        if name:
            self.name = name

    def keep(self, example: Example) -> bool | Drop:
        n = len(example.meta["agentinstruct.instruction"])
        if n < self.min_chars:
            return Drop("instruction too short")
        return True if n <= self.max_chars else Drop("instruction too long")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_chars": self.min_chars, "max_chars": self.max_chars}


class Suggest(DocumentStep):
    """The suggester: a numbered list of ways to make the task harder (kept in ``agentinstruct.pending``)."""

    name = "suggest"
    template = SUGGESTER
    cue = "Suggestions:\n1."

    def __init__(self, *args: Any, k: int = 3, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.k = k

    def fields(self, example: Example) -> dict[str, Any]:
        return {
            "text": example.meta["agentinstruct.text"],
            "instruction": example.meta["agentinstruct.instruction"],
            "k": self.k,
        }

    def parse(self, text: str, example: Example, sample: int) -> Example:
        full = self.answer_text(text)
        try:
            items = numbered_items(full)
        except ParseError:  # an unnumbered list is still a list of suggestions
            items = [line.strip(" -*•") for line in strip_preamble(full).splitlines() if line.strip(" -*•")]
        items = [i for i in items if i][: self.k]
        if not items:
            raise ParseError("no suggestions")
        return _updated(example).set_meta("agentinstruct", "pending", items)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": self.k}


class Edit(DocumentStep):
    """The editor: rewrites the task following the pending suggestions; counts rounds that changed it."""

    name = "edit"
    template = EDITOR
    cue = "Instruction:"

    def fields(self, example: Example) -> dict[str, Any]:
        suggestions = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(example.meta["agentinstruct.pending"]))
        return {
            "text": example.meta["agentinstruct.text"],
            "instruction": example.meta["agentinstruct.instruction"],
            "suggestions": suggestions,
        }

    def parse(self, text: str, example: Example, sample: int) -> Example:
        edited = _single_field(self.answer_text(text), "Instruction")
        out = _updated(example)
        pending = out.meta.pop("agentinstruct.pending")
        out.set_meta("agentinstruct", "suggestions", [*out.meta["agentinstruct.suggestions"], pending])
        if " ".join(edited.split()).lower() != " ".join(out.meta["agentinstruct.instruction"].split()).lower():
            out.set_meta("agentinstruct", "refined", out.meta["agentinstruct.refined"] + 1)
        out.set_meta("agentinstruct", "instruction", edited)
        return out


class Answer(DocumentStep):
    """The teacher answers the final user message (transformed text + task): the stored record."""

    name = "answer"
    template = ANSWER
    cue = ""

    def fields(self, example: Example) -> dict[str, Any]:
        return {"text": example.meta["agentinstruct.text"], "instruction": example.meta["agentinstruct.instruction"]}

    def parse(self, text: str, example: Example, sample: int) -> Example:
        answer = text.strip()
        if not answer:
            raise ParseError("empty answer")
        fields = self.fields(example)
        out = _updated(example, messages=[{"role": "user", "content": ANSWER.user.format(**fields)}], completion=answer)
        # Shared keys, so curation can mix and report by skill without knowing this generator.
        out.meta["skill"] = out.meta["agentinstruct.taxonomy"]
        out.meta["tags"] = [out.meta["agentinstruct.transformation"], out.meta["agentinstruct.question_type"]]
        return out


class AnswerLength(Filter):
    """The answer must have at least ``min_chars`` characters."""

    name = "answer-length"

    def __init__(self, min_chars: int):
        self.min_chars = min_chars

    def keep(self, example: Example) -> bool | Drop:
        return True if len((example.completion or "").strip()) >= self.min_chars else Drop("answer too short")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_chars": self.min_chars}


# -- the generator --------------------------------------------------------------------------------
@dataclass
class AgentInstructConfig:
    documents: str | list[str] | None = field(
        default=None,
        metadata={
            "help": "a folder or file(s) of .txt/.md documents, or builtin:samples (default: the --prompts records)"
        },
    )
    chunk_chars: int = field(default=1200, metadata={"help": "target chunk length in characters"})
    min_chunk_chars: int = field(default=200, metadata={"help": "chunks shorter than this are skipped"})
    transformations: list[str] = field(
        default_factory=lambda: list(TRANSFORMATIONS),
        metadata={"help": f"content transformation agents to use: {', '.join(TRANSFORMATIONS)}"},
    )
    taxonomy: str | dict[str, str] = field(
        default="reading-comprehension",
        metadata={"help": f"instruction taxonomy: {' or '.join(TAXONOMIES)}, or a mapping type -> description"},
    )
    question_types: list[str] | None = field(default=None, metadata={"help": "use only these types of the taxonomy"})
    instructions_per_text: int = field(default=2, metadata={"help": "question types (tasks) per transformed text"})
    refine_rounds: int = field(default=1, metadata={"help": "suggester/editor rounds (0: no refinement)"})
    suggestions: int = field(default=3, metadata={"help": "suggestions the suggester is asked for"})
    min_text_chars: int = field(default=80, metadata={"help": "shortest transformed text kept"})
    max_copy_rouge: float = field(
        default=0.9, metadata={"help": "drop a transformed text this ROUGE-L-similar to its chunk"}
    )
    min_instruction_chars: int = field(default=10, metadata={"help": "shortest task kept"})
    max_instruction_chars: int = field(default=600, metadata={"help": "longest task kept"})
    min_answer_chars: int = field(default=2, metadata={"help": "shortest answer kept"})
    raw: bool | None = field(
        default=None,
        metadata={"help": "plain-text prompts for base models (default: when the teacher has no chat template)"},
    )


class AgentInstruct(Generator):
    """Transform document chunks, write tasks from a taxonomy, refine them, answer them."""

    name = "agent-instruct"
    version = "1"
    Config = AgentInstructConfig

    # -- options ----------------------------------------------------------------------------------
    def _taxonomy(self) -> tuple[str, dict[str, str]]:
        cfg: AgentInstructConfig = self.config
        if isinstance(cfg.taxonomy, str):
            if cfg.taxonomy not in TAXONOMIES:
                raise ConfigError(
                    f"--set taxonomy: unknown taxonomy {cfg.taxonomy!r}.{did_you_mean(cfg.taxonomy, TAXONOMIES)}"
                )
            name, taxonomy = cfg.taxonomy, dict(TAXONOMIES[cfg.taxonomy])
        elif (
            isinstance(cfg.taxonomy, dict)
            and cfg.taxonomy
            and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in cfg.taxonomy.items())
        ):
            name, taxonomy = "custom", dict(cfg.taxonomy)
        else:
            raise ConfigError("--set taxonomy: give a taxonomy name or a mapping of question type -> description")
        if cfg.question_types is not None:
            unknown = [t for t in cfg.question_types if t not in taxonomy]
            if unknown or not cfg.question_types:
                bad = unknown[0] if unknown else ""
                raise ConfigError(
                    f"--set question_types: {bad!r} is not a type of {name}.{did_you_mean(bad, taxonomy)}"
                )
            taxonomy = {t: taxonomy[t] for t in cfg.question_types}
        return name, taxonomy

    def _check(self) -> None:
        cfg: AgentInstructConfig = self.config
        for t in cfg.transformations:
            if t not in TRANSFORMATIONS:
                raise ConfigError(
                    f"--set transformations: unknown transformation {t!r}.{did_you_mean(t, TRANSFORMATIONS)}"
                )
        if not cfg.transformations:
            raise ConfigError(f"--set transformations: name at least one of {', '.join(TRANSFORMATIONS)}")
        for key in ("instructions_per_text", "suggestions"):
            if getattr(cfg, key) < 1:
                raise ConfigError(f"--set {key} must be >= 1, got {getattr(cfg, key)}")
        if cfg.refine_rounds < 0:
            raise ConfigError(f"--set refine_rounds must be >= 0, got {cfg.refine_rounds}")

    # -- inputs ---------------------------------------------------------------------------------
    def _pool(self, run: GenerationRun) -> list[Example]:
        """Every (chunk, transformation) pair once: chunks in seeded order, each cycling its own transformation order."""
        cfg: AgentInstructConfig = self.config
        chunks = chunk_documents(documents_for(run, cfg.documents), cfg.chunk_chars)
        run.rng("chunks").shuffle(chunks)
        orders = {}
        for chunk in chunks:
            order = list(cfg.transformations)
            run.rng("transformations", chunk.id).shuffle(order)
            orders[chunk.id] = order
        taxonomy_name, _ = self._taxonomy()
        pool = []
        for p in range(len(cfg.transformations)):
            for chunk in chunks:
                kind = orders[chunk.id][p]
                item = Example(id=f"{chunk.id}-{kind}", messages=list(chunk.messages), meta=dict(chunk.meta))
                item.set_meta("agentinstruct", "transformation", kind)
                item.set_meta("agentinstruct", "taxonomy", taxonomy_name)
                item.provenance = {"parents": [chunk.id], "step": "chunk"}
                pool.append(item)
        return pool

    def _steps(self, run: GenerationRun) -> list[Step]:
        cfg: AgentInstructConfig = self.config
        self._check()
        _, taxonomy = self._taxonomy()
        raw = cfg.raw if cfg.raw is not None else not run.teacher.capabilities.chat_template
        common: dict[str, Any] = {"raw": raw, "batch_size": run.settings.batch_size, "origin": self.origin}
        one_line = run.params_with(stop=("\n\n",)) if raw else run.params
        answer_params = run.params_with(stop=("\n\n\n",)) if raw else run.params
        steps: list[Step] = [
            ChunkLength(cfg.min_chunk_chars),
            Transform(run.teacher, run.params, **common),
            TransformedText(cfg.min_text_chars, cfg.max_copy_rouge),
            PickTypes(taxonomy, cfg.instructions_per_text, run.settings.seed),
            SeedInstruction(run.teacher, one_line, taxonomy=taxonomy, **common),
            InstructionLength(cfg.min_instruction_chars, cfg.max_instruction_chars),
        ]
        for r in range(1, cfg.refine_rounds + 1):
            steps += [
                Suggest(run.teacher, run.params, k=cfg.suggestions, name=f"suggest{r}", **common),
                Edit(run.teacher, one_line, name=f"edit{r}", **common),
            ]
        if cfg.refine_rounds:
            steps.append(InstructionLength(cfg.min_instruction_chars, cfg.max_instruction_chars, name="refined-length"))
        steps += [Answer(run.teacher, answer_params, **common), AnswerLength(cfg.min_answer_chars)]
        return steps

    def _expected_yield(self) -> float:
        return 0.5 * self.config.instructions_per_text  # kept records per (chunk, transformation)

    def generate(self, run: GenerationRun) -> list[Example]:
        steps = self._steps(run)
        pool = self._pool(run)
        cursor = 0

        def make_inputs(round_: int, k: int) -> list[Example]:
            nonlocal cursor
            batch = pool[cursor : cursor + k]
            cursor += len(batch)
            return batch

        return run.until("agentinstruct", make_inputs, steps, expected_yield=self._expected_yield())

    def plan(self, run: GenerationRun) -> Plan:
        cfg: AgentInstructConfig = self.config
        steps = self._steps(run)
        pool = self._pool(run)
        first = pool[: min(len(pool), math.ceil(run.settings.n / self._expected_yield() * 1.1))]
        by_name = {s.name: s for s in steps}
        # Later phases see the teacher's output; the chunk stands in for it, one task per record.
        standin = []
        for e in first[:1]:
            s = _updated(e).set_meta("agentinstruct", "text", e.meta["doc.text"])
            s.set_meta("agentinstruct", "question_type", next(iter(self._taxonomy()[1])))
            s.set_meta("agentinstruct", "instruction", "<task>").set_meta("agentinstruct", "pending", ["<suggestion>"])
            standin.append(s)
        k = cfg.instructions_per_text * len(first) / max(len(standin), 1)
        phases: list[tuple[str, TeacherStep, Sequence[Example]]] = [("transform", by_name["transform"], first)]
        factors = [1.0]
        for name in [
            "seed-instruction",
            *(f"{s}{r}" for r in range(1, cfg.refine_rounds + 1) for s in ("suggest", "edit")),
            "answer",
        ]:
            phases.append((name, by_name[name], standin))  # type: ignore[arg-type]
            factors.append(k)
        notes = [
            f"{len(pool)} (chunk, transformation) pairs available; the first round uses {len(first)}",
            "calls after 'transform' assume every text and task passes the filters (an upper bound)",
        ]
        return Plan.of(run, phases, calls_per_input=factors, notes=notes)
