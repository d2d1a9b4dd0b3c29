"""``VerifierScore``: judge-free verification from attached Checks and reference answers.

Two sources of truth, used when present:

* **Checks** stored on the example in ``meta["checks"]`` (the key is an option), in the
  form :meth:`syllabus.checks.Check.to_dict` writes and generators store::

      {"meta": {"checks": [{"name": "length.words", "params": {"relation": "at most", "count": 50}},
                           {"name": "case.lowercase", "params": {}}]}}

  Each check's ``name`` is a :data:`syllabus.checks.CHECKS` name and ``params`` its
  keyword parameters (omit ``params`` for a check without any). Scored strict and loose
  as in IFEval (:func:`syllabus.checks.verify`).
* A **reference** answer (``Example.reference``). A numeric reference is compared with the
  number extracted from the completion (:mod:`syllabus.evaluate.extract`: the number
  after an answer marker such as "The answer is", else the last number), within float
  rounding. A non-numeric reference must equal the text after the answer marker, or the
  whole completion, ignoring case, surrounding whitespace and a final period.

Scores (``verify`` namespace):

==========================  ===============================================================
``verify.checks_total``     how many checks the example carries
``verify.checks_passed``    how many pass strictly
``verify.checks_rate``      checks_passed / checks_total
``verify.checks_strict``    1 when every check passes strictly (IFEval prompt-level strict)
``verify.checks_loose``     1 when every check passes loosely
``verify.answer_correct``   1 when the answer matches the reference
``verify.pass``             1 when every available verdict is positive (checks strict, answer)
==========================  ===============================================================

An example with neither checks nor a reference gets no ``verify.pass`` and
``meta["verify.skipped"]``; malformed checks give ``meta["verify.error"]`` instead of a crash.

>>> from syllabus.record import Example
>>> ex = Example.from_prompt("2+3? Answer in lowercase.", completion="the answer is 5.", reference="5",
...                          meta={"checks": [{"name": "case.lowercase"}]})
>>> [ex] = VerifierScore()([ex])
>>> ex.scores["verify.pass"], ex.scores["verify.checks_passed"], ex.scores["verify.answer_correct"]
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

import re
from typing import Literal

from syllabus.errors import ConfigError, SyllabusError
from syllabus.pipeline.step import Map
from syllabus.record import Example

__all__ = ["VerifierScore", "answer_matches"]

NS = "verify"
Extract = Literal["auto", "strict", "flexible"]

_MARKER_TEXT = re.compile(r"(?:####|\b(?:the\s+)?(?:final\s+)?answer(?:\s+is\b|\s*:))[\s:*]*(?P<rest>[^\n]*)", re.IGNORECASE)


def _normalise_text(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip("*").strip()).rstrip(".").strip().lower()


def answer_matches(completion: str | None, reference: str, extract: Extract = "auto") -> tuple[bool, str | None]:
    """Whether ``completion`` answers ``reference``; also returns the answer it read.

    ``extract="auto"`` reads the number after an answer marker when there is one, else the
    last number; ``"strict"`` needs the marker; ``"flexible"`` always takes the last number.

    >>> answer_matches("3 + 4 = 7, so the answer is 7.", "7")
    (True, '7')
    >>> answer_matches("It is Paris.", "paris"), answer_matches("The answer is: Paris.", "Paris")
    ((False, 'it is paris'), (True, 'paris'))
    """
    from syllabus.evaluate.extract import (
        answers_match,
        extract_flexible,
        extract_strict,
        parse_number,
    )

    text = completion or ""
    if parse_number(reference) is not None:
        if extract == "strict":
            answer = extract_strict(text)
        elif extract == "flexible":
            answer = extract_flexible(text)
        else:
            answer = extract_strict(text) or extract_flexible(text)
        return answers_match(answer, reference), answer
    marker = _MARKER_TEXT.search(text)
    answer = _normalise_text(marker["rest"] if marker else text)
    return answer == _normalise_text(reference), answer


class VerifierScore(Map):
    """Score an example against its attached checks and its reference answer.

    Options:
        checks_key: the ``meta`` key holding the checks (default ``"checks"``).
        extract: how a numeric answer is read: ``"auto"`` (default), ``"strict"``, ``"flexible"``.
        use_reference: compare with ``Example.reference`` when present (default true).
    """

    name = "verify"
    version = "1"

    def __init__(self, *, checks_key: str = "checks", extract: Extract = "auto", use_reference: bool = True):
        if extract not in ("auto", "strict", "flexible"):
            raise ConfigError(f"verify: extract must be auto, strict or flexible, got {extract!r}")
        self.checks_key = checks_key
        self.extract = extract
        self.use_reference = use_reference

    def map(self, example: Example) -> Example:
        from syllabus.checks import checks_from_meta, verify

        verdicts: list[bool] = []
        if example.meta.get(self.checks_key):
            try:
                result = verify(checks_from_meta(example.meta, self.checks_key), example.completion)
            except SyllabusError as e:  # a bad stored check is this example's problem, not the run's
                example.set_meta(NS, "error", f"bad meta[{self.checks_key!r}]: {e}")
                return example
            passed = sum(r["strict"] for r in result["checks"])
            total = len(result["checks"])
            example.set_score(NS, "checks_total", total)
            example.set_score(NS, "checks_passed", passed)
            example.set_score(NS, "checks_rate", passed / total)
            example.set_score(NS, "checks_strict", float(result["strict"]))
            example.set_score(NS, "checks_loose", float(result["loose"]))
            example.set_meta(NS, "failed_checks", [r["name"] for r in result["checks"] if not r["strict"]])
            verdicts.append(result["strict"])
        if self.use_reference and example.reference is not None and example.reference.strip():
            correct, answer = answer_matches(example.completion, example.reference, self.extract)
            example.set_score(NS, "answer_correct", float(correct))
            example.set_meta(NS, "answer", answer)
            verdicts.append(correct)
        if not verdicts:
            example.set_meta(NS, "skipped", "no checks and no reference")
            return example
        example.set_score(NS, "pass", float(all(verdicts)))
        return example

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "checks_key": self.checks_key, "extract": self.extract, "use_reference": self.use_reference}
