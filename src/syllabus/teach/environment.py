"""The teaching loop as an environment: ``reset()`` measures the student, ``step(plan)`` teaches it.

DataEnvGym's framing: the *state* is the student's per-skill dev scores and failures, an
*action* is a :class:`~syllabus.teach.state.Plan` (what data to write for which skill),
and a step runs the whole pipeline on it::

    runs/NAME/
      r00/05_eval/        the student before teaching, on the held-out tasks
      r00/06_feedback/    dev evaluation -> state.json; the policy's plan.json
      r01/01_generate/    one generator run per assignment of the plan
      r01/02_curate/      dedup, decontamination against the held-out tasks, verification
      r01/03_order/       this round's data, earlier rounds replayed (the curriculum)
      r01/04_train/       LoRA on the previous round's student; model/ = merged weights
      r01/05_eval/        held-out evaluation (every round, or the last one)
      r01/06_feedback/    dev evaluation -> state.json, plan.json for round 2
      ...

Every stage is resumable on its own (generation and evaluation by shard, training by
checkpoint) and a finished stage is skipped, so a killed run continues where it stopped,
and a finished run given more ``--rounds`` goes on from its last student.

>>> from syllabus.teach.config import TeachConfig
>>> env = Environment.__new__(Environment)
>>> env.cfg = TeachConfig(eval_scale=0.5)
>>> TaskRef("ifeval-lite", "prompt_level_strict", {"n": 64}).settings, env.scaled(TaskRef("ifeval-lite", "x", {"n": 64}))
({'n': 64}, {'n': 32})
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syllabus.errors import ConfigError
from syllabus.jsonl import write_text_atomic
from syllabus.record import Example, content_hash
from syllabus.run import RunDir
from syllabus.teach.config import TeachConfig
from syllabus.teach.policies import Policy
from syllabus.teach.skills import Skill, SkillSet, TaskRef
from syllabus.teach.state import Plan, SkillState, State

__all__ = ["Environment", "per_check_rates", "skill_score"]

#: Task settings that say how many items a task has; ``eval_scale`` multiplies them.
SIZE_SETTINGS = ("n", "n_base", "size", "limit")

#: Failed dev items kept in the state per skill (what failure-driven policies re-ask).
MAX_FAILURES = 64


def skill_score(report: dict[str, Any], ref: TaskRef) -> dict[str, Any] | None:
    """``{"value", "low", "high", "n"}`` of ``ref``'s metric in an evaluation report, if there."""
    section = report.get("tasks", {}).get(ref.task)
    if not section:
        return None
    return section["metrics"].get(ref.metric)


def per_check_rates(samples: Sequence[Example], namespace: str) -> dict[str, float]:
    """Strict pass rate per check type over scored ifeval-style samples (``NS.strict.CHECK``).

    >>> e = Example.from_prompt("x", scores={"ifeval-lite.strict.case.lowercase": 0.0})
    >>> per_check_rates([e], "ifeval-lite")
    {'case.lowercase': 0.0}
    """
    prefix = f"{namespace}.strict."
    seen: dict[str, list[float]] = {}
    for e in samples:
        for key, value in e.scores.items():
            if key.startswith(prefix):
                seen.setdefault(key[len(prefix) :], []).append(value)
    return {name: sum(v) / len(v) for name, v in sorted(seen.items())}


