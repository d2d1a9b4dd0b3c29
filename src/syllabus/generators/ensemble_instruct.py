"""``ensemble-instruct``: Self-Instruct for small models, with output consensus (Lee et al., 2023).

Two changes to Self-Instruct make it work with small open models:

1. **Categorized templates.** Seed tasks are split into tasks *with input* (an instance has
   a non-empty input) and tasks *without input*. Each category has its own instruction
   prompt and few-shot pool (up to ``generated_per_prompt`` in-context instructions come
   from earlier rounds of the same category, the rest from its seeds, shuffled) and its own
   instance prompt (``Input:`` then ``Output:``, or ``Output:`` alone), simpler than
   Self-Instruct's. Instructions pass the Self-Instruct filters (length, blacklist,
   format, ROUGE-L novelty <= 0.7 against all seeds and all instructions kept so far).
2. **Output ensembling.** The first teacher writes each instruction's instance (input and
   output ``o0``); every other teacher answers the same instruction and input zero-shot
   (``o1``, ``o2``, ...). The ``consensus`` filter keeps one output when they agree
   (:func:`consensus_select`): an exact match after normalisation keeps a member of the
   agreeing pair (``o0`` first); otherwise, when *every* pairwise ROUGE-L F-measure is above
   ``consensus_threshold`` (the paper's 0.01), it keeps the medoid, the candidate with the
   highest mean ROUGE-L against the others. Everything else is dropped as "no consensus".

Teachers: give two or more (``--teacher A --teacher B``, any specs, e.g. both builtin
models). With one, the run goes on with a warning and ``self_samples`` extra zero-shot
samples of the same teacher (different seeds, temperature >= 0.7) stand in for the others,
which measures self-consistency rather than agreement between models.

Records: the instruction (with the input after a blank line) is the user message, the kept
output the completion; ``meta`` holds ``ensemble.category``, ``ensemble.round``,
``ensemble.candidates`` (model and output of each), ``ensemble.chosen_model``,
``ensemble.consensus`` (the medoid's mean ROUGE-L), ``ensemble.min_pair``::

    syllabus generate --generator ensemble-instruct --n 100 --out runs/ei \\
        --teacher builtin:smollm2-135m-instruct builtin:gemma-3-270m

Seed tasks as for ``self-instruct`` (``--prompts``, ``--set seed_tasks=FILE``, built-ins).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from syllabus.errors import ConfigError
from syllabus.generators.base import GenerationRun, Generator, Plan
from syllabus.generators.self_instruct import (
    BLACKLIST,
    SEPARATOR,
    GenerateInstructions,
    Incomplete,
    NoveltyFilter,
    OutputEmpty,
    OutputIsInput,
    SeedTask,
    _text,
    few_shot_messages,
    gather_seeds,
    instruction_filters,
    instruction_of,
    mix_instructions,
    parse_instances,
    round_size,
)
from syllabus.llm.base import LLM, SamplingParams
from syllabus.parsing import ParseError
from syllabus.pipeline.step import Drop, Filter, Step
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example, Message
from syllabus.text.rouge import NoveltyIndex, rouge_l_tokens, tokenize

__all__ = [
    "Answer",
    "Consensus",
    "ConsensusFilter",
    "EnsembleInstruct",
    "EnsembleInstructConfig",
    "WriteInstance",
    "consensus_select",
]

NS = "ensemble"
WITH_INPUT, WITHOUT_INPUT = "with-input", "without-input"
CATEGORIES = (WITH_INPUT, WITHOUT_INPUT)


# -- consensus ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Consensus:
    """The outcome of output ensembling.

    ``chosen`` is the index of the kept output (None: no consensus); ``scores`` each
    candidate's mean ROUGE-L against the others; ``min_pair`` the lowest pairwise ROUGE-L;
    ``exact`` whether two normalised outputs were identical.
    """

    chosen: int | None
    scores: tuple[float, ...]
    min_pair: float
    exact: bool

    @property
    def score(self) -> float:
        """The kept output's mean ROUGE-L with the others (0.0 without consensus)."""
        return self.scores[self.chosen] if self.chosen is not None else 0.0


