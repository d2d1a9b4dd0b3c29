"""ensemble-instruct on scripted fakes: templates by category, consensus selection and its threshold,
several teachers or one with a warning, records, plan, CLI, resume."""

from __future__ import annotations

import hashlib
import json
import re
import warnings

import pytest

from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators.ensemble_instruct import ConsensusFilter, consensus_select
from syllabus.generators.self_instruct import builtin_seed_tasks
from syllabus.llm.base import Capabilities, SamplingParams
from syllabus.llm.fake import FunctionLLM, ScriptedLLM
from syllabus.pipeline.runner import read_stage
from syllabus.record import Example
from syllabus.text.rouge import rouge_l

SEEDS = builtin_seed_tasks()
WITH_INPUT = {t.instruction for t in SEEDS if t.has_input}
WITHOUT_INPUT = {t.instruction for t in SEEDS if not t.has_input}
VOCAB = [
    a + b
    for a in ["ka", "lo", "mi", "ne", "pu", "ri", "so", "tu", "va", "ze", "bo", "di"]
    for b in ["ran", "mos", "lit", "dex", "fon", "gup", "hav", "jir", "kol", "nem", "pax", "ruv"]
]


def words(key: str, k: int) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return " ".join(VOCAB[digest[i] % len(VOCAB)] for i in range(k))


def text_of(request) -> str:
    return request.prompt if request.prompt is not None else request.messages[-1]["content"]


def bucket(task: str) -> int:
    """How the other teacher treats a task: 0 same answer, 1 similar answer, 2 unrelated answer."""
    return hashlib.sha256(task.encode()).digest()[0] % 3


def answer(task: str) -> str:
    return f"The result is {words(task + 'a', 6)}."


def generator_teacher(request) -> str:
    text = text_of(request)
    if text.startswith("For the last task"):
        task = re.findall(r"^Task: (.*)$", text, re.MULTILINE)[-1]
        if "with an input" in text or "one input" in text:
            return f"Input: {words(task + 'in', 4)}\nOutput: {answer(task)}"
        return f"Output: {answer(task)}"
    with_input = "comes with" in text or "works on an input" in text
    verb = "Summarize" if with_input else "Compose"
    items = [f"{verb} {words(text + str(j), 6)} carefully." for j in range(4)]
    items.append("Draw a map of the city.")  # blacklisted
    if request.prompt is not None:  # raw: the prompt ends with the next number
        return items[0] + "\n" + "\n".join(f"{j}. {t}" for j, t in enumerate(items[1:], 2))
    return "\n".join(f"{j}. {t}" for j, t in enumerate(items, 1))


def other_teacher(request) -> str:
    text = text_of(request)
    task = (
        re.search(r"^Task: (.*)$", text, re.MULTILINE).group(1) if request.prompt is not None else text.split("\n\n")[0]
    )
    kind = bucket(task)
    if kind == 0:
        return answer(task).upper()  # the same after normalisation
    if kind == 1:
        return f"I think the result is {words(task + 'a', 6)} indeed"
    return "Nope, no idea, sorry friend."  # shares no word with the generator's answer


def run_ei(out, teachers=None, n=1000, max_rounds=1, **options):
    teachers = teachers or [FunctionLLM(generator_teacher, name="gen"), FunctionLLM(other_teacher, name="other")]
    result = run_generator(
        "ensemble-instruct",
        teachers,
        out,
        n=n,
        max_rounds=max_rounds,
        shard_size=4,
        params=SamplingParams(max_tokens=300, temperature=0.7),
        options={"max_prompts_per_round": 4, **options},
    )
    return result, teachers


def phase(out, prefix):
    return [p for p in sorted((out / "phases").iterdir()) if p.name.split("_", 1)[1].startswith(prefix)]


# -- consensus selection ---------------------------------------------------------------------------------
def test_consensus_keeps_exact_agreement_after_normalisation():
    c = consensus_select(["The answer is 42.", "the answer is 42", "Forty-two, I believe"])
    assert c.chosen == 0 and c.exact
    # Only the other two agree: keep one of them, not the generator's odd one out.
    c = consensus_select(["Something else entirely", "Paris", "paris!"])
    assert c.chosen == 1 and c.exact
    assert consensus_select(["", "", "x"]).chosen is None  # empty outputs agree on nothing


