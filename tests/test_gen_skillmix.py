"""Instruct-SkillMix: skill lists, distinct k-skill combinations x query types, instruction and
response calls, filters, the shirker injector."""

from __future__ import annotations

import json
import math
import random

import pytest

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators.skillmix import (
    DEFAULT_SKILLS,
    SHIRKER_KINDS,
    inject_shirkers,
    normalise_skill,
    plan_tasks,
    shirk,
    skill_combinations,
)
from syllabus.jsonl import read_jsonl
from syllabus.llm import BACKENDS
from syllabus.llm.base import Capabilities
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.record import Example

SKILL_LIST = (
    "Here are skills:\n1. **Persuasive Writing**: convincing\n2. unit_conversion\n3. Analogy\n4. analogy.\n5. Budgeting"
)


def teacher_fn(request):
    """Answer by prompt type: skill lists, requests built from the skills, answers."""
    text = request.messages[-1]["content"]
    if text.startswith("List"):
        return SKILL_LIST
    if text.startswith("Write one request"):
        skills = text.split("skills: ", 1)[1].split(".\n", 1)[0]
        kind = text.split("Kind of request: ", 1)[1].split("\n", 1)[0]
        return f'Request: "Help me with {kind} using {skills}, please."'
    return f"Here is my answer to: {text}"


class ChatFunction(FunctionLLM):
    """A rule-based fake that declares a chat template, so prompts go as chat messages."""

    capabilities = Capabilities(chat_template=True)


def teacher():
    return ChatFunction(teacher_fn, name="skillmix-teacher")


def _make_teacher(spec="", **_):
    return teacher()


BACKENDS.register("test-skillmix", _make_teacher)


def excluded(folder):
    return [r for f in sorted(folder.glob("phases/*/excluded/*.jsonl")) for r in read_jsonl(f)]


# -- combinations --------------------------------------------------------------------------------------
def test_skill_combinations_are_distinct_complete_and_deterministic():
    skills = [f"s{i}" for i in range(7)]
    combos = list(skill_combinations(skills, 2, random.Random(3)))
    assert len(combos) == math.comb(7, 2)
    assert len({frozenset(c) for c in combos}) == len(combos)
    assert all(len(set(c)) == 2 for c in combos)
    assert combos == list(skill_combinations(skills, 2, random.Random(3)))
    assert combos != list(skill_combinations(skills, 2, random.Random(4)))
    # The order inside a combination is shuffled too (the paper shuffles the skill order).
    assert any(skills.index(c[0]) > skills.index(c[1]) for c in combos)


def test_large_pools_are_sampled_without_repeats():
    skills = [f"s{i}" for i in range(500)]  # C(500, 3) is far above the enumeration limit
    stream = skill_combinations(skills, 3, random.Random(0))
    first = [next(stream) for _ in range(2000)]
    assert len({frozenset(c) for c in first}) == 2000
    again = skill_combinations(skills, 3, random.Random(0))
    assert first == [next(again) for _ in range(2000)]


def test_plan_tasks_cycles_query_types_and_never_repeats_a_pair():
    skills, types = ["a", "b", "c", "d"], ["advice", "coding", "math"]
    tasks = list(plan_tasks(skills, types, 2, random.Random(1)))
    assert len({(frozenset(c), t) for c, t in tasks}) == len(tasks)
    assert len(tasks) == math.comb(4, 2) * 3  # every pair is met, then the stream ends
    for start in range(0, 6, 3):  # each cycle of three uses every query type once
        assert sorted(t for _, t in tasks[start : start + 3]) == sorted(types)
    with pytest.raises(ConfigError, match="at least 3 distinct skills"):
        list(plan_tasks(["a", "b"], types, 3, random.Random(0)))


def test_normalise_skill_strips_markup_definitions_and_case():
    assert normalise_skill("**Persuasive Writing**: convincing") == "persuasive writing"
    assert normalise_skill("- Unit_Conversion (metric)") == "unit conversion"
    assert normalise_skill("3. Analogy - comparing things.") == "analogy"


# -- the phases ----------------------------------------------------------------------------------------
def test_skills_extracted_by_the_teacher_merged_and_deduplicated(tmp_path):
    llm = teacher()
    result = run_generator("skillmix", [llm], tmp_path, n=4, options={"topic": "home cooking", "num_skills": 10})
    extract = [r for r in llm.history if r.messages[-1]["content"].startswith("List")]
    assert len(extract) == 3 and [r.sample_index for r in extract] == [0, 1, 2]
    assert (
        "home cooking" in extract[0].messages[-1]["content"]
        and "List 10 different skills" in extract[0].messages[-1]["content"]
    )
    used = {s for r in result.examples() for s in r.meta["skillmix.skills"]}
    assert used <= {"persuasive writing", "unit conversion", "analogy", "budgeting"}


