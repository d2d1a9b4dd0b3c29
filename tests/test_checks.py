"""The checks library: every check on passing and failing responses, strict vs loose, the
sentence and word rules, the conflict table, sampling, serialisation and the catalogue."""

from __future__ import annotations

import doctest
import importlib
import json
import random
import subprocess
import sys
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pytest

import syllabus.checks as checks_pkg
from syllabus.checks import (
    CHECKS,
    CONFLICTS,
    EXCLUSIVE,
    Check,
    SampleContext,
    compatible,
    get_check,
    list_checks,
    loose_variants,
    names_conflict,
    pair_compatible,
    register_check,
    sample_compatible,
    verify,
    verify_example,
)
from syllabus.checks.catalog import generated_part, render_table
from syllabus.checks.text import (
    count_phrase,
    count_words,
    split_on_divider,
    split_paragraphs,
    split_sentences,
    strip_code_fence,
    words,
)
from syllabus.errors import ConfigError, UnknownNameError
from syllabus.record import Example

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = SampleContext.from_prompt("Write a short note about the river bridge in winter.")

# -- every check, passing and failing -----------------------------------------------------
# (name, params, response, strict, loose)
CASES = [
    # case.lowercase
    ("case.lowercase", {}, "all lowercase here, even ünïcödé.", True, True),
    ("case.lowercase", {}, "one Capital letter", False, False),
    ("case.lowercase", {}, "naïve café CRÈME", False, False),
    ("case.lowercase", {}, "Sure, here you go:\nall lowercase below", False, True),
    ("case.lowercase", {}, "12345 — 東京", True, True),
    ("case.lowercase", {}, "   \n  ", False, False),
    # case.uppercase
    ("case.uppercase", {}, "ALL CAPS, 100%! ÉTÉ.", True, True),
    ("case.uppercase", {}, "ALL CAPS BUT ONE word", False, False),
    ("case.uppercase", {}, "Here it is:\nALL CAPS NOW", False, True),
    # case.capital_words (single letters and "I" do not count)
    ("case.capital_words", {"relation": "at least", "count": 2}, "This is VERY IMPORTANT.", True, True),
    ("case.capital_words", {"relation": "at least", "count": 2}, "I think A is VERY good.", False, False),
    ("case.capital_words", {"relation": "at most", "count": 1}, "NASA and ESA met.", False, False),
    ("case.capital_words", {"relation": "exactly", "count": 1}, "Only ONE here.", True, True),
    # punctuation.no_comma
    ("punctuation.no_comma", {}, "No commas here at all.", True, True),
    ("punctuation.no_comma", {}, "Well, one comma.", False, False),
    ("punctuation.no_comma", {}, "全角の読点，です", False, False),
    ("punctuation.no_comma", {}, "enumeration、comma", False, False),
    ("punctuation.no_comma", {}, "Sure, here it is:\nNo commas below.", False, True),
    # keywords.include (whole words, any case)
    ("keywords.include", {"keywords": ["river", "bridge"]}, "The River runs under the bridge.", True, True),
    ("keywords.include", {"keywords": ["river", "bridge"]}, "The river is wide.", False, False),
    ("keywords.include", {"keywords": ["river"]}, "A riverside walk.", False, False),
    ("keywords.include", {"keywords": ["river"]}, "The river's bank.", True, True),
    ("keywords.include", {"keywords": ["ice cream"]}, "I like ice\n cream.", True, True),
    # keywords.frequency
    ("keywords.frequency", {"keyword": "snow", "relation": "at least", "count": 3}, "Snow, snow, SNOW!", True, True),
    ("keywords.frequency", {"keyword": "snow", "relation": "at least", "count": 3}, "snow snowy snowfall snow", False, False),
    ("keywords.frequency", {"keyword": "snow", "relation": "exactly", "count": 2}, "snow and snow", True, True),
    ("keywords.frequency", {"keyword": "snow", "relation": "at most", "count": 1}, "snow and snow", False, False),
    ("keywords.frequency", {"keyword": "snow", "relation": "at most", "count": 1}, "About snow:\nsnow falls.", False, True),
    # keywords.forbidden
    ("keywords.forbidden", {"words": ["very", "really"]}, "It is quite good.", True, True),
    ("keywords.forbidden", {"words": ["very", "really"]}, "It is Very good.", False, False),
    ("keywords.forbidden", {"words": ["art"]}, "Let us start the party.", True, True),
    # loose forgives a forbidden word in the first line (IFEval's known leniency)
    ("keywords.forbidden", {"words": ["really"]}, "Really? Sure.\nIt is fine.", False, True),
    # keywords.letter_frequency (either case)
    ("keywords.letter_frequency", {"letter": "z", "relation": "at least", "count": 3}, "Zig zag zoo", True, True),
    ("keywords.letter_frequency", {"letter": "z", "relation": "at least", "count": 3}, "Zig zag", False, False),
    ("keywords.letter_frequency", {"letter": "q", "relation": "at most", "count": 0}, "no such letter", True, True),
    ("keywords.letter_frequency", {"letter": "e", "relation": "exactly", "count": 2}, "Eve", True, True),
    # length.words
    ("length.words", {"relation": "at least", "count": 5}, "one two three four five", True, True),
    ("length.words", {"relation": "at least", "count": 5}, "one, two; three -- four!", False, False),
    ("length.words", {"relation": "at most", "count": 3}, "don't well-known 3.14", True, True),
    ("length.words", {"relation": "at most", "count": 3}, "one two three four", False, False),
    ("length.words", {"relation": "exactly", "count": 2}, "  hello   world  \n", True, True),
    # length.sentences
    ("length.sentences", {"relation": "at most", "count": 2}, "Dr. Smith came at 5 p.m. and left. Bye!", True, True),
    ("length.sentences", {"relation": "at most", "count": 2}, "One. Two. Three.", False, False),
    ("length.sentences", {"relation": "at least", "count": 3}, "One. Two? Three!", True, True),
    ("length.sentences", {"relation": "exactly", "count": 1}, "It is 3.14, i.e. pi.", True, True),
    # length.paragraphs (*** lines)
    ("length.paragraphs", {"count": 3}, "First.\n***\nSecond.\n***\nThird.", True, True),
    ("length.paragraphs", {"count": 3}, "First.\n***\nSecond.\n***\nThird.\n***\n", True, True),
    ("length.paragraphs", {"count": 3}, "First.\n***\n***\nSecond.\n***\nThird.", False, False),
    ("length.paragraphs", {"count": 2}, "First *** second", False, False),
    ("length.paragraphs", {"count": 2}, "First.\n\nSecond.", False, False),
    ("length.paragraphs", {"count": 2}, "One.\n  ***  \nTwo.", True, True),
    # length.nth_paragraph_first_word
    ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 2, "word": "however"},
     "Snow fell.\n\n**However**, it melted.", True, True),
    ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 2, "word": "however"},
     "Snow fell.\n\n\"However\" it melted.", True, True),
    ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 2, "word": "however"},
     "Snow fell.\nHowever, it melted.", False, False),
    ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 2, "word": "however"},
     "Snow fell.\n\nHoweverish it melted.", False, False),
    ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 1, "word": "first"},
     "First things.\n\nThen more.\n\nAnd more.", False, True),  # loose drops the last line
    # content.postscript
    ("content.postscript", {"marker": "P.S."}, "Main text.\n\nP.S. Bring a coat.", True, True),
    ("content.postscript", {"marker": "P.S."}, "Main text.\np. s. lower case is fine", True, True),
    ("content.postscript", {"marker": "P.S."}, "Main text. P.S. not at line start", False, False),
    ("content.postscript", {"marker": "P.S."}, "Main text.\nP.P.S. wrong marker", False, False),
    ("content.postscript", {"marker": "P.S."}, "Main text.\nP.S.", False, False),
    ("content.postscript", {"marker": "P.S."}, "Main text.\n**P.S.** in bold", False, True),
    ("content.postscript", {"marker": "P.P.S."}, "Main.\nP.S. first\nP.P.S. second", True, True),
    # content.fill_ins
    ("content.fill_ins", {"count": 2}, "Dear [name], meet me at [place].", True, True),
    ("content.fill_ins", {"count": 2}, "See [the docs](http://x.org) and [1] and - [x] done", False, False),
    ("content.fill_ins", {"count": 1}, "Nothing to fill in.", False, False),
    # format.bullets: "*" and "-" both count, "•", rules and bold lines do not
    ("format.bullets", {"count": 3}, "* one\n* two\n* three", True, True),
    ("format.bullets", {"count": 3}, "- one\n+ two\n  - nested three", True, True),
    ("format.bullets", {"count": 3}, "• one\n• two\n• three", False, False),
    ("format.bullets", {"count": 2}, "**Bold intro**\n---\n- one\n- two\n-5 degrees", True, True),
    ("format.bullets", {"count": 2}, "- one\n- two\n- three", False, True),  # loose drops a line
    ("format.bullets", {"count": 2}, "- one\nand prose", False, False),
    # format.numbered
    ("format.numbered", {"count": 3}, "1. a\n2. b\n3) c", True, True),
    ("format.numbered", {"count": 3}, "1. a\n2. b\n3.5 is not an item", False, False),
    # format.highlights
    ("format.highlights", {"count": 2}, "This is *key* and **vital**.", True, True),
    ("format.highlights", {"count": 2}, "* a bullet *\n2 * 3 * 4 and ** spaced **", False, False),
    ("format.highlights", {"count": 1}, "Only plain text.", False, False),
    # format.sections
    ("format.sections", {"count": 2, "marker": "SECTION"}, "SECTION 1\nIntro.\nSECTION 2\nBody.", True, True),
    ("format.sections", {"count": 2, "marker": "SECTION"}, "## Section 1\nIntro.\n**SECTION 2**\nBody.", True, True),
    ("format.sections", {"count": 2, "marker": "SECTION"}, "SECTION 1\nIntro only.", False, False),
    ("format.sections", {"count": 2, "marker": "SECTION"}, "See SECTION 1 and SECTION 2 inline.", False, False),
    ("format.sections", {"count": 2, "marker": "Part"}, "PART 1\nx\nPART 2\ny\nPART 3\nz", False, True),
    # format.title
    ("format.title", {}, "<<Winter Notes>>\nText.", True, True),
    ("format.title", {}, "<<   >>\nText.", False, False),
    ("format.title", {}, "<Winter Notes>\nText.", False, False),
    # format.json, with and without a fence
    ("format.json", {}, '{"a": [1, 2], "b": "x"}', True, True),
    ("format.json", {}, '```json\n{"a": 1}\n```\n', True, True),
    ("format.json", {}, '```\n[1, 2, 3]\n```', True, True),
    ("format.json", {}, '  \n["trailing whitespace"]\n\n', True, True),
    ("format.json", {}, '"just a string"', False, False),
    ("format.json", {}, "{'single': 'quotes'}", False, False),
    ("format.json", {}, 'Here is the JSON:\n{"a": 1}', False, True),
    ("format.json", {}, 'Here is the JSON:\n```json\n{"a": 1}\n```', False, True),
    ("format.json", {}, 'Here:\n{"a": 1}\nand a remark\nand another', False, False),
    # format.quoted
    ("format.quoted", {}, '"The whole answer is quoted."', True, True),
    ("format.quoted", {}, "  “Typographic quotes work.”  \n", True, True),
    ("format.quoted", {}, '"Only opened.', False, False),
    ('format.quoted', {}, '""', False, False),
    # format.options
    ("format.options", {"options": ["yes", "no", "maybe"]}, "Yes.", True, True),
    ("format.options", {"options": ["yes", "no", "maybe"]}, "**no**", True, True),
    ("format.options", {"options": ["yes", "no", "maybe"]}, "Yes, because it is.", False, False),
    ("format.options", {"options": ["yes", "no", "maybe"]}, "My answer:\nmaybe", False, True),
    ("format.options", {"options": ["agree", "disagree"]}, "disagree", True, True),
    # startend.start_with
    ("startend.start_with", {"phrase": "In short"}, "  in  short, it works.", True, True),
    ("startend.start_with", {"phrase": "In short"}, "In shortage of time.", False, False),
    ("startend.start_with", {"phrase": "In short"}, "Well. In short, yes.", False, False),
    ("startend.start_with", {"phrase": "Let me explain."}, "**Let me explain.** It is simple.", False, True),
    # startend.end_with (trailing whitespace is fine)
    ("startend.end_with", {"phrase": "Any other questions?"}, "Done. Any other questions?  \n\n", True, True),
    ("startend.end_with", {"phrase": "Any other questions?"}, "Done. any other  questions?", True, True),
    ("startend.end_with", {"phrase": "Any other questions?"}, "Any other questions? Bye.", False, False),
    ("startend.end_with", {"phrase": "Any other questions?"}, "Done. Any other questions?\n(Note: none.)", False, True),
    ("startend.end_with", {"phrase": "Hope this helps."}, "Nope this helps.", False, False),
    # combination.two_responses
    ("combination.two_responses", {}, "First answer.\n******\nSecond answer.", True, True),
    ("combination.two_responses", {}, "Same.\n******\nSame.", False, False),
    ("combination.two_responses", {}, "One.\n*******\nTwo.", False, False),
    ("combination.two_responses", {}, "One.\n******\nTwo.\n******\nThree.", False, False),
    ("combination.two_responses", {}, "Only one.\n******\n", False, False),
    # combination.repeat_prompt
    ("combination.repeat_prompt", {"prompt": "Describe a winter morning."},
     "Describe a winter morning. The air is cold and still.", True, True),
    ("combination.repeat_prompt", {"prompt": "Describe a winter morning."},
     "\"describe a  winter\nmorning.\"\nIt is cold.", True, True),
    ("combination.repeat_prompt", {"prompt": "Describe a winter morning."}, "Describe a winter morning.", False, False),
    ("combination.repeat_prompt", {"prompt": "Describe a winter morning."},
     "Sure! Describe a winter morning. It is cold.", False, False),
]


