"""Which checks can be asked of one response together, and drawing sets that can.

Two kinds of conflict:

* **By name** (this table): the two instructions contradict or make each other
  meaningless whatever their parameters, e.g. all lowercase and all capitals, or
  ``***`` paragraphs and blank-line paragraphs. Two checks with the same name also
  conflict: merge their parameters instead (one ``keywords.include`` with two words).
  A check that shapes the whole response (JSON, a fixed option) is *exclusive*: it
  combines only with the few checks listed for it.
* **By parameters** (:meth:`Check.conflicts_with`): text one check demands that another
  forbids, e.g. ending with "Hope this helps." under ``keywords.forbidden`` of "helps",
  or a prompt to repeat that holds a comma under ``punctuation.no_comma``.

Case checks do not conflict with checks that demand literal text, because those compare
ignoring case: "end with 'Any other questions?'" is met in all lowercase too.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

from syllabus.checks.base import CHECKS, Check, SampleContext, as_context
from syllabus.errors import ConfigError

__all__ = [
    "CONFLICTS",
    "EXCLUSIVE",
    "compatible",
    "conflicting_names",
    "names_conflict",
    "pair_compatible",
    "sample_compatible",
]

_PAIRS: dict[str, set[str]] = {
    "case.lowercase": {"case.uppercase", "case.capital_words"},
    "case.uppercase": {"case.capital_words"},
    # A quoted response starts and ends with a quote mark, so it cannot start or end with
    # anything else, nor open with a list, section header or repeated prompt.
    "format.quoted": {
        "startend.start_with",
        "startend.end_with",
        "combination.two_responses",
        "combination.repeat_prompt",
        "format.bullets",
        "format.numbered",
        "format.sections",
    },
    "startend.start_with": {"combination.repeat_prompt"},
    "startend.end_with": {"content.postscript"},  # the postscript comes last
    # Counts over two alternative answers are ambiguous (per answer, or in total?).
    "combination.two_responses": {
        "combination.repeat_prompt",
        "length.paragraphs",
        "length.nth_paragraph_first_word",
        "format.sections",
        "format.bullets",
        "format.numbered",
    },
    "combination.repeat_prompt": {"length.nth_paragraph_first_word"},
    # Three incompatible ways to cut a response into parts.
    "length.paragraphs": {"length.nth_paragraph_first_word", "format.sections"},
    "length.nth_paragraph_first_word": {"format.sections"},
}

#: Symmetric name-level conflicts: ``CONFLICTS[a]`` holds every ``b`` that ``a`` excludes.
CONFLICTS: dict[str, frozenset[str]] = {}
for _a, _bs in _PAIRS.items():
    for _b in _bs:
        CONFLICTS[_a] = CONFLICTS.get(_a, frozenset()) | {_b}
        CONFLICTS[_b] = CONFLICTS.get(_b, frozenset()) | {_a}

#: Checks that shape the whole response, with the only checks they combine with.
EXCLUSIVE: dict[str, frozenset[str]] = {
    # JSON leaves room for word choice and length, not for layout, quoting or punctuation
    # (JSON needs commas, and true/false/null are lowercase).
    "format.json": frozenset(
        {
            "case.lowercase",
            "keywords.include",
            "keywords.frequency",
            "keywords.forbidden",
            "keywords.letter_frequency",
            "length.words",
        }
    ),
    # A bare option leaves room for nothing but avoiding some words or commas.
    "format.options": frozenset({"punctuation.no_comma", "keywords.forbidden"}),
}


def _declared(name: str) -> frozenset[str]:
    """Conflicts a (plugin) check declares on its class; unknown names declare none."""
    if name not in CHECKS:
        return frozenset()
    return CHECKS.get(name).conflicts


def names_conflict(a: str, b: str) -> bool:
    """Whether checks named ``a`` and ``b`` can never be combined.

    >>> names_conflict("case.lowercase", "case.uppercase"), names_conflict("case.lowercase", "format.title")
    (True, False)
    >>> names_conflict("format.json", "length.words"), names_conflict("format.json", "format.title")
    (False, True)
    """
    if a == b:
        return True
    if b in CONFLICTS.get(a, ()) or b in _declared(a) or a in _declared(b):
        return True
    for x, y in ((a, b), (b, a)):
        if x in EXCLUSIVE and y not in EXCLUSIVE[x]:
            return True
    return False


def conflicting_names(name: str, names: Iterable[str] | None = None) -> list[str]:
    """Every registered name (or every name in ``names``) that conflicts with ``name``."""
    pool = CHECKS.names() if names is None else names
    return sorted(other for other in pool if other != name and names_conflict(name, other))


def pair_compatible(a: Check, b: Check) -> bool:
    """Two checks can be asked together: no name conflict and no parameter conflict."""
    return not (names_conflict(a.name, b.name) or a.conflicts_with(b) or b.conflicts_with(a))


def compatible(checks: Iterable[Check | Mapping[str, Any]]) -> bool:
    """Every pair of ``checks`` can be asked of one response.

    >>> from syllabus.checks import get_check
    >>> compatible([get_check("case.lowercase"), get_check("format.title")])
    True
    >>> compatible([get_check("punctuation.no_comma"), get_check("startend.end_with", phrase="Bye, now.")])
    False
    """
    items = [c if isinstance(c, Check) else Check.from_dict(c) for c in checks]
    return all(pair_compatible(a, b) for a, b in combinations(items, 2))


def sample_compatible(
    rng: random.Random,
    k: int,
    context: SampleContext | Mapping[str, Any] | str | None = None,
    *,
    names: Sequence[str] | None = None,
    attempts: int = 200,
) -> list[Check]:
    """Draw ``k`` mutually compatible checks with random parameters; the same seed, the same list.

    ``names`` restricts the candidates (e.g. to checks a small model can follow); checks
    that cannot be drawn for ``context`` (``combination.repeat_prompt`` without a prompt)
    are left out. Each attempt walks the candidates in a random order and keeps every
    check compatible with those kept so far; an attempt that ends short is retried.

    >>> pool = ["case.lowercase", "case.uppercase", "format.title"]
    >>> sorted(c.name for c in sample_compatible(random.Random(1), 2, names=pool))  # never both cases
    ['case.uppercase', 'format.title']
    """
    if k < 0:
        raise ConfigError(f"k must be >= 0, got {k}")
    ctx = as_context(context)
    pool = sorted(set(CHECKS.names() if names is None else names))
    classes = {name: CHECKS.get(name) for name in pool}
    pool = [name for name in pool if classes[name].applicable(ctx)]
    if k == 0:
        return []
    for _ in range(attempts):
        order = list(pool)
        rng.shuffle(order)
        chosen: list[Check] = []
        for name in order:
            if any(names_conflict(name, c.name) for c in chosen):
                continue
            candidate = classes[name].sample(rng, ctx)
            if all(pair_compatible(candidate, c) for c in chosen):
                chosen.append(candidate)
                if len(chosen) == k:
                    return chosen
    raise ConfigError(
        f"could not draw {k} compatible checks from {len(pool)} candidates in {attempts} attempts; "
        "ask for fewer, or widen 'names'"
    )