def test_too_few_extracted_skills_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="listed 0 usable skills"):
        run_generator("skillmix", [EchoLLM()], tmp_path, n=2)
    # ... and the malformed lists are kept in excluded/ with their raw text.
    rows = excluded(tmp_path)
    assert rows and rows[0].meta["excluded.reason"] == "unparseable (no numbered list)"
    assert rows[0].meta["extract-skills.raw"].startswith("List 30 different skills")


def test_instruction_prompt_parse_and_records(tmp_path):
    llm = teacher()
    result = run_generator(
        "skillmix",
        [llm],
        tmp_path,
        n=3,
        options={"skills": ["analogy", "budgeting", "humour"], "query_types": ["asking for advice"]},
    )
    prompts = [r.messages[-1]["content"] for r in llm.history if r.messages[-1]["content"].startswith("Write one")]
    assert "Kind of request: asking for advice\n" in prompts[0]
    assert "A good answer to it must use all of these skills:" in prompts[0] and "do not name the skills" in prompts[0]
    records = list(result.examples())
    assert [r.id for r in records] == ["skillmix-000000", "skillmix-000001", "skillmix-000002"]
    assert len({frozenset(r.meta["skillmix.skills"]) for r in records}) == 3
    first = records[0]
    skills = first.meta["skillmix.skills"]
    assert first.meta["skill"] == " + ".join(skills) and first.meta["skillmix.k"] == 2
    assert first.meta["skillmix.query_type"] == "asking for advice"
    assert first.messages == [
        {"role": "user", "content": f"Help me with asking for advice using {', '.join(skills)}, please."}
    ]
    assert first.completion == f"Here is my answer to: {first.prompt}"
    assert first.meta["skillmix.shirker"] is False
    assert first.provenance["generator"] == "skillmix"
    assert [c["step"] for c in first.provenance["calls"]] == ["instruction", "response"]
    assert first.provenance["calls"][0]["template"] == "skillmix-instruction"


def test_every_instruction_filter_drops_planted_cases(tmp_path):
    answers = iter(
        [
            "Request: Hi there",  # too short
            "Request: " + "very " * 250 + "long",  # too long
            "Request: Kind of request: advice. A good answer must use all of these skills: x",  # copies the prompt
            "Response: I would answer like this.",  # no request: unparseable
            "Request: Plan a cheap birthday party for ten kids.",
            "Plan a cheap  BIRTHDAY party for ten kids.",  # no label: the whole text; a duplicate of the one before
        ]
    )

    counter = iter(range(100))

    def fn(request):
        text = request.messages[-1]["content"]
        if not text.startswith("Write one"):
            return "An answer."
        return next(answers, None) or f"Request: Another distinct request about saving money, number {next(counter)}."

    result = run_generator(
        "skillmix",
        [ChatFunction(fn)],
        tmp_path,
        n=6,
        max_rounds=1,
        options={"skills": ["analogy", "budgeting", "humour", "empathy"]},
    )
    reasons = sorted(r.meta["excluded.reason"] for r in excluded(tmp_path))
    assert reasons == sorted(["too short", "too long", "copies the prompt", "unparseable (no request)", "duplicate"])
    assert next(r.prompt for r in result.examples()) == "Plan a cheap birthday party for ten kids."


def test_skills_file_query_types_file_and_builtin_list(tmp_path):
    skills = tmp_path / "skills.txt"
    skills.write_text("# my skills\nknot tying\nmap reading\n\nfire safety\n")
    types = tmp_path / "types.txt"
    types.write_text("planning\n")
    result = run_generator(
        "skillmix",
        [teacher()],
        tmp_path / "a",
        n=3,
        options={"skills_file": str(skills), "query_types": [], "query_types_file": str(types)},
    )
    assert {s for r in result.examples() for s in r.meta["skillmix.skills"]} == {
        "knot tying",
        "map reading",
        "fire safety",
    }
    assert {r.meta["skillmix.query_type"] for r in result.examples()} == {"planning"}
    builtin = run_generator("skillmix", [teacher()], tmp_path / "b", n=2, options={"extract_skills": False, "k": 3})
    assert all(set(r.meta["skillmix.skills"]) <= set(DEFAULT_SKILLS) for r in builtin.examples())
    assert all(len(r.meta["skillmix.skills"]) == 3 for r in builtin.examples())
    with pytest.raises(ConfigError, match="skills_file"):
        run_generator("skillmix", [teacher()], tmp_path / "c", n=2, options={"skills_file": str(tmp_path / "nope.txt")})
    with pytest.raises(ConfigError, match="shirker_fraction"):
        run_generator("skillmix", [teacher()], tmp_path / "d", n=2, options={"shirker_fraction": 1.5})