@pytest.mark.parametrize(("name", "params", "response", "strict", "loose"), CASES)
def test_check_on_response(name, params, response, strict, loose):
    check = get_check(name, **params)
    assert check.check(response) is strict, f"strict {name} on {response!r}"
    assert check.check_loose(response) is loose, f"loose {name} on {response!r}"


def test_every_check_has_passing_and_failing_cases():
    covered = {}
    for name, _, _, strict, _ in CASES:
        covered.setdefault(name, set()).add(strict)
    assert {n for n, outcomes in covered.items() if outcomes == {True, False}} == set(CHECKS.names())


def test_there_are_at_least_twenty_namespaced_checks():
    names = CHECKS.names()
    assert len(names) >= 20
    assert all(len(n.split(".")) == 2 and n == n.lower() for n in names)
    assert all(CHECKS.get(n).name == n for n in names)


@pytest.mark.parametrize("name", sorted(CHECKS.names()))
def test_empty_response_never_passes_and_strict_implies_loose(name):
    rng = random.Random(3)
    for _ in range(20):
        check = CHECKS.get(name).sample(rng, CONTEXT)
        for empty in ("", "   ", "\n\t\n"):
            assert not check.check(empty) and not check.check_loose(empty)
    for case_name, params, response, _, _ in CASES:
        if case_name == name:
            check = get_check(name, **params)
            assert not check.check(response) or check.check_loose(response)


