"""Answer extraction: strict (first marker), flexible (last number), number normalisation, matching."""

from __future__ import annotations

import doctest

import pytest

import syllabus.evaluate.extract as extract_module
from syllabus.evaluate.extract import (
    answers_match,
    extract_answer,
    extract_flexible,
    extract_strict,
    find_numbers,
    format_compliant,
    normalize_number,
    parse_number,
)


def test_docstring_examples():
    assert doctest.testmod(extract_module, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 42.", "42"),
        ("the answer is 42", "42"),
        ("The final answer is 7", "7"),
        ("Answer: 12", "12"),
        ("Final answer:12", "12"),
        ("#### 72", "72"),
        ("####72", "72"),
        ("The answer is: $1,234.50.", "1234.5"),
        ("The answer is **18**.", "18"),
        ("The answer is $\\boxed{42}$.", "42"),
        ("The answer is -5.", "-5"),
        ("The answer is −5.", "-5"),  # Unicode minus
        ("The answer is $-5", "-5"),
        ("The answer is 50%.", "50"),
        ("The answer is (3).", "3"),
        ("THE ANSWER IS 9", "9"),
        ("The answer is 5 + 3 = 8.", "5"),  # the number right after the marker, nothing else
    ],
)
def test_strict_reads_the_number_after_the_marker(text, expected):
    assert extract_strict(text) == expected


def test_strict_takes_the_first_marker_with_a_number():
    # Small models run on into a new question with its own answer; the first one counts.
    run_on = "5 + 7 = 12. The answer is 12.\n\nQuestion: What is 3 + 4?\nThe answer is 7."
    assert extract_strict(run_on) == "12"
    # A marker followed by words is not an answer; the next marker with a number is.
    assert extract_strict("The answer is below. 3 + 4 = 7. The answer is 7.") == "7"
    assert extract_strict("Answer: #### 9") == "9"


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "It is 42.",
        "The answer is forty-two.",  # number words are not converted
        "The answer isn't 5.",
        "answer:x2",  # digits glued to a letter are part of a word
        "The answeris 5",
    ],
)
def test_strict_misses(text):
    assert extract_strict(text) is None
    assert not format_compliant(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 bags of 4 apples make 12 apples.", "12"),
        ("So the total is $1,234.", "1234"),
        ("That costs 3.50.", "3.5"),
        ("It dropped to -4 degrees", "-4"),
        ("It dropped to −4 degrees", "-4"),
        ("I think 12... no wait...5", "5"),  # an ellipsis is not a decimal point
        ("The answer is 12. Then 3 more people came.", "3"),  # last number, marker or not
        ("Use formula x2 for 7 items x3", "7"),
        ("He was 5kg heavier on the 3rd", "3"),  # units and ordinals after digits are allowed
        ("Five apples and five pears.", None),
        ("", None),
        (None, None),
    ],
)
def test_flexible_takes_the_last_number(text, expected):
    assert extract_flexible(text) == expected


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("1,234,567 and 12,34", ["1234567", "12", "34"]),  # thousands need groups of three
        ("1,2345", ["1", "2345"]),
        ("3,5", ["3", "5"]),  # a comma is never a decimal point
        ("5-3=2", ["5", "3", "2"]),  # a hyphen between numbers is not a minus
        ("COVID-19 and x = -2", ["19", "-2"]),
        ("(−7) and +8", ["-7", "8"]),
        ("-$5 or $-6 or US$7", ["-5", "-6", "7"]),
        ("€20, £30, ¥40, ₹50", ["20", "30", "40", "50"]),
        ("1.2.3 and v1.2 and H2O", ["1.2"]),
        ("about .5 of 007", ["0.5", "7"]),
        ("3/4", ["3", "4"]),  # fractions are not combined
        ("1e5", ["1"]),  # no scientific notation
        ("0.0 and -0", ["0", "0"]),
        ("1200 and 1200.00", ["1200", "1200"]),
    ],
)
def test_find_numbers(text, numbers):
    assert find_numbers(text) == numbers


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("42", "42"),
        ("42.", "42"),
        (" 3.50 ", "3.5"),
        ("1,000", "1000"),
        ("$1,000.00", "1000"),
        ("-12", "-12"),
        ("−12", "-12"),
        ("25%", "25"),
        ("25 %", "25"),
        ("forty", None),
        ("12 apples", None),
        ("1 2", None),
        ("", None),
    ],
)
def test_normalize_number(text, canonical):
    assert normalize_number(text) == canonical


def test_parse_number():
    assert parse_number("3.50") == 3.5
    assert parse_number(7) == 7.0
    assert parse_number(True) is None  # a bool is not a number here
    assert parse_number(None) is None
    assert parse_number("seven") is None


@pytest.mark.parametrize(
    ("prediction", "reference", "match"),
    [
        ("3.5", "3.50", True),
        ("1234", "1,234", True),
        ("$18", "18", True),
        ("-3", "−3", True),
        ("18", 18, True),
        (18.0, "18", True),
        (0.1 + 0.2, "0.3", True),  # float rounding is absorbed
        ("18", "19", False),
        ("3.3", 10 / 3, False),  # the tolerance is not a rounding rule
        (None, "18", False),
        ("18", None, False),
        ("eighteen", "18", False),  # no word-to-number conversion
        ("", "", False),
        (float("nan"), float("nan"), False),
    ],
)
def test_answers_match(prediction, reference, match):
    assert answers_match(prediction, reference) is match


def test_answers_match_tolerance_is_adjustable():
    assert not answers_match("3.33", 10 / 3)
    assert answers_match("3.33", 10 / 3, abs_tol=0.01)


def test_extract_answer_by_mode():
    text = "The answer is 4. Actually 5."
    assert extract_answer(text, "strict") == "4"
    assert extract_answer(text, "flexible") == "5"
    with pytest.raises(ValueError, match="strict"):
        extract_answer(text, "loose")


def test_format_compliance():
    assert format_compliant("Reasoning... The answer is 3.")
    assert format_compliant("#### 3")
    assert not format_compliant("3")
    assert not format_compliant("The answer is three.")
