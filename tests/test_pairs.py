"""Preference-pair builders on fake models: verifier outcomes, SPaR-style refinements, judge verdicts."""

from __future__ import annotations

import pytest

from syllabus.errors import ConfigError
from syllabus.evaluate.judge import parse_judge_prompt
from syllabus.formats import to_preference
from syllabus.llm.fake import FunctionLLM
from syllabus.pipeline.runner import Pipeline
from syllabus.pipeline.step import StepContext
from syllabus.record import Example
from syllabus.train.pairs import JudgePairs, RefinementPairs, VerifiedSamplePairs, verdict

LOWER = {"name": "case.lowercase"}
NO_COMMA = {"name": "punctuation.no_comma"}


def _run(step, examples):
    ctx = StepContext()
    kept = list(step(examples, ctx))
    return kept, {e.id: e.meta["excluded.reason"] for e in ctx.excluded}


# -- verification ---------------------------------------------------------------------------------


def test_verdict_names_what_fails_in_words():
    ex = Example.from_prompt("Greet me.", reference="hello", meta={"checks": [LOWER, NO_COMMA]})
    v = verdict(ex, "Hi, there")
    assert v.passed is False
    assert any("lowercase" in p for p in v.problems) and any("comma" in p for p in v.problems)
    assert any("final answer (hi, there) is not correct" in p for p in v.problems)
    assert verdict(ex, "hello").passed is True
    assert ex.scores == {} and "verify.pass" not in ex.meta  # the example itself is untouched
    assert verdict(Example.from_prompt("Chat."), "anything").passed is None


# -- 1. verifier outcomes on the student's samples ------------------------------------------------------


def _student(answers):
    """A student whose i-th sample of any prompt is answers[i]; records its requests."""
    return FunctionLLM(lambda r: answers[r.sample_index % len(answers)], name="student")


def test_a_passing_and_a_failing_sample_make_a_pair():
    student = _student(["The answer is 5.", "The answer is 4.", "The answer is 4.", "The answer is 6."])
    ex = Example.from_prompt("2+2?", reference="4", completion="4")
    kept, dropped = _run(VerifiedSamplePairs(student, k=4, temperature=0.9, seed=3), [ex])
    assert dropped == {}
    [pair] = kept
    assert (pair.meta["pref.chosen"], pair.meta["pref.rejected"]) == ("The answer is 4.", "The answer is 5.")
    assert pair.meta["pref.source"] == "verifier" and pair.meta["pref.passed"] == 1  # duplicates counted once
    assert pair.id == f"{ex.id}-pref0" and pair.provenance["parents"] == [ex.id]
    # k samples of the prompt, sampled (temperature > 0), each its own sample index
    assert [r.sample_index for r in student.history] == [0, 1, 2, 3]
    assert {r.params.temperature for r in student.history} == {0.9} and student.history[0].params.seed == 3
    assert to_preference(pair, conversational=False, include_id=False)["chosen"] == "The answer is 4."


def test_max_pairs_pairs_distinct_passing_and_failing_samples_in_order():
    student = _student(["hello there", "Hello", "hi", "HI"])
    ex = Example.from_prompt("Greet me in lowercase.", meta={"checks": [LOWER]})
    kept, _ = _run(VerifiedSamplePairs(student, k=4, max_pairs=3), [ex])
    assert [(p.meta["pref.chosen"], p.meta["pref.rejected"]) for p in kept] == [("hello there", "Hello"), ("hi", "HI")]
    assert [p.id for p in kept] == [f"{ex.id}-pref0", f"{ex.id}-pref1"]


def test_prompts_without_a_pair_are_dropped_with_a_reason():
    all_pass = Example.from_prompt("2+2?", reference="4", id="all-pass")
    none_pass = Example.from_prompt("3+3?", reference="6", completion="The answer is 7.", id="none-pass")
    no_completion = Example.from_prompt("4+4?", reference="8", id="no-completion")
    teacher = Example.from_prompt("5+5?", reference="10", completion="The answer is 10.", id="teacher")
    unverifiable = Example.from_prompt("Tell me a story.", id="story")
    student = FunctionLLM(lambda r: "The answer is 4.", name="student")
    kept, dropped = _run(VerifiedSamplePairs(student, k=2), [all_pass, none_pass, no_completion, teacher, unverifiable])
    assert dropped == {
        "all-pass": "every sample passes: no rejected answer",
        "none-pass": "no sample passes and the completion does not verify",
        "no-completion": "no sample passes",
        "story": "unverifiable: no checks and no reference (or a malformed check)",
    }
    [pair] = kept  # no sample passes, but the teacher's completion verifies: it is the chosen one
    assert (pair.meta["pref.chosen"], pair.meta["pref.rejected"]) == ("The answer is 10.", "The answer is 4.")
    assert pair.meta["pref.chosen_from"] == "teacher"
    kept, dropped = _run(VerifiedSamplePairs(student, k=2, teacher_fallback=False), [teacher])
    assert kept == [] and dropped == {"teacher": "no sample passes"}


