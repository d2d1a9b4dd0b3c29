"""Controls: what the same amount of training does without the teaching loop's targeting.

A gain after teaching could come from any fine-tuning at all: a base model that learns to
answer and stop passes more checks whatever it was trained on. Each control trains the
untaught student once, with the same recipe and settings, on as many examples as the
teaching rounds kept in total, and is evaluated on the same held-out items:

* ``untargeted``: the same teacher answers the same kind of everyday instructions (the
  train split's base tasks), with no checks attached, no verification and no repair;
* ``continuation``: non-instructional pairs (Xie et al. 2024): teacher-written texts cut
  in half, the teacher's continuation of the first half as the answer.

::

    runs/NAME/controls/untargeted/01_generate  02_curate  04_train/model  05_eval
    runs/NAME/controls/continuation/...
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from syllabus.record import Example

__all__ = ["CONTROLS", "run_control"]

CONTROLS = ("untargeted", "continuation")


def _base_instructions() -> list[Example]:
    from syllabus.evaluate.tasks.ifeval_lite import base_tasks

    # The train split only: the held-out ifeval-lite prompts are built on the test split.
    return [Example.from_prompt(b.instruction, id=f"untargeted-{b.id}") for b in base_tasks("train")]


def _generate(env: Any, generator: str, folder: Path, inputs: list[Example], options: dict[str, Any], n: int) -> list[Example]:
    from syllabus.generators import run_generator
    from syllabus.llm.base import SamplingParams
    from syllabus.pipeline.runner import read_stage

    if not (folder / "generation.json").exists():
        teachers = env.load_teachers()
        try:
            with env._timed(f"control {folder.parent.name} generate"):
                run_generator(
                    generator, teachers, folder, inputs=inputs, options=options, n=n,
                    params=SamplingParams(max_tokens=env.cfg.teacher_max_tokens, temperature=env.cfg.temperature),
                    seed=env.cfg.seed, max_rounds=env.cfg.max_generation_rounds, progress=env.cfg.progress,
                    batch_size=env.cfg.eval_batch_size,
                )
        finally:
            for t in teachers:
                t.close()
    return list(read_stage(folder))


def _curate(env: Any, folder: Path, examples: list[Example]) -> list[Example]:
    """Dedup and decontamination, as for the taught data; no verification (nothing to verify)."""
    from syllabus.curate.recipe import CurateRecipe, read_curate_stage, run_context, run_recipe

    if (folder / "stats.json").exists():
        return list(read_curate_stage(folder))
    recipe = CurateRecipe(
        name="control",
        decontaminate=[ref.task for ref in env.skills.test_tasks()],
        steps=[{"use": "exact-dedup"}, {"use": "minhash-dedup", "threshold": 0.8}],
    )
    # No run index: the control's data must not be deduplicated against the taught data.
    return list(run_recipe(recipe, examples, folder, models={}, context=run_context(None, recipe)).examples())


def control_data(env: Any, name: str, n: int) -> list[Example]:
    """``n`` (or as many as could be written) curated training examples of control ``name``."""
    root = env.run.path / "controls" / name
    if name == "untargeted":
        inputs = _base_instructions()
        samples = max(1, math.ceil(n * 1.15 / len(inputs)))  # a little extra for dedup losses
        wanted = min(samples * len(inputs), math.ceil(n * 1.15))
        rows = _generate(env, "responses", root / "01_generate", inputs, {"samples": samples}, wanted)
    elif name == "continuation":
        # Texts to cut: the untargeted control's teacher answers (plain prose on the same topics).
        texts = control_data(env, "untargeted", n)
        docs = [Example.from_prompt(e.completion or "", id=f"doc-{e.id}") for e in texts if len(e.completion or "") >= 160]
        options = {"chunk_chars": 4000, "min_chars": 160}
        if not docs:
            return []
        rows = _generate(env, "continuation", root / "01_generate", docs, options, min(len(docs), math.ceil(n * 1.1)))
    else:
        from syllabus.errors import ConfigError

        raise ConfigError(f"unknown control {name!r}; choose one of {', '.join(CONTROLS)}")
    return _curate(env, root / "02_curate", rows)[:n]


def run_control(env: Any, name: str, n: int) -> dict[str, Any]:
    """Write, train and evaluate control ``name`` with ``n`` examples; returns its summary."""
    root = env.run.path / "controls" / name
    data = control_data(env, name, n)
    if not data:
        env.log(f"control {name}: skipped, no training examples could be written")
        return {"name": name, "examples": 0, "target_examples": n, "skipped": "no training examples could be written"}
    env.log(f"control {name}: {len(data)} examples (taught data: {n})")
    model = env.train_model(env.student(0), [data], root / "04_train", f"control {name} train")
    report = env.evaluate("hf:" + str(model), env.skills.test_tasks(), root / "05_eval", f"control {name} eval")
    return {"name": name, "examples": len(data), "target_examples": n, "eval_dir": str(root / "05_eval"), "report": report}
