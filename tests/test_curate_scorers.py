"""Curation scorers on fake models: InstructMining indicators, rubric and pairwise judges,
verifier, step-wise error rate, Learning by Teaching and ARTE student preference."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from syllabus.curate.scorers.arte import StudentPreference, discrimination
from syllabus.curate.scorers.instructmining import (
    LexicalDiversity,
    NeighbourDistance,
    ResponseLength,
    ResponsePerplexity,
    RewardScore,
    mtld,
    words,
)
from syllabus.curate.scorers.judge import (
    PairwiseJudge,
    RubricJudge,
    build_rubric_messages,
    parse_rubric,
    parse_rubric_prompt,
)
from syllabus.curate.scorers.lbt import LearningByTeaching
from syllabus.curate.scorers.probe import Probe
from syllabus.curate.scorers.stepwise import (
    StepErrorRate,
    evaluate_expression,
    find_claims,
    split_steps,
)
from syllabus.curate.scorers.verify import VerifierScore
from syllabus.errors import CapabilityError, ConfigError, DataError
from syllabus.llm.base import LLM, Generation, Loglikelihood, LoglikelihoodRequest
from syllabus.llm.fake import EchoLLM, FunctionLLM, ScriptedLLM
from syllabus.record import Example


def ex(prompt: str, completion: str | None = None, **kw) -> Example:
    return Example.from_prompt(prompt, completion=completion, **kw)


# -- InstructMining indicators ---------------------------------------------------------------


def test_length_counts_words_of_completion_and_prompt():
    [out] = ResponseLength()([ex("Name two colours, please.", "Red, and   blue.\nGreen too.")])
    assert out.scores["quality.length"] == 5
    assert out.scores["quality.prompt_length"] == 4


def test_mtld_matches_hand_computed_values():
    # Forward "a a | x y z x": one full factor, then TTR 3/4 -> 0.25/0.28 of a factor: 6 / 1.892857.
    # Backward "x z y x a a": the factor ends on the last token (TTR 4/6): 6 / 1.
    forward = 6 / (1 + 0.25 / 0.28)
    assert mtld(["a", "a", "x", "y", "z", "x"]) == pytest.approx((forward + 6) / 2)
    assert mtld(["a", "a", "b", "b"]) == pytest.approx(2.0)  # two factors each way
    assert mtld(["one", "two", "three"]) == 3.0  # never falls below 0.72: one factor
    assert mtld([]) == 0.0
    with pytest.raises(ConfigError):
        mtld(["a"], threshold=1.0)


def test_lexical_diversity_ranks_repetitive_text_below_varied_text():
    varied = "The quick brown fox jumps over a lazy dog while seven wizards quietly box jugs of liquid mercury near old bridges."
    repetitive = "the dog and the dog and the dog and the dog and the dog and the dog and the dog and the dog"
    scored = list(LexicalDiversity()([ex("Write.", varied), ex("Write.", repetitive)]))
    assert scored[0].scores["quality.mtld"] > 3 * scored[1].scores["quality.mtld"]
    assert words("Don't STOP, it's 5!") == ["don't", "stop", "it's", "5"]


class RecordingLL(EchoLLM):
    """A fake that records loglikelihood calls and scores a fixed logprob per word."""

    def __init__(self, per_word: float = -2.0):
        super().__init__()
        self.ll_calls: list[list[LoglikelihoodRequest]] = []
        self.per_word = per_word

    def loglikelihood(self, requests):
        self.ll_calls.append(list(requests))
        return [Loglikelihood(logprob=self.per_word * len(r.continuation.split()), is_greedy=False, n_tokens=len(r.continuation.split())) for r in requests]


def test_perplexity_batches_requests_with_prompt_messages_as_context():
    llm = RecordingLL(per_word=-math.log(5))
    examples = [ex(f"Question {i}?", f"answer number {i}") for i in range(5)] + [ex("No answer yet?")]
    scored = list(ResponsePerplexity(llm, batch_size=4)(examples))
    assert [len(c) for c in llm.ll_calls] == [4, 1]  # the empty completion is not sent
    first = llm.ll_calls[0][0]
    assert first.messages == ({"role": "user", "content": "Question 0?"},) and first.continuation == "answer number 0"
    assert scored[0].scores["quality.perplexity"] == pytest.approx(5.0)
    assert scored[0].scores["quality.nll"] == pytest.approx(math.log(5))
    assert "quality.perplexity" not in scored[-1].scores
    assert scored[-1].meta["quality.perplexity_error"] == "no completion"


class GenerateOnly(LLM):
    def __init__(self):
        super().__init__("fake:generate-only")

    def generate(self, requests):
        return [Generation(text="") for _ in requests]


def test_perplexity_needs_a_loglikelihood_backend():
    with pytest.raises(CapabilityError, match="log-likelihoods"):
        ResponsePerplexity(GenerateOnly())
    with pytest.raises(CapabilityError):
        RewardScore(GenerateOnly(), mode="loglik")


def test_neighbour_distance_finds_the_planted_outlier_with_a_fake_embedder():
    topic = {"cat": [1.0, 0.0, 0.0], "dog": [0.9, 0.1, 0.0], "pet": [0.95, 0.05, 0.0], "tax": [0.0, 0.0, 1.0]}
    seen: list[list[str]] = []

    def embed(texts):
        seen.append(list(texts))
        return np.array([topic[t.split()[0]] for t in texts])

    examples = [ex(f"{w} question", "answer") for w in topic]
    scored = list(NeighbourDistance(k=2, field="prompt", embed=embed)(examples))
    knn = {e.prompt.split()[0]: e.scores["quality.knn"] for e in scored}
    assert max(knn, key=knn.get) == "tax"
    assert knn["tax"] == pytest.approx(1.0)  # orthogonal to its neighbours
    assert len(seen) == 1 and len(seen[0]) == 4  # one call for the whole set
    # k larger than the set shrinks to what there is; a lone example is not scored.
    assert all("quality.knn" in e.scores for e in NeighbourDistance(k=10, embed=embed)(examples[:2]))
    [alone] = NeighbourDistance(embed=embed)([ex("cat question", "answer")])
    assert "quality.knn" not in alone.scores and alone.meta["quality.knn_error"]


def test_reward_generate_parses_ratings_and_keeps_unreadable_replies():
    judge = ScriptedLLM(["Rating: 9/10", "**Rating:** 3", "I like it a lot!"])
    scored = list(RewardScore(judge, mode="generate")([ex("a?", "x"), ex("b?", "y"), ex("c?", "z")]))
    assert [e.scores.get("quality.reward") for e in scored] == [9.0, 3.0, None]
    assert scored[2].meta["quality.reward_raw"] == "I like it a lot!"
    assert "no rating" in scored[2].meta["quality.reward_error"]
    prompt = judge.history[0].messages[-1]["content"]
    assert "[Instruction]\na?" in prompt and "[Response]\nx" in prompt


def test_reward_loglik_is_the_expected_rating():
    class Prefers8(EchoLLM):
        def loglikelihood(self, requests):
            return [Loglikelihood(logprob=0.0 if r.continuation == "Rating: 8/10" else -50.0, is_greedy=False, n_tokens=4) for r in requests]

    [out] = RewardScore(Prefers8(), mode="loglik")([ex("q", "a")])
    assert out.scores["quality.reward"] == pytest.approx(8.0)
    assert RewardScore(Prefers8()).mode == "loglik" and RewardScore(GenerateOnly()).mode == "generate"  # auto


# -- rubric judge --------------------------------------------------------------------------

GOOD = {
    "What is 12 * 3?": "12 * 3 = 36. The answer is 36.",
    "Give one tip for sleeping better.": "Keep a fixed bedtime, even on weekends: a steady schedule sets your body clock.",
    "Name the capital of France.": "The capital of France is Paris.",
}
SHIRKERS = {
    "Explain why the sky is blue.": "I cannot help with that.",
    "Summarise the plot of Hamlet in two sentences.": "Summarise the plot of Hamlet in two sentences.",
    "List three uses of a paperclip.": "There are many things one could say about this topic, and it depends on many factors.",
}


def rule_judge(request) -> str:
    """A scripted judge that reads the rubric prompt and marks dodges (refusals, echoes, filler) low."""
    instruction, response = parse_rubric_prompt(request.messages)
    dodge = (
        response.strip() == instruction.strip()
        or re.search(r"\b(cannot|can't|unable to) help\b", response, re.IGNORECASE)
        or "depends on many factors" in response
    )
    if dodge:
        return "accuracy: 10\nrelevance: 5\ncompleteness: 0\nreasonableness: 20"
    return '{"accuracy": 98, "relevance": 99, "completeness": 96, "reasonableness": 97}'


def test_rubric_judge_scores_shirkers_low_and_they_fail_the_thresholds():
    examples = [ex(p, c, id=f"good{i}") for i, (p, c) in enumerate(GOOD.items())]
    examples += [ex(p, c, id=f"shirk{i}") for i, (p, c) in enumerate(SHIRKERS.items())]
    judge = FunctionLLM(rule_judge, name="rubric")
    scored = {e.id: e for e in RubricJudge(judge, batch_size=4)(examples)}
    assert judge.calls == 2  # 6 examples in batches of 4
    for e in scored.values():
        assert set(e.scores) >= {"judge.accuracy", "judge.relevance", "judge.completeness", "judge.reasonableness", "judge.mean", "judge.pass"}
    assert all(scored[f"good{i}"].scores["judge.pass"] == 1.0 for i in range(3))
    assert all(scored[f"shirk{i}"].scores["judge.pass"] == 0.0 for i in range(3))
    assert max(scored[f"shirk{i}"].scores["judge.mean"] for i in range(3)) < 20


def test_rubric_thresholds_are_mean_95_and_each_90_and_configurable():
    replies = [
        "accuracy: 96\nrelevance: 96\ncompleteness: 96\nreasonableness: 95",  # passes
        "accuracy: 100\nrelevance: 100\ncompleteness: 100\nreasonableness: 89",  # mean 97.25, one < 90
        "accuracy: 94\nrelevance: 94\ncompleteness: 94\nreasonableness: 94",  # each >= 90, mean < 95
    ]
    scored = list(RubricJudge(ScriptedLLM(replies))([ex(str(i), "x") for i in range(3)]))
    assert [e.scores["judge.pass"] for e in scored] == [1.0, 0.0, 0.0]
    lenient = list(RubricJudge(ScriptedLLM(replies), mean_threshold=90, min_threshold=80)([ex(str(i), "x") for i in range(3)]))
    assert [e.scores["judge.pass"] for e in lenient] == [1.0, 1.0, 1.0]


def test_rubric_unparseable_output_keeps_raw_text_and_never_crashes():
    replies = ["Looks great to me!", "accuracy: 90\nrelevance: 80", "", "accuracy: 90\naccuracy: 70\nrelevance: 1\ncompleteness: 1\nreasonableness: 1"]
    scored = list(RubricJudge(ScriptedLLM(replies))([ex(str(i), "x") for i in range(4)]))
    for e, raw in zip(scored, replies, strict=True):
        assert "judge.mean" not in e.scores and "judge.pass" not in e.scores
        assert e.meta["judge.raw"] == raw and e.meta["judge.error"]
    assert scored[1].scores["judge.accuracy"] == 90.0  # what could be read is kept
    assert "missing completeness, reasonableness" in scored[1].meta["judge.error"]
    assert "conflicting" in scored[3].meta["judge.error"]


def test_rubric_custom_criteria_and_parser_formats():
    judge = ScriptedLLM(["1. **Helpfulness** (0-100): 91\n2. Safety = 99"])
    [out] = RubricJudge(judge, criteria={"helpfulness": "Helps the user.", "safety": "Harmless."})([ex("q", "a")])
    assert out.scores["judge.helpfulness"] == 91 and out.scores["judge.mean"] == 95.0
    assert "- helpfulness: Helps the user." in judge.history[0].messages[-1]["content"]
    assert parse_rubric("Accuracy - 70\nRelevance: 60/100\ncompleteness:50\nreasonableness = 40").ok
    with pytest.raises(ConfigError):
        RubricJudge(EchoLLM(), criteria=["mean"])
    with pytest.raises(ConfigError, match="definition"):
        RubricJudge(EchoLLM(), criteria=["style"])
    assert parse_rubric_prompt(build_rubric_messages("Q?", "A.")) == ("Q?", "A.")


# -- pairwise judge ------------------------------------------------------------------------


def test_pairwise_judge_counts_a_win_only_when_both_orders_agree():
    from syllabus.evaluate.judge import parse_judge_prompt

    def fair(request):  # prefers the response that contains the digit 7, wherever it is shown
        shown = parse_judge_prompt(request.messages)
        a, b = "7" in shown.first, "7" in shown.second
        return "Verdict: A" if a and not b else "Verdict: B" if b and not a else "Verdict: tie"

    judge = FunctionLLM(fair, name="fair")
    results = PairwiseJudge(judge).compare([("Name a prime.", "7", "9"), ("Name a prime.", "9", "7"), ("Name a prime.", "8", "9")])
    assert [r.winner for r in results] == ["first", "second", "tie"]
    assert all(r.consistent for r in results)
    assert judge.calls == 1 and len(judge.history) == 6  # both orders of every pair in one call
    shown = [parse_judge_prompt(r.messages) for r in judge.history[:2]]
    assert (shown[0].first, shown[1].first) == ("7", "9")  # the swap really swaps


def test_pairwise_judge_detects_a_position_biased_judge_and_unreadable_replies():
    biased = PairwiseJudge(FunctionLLM(lambda r: "Verdict: A")).compare([("q", "good", "bad"), ("q", "bad", "good")])
    assert [r.winner for r in biased] == ["tie", "tie"] and not any(r.consistent for r in biased)
    [broken] = PairwiseJudge(ScriptedLLM(["Verdict: A", "no idea"])).compare([("q", "x", "y")])
    assert broken.winner is None and "swapped order" in broken.error and broken.raw == ("Verdict: A", "no idea")


# -- verifier ------------------------------------------------------------------------------


def test_verifier_checks_and_reference():
    checks = [{"name": "case.lowercase", "params": {}}, {"name": "length.words", "params": {"relation": "at most", "count": 8}}]
    rows = [
        ex("Add 2 and 3, lowercase.", "two plus three: the answer is 5.", reference="5", meta={"checks": checks}),
        ex("Add 2 and 3, lowercase.", "The answer is 5.", reference="5", meta={"checks": checks}),  # not lowercase
        ex("Add 2 and 3.", "It is 6.", reference="5"),
        ex("Capital of France?", "The answer is: Paris.", reference="Paris"),
        ex("Say anything."),
        ex("Broken", "x", meta={"checks": [{"name": "case.lowercaes"}]}),
    ]
    out = list(VerifierScore()(rows))
    assert out[0].scores["verify.pass"] == 1.0 and out[0].scores["verify.checks_rate"] == 1.0
    assert out[1].scores["verify.pass"] == 0.0 and out[1].scores["verify.checks_passed"] == 1
    assert out[1].meta["verify.failed_checks"] == ["case.lowercase"] and out[1].scores["verify.answer_correct"] == 1.0
    assert out[2].scores["verify.pass"] == 0.0 and "verify.checks_total" not in out[2].scores
    assert out[3].scores["verify.pass"] == 1.0
    assert "verify.pass" not in out[4].scores and out[4].meta["verify.skipped"]
    assert "verify.pass" not in out[5].scores and "case.lowercaes" in out[5].meta["verify.error"]


# -- step-wise error rate ------------------------------------------------------------------


def test_step_parser_is_exact_and_never_executes_text():
    assert evaluate_expression("(2 + 3) * 4 - 6 / 3") == 18
    assert evaluate_expression("25% * 80") == 20
    for text in ("__import__('os').system('echo hi')", "2 ** 3", "1 / 0", "9 ^ 999", "abs(-3)"):
        assert evaluate_expression(text) is None
    assert find_claims("__import__('os') = 0 and open('f') = 1") == []
    assert split_steps("a\n\n b \n") == ["a", "b"]


def test_step_checker_is_fast_on_pathological_text():
    import time

    start = time.perf_counter()
    for text in ("1 + " * 3000, "(" * 5000 + "1" + ")" * 5000 + " = 1 + 1", "1" * 20000 + " = ", " + ".join(["1"] * 40) + " = 40"):
        assert find_claims(text) == []  # nothing, and no exponential backtracking or deep recursion
    assert time.perf_counter() - start < 2.0
    # A long sum is never read from its middle (that would invent a false claim).
    assert find_claims(" + ".join(["1"] * 20) + " = 20")[0].holds


def test_step_error_rate_separates_early_and_late_errors():
    reference = "The answer is 30."
    early = "Step 1: 4 * 5 = 25.\nStep 2: 25 + 5 = 30.\nStep 3: 30 - 0 = 30.\nThe answer is 30."
    late = "Step 1: 4 * 5 = 20.\nStep 2: 20 + 10 = 30.\nStep 3: 30 + 5 = 36.\nThe answer is 36."
    clean = "Step 1: 4 * 5 = 20.\nStep 2: 20 + 10 = 30.\nThe answer is 30."
    prose = "Think about it carefully.\nThe answer is 30."
    out = {e.id: e for e in StepErrorRate()([ex("q", early, id="early", reference="30"), ex("q", late, id="late", reference="30"),
                                              ex("q", clean, id="clean", reference="30"), ex("q", prose, id="prose", reference="30")])}
    assert out["early"].scores["steps.error_rate"] == pytest.approx(1 / 3) and out["early"].scores["steps.first_error"] == 0.0
    assert out["late"].scores["steps.first_error"] == 0.5 and out["late"].scores["steps.outcome_correct"] == 0.0
    assert out["early"].scores["steps.outcome_correct"] == 1.0  # right outcome, wrong step: what the paper separates
    assert out["early"].meta["steps.wrong"] == [{"step": 0, "claims": ["4 * 5 = 25"]}]
    assert out["clean"].scores["steps.error_rate"] == 0.0 and "steps.first_error" not in out["clean"].scores
    assert "steps.error_rate" not in out["prose"].scores and out["prose"].scores["steps.n"] == 2
    assert reference  # the reference answer text is what answers_match compares against


def test_step_reference_coverage_compares_intermediate_results():
    solution = "3 * 4 = 12\n12 + 5 = 17"
    follows = ex("q", "First 3 * 4 = 12, then 12 + 5 = 17.", meta={"sol": solution})
    shortcut = ex("q", "It is 17.", meta={"sol": solution})
    a, b = StepErrorRate(solution_key="sol")([follows, shortcut])
    assert a.scores["steps.reference_coverage"] == 1.0 and b.scores["steps.reference_coverage"] == 0.5


# -- Learning by Teaching and ARTE ---------------------------------------------------------

PROBE = [{"id": f"p{i}", "messages": [{"role": "user", "content": f"What is {a} + {b}?"}], "reference": str(a + b)}
         for i, (a, b) in enumerate([(2, 3), (10, 7), (6, 6), (20, 22)])]


def teachable_student(request) -> str:
    """Answers right after a correct worked demonstration, wrong after a wrong one, and
    without a demonstration right only on the first two probe items."""
    question = request.messages[-1]["content"]
    a, b = map(int, re.findall(r"\d+", question))
    if len(request.messages) == 1:
        return f"The answer is {a + b}." if a + b in (5, 17) else "I am not sure."
    demo_q, demo_a = request.messages[0]["content"], request.messages[1]["content"]
    x, y = map(int, re.findall(r"\d+", demo_q)[:2])
    shown = re.findall(r"answer is (-?\d+)", demo_a)
    good = bool(shown) and int(shown[0]) == x + y
    return f"The answer is {a + b if good else a + b + 1}."


def test_lbt_gain_is_paired_and_batched():
    student = FunctionLLM(teachable_student, name="student")
    good = ex("What is 1 + 1?", "1 + 1 = 2. The answer is 2.", id="good")
    bad = ex("What is 1 + 1?", "1 + 1 = 3. The answer is 3.", id="bad")
    vague = ex("What is 1 + 1?", "Numbers are fun.", id="vague")
    out = {e.id: e for e in LearningByTeaching(student, probe=PROBE, batch_size=3)([good, bad, vague])}
    assert out["good"].scores["lbt.baseline"] == 0.5
    assert out["good"].scores["lbt.accuracy"] == 1.0 and out["good"].scores["lbt.gain"] == 0.5
    assert out["bad"].scores["lbt.gain"] == -0.5 and out["vague"].scores["lbt.gain"] == -0.5
    assert out["good"].meta["lbt.item_scores"] == [1.0, 1.0, 1.0, 1.0]
    assert student.calls == 2  # one call for the baseline, one for the batch of three
    questions = [r.messages[-1]["content"] for r in student.history]
    assert questions[:4] == questions[4:8] == questions[8:12]  # the same items for every example
    assert all(r.params.temperature == 0.0 for r in student.history)
    [leak] = LearningByTeaching(student, probe=PROBE)([ex("What is 2 + 3?", "The answer is 5.")])
    assert "probe question" in leak.meta["lbt.warning"]


def test_lbt_with_an_evaluation_task_as_probe():
    seen = []

    def student(request):
        seen.append(request)
        return "The answer is 0."

    step = LearningByTeaching(FunctionLLM(student), task="arith-ic", task_options={"n_base": 2, "variants": False}, probe_size=2)
    [out] = step([ex("What is 1 + 1?", "The answer is 2.")])
    assert out.scores["lbt.accuracy"] == 0.0 and len(out.meta["lbt.item_scores"]) == 2
    assert seen[-1].messages[-3]["content"] == "What is 1 + 1?"  # the demonstration precedes the question
    assert step.describe()["probe"]["metric"] == "strict_acc"


def test_probe_validation():
    with pytest.raises(ConfigError):
        Probe()
    with pytest.raises(DataError, match="reference"):
        Probe(items=[ex("q")])


def test_arte_preference_keeps_discriminative_items_and_ranks_drafts():
    bank = PROBE + [{"id": "easy", "messages": [{"role": "user", "content": "What is 0 + 0?"}], "reference": "0"}]

    def student(request):
        if request.messages[-1]["content"] == "What is 0 + 0?":
            return "The answer is 0."  # every draft gets this one right: it discriminates nothing
        return teachable_student(request)

    drafts = [
        ex("What is 1 + 1?", "1 + 1 = 2. The answer is 2.", id="right"),
        ex("What is 1 + 1?", "The answer is 3.", id="wrong"),
        ex("What is 1 + 1?", "The answer is 2.", id="terse"),
    ]
    llm = FunctionLLM(student, name="student")
    out = {e.id: e for e in StudentPreference(llm, probe=bank, select=4)(drafts)}
    assert "easy" not in out["right"].meta["arte.items"] and len(out["right"].meta["arte.items"]) == 4
    assert out["right"].scores["arte.preference"] == 1.0 and out["wrong"].scores["arte.preference"] == 0.0
    assert [out[k].scores["arte.rank"] for k in ("right", "wrong", "terse")] == [1.0, 3.0, 1.0]
    assert out["right"].scores["arte.gain"] == 0.5
    # Without selection the constant item counts too.
    full = {e.id: e for e in StudentPreference(llm, probe=bank)(drafts)}
    assert full["wrong"].scores["arte.preference"] == pytest.approx(1 / 5)
    assert discrimination([[1, 0], [1, 1], [1, 0]])[0] == 0.0


def test_arte_loglik_measure_scores_reference_likelihood():
    class LikesWorkedDemos(EchoLLM):
        def loglikelihood(self, requests):
            return [Loglikelihood(logprob=-1.0 if any("=" in m["content"] for m in r.messages[:-1]) else -3.0, is_greedy=False, n_tokens=1)
                    for r in requests]

    drafts = [ex("What is 1 + 1?", "1 + 1 = 2", id="worked"), ex("What is 1 + 1?", "2", id="bare")]
    out = {e.id: e for e in StudentPreference(LikesWorkedDemos(), probe=PROBE, measure="loglik")(drafts)}
    assert out["worked"].scores["arte.preference"] == -1.0 and out["bare"].scores["arte.preference"] == -3.0
    assert out["worked"].scores["arte.gain"] == 2.0


# -- a real model ----------------------------------------------------------------------------


@pytest.mark.integration
def test_perplexity_on_the_builtin_smollm2_model():
    """Loads builtin:smollm2-135m-instruct (a few seconds once converted): a fitting answer
    is likelier than an unrelated one, and perplexities are plausible numbers."""
    pytest.importorskip("torch")
    from syllabus.llm import load_llm

    llm = load_llm("builtin:smollm2-135m-instruct", dtype="float32", batch_size=2, progress=False)
    rows = [ex("What is the capital of France?", "The capital of France is Paris."),
            ex("What is the capital of France?", "Bananas orbit quietly under purple staircases.")]
    fitting, unrelated = ResponsePerplexity(llm)(rows)
    assert 1.0 < fitting.scores["quality.perplexity"] < unrelated.scores["quality.perplexity"]


@pytest.mark.parametrize(
    "name",
    ["instructmining", "judge", "verify", "stepwise", "probe", "lbt", "arte"],
)
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"syllabus.curate.scorers.{name}"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