def test_verified_sample_options_are_checked():
    student = _student(["x"])
    with pytest.raises(ConfigError, match="k must be >= 2"):
        VerifiedSamplePairs(student, k=1)
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        VerifiedSamplePairs(student, temperature=0)


def test_drops_reach_the_runners_excluded_folder(tmp_path):
    student = FunctionLLM(lambda r: "The answer is 4.", name="student")
    examples = [Example.from_prompt("2+2?", reference="4", id="a"), Example.from_prompt("2+3?", reference="5", id="b")]
    result = Pipeline([VerifiedSamplePairs(student, k=2)]).run(examples, tmp_path / "pairs")
    assert list(result.examples()) == []
    excluded = {e.id: (e.meta["excluded.step"], e.meta["excluded.reason"]) for e in result.excluded()}
    assert excluded == {
        "a": ("pairs-verified", "every sample passes: no rejected answer"),
        "b": ("pairs-verified", "no sample passes"),
    }


# -- 2. SPaR-style refinements -------------------------------------------------------------------------


def _response_in(request) -> str:
    text = request.messages[-1]["content"]
    return text.split("Response:\n", 1)[1].split("\n\nProblems:", 1)[0]


def test_a_verified_refinement_is_paired_with_the_failing_original():
    refiner = FunctionLLM(lambda r: _response_in(r).lower(), name="refiner")
    ex = Example.from_prompt("Describe the sea in lowercase.", completion="The sea is Blue", meta={"checks": [LOWER]})
    kept, dropped = _run(RefinementPairs(refiner, branch=1), [ex])
    assert dropped == {}
    [pair] = kept
    assert (pair.meta["pref.chosen"], pair.meta["pref.rejected"]) == ("the sea is blue", "The sea is Blue")
    assert pair.meta["pref.source"] == "refinement" and pair.meta["pref.rounds"] == 1
    assert 0.8 < pair.meta["pref.edit_similarity"] < 1
    # The refiner was told what fails, in the check's own words, and greedy (one branch).
    [request] = refiner.history
    assert "entire response in lowercase" in request.messages[-1]["content"]
    assert request.params.temperature == 0.0


def test_refinement_keeps_the_best_partial_fix_for_the_next_round():
    def refine(request):
        text = _response_in(request)
        return text.replace(",", "") if "," in text else text.lower()  # one problem per round

    refiner = FunctionLLM(refine, name="refiner")
    ex = Example.from_prompt("Lowercase, no commas.", completion="Red, Green", meta={"checks": [LOWER, NO_COMMA]})
    kept, _ = _run(RefinementPairs(refiner, depth=2, branch=1), [ex])
    [pair] = kept
    assert (pair.meta["pref.chosen"], pair.meta["pref.rejected"], pair.meta["pref.rounds"]) == ("red green", "Red, Green", 2)
    second_round = refiner.history[1].messages[-1]["content"]
    assert "Red Green" in second_round and "comma" not in second_round.split("Problems:")[1]


def test_refinement_drops_passing_unfixable_and_rewritten_answers():
    passing = Example.from_prompt("Lowercase please.", completion="ok", meta={"checks": [LOWER]}, id="passing")
    stuck = Example.from_prompt("Lowercase please.", completion="NO", meta={"checks": [LOWER]}, id="stuck")
    no_answer = Example.from_prompt("Lowercase please.", meta={"checks": [LOWER]}, id="no-answer")
    unchanged = FunctionLLM(_response_in, name="refiner")
    kept, dropped = _run(RefinementPairs(unchanged, depth=2, branch=2), [passing, stuck, no_answer])
    assert kept == []
    assert dropped == {
        "passing": "student answer already passes: nothing to refine",
        "stuck": "no refinement verified",
        "no-answer": "no student answer (completion) to refine",
    }
    assert len(unchanged.history) == 4  # 2 rounds x 2 branches, for the one failing answer only
    rewrite = FunctionLLM(lambda r: "a completely different text about something else", name="refiner")
    ex = Example.from_prompt("Lowercase please.", completion="THE SEA", meta={"checks": [LOWER]}, id="rewritten")
    kept, dropped = _run(RefinementPairs(rewrite, min_similarity=0.6), [ex])
    assert kept == [] and dropped == {"rewritten": "no refinement verified (or every one rewrote the answer)"}


