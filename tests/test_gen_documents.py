"""agent-instruct: transformation, taxonomy instructions, suggester/editor refinement, answers."""

from __future__ import annotations

import doctest
import json

import pytest

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators import documents as ai
from syllabus.generators.documents import (
    TAXONOMIES,
    TRANSFORMATIONS,
    AnswerLength,
    ChunkLength,
    Edit,
    InstructionLength,
    SeedInstruction,
    Suggest,
    TransformedText,
)
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.parsing import ParseError
from syllabus.pipeline.step import Drop
from syllabus.record import Example

DOC = (
    "Kessel is a harbour town at the mouth of the river Aune. Fishermen founded it in 1612. "
    "In 1788 the council asked Mara Lindqvist to build a lighthouse on the Grey Teeth reefs. "
    "The Kessel Light was finished in 1791 and stands 31 metres tall."
)
TRANSFORMED = "A: The Kessel Light made the coast safe. B: Ships were still lost before 1791, when it was finished."


def prompt_of(request):
    return request.prompt if request.prompt is not None else request.messages[-1]["content"]


def kind_of(prompt: str) -> str:
    if prompt.startswith("Text:\n") and "Write one task" in prompt:
        return "seed"
    if "Suggest " in prompt and "ways to make this task harder" in prompt:
        return "suggest"
    if "Rewrite the task" in prompt:
        return "edit"
    if prompt.startswith(("Rewrite the", "List the facts", "Retell")):
        return "transform"
    return "answer"


class Teacher:
    """A rule-based teacher that answers by prompt type and records what it saw."""

    def __init__(self, **overrides):
        self.seen: dict[str, list[str]] = {}
        self.replies = {
            "transform": f"Sure, here is the rewritten text:\n{TRANSFORMED}",
            "seed": "Instruction: When was the Kessel Light finished?",
            "suggest": "Here are some ideas:\n1. Ask for the builder too.\n2. Ask how many years after the founding it was.",
            "edit": "Instruction: Who built the Kessel Light, and how many years after Kessel's founding was it finished?",
            "answer": "Mara Lindqvist built it; it was finished in 1791, 179 years after 1612.",
        }
        self.replies.update(overrides)

    def __call__(self, request):
        prompt = prompt_of(request)
        kind = kind_of(prompt)
        self.seen.setdefault(kind, []).append(prompt)
        reply = self.replies[kind]
        return reply(prompt) if callable(reply) else reply


def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    (folder / "kessel.txt").write_text(DOC)
    return str(folder)


def run(tmp_path, teacher, *, n=2, out="out", **options):
    options = {"documents": docs(tmp_path), "raw": False, "transformations": ["debate"], **options}
    llm = FunctionLLM(teacher)
    result = run_generator("agent-instruct", [llm], tmp_path / out, n=n, options=options)
    report = json.loads((tmp_path / out / "generation.json").read_text())
    return list(result.examples()), list(_excluded(tmp_path / out)), report


def _excluded(stage):
    from syllabus.pipeline.runner import read_stage

    for phase in sorted((stage / "phases").glob("*")):
        yield from read_stage(phase, kind="excluded")


def test_docstring_examples():
    assert doctest.testmod(ai).failed == 0


