"""Check.repair and repair_all: a failing answer is rewritten so it passes, or None."""

from __future__ import annotations

import random

import pytest

from syllabus.checks import CHECKS, Check, SampleContext, get_check, repair_all, verify
from syllabus.evaluate.tasks.ifeval_lite import DEFAULT_CHECKS, BaseTask, base_tasks, build_prompt, draw_checks

PROMPT = "Explain why ice floats on water."
ANSWER = (
    "Ice floats because it is less dense than liquid water. When water freezes, its molecules lock into "
    "an open crystal lattice that takes up more room. The same mass therefore fills a larger volume. "
    "That is also why lakes freeze from the top down, and fish can survive the winter below. "
    "It is a really important thing for life on Earth."
)
ANSWERS = (
    ANSWER,
    (
        "Start the day with a short walk to wake up your body. Keep your phone in another room while you work, "
        "because every notification breaks your focus. Plan the three most useful tasks the night before. Take a "
        "real break at lunch and eat something light. Finally, go to bed at the same time each night so your mind "
        "gets enough rest."
    ),
    (
        "A rainbow appears when sunlight passes through raindrops in the air. Each drop bends the light as it "
        "enters, reflects it off the back, and bends it again as it leaves. Because every colour bends by a slightly "
        "different amount, white light spreads into a band of colours. You see the bow when the sun is behind you "
        "and the rain is in front of you."
    ),
)

# (check name, params, a planted answer that fails it)
PLANTED = [
    ("case.lowercase", {}, ANSWER),
    ("case.uppercase", {}, ANSWER),
    ("combination.repeat_prompt", {"prompt": PROMPT}, ANSWER),
    ("content.fill_ins", {"count": 3}, ANSWER),
    ("content.postscript", {"marker": "P.S."}, ANSWER),
    ("content.postscript", {"marker": "P.P.S."}, ANSWER + "\n\nP.S. Stay curious."),
    ("format.bullets", {"count": 3}, ANSWER),
    ("format.bullets", {"count": 2}, "Tips:\n- one idea here.\n- two ideas here.\n- three ideas here."),
    ("format.highlights", {"count": 3}, ANSWER),
    ("format.json", {}, ANSWER + '\n\nSay "hi".'),
    ("format.numbered", {"count": 6}, ANSWER),
    ("format.quoted", {}, ANSWER),
    ("format.title", {}, ANSWER),
    ("keywords.forbidden", {"words": ["really", "important", "thing", "also"]}, ANSWER),
    ("keywords.frequency", {"keyword": "water", "relation": "at most", "count": 1}, ANSWER),
    ("keywords.frequency", {"keyword": "lattice", "relation": "exactly", "count": 3}, ANSWER),
    ("keywords.include", {"keywords": ["density", "winter", "river"]}, ANSWER),
    ("length.sentences", {"relation": "at most", "count": 2}, ANSWER),
    ("length.words", {"relation": "at most", "count": 30}, ANSWER),
    ("length.words", {"relation": "at most", "count": 5}, ANSWER),
    ("punctuation.no_comma", {}, ANSWER + " It costs 1,000 euros, she said,and left."),
    ("startend.end_with", {"phrase": "Hope this helps."}, ANSWER + " Hope this helps!"),
    ("startend.end_with", {"phrase": "Any other questions?"}, "* a list item\n* another item"),
    ("startend.start_with", {"phrase": "Sure"}, ANSWER),
    ("startend.start_with", {"phrase": "In short"}, "the short answer is density."),
    ("startend.start_with", {"phrase": "Good question."}, "Good question! " + ANSWER),
    # beyond DEFAULT_CHECKS
    ("case.capital_words", {"relation": "at least", "count": 2}, ANSWER),
    ("case.capital_words", {"relation": "at most", "count": 1}, "NASA and the ESA FLY high."),
    ("format.sections", {"count": 2, "marker": "PART"}, ANSWER),
    ("length.paragraphs", {"count": 3}, ANSWER),
    ("length.nth_paragraph_first_word", {"paragraphs": 2, "nth": 2, "word": "however"}, ANSWER),
]


def test_planted_answers_cover_every_default_check():
    assert set(DEFAULT_CHECKS) <= {name for name, _, _ in PLANTED}


@pytest.mark.parametrize(("name", "params", "answer"), PLANTED, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(PLANTED)])
def test_planted_failing_answer_is_repaired(name, params, answer):
    check = get_check(name, **params)
    assert not check.check(answer)
    fixed = check.repair(answer, PROMPT)
    assert fixed is not None and check.check(fixed), fixed
    assert fixed.strip()
    assert check.repair(fixed, PROMPT) == fixed  # repairing twice changes nothing


@pytest.mark.parametrize("name", sorted(CHECKS.names()))
def test_a_passing_answer_comes_back_unchanged(name):
    for draw in range(5):
        check = CHECKS.get(name).sample(random.Random(draw), SampleContext.from_prompt(PROMPT))
        if check.check(ANSWER):
            assert check.repair(ANSWER, PROMPT) is ANSWER