def test_consensus_keeps_the_medoid_when_every_pair_overlaps():
    outputs = ["cats sleep all day long", "cats sleep most of the day", "dogs sleep most of the night"]
    c = consensus_select(outputs)
    pair = {(i, j): rouge_l(outputs[i], outputs[j]) for i in range(3) for j in range(3) if i != j}
    means = [sum(pair[i, j] for j in range(3) if j != i) / 2 for i in range(3)]
    assert c.chosen == 1 == max(range(3), key=means.__getitem__) and not c.exact
    assert c.scores == pytest.approx(means) and c.min_pair == pytest.approx(min(pair.values()))
    assert c.score == pytest.approx(means[1])
    tie = consensus_select(["alpha beta", "beta alpha"])  # symmetric: the lower index wins
    assert tie.chosen == 0


def test_consensus_threshold_is_on_the_weakest_pair():
    outputs = ["red apples grow here", "red roses grow there", "blue sky above"]  # apples/sky share nothing
    assert consensus_select(outputs).chosen is None and consensus_select(outputs).min_pair == 0.0
    two = ["one two three four", "one five six seven"]
    score = rouge_l(*two)
    assert consensus_select(two, threshold=score).chosen is None  # must exceed, as in the paper
    assert consensus_select(two, threshold=score - 1e-6).chosen == 0
    with pytest.raises(ValueError):
        consensus_select(["alone"])


def test_consensus_filter_sets_the_completion_and_reasons():
    ex = Example.from_prompt(
        "Say something.",
        meta={
            "ensemble.candidates": [
                {"model": "a", "output": "cats sleep all day long"},
                {"model": "b", "output": "cats sleep most of the day"},
                {"model": "c", "output": "dogs sleep most of the night"},
            ]
        },
    )
    assert ConsensusFilter().keep(ex) is True
    assert ex.completion == "cats sleep most of the day" and ex.meta["ensemble.chosen_model"] == "b"
    lonely = Example.from_prompt("x", meta={"ensemble.candidates": [{"model": "a", "output": "y"}]})
    assert ConsensusFilter().keep(lonely).reason == "too few outputs"
    apart = Example.from_prompt(
        "x", meta={"ensemble.candidates": [{"model": "a", "output": "y"}, {"model": "b", "output": "z"}]}
    )
    assert ConsensusFilter().keep(apart).reason == "no consensus" and apart.meta["ensemble.min_pair"] == 0.0


# -- the generator -----------------------------------------------------------------------------------------
def test_templates_and_few_shot_pools_by_category(tmp_path):
    _, (gen, other) = run_ei(tmp_path)
    prompts = [text_of(r) for r in gen.history if text_of(r).startswith("Come up with a series")]
    with_input = [p for p in prompts if "comes with an input" in p]
    without_input = [p for p in prompts if "need no input" in p]
    assert with_input and without_input and len(with_input) + len(without_input) == len(prompts)
    for p in with_input:
        context = re.findall(r"^\d+\. (.*)$", p, re.MULTILINE)
        assert len(context) == 12 and set(context) <= WITH_INPUT and p.endswith("\n13.")
    for p in without_input:
        context = re.findall(r"^\d+\. (.*)$", p, re.MULTILINE)
        assert len(context) == len(WITHOUT_INPUT) and set(context) <= WITHOUT_INPUT
    instance_prompts = [text_of(r) for r in gen.history if text_of(r).startswith("For the last task")]
    io = [p for p in instance_prompts if "one input" in p]
    oo = [p for p in instance_prompts if "write the correct output" in p]
    assert io and oo
    assert all(
        p.count("Input:") == 3 and re.findall(r"^Task: (.*)$", p, re.MULTILINE)[-1].startswith("Summarize") for p in io
    )
    assert all("Input:" not in p and re.findall(r"^Task: (.*)$", p, re.MULTILINE)[-1].startswith("Compose") for p in oo)
    assert all(p.count("Output:") == 3 for p in io + oo)  # three seed demonstrations each
    # The other model answers zero-shot; without a chat template it gets the plain-text form.
    answers = [r.prompt for r in other.history]
    assert all(a.startswith("Task: ") and a.endswith("Output:") for a in answers)
    assert any("\nInput: " in a for a in answers) and any("\nInput: " not in a for a in answers)