def consensus_select(outputs: Sequence[str], threshold: float = 0.01) -> Consensus:
    """Pick the output several models agree on, or none.

    Outputs are normalised (lowercase, punctuation and extra spaces removed). Two equal
    non-empty normalised outputs decide at once: the lowest index among the agreeing ones
    is kept (``outputs[0]``, the generator's own, when it agrees with anyone). Otherwise the
    medoid (highest mean pairwise ROUGE-L, ties to the lower index) is kept if *every*
    pairwise ROUGE-L exceeds ``threshold``; if one pair shares nothing, nothing is kept.

    >>> consensus_select(["The answer is 4.", "the answer is 4", "5"]).chosen
    0
    >>> c = consensus_select(["Paris is the capital.", "The capital is Paris, France.", "Paris."])
    >>> c.chosen, round(c.min_pair, 3), c.exact
    (0, 0.333, False)
    >>> consensus_select(["red apples", "blue sky", "red sky"]).chosen is None   # red apples / blue sky: 0
    True
    """
    if len(outputs) < 2:
        raise ValueError("consensus needs at least two outputs")
    tokens = [tokenize(o) for o in outputs]
    m = len(outputs)
    pair = [[0.0] * m for _ in range(m)]
    for i in range(m):
        for j in range(i + 1, m):
            pair[i][j] = pair[j][i] = rouge_l_tokens(tokens[i], tokens[j])
    scores = tuple(sum(pair[i][j] for j in range(m) if j != i) / (m - 1) for i in range(m))
    min_pair = min(pair[i][j] for i in range(m) for j in range(i + 1, m))
    normal = [" ".join(t) for t in tokens]
    agreeing = [i for i in range(m) if normal[i] and any(normal[i] == normal[j] for j in range(m) if j != i)]
    if agreeing:
        return Consensus(agreeing[0], scores, min_pair, True)
    if min_pair > threshold:
        best = max(range(m), key=lambda i: (scores[i], -i))
        return Consensus(best, scores, min_pair, False)
    return Consensus(None, scores, min_pair, False)


class ConsensusFilter(Filter):
    """Keep a record whose candidate outputs (``ensemble.candidates``) reach consensus; the kept
    one becomes the completion.

    >>> ex = Example.from_prompt("Capital of France?", meta={"ensemble.candidates": [
    ...     {"model": "a", "output": "Paris."}, {"model": "b", "output": "paris"}]})
    >>> ConsensusFilter().keep(ex), ex.completion, ex.meta["ensemble.chosen_model"]
    (True, 'Paris.', 'a')
    """

    name = "consensus"

    def __init__(self, threshold: float = 0.01):
        if not 0.0 <= threshold < 1.0:
            raise ConfigError(f"--set consensus_threshold must be in [0, 1), got {threshold}")
        self.threshold = threshold

    def keep(self, example: Example) -> bool | Drop:
        candidates = list(example.meta.get(f"{NS}.candidates") or [])
        if len(candidates) < 2:
            return Drop("too few outputs")
        result = consensus_select([c["output"] for c in candidates], self.threshold)
        example.set_meta(NS, "scores", [round(s, 4) for s in result.scores])
        example.set_meta(NS, "min_pair", round(result.min_pair, 4))
        example.set_meta(NS, "exact_match", result.exact)
        if result.chosen is None:
            return Drop("no consensus")
        example.completion = candidates[result.chosen]["output"]
        example.set_meta(NS, "chosen", result.chosen)
        example.set_meta(NS, "chosen_model", candidates[result.chosen]["model"])
        example.set_meta(NS, "consensus", round(result.score, 4))
        return True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "threshold": self.threshold}


