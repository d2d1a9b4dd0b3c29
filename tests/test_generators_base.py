"""The generator framework: TeacherStep, parsing helpers, rounds, dry runs, the CLI path."""

from __future__ import annotations

import json

import pytest

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.generators import (
    GenerationRun,
    GenerationSettings,
    Generator,
    Plan,
    get_generator,
    run_generator,
)
from syllabus.llm.fake import EchoLLM, FunctionLLM, ScriptedLLM
from syllabus.parsing import (
    ParseError,
    extract_json,
    labelled_fields,
    numbered_items,
    split_on_label,
)
from syllabus.pipeline import Pipeline
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example

LIST = PromptTemplate("list", user="Give tasks about {topic}.", system="You write tasks.")


class ListTasks(TeacherStep):
    name = "list-tasks"
    template = LIST

    def fields(self, example):
        return {"topic": example.prompt}

    def parse(self, text, example, sample):
        return [
            Example.from_prompt(item, id=f"{example.id}-{sample}-{i}") for i, item in enumerate(numbered_items(text))
        ]


# -- parsing -------------------------------------------------------------------------------------
def test_numbered_items_accepts_common_shapes_and_joins_continuations():
    text = (
        "Sure! Here are tasks:\n1. Sort a list\n   of numbers.\n2) Name a colour.\nTask 3: Add 2 and 2.\n- 4. Last one"
    )
    assert numbered_items(text) == [
        "Sort a list of numbers.",
        "Name a colour.",
        "Add 2 and 2.",
        "Last one",
    ]
    with pytest.raises(ParseError, match="no numbered list"):
        numbered_items("I cannot do that.")


def test_labelled_fields_first_occurrence_wins_and_required_labels():
    text = "**Instruction:** Say hi.\ninput: none\nOutput: hi\nInstruction: again"
    assert labelled_fields(text, ["Instruction", "Input", "Output"]) == {
        "Instruction": "Say hi.",
        "Input": "none",
        "Output": "hi",
    }
    with pytest.raises(ParseError, match="missing Output"):
        labelled_fields("Instruction: x", ["Instruction", "Output"])
    assert labelled_fields("Instruction: x", ["Instruction", "Output"], required=["Instruction"]) == {
        "Instruction": "x"
    }


def test_split_on_label_and_extract_json():
    assert split_on_label("Example 1: a\nExample 2: b", "Example") == [
        "Example 1: a",
        "Example 2: b",
    ]
    assert extract_json('noise {"a": [1, 2]} tail') == {"a": [1, 2]}
    assert extract_json("```json\n[1, 2]\n```") == [1, 2]
    with pytest.raises(ParseError):
        extract_json("{not json")


def test_prompt_template_renders_checks_fields_and_hashes_its_text():
    assert LIST.render(topic="maths") == [
        {"role": "system", "content": "You write tasks."},
        {"role": "user", "content": "Give tasks about maths."},
    ]
    with pytest.raises(ConfigError, match="needs topic"):
        LIST.render()
    assert LIST.hash != PromptTemplate("list", user="Give tasks about {topic}!").hash


# -- TeacherStep -------------------------------------------------------------------------------
def test_teacher_step_parses_stamps_provenance_and_excludes_malformed_output(tmp_path):
    teacher = ScriptedLLM(["1. a task\n2. another task", "sorry, no list here"])
    step = ListTasks(teacher, origin=("toy", "3"))
    result = Pipeline([step]).run(
        [Example.from_prompt("maths", id="m"), Example.from_prompt("art", id="a")],
        tmp_path,
    )
    kept, excluded = list(result.examples()), list(result.excluded())
    assert [e.prompt for e in kept] == ["a task", "another task"]
    assert teacher.history[0].messages[-1]["content"] == "Give tasks about maths."
    p = kept[0].provenance
    assert p["generator"] == "toy" and p["generator_version"] == "3" and p["parents"] == ["m"]
    assert p["model"] == "fake:scripted" and p["template"] == "list" and p["template_hash"] == LIST.hash
    assert len(p["prompt_hash"]) == 16 and len(p["cache_key"]) > 16 and p["calls"][0]["step"] == "list-tasks"
    (bad,) = excluded
    assert bad.meta["excluded.reason"] == "unparseable (no numbered list)"
    assert bad.meta["list-tasks.raw"] == "sorry, no list here" and bad.meta["list-tasks.parse_error"].startswith(
        "no numbered list"
    )
    counters = result.summary["counters"]
    assert counters["list-tasks.requests"] == 2 and counters["list-tasks.dropped.unparseable (no numbered list)"] == 1


def test_provenance_keeps_the_chain_of_calls_across_steps(tmp_path):
    class Answer(TeacherStep):
        name = "answer"

    steps = [ListTasks(ScriptedLLM(["1. x y z"])), Answer(EchoLLM())]
    (out,) = Pipeline(steps).run([Example.from_prompt("t", id="t")], tmp_path).examples()
    assert [c["step"] for c in out.provenance["calls"]] == ["list-tasks", "answer"]
    assert out.provenance["model"] == "fake:echo" and out.completion == "x y z"