def test_loose_variants_follow_ifeval():
    variants = loose_variants("Intro\n*body*\nOutro")
    assert variants == [
        "Intro\n*body*\nOutro", "*body*\nOutro", "Intro\n*body*", "*body*",
        "Intro\nbody\nOutro", "body\nOutro", "Intro\nbody", "body",
    ]
    assert loose_variants("single line")[1:4] == ["", "", ""]


def test_strict_and_loose_differ_on_preamble_and_markdown():
    lower = get_check("case.lowercase")
    response = "Sure! Here is my answer:\nthe sky is blue.\nLet me know!"
    assert not lower.check(response) and lower.check_loose(response)
    start = get_check("startend.start_with", phrase="the sky")
    assert not start.check(response) and start.check_loose(response)
    quoted = get_check("format.quoted")
    assert not quoted.check('*"a quoted answer"*') and quoted.check_loose('*"a quoted answer"*')


# -- words, sentences, paragraphs -------------------------------------------------------------

SENTENCES = [
    ("Mr. and Mrs. Smith arrived at 5 p.m. They were late.", ["Mr. and Mrs. Smith arrived at 5 p.m.", "They were late."]),
    ("We met at 5 p.m. and then left.", ["We met at 5 p.m. and then left."]),
    ("The U.S. economy grew. It was 3.14 percent.", ["The U.S. economy grew.", "It was 3.14 percent."]),
    ("I live in the U.S. The weather is nice.", ["I live in the U.S.", "The weather is nice."]),
    ("Use tools, e.g. hammers. Or not, i.e. never.", ["Use tools, e.g. hammers.", "Or not, i.e. never."]),
    ("Wait... what? No way!", ["Wait... what?", "No way!"]),
    ("I waited… Then it rained.", ["I waited…", "Then it rained."]),
    ('"Why?" she asked. "Because," he said.', ['"Why?" she asked.', '"Because," he said.']),
    ("He shouted “Run!” Nobody moved.", ["He shouted “Run!”", "Nobody moved."]),
    ("J. K. Rowling wrote it. See Fig. 3 for details.", ["J. K. Rowling wrote it.", "See Fig. 3 for details."]),
    ("this is lowercase. so is this. and this", ["this is lowercase.", "so is this.", "and this"]),
    ("Really?! Yes!!! OK.", ["Really?!", "Yes!!!", "OK."]),
    ("¿Qué tal? Muy bien. ¡Gracias!", ["¿Qué tal?", "Muy bien.", "¡Gracias!"]),
    ("天气很好。我们走吧！好的", ["天气很好。", "我们走吧！", "好的"]),
    ("Prices rose 2.5% in Jan. 2024. Experts were surprised.", ["Prices rose 2.5% in Jan. 2024.", "Experts were surprised."]),
    ("Apples, pears, etc. Then we left.", ["Apples, pears, etc.", "Then we left."]),
    ("Visit example.com. It works.", ["Visit example.com.", "It works."]),
    ("The answer is no. Next question.", ["The answer is no.", "Next question."]),
    ("So do I. Then we go.", ["So do I.", "Then we go."]),
    ("It is No. 1 again.", ["It is No. 1 again."]),
    ("**Note.** This matters.", ["**Note.**", "This matters."]),
    ("(See above.) Next one.", ["(See above.)", "Next one."]),
    ("Emoji end 😀. Another 🎉!", ["Emoji end 😀.", "Another 🎉!"]),
    (
        "# Heading\nSome text. More\n\n- item one\n- item two.\n1. numbered",
        ["# Heading", "Some text.", "More", "- item one", "- item two.", "1. numbered"],
    ),
    ("A line\nwrapped mid sentence.", ["A line\nwrapped mid sentence."]),
    ("  trailing spaces.   \n\n  ", ["trailing spaces."]),
    ("...", []),
    ("***\n---", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCES)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, world!", ["Hello", "world"]),
        ("naïve café — résumé", ["naïve", "café", "résumé"]),
        ("don't stop O’Neil's state-of-the-art", ["don't", "stop", "O’Neil's", "state-of-the-art"]),
        ("x = 3.14, y = 1,000,000; z = -2", ["x", "3.14", "y", "1,000,000", "z", "2"]),
        ("e.g. the U.S. (approx.)", ["e.g", "the", "U.S", "approx"]),
        ("*** --- 🎉 !!", []),
        ("snake_case words", ["snake", "case", "words"]),
    ],
)
def test_words(text, expected):
    assert words(text) == expected
    assert count_words(text) == len(expected)