def test_outputs_are_kept_only_on_consensus(tmp_path):
    run_ei(tmp_path)
    (folder,) = phase(tmp_path, "ensemble")
    kept, dropped = list(read_stage(folder)), list(read_stage(folder, kind="excluded"))
    assert kept and dropped
    for e in kept:
        task = e.meta["ensemble.instruction"]
        assert bucket(task) in (0, 1)
        models = [c["model"] for c in e.meta["ensemble.candidates"]]
        assert models == ["fake:gen", "fake:other"]
        assert e.completion == e.meta["ensemble.candidates"][e.meta["ensemble.chosen"]]["output"]
        assert e.meta["ensemble.exact_match"] == (bucket(task) == 0)
    for e in dropped:
        assert e.meta["excluded.reason"] == "no consensus" and bucket(e.meta["ensemble.instruction"]) == 2
    final = list(read_stage(tmp_path))
    assert [e.id for e in final] == [e.id for e in kept]
    stats = json.loads((tmp_path / "generation.json").read_text())
    consensus = [s for p in stats["phases"] for s in p["steps"] if s["step"] == "consensus"]
    assert consensus[0]["reasons"] == {"no consensus": len(dropped)}
    blacklisted = [e for p in phase(tmp_path, "instructions") for e in read_stage(p, kind="excluded")]
    assert {e.meta["excluded.reason"] for e in blacklisted} >= {"blacklisted keyword"}


def test_consensus_threshold_option(tmp_path):
    run_ei(tmp_path, consensus_threshold=0.99)
    (folder,) = phase(tmp_path, "ensemble")
    kept = list(read_stage(folder))
    assert kept and all(e.meta["ensemble.exact_match"] for e in kept)  # only exact agreement passes 0.99
    with pytest.raises(ConfigError, match="consensus_threshold"):
        get_generator("ensemble-instruct", {"consensus_threshold": 1.5})


def test_records_and_provenance(tmp_path):
    run_ei(tmp_path)
    records = list(read_stage(tmp_path))
    assert len({r.id for r in records}) == len(records)
    r = next(x for x in records if x.meta["ensemble.category"] == "with-input")
    assert r.messages == [
        {"role": "user", "content": r.meta["ensemble.instruction"] + "\n\n" + r.meta["ensemble.input"]}
    ]
    assert r.meta["ensemble.round"] == 0 and r.meta["alpaca.input"] == r.meta["ensemble.input"]
    assert r.provenance["generator"] == "ensemble-instruct" and r.provenance["parents"]
    assert [c["step"] for c in r.provenance["calls"]] == ["instructions", "instance", "answer-1"]
    assert [c["model"] for c in r.provenance["calls"]] == ["fake:gen", "fake:gen", "fake:other"]
    nr = next(x for x in records if x.meta["ensemble.category"] == "without-input")
    assert nr.messages == [{"role": "user", "content": nr.meta["ensemble.instruction"]}]


def test_malformed_instances_are_excluded_with_the_raw_text(tmp_path):
    def sloppy(request):
        text = text_of(request)
        if text.startswith("For the last task") and "one input" in text:
            return "I am not sure what to write here."
        return generator_teacher(request)

    run_ei(tmp_path, teachers=[FunctionLLM(sloppy, name="gen"), FunctionLLM(other_teacher, name="other")])
    (folder,) = [p for p in phase(tmp_path, "instance") if "with-input" in p.name and "without" not in p.name]
    bad = list(read_stage(folder, kind="excluded"))
    assert bad and {e.meta["excluded.reason"] for e in bad} == {"unparseable (no input and output)"}
    assert bad[0].meta["instance.raw"] == "I am not sure what to write here."


class ChatFunctionLLM(FunctionLLM):
    capabilities = Capabilities(chat_template=True)


