"""Verifiable instructions ("checks"), in the spirit of IFEval, usable both ways.

A :class:`Check` has two faces: ``describe()`` is the instruction appended to a prompt
when generating data, and ``check(response)`` / ``check_loose(response)`` say whether a
response obeys it (curation filters and evaluation use them). Checks are named like
``case.lowercase`` or ``length.words`` and live in the :data:`CHECKS` registry; the
conflict table says which ones can be asked together.

>>> import random
>>> check = get_check("punctuation.no_comma")
>>> check.describe()
'Do not use any commas in your response.'
>>> check.check("Yes, indeed."), check.check("Yes indeed.")
(False, True)
>>> picked = sample_compatible(random.Random(7), 3, SampleContext.from_prompt("Describe a winter morning."))
>>> compatible(picked), [Check.from_dict(c.to_dict()) for c in picked] == picked
(True, True)

:func:`repair_all` rewrites a response that fails some checks into one that passes them
all (each check's :meth:`Check.repair`, in a fixed order), for data generators:

>>> repair_all([get_check("format.title"), get_check("punctuation.no_comma")],
...            "Ice is lighter than water, so it floats.", prompt="Explain why ice floats.")
'<<Why Ice Floats>>\\n\\nIce is lighter than water so it floats.'

Modules: :mod:`~syllabus.checks.base` (the base class, registry, strict/loose,
serialisation, and how to write a new check), :mod:`~syllabus.checks.text` (word,
sentence and paragraph rules, no downloaded data), :mod:`~syllabus.checks.conflicts`,
:mod:`~syllabus.checks.catalog` (``list_checks``), and one module per kind of check.
"""

from syllabus.checks.base import (
    CHECKS,
    RELATIONS,
    Check,
    Relation,
    SampleContext,
    as_context,
    checks_from_meta,
    compare,
    get_check,
    loose_variants,
    register_check,
    repair_all,
    verify,
    verify_example,
)

# Importing the kind modules registers the built-in checks.
from syllabus.checks import (  # noqa: I001
    case,
    combination,
    content,
    formatting,
    keywords,
    length,
    punctuation,
    startend,
)
from syllabus.checks.catalog import list_checks
from syllabus.checks.conflicts import (
    CONFLICTS,
    EXCLUSIVE,
    compatible,
    names_conflict,
    pair_compatible,
    sample_compatible,
)

__all__ = [
    "CHECKS",
    "CONFLICTS",
    "EXCLUSIVE",
    "RELATIONS",
    "Check",
    "Relation",
    "SampleContext",
    "as_context",
    "case",
    "checks_from_meta",
    "combination",
    "compare",
    "compatible",
    "content",
    "formatting",
    "get_check",
    "keywords",
    "length",
    "list_checks",
    "loose_variants",
    "names_conflict",
    "pair_compatible",
    "punctuation",
    "register_check",
    "repair_all",
    "sample_compatible",
    "startend",
    "verify",
    "verify_example",
]