def test_paragraph_divider_fence_and_phrase_helpers():
    assert split_paragraphs("a\n\n\n b \n \t\nc") == ["a", "b", "c"]
    assert split_paragraphs("a\n---\nb") == ["a\n---\nb"]
    assert split_on_divider("a\n***\n***\nb", "***") == ["a", "", "b"]
    assert split_on_divider("a *** b", "***") == ["a *** b"]
    assert strip_code_fence("```JSON\n[1]\n```") == "[1]"
    assert strip_code_fence("text ```x``` text") == "text ```x``` text"
    assert count_phrase("P.S. and p.s. but not xP.S.", "P.S.") == 2
    assert count_phrase("anything", "  ") == 0


# -- construction, registry and serialisation ---------------------------------------------------


def test_registry_did_you_mean():
    with pytest.raises(UnknownNameError, match=r"Did you mean case\.lowercase"):
        get_check("case.lowercse")
    with pytest.raises(UnknownNameError, match="Did you mean"):
        CHECKS.get("length.word")


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("length.words", {"relation": "at least", "count": 5, "n": 1}, "no parameter 'n'"),
        ("length.words", {"relation": "at least"}, "needs parameter"),
        ("length.words", {"relation": "more than", "count": 5}, "must be 'at least' | 'at most' | 'exactly'"),
        ("length.words", {"relation": "at least", "count": "5"}, "must be int"),
        ("length.words", {"relation": "at least", "count": True}, "must be int"),
        ("length.words", {"relation": "at least", "count": 0}, "count >= 1"),
        ("keywords.include", {"keywords": []}, "non-empty"),
        ("keywords.include", {"keywords": [1]}, "must be list"),
        ("keywords.letter_frequency", {"letter": "ab", "relation": "at least", "count": 1}, "single letter"),
        ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 3, "word": "so"}, "nth <= paragraphs"),
        ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 1, "word": "two words"}, "single word"),
        ("format.options", {"options": ["yes", "Yes."]}, "distinct"),
        ("content.postscript", {"marker": "PS"}, "marker like"),
        ("format.sections", {"count": 2, "marker": "SECTION X"}, "one-word marker"),
        ("startend.end_with", {"phrase": "  "}, "non-empty"),
        ("combination.repeat_prompt", {"prompt": ""}, "prompt to repeat"),
    ],
)
def test_bad_parameters_name_the_problem(name, params, message):
    with pytest.raises(ConfigError, match=message):
        get_check(name, **params)


