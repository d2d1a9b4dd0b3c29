"""``StepErrorRate``: how many steps of a step-by-step solution are wrong.

"Guiding Through Complexity" (He et al., 2024) finds that for reasoning supervision the
*step-wise* error rate matters more than whether the final answer is right: two training
sets with the same outcome error rate but different step error rates differ by ~30% in
accuracy. This scorer measures the step-wise rate with a rule-based checker, no judge:

1. The completion is split into steps: its non-empty lines, or its sentences when it is
   one line.
2. Every arithmetic claim in a step, ``a op b = c`` and chains ``a op b = c op d = e``,
   is evaluated with a small exact parser (numbers, ``+ - * / × ÷ x ^``, parentheses,
   ``$``, thousands commas, ``%`` as /100; nothing is ever ``eval``-ed). A result written
   with fewer decimals counts as right when it is the exact value rounded; running-total
   notation (``3 * 4 = 12 + 5 = 17``) is read as the two claims it means.
3. A step is wrong when any of its claims is false. ``steps.error_rate`` is wrong steps /
   steps with at least one checkable claim (a step without arithmetic cannot be judged
   by this checker, so it is not counted either way).

When the example has a reference, two more signals: ``steps.outcome_correct`` (final
answer vs ``Example.reference``) and, with ``solution_key`` naming a reference solution
in ``meta``, ``steps.reference_coverage``: the share of the reference solution's
intermediate results (the right-hand sides of its claims) that the completion reaches.

Scores: ``steps.n``, ``steps.checked``, ``steps.errors``, ``steps.error_rate``,
``steps.first_error`` (position of the first wrong step as a fraction of the steps, 0 =
first step; absent without errors: the paper contrasts early and late errors),
``steps.outcome_correct``, ``steps.reference_coverage``. The wrong claims are listed in
``meta["steps.wrong"]``.

>>> from syllabus.record import Example
>>> ex = Example.from_prompt("Tom has 3 bags of 4 apples and eats 2. How many are left?",
...                          completion="3 * 4 = 12 apples.\\n12 - 2 = 11 apples left.\\nThe answer is 11.", reference="10")
>>> [ex] = StepErrorRate()([ex])
>>> ex.scores["steps.error_rate"], ex.scores["steps.first_error"], ex.scores["steps.outcome_correct"]
(0.5, 0.3333333333333333, 0.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from syllabus.pipeline.step import Map
from syllabus.record import Example

__all__ = ["Claim", "StepErrorRate", "evaluate_expression", "find_claims", "split_steps"]

NS = "steps"

# Atomic groups and possessive, bounded repetition: a run of numbers and operators without
# "=" (or a huge one) fails in time linear in its length instead of backtracking
# exponentially. An expression of more than 32 operations is not an everyday step.
_DIGITS = r"(?>\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"  # thousands commas only in groups of three
_NUM = rf"-?[$€£]?{_DIGITS}%?"
_OP = r"[-+*/×÷x^]"
_OPERAND = rf"\(*+\s*+{_NUM}(?:\s*+\))*+"
_EXPR = rf"{_OPERAND}(?:\s*+{_OP}\s*+{_OPERAND}){{0,32}}+"
# A chain of at least two expressions joined by "=". It must not start inside a word, a
# number or an expression (right after an operator), so a long sum is never read from its middle.
_CHAIN = re.compile(rf"(?<![\w.])(?<![-+*/×÷^=])(?<![-+*/×÷^=]\s){_EXPR}(?:\s*+=\s*+{_EXPR}){{1,16}}+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def split_steps(text: str | None) -> list[str]:
    """Non-empty lines; a one-line text is split into sentences instead.

    >>> split_steps("First, 2 + 2 = 4. Then 4 * 3 = 12.")
    ['First, 2 + 2 = 4.', 'Then 4 * 3 = 12.']
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) == 1:
        return [s.strip() for s in _SENTENCE_END.split(lines[0]) if s.strip()]
    return lines


