"""continuation: first half of a text -> the teacher's continuation (non-instructional pairs)."""

from __future__ import annotations

import doctest
import json

import pytest

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators import continuation as ct
from syllabus.generators.continuation import ContinuationShape, Continue, SplitText
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.pipeline.runner import read_stage
from syllabus.pipeline.step import Drop
from syllabus.record import Example

TEXT = (
    "The Aune rises in the Tarn Hills at a height of 640 metres. For its first 30 kilometres it is a fast stream. "
    "Below the village of Emsby the valley widens and the river slows down. It then crosses the central plain in "
    "wide loops. In its last stretch the Aune flows north through a wooded gorge. It reaches the sea at Kessel."
)
CONTINUATION = "Salmon swim up the river every autumn, and otters have returned to its banks in recent years."


def prompt_of(request):
    return request.prompt if request.prompt is not None else request.messages[-1]["content"]


class Teacher:
    def __init__(self, reply=CONTINUATION):
        self.seen: list = []
        self.reply = reply

    def __call__(self, request):
        self.seen.append(request)
        return self.reply(request) if callable(self.reply) else self.reply


def run(tmp_path, teacher, *, n=1, out="out", inputs=(), **options):
    if not inputs:
        (tmp_path / "aune.txt").write_text(TEXT)
        options = {"documents": str(tmp_path / "aune.txt"), **options}
    result = run_generator("continuation", [FunctionLLM(teacher)], tmp_path / out, n=n, inputs=inputs, options=options)
    stage = tmp_path / out
    excluded = [e for phase in sorted((stage / "phases").glob("*")) for e in read_stage(phase, kind="excluded")]
    return list(result.examples()), excluded, json.loads((stage / "generation.json").read_text())


def test_docstring_examples():
    assert doctest.testmod(ct).failed == 0


def test_chat_teachers_are_asked_to_continue_and_the_record_holds_the_first_half(tmp_path):
    teacher = Teacher(reply="Sure! Here is the continuation:\n" + CONTINUATION)
    (r,), _excluded, report = run(tmp_path, teacher, raw=False)
    (request,) = teacher.seen
    head = r.prompt
    assert request.messages[-1]["content"] == ct.CONTINUE.render(text=head)[-1]["content"]
    assert request.messages[-1]["content"].startswith("Continue the following text.")
    assert head.endswith("river slows down.") and TEXT.startswith(head)  # cut at a sentence end near the middle
    assert r.messages == [{"role": "user", "content": head}]
    assert r.completion == CONTINUATION  # the chatty preamble is cut off
    split = r.meta["continuation.split"]
    assert split["unit"] == "sentence" and 0.35 < split["fraction"] < 0.65 and split["chars"] == len(TEXT)
    assert r.meta["continuation.original"] == TEXT[split["at"] :].strip()
    assert r.meta["continuation.mode"] == "chat"
    assert r.meta["source"] == "aune.txt#0"
    assert "continuation.head" not in r.meta
    p = r.provenance
    assert (p["generator"], p["model"], p["template"]) == ("continuation", "fake:function", "continuation.continue")
    assert p["template_hash"] == ct.CONTINUE.hash and p["prompt_hash"] and p["parents"] == []
    assert p["document"] == "aune.txt"
    assert [s["step"] for s in report["phases"][0]["steps"]] == ["split", "continue", "continuation-shape"]


def test_base_models_get_the_raw_first_half(tmp_path):
    teacher = Teacher()
    (r,), _, _ = run(tmp_path, teacher)  # fakes have no chat template: raw by default
    (request,) = teacher.seen
    assert request.messages is None and request.prompt == r.prompt
    assert r.completion == CONTINUATION and r.meta["continuation.mode"] == "raw"


def test_a_repeated_first_half_is_cut_and_an_echo_is_dropped(tmp_path):
    echo_then_more = lambda request: prompt_of(request).split("\n\n", 1)[1] + " " + CONTINUATION
    (r,), _, _ = run(tmp_path, Teacher(echo_then_more), raw=False)
    assert r.completion == CONTINUATION
    records, excluded, _ = run(tmp_path, Teacher(lambda request: request.prompt), out="o2")  # raw echo
    assert records == [] and {e.meta["excluded.reason"] for e in excluded} == {"repeats the text"}
    records, excluded, _ = run(tmp_path, Teacher(""), out="o3")
    assert records == [] and {e.meta["excluded.reason"] for e in excluded} == {"unparseable (empty continuation)"}
    assert all(e.meta["continue.raw"] == "" for e in excluded)


