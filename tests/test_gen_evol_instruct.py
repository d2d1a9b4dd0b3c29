"""Evol-Instruct: evolution prompts, the elimination rules (a)-(d), the pool across rounds."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators.evol_instruct import (
    BREADTH,
    DEPTH_OPERATIONS,
    load_seed_instructions,
    parse_verdict,
)
from syllabus.jsonl import read_jsonl
from syllabus.llm import BACKENDS
from syllabus.llm.base import Capabilities
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.parsing import ParseError
from syllabus.record import Example


def parent_of(prompt: str) -> str:
    return prompt.split("Instruction:\n", 1)[1].split("\n\nWrite only", 1)[0]


class ChatFunction(FunctionLLM):
    """A rule-based fake that declares a chat template, so prompts go as chat messages."""

    capabilities = Capabilities(chat_template=True)


def evol_teacher(evolve=None, judge=None, answer=None):
    """A rule-based teacher: each role's behaviour is a function of the text it works on."""

    def fn(request):
        text = request.messages[-1]["content"]
        if text.startswith(("Rewrite the instruction", "Take inspiration")):
            parent = parent_of(text)
            return evolve(parent) if evolve else f"Rewritten instruction: {parent} Use exactly three steps."
        if text.startswith("Here are two instructions"):
            return judge(text) if judge else "Different"
        return answer(text) if answer else f"A detailed, helpful answer to: {text}"

    return ChatFunction(fn, name="evol-teacher")


def _make_teacher(spec="", **_):
    return evol_teacher()


BACKENDS.register("test-evol", _make_teacher)


def seeds(*texts):
    return [Example.from_prompt(t, id=f"seed{i}") for i, t in enumerate(texts)]


def excluded(folder):
    return [r for f in sorted(folder.glob("phases/*/excluded/*.jsonl")) for r in read_jsonl(f)]


def reasons(folder):
    return Counter(r.meta["excluded.reason"] for r in excluded(folder))


# -- prompts, operations, records ----------------------------------------------------------------------
def test_each_operation_has_its_own_prompt_around_the_parent(tmp_path):
    for op in [*DEPTH_OPERATIONS, BREADTH]:
        llm = evol_teacher()
        run_generator(
            "evol-instruct",
            [llm],
            tmp_path / op,
            n=1,
            inputs=seeds("Name a fruit."),
            options={"operations": [op], "rounds": 1},
        )
        prompt = llm.history[0].messages[-1]["content"]
        assert "Instruction:\nName a fruit.\n\n" in prompt
        if op == BREADTH:
            assert prompt.startswith("Take inspiration") and "rarer" in prompt
        else:
            assert prompt.startswith("Rewrite the instruction") and DEPTH_OPERATIONS[op] in prompt
            assert "at most 20 words" in prompt


def test_operations_are_drawn_by_weight_and_deterministically(tmp_path):
    many = seeds(*[f"Task number {i}." for i in range(60)])
    result = run_generator(
        "evol-instruct",
        [evol_teacher()],
        tmp_path / "a",
        n=60,
        inputs=many,
        options={"rounds": 1, "breadth_probability": 0.5},
    )
    ops = Counter(r.meta["evol.operation"] for r in result.examples())
    assert 15 < ops[BREADTH] < 45 and set(ops) == {*DEPTH_OPERATIONS, BREADTH}
    again = run_generator(
        "evol-instruct",
        [evol_teacher()],
        tmp_path / "b",
        n=60,
        inputs=many,
        options={"rounds": 1, "breadth_probability": 0.5},
    )
    assert [r.meta["evol.operation"] for r in again.examples()] == [r.meta["evol.operation"] for r in result.examples()]
    none = run_generator(
        "evol-instruct",
        [evol_teacher()],
        tmp_path / "c",
        n=60,
        inputs=many,
        options={"rounds": 1, "breadth_probability": 0.0},
    )
    assert BREADTH not in {r.meta["evol.operation"] for r in none.examples()}