def test_the_flow_prompts_and_the_stored_record(tmp_path):
    teacher = Teacher()
    records, excluded, report = run(tmp_path, teacher, n=2, instructions_per_text=2)
    assert len(records) == 2 and not excluded
    # What the teacher saw at each stage.
    (transform,) = teacher.seen["transform"]
    assert transform.startswith("Rewrite the text below as a short debate") and DOC in transform
    assert all(TRANSFORMED in p and "Instruction: <the task>" in p for p in teacher.seen["seed"])
    descriptions = set(TAXONOMIES["reading-comprehension"].values())
    assert all(any(d in p for d in descriptions) for p in teacher.seen["seed"])
    assert all("Task: When was the Kessel Light finished?" in p for p in teacher.seen["suggest"])
    assert all("Suggestions:\n1. Ask for the builder too.\n2. Ask how many" in p for p in teacher.seen["edit"])
    refined = teacher.replies["edit"].removeprefix("Instruction: ")
    assert teacher.seen["answer"][0] == f"{TRANSFORMED}\n\n{refined}"
    # The record: transformed text + refined task as the user turn, the answer as completion.
    r = records[0]
    assert r.messages == [{"role": "user", "content": f"{TRANSFORMED}\n\n{refined}"}]
    assert r.completion == teacher.replies["answer"]
    assert r.meta["agentinstruct.transformation"] == "debate"
    assert r.meta["agentinstruct.taxonomy"] == "reading-comprehension"
    assert r.meta["agentinstruct.question_type"] in TAXONOMIES["reading-comprehension"]
    assert r.meta["agentinstruct.seed_instruction"] == "When was the Kessel Light finished?"
    assert r.meta["agentinstruct.refined"] == 1
    assert r.meta["agentinstruct.suggestions"] == [
        ["Ask for the builder too.", "Ask how many years after the founding it was."]
    ]
    assert r.meta["source"] == "kessel.txt#0"
    assert r.meta["skill"] == "reading-comprehension"
    assert r.meta["tags"] == ["debate", r.meta["agentinstruct.question_type"]]
    assert "agentinstruct.pending" not in r.meta
    # Two question types per transformed text, distinct.
    assert len({x.meta["agentinstruct.question_type"] for x in records}) == 2
    assert {x.id for x in records} == {f"kessel-c000-debate-{x.meta['agentinstruct.question_type']}" for x in records}
    # Provenance: generator, teacher, template and prompt hashes, parents, and the chain of calls.
    p = r.provenance
    assert (p["generator"], p["generator_version"], p["model"]) == ("agent-instruct", "1", "fake:function")
    assert p["template"] == "agentinstruct.answer" and p["template_hash"] == ai.ANSWER.hash
    assert p["prompt_hash"] and p["cache_key"]
    assert p["parents"] == ["kessel-c000-debate"]
    steps = [c["step"] for c in p["calls"]]
    assert steps == ["transform", "seed-instruction", "suggest1", "edit1", "answer"]
    assert p["calls"][0]["template_hash"] == TRANSFORMATIONS["debate"].hash
    # Stats: one phase with every step's yield.
    names = [s["step"] for s in report["phases"][0]["steps"]]
    assert names == [
        "chunk-length",
        "transform",
        "transformed-text",
        "pick-types",
        "seed-instruction",
        "instruction-length",
        "suggest1",
        "edit1",
        "refined-length",
        "answer",
        "answer-length",
    ]
    assert report["kept"] == 2 and report["requests"] == 1 + 2 * 4


def test_two_refinement_rounds_count_only_rounds_that_change_the_task(tmp_path):

    def edit(prompt):
        # Round 1 rewrites; round 2 returns the task unchanged.
        current = prompt.split("\n\nTask: ", 1)[1].split("\n\nSuggestions:")[0]
        return (
            "Instruction: Who built the light, and when?" if current.startswith("When") else f"Instruction: {current}"
        )

    teacher = Teacher(edit=edit)
    records, _, _report = run(tmp_path, teacher, n=1, instructions_per_text=1, refine_rounds=2)
    (r,) = records
    assert r.meta["agentinstruct.refined"] == 1
    assert len(r.meta["agentinstruct.suggestions"]) == 2
    assert r.meta["agentinstruct.instruction"] == "Who built the light, and when?"
    assert "Task: Who built the light, and when?" in teacher.seen["suggest"][1]  # round 2 saw round 1's edit
    assert [c["step"] for c in r.provenance["calls"]] == [
        "transform",
        "seed-instruction",
        "suggest1",
        "edit1",
        "suggest2",
        "edit2",
        "answer",
    ]


def test_no_refinement_keeps_the_seed_instruction(tmp_path):
    teacher = Teacher()
    (r,), _, _report = run(tmp_path, teacher, n=1, instructions_per_text=1, refine_rounds=0)
    assert "suggest" not in teacher.seen and "edit" not in teacher.seen
    assert r.meta["agentinstruct.instruction"] == r.meta["agentinstruct.seed_instruction"]
    assert r.meta["agentinstruct.refined"] == 0