# -- prompts -----------------------------------------------------------------------------------------------
_KIND = {
    WITH_INPUT: "Every task works on an input that comes with it (a sentence, a paragraph, a list, a number or a question).",
    WITHOUT_INPUT: "Every task can be done directly, with no input besides the task itself.",
}
INSTRUCTIONS_CHAT = {
    cat: PromptTemplate(
        f"ensemble-instruct/instructions-{cat}-chat",
        user=(
            f"Here is a numbered list of tasks. {_KIND[cat]}\n\n{{tasks}}\n\n"
            "Continue the list with {count} new tasks of the same kind, numbered {first} to {last}. "
            "Make each one different from the others in topic and kind. Each task is one or two "
            "sentences that can be done with text alone. Write one task per line and nothing else."
        ),
    )
    for cat in CATEGORIES
}
INSTRUCTIONS_RAW = {
    WITH_INPUT: PromptTemplate(
        "ensemble-instruct/instructions-with-input-raw",
        user="Come up with a series of tasks, each of which comes with an input:\n{tasks}\n{first}.",
    ),
    WITHOUT_INPUT: PromptTemplate(
        "ensemble-instruct/instructions-without-input-raw",
        user="Come up with a series of tasks that need no input:\n{tasks}\n{first}.",
    ),
}
INSTANCE = {
    WITH_INPUT: PromptTemplate(
        "ensemble-instruct/instance-with-input",
        user=(
            "For the last task, write one input that fits it and then the correct output for that "
            "input, in the same format as the examples.\n\n{demos}\n\nTask: {instruction}\n"
        ),
    ),
    WITHOUT_INPUT: PromptTemplate(
        "ensemble-instruct/instance-without-input",
        user="For the last task, write the correct output, in the same format as the examples.\n\n{demos}\n\nTask: {instruction}\n",
    ),
}
# For chat models the demonstrations are earlier turns (see self_instruct.few_shot_messages).
INSTANCE_CHAT = {
    WITH_INPUT: PromptTemplate(
        "ensemble-instruct/instance-with-input-chat",
        system=(
            "For the user's task, write one input that fits it and then the correct output for that "
            "input: an 'Input:' line and an 'Output:' line, and nothing else."
        ),
        user="Task: {instruction}",
    ),
    WITHOUT_INPUT: PromptTemplate(
        "ensemble-instruct/instance-without-input-chat",
        system="Write the correct output for the user's task on an 'Output:' line, and nothing else.",
        user="Task: {instruction}",
    ),
}
# Zero-shot answers of base-model ensemble members (chat models get the user turn itself).
ANSWER_RAW = PromptTemplate("ensemble-instruct/answer-raw", user="Task: {instruction}\n{input_line}Output:")


def _demo_answer(task: SeedTask, category: str) -> str:
    inp, out = task.instances[0]
    return f"Input: {inp}\nOutput: {out}" if category == WITH_INPUT else f"Output: {out}"


# -- steps ----------------------------------------------------------------------------------------------------
class WriteInstance(TeacherStep):
    """The generator's instance for one instruction: (input and) output ``o0``, in the category's format.

    >>> from syllabus.llm.fake import ScriptedLLM
    >>> step = WriteInstance(ScriptedLLM(["Input: 3, 1, 2\\nOutput: 1, 2, 3"]), category="with-input", raw=True)
    >>> [(e.prompt, e.completion) for e in step([Example.from_prompt("Sort the numbers.", id="i")])]
    [('Sort the numbers.\\n\\n3, 1, 2', '1, 2, 3')]
    """

    name = "instance"
    version = "1"

    def __init__(
        self,
        llm: LLM,
        params: SamplingParams | None = None,
        *,
        category: str,
        demos: Sequence[SeedTask] = (),
        raw: bool = False,
        **kwargs: Any,
    ):
        super().__init__(llm, params, template=(INSTANCE if raw else INSTANCE_CHAT)[category], **kwargs)
        self.category, self.demos, self.raw = category, [t for t in demos if t.instances], raw

    def fields(self, example: Example) -> dict[str, Any]:
        demos = "\n\n".join(f"Task: {t.instruction}\n{_demo_answer(t, self.category)}" for t in self.demos)
        return {"demos": demos, "instruction": instruction_of(example, NS)}

    def request(self, example: Example) -> list[Message] | str:
        if self.raw:
            return _text(super().request(example), True)  # type: ignore[arg-type]
        shots = [({"instruction": t.instruction}, _demo_answer(t, self.category)) for t in self.demos]
        return few_shot_messages(INSTANCE_CHAT[self.category], shots, instruction=instruction_of(example, NS))

    def parse(self, text: str, example: Example, sample: int) -> Example:
        pairs = parse_instances(text)
        if self.category == WITH_INPUT:
            pairs = [p for p in pairs if p[0]]
            if not pairs:
                raise ParseError("no input and output", text[:80])
            inp, out = pairs[0]
        else:
            # An unlabelled answer is the output itself (chat models often skip the label).
            inp, out = "", (pairs[0][1] if pairs else text.strip())
            if not out:
                raise ParseError("empty answer")
        instruction = instruction_of(example, NS)
        rec = example.derive(
            suffix="x0" if sample == 0 else f"s{sample}x0",
            step=self.name,
            messages=[{"role": "user", "content": instruction + SEPARATOR + inp if inp else instruction}],
            completion=out,
        )
        rec.set_meta(NS, "input", inp)
        if inp:
            rec.meta["alpaca.input"] = inp
        rec.set_meta(NS, "candidates", [{"model": self.llm.model_id, "output": out}])
        return rec