def test_records_keep_the_evolution_path_and_parents(tmp_path):
    result = run_generator(
        "evol-instruct", [evol_teacher()], tmp_path, n=6, inputs=seeds("Explain rain.", "Name a fruit.")
    )
    records = list(result.examples())
    assert [r.id for r in records] == [
        "seed0-e1",
        "seed1-e1",
        "seed0-e1-e2",
        "seed1-e1-e2",
        "seed0-e1-e2-e3",
        "seed1-e1-e2-e3",
    ]
    last = records[4]
    # The leading label is formatting, removed; each round builds on the previous survivor.
    assert last.prompt == "Explain rain. Use exactly three steps. Use exactly three steps. Use exactly three steps."
    assert last.meta["evol.round"] == 3 and len(last.meta["evol.path"]) == 3
    assert last.meta["evol.operation"] == last.meta["evol.path"][-1]
    assert last.meta["evol.parent_instruction"] == records[2].prompt
    assert last.meta["evol.seed_id"] == "seed0" and last.meta["source"] == "evol-instruct"
    assert last.provenance["parents"] == ["seed0-e1-e2"] and last.provenance["generator"] == "evol-instruct"
    assert [c["step"] for c in last.provenance["calls"]] == ["evolve", "judge", "response"]
    assert last.completion.startswith("A detailed, helpful answer to: Explain rain.")


# -- the elimination step ------------------------------------------------------------------------------
def test_rule_d_copied_prompt_words_fail_and_the_parent_stays_in_the_pool(tmp_path):
    attempts = Counter()

    def evolve(parent):
        attempts[parent] += 1
        if parent == "Explain rain." and attempts[parent] == 1:
            return "Here is the rewritten prompt: Explain rain to a child."
        return f"{parent} Give an example."

    llm = evol_teacher(evolve=evolve)
    result = run_generator("evol-instruct", [llm], tmp_path, n=10, inputs=seeds("Explain rain.", "Name a fruit."))
    assert reasons(tmp_path) == {"copies the evolving prompt": 1}
    ids = [r.id for r in result.examples()]
    # seed0 failed in round 1: round 2 evolves the same parent again (id seed0-e2), and it succeeds.
    assert "seed0-e1" not in ids and "seed0-e2" in ids and "seed1-e1" in ids
    retried = next(r for r in result.examples() if r.id == "seed0-e2")
    assert retried.meta["evol.parent_instruction"] == "Explain rain." and retried.provenance["parents"] == ["seed0"]
    failed = next(r for r in excluded(tmp_path))
    assert failed.meta["evol.copied"] == "rewritten prompt" and failed.meta["excluded.step"] == "copies-prompt"


def test_rule_a_no_information_gain_by_exact_copy_or_by_the_judge(tmp_path):
    def evolve(parent):
        return {"Copy me.": "Copy  me.", "Judge me.": "Judge me, please."}.get(parent, f"{parent} In detail.")

    def judge(prompt):
        return "Equal." if "Judge me, please." in prompt else "Not equal"

    llm = evol_teacher(evolve=evolve, judge=judge)
    run_generator(
        "evol-instruct", [llm], tmp_path, n=3, inputs=seeds("Copy me.", "Judge me.", "Keep me."), options={"rounds": 1}
    )
    assert reasons(tmp_path) == {"no information gain": 2}
    judged = [r for r in llm.history if r.messages[-1]["content"].startswith("Here are two")]
    # An exact copy is equal without asking; the judge sees parent first, evolved second.
    assert len(judged) == 2
    assert (
        "First instruction:\nJudge me.\n\nSecond instruction:\nJudge me, please.\n\n"
        in judged[0].messages[-1]["content"]
    )
    assert judged[0].params.temperature == 0.0