# -- GenerationRun ------------------------------------------------------------------------------
class Rounds(Generator):
    name = "rounds"

    def generate(self, run):
        def inputs(round_, k):
            self.sizes.append(k)
            return [Example.from_prompt(f"topic {round_}.{i}", id=f"r{round_}.{i}") for i in range(k)]

        self.sizes = []
        return run.until(
            "tasks",
            inputs,
            [ListTasks(run.teacher, origin=self.origin)],
            expected_yield=0.5,
        )

    def plan(self, run):
        return Plan.of(
            run,
            [("tasks", ListTasks(run.teacher), [Example.from_prompt("topic")])],
            calls_per_input=[4],
        )


def test_until_sizes_rounds_from_the_observed_yield_and_stops_at_n(tmp_path):
    # Every call yields one task, except that topics of round 0 fail half the time.
    def answer(request):
        topic = request.messages[-1]["content"]
        return "no list" if topic.endswith(("1.", "3.", "5.", "7.", "9.")) else f"1. task for {topic}"

    gen = Rounds()
    result = GenerationRun(gen, [FunctionLLM(answer)], GenerationSettings(n=10), tmp_path).execute()
    report = json.loads((tmp_path / "generation.json").read_text())
    assert report["kept"] == 10 and gen.sizes == [22]  # ceil(10 / 0.5 * 1.1): round 0 keeps 11 of 22
    assert len({e.id for e in result.examples()}) == 10


def test_until_reports_when_a_round_keeps_nothing(tmp_path):
    GenerationRun(Rounds(), [EchoLLM()], GenerationSettings(n=5), tmp_path).execute()
    report = json.loads((tmp_path / "generation.json").read_text())
    assert report["kept"] == 0 and "kept nothing" in report["notes"][0]
    assert report["phases"][0]["steps"][0]["reasons"] == {"unparseable (no numbered list)": 11}


def test_dry_run_never_calls_the_teacher():
    teacher = ScriptedLLM([])
    plan = GenerationRun(Rounds(), [teacher], GenerationSettings(n=5), "unused").dry_run()
    assert plan.calls == 4 and plan.prompts[0][-1]["content"] == "Give tasks about topic."
    assert teacher.history == []


def test_get_generator_checks_options_with_did_you_mean():
    assert get_generator("responses", {"style": "step-by-step"}).config.style == "step-by-step"
    with pytest.raises(ConfigError, match="Did you mean style"):
        get_generator("responses", {"styel": "direct"})
    with pytest.raises(ConfigError, match="Did you mean self-instruct"):
        get_generator("self-instruc")


# -- responses and the CLI ----------------------------------------------------------------------
def test_responses_step_by_step_sends_the_system_prompt_and_erases_it(tmp_path):
    teacher = ScriptedLLM(["Step 1: 2+2=4\nAnswer: 4"])
    result = run_generator(
        "responses",
        [teacher],
        tmp_path,
        inputs=[Example.from_prompt("2+2?", id="q")],
        options={"style": "step-by-step"},
        n=1,
    )
    (out,) = result.examples()
    assert teacher.history[0].messages[0]["role"] == "system"
    assert out.messages == [{"role": "user", "content": "2+2?"}] and out.completion.endswith("Answer: 4")
    assert "step" in out.meta["respond.erased_system"] and out.provenance["generator"] == "responses"


def test_responses_samples_get_distinct_ids(tmp_path):
    result = run_generator(
        "responses",
        ["fake:echo"],
        tmp_path,
        inputs=[Example.from_prompt("hi", id="q")],
        options={"samples": 3},
        n=3,
    )
    assert [e.id for e in result.examples()] == ["q-s0", "q-s1", "q-s2"]


def test_cli_dry_run_prints_prompts_and_plan_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "generate",
                "--teacher",
                "fake:echo",
                "--prompt",
                "What is 2+2?",
                "--out",
                str(out),
                "--dry-run",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "user: What is 2+2?" in text and "planned for n=1" in text and "respond" in text
    assert not out.exists()


def test_cli_set_parses_values_and_rejects_bad_items(tmp_path, capsys):
    argv = [
        "generate",
        "--teacher",
        "fake:echo",
        "--prompt",
        "hi",
        "--out",
        str(tmp_path / "r"),
        "--no-progress",
    ]
    assert main([*argv, "--set", "samples=2", "--show", "0"]) == 0
    assert "kept 2 of 2" in " ".join(capsys.readouterr().out.split())
    assert main([*argv, "--set", "samples"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert main([*argv, "--set", "sampels=2"]) == 2
    assert "Did you mean samples?" in capsys.readouterr().err


def test_repeated_list_flags_accumulate(tmp_path):
    from syllabus.cli import GenerateConfig, build_parser
    from syllabus.config import resolve

    args = build_parser().parse_args(["generate", "--set", "samples=2", "--set", "style=direct", "--prompt", "a", "b"])
    for k in [k for k in vars(args) if k.startswith("_")]:
        delattr(args, k)
    cfg = resolve(GenerateConfig, args)
    assert cfg.set == ["samples=2", "style=direct"] and cfg.prompt == ["a", "b"]


def test_split_on_label_without_the_label_is_empty():
    assert split_on_label("nothing here", "Example") == []