class Answer(TeacherStep):
    """One ensemble member answers the record's instruction zero-shot; its output joins
    ``ensemble.candidates`` (an empty answer counts as a disagreeing vote, never a crash).

    >>> from syllabus.llm.fake import ScriptedLLM
    >>> ex = Example.from_prompt("Name a primary color.", meta={"ensemble.candidates": [{"model": "g", "output": "Red"}]})
    >>> [e.meta["ensemble.candidates"][-1] for e in Answer(ScriptedLLM(["Blue"]), name="answer-1")([ex])]
    [{'model': 'fake:scripted', 'output': 'Blue'}]
    """

    name = "answer"
    version = "1"

    def __init__(self, llm: LLM, params: SamplingParams | None = None, *, raw: bool = False, **kwargs: Any):
        super().__init__(llm, params, template=ANSWER_RAW if raw else None, **kwargs)
        self.raw = raw

    def request(self, example: Example) -> list[Message] | str:
        if not self.raw:
            return [m for m in example.messages if m["role"] != "system"]
        inp = str(example.meta.get(f"{NS}.input") or "")
        rendered = ANSWER_RAW.render(
            instruction=instruction_of(example, NS), input_line=f"Input: {inp}\n" if inp else ""
        )
        return rendered[-1]["content"]

    def parse(self, text: str, example: Example, sample: int) -> Example:
        out = replace(example, meta=dict(example.meta), provenance=dict(example.provenance))
        out.set_meta(
            NS,
            "candidates",
            [*example.meta.get(f"{NS}.candidates", []), {"model": self.llm.model_id, "output": text.strip()}],
        )
        return out

    def annotate(self, out: Example, generation: Any) -> None:
        pass  # one record collects several answers: per-answer finish reasons would overwrite each other