def test_unclear_judge_verdict_keeps_by_default_or_drops_with_raw_text_and_judge_can_be_off(tmp_path):
    inputs = seeds("Name a fruit.")
    kept = run_generator(
        "evol-instruct",
        [evol_teacher(judge=lambda p: "Hmm, hard to say.")],
        tmp_path / "k",
        n=1,
        inputs=inputs,
        options={"rounds": 1},
    )
    record = next(iter(kept.examples()))
    assert record.meta["evol.judge"] == "unclear" and record.meta["evol.judge_raw"] == "Hmm, hard to say."
    strict = run_generator(
        "evol-instruct",
        [evol_teacher(judge=lambda p: "Hmm, hard to say.")],
        tmp_path / "a",
        n=1,
        inputs=inputs,
        options={"rounds": 1, "unclear_verdict": "drop"},
    )
    assert list(strict.examples()) == []
    row = excluded(tmp_path / "a")[0]
    assert row.meta["excluded.reason"] == "unparseable (no verdict)" and row.meta["judge.raw"] == "Hmm, hard to say."
    off = evol_teacher(judge=lambda prompt: "Equal")
    kept = run_generator(
        "evol-instruct", [off], tmp_path / "b", n=1, inputs=inputs, options={"rounds": 1, "judge": False}
    )
    assert len(list(kept.examples())) == 1
    assert not any(r.messages[-1]["content"].startswith("Here are two") for r in off.history)


def test_rules_b_and_c_judge_the_response(tmp_path):
    def answer(text):
        if text.startswith("Sorry task"):
            return "Sorry, I cannot help with that."
        if text.startswith("Long sorry task"):
            return "Sorry for the long answer: " + "useful words " * 50
        if text.startswith("Stop task"):
            return "Well... and, of the; it is!"
        if text.startswith("Empty task"):
            return ""
        return "A fine answer."

    llm = evol_teacher(answer=answer)
    inputs = seeds("Sorry task.", "Long sorry task.", "Stop task.", "Empty task.", "Fine task.")
    result = run_generator("evol-instruct", [llm], tmp_path, n=5, inputs=inputs, options={"rounds": 1})
    assert reasons(tmp_path) == {"hard to answer": 1, "only stop words": 2}
    assert sorted(r.prompt.split(" Use")[0] for r in result.examples()) == ["Fine task.", "Long sorry task."]


def test_empty_evolution_is_unparseable(tmp_path):
    llm = evol_teacher(evolve=lambda parent: "Rewritten instruction:   ")
    run_generator("evol-instruct", [llm], tmp_path, n=1, inputs=seeds("Name a fruit."), options={"rounds": 1})
    row = excluded(tmp_path)[0]
    assert row.meta["excluded.reason"] == "unparseable (empty instruction)"
    assert row.meta["evolve.raw"] == "Rewritten instruction:   "


def test_parse_verdict():
    assert parse_verdict("Equal") == "equal"
    assert parse_verdict("different") == "different"
    assert parse_verdict("They are not the same.") == "different"
    assert parse_verdict("Not equal. They are equal in length only.") == "different"
    with pytest.raises(ParseError, match="no verdict"):
        parse_verdict("maybe")


# -- seeds, options, plan, garbage, CLI ---------------------------------------------------------------
def test_builtin_seed_tasks_include_the_first_input():
    seeds_ = load_seed_instructions()
    assert len(seeds_) >= 20 and len({s.id for s in seeds_}) == len(seeds_)
    with_input = [s for s in seeds_ if "\n\n" in s.prompt]
    assert with_input, "seed tasks with an instance input should carry it"


def test_pool_size_picks_a_deterministic_subset_of_the_seeds(tmp_path):
    llm = evol_teacher()
    first = run_generator("evol-instruct", [llm], tmp_path / "a", n=4, options={"pool_size": 2, "rounds": 2})
    second = run_generator(
        "evol-instruct", [evol_teacher()], tmp_path / "b", n=4, options={"pool_size": 2, "rounds": 2}
    )
    ids = [r.id for r in first.examples()]
    assert len(ids) == 4 and ids == [r.id for r in second.examples()]
    assert len({r.meta["evol.seed_id"] for r in first.examples()}) == 2