def test_lists_become_tuples_and_checks_are_hashable():
    check = get_check("keywords.include", keywords=["river", "bridge"])
    assert check.keywords == ("river", "bridge")
    assert len({check, get_check("keywords.include", keywords=("river", "bridge"))}) == 1


@pytest.mark.parametrize("name", sorted(CHECKS.names()))
def test_serialisation_round_trip_and_deterministic_sampling(name):
    cls = CHECKS.get(name)
    for seed in range(25):
        check = cls.sample(random.Random(seed), CONTEXT)
        assert check == cls.sample(random.Random(seed), CONTEXT)
        data = json.loads(json.dumps(check.to_dict()))
        assert data["name"] == name
        assert Check.from_dict(data) == check
        assert cls.from_dict(data) == check
        text = check.describe()
        assert text and "{" not in text.replace("```json", "") and "None" not in text


def test_from_dict_errors():
    with pytest.raises(ConfigError, match="must look like"):
        Check.from_dict({"params": {}})
    with pytest.raises(ConfigError, match="unknown key"):
        Check.from_dict({"name": "case.lowercase", "params": {}, "extra": 1})
    with pytest.raises(ConfigError, match="is not a"):
        CHECKS.get("case.uppercase").from_dict({"name": "case.lowercase"})


def test_repeat_prompt_needs_a_prompt_in_the_context():
    cls = CHECKS.get("combination.repeat_prompt")
    assert not cls.applicable(SampleContext())
    with pytest.raises(ConfigError, match="with a prompt"):
        cls.sample(random.Random(0), SampleContext())
    assert cls.sample(random.Random(0), CONTEXT).prompt == CONTEXT.prompt