def test_malformed_output_is_excluded_with_raw_text_and_reason(tmp_path):
    teacher = Teacher(
        transform="   ",
    )
    records, excluded, report = run(tmp_path, teacher, n=1, transformations=["debate", "poem"])
    assert records == []
    assert {e.meta["excluded.reason"] for e in excluded} == {"unparseable (empty text)"}
    assert all(e.meta["transform.raw"] == "   " for e in excluded)
    assert any("kept nothing" in note for note in report["notes"])
    # A suggester with nothing to say: that record is excluded, the run goes on.
    records, excluded, _ = run(tmp_path, Teacher(suggest=""), n=1, out="out2")
    assert records == [] and {e.meta["excluded.reason"] for e in excluded} == {"unparseable (no suggestions)"}


def test_parsers_accept_loose_shapes():
    assert ai._single_field("**Instruction:** Name the river.\nAnswer: Aune", "Instruction") == "Name the river."
    assert (
        ai._single_field("Sure! Here is a task:\nTask: Name the river.\n\nExtra notes.", "Instruction")
        == "Name the river."
    )
    assert ai._single_field('"Name the river."', "Instruction") == "Name the river."
    with pytest.raises(ParseError):
        ai._single_field("Instruction:   ", "Instruction")
    step = Suggest(EchoLLM(), k=2)
    e = (
        Example.from_prompt("x", id="e")
        .set_meta("agentinstruct", "text", "t")
        .set_meta("agentinstruct", "instruction", "i")
    )
    assert step.parse("- add a condition\n- ask why\n- third", e, 0).meta["agentinstruct.pending"] == [
        "add a condition",
        "ask why",
    ]
    with pytest.raises(ParseError, match="no suggestions"):
        step.parse("\n \n", e, 0)


def test_each_filter_on_planted_cases():
    def rec(**meta):
        e = Example.from_prompt("p", id="x")
        e.meta.update({f"agentinstruct.{k}": v for k, v in meta.items() if k != "chunk"})
        e.meta["doc.text"] = meta.get("chunk", DOC)
        return e

    assert ChunkLength(50).keep(rec()) is True
    assert ChunkLength(5000).keep(rec()) == Drop("chunk too short")
    f = TransformedText(min_chars=20, max_copy_rouge=0.9)
    assert f.keep(rec(text="short")) == Drop("text too short")
    assert f.keep(rec(text=DOC + " Indeed.")) == Drop("copy of the chunk")
    kept = rec(text=TRANSFORMED)
    assert f.keep(kept) is True and kept.meta["agentinstruct.copy_rouge"] < 0.9
    g = InstructionLength(10, 40)
    assert g.keep(rec(instruction="Why?")) == Drop("instruction too short")
    assert g.keep(rec(instruction="x" * 41)) == Drop("instruction too long")
    assert g.keep(rec(instruction="Why was the light built?")) is True
    a = AnswerLength(2)
    assert a.keep(Example.from_prompt("q", completion=" ")) == Drop("answer too short")
    assert a.keep(Example.from_prompt("q", completion="1791")) is True


def test_filters_drop_inside_a_run_with_their_reasons(tmp_path):
    teacher = Teacher(seed="Instruction: Why?", transform=f"Here:\n{DOC}")
    records, excluded, _ = run(tmp_path, teacher, n=1, transformations=["debate", "poem"])
    assert records == []
    assert {e.meta["excluded.reason"] for e in excluded} == {"copy of the chunk"}
    records, excluded, _report = run(tmp_path, Teacher(seed="Instruction: Why?"), n=1, out="o2")
    assert {e.meta["excluded.reason"] for e in excluded} == {"instruction too short"}


