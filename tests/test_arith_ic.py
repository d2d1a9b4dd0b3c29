"""The arith-ic task on fakes: data construction, scoring, GSM-IC aggregates, the evaluator."""

from __future__ import annotations

import doctest
import itertools
import json
import re
from collections import Counter, defaultdict

import pytest

import syllabus.evaluate.tasks.arith_ic as arith_ic_module
from syllabus import ConfigError
from syllabus.evaluate.runner import evaluate
from syllabus.evaluate.task import TASKS, get_task
from syllabus.evaluate.tasks.arith_ic import (
    FACTORS,
    INSTRUCTION,
    NAMES,
    TEMPLATES,
    ArithIC,
    cluster_bootstrap,
    make_base_problems,
    split_of,
)
from syllabus.llm.base import Generation
from syllabus.llm.fake import FunctionLLM
from syllabus.record import Example

NS = "arith-ic"


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.?!])\s+(?=[A-Z])", text.strip())


def problem_of(example: Example) -> str:
    return example.meta["arith_ic.problem"]


def by_base(examples: list[Example]) -> dict[str, list[Example]]:
    groups: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        groups[e.meta["arith_ic.base_id"]].append(e)
    return groups


def answering(examples: list[Example], rule) -> FunctionLLM:
    """A fake model that answers each prompt with ``rule(example)``; the example is found by its prompt."""
    table = {e.prompt: e for e in examples}
    return FunctionLLM(lambda request: rule(table[request.messages[-1]["content"]]))


def score_all(task: ArithIC, examples: list[Example], rule) -> list[Example]:
    """Score every example with ``rule``'s reply, the way the evaluator writes scores."""
    scored = []
    for e in examples:
        out = Example.from_dict(e.to_dict())
        out.completion = rule(e)
        for metric, value in task.score(e, [Generation(text=out.completion)]).items():
            out.set_score(task.namespace, metric, value)
        scored.append(out)
    return scored


def right(example: Example) -> str:
    return f"Let me work it out. The answer is {example.reference}."


def wrong(example: Example) -> str:
    return f"The answer is {int(example.reference) + 1}."


def is_clean(example: Example) -> bool:
    return example.meta["arith_ic.variant"] == "clean"


# -- data -------------------------------------------------------------------------------------


def test_docstring_examples():
    assert doctest.testmod(arith_ic_module, optionflags=doctest.ELLIPSIS).failed == 0


def test_registered_lazily_and_configurable():
    assert "arith-ic" in TASKS.names()
    task = get_task("arith-ic", n_base=3, split="train", seed=5, variants=False)
    assert (task.n_base, task.split, task.seed, task.variants, task.max_tokens) == (3, "train", 5, False, 128)
    assert len(task.load()) == 3
    with pytest.raises(ConfigError):
        get_task("arith-ic", split="dev")
    with pytest.raises(ConfigError, match="n_base"):
        ArithIC(n_base=0)


def test_same_seed_same_examples_and_different_seed_different():
    a = [e.to_dict() for e in ArithIC(n_base=20, seed=3).load()]
    b = [e.to_dict() for e in ArithIC(n_base=20, seed=3).load()]
    c = [e.to_dict() for e in ArithIC(n_base=20, seed=4).load()]
    assert a == b
    assert [e["messages"] for e in a] != [e["messages"] for e in c]
    assert {e["id"] for e in a} != {e["id"] for e in c}


def test_more_base_problems_extend_fewer_and_variants_do_not_change_bases():
    small, large = ArithIC(n_base=10).load(), ArithIC(n_base=20).load()
    assert [e.to_dict() for e in small] == [e.to_dict() for e in large[: len(small)]]
    clean_only = ArithIC(n_base=10, variants=False).load()
    assert [e.to_dict() for e in clean_only] == [e.to_dict() for e in small if is_clean(e)]


def test_train_and_test_base_problems_never_overlap():
    test_keys = {p.key for seed in range(3) for p in make_base_problems(60, seed, "test")}
    train_keys = {p.key for seed in range(3) for p in make_base_problems(60, seed, "train")}
    assert test_keys and train_keys and not test_keys & train_keys
    assert all(split_of(p) == "test" for p in make_base_problems(60, 0, "test"))
    # The split ignores names: a problem's key holds only its template and numbers.
    problem = make_base_problems(1)[0]
    assert problem.hero not in problem.key
    # The evaluated problems' texts differ too, and every example records its split.
    test_texts = {problem_of(e) for e in ArithIC(n_base=40).load()}
    train = ArithIC(n_base=40, split="train").load()
    assert not test_texts & {problem_of(e) for e in train}
    assert {e.meta["split"] for e in train} == {"train"}