# -- the generator -------------------------------------------------------------------------------------------
@dataclass
class EnsembleInstructConfig:
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
    shots_with_input: int = field(
        default=12, metadata={"help": "in-context instructions per prompt, with-input category (paper: 24)"}
    )
    shots_without_input: int = field(
        default=8, metadata={"help": "in-context instructions per prompt, without-input category (paper: 10)"}
    )
    generated_per_prompt: int = field(
        default=2, metadata={"help": "of those, at most this many generated earlier (paper: 4)"}
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
    instance_demos: int = field(default=3, metadata={"help": "seed tasks shown as examples in instance prompts"})
    consensus_threshold: float = field(
        default=0.01, metadata={"help": "every pairwise ROUGE-L must exceed this to keep the medoid"}
    )
    self_samples: int = field(
        default=2, metadata={"help": "with one teacher: extra samples of it that stand in for other models"}
    )
    max_prompts_per_round: int = field(default=64, metadata={"help": "cap on instruction prompts per round"})
    raw: bool | None = field(
        default=None, metadata={"help": "plain-text prompts for the generator (default: when it has no chat template)"}
    )

    def __post_init__(self) -> None:
        for name in (
            "shots_with_input",
            "shots_without_input",
            "new_per_prompt",
            "self_samples",
            "max_prompts_per_round",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"--set {name} must be >= 1, got {getattr(self, name)}")
        if self.generated_per_prompt < 0 or self.instance_demos < 0:
            raise ConfigError("--set generated_per_prompt and instance_demos must be >= 0")
        if not 0.0 <= self.consensus_threshold < 1.0:
            raise ConfigError(f"--set consensus_threshold must be in [0, 1), got {self.consensus_threshold}")


class EnsembleInstruct(Generator):
    """Categorized Self-Instruct by the first teacher, outputs kept by the teachers' ROUGE-L consensus."""

    name = "ensemble-instruct"
    version = "1"
    Config = EnsembleInstructConfig
    min_teachers = 1  # two or more intended; one runs with a warning (see the module doc)
    first_round_yield = 1.5  # kept records per prompt assumed before the first round

    # -- building blocks ----------------------------------------------------------------------------
    @staticmethod
    def categorize(seeds: Sequence[SeedTask]) -> dict[str, list[SeedTask]]:
        """Seed tasks by category: with input when one of their instances has a non-empty input."""
        return {WITH_INPUT: [t for t in seeds if t.has_input], WITHOUT_INPUT: [t for t in seeds if not t.has_input]}

    def _raw(self, llm: LLM, override: bool | None = None) -> bool:
        return override if override is not None else not llm.capabilities.chat_template

    def _shots(self, category: str) -> int:
        cfg: EnsembleInstructConfig = self.config
        return cfg.shots_with_input if category == WITH_INPUT else cfg.shots_without_input

    def _prompts(
        self,
        run: GenerationRun,
        round_: int,
        category: str,
        size: int,
        seeds: Sequence[SeedTask],
        machine: Sequence[Example],
    ) -> list[Example]:
        cfg: EnsembleInstructConfig = self.config
        if not seeds or size < 1:
            return []
        rng = run.rng("prompts", category, round_)
        ids = {t.instruction: t.id for t in seeds} | {instruction_of(m, NS): m.id for m in machine}
        n_machine = min(cfg.generated_per_prompt, self._shots(category))
        out = []
        for k in range(size):
            context = mix_instructions(
                rng,
                [t.instruction for t in seeds],
                [instruction_of(m, NS) for m in machine],
                self._shots(category) - n_machine,
                n_machine,
            )
            short = "in" if category == WITH_INPUT else "noin"
            ex = Example(
                id=f"ei-r{round_:02d}-{short}{k:04d}", messages=[{"role": "user", "content": "\n".join(context)}]
            )
            ex.set_meta(NS, "context", context)
            ex.set_meta(NS, "context_ids", [ids[t] for t in context])
            ex.set_meta(NS, "category", category)
            ex.set_meta(NS, "round", round_)
            out.append(ex)
        return out

    def _steps(self, run: GenerationRun, pools: dict[str, list[SeedTask]]) -> dict[str, Any]:
        cfg: EnsembleInstructConfig = self.config
        raw = self._raw(run.teacher, cfg.raw)
        common = {"batch_size": run.settings.batch_size, "origin": self.origin}
        steps: dict[str, Any] = {}
        for cat in CATEGORIES:
            last = self._shots(cat) + cfg.new_per_prompt
            params = run.params_with(stop=(f"\n{last + 1}.",)) if raw else run.params
            steps[f"instructions:{cat}"] = GenerateInstructions(
                run.teacher,
                params,
                count=cfg.new_per_prompt,
                raw=raw,
                namespace=NS,
                number="{}.",
                template=(INSTRUCTIONS_RAW if raw else INSTRUCTIONS_CHAT)[cat],
                name="instructions",
                **common,
            )
            demo_pool = [t for t in pools[cat] if t.instances]
            rng = run.rng("instance-demos", cat)
            demos = rng.sample(demo_pool, min(cfg.instance_demos, len(demo_pool)))
            steps[f"instance:{cat}"] = WriteInstance(
                run.teacher, run.params_with(stop=("\nTask:",)), category=cat, demos=demos, raw=raw, **common
            )
        answers: list[Step] = []
        if len(run.teachers) > 1:
            for i, llm in enumerate(run.teachers[1:], 1):
                answers.append(
                    Answer(
                        llm,
                        run.params_with(stop=("\nTask:",)) if self._raw(llm) else run.params,
                        raw=self._raw(llm),
                        name=f"answer-{i}",
                        **common,
                    )
                )
        else:
            # One model: independent samples of it vote instead (distinct seeds: distinct cache entries).
            temperature = max(run.params.temperature, 0.7)
            llm = run.teacher
            for k in range(cfg.self_samples):
                params = run.params_with(
                    temperature=temperature,
                    seed=run.params.seed + 1 + k,
                    stop=("\nTask:",) if self._raw(llm) else run.params.stop,
                )
                answers.append(Answer(llm, params, raw=self._raw(llm), name=f"answer-0-s{k + 1}", **common))
        steps["answers"] = answers
        return steps

    def seeds(self, run: GenerationRun) -> list[SeedTask]:
        cfg: EnsembleInstructConfig = self.config
        return gather_seeds(run, cfg.seed_tasks, cfg.builtin_seeds)

    def _split(self, size: int, pools: dict[str, list[SeedTask]]) -> dict[str, int]:
        # Prompts per category in proportion to the seeds, at least one for a category that has seeds.
        total = sum(len(p) for p in pools.values())
        with_input = round(size * len(pools[WITH_INPUT]) / total)
        sizes = {WITH_INPUT: with_input, WITHOUT_INPUT: size - with_input}
        for cat in CATEGORIES:
            if pools[cat] and sizes[cat] < 1:
                sizes[cat] = 1
            if not pools[cat]:
                sizes[cat] = 0
        return sizes

    # -- the run ---------------------------------------------------------------------------------------------
    def generate(self, run: GenerationRun) -> list[Example]:
        cfg: EnsembleInstructConfig = self.config
        if len(run.teachers) < 2:
            warnings.warn(
                "ensemble-instruct with one teacher: samples of the same model vote instead of different "
                "models (self-consistency, not the paper's ensemble); give --teacher A B for an ensemble",
                UserWarning,
                stacklevel=2,
            )
        seeds = self.seeds(run)
        pools = self.categorize(seeds)
        steps = self._steps(run, pools)
        pool = NoveltyIndex(cfg.novelty_threshold)
        for t in seeds:
            pool.add(t.instruction, key=t.id)
        machine: dict[str, list[Example]] = {cat: [] for cat in CATEGORIES}
        records: list[Example] = []
        tried = 0
        for round_ in range(run.settings.max_rounds):
            needed = run.settings.n - len(records)
            if needed <= 0:
                break
            size = round_size(needed, len(records), tried, self.first_round_yield, cfg.max_prompts_per_round)
            tag = f"r{round_:02d}"
            candidates: list[Example] = []
            for cat, n_prompts in self._split(size, pools).items():
                prompts = self._prompts(run, round_, cat, n_prompts, pools[cat], machine[cat])
                tried += len(prompts)
                candidates += run.phase(
                    f"instructions-{cat}-{tag}",
                    prompts,
                    [
                        steps[f"instructions:{cat}"],
                        *instruction_filters(cfg.min_words, cfg.max_words, cfg.blacklist, NS),
                    ],
                )
            novel = run.phase(f"novelty-{tag}", candidates, [NoveltyFilter(pool, candidates, NS)])
            instances: list[Example] = []
            for cat in CATEGORIES:
                mine = [e for e in novel if e.meta[f"{NS}.category"] == cat]
                machine[cat] += mine
                instances += run.phase(
                    f"instance-{cat}-{tag}",
                    mine,
                    [steps[f"instance:{cat}"], OutputEmpty(NS), OutputIsInput(NS), Incomplete(NS)],
                )
            kept = run.phase(
                f"ensemble-{tag}", instances, [*steps["answers"], ConsensusFilter(cfg.consensus_threshold)], kept=True
            )
            records += kept
            if not kept:
                break
        return records[: run.settings.n]

    def plan(self, run: GenerationRun) -> Plan:
        cfg: EnsembleInstructConfig = self.config
        seeds = self.seeds(run)
        pools = self.categorize(seeds)
        steps = self._steps(run, pools)
        size = round_size(run.settings.n, 0, 0, self.first_round_yield, cfg.max_prompts_per_round)
        phases: list[tuple[str, TeacherStep, Sequence[Example]]] = []
        factors: list[float] = []
        per_prompt = 3.0  # novel instructions per prompt: a planning guess, the real yield varies
        for cat, n_prompts in self._split(size, pools).items():
            prompts = self._prompts(run, 0, cat, n_prompts, pools[cat], [])
            if not prompts:
                continue
            stand_ins = []
            for t in (pools[cat] * (len(prompts) // len(pools[cat]) + 1))[: len(prompts)]:
                ex = Example.from_prompt(
                    t.instruction + (SEPARATOR + t.instances[0][0] if t.has_input else ""), id=t.id
                )
                ex.set_meta(NS, "instruction", t.instruction)
                ex.set_meta(NS, "input", t.instances[0][0] if t.has_input else "")
                stand_ins.append(ex)
            phases += [
                (f"instructions-{cat}", steps[f"instructions:{cat}"], prompts),
                (f"instance-{cat}", steps[f"instance:{cat}"], stand_ins),
            ]
            factors += [1.0, per_prompt]
            phases += [(f"{a.name}-{cat}", a, stand_ins) for a in steps["answers"]]
            factors += [per_prompt] * len(steps["answers"])
        notes = [
            (
                f"{len(seeds)} seed tasks ({len(pools[WITH_INPUT])} with input, {len(pools[WITHOUT_INPUT])} "
                f"without); round 0 only, assuming {per_prompt:g} new instructions per prompt"
            )
        ]
        if len(run.teachers) < 2:
            notes.append(f"one teacher: {cfg.self_samples} extra samples of it vote instead of other models")
        return Plan.of(run, phases, calls_per_input=factors, notes=notes)
