"""The pairwise task and its judge prompt/parser pair, on fakes: verdict parsing, position
bias, length bias and its correction, parse failures, baselines from samples files, the
evaluator and the CLI."""

from __future__ import annotations

import doctest
import hashlib
import json
import math
import random
from pathlib import Path

import pytest

from syllabus import ConfigError, Example
from syllabus.cli import main
from syllabus.errors import DataError
from syllabus.evaluate import judge as judge_module
from syllabus.evaluate.judge import (
    JudgeInputs,
    build_judge_messages,
    instruction_text,
    parse_judge_prompt,
    parse_verdict,
)
from syllabus.evaluate.runner import AnswerAndScore, evaluate
from syllabus.evaluate.task import TASKS, Scored, get_task
from syllabus.evaluate.tasks import pairwise as pairwise_module
from syllabus.evaluate.tasks.pairwise import Pairwise, default_prompts
from syllabus.jsonl import read_jsonl, write_jsonl
from syllabus.llm import BACKENDS
from syllabus.llm.base import Capabilities, GenerateRequest, Loglikelihood
from syllabus.llm.fake import EchoLLM, FunctionLLM


@pytest.mark.parametrize("module", [judge_module, pairwise_module])
def test_docstring_examples(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


# -- fakes ------------------------------------------------------------------------------------


def judge_longer(request: GenerateRequest) -> str:
    """A judge that only looks at length: the longer response wins."""
    shown = parse_judge_prompt(request.messages)
    a, b = len(shown.first), len(shown.second)
    return "Verdict: A" if a > b else "Verdict: B" if b > a else "Verdict: tie"


def judge_first(request: GenerateRequest) -> str:
    """A judge with pure position bias: whatever is shown first wins."""
    return "Verdict: A\nThe first response is better."


def uniform(request: GenerateRequest) -> float:
    """A deterministic number in [0, 1) from the request's text (a fake judge's coin)."""
    digest = hashlib.sha256(request.messages[-1]["content"].encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def judge_length_biased(request: GenerateRequest) -> str:
    """Equal quality, noisy judge: P(second wins) grows smoothly with its length lead."""
    shown = parse_judge_prompt(request.messages)
    lead = (len(shown.second) - len(shown.first)) / 100
    p_second = 1 / (1 + math.exp(-3 * math.tanh(lead)))
    return "Verdict: B" if uniform(request) < p_second else "Verdict: A"


def words(request: GenerateRequest, low: int, high: int, word: str = "word") -> str:
    rng = random.Random(request.messages[-1]["content"] + f"{low}-{high}")
    return " ".join([word] * rng.randint(low, high))


def write_prompts(path: Path, n: int) -> Path:
    path.write_text("\n".join(f"Question number {i}?" for i in range(n)) + "\n")
    return path


def scored_examples(task: Pairwise, candidate, tmp_path: Path) -> list[Example]:
    evaluate(candidate, [task], tmp_path)
    return list(read_jsonl(tmp_path / "samples" / "pairwise.jsonl"))


# -- the judge prompt and its parser --------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("Verdict: A", "A"),
        ("verdict: b\nshorter and correct", "B"),
        ("Verdict: tie", "tie"),
        ("**Verdict:** [[A]]", "A"),
        ("Final verdict - Response B.", "B"),
        ("Verdict: Draw", "tie"),
        ("Verdict: neither", "tie"),
        ("The verdict is a tie.", "tie"),
        ("My verdict is that... well. Verdict: B", "B"),
        ("B", "B"),
        ("[[A]]", "A"),
        ("Tie.", "tie"),
        ("Verdict: B\nVerdict: B", "B"),
    ],
)
def test_parse_verdict_reads_common_reply_shapes(reply, label):
    verdict = parse_verdict(reply)
    assert verdict.label == label and verdict.ok and verdict.raw == reply and verdict.error is None


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty judge output"),
        ("Both responses have merit.", "no verdict"),
        ("Verdict: A\nVerdict: B\nVerdict: tie", "conflicting verdicts: A, B, tie"),
        ("Verdict: unclear", "unreadable verdict"),
    ],
)
def test_parse_verdict_failures_keep_raw_text_and_say_why(reply, reason):
    verdict = parse_verdict(reply)
    assert verdict.label is None and not verdict.ok
    assert verdict.raw == reply and reason in (verdict.error or "")