def test_templates_are_many_distinct_and_answers_are_computed():
    assert len(TEMPLATES) >= 12
    problems = make_base_problems(len(TEMPLATES) * 4)
    assert {p.template for p in problems} == set(TEMPLATES)
    assert len({p.key for p in problems}) == len(problems)
    for p in problems:
        assert isinstance(p.answer, int) and p.answer > 0
        assert p.hero in p.text and all(str(n) in p.text for n in p.numbers)
        assert p.solution.endswith(f"The answer is {p.answer}.")
        # The worked solution's last equation gives the answer.
        assert re.findall(r"= (\d+)", p.solution)[-1] == str(p.answer)


def test_each_base_has_clean_plus_all_eight_factor_combinations():
    examples = ArithIC(n_base=16).load()
    groups = by_base(examples)
    assert len(groups) == 16 and len(examples) == 16 * 9
    combos = set(itertools.product(*FACTORS.values()))
    for group in groups.values():
        assert is_clean(group[0])  # clean first, so a limit keeps whole groups when it can
        variants = group[1:]
        assert {(e.meta["arith_ic.topic"], e.meta["arith_ic.role"], e.meta["arith_ic.number"]) for e in variants} == combos
        assert len({e.id for e in group}) == 9


def test_every_variant_adds_exactly_one_sentence_and_keeps_the_answer():
    for group in by_base(ArithIC(n_base=32).load()).values():
        clean, variants = group[0], group[1:]
        base = sentences(problem_of(clean))
        for v in variants:
            assert v.reference == clean.reference
            assert v.prompt.startswith(INSTRUCTION)
            text = sentences(problem_of(v))
            assert len(text) == len(base) + 1
            inserted = v.meta["arith_ic.distractor_index"]
            assert text[inserted] == v.meta["arith_ic.distractor"]
            assert text[:inserted] + text[inserted + 1 :] == base
            assert 1 <= inserted <= len(base) - 1  # after the first sentence, before the question
            assert text[-1].endswith("?")


def test_factor_levels_mean_what_they_say():
    for group in by_base(ArithIC(n_base=32).load()).values():
        clean = group[0]
        words = set(re.findall(r"[A-Z][a-z]+", problem_of(clean)))
        problem_numbers = [int(n) for n in re.findall(r"\d+", problem_of(clean))]
        for v in group[1:]:
            sentence, value = v.meta["arith_ic.distractor"], v.meta["arith_ic.distractor_number"]
            named = [n for n in NAMES if re.search(rf"\b{n}\b", sentence)]
            assert len(named) == 1
            if v.meta["arith_ic.role"] == "same_name":
                assert named[0] in words
            else:
                assert named[0] not in words
            assert str(value) in sentence
            if v.meta["arith_ic.number"] == "in_range":
                assert min(problem_numbers) <= value <= max(problem_numbers) or value <= 2 * max(problem_numbers) + 1
                assert value != int(v.reference) and value not in problem_numbers
            else:
                assert value >= max(1000, 10 * max(problem_numbers))


# -- scoring ----------------------------------------------------------------------------------


def test_score_strict_flexible_and_compliance():
    task = ArithIC(n_base=1)
    example = task.load()[0]
    ref = example.reference

    def score(text):
        return task.score(example, [Generation(text=text)])

    assert score(f"The answer is {ref}.") == {"strict_acc": 1.0, "flexible_acc": 1.0, "format_compliance": 1.0}
    assert score(f"So it is {ref}.") == {"strict_acc": 0.0, "flexible_acc": 1.0, "format_compliance": 0.0}
    assert score(f"The answer is {int(ref) + 1}. Oops, {ref}.") == {"strict_acc": 0.0, "flexible_acc": 1.0, "format_compliance": 1.0}
    assert score("I do not know.") == {"strict_acc": 0.0, "flexible_acc": 0.0, "format_compliance": 0.0}


