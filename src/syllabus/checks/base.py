"""The ``Check`` base class, the ``CHECKS`` registry, strict/loose scoring and serialisation.

A check is a verifiable constraint with two faces: :meth:`Check.describe` is the
instruction appended to a prompt when generating, and :meth:`Check.check` tells whether a
response obeys it (filters and evaluation call it). Both faces read the same parameters,
so the text a teacher saw and the rule a response is held to cannot drift apart.

Writing a new check: subclass ``Check`` as a frozen dataclass whose fields are the typed
parameters, give it a namespaced ``name``, and implement ``describe``, ``passes`` and
(if it has parameters) ``sample``. ``passes`` is the rule alone; ``check`` adds the rule
that an empty response never passes, and ``check_loose`` the lenient variants::

    import random
    from dataclasses import dataclass
    from syllabus.checks import Check, SampleContext, register_check
    from syllabus.errors import ConfigError

    @register_check
    @dataclass(frozen=True)
    class NoDigits(Check):
        '''The response contains no digit.'''

        name = "content.no_digits"

        def describe(self) -> str:
            return "Do not use any digits; spell numbers out in words."

        def passes(self, response: str) -> bool:
            return not any(c.isdigit() for c in response)

    @register_check
    @dataclass(frozen=True)
    class MaxLines(Check):
        '''The response has at most ``lines`` lines.'''

        name = "length.max_lines"
        lines: int

        def validate(self) -> None:              # types are checked already
            if self.lines < 1:
                raise ConfigError("length.max_lines needs lines >= 1")

        def describe(self) -> str:
            return f"Keep your response to at most {self.lines} lines."

        def passes(self, response: str) -> bool:
            return len(response.strip().splitlines()) <= self.lines

        @classmethod
        def sample(cls, rng: random.Random, context: SampleContext) -> "MaxLines":
            return cls(lines=rng.randint(2, 8))

Repairing: :meth:`Check.repair` turns a response that fails into one that passes, changed
as little as the rule allows (a data generator keeps the teacher's content and lets the
rule put the format in), or gives ``None`` when no rewrite can (too few words for "at least
80 words"). A new check overrides ``rewrite(response, prompt)``, which is only called for a
response that fails and whose result ``repair`` checks again, so a rewrite may give up by
returning ``None`` and never has to be perfect. ``NoDigits`` above could spell digits out;
``MaxLines`` would keep the first lines::

        def rewrite(self, response: str, prompt: str = "") -> str | None:
            return "\\n".join(response.strip().splitlines()[: self.lines])

Reuse the helpers in :mod:`syllabus.checks.text` (cut after a sentence, add a sentence,
regroup sentences) and set ``repair_order`` (see :func:`repair_all`) so the rewrite runs
before wrappers like JSON or quotation marks and after edits that change the content.

Another package can register checks without importing syllabus first, through the entry
point group ``syllabus.checks`` (``name = "my_pkg.checks:NoDigits"``). A check that cannot
be combined with others lists their names in its ``conflicts`` class attribute; the
built-in pairs are in :mod:`syllabus.checks.conflicts`.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import types
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, Union, get_args, get_origin, get_type_hints

from syllabus.errors import ConfigError
from syllabus.registry import Registry

if TYPE_CHECKING:
    from syllabus.record import Example

__all__ = [
    "CHECKS",
    "RELATIONS",
    "Check",
    "Relation",
    "SampleContext",
    "as_context",
    "checks_from_meta",
    "compare",
    "get_check",
    "loose_variants",
    "parameter_types",
    "register_check",
    "repair_all",
    "times",
    "type_name",
    "verify",
    "verify_example",
]

Relation = Literal["at least", "at most", "exactly"]
RELATIONS: tuple[Relation, ...] = ("at least", "at most", "exactly")


def compare(actual: int, relation: Relation, target: int) -> bool:
    """``actual`` stands in ``relation`` to ``target``.

    >>> compare(3, "at least", 3), compare(4, "at most", 3), compare(3, "exactly", 3)
    (True, False, True)
    """
    if relation == "at least":
        return actual >= target
    if relation == "at most":
        return actual <= target
    return actual == target


def times(n: int) -> str:
    """``once``, ``twice``, ``3 times``: how an instruction says a count.

    >>> times(1), times(2), times(5)
    ('once', 'twice', '5 times')
    """
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def loose_variants(response: str) -> list[str]:
    """The texts IFEval's loose score tries: the response, without its first line,
    without its last line, without both, and each of those four with every ``*`` removed.

    Models often wrap an answer in a preamble line ("Sure! Here it is:"), a closing
    remark, or markdown emphasis; the loose score forgives exactly those.

    >>> loose_variants("Sure:\\n**hi**\\nBye")[:4]
    ['Sure:\\n**hi**\\nBye', '**hi**\\nBye', 'Sure:\\n**hi**', '**hi**']
    """
    lines = response.split("\n")
    cut = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return cut + [text.replace("*", "") for text in cut]


@dataclass(frozen=True)
class SampleContext:
    """What :meth:`Check.sample` may draw parameters from.

    ``prompt`` is the base prompt the check will be appended to (``combination.repeat_prompt``
    needs it); ``keywords`` are words taken from that prompt so keyword checks ask for
    words that fit the topic. Without keywords, checks draw from a built-in word list.
    """

    prompt: str = ""
    keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "keywords", tuple(self.keywords))

    @classmethod
    def from_prompt(cls, prompt: str, max_keywords: int = 8) -> SampleContext:
        """A context whose keywords are the prompt's first content words.

        >>> SampleContext.from_prompt("Write a poem about the old river bridge.").keywords
        ('poem', 'river', 'bridge')
        """
        from syllabus.checks.vocab import keywords_from

        return cls(prompt=prompt, keywords=tuple(keywords_from(prompt)[:max_keywords]))


def as_context(context: SampleContext | Mapping[str, Any] | str | None) -> SampleContext:
    """Accept a context, a ``{"prompt", "keywords"}`` mapping, a bare prompt, or nothing."""
    if context is None:
        return SampleContext()
    if isinstance(context, SampleContext):
        return context
    if isinstance(context, str):
        return SampleContext.from_prompt(context)
    unknown = set(context) - {"prompt", "keywords"}
    if unknown:
        raise ConfigError(f"unknown sample context key(s) {', '.join(sorted(unknown))}; known: keywords, prompt")
    if "keywords" not in context:
        return SampleContext.from_prompt(str(context.get("prompt", "")))
    return SampleContext(prompt=str(context.get("prompt", "")), keywords=tuple(context["keywords"]))


@dataclass(frozen=True)
class Check(ABC):
    """A verifiable constraint: ``describe()`` for the prompt, ``check(response)`` for the answer.

    Subclasses are frozen dataclasses; their fields are the parameters. Parameter types
    are checked on construction (lists become tuples), then :meth:`validate` runs.
    """

    name: ClassVar[str] = ""
    #: Names of checks this one can never be combined with (beyond the built-in table).
    conflicts: ClassVar[frozenset[str]] = frozenset()
    #: When :func:`repair_all` runs this check's repair: lower first (see there).
    repair_order: ClassVar[int] = 40

    def __post_init__(self) -> None:
        _check_types(self)
        self.validate()

    # -- what a subclass writes ---------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ConfigError`` for parameter values that make no sense."""

    @abstractmethod
    def describe(self) -> str:
        """The instruction, in plain words, with the parameters filled in."""

    @abstractmethod
    def passes(self, response: str) -> bool:
        """The rule itself, applied to one text."""

    @classmethod
    def sample(cls, rng: random.Random, context: SampleContext) -> Self:
        """Draw parameters from ``rng`` (and ``context``); the same seed gives the same check."""
        return cls()

    @classmethod
    def applicable(cls, context: SampleContext) -> bool:
        """Whether :meth:`sample` can draw this check for ``context``."""
        return True

    # -- repairing ------------------------------------------------------------------------
    def repair(self, response: str, prompt: str = "") -> str | None:
        """A version of ``response`` that passes this check, changed as little as the check
        allows; ``None`` when no rewrite can make it pass (e.g. "at least 80 words" on a
        20-word answer). A passing response comes back unchanged.

        ``prompt`` is the full user prompt (a title can be made from it). The result of
        :meth:`rewrite` is checked again, so ``repair`` never returns a failing text.

        >>> from syllabus.checks import get_check
        >>> get_check("punctuation.no_comma").repair("Yes, it floats, and it melts.")
        'Yes it floats and it melts.'
        >>> get_check("length.words", relation="at least", count=80).repair("Too short.") is None
        True
        """
        if self.check(response):
            return response
        fixed = self.rewrite(response, prompt)
        return fixed if fixed is not None and self.check(fixed) else None

    def rewrite(self, response: str, prompt: str = "") -> str | None:
        """Rewrite a failing ``response`` so it passes, or ``None``; the default cannot."""
        return None

    # -- conflicts that depend on parameters ---------------------------------------------
    def required_texts(self) -> tuple[str, ...]:
        """Literal text any passing response must contain (used to find conflicts)."""
        return ()

    def forbids(self, text: str) -> bool:
        """True if a response containing ``text`` could not pass this check."""
        return False

    def conflicts_with(self, other: Check) -> bool:
        """A conflict the name table cannot see: text this check demands that ``other`` forbids.

        Override to add more (call ``super()`` to keep this one).
        """
        return any(other.forbids(text) for text in self.required_texts())

    # -- scoring ------------------------------------------------------------------------
    def check(self, response: str) -> bool:
        """Strict: the response as written passes; an empty response never does."""
        return bool(response.strip()) and self.passes(response)

    def check_loose(self, response: str) -> bool:
        """Loose: any of :func:`loose_variants` passes (an empty variant never does)."""
        return any(text.strip() and self.passes(text) for text in loose_variants(response))

    # -- serialisation ------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """The parameters in JSON form (tuples become lists)."""
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``, the form stored in ``Example.meta``."""
        return {"name": self.name, "params": self.params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        """Rebuild a check from :meth:`to_dict` output (any registered check, by name)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise ConfigError(f"a check must look like {{'name': str, 'params': {{...}}}}, got {data!r}")
        unknown = set(data) - {"name", "params"}
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))} in check {data['name']!r}; known: name, params")
        check = get_check(data["name"], **dict(data.get("params") or {}))
        if not isinstance(check, cls):
            raise ConfigError(f"check {data['name']!r} is not a {cls.__name__}")
        return check