def test_keyword_checks_use_context_keywords():
    ctx = SampleContext(keywords=("lantern",))
    for seed in range(10):
        rng = random.Random(seed)
        assert get_check("keywords.include", **CHECKS.get("keywords.include").sample(rng, ctx).params).keywords == ("lantern",)
        assert CHECKS.get("keywords.frequency").sample(rng, ctx).keyword == "lantern"
    forbidden = CHECKS.get("keywords.forbidden").sample(random.Random(0), SampleContext(keywords=("very", "really", "just")))
    assert not {"very", "really", "just"} & set(forbidden.words)
    assert SampleContext.from_prompt("Explain the Northern Lights to a child.").keywords == ("northern", "lights", "child")


def test_verify_and_example_meta():
    checks = [get_check("case.lowercase"), get_check("startend.end_with", phrase="bye.")]
    response = "Sure thing!\nhello there. bye."
    result = verify(checks, response)
    assert result["strict"] is False and result["loose"] is True
    assert [(r["name"], r["strict"], r["loose"]) for r in result["checks"]] == [
        ("case.lowercase", False, True),
        ("startend.end_with", True, True),
    ]
    assert verify([], "anything") == {"strict": True, "loose": True, "checks": []}
    assert verify(checks, None)["loose"] is False

    example = Example.from_prompt("Say hello.", completion=response, meta={"checks": [c.to_dict() for c in checks]})
    restored = Example.from_dict(json.loads(example.to_json()))
    assert verify_example(restored) == result
    with pytest.raises(ConfigError, match="must be a list"):
        verify_example(Example.from_prompt("x", meta={"checks": {"name": "case.lowercase"}}))


