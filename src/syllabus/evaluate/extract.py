"""Numeric answer extraction: strict (after an answer marker), flexible (last number), matching.

Short-answer tasks ask the model to end with a marker such as "The answer is N." and
score the reply two ways (the lm-evaluation-harness convention for GSM8K):

* **strict**: the number right after the **first** answer marker that is followed by a
  number. The first, not the last, because small models run on after answering and
  invent a new question with a new "The answer is ..."; the first marker is the answer to
  the question that was asked.
* **flexible**: the **last** number anywhere in the reply, marker or not. It forgives a
  missing marker and is what a lenient reader would take as the final result.

>>> reply = "4 notebooks cost 4 * $3 = $12. Adding the $25 backpack: $37.\\nThe answer is $37."
>>> extract_strict(reply), extract_flexible(reply), format_compliant(reply)
('37', '37', True)
>>> extract_strict("So she pays 37 dollars."), extract_flexible("So she pays 37 dollars.")
(None, '37')
>>> answers_match(extract_flexible("Total: 1,234.50"), "1234.5")
True

Both return the number as a canonical string (``"1234.5"``, ``"-3"``), JSON-friendly and
comparable with :func:`answers_match`; ``None`` when there is no number.

What counts as a number (see :data:`NUMBER_PATTERN`):

* digits with an optional decimal part: ``42``, ``3.50`` (== ``3.5``), ``.5``; a trailing
  sentence period is not a decimal point (``"42."`` is 42);
* commas only as thousands separators, in groups of three: ``1,234,567``; ``"1,2"`` is
  the two numbers 1 and 2, and a comma is never a decimal point (``"3,5"`` is 3 and 5);
* a leading minus, ASCII ``-`` or Unicode ``−`` (U+2212), unless it follows a letter or a
  digit: ``"x = -5"`` is -5, but ``"5-3"`` is 5 and 3 and ``"COVID-19"`` is 19;
* a currency sign before the number (``$ € £ ¥ ₹``), also after the minus (``-$5``,
  ``$-5``); a percent sign after it is dropped (``"50%"`` is 50, not 0.5);
* digits glued to a letter **on their left** are part of a word, not a number (``x2``,
  ``H2O``, ``mp3``); letters on the right are units or ordinals and are allowed (``5kg``
  is 5, ``3rd`` is 3).

Not handled, on purpose: number words are **not** converted ("five" is not 5; a model
that answers in words fails strict and flexible alike, which the format-compliance rate
makes visible), nor spaces as thousands separators ("1 234"), scientific notation,
fractions ("3/4" is 3 and 4) or mixed numbers.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "ANSWER_MARKER",
    "NUMBER_PATTERN",
    "answers_match",
    "extract_answer",
    "extract_flexible",
    "extract_strict",
    "find_numbers",
    "format_compliant",
    "normalize_number",
    "parse_number",
]

MINUS_SIGNS = "-\u2212"
CURRENCY_SIGNS = "$€£¥₹"

# One number token. The lookbehinds keep digits that continue a word ("x2") or a number
# with a dot ("1.2.3" yields only 1.2) from starting a number; they also stop a hyphen
# between two words or numbers ("5-3", "COVID-19") from being read as a minus. An
# ellipsis is not a decimal point: "...5" is 5, not 0.5.
NUMBER_PATTERN = (
    r"(?<!\w)(?<![0-9]\.)"
    rf"(?P<sign>[{MINUS_SIGNS}+]?)"
    rf"(?P<currency>[{re.escape(CURRENCY_SIGNS)}]?)"
    rf"(?P<sign2>[{MINUS_SIGNS}]?)"
    r"(?P<digits>(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|(?<!\.)\.[0-9]+)"
    r"(?![0-9])"
    r"(?P<percent>\s?%)?"
)
_NUMBER_RE = re.compile(NUMBER_PATTERN)

# The answer markers strict extraction accepts, case-insensitive: "The answer is",
# "The final answer is", "Answer:", "Final answer:", "answer is", and GSM8K's "####".
ANSWER_MARKER = r"(?:####|\b(?:the\s+)?(?:final\s+)?answer(?:\s+is\b|\s*:))"
# Between the marker and the number: spaces, a colon, markdown emphasis, an equals sign,
# an opening bracket, LaTeX math ("$42$", "\boxed{42}"). Anything else (a word) means the
# marker is not followed by a number.
_GAP = r"(?:[\s:*_=(\[{$]|\\boxed\{)*"
_STRICT_RE = re.compile(ANSWER_MARKER + _GAP + NUMBER_PATTERN, re.IGNORECASE)


def _canonical(match: re.Match[str]) -> str:
    """The canonical string of a matched number token."""
    negative = bool(match.group("sign") and match.group("sign") != "+") or bool(match.group("sign2"))
    value = Decimal(match.group("digits").replace(",", ""))
    if negative:
        value = -value
    return _format_decimal(value)


def _format_decimal(value: Decimal) -> str:
    # normalize() drops trailing zeros ("3.50" -> "3.5") but writes 1200 as "1.2E+3";
    # format "f" writes it back in plain digits. -0 is written "0".
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def find_numbers(text: str) -> list[str]:
    """Every number in ``text``, in order, as canonical strings.

    >>> find_numbers("x2 costs $1,234.50, i.e. −3% or 42.")
    ['1234.5', '-3', '42']
    >>> find_numbers("H2O at 5-3 on COVID-19 day, 3rd of 5kg")
    ['5', '3', '19', '3', '5']
    """
    return [_canonical(m) for m in _NUMBER_RE.finditer(text)]


def extract_strict(text: str | None) -> str | None:
    """The number right after the first answer marker that is followed by a number.

    A marker followed by words ("The answer is below") is skipped, so the next marker
    counts; only markers with a number are answers.

    >>> extract_strict("The answer is 12. Question: ... The answer is 7.")
    '12'
    >>> extract_strict("Answer: **-$1,200**")
    '-1200'
    >>> extract_strict("The answer is as follows. 3 + 4 = 7. The final answer is 7.")
    '7'
    >>> extract_strict("#### 72") , extract_strict("The answer is seven.")
    ('72', None)
    """
    if not text:
        return None
    match = _STRICT_RE.search(text)
    return _canonical(match) if match else None


def extract_flexible(text: str | None) -> str | None:
    """The last number in ``text``.

    >>> extract_flexible("3 bags of 4 apples make 12 apples.")
    '12'
    >>> extract_flexible("No numbers here.") is None
    True
    """
    if not text:
        return None
    numbers = find_numbers(text)
    return numbers[-1] if numbers else None


def extract_answer(text: str | None, mode: str = "strict") -> str | None:
    """``extract_strict`` or ``extract_flexible`` by name (``"strict"`` / ``"flexible"``).

    >>> extract_answer("It is 5, so the answer is 6", "flexible")
    '6'
    """
    if mode == "strict":
        return extract_strict(text)
    if mode == "flexible":
        return extract_flexible(text)
    raise ValueError(f"Unknown extraction mode {mode!r}: use 'strict' or 'flexible'")


def format_compliant(text: str | None) -> bool:
    """Whether ``text`` has an answer marker followed by a number (strict extraction works).

    >>> format_compliant("The answer is 4."), format_compliant("It is 4."), format_compliant("The answer is four.")
    (True, False, False)
    """
    return extract_strict(text) is not None


def normalize_number(text: str) -> str | None:
    """The canonical string of ``text`` if it is exactly one number (spaces around allowed).

    >>> normalize_number(" $1,234.50 "), normalize_number("−7"), normalize_number("42."), normalize_number("50%")
    ('1234.5', '-7', '42', '50')
    >>> normalize_number("12 apples") is None, normalize_number("x2") is None
    (True, True)
    """
    stripped = text.strip()
    # A single trailing period ends a sentence ("42."), it is not part of the number.
    if stripped.endswith(".") and not stripped.endswith(".."):
        stripped = stripped[:-1]
    match = _NUMBER_RE.fullmatch(stripped)
    return _canonical(match) if match else None


def parse_number(value: str | float | int | None) -> float | None:
    """A number as ``float``: numbers pass through, strings go through :func:`normalize_number`.

    >>> parse_number("1,000"), parse_number(2.5), parse_number("about 3")
    (1000.0, 2.5, None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    canonical = normalize_number(value)
    if canonical is None:
        return None
    try:
        return float(Decimal(canonical))
    except InvalidOperation:  # pragma: no cover - the pattern only admits valid decimals
        return None


def answers_match(
    prediction: str | float | int | None,
    reference: str | float | int | None,
    *,
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-6,
) -> bool:
    """Numeric equality within a tolerance; anything that is not a number never matches.

    ``prediction`` is usually an extracted answer, ``reference`` the gold string; either
    may be written with commas, a currency sign or trailing zeros. The tolerance absorbs
    float rounding (``0.1 + 0.2`` vs ``0.3``) and nothing more: 3.3 does not match 10/3.

    >>> answers_match("3.50", "3.5"), answers_match("$1,000", 1000), answers_match("−2", "-2")
    (True, True, True)
    >>> answers_match(None, "3"), answers_match("three", "3"), answers_match("3.3", 10 / 3)
    (False, False, False)
    """
    a, b = parse_number(prediction), parse_number(reference)
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return False
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