def _to_json(value: Any) -> Any:
    return [_to_json(v) for v in value] if isinstance(value, tuple) else value


CHECKS: Registry[type[Check]] = Registry("check", entry_point_group="syllabus.checks")


def register_check(cls: type[Check]) -> type[Check]:
    """Class decorator: add ``cls`` to :data:`CHECKS` under ``cls.name``."""
    if not cls.name or "." not in cls.name:
        raise ConfigError(f"{cls.__name__}.name must be namespaced like 'kind.rule', got {cls.name!r}")
    CHECKS.register(cls.name, cls)
    return cls


def get_check(name: str, **params: Any) -> Check:
    """Build a registered check by name; unknown or missing parameters are errors.

    >>> get_check("length.words", relation="at least", count=50).describe()
    'Your response should be at least 50 words long.'
    """
    cls = CHECKS.get(name)
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(
            f"check {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(known) or 'none'}"
        )
    missing = [f for f in known if f not in params and _required(cls, f)]
    if missing:
        raise ConfigError(f"check {name!r} needs parameter(s) {', '.join(missing)}")
    return cls(**params)


def _required(cls: type[Check], field_name: str) -> bool:
    from dataclasses import MISSING

    f = next(f for f in fields(cls) if f.name == field_name)
    return f.default is MISSING and f.default_factory is MISSING