def test_a_new_check_registers_and_serialises(monkeypatch):
    # Register into a copy of the registry so other tests see the built-ins only.
    monkeypatch.setattr(CHECKS, "_entries", dict(CHECKS._entries))

    @register_check
    @dataclass(frozen=True)
    class NoDigits(Check):
        """The response contains no digit."""

        name = "content.no_digits"

        def describe(self) -> str:
            return "Do not use any digits."

        def passes(self, response: str) -> bool:
            return not any(c.isdigit() for c in response)

    check = Check.from_dict({"name": "content.no_digits", "params": {}})
    assert isinstance(check, NoDigits) and check.check("seven") and not check.check("7")
    assert verify([check.to_dict()], "seven")["strict"]
    assert any(row["name"] == "content.no_digits" for row in list_checks())
    with pytest.raises(ConfigError, match="namespaced"):
        register_check(type("Bad", (NoDigits,), {"name": "nodots"}))


# -- conflicts ---------------------------------------------------------------------------------


def test_conflict_table_is_symmetric_and_names_are_registered():
    names = set(CHECKS.names())
    for a, bs in CONFLICTS.items():
        assert a in names and bs <= names
        assert all(a in CONFLICTS[b] for b in bs)
    for a, allowed in EXCLUSIVE.items():
        assert a in names and allowed <= names
    for a, b in combinations(sorted(names), 2):
        assert names_conflict(a, b) == names_conflict(b, a)


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        ("case.lowercase", "case.uppercase", True),
        ("case.lowercase", "case.capital_words", True),
        ("case.uppercase", "case.capital_words", True),
        ("format.json", "format.title", True),
        ("format.json", "punctuation.no_comma", True),
        ("format.json", "case.uppercase", True),
        ("format.json", "case.lowercase", False),
        ("format.json", "keywords.include", False),
        ("format.options", "length.words", True),
        ("format.options", "keywords.forbidden", False),
        ("length.paragraphs", "format.sections", True),
        ("length.paragraphs", "length.nth_paragraph_first_word", True),
        ("combination.repeat_prompt", "startend.start_with", True),
        ("format.quoted", "startend.end_with", True),
        ("content.postscript", "startend.end_with", True),
        ("combination.two_responses", "format.bullets", True),
        ("format.bullets", "format.numbered", False),
        ("case.lowercase", "startend.end_with", False),
        ("length.words", "length.words", True),
    ],
)
def test_name_conflicts(a, b, conflict):
    assert names_conflict(a, b) is conflict


def test_parameter_conflicts():
    no_comma = get_check("punctuation.no_comma")
    forbidden = get_check("keywords.forbidden", words=["helps"])
    assert not pair_compatible(get_check("startend.end_with", phrase="Hope this helps."), forbidden)
    assert pair_compatible(get_check("startend.end_with", phrase="Any other questions?"), forbidden)
    assert not pair_compatible(get_check("combination.repeat_prompt", prompt="Hi, you."), no_comma)
    assert pair_compatible(get_check("combination.repeat_prompt", prompt="Hi you."), no_comma)
    long_prompt = "word " * 40
    assert not pair_compatible(
        get_check("combination.repeat_prompt", prompt=long_prompt), get_check("length.words", relation="at most", count=25)
    )
    assert not pair_compatible(
        get_check("keywords.include", keywords=["river"]), get_check("keywords.forbidden", words=["river"])
    )
    assert not pair_compatible(
        get_check("keywords.frequency", keyword="snow", relation="at least", count=3),
        get_check("keywords.frequency", keyword="rain", relation="at least", count=1),
    )  # same name twice
    assert not pair_compatible(
        get_check("keywords.frequency", keyword="snow", relation="at least", count=3),
        get_check("length.words", relation="at most", count=2),
    )
    nth = get_check("length.nth_paragraph_first_word", paragraphs=2, nth=1, word="first")
    assert not pair_compatible(nth, get_check("startend.start_with", phrase="In short"))
    assert pair_compatible(nth, get_check("startend.start_with", phrase="First of all"))
    assert pair_compatible(
        get_check("length.nth_paragraph_first_word", paragraphs=2, nth=2, word="first"),
        get_check("startend.start_with", phrase="In short"),
    )
    options = get_check("format.options", options=["yes", "no"])
    assert not pair_compatible(options, get_check("keywords.forbidden", words=["yes", "no"]))
    assert pair_compatible(options, get_check("keywords.forbidden", words=["yes"]))
    assert compatible([]) and compatible([no_comma.to_dict()])
    assert not compatible([no_comma, get_check("case.lowercase"), get_check("format.json")])