def test_a_perfect_model_scores_one_everywhere():
    task = ArithIC(n_base=12)
    metrics = task.aggregate(score_all(task, task.load(), right))
    values = {name: m["value"] for name, m in metrics.items()}
    assert set(values.values()) == {1.0}
    for mode in ("strict", "flexible"):
        for stat in ("clean", "micro", "macro", "normalized"):
            assert f"{mode}.{stat}_acc" in values
        for levels in FACTORS.values():
            for level in levels:
                assert values[f"{mode}.{level}_acc"] == 1.0
    assert metrics["strict.micro_acc"]["n"] == 12  # CIs count base problems, not examples
    assert metrics["strict.clean_acc"]["method"] == "wilson"
    assert metrics["strict.micro_acc"]["method"] == "cluster-bootstrap+wilson"
    assert metrics["strict.micro_acc"]["low"] < 1.0  # all right, yet the interval stays open
    assert metrics["strict.normalized_acc"]["method"] == "cluster-bootstrap"


def test_right_only_on_clean_problems_gives_macro_zero_and_normalized_zero():
    task = ArithIC(n_base=12)
    scored = score_all(task, task.load(), lambda e: right(e) if is_clean(e) else wrong(e))
    m = task.aggregate(scored)
    assert m["strict.clean_acc"]["value"] == 1.0
    assert m["strict.micro_acc"]["value"] == 0.0
    assert m["strict.macro_acc"]["value"] == 0.0
    assert m["strict.normalized_acc"]["value"] == 0.0
    assert m["strict_acc"]["value"] == pytest.approx(1 / 9)


def test_off_topic_only_fake_breaks_down_per_factor():
    """Right on clean problems and off-topic variants, wrong on in-topic ones."""
    task = ArithIC(n_base=12)
    rule = lambda e: wrong(e) if e.meta["arith_ic.topic"] == "in_topic" else right(e)  # noqa: E731
    m = task.aggregate(score_all(task, task.load(), rule))
    assert m["strict.micro_acc"]["value"] == 0.5
    assert m["strict.normalized_acc"]["value"] == 0.5
    assert m["strict.macro_acc"]["value"] == 0.0
    assert (m["strict.in_topic_acc"]["value"], m["strict.off_topic_acc"]["value"]) == (0.0, 1.0)
    for level in ("same_name", "new_name", "in_range", "out_of_range"):
        assert m[f"strict.{level}_acc"]["value"] == 0.5


def test_normalized_accuracy_is_micro_over_clean():
    task = ArithIC(n_base=20)
    examples = task.load()
    # Clean: right on even-numbered bases only (10 of 20); variants: right on the first 2 of 8.
    bases = list(by_base(examples))

    def rule(e):
        if is_clean(e):
            return right(e) if bases.index(e.meta["arith_ic.base_id"]) % 2 == 0 else wrong(e)
        return right(e) if e.meta["arith_ic.variant"].startswith("in_topic/same_name") else wrong(e)

    m = task.aggregate(score_all(task, examples, rule))
    assert m["strict.clean_acc"]["value"] == 0.5
    assert m["strict.micro_acc"]["value"] == 0.25
    assert m["strict.normalized_acc"]["value"] == pytest.approx(0.5)
    low, high = m["strict.normalized_acc"]["low"], m["strict.normalized_acc"]["high"]
    assert low <= 0.5 <= high


def test_normalized_accuracy_is_null_when_clean_accuracy_is_zero():
    task = ArithIC(n_base=4)
    m = task.aggregate(score_all(task, task.load(), wrong))
    assert m["strict.normalized_acc"] == {"undefined": "clean accuracy is 0, so micro / clean has no value"}
    json.dumps(m, allow_nan=False)  # reports stay JSON (no NaN)


def test_right_number_without_marker_is_strict_zero_flexible_one():
    task = ArithIC(n_base=6)
    m = task.aggregate(score_all(task, task.load(), lambda e: f"I think it is {e.reference}"))
    assert m["strict_acc"]["value"] == 0.0 and m["format_compliance"]["value"] == 0.0
    assert m["flexible_acc"]["value"] == 1.0
    assert m["strict.micro_acc"]["value"] == 0.0 and m["flexible.micro_acc"]["value"] == 1.0
    assert m["flexible.normalized_acc"]["value"] == 1.0 and "undefined" in m["strict.normalized_acc"]


def test_clean_only_task_reports_clean_accuracy_only():
    task = ArithIC(n_base=5, variants=False)
    m = task.aggregate(score_all(task, task.load(), right))
    assert m["strict.clean_acc"]["value"] == 1.0
    assert "strict.micro_acc" not in m and "strict.macro_acc" not in m