# -- shirkers ------------------------------------------------------------------------------------------
def test_shirker_injector_replaces_exactly_the_fraction_without_a_model(tmp_path):
    llm = teacher()
    options = {"skills": ["analogy", "budgeting", "humour", "empathy"], "shirker_fraction": 0.5}
    records = list(run_generator("skillmix", [llm], tmp_path, n=6, options=options).examples())
    shirkers = [r for r in records if r.meta["skillmix.shirker"]]
    assert len(shirkers) == 3
    calls = len(llm.history)
    for r in shirkers:
        assert r.meta["skillmix.shirker_kind"] in SHIRKER_KINDS
        assert r.meta["skillmix.original_response"] == f"Here is my answer to: {r.prompt}"
        assert r.completion != r.meta["skillmix.original_response"]
    assert all("skillmix.original_response" not in r.meta for r in records if not r.meta["skillmix.shirker"])
    # One instruction and one answer call per planned task (10 = 6 / 70% x 1.1): shirkers cost no call.
    asks = [r for r in llm.history if r.messages[-1]["content"].startswith("Write one")]
    assert len(asks) == 10 and calls == 2 * len(asks)
    # Same seed, same choice (the rerun reads finished phases back and injects again).
    again = list(run_generator("skillmix", [teacher()], tmp_path, n=6, options=options).examples())
    assert [(r.id, r.completion) for r in again] == [(r.id, r.completion) for r in records]


def test_shirker_kinds_are_fixed_low_quality_patterns():
    rng = random.Random(0)
    assert shirk("Name three fruits.", "restate", rng).startswith("You are asking: Name three fruits.")
    assert len(shirk("x", "off-topic", rng).split()) < 12
    assert len(shirk("x", "filler", rng).split()) > 60
    evasive = {shirk("x", "evasive", random.Random(seed)) for seed in range(20)}
    assert len(evasive) > 1 and all(len(e.split()) < 30 for e in evasive)
    assert shirk("x", "evasive", random.Random(5)) == shirk("x", "evasive", random.Random(5))
    with pytest.raises(ValueError):
        shirk("x", "lazy", rng)
    records = [Example.from_prompt(f"q{i}", completion=f"a{i}") for i in range(10)]
    inject_shirkers(records, 0.0, random.Random(0))
    assert not any(r.meta["skillmix.shirker"] for r in records)


# -- plan, garbage, CLI ----------------------------------------------------------------------------
def test_plan_shows_extraction_and_instruction_prompts_without_calls(tmp_path):
    llm = teacher()
    plan = GenerationRun(get_generator("skillmix"), [llm], GenerationSettings(n=7), tmp_path).dry_run()
    assert [p.name for p in plan.phases] == ["skills", "instructions", "responses"]
    assert plan.phases[0].calls == 3 and plan.phases[1].calls == 11 and plan.phases[2].calls == 7
    assert plan.prompts[0][-1]["content"].startswith("List 30 different skills")
    assert "<skill 1>" in plan.prompts[1][-1]["content"] or "<skill" in plan.prompts[1][-1]["content"]
    assert llm.history == []


def test_echo_teacher_never_crashes(tmp_path):
    result = run_generator("skillmix", [EchoLLM()], tmp_path, n=3, options={"extract_skills": False})
    assert list(result.examples()) == []  # echo repeats the prompt: every instruction copies it
    report = json.loads((tmp_path / "generation.json").read_text())
    assert report["kept"] == 0 and report["requests"] > 0


def test_cli_generates_skillmix_records(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "generate",
            "--generator",
            "skillmix",
            "--teacher",
            "test-skillmix:x",
            "--n",
            "4",
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "skills=[analogy, budgeting, humour]",
            "--set",
            "shirker_fraction=0.25",
        ]
    )
    assert code == 0
    rows = list(read_jsonl(out / "r00" / "01_generate" / "shards" / "00000.jsonl"))
    assert len(rows) == 4 and sum(r.meta["skillmix.shirker"] for r in rows) == 1
    assert "kept 4 of 4" in capsys.readouterr().out


def test_base_model_teacher_gets_raw_prompts_with_completion_cues(tmp_path):
    def base(request):
        assert request.messages is None
        text = request.prompt
        if text.startswith("List"):
            return " Persuasive writing\n2. Budgeting\n3. Analogy"
        if text.startswith("Write one request"):
            return " Plan a week of cheap family dinners with a shopping list.\n\nRequest: and another one"
        return "Monday: pasta. Tuesday: soup."

    llm = FunctionLLM(base, name="base")  # no chat template: raw prompts by default
    result = run_generator("skillmix", [llm], tmp_path, n=1, max_rounds=1)
    prompts = [r.prompt for r in llm.history]
    assert prompts[0].endswith("nothing else.\n\n1.")
    writes = [p for p in prompts if p.startswith("Write one request")]
    assert writes and all(p.endswith('starting with "Request:".\n\nRequest:') for p in writes)
    record = next(iter(result.examples()))
    assert set(record.meta["skillmix.skills"]) <= {"persuasive writing", "budgeting", "analogy"}
    assert record.prompt == "Plan a week of cheap family dinners with a shopping list."
    assert record.prompt in prompts  # the answer request is the bare instruction
    assert record.completion == "Monday: pasta. Tuesday: soup."


def test_docstring_examples():
    import doctest

    import syllabus.generators.skillmix as module

    assert doctest.testmod(module).failed == 0
