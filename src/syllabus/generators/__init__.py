"""Teacher data generators: the methods from the research, each a short list of phases.

Every generator is registered by name in :data:`GENERATORS` and runs the same way from the
command line (``syllabus generate --generator NAME --teacher SPEC --n 500 --out runs/NAME``)
and from Python::

    from syllabus.generators import run_generator

    result = run_generator("self-instruct", ["builtin:smollm2-135m-instruct"], "runs/si", n=50)
    for example in result.examples():
        ...

Third-party generators register through the ``syllabus.generators`` entry-point group or
``GENERATORS.register("name", "my_pkg.module:MyGenerator")``; see
:class:`~syllabus.generators.base.Generator` for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from syllabus.generators.base import (
    GenerationRun,
    GenerationSettings,
    Generator,
    NoOptions,
    Plan,
    PlannedPhase,
)
from syllabus.registry import Registry

__all__ = [
    "GENERATORS",
    "GenerationRun",
    "GenerationSettings",
    "Generator",
    "NoOptions",
    "Plan",
    "PlannedPhase",
    "get_generator",
    "run_generator",
]

GENERATORS: Registry[type[Generator]] = Registry("generator", entry_point_group="syllabus.generators")
for _name, _path in {
    "responses": "syllabus.generators.responses:Responses",
    "self-instruct": "syllabus.generators.self_instruct:SelfInstruct",
    "ensemble-instruct": "syllabus.generators.ensemble_instruct:EnsembleInstruct",
    "skillmix": "syllabus.generators.skillmix:SkillMix",
    "evol-instruct": "syllabus.generators.evol_instruct:EvolInstruct",
    "magpie": "syllabus.generators.magpie:Magpie",
    "agent-instruct": "syllabus.generators.documents:AgentInstruct",
    "multi-hop": "syllabus.generators.multihop:MultiHop",
    "verified-skills": "syllabus.generators.verified:VerifiedSkills",
    "continuation": "syllabus.generators.continuation:Continuation",
}.items():
    GENERATORS.register(_name, _path)


def get_generator(name: str, options: Mapping[str, Any] | None = None, *, source: str = "--set") -> Generator:
    """Instantiate a registered generator with options checked against its ``Config``.

    Unknown options are errors with a did-you-mean (``source`` names where they came from).
    """
    from syllabus.config import from_dict

    cls = GENERATORS.get(name)
    config = from_dict(cls.Config, dict(options or {}), source=f"{source} ({name})")
    return cls(config)


def run_generator(
    generator: str | Generator,
    teachers: Sequence[Any],
    out_dir: str | Path,
    *,
    inputs: Sequence[Any] = (),
    options: Mapping[str, Any] | None = None,
    cache: Any = None,
    **settings: Any,
) -> Any:
    """Run a generator into ``out_dir`` (a stage folder) and return its ``StageResult``.

    ``teachers`` are model specs or ``LLM`` objects; ``settings`` are
    :class:`GenerationSettings` fields (``n``, ``params``, ``seed``, ...). Models loaded
    here from specs are closed at the end.
    """
    from syllabus.llm import load_llm
    from syllabus.llm.base import LLM

    gen = get_generator(generator, options) if isinstance(generator, str) else generator
    loaded = [load_llm(t, cache=cache) for t in teachers if not isinstance(t, LLM)]
    it = iter(loaded)
    llms = [t if isinstance(t, LLM) else next(it) for t in teachers]
    try:
        return GenerationRun(gen, llms, GenerationSettings(**settings), out_dir, inputs).execute()
    finally:
        for llm in loaded:
            llm.close()