def test_a_limit_that_cuts_a_base_problem_short_leaves_it_out_of_macro():
    task = ArithIC(n_base=5)
    examples = task.load()[:40]  # 4 whole base problems and 4 examples of the fifth
    m = task.aggregate(score_all(task, examples, right))
    assert m["strict.macro_acc"]["n"] == 4
    assert m["strict.micro_acc"]["n"] == 5


def test_cluster_bootstrap_interval_resamples_base_problems():
    rows = [[8, 8]] * 10 + [[0, 8]] * 10
    est = cluster_bootstrap(rows, lambda s: s[..., 0] / s[..., 1])
    assert est.value == 0.5 and est.n == 20
    # 20 independent clusters: the interval is about +-0.22, far wider than 160 independent items' +-0.08.
    assert 0.15 < est.high - 0.5 < 0.3 and 0.15 < 0.5 - est.low < 0.3
    assert cluster_bootstrap(rows, lambda s: s[..., 0] / s[..., 1]) == est  # seeded


def test_fewshot_demonstrations_come_from_train_with_worked_solutions():
    task = ArithIC(n_base=2, num_fewshot=2)
    example = task.load()[0]
    messages = task.prompt(example)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert re.search(r"The answer is \d+\.$", messages[1]["content"])
    test_texts = {problem_of(e) for e in ArithIC(n_base=40).load()}
    assert not any(m["content"].split("Problem: ")[-1] in test_texts for m in messages[:-1] if m["role"] == "user")


# -- through the evaluator --------------------------------------------------------------------


def test_evaluate_with_a_fake_writes_all_metrics(tmp_path):
    task = ArithIC(n_base=4)
    examples = task.load()
    # Right everywhere except on out-of-range variants, and never with the marker on those.
    llm = answering(examples, lambda e: f"It is {int(e.reference) + 1}." if e.meta["arith_ic.number"] == "out_of_range" else right(e))
    report = evaluate(llm, [task], tmp_path, shard_size=10)
    section = report["tasks"]["arith-ic"]
    assert section["n"] == 36 and section["version"] == ArithIC.version
    assert section["decoding"]["max_tokens"] == 128 and section["decoding"]["temperature"] == 0.0
    metrics = section["metrics"]
    expected = {"strict_acc", "flexible_acc", "format_compliance"}
    for mode in ("strict", "flexible"):
        expected |= {f"{mode}.{s}_acc" for s in ("clean", "micro", "macro", "normalized")}
        expected |= {f"{mode}.{level}_acc" for levels in FACTORS.values() for level in levels}
    assert set(metrics) == expected
    assert metrics["strict.in_range_acc"]["value"] == 1.0 and metrics["strict.out_of_range_acc"]["value"] == 0.0
    assert metrics["strict.micro_acc"]["value"] == 0.5 and metrics["strict.macro_acc"]["value"] == 0.0
    assert metrics["format_compliance"]["value"] == pytest.approx(20 / 36)
    assert all({"value", "low", "high", "n", "method"} <= set(m) for m in metrics.values())
    json.dumps(report, allow_nan=False)
    samples = [json.loads(line) for line in (tmp_path / "samples" / f"{NS}.jsonl").read_text().splitlines()]
    assert len(samples) == 36 and Counter(s["meta"]["arith_ic.variant"] for s in samples)["clean"] == 4
    assert set(samples[0]["scores"]) == {f"{NS}.strict_acc", f"{NS}.flexible_acc", f"{NS}.format_compliance"}
    json.loads((tmp_path / "report.json").read_text())  # strict JSON on disk


def test_evaluate_respects_limit(tmp_path):
    task = get_task("arith-ic", n_base=40, limit=18)
    llm = answering(task.load(), right)
    report = evaluate(llm, [task], tmp_path)
    assert report["tasks"]["arith-ic"]["n"] == 18
    assert report["tasks"]["arith-ic"]["metrics"]["strict.macro_acc"]["n"] == 2


def test_intervals_widen_when_variants_of_a_problem_fail_together():
    task = ArithIC(n_base=20)
    examples = task.load()
    bases = list(by_base(examples))
    # Half the base problems entirely right, half entirely wrong: 20 independent units, not 160.
    scored = score_all(task, examples, lambda e: right(e) if bases.index(e.meta["arith_ic.base_id"]) < 10 else wrong(e))
    micro = task.aggregate(scored)["strict.micro_acc"]
    assert micro["value"] == 0.5
    assert micro["high"] - micro["low"] > 0.3  # Wilson over 160 independent examples would give ~0.15