class _Parser:
    """Recursive descent over tokens: expr := term (('+'|'-') term)*, term := power (('*'|'/') power)*,
    power := unary ('^' unary)?, unary := '-' unary | number | '(' expr ')'. Exact (Fraction)."""

    _TOKEN = re.compile(rf"\s*(?:(?P<num>[$€£]?{_DIGITS}%?)|(?P<op>[-+*/×÷x^()]))")

    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = self._TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"unexpected {text[pos:]!r}")
            self.tokens.append(("num", m["num"]) if m["num"] else ("op", {"×": "*", "x": "*", "÷": "/"}.get(m["op"], m["op"])))
            pos = m.end()
        self.i = 0
        self.depth = 0

    def parse(self) -> Fraction:
        value = self.expr()
        if self.i != len(self.tokens):
            raise ValueError("trailing tokens")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) and self.tokens[self.i][0] == "op" else None

    def expr(self) -> Fraction:
        value = self.term()
        while self._peek() in ("+", "-"):
            op = self.tokens[self.i][1]
            self.i += 1
            value = value + self.term() if op == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.power()
        while self._peek() in ("*", "/"):
            op = self.tokens[self.i][1]
            self.i += 1
            right = self.power()
            if op == "/" and right == 0:
                raise ValueError("division by zero")
            value = value * right if op == "*" else value / right
        return value

    def power(self) -> Fraction:
        base = self.unary()
        if self._peek() == "^":
            self.i += 1
            exponent = self.unary()
            # Keep the checker cheap: a huge power is not an everyday arithmetic step.
            if exponent.denominator != 1 or abs(exponent) > 64 or (base == 0 and exponent < 0):
                raise ValueError("unsupported power")
            return base**int(exponent)
        return base

    def unary(self) -> Fraction:
        if self.i >= len(self.tokens):
            raise ValueError("unexpected end")
        kind, value = self.tokens[self.i]
        self.i += 1
        if kind == "num":
            percent = value.endswith("%")
            number = Fraction(value.strip("$€£%").replace(",", ""))
            return number / 100 if percent else number
        if value == "-":
            return -self.unary()
        if value == "(":
            self.depth += 1
            if self.depth > 16:  # deep nesting is not an everyday step; it would only cost recursion
                raise ValueError("parentheses nested too deeply")
            inner = self.expr()
            self.depth -= 1
            if self._peek() != ")":
                raise ValueError("unbalanced parenthesis")
            self.i += 1
            return inner
        raise ValueError(f"unexpected {value!r}")


def evaluate_expression(text: str) -> Fraction | None:
    """The exact value of an arithmetic expression, or ``None`` if it is not one.

    >>> evaluate_expression("2 + 3 × (4 - 1)"), evaluate_expression("$1,200 / 4"), evaluate_expression("2 ^ 10")
    (Fraction(11, 1), Fraction(300, 1), Fraction(1024, 1))
    >>> evaluate_expression("__import__('os')") is None, evaluate_expression("1 / 0") is None
    (True, True)
    """
    try:
        return _Parser(text).parse()
    except (ValueError, ZeroDivisionError, ArithmeticError):
        return None


@dataclass(frozen=True)
class Claim:
    """One ``left = right`` equality read from a step, and whether it holds."""

    text: str
    left: str
    right: str
    holds: bool


def _decimals(text: str) -> int:
    digits = text.strip().strip("$€£%")
    return len(digits.split(".")[1]) if "." in digits else 0


def _is_plain_number(text: str) -> bool:
    return re.fullmatch(rf"\s*{_NUM}\s*", text) is not None


def _equal(left: Fraction, right: Fraction, right_text: str) -> bool:
    if left == right:
        return True
    if not _is_plain_number(right_text) or left.denominator == 1:
        return False
    # A written result with d decimals is right if it is the exact value rounded to d places.
    return abs(left - right) <= Fraction(1, 2 * 10 ** _decimals(right_text))