def test_taxonomy_options(tmp_path):
    teacher = Teacher()
    records, _, _ = run(
        tmp_path,
        teacher,
        n=1,
        instructions_per_text=1,
        taxonomy={"riddle": "a riddle whose answer is a name in the text"},
    )
    assert records[0].meta["agentinstruct.taxonomy"] == "custom"
    assert records[0].meta["agentinstruct.question_type"] == "riddle"
    assert "must be a riddle whose answer is a name in the text" in teacher.seen["seed"][0]
    teacher = Teacher()
    records, _, _ = run(
        tmp_path,
        teacher,
        n=1,
        out="o2",
        instructions_per_text=1,
        taxonomy="text-modification",
        question_types=["simplify"],
    )
    assert records[0].meta["agentinstruct.question_type"] == "simplify"
    with pytest.raises(ConfigError, match="Did you mean reading-comprehension"):
        run(tmp_path, teacher, out="o3", taxonomy="reading-comprehensoin")
    with pytest.raises(ConfigError, match="question_types.*Did you mean literal"):
        run(tmp_path, teacher, out="o4", question_types=["literl"])
    with pytest.raises(ConfigError, match="unknown transformation 'poen'"):
        run(tmp_path, teacher, out="o5", transformations=["poen"])
    with pytest.raises(ConfigError, match="unknown option"):
        get_generator("agent-instruct", {"rounds": 2})


def test_base_model_prompts_end_with_a_cue_and_parse(tmp_path):
    teacher = Teacher(
        seed=" When was the light finished?",
        edit=" Who built the light?",
        suggest=" Ask for the builder.\n2. Ask for the year.",
    )
    records, _, _ = run(tmp_path, teacher, n=1, instructions_per_text=1, raw=None)  # fakes have no chat template
    (r,) = records
    assert teacher.seen["seed"][0].endswith("Instruction: <the task>\n\nInstruction:")
    assert teacher.seen["suggest"][0].endswith("\n\nSuggestions:\n1.")
    assert r.meta["agentinstruct.seed_instruction"] == "When was the light finished?"
    assert r.meta["agentinstruct.suggestions"] == [["Ask for the builder.", "Ask for the year."]]
    assert r.meta["agentinstruct.instruction"] == "Who built the light?"
    step = SeedInstruction(EchoLLM(), raw=True, taxonomy={"t": "d"})
    assert step.describe()["raw"] is True
    assert isinstance(
        Edit(EchoLLM(), raw=True).request(
            Example.from_prompt("p")
            .set_meta("agentinstruct", "text", "t")
            .set_meta("agentinstruct", "instruction", "i")
            .set_meta("agentinstruct", "pending", ["s"])
        ),
        str,
    )


def test_rerun_and_resume_give_the_same_ids(tmp_path):
    first, _, _ = run(tmp_path, Teacher(), n=3, transformations=["debate", "poem", "facts"])
    again, _, _report = run(
        tmp_path, Teacher(), n=3, transformations=["debate", "poem", "facts"]
    )  # same folder: resumes
    fresh, _, _ = run(tmp_path, Teacher(), n=3, out="fresh", transformations=["debate", "poem", "facts"])
    assert [r.id for r in first] == [r.id for r in again] == [r.id for r in fresh]
    assert len({r.id for r in first}) == 3


def test_plan_renders_transform_prompts_and_counts_calls_without_calling(tmp_path):
    gen = get_generator("agent-instruct", {"documents": "builtin:samples", "raw": False})
    plan = GenerationRun(gen, [EchoLLM()], GenerationSettings(n=4), tmp_path / "p").dry_run()
    assert [p.name for p in plan.phases] == ["transform", "seed-instruction", "suggest1", "edit1", "answer"]
    first = plan.phases[0].calls
    assert first == 5 and plan.phases[1].calls == 2 * first and plan.phases[4].calls == 2 * first
    assert any(plan.prompts[0][-1]["content"].startswith(t.user.split("{")[0]) for t in TRANSFORMATIONS.values())
    assert not (tmp_path / "p").exists()


def test_cli_dry_run_and_an_echo_run_never_crash(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [
        "generate",
        "--generator",
        "agent-instruct",
        "--teacher",
        "fake:echo",
        "--set",
        "documents=builtin:samples",
        "--n",
        "3",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main([*argv, "--dry-run"]) == 0
    assert "transform" in capsys.readouterr().out
    assert main(argv) == 0  # echoed prompts are garbage answers: filtered or kept, never a crash
    report = json.loads((out / "r00" / "01_generate" / "generation.json").read_text())
    assert report["requests"] > 0 and report["phases"]