def test_filters_on_planted_cases():
    def piece(text):
        e = Example.from_prompt(text, id="p")
        e.meta["doc.text"] = text
        return e

    split = SplitText(min_chars=50, fraction=0.5, unit="sentence")
    assert split.keep(piece("Too short.")) == Drop("text too short")
    assert SplitText(min_chars=1, fraction=0.5, unit="word").keep(piece("x" * 60)) == Drop("no boundary to split at")
    ok = piece(TEXT)
    assert split.keep(ok) is True and ok.meta["continuation.head"] + " " + ok.meta["continuation.original"] == TEXT
    word = piece(TEXT)
    assert SplitText(1, 0.5, "word").keep(word) is True and word.meta["continuation.split"]["unit"] == "word"
    shape = ContinuationShape(min_chars=20, max_echo_rouge=0.8)
    assert shape.keep(Example.from_prompt(TEXT, completion="And so.")) == Drop("continuation too short")
    assert shape.keep(Example.from_prompt(TEXT, completion=TEXT)) == Drop("repeats the text")
    kept = Example.from_prompt(TEXT, completion=CONTINUATION)
    assert shape.keep(kept) is True and kept.meta["continuation.echo_rouge"] < 0.8


def test_prompts_records_are_documents_and_long_ones_are_chunked(tmp_path):
    long_doc = Example.from_prompt(" ".join([TEXT] * 4), id="web1")
    short_doc = Example.from_prompt("Too short to split into halves.", id="web2")
    records, excluded, _ = run(tmp_path, Teacher(), n=10, inputs=[long_doc, short_doc], chunk_chars=400)
    assert {r.meta["source"].split("#")[0] for r in records} == {"web1"}
    assert len(records) >= 3 and all(r.id.startswith("web1-c") for r in records)
    assert {e.meta["excluded.reason"] for e in excluded} == {"text too short"}
    assert all(r.provenance["parents"] == ["web1"] for r in records)
    assert len({r.id for r in records}) == len(records)


def test_rerun_gives_the_same_ids_and_options_are_checked(tmp_path):
    first, _, _ = run(tmp_path, Teacher(), n=2, documents="builtin:samples", chunk_chars=500)
    again, _, _ = run(tmp_path, Teacher(), n=2, documents="builtin:samples", chunk_chars=500)
    assert [r.id for r in first] == [r.id for r in again] and len(first) == 2
    with pytest.raises(ConfigError, match="fraction must be between 0 and 1"):
        run(tmp_path, Teacher(), out="o2", fraction=1.5)
    with pytest.raises(ConfigError, match="is not one of"):
        get_generator("continuation", {"split": "paragraph"})


def test_plan_and_cli(tmp_path, capsys):
    gen = get_generator("continuation", {"documents": "builtin:samples"})
    plan = GenerationRun(gen, [EchoLLM()], GenerationSettings(n=3), tmp_path / "p").dry_run()
    assert [p.name for p in plan.phases] == ["continue"] and plan.phases[0].calls == 5
    assert all(isinstance(p, str) for p in plan.prompts)  # raw prompts for a teacher without a chat template
    chat = get_generator("continuation", {"documents": "builtin:samples", "raw": False})
    prompts = GenerationRun(chat, [EchoLLM()], GenerationSettings(n=1), tmp_path / "q").dry_run().prompts
    assert prompts[0][-1]["content"].startswith("Continue the following text.")
    out = tmp_path / "cli"
    argv = [
        "generate",
        "--generator",
        "continuation",
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
    assert "continue" in capsys.readouterr().out
    assert main(argv) == 0  # an echo teacher only repeats: every record is filtered, the run ends cleanly
    report = json.loads((out / "r00" / "01_generate" / "generation.json").read_text())
    assert report["kept"] == 0 and report["requests"] > 0
    assert Continue(EchoLLM(), raw=True).describe()["raw"] is True
