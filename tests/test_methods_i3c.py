"""I³C: splitting, flagging planted irrelevant sentences without any LLM, verification, nesting."""

from __future__ import annotations

import pytest

from syllabus.curate.embed import HashingEmbedder
from syllabus.errors import ConfigError
from syllabus.evaluate.tasks.arith_ic import ArithIC
from syllabus.llm.base import GenerateRequest
from syllabus.llm.fake import FunctionLLM
from syllabus.methods import build_method
from syllabus.methods.i3c import I3C, _problem_part, flag_conditions, split_problem
from syllabus.methods.sampling import SelfConsistency


def flag_counts(examples, embedder, **rule):
    """(true positives, false positives, false negatives) of flagged planted sentences."""
    tp = fp = fn = 0
    for e in examples:
        problem = _problem_part(e.messages[-1]["content"])[1]
        conditions, _ = split_problem(problem)
        planted = e.meta["arith_ic.distractor"]
        for condition, flagged in zip(conditions, flag_conditions(problem, embedder, **rule), strict=True):
            tp += flagged and condition == planted
            fp += flagged and condition != planted
            fn += (not flagged) and condition == planted
    return tp, fp, fn


def test_split_finds_every_planted_sentence_as_a_condition():
    for e in ArithIC(n_base=20).load():
        head, problem = _problem_part(e.messages[-1]["content"])
        conditions, question = split_problem(problem)
        assert head.startswith("Solve the math word problem") and question.endswith("?")
        if e.meta["arith_ic.distractor"]:
            assert conditions[e.meta["arith_ic.distractor_index"]] == e.meta["arith_ic.distractor"]
    assert split_problem("Problem: Ana pays $3.50 for tea. How much is left?") == (["Ana pays $3.50 for tea."], "How much is left?")


def test_planted_irrelevant_sentences_are_flagged_without_any_llm():
    # A deterministic bag-of-words embedding (no model). It knows no meaning, only shared
    # words, so a distractor that reuses the hero's name is harder; the thresholds below
    # are what this rule reaches with it on 40 base problems x 8 variants (+ 40 clean).
    examples = ArithIC(n_base=40).load()
    bow = HashingEmbedder()
    tp, fp, fn = flag_counts(examples, bow)
    recall, precision = tp / (tp + fn), tp / (tp + fp)
    assert recall >= 0.7 and precision >= 0.75, (recall, precision)
    new_name = [e for e in examples if e.meta["arith_ic.role"] == "new_name"]
    tp, fp, fn = flag_counts(new_name, bow)
    assert tp / (tp + fn) >= 0.8
    # the paper's threshold rule trades precision for recall as theta grows
    low = flag_counts(examples, bow, rule="threshold", theta=0.1)
    high = flag_counts(examples, bow, rule="threshold", theta=0.3)
    assert high[0] / (high[0] + high[2]) > 0.95 > low[0] / (low[0] + low[2])
    with pytest.raises(ConfigError, match="lowest or threshold"):
        flag_conditions("A b. C d. E?", bow, rule="mean")


PROBLEM = (
    "Solve it and end with \"The answer is N.\"\n\nProblem: Ana buys 3 pens at $2 each. "
    "The moon is far away. Ana buys a bag for $5. How much does Ana spend on pens and a bag?"
)


def solver(request: GenerateRequest) -> str:
    text = request.render_plain()
    if "needed to answer this question" in text:  # the verification call
        return "Irrelevant" if "moon" in text else "Relevant"
    return "6 + 5 = 11. The answer is 11." if "must be ignored" in text else "The answer is 0."


def test_i3c_verifies_flags_and_instructs_the_inner_method():
    llm = FunctionLLM(solver)
    out = I3C(llm, embedder=HashingEmbedder()).generate([GenerateRequest.chat([{"role": "user", "content": PROBLEM}])])[0]
    assert out.trace["flagged"] == ["The moon is far away."] and out.trace["ignored"] == ["The moon is far away."]
    assert out.text == "6 + 5 = 11. The answer is 11." and out.requests == 2
    sent = llm.history[-1].messages[-1]["content"]
    assert sent.startswith('Some sentences in this problem are irrelevant') and '"The moon is far away."' in sent
    assert sent.endswith(PROBLEM)


def test_a_condition_verified_relevant_is_not_ignored_and_verify_false_trusts_flags():
    keeps = FunctionLLM(lambda r: "Relevant" if "needed to answer" in r.messages[-1]["content"] else r.messages[-1]["content"])
    out = I3C(keeps, embedder=HashingEmbedder()).generate([GenerateRequest.chat([{"role": "user", "content": PROBLEM}])])[0]
    assert out.trace["ignored"] == [] and out.text.startswith("Feel free to ignore irrelevant information")
    trusting = FunctionLLM(solver)
    out = I3C(trusting, embedder=HashingEmbedder(), verify=False).generate([GenerateRequest(prompt=PROBLEM)])[0]
    assert out.requests == 1 and out.trace["ignored"] == ["The moon is far away."]


def test_i3c_nests_outside_self_consistency_and_keys_on_its_encoder():
    llm = FunctionLLM(solver)
    m = build_method("i3c+self-consistency:k=3", llm, embedder=HashingEmbedder())
    assert isinstance(m, I3C) and isinstance(m.inner, SelfConsistency)
    out = m.generate([GenerateRequest.chat([{"role": "user", "content": PROBLEM}])])[0]
    # one verification on the plain model (not voted on), then three samples
    assert out.requests == 1 + 3 and out.trace["inner"]["votes"] == {"11": 3}
    assert "fake:bow-256" in m.cache_id
    assert build_method("i3c:encoder=fake:bow", llm).cache_id != build_method("i3c", llm).cache_id
