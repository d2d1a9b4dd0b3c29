"""``multi-hop``: questions that need facts from several document chunks (MIMG / LongMIT).

Self-Instruct-style questions about long contexts are mostly single-hop; MIMG builds
multi-hop ones bottom-up:

1. **single-hop questions**: for each chunk the teacher writes up to ``questions_per_chunk``
   questions, each with a short answer and the sentence that supports it. Rule filters keep
   well-formed pairs, drop *referential* questions that cannot stand alone ("What did he
   build?", "according to the passage"), and drop pairs whose evidence is not in the chunk;
2. **merge**: single-hop pairs from *different* chunks are grouped ``hops`` at a time,
   linked by shared names, places and numbers (``link: entity``; seeded random partners
   when nothing is shared, or always with ``link: random``), and the teacher composes one
   question that needs all of them, with its answer and a line of reasoning;
3. **verification**: the teacher, as verifier, reads the source chunks and says whether the
   merged question is answerable with the given answer and whether it needs every chunk
   (two yes/no answers, parsed); the rest is dropped with the reason ``not answerable`` or
   ``single-hop``.

The stored record's user message holds the source chunks, shuffled among ``distractors``
other chunks (seeded), and the question; the completion and ``reference`` are the answer.
Meta ``multihop.parts`` keeps the single-hop pairs, ``multihop.chunks`` the source chunk ids,
``multihop.link`` and ``multihop.shared`` how they were paired, ``multihop.reasoning`` the
merger's explanation; ``source`` names the documents and chunks.

    syllabus generate --generator multi-hop --teacher builtin:smollm2-135m-instruct \\
        --set documents=builtin:samples --set distractors=1 --n 10 --out runs/mh
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from syllabus.errors import ConfigError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.generators.chunking import chunk_documents, documents_for
from syllabus.generators.documents import ChunkLength, DocumentStep, _updated
from syllabus.parsing import ParseError, labelled_fields, split_on_label
from syllabus.pipeline.step import Drop, Filter, Map, Step
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, content_hash
from syllabus.text.rouge import lcs_length, rouge_l, tokenize

__all__ = [
    "MERGE",
    "SINGLE_HOP",
    "VERIFY",
    "MultiHop",
    "MultiHopConfig",
    "group_questions",
    "is_referential",
    "key_terms",
    "passages_text",
]

SINGLE_HOP = PromptTemplate(
    "multihop.single-hop",
    user="Text:\n{text}\n\nWrite {k} questions that can be answered from the text above. Each question "
    "must make sense on its own, without the text: name the people, places and things instead of "
    "writing 'the text', 'the passage', 'he' or 'it'. Prefer questions about names, numbers, dates "
    "and places. For each question give a short answer and copy the sentence of the text that "
    "supports it.\n\nUse this form for each question:\nQuestion: ...\nAnswer: ...\nEvidence: ...",
)
MERGE = PromptTemplate(
    "multihop.merge",
    user="Here are {k} facts, each written as a question and its answer:\n\n{pairs}\n\nWrite one new "
    "question that can only be answered by combining all of these facts: for example, use the answer "
    "of one question inside the other, or compare the facts. The new question must make sense on its "
    "own and must not give away the answer. Then give the answer and explain in one sentence how the "
    "facts combine.\n\nReply in this form:\nQuestion: ...\nAnswer: ...\nReasoning: ...",
)
VERIFY = PromptTemplate(
    "multihop.verify",
    user="{passages}\n\nQuestion: {question}\nProposed answer: {answer}\n\nCheck the question against "
    "the passages. Can it be answered from the passages, with the proposed answer? Does answering it "
    "need information from every passage, not just one of them?\n\nReply in this form:\n"
    "Answerable: yes or no\nNeeds all passages: yes or no",
)

# -- rules ------------------------------------------------------------------------------------------
_TEXT_REFERENCE = re.compile(
    r"\b(?:(?:the|this|that|above|given)\s+(?:text|passage|article|document|paragraph|excerpt|story|author|"
    r"writer|section|chunk)s?|(?:according to|mentioned|described|stated)\s+(?:above|here|in it))\b",
    re.IGNORECASE,
)
_PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|her|hers)\b", re.IGNORECASE)


def is_referential(question: str) -> bool:
    """True when a question leans on context it does not name (MIMG's quality check, as a rule).

    It refers to "the text/passage/author...", or uses a personal pronoun before naming
    anyone (a capitalised word after the first).

    >>> is_referential("What did he build in 1788?"), is_referential("What did Mara Lindqvist build in 1788?")
    (True, False)
    >>> is_referential("According to the passage, how long is the Aune?")
    True
    >>> is_referential("Where was Mara Lindqvist born, and what did she study?")
    False
    """
    if _TEXT_REFERENCE.search(question):
        return True
    pronoun = _PERSON_PRONOUN.search(question)
    if pronoun is None:
        return False
    named_before = any(word[:1].isupper() for word in question[: pronoun.start()].split()[1:])
    return not named_before


_STOP_TERMS = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "this",
        "that",
        "these",
        "those",
        "what",
        "when",
        "where",
        "who",
        "whom",
        "whose",
        "which",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "in",
        "on",
        "at",
        "of",
        "for",
        "to",
        "from",
        "by",
        "with",
        "as",
        "it",
        "its",
        "he",
        "she",
        "they",
        "his",
        "her",
        "their",
        "there",
        "here",
        "i",
        "we",
        "you",
        "yes",
        "no",
    ]
)
_TERM = re.compile(r"\b(?:[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*|\d[\d,.]*)")


def key_terms(text: str) -> set[str]:
    """Names and numbers in ``text`` (capitalised word runs, their words, and figures), lower-cased.

    >>> sorted(key_terms("When did Mara Lindqvist finish the Kessel Light?"))
    ['kessel', 'kessel light', 'light', 'lindqvist', 'mara', 'mara lindqvist']
    """
    terms = set()
    for m in _TERM.finditer(text):
        words = [w for w in m.group(0).split() if w.lower() not in _STOP_TERMS]
        if words:
            terms.add(" ".join(words).lower().rstrip(".,"))
            if len(words) > 1:  # "Lindqvist" should meet "Mara Lindqvist"
                terms.update(w.lower().rstrip(".,") for w in words)
    return terms


def _qa_terms(qa: Example) -> set[str]:
    return key_terms(
        f"{qa.meta['multihop.question']} {qa.meta['multihop.answer']} {qa.meta.get('multihop.evidence', '')}"
    )


def group_questions(
    questions: Sequence[Example], hops: int, rng: random.Random, *, link: str = "entity"
) -> list[tuple[list[Example], list[str], str]]:
    """Groups of ``hops`` single-hop questions from different chunks: ``(members, shared terms, link)``.

    Every question seeds at most one group (seeds in ``rng`` order). With ``link="entity"``
    each next member is the question from an unused chunk sharing the most names/numbers
    with the group so far (ties broken by ``rng``); when none shares anything, or with
    ``link="random"``, a random one. Groups with the same members are kept once.
    """
    if hops < 2:
        raise ConfigError(f"--set hops must be >= 2, got {hops}")
    order = list(questions)
    rng.shuffle(order)
    terms = [_qa_terms(q) for q in order]
    chunk = [q.meta["multihop.chunk"] for q in order]
    # An inverted index (term -> questions) scores only questions that share a term, so the
    # cost follows the number of shared terms rather than the square of the question count.
    index: dict[str, list[int]] = {}
    for i, ts in enumerate(terms):
        for t in ts:
            index.setdefault(t, []).append(i)
    groups, seen = [], set()
    for seed in range(len(order)):
        members = [seed]
        shared: set[str] = set()
        how = "entity" if link == "entity" else "random"
        union = set(terms[seed])
        for _ in range(hops - 1):
            used = {chunk[m] for m in members}
            choice = None
            if link == "entity":
                scores: Counter[int] = Counter(i for t in union for i in index.get(t, ()) if chunk[i] not in used)
                if scores:
                    best = max(scores.values())
                    choice = rng.choice(sorted(i for i, s in scores.items() if s == best))
                    shared |= union & terms[choice]
            if choice is None:
                # Rejection sampling keeps a random partner cheap; the scan is the rare fallback.
                tries = [rng.randrange(len(order)) for _ in range(16)]
                choice = next((i for i in tries if chunk[i] not in used), None)
                if choice is None:
                    candidates = [i for i in range(len(order)) if chunk[i] not in used]
                    if not candidates:
                        break
                    choice = rng.choice(candidates)
                how = "random"
            members.append(choice)
            union |= terms[choice]
        key = frozenset(members)
        if len(members) == hops and key not in seen:
            seen.add(key)
            groups.append(([order[m] for m in members], sorted(shared), how))
    return groups


def passages_text(passages: Sequence[str]) -> str:
    """``Passage 1:`` ... blocks, the form every prompt and record of this generator uses."""
    return "\n\n".join(f"Passage {i + 1}:\n{p}" for i, p in enumerate(passages))


_ANSWER_LEAD = re.compile(r"^(?:the\s+)?(?:short\s+)?answer\s+is\s*:?\s*", re.IGNORECASE)


def _clean_answer(text: str) -> str:
    """One line of answer without a lead-in ("The answer is: 1791." -> "1791.")."""
    return _ANSWER_LEAD.sub("", " ".join(text.split())).strip()


def _yes_no(value: str) -> bool | None:
    m = re.search(r"\b(yes|no)\b", value, re.IGNORECASE)
    return None if m is None else m.group(1).lower() == "yes"


# -- steps --------------------------------------------------------------------------------------------
class SingleHop(DocumentStep):
    """Up to ``k`` (question, answer, evidence) triples per chunk, one record each (``<chunk>-q0`` ...)."""

    name = "single-hop"
    template = SINGLE_HOP
    cue = "Question:"

    def __init__(self, *args: Any, k: int = 3, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.k = k

    def fields(self, example: Example) -> dict[str, Any]:
        return {"text": example.meta["doc.text"], "k": self.k}

    def parse(self, text: str, example: Example, sample: int) -> list[Example]:
        out: list[Example] = []
        full = self.answer_text(text)
        # split_on_label needs at least one label (it fails on none), so check first.
        blocks = (
            split_on_label(full, "Question")
            if re.search(r"question\s*\d*\s*(?:\*\*)?\s*[:：]", full, re.IGNORECASE)
            else []
        )
        for block in blocks:
            try:
                found = labelled_fields(block, ["Question", "Answer", "Evidence"], required=["Question", "Answer"])
            except ParseError:
                continue  # one malformed block does not spoil the others
            qa = example.derive(suffix=f"q{len(out)}" if sample == 0 else f"s{sample}q{len(out)}", step=self.name)
            qa.set_meta("multihop", "question", " ".join(found["Question"].split()))
            qa.set_meta("multihop", "answer", _clean_answer(found["Answer"]))
            qa.set_meta("multihop", "evidence", " ".join(found.get("Evidence", "").split()).strip('"“”'))
            qa.set_meta("multihop", "chunk", example.id)
            out.append(qa)
            if len(out) == self.k:
                break
        if not out:
            raise ParseError("no question-answer pairs")
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": self.k}


class QAShape(Filter):
    """A single-hop pair needs a question of sensible length and a short, non-empty answer."""

    name = "qa-shape"

    def __init__(self, min_question_chars: int = 10, max_question_chars: int = 300, max_answer_chars: int = 200):
        self.min_q, self.max_q, self.max_a = min_question_chars, max_question_chars, max_answer_chars

    def keep(self, example: Example) -> bool | Drop:
        q, a = example.meta["multihop.question"], example.meta["multihop.answer"]
        if not self.min_q <= len(q) <= self.max_q:
            return Drop("question length")
        if not a:
            return Drop("answer missing")
        return True if len(a) <= self.max_a else Drop("answer too long")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "question_chars": [self.min_q, self.max_q], "max_answer_chars": self.max_a}


class Referential(Filter):
    """Drops questions that do not stand alone (see :func:`is_referential`)."""

    name = "referential"

    def keep(self, example: Example) -> bool | Drop:
        return Drop("referential question") if is_referential(example.meta["multihop.question"]) else True


class EvidenceInChunk(Filter):
    """The quoted evidence must be in the chunk: at least ``min_overlap`` of its words, in order (LCS)."""

    name = "evidence"

    def __init__(self, min_overlap: float = 0.8):
        self.min_overlap = min_overlap

    def keep(self, example: Example) -> bool | Drop:
        evidence = tokenize(example.meta["multihop.evidence"])
        if not evidence:
            return Drop("evidence missing")
        overlap = lcs_length(evidence, tokenize(example.meta["doc.text"])) / len(evidence)
        example.set_meta("multihop", "evidence_overlap", round(overlap, 4))
        return True if overlap >= self.min_overlap else Drop("evidence not in chunk")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "min_overlap": self.min_overlap}


class Merge(DocumentStep):
    """Composes one question that needs every single-hop pair of the group."""

    name = "merge"
    template = MERGE
    cue = "Question:"

    def fields(self, example: Example) -> dict[str, Any]:
        parts = example.meta["multihop.parts"]
        pairs = "\n\n".join(
            f"Question {i + 1}: {p['question']}\nAnswer {i + 1}: {p['answer']}" for i, p in enumerate(parts)
        )
        return {"k": len(parts), "pairs": pairs}

    def parse(self, text: str, example: Example, sample: int) -> Example:
        found = labelled_fields(
            self.answer_text(text), ["Question", "Answer", "Reasoning"], required=["Question", "Answer"]
        )
        question = " ".join(found["Question"].split("\n\n")[0].split())
        answer = _clean_answer(found["Answer"].split("\n\n")[0])
        if not question or not answer:
            raise ParseError("empty question or answer")
        out = _updated(example)
        out.set_meta("multihop", "question", question)
        out.set_meta("multihop", "answer", answer)
        out.set_meta("multihop", "reasoning", found.get("Reasoning", "").split("\n\n")[0].strip())
        return out


class MergedQuestion(Filter):
    """A merged question of sensible length that is not just one of its single-hop questions."""

    name = "merged-question"

    def __init__(self, max_rouge: float = 0.9, min_chars: int = 15, max_chars: int = 500):
        self.max_rouge, self.min_chars, self.max_chars = max_rouge, min_chars, max_chars

    def keep(self, example: Example) -> bool | Drop:
        question = example.meta["multihop.question"]
        if not self.min_chars <= len(question) <= self.max_chars:
            return Drop("question length")
        closest = max(rouge_l(question, p["question"]) for p in example.meta["multihop.parts"])
        example.set_meta("multihop", "max_part_rouge", round(closest, 4))
        return True if closest < self.max_rouge else Drop("copy of a single-hop question")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "max_rouge": self.max_rouge, "chars": [self.min_chars, self.max_chars]}


class Verify(DocumentStep):
    """The teacher as verifier: answerable from the chunks? needs all of them? (two yes/no)."""

    name = "verify"
    template = VERIFY
    cue = "Answerable:"

    def fields(self, example: Example) -> dict[str, Any]:
        return {
            "passages": passages_text(example.meta["multihop.passages"]),
            "question": example.meta["multihop.question"],
            "answer": example.meta["multihop.answer"],
        }

    def parse(self, text: str, example: Example, sample: int) -> Example:
        full = self.answer_text(text)
        found = labelled_fields(full, ["Answerable", "Needs all passages", "Needs all"], required=[])
        answerable = _yes_no(found.get("Answerable", ""))
        needs_all = _yes_no(found.get("Needs all passages", found.get("Needs all", "")))
        if answerable is None or needs_all is None:
            # No labels: read the first two yes/no words in order.
            words = [w.lower() == "yes" for w in re.findall(r"\b(yes|no)\b", full, re.IGNORECASE)]
            if len(words) < 2:
                raise ParseError("no yes/no verdict")
            answerable, needs_all = words[0], words[1]
        out = _updated(example)
        out.set_meta("multihop", "answerable", answerable)
        out.set_meta("multihop", "needs_all", needs_all)
        return out


class Verified(Filter):
    """Keeps merged questions the verifier found answerable and needing every chunk."""

    name = "verified"

    def keep(self, example: Example) -> bool | Drop:
        if not example.meta["multihop.answerable"]:
            return Drop("not answerable")
        return True if example.meta["multihop.needs_all"] else Drop("single-hop")


class Assemble(Map):
    """The stored record: source chunks shuffled with ``distractors`` other chunks, then the question."""

    name = "assemble"

    def __init__(self, chunks: dict[str, str], distractors: int, seed: int):
        self.chunks, self.distractors, self.seed = dict(chunks), distractors, seed

    def map(self, example: Example) -> Example:
        rng = random.Random(content_hash([self.seed, "distractors", example.id]))
        sources = example.meta["multihop.chunks"]
        others = sorted(c for c in self.chunks if c not in sources)
        extra = rng.sample(others, min(self.distractors, len(others)))
        order = [*sources, *extra]
        rng.shuffle(order)
        passages = [self.chunks[c] for c in order]
        question = example.meta["multihop.question"]
        out = _updated(example, completion=example.meta["multihop.answer"], reference=example.meta["multihop.answer"])
        out.messages = [{"role": "user", "content": f"{passages_text(passages)}\n\nQuestion: {question}"}]
        out.meta.pop("multihop.passages", None)
        out.set_meta("multihop", "context", order)
        out.set_meta("multihop", "distractors", extra)
        return out

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "distractors": self.distractors, "seed": self.seed, "pool": len(self.chunks)}


# -- the generator --------------------------------------------------------------------------------------
@dataclass
class MultiHopConfig:
    documents: str | list[str] | None = field(
        default=None,
        metadata={
            "help": "a folder or file(s) of .txt/.md documents, or builtin:samples (default: the --prompts records)"
        },
    )
    chunk_chars: int = field(default=800, metadata={"help": "target chunk length in characters"})
    min_chunk_chars: int = field(default=150, metadata={"help": "chunks shorter than this are skipped"})
    questions_per_chunk: int = field(default=3, metadata={"help": "single-hop questions asked per chunk"})
    hops: int = field(default=2, metadata={"help": "single-hop questions (from different chunks) per merged question"})
    link: Literal["entity", "random"] = field(
        default="entity", metadata={"help": "pair questions sharing names/numbers, or at random"}
    )
    distractors: int = field(default=1, metadata={"help": "extra unrelated chunks shuffled into each record's context"})
    min_evidence_overlap: float = field(
        default=0.8, metadata={"help": "share of the evidence's words found in order in the chunk"}
    )
    max_part_rouge: float = field(
        default=0.9, metadata={"help": "drop a merged question this ROUGE-L-similar to a single-hop one"}
    )
    verify: bool = field(default=True, metadata={"help": "let the teacher verify each merged question"})
    raw: bool | None = field(
        default=None,
        metadata={"help": "plain-text prompts for base models (default: when the teacher has no chat template)"},
    )


class MultiHop(Generator):
    """Single-hop questions per chunk, merged across chunks, verified by the teacher."""

    name = "multi-hop"
    version = "1"
    Config = MultiHopConfig

    def _check(self) -> None:
        cfg: MultiHopConfig = self.config
        if cfg.hops < 2:
            raise ConfigError(f"--set hops must be >= 2, got {cfg.hops}")
        if cfg.questions_per_chunk < 1 or cfg.distractors < 0:
            raise ConfigError("--set questions_per_chunk must be >= 1 and distractors >= 0")

    def _chunks(self, run: GenerationRun) -> list[Example]:
        cfg: MultiHopConfig = self.config
        chunks = chunk_documents(documents_for(run, cfg.documents), cfg.chunk_chars)
        if len(chunks) < cfg.hops:
            raise ConfigError(
                f"multi-hop needs at least hops={cfg.hops} chunks; the documents give {len(chunks)} (lower --set chunk_chars)"
            )
        run.rng("chunks").shuffle(chunks)
        return chunks

    def _chunks_needed(self, run: GenerationRun, available: int) -> int:
        # Each merged question consumes a seed question; about half survive each stage.
        cfg: MultiHopConfig = self.config
        return min(available, max(cfg.hops, math.ceil(4 * run.settings.n / cfg.questions_per_chunk)))

    def _common(self, run: GenerationRun) -> dict[str, Any]:
        cfg: MultiHopConfig = self.config
        raw = cfg.raw if cfg.raw is not None else not run.teacher.capabilities.chat_template
        return {"raw": raw, "batch_size": run.settings.batch_size, "origin": self.origin}

    def _single_hop_steps(self, run: GenerationRun) -> list[Step]:
        cfg: MultiHopConfig = self.config
        return [
            ChunkLength(cfg.min_chunk_chars),
            SingleHop(run.teacher, run.params, k=cfg.questions_per_chunk, **self._common(run)),
            QAShape(),
            Referential(),
            EvidenceInChunk(cfg.min_evidence_overlap),
        ]

    def _merge_steps(self, run: GenerationRun, chunks: list[Example]) -> list[Step]:
        cfg: MultiHopConfig = self.config
        common = self._common(run)
        verdict = run.params_with(temperature=0.0, max_tokens=min(run.params.max_tokens, 32))
        steps: list[Step] = [Merge(run.teacher, run.params, **common), MergedQuestion(cfg.max_part_rouge)]
        if cfg.verify:
            steps += [Verify(run.teacher, verdict, **common), Verified()]
        steps.append(Assemble({c.id: c.meta["doc.text"] for c in chunks}, cfg.distractors, run.settings.seed))
        return steps

    def _groups(self, run: GenerationRun, questions: list[Example], chunks: list[Example]) -> list[Example]:
        cfg: MultiHopConfig = self.config
        texts = {c.id: c.meta["doc.text"] for c in chunks}
        out = []
        for members, shared, how in group_questions(questions, cfg.hops, run.rng("groups"), link=cfg.link):
            ids = [m.id for m in members]
            chunk_ids = [m.meta["multihop.chunk"] for m in members]
            group = Example(id=f"mh-{content_hash(ids, 12)}", messages=[])
            group.meta["source"] = " + ".join(m.meta["source"] for m in members)
            parts = [
                {k: m.meta[f"multihop.{k}"] for k in ("question", "answer", "evidence", "chunk")} | {"id": m.id}
                for m in members
            ]
            group.set_meta("multihop", "parts", parts)
            group.set_meta("multihop", "chunks", chunk_ids)
            group.set_meta("multihop", "passages", [texts[c] for c in chunk_ids])
            group.set_meta("multihop", "hops", cfg.hops)
            group.set_meta("multihop", "link", how)
            group.set_meta("multihop", "shared", shared)
            group.provenance = {"parents": ids, "step": "group"}
            out.append(group)
        return out

    def generate(self, run: GenerationRun) -> list[Example]:
        self._check()
        chunks = self._chunks(run)
        selected = chunks[: self._chunks_needed(run, len(chunks))]
        questions = run.phase("single-hop", selected, self._single_hop_steps(run))
        groups = self._groups(run, questions, chunks)
        cursor = 0

        def make_inputs(round_: int, k: int) -> list[Example]:
            nonlocal cursor
            batch = groups[cursor : cursor + k]
            cursor += len(batch)
            return batch

        return run.until("multihop", make_inputs, self._merge_steps(run, chunks))

    def plan(self, run: GenerationRun) -> Plan:
        self._check()
        cfg: MultiHopConfig = self.config
        chunks = self._chunks(run)
        selected = chunks[: self._chunks_needed(run, len(chunks))]
        single = self._single_hop_steps(run)[1]
        steps = {s.name: s for s in self._merge_steps(run, chunks)}
        # A stand-in group from the first chunks shows the merge and verify prompts' shape.
        standin = Example(id="mh-plan", messages=[])
        parts = [{"question": "<question>", "answer": "<answer>"} for _ in range(cfg.hops)]
        standin.set_meta("multihop", "parts", parts).set_meta("multihop", "question", "<merged question>")
        standin.set_meta("multihop", "answer", "<answer>")
        standin.set_meta("multihop", "passages", [c.meta["doc.text"] for c in chunks[: cfg.hops]])
        groups = min(len(selected) * cfg.questions_per_chunk, math.ceil(run.settings.n / 0.5 * 1.1))
        phases: list[tuple[str, TeacherStep, Sequence[Example]]] = [("single-hop", single, selected)]  # type: ignore[list-item]
        phases.append(("merge", steps["merge"], [standin]))  # type: ignore[arg-type]
        factors = [1.0, float(groups)]
        if cfg.verify:
            phases.append(("verify", steps["verify"], [standin]))  # type: ignore[arg-type]
            factors.append(float(groups))
        notes = [
            f"{len(chunks)} chunks; single-hop questions from {len(selected)} of them",
            f"merge/verify calls assume the first round's {groups} groups (about 50% yield expected)",
        ]
        return Plan.of(run, phases, calls_per_input=factors, notes=notes)