def test_judge_prompt_round_trips_and_echoing_it_is_not_a_verdict():
    messages = build_judge_messages("Explain tides.\n", "The moon pulls water.", "Tides are waves.")
    assert parse_judge_prompt(messages) == JudgeInputs("Explain tides.", "The moon pulls water.", "Tides are waves.")
    # A judge that repeats the prompt (fake:echo) lists every option: that is a failure.
    assert parse_verdict(messages[-1]["content"]).error == "conflicting verdicts: A, B, tie"
    with pytest.raises(DataError, match="not a pairwise judge prompt"):
        parse_judge_prompt([{"role": "user", "content": "hello"}])
    two_turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}]
    assert instruction_text(two_turns) == "system: Be brief.\nuser: Hi."


# -- length bias ----------------------------------------------------------------------------


def test_length_biased_judge_inflates_raw_win_rate_and_lc_corrects_it(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.txt", 200)
    verbose = FunctionLLM(lambda r: words(r, 10, 70), name="verbose")
    concise = FunctionLLM(lambda r: words(r, 5, 40), name="concise")
    task = Pairwise(prompts=str(prompts)).attach(judge=FunctionLLM(judge_length_biased), baseline=concise)
    metrics = evaluate(verbose, [task], tmp_path / "run")["tasks"]["pairwise"]["metrics"]
    assert metrics["win"]["low"] > 0.6  # the judge rewards B's extra length...
    lc = metrics["lc_win"]
    assert lc["beta"] > 1 and abs(lc["value"] - 0.5) < 0.1 and lc["low"] < 0.5 < lc["high"]  # ...LC removes it
    assert lc["raw"] == pytest.approx(metrics["win"]["value"])
    assert metrics["len_b"]["value"] > metrics["len_a"]["value"] and metrics["len_a"]["unit"] == "characters"


def test_lc_keeps_a_real_quality_difference_at_equal_lengths(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.txt", 60)

    def judge_quality(request):  # prefers the response that says "good", whatever its length
        shown = parse_judge_prompt(request.messages)
        return "Verdict: A" if "good" in shown.first else "Verdict: B" if "good" in shown.second else "Verdict: tie"

    better = FunctionLLM(lambda r: words(r, 5, 40, "good"), name="better")
    worse = FunctionLLM(lambda r: words(r, 5, 40, "okay"), name="worse")
    task = Pairwise(prompts=str(prompts)).attach(judge=FunctionLLM(judge_quality), baseline=worse)
    metrics = evaluate(better, [task], tmp_path / "run")["tasks"]["pairwise"]["metrics"]
    assert metrics["win"]["value"] == 1.0 and metrics["lc_win"]["value"] == 1.0


def test_always_longer_judge_with_both_orders(tmp_path):
    task = Pairwise(limit=8).attach(judge=FunctionLLM(judge_longer), baseline=FunctionLLM(lambda r: "ok", name="terse"))
    examples = scored_examples(task, FunctionLLM(lambda r: "a much longer answer", name="verbose"), tmp_path)
    assert [e.scores["pairwise.win"] for e in examples] == [1.0] * 8
    assert all(e.scores["pairwise.consistent"] == 1.0 and e.scores["pairwise.len_a"] == 2.0 for e in examples)


# -- position bias --------------------------------------------------------------------------


def test_both_orders_turn_a_position_biased_judge_into_ties(tmp_path):
    task = Pairwise(limit=10).attach(judge=FunctionLLM(judge_first), baseline=FunctionLLM(lambda r: "A's answer", name="a"))
    report = evaluate(FunctionLLM(lambda r: "B's answer", name="b"), [task], tmp_path)
    metrics = report["tasks"]["pairwise"]["metrics"]
    assert metrics["win"]["value"] == 0.5 and metrics["win"]["n_ties"] == 10
    assert metrics["tie"]["value"] == 1.0 and metrics["consistent"]["value"] == 0.0
    assert "win_decisive" not in metrics  # no decisive pair at all
    sample = next(read_jsonl(tmp_path / "samples" / "pairwise.jsonl"))
    orders = [j["order"] for j in sample.meta["pairwise.judgements"]]
    assert orders == ["baseline-first", "candidate-first"]
    assert [j["preference"] for j in sample.meta["pairwise.judgements"]] == [0.0, 1.0]


def test_one_order_per_pair_is_drawn_from_the_seed(tmp_path):
    def run(seed: int, out: Path) -> list[float]:
        task = Pairwise(limit=30, both_orders=False, seed=seed).attach(
            judge=FunctionLLM(judge_first), baseline=FunctionLLM(lambda r: "a", name="a")
        )
        return [e.scores["pairwise.win"] for e in scored_examples(task, FunctionLLM(lambda r: "b", name="b"), out)]

    first = run(0, tmp_path / "s0")
    assert first == run(0, tmp_path / "s0-again") and first != run(1, tmp_path / "s1")
    assert set(first) == {0.0, 1.0} and 5 < sum(first) < 25  # biased judge, random order: about half


# -- parse failures -------------------------------------------------------------------------


def test_unparseable_judge_replies_are_counted_and_kept_not_fatal(tmp_path):
    def moody(request):  # cannot decide on one prompt, fine on the others
        return "I really cannot say." if "seasons" in request.messages[-1]["content"] else judge_longer(request)

    task = Pairwise(limit=6).attach(judge=FunctionLLM(moody), baseline=FunctionLLM(lambda r: "ok", name="terse"))
    report = evaluate(FunctionLLM(lambda r: "longer answer", name="verbose"), [task], tmp_path)
    metrics = report["tasks"]["pairwise"]["metrics"]
    assert metrics["parse_failed"]["value"] == 1 and metrics["parse_failed"]["n"] == 6
    assert metrics["win"]["n"] == 5 and metrics["win"]["value"] == 1.0
    failed = [e for e in read_jsonl(tmp_path / "samples" / "pairwise.jsonl") if e.scores["pairwise.parse_failed"]]
    assert len(failed) == 1 and "pairwise.win" not in failed[0].scores
    judgements = failed[0].meta["pairwise.judgements"]
    assert judgements[0]["raw"] == "I really cannot say." and judgements[0]["preference"] is None
    assert "no verdict" in judgements[0]["error"]
    assert failed[0].meta["pairwise.baseline_answer"] == "ok" and failed[0].completion == "longer answer"


def test_every_reply_unreadable_still_gives_a_report(tmp_path):
    task = Pairwise(limit=3).attach(judge=EchoLLM(), baseline=EchoLLM())
    metrics = evaluate(EchoLLM(), [task], tmp_path)["tasks"]["pairwise"]["metrics"]
    assert metrics["parse_failed"]["value"] == 3 and "win" not in metrics and "lc_win" not in metrics


# -- baselines --------------------------------------------------------------------------------


def samples_file(path: Path, examples: list[Example], answer) -> Path:
    write_jsonl(path, [Example(id=e.id, messages=e.messages, completion=answer(e)) for e in examples])
    return path


def test_baseline_answers_come_from_a_samples_file_by_id(tmp_path):
    prompts = default_prompts()[:4]
    path = samples_file(tmp_path / "before.jsonl", list(reversed(prompts)), lambda e: f"old answer to {e.id}")
    task = Pairwise(baseline=str(path), limit=4).attach(judge=FunctionLLM(judge_longer))
    examples = scored_examples(task, FunctionLLM(lambda r: "new", name="after"), tmp_path / "run")
    assert [e.meta["pairwise.baseline_answer"] for e in examples] == [f"old answer to {p.id}" for p in prompts]
    assert examples[0].meta["pairwise.baseline"] == f"samples:{path}"
    assert all(e.scores["pairwise.win"] == 0.0 for e in examples)  # the old answers are longer


def test_a_missing_baseline_id_names_the_id_and_the_file_before_any_generation(tmp_path):
    prompts = default_prompts()[:3]
    path = samples_file(tmp_path / "before.jsonl", prompts[:2], lambda e: "x")
    calls = []
    candidate = FunctionLLM(lambda r: calls.append(r) or "y")
    task = Pairwise(baseline=str(path), limit=3).attach(judge=FunctionLLM(judge_longer))
    with pytest.raises(DataError) as err:
        evaluate(candidate, [task], tmp_path / "run")
    assert repr(prompts[2].id) in str(err.value) and str(path) in str(err.value)
    assert calls == []
    with pytest.raises(ConfigError, match="no such file"):
        Pairwise(baseline=str(tmp_path / "nope.jsonl"), judge="fake:echo").load()


def test_a_baseline_that_answered_other_prompts_is_refused(tmp_path):
    prompt = default_prompts()[0]
    other = Example.from_prompt("Something else entirely.", id=prompt.id, completion="z")
    write_jsonl(tmp_path / "before.jsonl", [other])
    with pytest.raises(DataError, match="another prompt"):
        Pairwise(baseline=str(tmp_path / "before.jsonl"), judge="fake:echo", limit=1).load()


def test_after_vs_before_reuses_the_before_runs_answers(tmp_path):
    """Run 1 judges 'before' against a reference; run 2 judges 'after' against run 1's answers."""
    prompts = write_prompts(tmp_path / "prompts.txt", 5)
    judge = FunctionLLM(judge_longer)
    before = FunctionLLM(lambda r: "short", name="before")
    first = Pairwise(prompts=str(prompts)).attach(judge=judge, baseline=FunctionLLM(lambda r: "ref", name="ref"))
    evaluate(before, [first], tmp_path / "before")
    asked = []
    after = FunctionLLM(lambda r: asked.append(r) or "much longer now", name="after")
    second = Pairwise(prompts=str(prompts), baseline=str(tmp_path / "before" / "samples" / "pairwise.jsonl")).attach(judge=judge)
    report = evaluate(after, [second], tmp_path / "after")
    assert len(asked) == 5  # only the new model generated; 'before' was read back
    assert report["tasks"]["pairwise"]["metrics"]["win"]["value"] == 1.0
    assert report["tasks"]["pairwise"]["models"]["baseline"].endswith("pairwise.jsonl")


def test_missing_judge_or_baseline_is_a_config_error_with_the_fix():
    with pytest.raises(ConfigError, match="needs a judge"):
        Pairwise(baseline="fake:echo").load()
    with pytest.raises(ConfigError, match="needs a baseline"):
        Pairwise(judge="fake:echo").load()
    with pytest.raises(ConfigError, match="judge_mode"):
        get_task("pairwise", judge_mode="vote")


# -- judging mechanics ------------------------------------------------------------------------


def test_judge_and_baseline_are_called_once_per_batch(tmp_path):
    judge = FunctionLLM(judge_longer)
    baseline = FunctionLLM(lambda r: "ok", name="base")
    task = Pairwise(limit=6).attach(judge=judge, baseline=baseline)
    evaluate(FunctionLLM(lambda r: "fine", name="b"), [task], tmp_path, batch_size=3)
    assert (judge.calls, baseline.calls, len(judge.history)) == (2, 2, 12)
    # The baseline answers the same prompt, with the same decoding, as the evaluated model.
    assert baseline.history[0].params == task.sampling() and judge.history[0].params.max_tokens == task.judge_max_tokens


class WeightedJudge(EchoLLM):
    """A log-likelihood judge: 'Verdict: B' is 1 nat likelier when B's response is longer."""

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            shown = parse_judge_prompt(r.messages)
            second_longer = len(shown.second) > len(shown.first)
            says_second = r.continuation.endswith("B")
            out.append(Loglikelihood(logprob=-1.0 if says_second == second_longer else -2.0, is_greedy=False, n_tokens=3))
        return out


def test_logprobs_mode_gives_weighted_preferences(tmp_path):
    task = Pairwise(limit=4, judge_mode="logprobs").attach(judge=WeightedJudge(), baseline=FunctionLLM(lambda r: "ok", name="a"))
    examples = scored_examples(task, FunctionLLM(lambda r: "longer", name="b"), tmp_path)
    p = 1 / (1 + math.exp(-1))
    assert [e.scores["pairwise.win"] for e in examples] == pytest.approx([p] * 4)
    logprobs = examples[0].meta["pairwise.judgements"][0]["logprobs"]
    assert logprobs == {"A": -2.0, "B": -1.0}

    class NoScores(EchoLLM):
        capabilities = Capabilities(loglikelihood=False)

    task = Pairwise(limit=1, judge_mode="logprobs").attach(judge=NoScores(), baseline=EchoLLM())
    with pytest.raises(ConfigError, match="log-likelihoods"):
        evaluate(EchoLLM(), [task], tmp_path / "no-scores")


def test_score_returns_scored_with_meta_and_the_runner_stores_it():
    task = Pairwise(limit=1).attach(judge=FunctionLLM(judge_longer), baseline=FunctionLLM(lambda r: "a", name="a"))
    example = task.load()[0]
    result = task.score(example, [FunctionLLM(lambda r: "bb", name="b").generate(task.requests(example))[0]])
    assert isinstance(result, Scored) and result.scores["win"] == 1.0 and result.meta["judge"] == "fake:function"
    out = next(iter(AnswerAndScore(task, FunctionLLM(lambda r: "bb", name="b"))([example])))
    assert out.meta["pairwise.baseline_answer"] == "a" and out.scores["pairwise.win"] == 1.0
    assert "pairwise.win" not in example.scores  # the input example is left alone


def test_describe_records_the_judge_prompt_and_models():
    described = Pairwise(baseline="fake:echo", judge="fake:echo").describe()
    assert described["judge_prompt"]["version"] == judge_module.JUDGE_PROMPT_VERSION
    assert described["judge_prompt"]["hash"] == judge_module.judge_prompt_hash()
    assert described["models"] == {"judge": "fake:echo", "baseline": "fake:echo"}
    assert "pairwise" in TASKS.names()


# -- through the CLI --------------------------------------------------------------------------


@pytest.fixture
def length_judge_backend(monkeypatch):
    """A judge backend registered through the real plugin path: ``lengthjudge:any``."""
    monkeypatch.setattr(BACKENDS, "_entries", dict(BACKENDS._entries))
    calls: list[GenerateRequest] = []

    def load(rest, **options):
        return FunctionLLM(lambda r: calls.append(r) or judge_longer(r), name=f"lengthjudge-{rest}")

    BACKENDS.register("lengthjudge", load)
    return calls


def test_cli_eval_with_pairwise_settings_from_yaml_and_compare(tmp_path, capsys, length_judge_backend):
    prompts = write_prompts(tmp_path / "prompts.txt", 4)
    before = samples_file(
        tmp_path / "before.jsonl",
        [Example.from_prompt(f"Question number {i}?") for i in range(4)],
        lambda e: "ok",
    )
    config = tmp_path / "pairwise.yaml"
    config.write_text(
        "model: fake:echo\n"
        "tasks: [pairwise]\n"
        "task_settings:\n"
        f"  pairwise: {{baseline: {before}, judge: 'lengthjudge:v1', prompts: {prompts}, cache: {tmp_path / 'judge.sqlite'}}}\n"
        f"out: {tmp_path / 'run'}\n"
        "progress: false\n"
    )
    assert main(["eval", "--config", str(config)]) == 0
    report = json.loads((tmp_path / "run" / "r00" / "05_eval" / "report.json").read_text())
    section = report["tasks"]["pairwise"]
    assert section["n"] == 4 and section["metrics"]["win"]["value"] == 1.0  # the echo repeats the question: longer than "ok"
    assert section["models"]["judge"] == "fake:lengthjudge-v1" and section["settings"]["both_orders"] is True
    assert "win" in capsys.readouterr().out
    assert len(length_judge_backend) == 8

    # The judge's answers are cached: a second run in a new directory asks it nothing.
    config.write_text(config.read_text().replace(str(tmp_path / "run"), str(tmp_path / "run2")))
    assert main(["eval", "--config", str(config)]) == 0
    assert len(length_judge_backend) == 8

    assert main(["compare", str(tmp_path / "run"), str(tmp_path / "run2"), "--out", str(tmp_path / "cmp.json")]) == 0
    rows = {r["metric"]: r for r in json.loads((tmp_path / "cmp.json").read_text())["comparisons"]}
    assert rows["win"]["n"] == 4 and rows["win"]["verdict"] == "no significant change"


def test_cli_says_what_is_missing(tmp_path, capsys):
    assert main(["eval", "--model", "fake:echo", "--tasks", "pairwise", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "pairwise needs a judge" in capsys.readouterr().err