def test_readable_repairs():
    assert get_check("punctuation.no_comma").repair("Yes, it floats, and it melts.") == "Yes it floats and it melts."
    forbidden = get_check("keywords.forbidden", words=["very", "important"]).repair(
        "It is a very open and important idea."
    )
    assert forbidden == "It is an open and essential idea."
    assert get_check("format.title").repair("It floats.", PROMPT) == "<<Why Ice Floats on Water>>\n\nIt floats."
    assert get_check("format.json").repair("Line one.\nLine two.") == '{"answer": "Line one. Line two."}'
    assert get_check("format.quoted").repair(" Hi there. ") == '"Hi there."'
    assert get_check("startend.start_with", phrase="Sure").repair("It floats.") == "Sure! It floats."
    assert (
        get_check("startend.end_with", phrase="Hope this helps.").repair("It floats") == "It floats. Hope this helps."
    )
    bullets = get_check("format.bullets", count=2).repair("One. Two. Three.")
    assert bullets == "* One. Two.\n* Three."
    shortened = get_check("length.words", relation="at most", count=10).repair(ANSWER)
    assert shortened == "Ice floats because it is less dense than liquid water."
    repeated = get_check("combination.repeat_prompt", prompt=PROMPT).repair("It floats.")
    assert repeated == f"{PROMPT}\n\nIt floats."


@pytest.mark.parametrize(
    ("name", "params", "answer"),
    [
        ("length.words", {"relation": "at least", "count": 80}, "Only twenty words or so here."),
        ("length.sentences", {"relation": "at least", "count": 4}, "One. Two."),
        ("format.bullets", {"count": 5}, "Too short."),
        ("format.highlights", {"count": 3}, "Yes it is."),
        ("combination.two_responses", {}, ANSWER),  # no natural repair: the default gives up
        ("format.options", {"options": ["yes", "no"]}, ANSWER),
    ],
)
def test_none_when_no_rewrite_can_pass(name, params, answer):
    assert get_check(name, **params).repair(answer, PROMPT) is None


def test_default_repair_keeps_a_passing_answer_and_gives_up_otherwise():
    options = get_check("format.options", options=["yes", "no"])
    assert type(options).rewrite is Check.rewrite
    assert options.repair("Yes.") == "Yes."
    assert options.repair("") is None


# -- repair_all ----------------------------------------------------------------------------

DOCUMENTED_ORDER = {
    10: {"keywords.forbidden", "punctuation.no_comma"},
    20: {"length.words", "length.sentences"},
    30: {"keywords.include", "keywords.frequency", "content.fill_ins", "format.highlights", "case.capital_words"},
    50: {"content.postscript", "startend.end_with"},
    60: {"format.title"},
    62: {"startend.start_with"},
    64: {"combination.repeat_prompt"},
    70: {"format.json", "format.quoted"},
    80: {"case.lowercase", "case.uppercase"},
}


def test_repair_order_is_the_documented_one():
    for order, names in DOCUMENTED_ORDER.items():
        for name in names:
            assert CHECKS.get(name).repair_order == order, name
    layout = {"format.bullets", "format.numbered", "format.sections", "length.paragraphs"}
    assert all(CHECKS.get(name).repair_order == 40 for name in layout)
    assert "``format.title``, then ``startend.start_with``" in repair_all.__doc__


def test_repair_all_applies_wrappers_last_and_accepts_dicts():
    checks = [
        {"name": "case.uppercase", "params": {}},
        {"name": "format.quoted", "params": {}},
        {"name": "keywords.forbidden", "params": {"words": ["really"]}},
        get_check("format.title"),
    ]
    out = repair_all(checks, ANSWER, PROMPT)
    assert out is not None and verify(checks, out)["strict"]
    assert out.startswith('"<<WHY ICE FLOATS ON WATER>>') and out.endswith('"')
    assert "REALLY" not in out


def test_repair_all_leaves_room_for_what_later_repairs_add():
    checks = [
        get_check("length.words", relation="at most", count=40),
        get_check("combination.repeat_prompt", prompt=PROMPT),
        get_check("content.postscript"),
    ]
    out = repair_all(checks, ANSWER, PROMPT)
    assert out is not None and verify(checks, out)["strict"]
    assert out.startswith(PROMPT) and "\nP.S. " in out


def test_repair_all_unchanged_none_and_mode():
    checks = [get_check("case.lowercase")]
    assert repair_all(checks, "already fine.") == "already fine."
    assert repair_all([get_check("length.words", relation="at least", count=80)], ANSWER) is None
    assert repair_all([], ANSWER) == ANSWER
    assert repair_all(checks, "Sure!\nall lowercase", mode="loose") == "Sure!\nall lowercase"
    with pytest.raises(Exception, match="mode"):
        repair_all(checks, ANSWER, mode="lenient")


def _draws(n: int, k_range: tuple[int, int], seed: int = 0):
    rng = random.Random(seed)
    bases = base_tasks("train")
    for _ in range(n):
        if rng.random() < 0.8:
            base = rng.choice(bases)
            context, instruction = base.context(), base.instruction
        else:  # a random context: made-up keywords, a made-up prompt
            words = rng.sample(["river", "garden", "music", "winter", "bridge", "signal", "market"], 3)
            instruction = f"Write about the {words[0]} near the {words[1]}."
            context = SampleContext(prompt=instruction, keywords=tuple(words))
        checks = draw_checks(rng, rng.randint(*k_range), context, DEFAULT_CHECKS)
        prompt = build_prompt(BaseTask("draw", instruction), checks)
        yield checks, prompt, rng.choice(ANSWERS)


def test_repair_all_output_always_passes_and_mostly_exists():
    results = []
    for checks, prompt, answer in _draws(300, (1, 2)):
        out = repair_all(checks, answer, prompt)
        if out is not None:
            assert verify(checks, out)["strict"], (checks, out)
        results.append(out is not None)
    rate = sum(results) / len(results)
    print(f"repair_all non-None rate, 1-2 checks, ~60-word answers: {rate:.3f}")
    assert rate >= 0.9


def test_repair_all_with_three_checks_never_returns_a_failing_text():
    for checks, prompt, answer in _draws(150, (3, 3), seed=1):
        out = repair_all([c.to_dict() for c in checks], answer, prompt)
        assert out is None or verify(checks, out)["strict"], (checks, out)