def test_sample_compatible_never_conflicts_and_is_deterministic():
    seen: set[str] = set()
    for seed in range(300):
        k = 1 + seed % 4
        picked = sample_compatible(random.Random(seed), k, CONTEXT)
        assert len(picked) == k and compatible(picked)
        assert len({c.name for c in picked}) == k
        for a, b in combinations(picked, 2):  # checked again against the raw table
            assert b.name not in CONFLICTS.get(a.name, ())
            for x, y in ((a, b), (b, a)):
                assert x.name not in EXCLUSIVE or y.name in EXCLUSIVE[x.name]
        again = sample_compatible(random.Random(seed), k, CONTEXT)
        assert [c.to_dict() for c in again] == [c.to_dict() for c in picked]
        seen.update(c.name for c in picked)
    assert seen == set(CHECKS.names())  # every check is drawn at some seed


def test_sample_compatible_options():
    assert sample_compatible(random.Random(0), 0) == []
    without_prompt = {c.name for s in range(200) for c in sample_compatible(random.Random(s), 3)}
    assert "combination.repeat_prompt" not in without_prompt
    pool = ["format.json", "format.options", "punctuation.no_comma"]
    for seed in range(30):
        picked = sample_compatible(random.Random(seed), 2, names=pool)
        assert {c.name for c in picked} == {"format.options", "punctuation.no_comma"}
    with pytest.raises(ConfigError, match="could not draw 3"):
        sample_compatible(random.Random(0), 3, names=pool)
    with pytest.raises(ConfigError, match="k must be"):
        sample_compatible(random.Random(0), -1)
    with pytest.raises(UnknownNameError):
        sample_compatible(random.Random(0), 1, names=["case.lowercse"])
    assert sample_compatible(random.Random(5), 2, {"prompt": "Tell me about owls."})
    with pytest.raises(ConfigError, match="unknown sample context"):
        sample_compatible(random.Random(5), 2, {"promt": "x"})


# -- catalogue, docs, doctests, import weight ---------------------------------------------------


def test_list_checks():
    rows = list_checks()
    assert [r["name"] for r in rows] == CHECKS.names()
    for row in rows:
        assert set(row) >= {"name", "kind", "summary", "parameters", "example", "conflicts"}
        assert row["summary"] and row["example"]
        assert get_check(row["name"], **row["example_params"]).describe() == row["example"]
    words_row = next(r for r in rows if r["name"] == "length.words")
    assert [p["name"] for p in words_row["parameters"]] == ["relation", "count"]
    assert list_checks() == rows  # the examples are drawn with a fixed seed


def test_docs_table_is_up_to_date():
    doc = ROOT / "docs" / "checks.md"
    assert generated_part(doc) == render_table(), "regenerate with: python -m syllabus.checks docs/checks.md"


MODULES = [
    "syllabus.checks",
    "syllabus.checks.base",
    "syllabus.checks.text",
    "syllabus.checks.vocab",
    "syllabus.checks.case",
    "syllabus.checks.punctuation",
    "syllabus.checks.keywords",
    "syllabus.checks.length",
    "syllabus.checks.content",
    "syllabus.checks.formatting",
    "syllabus.checks.startend",
    "syllabus.checks.combination",
    "syllabus.checks.conflicts",
    "syllabus.checks.catalog",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_checks_import_no_heavy_package():
    code = (
        "import json, sys, syllabus.checks\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'vllm', 'llama_cpp', 'datasets', 'pyarrow', 'nltk'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert checks_pkg.CHECKS is CHECKS
