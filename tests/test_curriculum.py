"""Curricula: every scheduler on its exact sequence, the difficulty estimators, ``syllabus order``."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from syllabus.cli import main
from syllabus.curriculum import get_curriculum, read_stages, write_stages
from syllabus.curriculum.difficulty import JudgeGap, PassAtK, StudentLoss, parse_rating
from syllabus.curriculum.pacing import allocate, cyclical_fractions, escalation_shares, replay_weights, weighted_sample
from syllabus.errors import ConfigError
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.record import Example


def ex(i, **kwargs):
    scores = kwargs.pop("scores", {})
    return Example.from_prompt(f"q{i}", id=f"e{i:02d}", scores=scores, **kwargs)


# -- pacing ---------------------------------------------------------------------------------------------
def test_cyclical_fractions_follow_the_paper_and_stop_inside_the_budget():
    assert cyclical_fractions(budget=4.0) == [0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 1.0]
    assert sum(cyclical_fractions(budget=4.0)) <= 4.0 < sum(cyclical_fractions(budget=4.0)) + 0.5
    assert cyclical_fractions(0.1, 0.8, 0.5, 2.0) == [0.1, 0.2, 0.4, 0.8, 0.4]
    with pytest.raises(ConfigError, match="alpha"):
        cyclical_fractions(alpha=1.5)


def test_replay_weights_decrease_with_age_and_allocation_fills_the_budget():
    for kind in ("power-law", "exponential"):
        w = replay_weights([0, 1, 2, 3], now=4, kind=kind, alpha=0.7)
        assert w == sorted(w) and len(set(w)) == 4  # older rounds weigh less
    assert replay_weights([0, 1], now=2, kind="uniform") == [1.0, 1.0]
    assert allocate(10, [1, 2, 2]) == [2, 4, 4]
    assert sum(allocate(11, [0.3, 0.3, 0.4])) == 11
    assert allocate(9, [1, 1, 1], capacity=[1, 100, 100]) == [1, 4, 4]
    assert allocate(50, [1, 1], capacity=[3, 4]) == [3, 4]


def test_weighted_sample_draws_in_proportion_to_weight():
    from scipy.stats import chisquare

    rng = random.Random(0)
    counts = Counter(weighted_sample("abc", [1, 2, 7], 1, rng)[0] for _ in range(4000))
    assert chisquare([counts[c] for c in "abc"], [400, 800, 2800]).pvalue > 0.01
    assert sorted(weighted_sample("abcd", [1, 0, 1, 1], 3, rng)) == ["a", "c", "d"]


def test_escalation_shares_rise():
    assert escalation_shares(3) == [0.2, 0.5, 0.8]
    assert escalation_shares(1) == [0.8]


# -- orderings ------------------------------------------------------------------------------------------
def test_easy_to_hard_sorts_by_the_score_and_cuts_equal_stages():
    items = [ex(i, scores={"difficulty.loss": loss}) for i, loss in enumerate([3.0, 1.0, 2.0, 0.5, 2.0, 9.0])]
    stages = get_curriculum("easy-to-hard", {"stages": 3}).order(items)
    assert [[e.id for e in s.examples] for s in stages] == [["e03", "e01"], ["e02", "e04"], ["e00", "e05"]]
    lower = get_curriculum("easy-to-hard", {"stages": 1, "harder": "lower"}).order(items)
    assert [e.id for e in lower[0].examples] == ["e05", "e00", "e02", "e04", "e01", "e03"]
    with pytest.raises(ConfigError, match="no score 'difficulty.loss'.*syllabus order --difficulty"):
        get_curriculum("easy-to-hard").order([ex(0)])


def test_escalation_mixes_a_rising_share_of_hard_examples():
    items = [ex(i, scores={"difficulty.loss": float(i)}) for i in range(30)]
    stages = get_curriculum("escalation", {"stages": 3, "start": 0.2, "end": 0.8}).order(items)
    hard = [sum(e.scores["difficulty.loss"] >= 15 for e in s.examples) for s in stages]
    assert hard == [2, 5, 8] and [len(s.examples) for s in stages] == [10, 10, 10]
    assert sorted(e.id for s in stages for e in s.examples) == sorted(e.id for e in items)


def test_cyclical_stage_sizes_follow_the_fractions_and_favour_low_loss():
    items = [ex(i, scores={"difficulty.loss": 0.1 if i < 10 else 10.0}) for i in range(40)]
    stages = get_curriculum("cyclical", {"epochs": 2.0}).order(items)
    assert [len(s.examples) for s in stages] == [10, 20, 40]
    assert sum(e.scores["difficulty.loss"] < 1 for e in stages[0].examples) >= 8  # weight 1/loss: easy first
    assert all(len({e.id for e in s.examples}) == len(s.examples) for s in stages)  # without replacement


def bloom_items():
    rows = [
        ("school", "maths", "fractions", "apply"),
        ("school", "maths", "fractions", "remember"),
        ("school", "maths", "angles", "understand"),
        ("school", "physics", "force", "analyze"),
        ("school", "physics", "force", "remember"),
        ("university", "maths", "groups", 2),
        ("university", "physics", "fields", 1),
        ("university", "physics", "fields", 3),
    ]
    return [ex(i, meta={"stage": s, "subject": sub, "concept": c, "bloom": b}) for i, (s, sub, c, b) in enumerate(rows)]


def test_global_interleave_exact_order_and_invariants():
    items = bloom_items()
    cfg = {"stage_order": ["school", "university"]}
    stages = get_curriculum("global-interleave", cfg).order(list(reversed(items)))
    order = [[e.id for e in s.examples] for s in stages]
    # school: maths (angles, fractions in turn) and physics alternate; Bloom rises within a concept.
    assert order == [["e02", "e04", "e01", "e03", "e00"], ["e05", "e06", "e07"]]
    flat = [e for s in stages for e in s.examples]
    assert sorted(e.id for e in flat) == sorted(e.id for e in items)  # a permutation
    school = stages[0].examples
    assert [e.meta["subject"] for e in school[:4]] == ["maths", "physics", "maths", "physics"]


def test_blocking_round_robin_and_random_baselines():
    items = bloom_items()
    blocked = get_curriculum("blocking", {"stage_order": ["school", "university"]}).order(items)[0].examples
    assert [e.id for e in blocked] == ["e02", "e01", "e00", "e04", "e03", "e05", "e06", "e07"]
    rr = get_curriculum("round-robin").order(items)[0].examples
    assert [e.meta["subject"] for e in rr[:6]] == ["maths", "physics"] * 3
    a = get_curriculum("random", {"seed": 1}).order(items)[0].examples
    b = get_curriculum("random", {"seed": 1}).order(list(reversed(items)))[0].examples
    assert [e.id for e in a] == [e.id for e in b] and sorted(e.id for e in a) == sorted(e.id for e in items)


def test_skill_mix_counts_and_spreads_skills():
    items = [ex(i, meta={"skill": "math" if i < 20 else "format"}) for i in range(30)]
    (stage,) = get_curriculum("skill-mix", {"weights": {"math": 2, "format": 1}, "total": 15}).order(items)
    skills = [e.meta["skill"] for e in stage.examples]
    assert Counter(skills) == {"math": 10, "format": 5}
    longest = max(len(run) for run in "".join("m" if s == "math" else "f" for s in skills).split("f"))
    assert longest <= 2  # no block of one skill
    with pytest.raises(ConfigError, match="no examples: cooking"):
        get_curriculum("skill-mix", {"weights": {"cooking": 1}}).order(items)


def test_replay_rehearses_earlier_rounds_by_power_law():
    earlier = [[ex(100 * r + i) for i in range(20)] for r in range(3)]
    current = [ex(i) for i in range(20)]
    (stage,) = get_curriculum("replay", {"budget": 12, "alpha": 1.0}).order(current, earlier)
    replayed = Counter(e.meta.get("order.replayed_from_round") for e in stage.examples)
    # weights 1/4, 1/3, 1/2 -> 12 split as 2.77, 3.69, 5.54 -> 3, 4, 5 by largest remainder
    assert replayed == {None: 20, 0: 3, 1: 4, 2: 5}
    assert stage.info["replayed"] == {"r00": 3, "r01": 4, "r02": 5}


def test_write_and_read_stages_round_trip(tmp_path):
    stages = get_curriculum("random", {"stages": 2}).order([ex(i) for i in range(5)])
    write_stages(stages, tmp_path, {"curriculum": "random"})
    back = read_stages(tmp_path)
    assert [[e.id for e in s] for s in back] == [[e.id for e in s.examples] for s in stages]
    assert back[1][0].meta["order.stage"] == 1 and back[1][0].meta["order.position"] == 0
    assert json.loads((tmp_path / "order.json").read_text())["stages"][0]["examples"] == 2


# -- difficulty estimators --------------------------------------------------------------------------------
def test_student_loss_scores_the_completion_per_token():
    short, long_ = StudentLoss(EchoLLM())([ex(0, completion="four"), ex(1, completion="four five six seven")])
    assert long_.meta["difficulty.loss_tokens"] == 4
    assert short.scores["difficulty.loss"] > 0 and short.meta["difficulty.loss_tokens"] == 1
    (skipped,) = StudentLoss(EchoLLM())([ex(2)])
    assert "difficulty.loss" not in skipped.scores and skipped.meta["difficulty.skipped"]


def test_pass_at_k_verifies_each_sample_against_the_reference():
    def student(request):
        return "The answer is 4." if request.sample_index % 2 == 0 else "The answer is 5."

    (item,) = PassAtK(FunctionLLM(student), k=4)([ex(0, reference="4")])
    assert item.scores["difficulty.pass_rate"] == 0.5 and item.scores["difficulty.pass_any"] == 1.0


def test_judge_gap_is_teacher_minus_student_rating():
    def judge(request):
        return "9" if "teacher's fine answer" in request.messages[-1]["content"] else "Rating: 3/10"

    (item,) = JudgeGap(FunctionLLM(lambda r: "dunno"), FunctionLLM(judge))([ex(0, completion="teacher's fine answer")])
    assert item.scores["difficulty.mfd"] == 6.0 and item.meta["difficulty.student_answer"] == "dunno"
    assert parse_rating("I'd say 7.") == 7.0 and parse_rating("no idea") is None


# -- the command ------------------------------------------------------------------------------------------
def test_order_command_estimates_difficulty_and_writes_stages(tmp_path, capsys):
    data = tmp_path / "kept.jsonl"
    data.write_text("".join(ex(i, completion=" ".join(["w"] * (i + 1))).to_json() + "\n" for i in range(6)))
    out = tmp_path / "run"
    argv = [
        "order",
        "--in",
        str(data),
        "--curriculum",
        "easy-to-hard",
        "--set",
        "stages=2",
        "--difficulty",
        "student-loss",
        "--student",
        "fake:echo",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    stages = read_stages(out / "r00" / "03_order")
    assert [len(s) for s in stages] == [3, 3]
    losses = [e.scores["difficulty.loss"] for s in stages for e in s]
    assert losses == sorted(losses)
    assert "6 examples in 2 stages" in " ".join(capsys.readouterr().out.split())
    assert main(["order", "--in", str(data), "--curriculum", "easy-to-hard", "--out", str(out)]) == 2
    assert "compute it first" in capsys.readouterr().err
