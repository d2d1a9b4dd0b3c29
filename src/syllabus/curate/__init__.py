"""Curation: score, deduplicate, decontaminate and select examples, with a reason for every drop.

Every curation step is looked up by name in :data:`CURATION_STEPS`. Two kinds live there:

- *pipeline steps* (scorers are ``Map``/``BatchMap`` steps that write namespaced scores and
  never drop; filters are ``Filter`` steps that drop with a short fixed reason). They run
  shard by shard in a resumable :class:`~syllabus.pipeline.Pipeline`.
- *global selections* (:class:`~syllabus.curate.select.Selection`: top-k, caps, mixture
  weights, facility location, subset-size search) that need the whole kept set at once;
  they run after the pipeline over all its kept records.

A recipe (:mod:`syllabus.curate.recipe`) names steps and selections with their options;
:func:`build_step` turns one recipe entry into an object, checking every option against the
constructor and handing model-backed steps the LLM of the right role.

Entries are ``"module:Class"`` strings, so listing the names imports nothing heavy::

    >>> "minhash-dedup" in CURATION_STEPS and "top-k" in CURATION_STEPS
    True

A step from another package registers the same way (or through the entry-point group
``syllabus.curation_steps``)::

    from syllabus.curate import CURATION_STEPS
    CURATION_STEPS.register("no-urls", "my_pkg.filters:NoUrls")
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from syllabus.errors import ConfigError, did_you_mean
from syllabus.registry import Registry

__all__ = ["CURATION_STEPS", "MODEL_ROLES", "build_step", "check_options", "step_kind"]

CURATION_STEPS: Registry[type] = Registry("curation step", entry_point_group="syllabus.curation_steps")

for _name, _path in {
    # deduplication and decontamination
    "exact-dedup": "syllabus.curate.dedup:ExactDedup",
    "minhash-dedup": "syllabus.curate.dedup:MinHashDedup",
    "semantic-dedup": "syllabus.curate.dedup:SemanticDedup",
    "decontaminate": "syllabus.curate.decontam:Decontaminate",
    # InstructMining indicators and the linear rule
    "length": "syllabus.curate.scorers.instructmining:ResponseLength",
    "perplexity": "syllabus.curate.scorers.instructmining:ResponsePerplexity",
    "mtld": "syllabus.curate.scorers.instructmining:LexicalDiversity",
    "knn-distance": "syllabus.curate.scorers.instructmining:NeighbourDistance",
    "reward": "syllabus.curate.scorers.instructmining:RewardScore",
    "instructmining-rule": "syllabus.curate.rule:InstructMiningRule",
    # model-based scorers
    "judge-rubric": "syllabus.curate.scorers.judge:RubricJudge",
    "verify": "syllabus.curate.scorers.verify:VerifierScore",
    "step-errors": "syllabus.curate.scorers.stepwise:StepErrorRate",
    "lbt": "syllabus.curate.scorers.lbt:LearningByTeaching",
    "arte": "syllabus.curate.scorers.arte:StudentPreference",
    # filters and global selections
    "threshold": "syllabus.curate.select:Threshold",
    "top-k": "syllabus.curate.select:TopK",
    "cap": "syllabus.curate.select:Cap",
    "mixture": "syllabus.curate.select:Mixture",
    "facility-location": "syllabus.curate.select:FacilityLocation",
    "subset-search": "syllabus.curate.select:SubsetSizeSearch",
}.items():
    CURATION_STEPS.register(_name, _path)

# The recipe's model roles. A constructor parameter that takes an LLM gets the model of the
# role its name says (``judge``, ``scorer``, ``student``); a parameter with another name
# (``llm``, ``model``) gets the step's default role below, unless the recipe entry names a
# role for it (``{use: reward, llm: scorer}``).
MODEL_ROLES = ("scorer", "judge", "student")
_DEFAULT_ROLE = {
    "perplexity": "scorer",
    "reward": "judge",
    "judge-rubric": "judge",
    "lbt": "student",
    "arte": "student",
}


def step_kind(cls: type) -> str:
    """``"step"`` for pipeline steps, ``"selection"`` for global selections."""
    from syllabus.curate.select import Selection
    from syllabus.pipeline.step import Step

    if isinstance(cls, type) and issubclass(cls, Selection):
        return "selection"
    if isinstance(cls, type) and issubclass(cls, Step):
        return "step"
    raise ConfigError(f"{cls!r} is registered as a curation step but is neither a pipeline Step nor a Selection")


def _takes_llm(param: inspect.Parameter) -> bool:
    # Annotations are strings under ``from __future__ import annotations``; matching the
    # text avoids importing every backend to compare types.
    annotation = param.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    return "LLM" in str(text) or param.name in MODEL_ROLES


def _parameters(cls: type) -> tuple[dict[str, inspect.Parameter], bool]:
    """A constructor's keyword parameters, and whether it also takes ``**kwargs``."""
    try:
        params = dict(inspect.signature(cls).parameters)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return {}, True
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {k: p for k, p in params.items() if p.kind not in skip}, accepts_any


def check_options(name: str, options: Mapping[str, Any]) -> dict[str, inspect.Parameter]:
    """Check a recipe entry's option names against the step's constructor, without building
    it (no model is loaded); returns the constructor's parameters."""
    named, accepts_any = _parameters(CURATION_STEPS.get(name))
    for key in options:
        if key not in named and not accepts_any:
            raise ConfigError(f"curation step {name!r}: unknown option {key!r}.{did_you_mean(key, named)}")
    return named


def build_step(
    name: str,
    options: Mapping[str, Any] | None = None,
    models: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Instantiate the curation step or selection registered as ``name``.

    Args:
        name: a :data:`CURATION_STEPS` name (``"minhash-dedup"``).
        options: the recipe entry's options; each must be a constructor keyword. A value
            naming a model role (``llm: judge``) for an LLM parameter picks that role.
        models: role -> LLM (a lazy mapping is fine: a model is only looked up when a step
            takes it).
        context: values the runner offers to any constructor that has a parameter of that
            name and was not given it (``index_dir``, ``run_dir``, ``embed``).

    Errors are one line naming the step and the option::

        >>> build_step("threshold", {"scroe": "judge.mean", "value": 95})
        Traceback (most recent call last):
        syllabus.errors.ConfigError: curation step 'threshold': unknown option 'scroe'. Did you mean score?
    """
    cls = CURATION_STEPS.get(name)
    options = dict(options or {})
    models = models or {}
    where = f"curation step {name!r}"
    named = check_options(name, options)
    kwargs: dict[str, Any] = {}
    for key, param in named.items():
        if _takes_llm(param):
            role = options.pop(key, None)
            if role is None:
                if param.default is not inspect.Parameter.empty and key not in MODEL_ROLES and name not in _DEFAULT_ROLE:
                    continue  # an optional model the step can do without
                role = key if key in MODEL_ROLES else _DEFAULT_ROLE.get(name, "scorer")
            if not isinstance(role, str):
                kwargs[key] = role  # an LLM object given in code
                continue
            if role not in MODEL_ROLES:
                raise ConfigError(f"{where}: option {key!r} names a model role; use one of {', '.join(MODEL_ROLES)}.{did_you_mean(role, MODEL_ROLES)}")
            try:
                kwargs[key] = models[role]
            except KeyError:
                raise ConfigError(f"{where} needs a {role} model: set models.{role} in the recipe or pass --models.{role} SPEC") from None
        elif key not in options and context and key in context:
            kwargs[key] = context[key]
    kwargs.update(options)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