def verify(checks: Iterable[Check | Mapping[str, Any]], response: str | None) -> dict[str, Any]:
    """Score one response against several checks, strict and loose.

    Returns ``{"strict": bool, "loose": bool, "checks": [{"name", "params", "strict",
    "loose"}, ...]}``; the two booleans are IFEval's prompt-level results (every check
    passes), the list gives the instruction-level ones. No checks means both are true.

    >>> result = verify([{"name": "case.lowercase", "params": {}}], "Sure!\\nall lowercase")
    >>> result["strict"], result["loose"]
    (False, True)
    """
    response = response or ""
    results = []
    for item in checks:
        check = item if isinstance(item, Check) else Check.from_dict(item)
        results.append(
            {
                "name": check.name,
                "params": check.params,
                "strict": check.check(response),
                "loose": check.check_loose(response),
            }
        )
    return {
        "strict": all(r["strict"] for r in results),
        "loose": all(r["loose"] for r in results),
        "checks": results,
    }


def _bound(check: Check) -> bool:
    # A count that repairs elsewhere can push up: "at most 40 words" and an added P.S.
    return callable(getattr(check, "measure", None)) and getattr(check, "relation", "") in ("at most", "exactly")


def _tightened(check: Check, by: int) -> Check | None:
    if not by:
        return check
    try:
        return dataclasses.replace(check, count=check.count - by)  # type: ignore[attr-defined]
    except ConfigError:  # nothing left to cut to
        return None