def find_claims(step: str) -> list[Claim]:
    """Every checkable equality in one step; parts without an operator on either side are skipped.

    >>> [(c.left, c.right, c.holds) for c in find_claims("So 3 * 4 = 12 + 5 = 17, and 10 / 3 = 3.33.")]
    [('3 * 4', '12', True), ('12 + 5', '17', True), ('10 / 3', '3.33', True)]
    >>> [c.holds for c in find_claims("Then 7 + 8 = 16 and 2 x 3 = 6")]
    [False, True]
    """
    claims: list[Claim] = []
    for match in _CHAIN.finditer(step):
        parts = [p.strip() for p in match[0].split("=")]
        values = [evaluate_expression(p) for p in parts]
        for i in range(len(parts) - 1):
            left, right = parts[i], parts[i + 1]
            lv, rv = values[i], values[i + 1]
            if lv is None or rv is None or (_is_plain_number(left) and _is_plain_number(right)):
                continue
            if not _is_plain_number(right):
                # Running-total notation "3 * 4 = 12 + 5": the left side equals the first number
                # of the right side, which then starts a new claim.
                first = re.match(rf"\s*{_NUM}", right)
                head = evaluate_expression(first[0]) if first else None
                if head is not None and lv == head and lv != rv:
                    claims.append(Claim(f"{left} = {first[0].strip()}", left, first[0].strip(), True))
                    continue
            claims.append(Claim(f"{left} = {right}", left, right, _equal(lv, rv, right)))
    return claims


class StepErrorRate(Map):
    """Score a step-by-step solution by the share of its steps with false arithmetic.

    Options:
        solution_key: a ``meta`` key holding a reference solution (e.g.
            ``"arith_ic.solution"``) for ``steps.reference_coverage``; None: not used.
        use_reference: compare the final answer with ``Example.reference`` (default true).
    """

    name = "step-errors"
    version = "1"

    def __init__(self, *, solution_key: str | None = None, use_reference: bool = True):
        self.solution_key = solution_key
        self.use_reference = use_reference

    def map(self, example: Example) -> Example:
        steps = split_steps(example.completion)
        example.set_score(NS, "n", len(steps))
        checked = 0
        wrong: list[dict[str, Any]] = []
        first_error: int | None = None
        for i, step in enumerate(steps):
            claims = find_claims(step)
            if not claims:
                continue
            checked += 1
            bad = [c.text for c in claims if not c.holds]
            if bad:
                wrong.append({"step": i, "claims": bad})
                first_error = i if first_error is None else first_error
        example.set_score(NS, "checked", checked)
        if checked:
            example.set_score(NS, "errors", len(wrong))
            example.set_score(NS, "error_rate", len(wrong) / checked)
            if first_error is not None:
                example.set_score(NS, "first_error", first_error / len(steps))
                example.set_meta(NS, "wrong", wrong[:10])
        else:
            example.set_meta(NS, "skipped", "no checkable arithmetic in the steps")
        if self.use_reference and example.reference and example.reference.strip():
            from syllabus.curate.scorers.verify import answer_matches

            correct, _ = answer_matches(example.completion, example.reference)
            example.set_score(NS, "outcome_correct", float(correct))
        if self.solution_key:
            solution = example.meta.get(self.solution_key)
            if isinstance(solution, str) and solution.strip():
                self._coverage(example, solution)
        return example

    def _coverage(self, example: Example, solution: str) -> None:
        from syllabus.evaluate.extract import find_numbers

        targets = {
            evaluate_expression(c.right)
            for step in split_steps(solution)
            for c in find_claims(step)
            if c.holds and _is_plain_number(c.right)
        }
        targets.discard(None)
        if not targets:
            # No arithmetic claims in the reference: its numbers are the intermediates.
            targets = {Fraction(n) for n in find_numbers(solution)}
        if not targets:
            return
        reached = {Fraction(n) for n in find_numbers(example.completion or "")}
        example.set_score(NS, "reference_coverage", len(targets & reached) / len(targets))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "solution_key": self.solution_key, "use_reference": self.use_reference}