def test_chat_members_get_the_plain_user_turn(tmp_path):
    chat_other = ChatFunctionLLM(other_teacher, name="other")
    run_ei(tmp_path, teachers=[FunctionLLM(generator_teacher, name="gen"), chat_other])
    assert chat_other.history and all(
        r.prompt is None and [m["role"] for m in r.messages] == ["user"] for r in chat_other.history
    )
    assert any("\n\n" in r.messages[0]["content"] for r in chat_other.history)  # instruction, blank line, input


def test_one_teacher_warns_and_votes_with_its_own_samples(tmp_path):
    gen = FunctionLLM(generator_teacher, name="gen")
    with pytest.warns(UserWarning, match="one teacher"):
        run_ei(tmp_path, teachers=[gen], self_samples=2)
    kept = list(read_stage(tmp_path))
    assert kept and all(len(e.meta["ensemble.candidates"]) == 3 for e in kept)
    zero_shot = [r for r in gen.history if r.prompt is not None and r.prompt.endswith("Output:")]
    assert {r.params.seed for r in zero_shot} == {1, 2} and all(r.params.temperature >= 0.7 for r in zero_shot)


def test_plan_without_calls(tmp_path):
    a, b = ScriptedLLM([]), ScriptedLLM([])
    plan = GenerationRun(get_generator("ensemble-instruct"), [a, b], GenerationSettings(n=30), tmp_path).dry_run()
    assert a.history == [] and b.history == [] and plan.calls > 0
    assert [p.name for p in plan.phases] == [
        "instructions-with-input",
        "instance-with-input",
        "answer-1-with-input",
        "instructions-without-input",
        "instance-without-input",
        "answer-1-without-input",
    ]
    assert plan.prompts[0].startswith("Come up with a series of tasks, each of which comes with an input")


def test_cli_with_two_echo_teachers_never_crashes(tmp_path):
    from syllabus.cli import main

    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # two teachers: no single-teacher warning
        assert (
            main(
                [
                    "generate",
                    "--generator",
                    "ensemble-instruct",
                    "--teacher",
                    "fake:echo",
                    "fake:echo",
                    "--n",
                    "4",
                    "--out",
                    str(out),
                    "--no-progress",
                    "--set",
                    "max_prompts_per_round=2",
                ]
            )
            == 0
        )
    report = json.loads((out / "r00" / "01_generate" / "generation.json").read_text())
    assert report["teachers"] == ["fake:echo", "fake:echo"] and report["requests"] > 0


def test_rerun_gives_the_same_ids(tmp_path):
    first, _ = run_ei(tmp_path, max_rounds=2)
    ids = [e.id for e in first.examples()]
    assert ids and len(ids) == len(set(ids))
    for folder in [*phase(tmp_path, "ensemble"), *phase(tmp_path, "novelty"), tmp_path]:
        for marker in sorted((folder / "done").glob("*"))[::2]:
            marker.unlink()
    again, (_, other) = run_ei(tmp_path, max_rounds=2)
    assert [e.id for e in again.examples()] == ids and other.history


def test_chat_generator_gets_instance_demonstrations_as_earlier_turns(tmp_path):
    def chat_gen(request):
        system, task = request.messages[0]["content"], request.messages[-1]["content"].removeprefix("Task: ")
        if system.startswith("For the user's task"):
            return f"Input: {words(task + 'in', 4)}\nOutput: {answer(task)}"
        if system.startswith("Write the correct output"):
            return f"Output: {answer(task)}"
        return generator_teacher(request)

    gen = ChatFunctionLLM(chat_gen, name="gen")
    run_ei(tmp_path, teachers=[gen, FunctionLLM(other_teacher, name="other")])
    instance = [r.messages for r in gen.history if r.messages[0]["role"] == "system"]
    assert instance and all(len(m) == 8 for m in instance)  # system, three demonstrations, the task
    with_input = [m for m in instance if m[0]["content"].startswith("For the user's task")]
    assert with_input and all(
        m[2]["content"].startswith("Input: ") and m[1]["content"][6:] in WITH_INPUT for m in with_input
    )
    assert list(read_stage(tmp_path))