def repair_all(
    checks: Iterable[Check | Mapping[str, Any]],
    response: str,
    prompt: str = "",
    mode: Literal["strict", "loose"] = "strict",
    *,
    rounds: int = 4,
) -> str | None:
    """``response`` rewritten so every check passes (by :func:`verify`, ``mode``), or ``None``.

    ``checks`` are :class:`Check` objects or their dicts (``meta["checks"]``); ``prompt`` is
    the full user prompt. A response that already passes comes back as it is. Repairs run by ascending ``repair_order`` (ties: the given order):

    ====  ================================================================================
    10    edits of the words: ``keywords.forbidden``, ``punctuation.no_comma``
    20    cuts: ``length.words``, ``length.sentences``
    30    additions: ``keywords.include``, ``keywords.frequency``, ``content.fill_ins``,
          ``format.highlights``, ``case.capital_words``
    40    layout: ``format.bullets``, ``format.numbered``, ``format.sections``,
          ``length.paragraphs``, ``length.nth_paragraph_first_word`` (and checks without
          a repair)
    50    endings: ``content.postscript``, ``startend.end_with``
    60    openings: ``format.title``, then ``startend.start_with``, then
          ``combination.repeat_prompt`` (which must come first in the text)
    70    wrappers: ``format.json``, ``format.quoted``
    80    letter case: ``case.lowercase``, ``case.uppercase``
    ====  ================================================================================

    A repair that gives ``None`` leaves the text as it was (a later addition may still
    make it pass); the final :func:`verify` decides. Then up to ``rounds`` rounds: when a
    length bound fails because later repairs added text (a title, a P.S.), the next round
    starts again from ``response`` with that bound lowered by what they added; any other
    failure (a comma in a title made from the prompt) is repaired again from where the
    last round ended.

    >>> checks = [{"name": "case.lowercase", "params": {}}, {"name": "punctuation.no_comma", "params": {}}]
    >>> repair_all(checks, "Yes, Paris is the capital.")
    'yes paris is the capital.'
    """
    items = [c if isinstance(c, Check) else Check.from_dict(c) for c in checks]
    if mode not in ("strict", "loose"):
        raise ConfigError(f"mode must be 'strict' or 'loose', got {mode!r}")
    if verify(items, response)[mode]:
        return response
    ordered = sorted(items, key=lambda c: c.repair_order)
    slack = [0] * len(ordered)  # how much lower each length bound is set, to leave room for additions
    text = response
    for _ in range(rounds):
        out = text
        cut = [0] * len(ordered)  # each bound's measure just after its own repair
        for i, check in enumerate(ordered):
            current = _tightened(check, slack[i])
            if current is None:
                return None
            fixed = current.repair(out, prompt)
            out = out if fixed is None else fixed
            if _bound(check):
                cut[i] = check.measure(out)  # type: ignore[attr-defined]
        if verify(items, out)[mode]:
            return out
        # What the later repairs added on top of a failing bound is the room to leave next time.
        added = [
            check.measure(out) - cut[i] if _bound(check) and not check.check(out) else 0  # type: ignore[attr-defined]
            for i, check in enumerate(ordered)
        ]
        if any(a > slack[i] for i, a in enumerate(added)):
            slack = [max(s, a) for s, a in zip(slack, added, strict=True)]
            text = response
        else:
            text = out
    return None


def checks_from_meta(meta: Mapping[str, Any], key: str = "checks") -> list[Check]:
    """The checks an ``Example`` carries in ``meta[key]`` (a list of :meth:`Check.to_dict` dicts)."""
    stored = meta.get(key) or []
    if not isinstance(stored, list):
        raise ConfigError(f"meta[{key!r}] must be a list of checks, got {type(stored).__name__}")
    return [Check.from_dict(item) for item in stored]


def verify_example(example: Example, key: str = "checks") -> dict[str, Any]:
    """:func:`verify` an example's completion against the checks in its ``meta[key]``.

    >>> from syllabus.record import Example
    >>> ex = Example.from_prompt("Say hi.", completion="hi there", meta={"checks": [{"name": "case.lowercase"}]})
    >>> verify_example(ex)["strict"]
    True
    """
    return verify(checks_from_meta(example.meta, key), example.completion)


# -- parameter types -----------------------------------------------------------------------


@functools.cache
def parameter_types(cls: type[Check]) -> dict[str, Any]:
    """The resolved type annotation of each parameter of a check class."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def _check_types(check: Check) -> None:
    hints = parameter_types(type(check))
    for f in fields(check):
        value = getattr(check, f.name)
        if isinstance(value, list):  # JSON gives lists; frozen checks hold tuples
            value = tuple(value)
            object.__setattr__(check, f.name, value)
        hint = hints[f.name]
        if not _matches(value, hint):
            raise ConfigError(
                f"check {check.name!r}: parameter {f.name!r} must be {type_name(hint)}, got {value!r}"
            )


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return isinstance(value, tuple) and all(_matches(v, args[0]) for v in value)
        return isinstance(value, tuple) and len(value) == len(args) and all(map(_matches, value, args))
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation we do not know how to check


def type_name(hint: Any) -> str:
    """A short readable name for a parameter type, as a JSON user would write it.

    >>> type_name(Relation), type_name(tuple[str, ...])
    ("'at least' | 'at most' | 'exactly'", 'list[str]')
    """
    origin = get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(hint))
    if origin is tuple:
        args = get_args(hint)
        inner = args[0] if args else Any
        return f"list[{type_name(inner)}]"
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(hint))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))