def test_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean deepen"):
        run_generator(
            "evol-instruct", [evol_teacher()], tmp_path, n=1, inputs=seeds("x"), options={"operations": ["deepn"]}
        )
    with pytest.raises(ConfigError, match="rounds"):
        run_generator("evol-instruct", [evol_teacher()], tmp_path, n=1, inputs=seeds("x"), options={"rounds": 0})


def test_plan_counts_calls_per_round_without_calling(tmp_path):
    llm = evol_teacher()
    run = GenerationRun(
        get_generator("evol-instruct"),
        [llm],
        GenerationSettings(n=6),
        tmp_path,
        seeds("Explain rain.", "Name a fruit.", "Add 2 and 3.", "Sort a list."),
    )
    plan = run.dry_run()
    # Pool: ceil(6 / (3 rounds x 50%)) = 4 seeds, 4 evolutions per round, 3 rounds.
    assert [(p.name, p.calls) for p in plan.phases] == [("evolve", 12), ("judge", 12), ("response", 12)]
    assert "Instruction:\nExplain rain." in plan.prompts[0][-1]["content"]
    assert llm.history == []


def test_rerun_resumes_with_the_same_ids_and_no_requests(tmp_path):
    inputs = seeds("Explain rain.", "Name a fruit.")
    first = [r.id for r in run_generator("evol-instruct", [evol_teacher()], tmp_path, n=6, inputs=inputs).examples()]
    llm = evol_teacher()
    again = [r.id for r in run_generator("evol-instruct", [llm], tmp_path, n=6, inputs=inputs).examples()]
    assert first == again and len(set(again)) == 6 and llm.history == []


def test_echo_teacher_never_crashes(tmp_path):
    result = run_generator("evol-instruct", [EchoLLM()], tmp_path, n=4)
    assert list(result.examples()) == []  # echo returns the prompt, which names the given instruction
    report = json.loads((tmp_path / "generation.json").read_text())
    assert report["kept"] == 0 and len(report["phases"]) == 3


def test_cli_generates_evolved_records(tmp_path, capsys):
    prompts = tmp_path / "seeds.txt"
    prompts.write_text("Explain rain.\nName a fruit.\n")
    out = tmp_path / "run"
    code = main(
        [
            "generate",
            "--generator",
            "evol-instruct",
            "--teacher",
            "test-evol:x",
            "--prompts",
            str(prompts),
            "--n",
            "4",
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "rounds=2",
        ]
    )
    assert code == 0
    rows = list(read_jsonl(out / "r00" / "01_generate" / "shards" / "00000.jsonl"))
    assert [r.meta["evol.round"] for r in rows] == [1, 1, 2, 2]
    assert "kept 4 of 4" in capsys.readouterr().out


def test_base_model_teacher_gets_raw_prompts_with_completion_cues(tmp_path):
    def base(request):
        assert request.messages is None
        text = request.prompt
        if text.endswith(("Rewritten instruction:", "New instruction:")):
            return " Explain in three steps why it rains.\n\nRewrite the instruction below again."
        if text.endswith("Answer:"):
            return " Different\nQuestion:"
        return "Water evaporates, rises, cools and falls."

    llm = FunctionLLM(base, name="base")  # no chat template: raw prompts by default
    result = run_generator("evol-instruct", [llm], tmp_path, n=1, inputs=seeds("Explain rain."), options={"rounds": 1})
    record = next(iter(result.examples()))
    assert record.prompt == "Explain in three steps why it rains."
    assert record.completion == "Water evaporates, rises, cools and falls."
    assert any(r.prompt.startswith("Here are two instructions") for r in llm.history)


def test_docstring_examples():
    import doctest

    import syllabus.generators.evol_instruct as module

    assert doctest.testmod(module).failed == 0