class Environment:
    """The teaching loop over a run directory (see the module docstring for its layout).

    ``load_llm`` builds models from specs (tests pass a function that returns fakes);
    ``train`` runs the SFT recipe and ``merge`` folds its adapter into a model folder
    (tests replace both). ``log`` receives one-line progress messages.
    """

    def __init__(
        self,
        cfg: TeachConfig,
        skills: SkillSet,
        policy: Policy,
        run: RunDir,
        *,
        load_llm: Callable[..., Any] | None = None,
        train: Callable[..., dict[str, Any]] | None = None,
        merge: Callable[..., Any] | None = None,
        log: Callable[[str], None] = print,
    ):
        from syllabus.llm import load_llm as default_load

        self.cfg, self.skills, self.policy, self.run = cfg, skills, policy, run
        self._load = load_llm or default_load
        self._train = train or _train_sft
        self._merge = merge or _merge
        self.log = log
        self.timings: dict[str, float] = self._read_timings()

    # -- the two verbs ---------------------------------------------------------------------
    def reset(self) -> State:
        """Measure the untaught student: held-out tasks (``r00/05_eval``) and dev (the state)."""
        self.evaluate_test(0)
        return self.observe(0)

    def step(self, plan: Plan, *, observe: bool = True) -> State | None:
        """Run one round on ``plan`` (the round after the last finished one) and observe.

        ``observe=False`` skips the dev evaluation (the state only a next round needs); a
        later :meth:`observe` computes it when the run is extended.
        """
        r = self.last_round() + 1
        self._write_json(self.round_dir(r - 1) / "06_feedback" / "plan.json", plan.to_dict())
        generated = self.generate(r, plan)
        kept = self.curate(r, generated)
        stages = self.order(r, kept)
        self.train(r, stages)
        if self.cfg.rounds <= r or self.evaluate_every_round:
            self.evaluate_test(r)
        return self.observe(r) if observe else None

    evaluate_every_round = False

    # -- where things are ------------------------------------------------------------------
    def round_dir(self, r: int) -> Path:
        return self.run.path / f"r{r:02d}"

    def student(self, r: int) -> str:
        """The model spec of the student after round ``r`` (round 0: the untaught one)."""
        return self.cfg.student if r == 0 else "hf:" + str(self.round_dir(r) / "04_train" / "model")

    def last_round(self) -> int:
        """The last round whose student exists (0 when nothing was taught yet)."""
        r = 0
        while (self.round_dir(r + 1) / "04_train" / "model" / "config.json").exists():
            r += 1
        return r

    def scaled(self, ref: TaskRef) -> dict[str, Any]:
        """``ref``'s settings with its size settings multiplied by ``eval_scale`` (at least 1)."""
        out = dict(ref.settings)
        for key in SIZE_SETTINGS:
            if isinstance(out.get(key), int):
                out[key] = max(1, math.ceil(out[key] * self.cfg.eval_scale))
        return out

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, model: str, refs: Sequence[TaskRef], out_dir: Path, label: str) -> dict[str, Any]:
        """Evaluate ``model`` on ``refs`` into ``out_dir`` (skipped when its report is complete)."""
        from syllabus.evaluate.runner import evaluate

        report_file = out_dir / "report.json"
        names = {ref.task for ref in refs}
        if report_file.exists():
            report = json.loads(report_file.read_text())
            if names <= set(report.get("tasks", {})):
                return report
        tasks = [_built(ref, self.scaled(ref)) for ref in refs]
        with self._timed(label):
            llm = self._load(model, cache=self.run.cache(), **self._eval_options(model))
            try:
                report = evaluate(llm, tasks, out_dir, batch_size=self.cfg.eval_batch_size, progress=self.cfg.progress)
            finally:
                llm.close()
        from syllabus.evaluate.html_report import write_report_html

        write_report_html(out_dir)
        return report

    def _eval_options(self, model: str) -> dict[str, Any]:
        return {"batch_size": self.cfg.eval_batch_size} if model.startswith(("hf:", "builtin:")) else {}

    def evaluate_test(self, r: int) -> dict[str, Any]:
        """The held-out evaluation of round ``r``'s student (``rNN/05_eval``)."""
        if not (self.round_dir(r) / "05_eval" / "report.json").exists():
            self.log(f"round {r}: held-out evaluation of {self.student(r)}")
        return self.evaluate(self.student(r), self.skills.test_tasks(), self.round_dir(r) / "05_eval", f"r{r:02d} eval")

    def observe(self, r: int) -> State:
        """Evaluate round ``r``'s student on every skill's dev task; write and return the state."""
        feedback = self.round_dir(r) / "06_feedback"
        state_file = feedback / "state.json"
        if state_file.exists():
            return State.from_dict(json.loads(state_file.read_text()))
        previous = self._previous_state(r)
        refs = [s.dev for s in self.skills.skills if s.dev]
        report = self.evaluate(self.student(r), refs, feedback / "dev", f"r{r:02d} dev") if refs else {"tasks": {}}
        state = State(round=r, budget=self.cfg.examples, history=list(previous.history) if previous else [])
        if r > 0:
            state.history.append(self._kept_per_skill(r))
        for skill in self.skills.skills:
            state.skills[skill.name] = self._skill_state(skill, report, feedback / "dev", previous)
        self._write_json(state_file, state.to_dict())
        return state

    def _previous_state(self, r: int) -> State | None:
        if r == 0:
            return None
        file = self.round_dir(r - 1) / "06_feedback" / "state.json"
        return State.from_dict(json.loads(file.read_text())) if file.exists() else None

    def _skill_state(self, skill: Skill, report: dict[str, Any], dev_dir: Path, previous: State | None) -> SkillState:
        from syllabus.jsonl import read_jsonl

        level = previous.skills[skill.name].level if previous and skill.name in previous.skills else 0
        if skill.dev is None:
            return SkillState(skill.name, level=level)
        est = skill_score(report, skill.dev) or {}
        task = skill.dev.build()
        path = dev_dir / "samples" / f"{task.namespace}.jsonl"
        samples = list(read_jsonl(path)) if path.exists() else []
        key = f"{task.namespace}.{skill.dev.metric}"
        failures = [e for e in samples if e.scores.get(key, 1.0) < 1.0][:MAX_FAILURES]
        return SkillState(
            skill.name,
            score=est.get("value"),
            low=est.get("low"),
            high=est.get("high"),
            n=int(est.get("n") or len(samples)),
            per_check=per_check_rates(samples, task.namespace),
            failures=failures,
            level=level,
        )

    # -- generate ---------------------------------------------------------------------------
    def generate(self, r: int, plan: Plan) -> list[Example]:
        """Run each assignment's generator into ``rNN/01_generate/NN_SKILL`` and gather the rows."""
        from syllabus.generators import run_generator
        from syllabus.llm.base import SamplingParams
        from syllabus.pipeline.runner import read_stage

        root = self.round_dir(r) / "01_generate"
        out: list[Example] = []
        teachers: list[Any] | None = None
        try:
            for i, a in enumerate(plan.assignments):
                skill = self.skills.get(a.skill)
                folder = root / f"{i:02d}_{skill.name}"
                if not (folder / "generation.json").exists():
                    if teachers is None:
                        teachers = self.load_teachers()
                    self.log(f"round {r}: writing {a.n} examples for {skill.name} ({a.reason or 'no reason given'})")
                    options = {**skill.options, **a.options}
                    if a.inputs and "arithmetic_share" in options:
                        options["arithmetic_share"] = 0.0  # re-asked prompts are answered as given
                    with self._timed(f"r{r:02d} generate"):
                        run_generator(
                            skill.generator, teachers, folder, inputs=list(a.inputs) or self._skill_inputs(skill),
                            options=options, n=a.n,
                            params=SamplingParams(max_tokens=self.cfg.teacher_max_tokens, temperature=self.cfg.temperature),
                            seed=int(content_hash([self.cfg.seed, r, i], 8), 16) % 2**31,
                            max_rounds=self.cfg.max_generation_rounds, progress=self.cfg.progress,
                            batch_size=self.cfg.eval_batch_size,
                        )
                for e in read_stage(folder):
                    e.set_meta("teach", "skill", skill.name)
                    e.set_meta("teach", "round", r)
                    out.append(e)
        finally:
            for t in teachers or []:
                t.close()
        return out

    def load_teachers(self) -> list[Any]:
        """The teacher models, batched like the evaluations (the caller closes them)."""
        return [self._load(t, cache=self.run.cache(), **self._eval_options(t)) for t in self.cfg.teacher]

    def _skill_inputs(self, skill: Skill) -> list[Example]:
        """The skill's own seed tasks (``seeds:``), if it names a file."""
        if not skill.seeds:
            return []
        from syllabus.inputs import load_examples

        return list(load_examples(skill.seeds))

    # -- curate, order, train ----------------------------------------------------------------
    def curate(self, r: int, examples: Sequence[Example]) -> list[Example]:
        """Dedup (across rounds, through the run's index), decontaminate, verify; ``rNN/02_curate``."""
        from syllabus.curate.recipe import CurateRecipe, read_curate_stage, run_context, run_recipe

        stage = self.round_dir(r) / "02_curate"
        if (stage / "stats.json").exists():
            return list(read_curate_stage(stage))
        recipe = CurateRecipe(
            name="teach",
            description="exact and MinHash dedup, decontamination against the held-out tasks, verification",
            decontaminate=[ref.task for ref in self.skills.test_tasks()],
            steps=[
                {"use": "exact-dedup"},
                {"use": "minhash-dedup", "threshold": 0.8},
                {"use": "verify"},
                {"use": "threshold", "score": "verify.pass", "op": ">=", "value": 1},
            ],
        )
        self.log(f"round {r}: curating {len(examples)} examples")
        with self._timed(f"r{r:02d} curate"):
            result = run_recipe(recipe, examples, stage, models={}, context=run_context(self.run.path, recipe, r))
        return list(result.examples())

    def kept(self, r: int) -> list[Example]:
        from syllabus.curate.recipe import read_curate_stage

        return list(read_curate_stage(self.round_dir(r) / "02_curate"))

    def _kept_per_skill(self, r: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.kept(r):
            name = str(e.meta.get("teach.skill", "?"))
            counts[name] = counts.get(name, 0) + 1
        return counts

    def order(self, r: int, examples: Sequence[Example]) -> list[list[Example]]:
        """This round's kept data (shuffled), earlier rounds replayed by the curriculum; ``rNN/03_order``."""
        from syllabus.curriculum import get_curriculum, read_stages, write_stages

        stage = self.round_dir(r) / "03_order"
        if (stage / "order.json").exists():
            return read_stages(stage)
        if not examples:
            raise ConfigError(f"round {r}: curation kept no examples, nothing to train on (see {self.round_dir(r) / '02_curate'})")
        current = list(examples)
        random.Random(f"{self.cfg.seed}:order:{r}").shuffle(current)  # skills interleaved, not in plan order
        earlier = [self.kept(j) for j in range(1, r)]
        curriculum = get_curriculum(self.cfg.curriculum)
        stages = curriculum.order(current, earlier)
        write_stages(stages, stage, {"curriculum": self.cfg.curriculum, "round": r})
        return [list(s.examples) for s in stages]

    def train(self, r: int, stages: Sequence[Sequence[Example]]) -> Path:
        """LoRA SFT of round ``r - 1``'s student on the stages, merged into ``rNN/04_train/model``."""
        folder = self.round_dir(r) / "04_train"
        return self.train_model(self.student(r - 1), stages, folder, f"r{r:02d} train")

    def train_model(self, student: str, stages: Sequence[Sequence[Example]], folder: Path, label: str) -> Path:
        model_dir = folder / "model"
        if (model_dir / "config.json").exists():
            return model_dir
        from syllabus.train.sft import SFTSettings

        settings = SFTSettings(
            student=student.removeprefix("hf:"),
            lora_r=self.cfg.lora_r,
            lora_alpha=2 * self.cfg.lora_r,
            epochs=self.cfg.epochs,
            lr=self.cfg.lr,
            batch_size=self.cfg.train_batch_size,
            max_length=self.cfg.max_length,
            seed=self.cfg.seed,
            shuffle=True,
            eval_fraction=0.05,
        )
        self.log(f"{label}: LoRA SFT of {student} on {sum(len(s) for s in stages)} examples")
        with self._timed(label):
            summary = self._train(stages, folder, settings, progress=self.cfg.progress)
            self._merge(Path(summary["output"]), model_dir, base=settings.student)
        return model_dir

    # -- bookkeeping ---------------------------------------------------------------------------
    def _write_json(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

    def _read_timings(self) -> dict[str, float]:
        file = self.run.path / "timings.json"
        return json.loads(file.read_text()) if file.exists() else {}

    @contextmanager
    def _timed(self, label: str) -> Iterator[None]:
        """Add the wall time of the block to ``timings.json`` under ``label``.

        Time spent on a stage before a kill is lost: a resumed run's figures are the sum of
        the attempts that finished, a lower bound.
        """
        start = time.monotonic()
        yield
        self.timings[label] = round(self.timings.get(label, 0.0) + time.monotonic() - start, 1)
        self._write_json(self.run.path / "timings.json", self.timings)

def _built(ref: TaskRef, settings: dict[str, Any]) -> Any:
    return TaskRef(ref.task, ref.metric, settings).build()


def _train_sft(stages: Sequence[Sequence[Example]], folder: Path, settings: Any, *, progress: bool) -> dict[str, Any]:
    from syllabus.progress import LiveLoss
    from syllabus.train.sft import train_sft

    with LiveLoss(progress, "train (LoRA SFT)") as on_step:
        return train_sft(stages, folder, settings, on_step=on_step)


def _merge(adapter: Path, out: Path, *, base: str) -> Any:
    from syllabus.train.export import merge_adapter

    return merge_adapter(adapter, out, base=base)