def test_refinement_can_sample_the_student_itself():
    student = FunctionLLM(lambda r: "The answer is 5.", name="student")
    refiner = FunctionLLM(lambda r: _response_in(r).replace("5", "4"), name="refiner")
    ex = Example.from_prompt("2+2?", reference="4")
    [pair] = list(RefinementPairs(refiner, student=student, branch=1)([ex]))
    assert (pair.meta["pref.chosen"], pair.meta["pref.rejected"]) == ("The answer is 4.", "The answer is 5.")
    assert student.history[0].params.temperature == 0.0
    assert "final answer (5) is not correct" in refiner.history[0].messages[-1]["content"]


# -- 3. judge preferences -------------------------------------------------------------------------------


def _judge(rule):
    """A judge reading its own prompt: ``rule(first, second)`` -> "A", "B" or "tie"."""
    def reply(request):
        shown = parse_judge_prompt(request.messages)
        return f"Verdict: {rule(shown.first, shown.second)}"

    return FunctionLLM(reply, name="judge")


def _with_student(prompt, teacher, student, id):
    return Example.from_prompt(prompt, completion=teacher, meta={"difficulty.student_answer": student}, id=id)


def test_a_swap_consistent_preference_makes_a_pair():
    longer = _judge(lambda a, b: "A" if len(a) > len(b) else "B")
    teacher_wins = _with_student("Explain rain.", "Water vapour condenses and falls.", "It rains.", "t")
    student_wins = _with_student("Explain snow.", "Cold.", "Water vapour freezes into crystals that fall.", "s")
    kept, dropped = _run(JudgePairs(longer), [teacher_wins, student_wins])
    assert dropped == {}
    assert [(p.meta["pref.chosen"], p.meta["pref.rejected"], p.meta["pref.winner"]) for p in kept] == [
        ("Water vapour condenses and falls.", "It rains.", "teacher"),
        ("Water vapour freezes into crystals that fall.", "Cold.", "student"),
    ]
    assert kept[0].meta["pref.source"] == "judge" and len(kept[0].meta["pref.judge_raw"]) == 2
    assert len(longer.history) == 4  # both orders of both pairs


def test_position_bias_ties_and_bad_inputs_are_dropped_with_reasons():
    examples = [
        _with_student("Q1?", "answer one", "answer two", "biased"),
        _with_student("Q2?", "same", "same", "identical"),
        Example.from_prompt("Q3?", completion="only the teacher", id="no-student"),
    ]
    kept, dropped = _run(JudgePairs(_judge(lambda a, b: "A")), examples)
    assert kept == []
    assert dropped == {
        "biased": "judge inconsistent under position swap",
        "identical": "the two responses are identical",
        "no-student": "no second response (meta 'difficulty.student_answer' or a student)",
    }
    _, dropped = _run(JudgePairs(_judge(lambda a, b: "tie")), examples[:1])
    assert dropped == {"biased": "judge: tie"}
    _, dropped = _run(JudgePairs(FunctionLLM(lambda r: "I cannot decide.", name="judge")), examples[:1])
    assert dropped == {"biased": "judge reply unreadable"}


def test_judge_pairs_can_sample_the_student():
    student = FunctionLLM(lambda r: "short", name="student")
    longer = _judge(lambda a, b: "A" if len(a) > len(b) else "B")
    ex = Example.from_prompt("Explain tides.", completion="The moon's gravity pulls the oceans.")
    [pair] = list(JudgePairs(longer, student=student)([ex]))
    assert (pair.meta["pref.chosen"], pair.meta["pref.rejected"]) == ("The moon's gravity pulls the oceans.", "short")


def test_docstring_examples():
    import doctest

    import syllabus.train.pairs

    assert doctest.testmod(syllabus.train.pairs).failed == 0
