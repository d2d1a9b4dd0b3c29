"""Magpie: the user-turn prefix from the chat template, raw query sampling, query filters, answers."""

from __future__ import annotations

import json

import pytest

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators.magpie import FirstOccurrence, normalise_text, template_prefix
from syllabus.jsonl import read_jsonl
from syllabus.llm import BACKENDS
from syllabus.llm.base import Capabilities, SamplingParams
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.record import Example

DEFAULT_SYSTEM = "You are a helpful AI assistant."


class ChatML(FunctionLLM):
    """A fake with SmolLM2's ChatML template (a default system prompt when none is given)."""

    capabilities = Capabilities(chat_template=True)

    def apply_chat_template(self, messages, *, add_generation_prompt=True):
        if not messages or messages[0]["role"] != "system":
            messages = [{"role": "system", "content": DEFAULT_SYSTEM}, *messages]
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def chat_teacher(queries=None):
    """Raw prompts get a query (by sample index) followed by what a model writes after it."""

    def answer(request):
        if request.prompt is not None:
            query = queries(request.sample_index) if queries else f"How do I bake bread number {request.sample_index}?"
            return f"{query}<|im_end|>\n<|im_start|>assistant\nSure, here is how."
        return f"Answer to: {request.messages[-1]['content']}"

    return ChatML(answer, name="chatml")


def _make_chatml(spec="", **_):
    return chat_teacher()


BACKENDS.register("test-chatml", _make_chatml)


def excluded(folder):
    return [r for f in sorted(folder.glob("phases/*/excluded/*.jsonl")) for r in read_jsonl(f)]


# -- the prefix ------------------------------------------------------------------------------------
def test_template_prefix_cuts_the_template_at_the_user_message():
    found = template_prefix(chat_teacher())
    assert found.prefix == f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n"
    assert found.stops == ("<|im_end|>", "<|im_start|>assistant")
    assert found.header == "assistant"
    steered = template_prefix(chat_teacher(), system="You answer cooking questions.")
    assert steered.prefix == "<|im_start|>system\nYou answer cooking questions.<|im_end|>\n<|im_start|>user\n"


def test_template_that_hides_the_message_is_a_config_error():
    class Hiding(ChatML):
        def apply_chat_template(self, messages, *, add_generation_prompt=True):
            return "<bos>"

    with pytest.raises(ConfigError, match="prefix"):
        template_prefix(Hiding(lambda r: "", name="hiding"))


def test_teacher_without_chat_template_needs_an_explicit_prefix(tmp_path):
    with pytest.raises(ConfigError, match="needs a chat model"):
        run_generator("magpie", [EchoLLM()], tmp_path / "a", n=2)
    with pytest.raises(ConfigError, match="stop"):
        run_generator("magpie", [EchoLLM()], tmp_path / "b", n=2, options={"prefix": "User: "})


# -- sampling queries ------------------------------------------------------------------------------
def test_queries_are_raw_prefix_requests_sampled_with_distinct_indices_and_stops(tmp_path):
    teacher = chat_teacher()
    result = run_generator(
        "magpie",
        [teacher],
        tmp_path,
        n=4,
        params=SamplingParams(max_tokens=64, temperature=0.0),
        options={"system": "You answer cooking questions."},
    )
    raw = [r for r in teacher.history if r.prompt is not None]
    assert raw and all(r.messages is None for r in raw)
    assert raw[0].prompt == "<|im_start|>system\nYou answer cooking questions.<|im_end|>\n<|im_start|>user\n"
    assert raw[0].params.stop == ("<|im_end|>", "<|im_start|>assistant")
    assert raw[0].params.temperature == 1.0 and raw[0].params.max_tokens == 128
    assert len({r.sample_index for r in raw}) == len(raw)
    # Answers go through the chat template with the same system prompt; greedy as asked.
    chats = [r for r in teacher.history if r.messages is not None]
    assert chats[0].messages[0] == {"role": "system", "content": "You answer cooking questions."}
    assert chats[0].params.temperature == 0.0
    records = list(result.examples())
    assert [r.id for r in records] == [f"magpie-{i:06d}" for i in range(4)]
    first = records[0]
    # The stored record keeps only the user turn, cut at the end-of-turn marker.
    assert first.messages == [{"role": "user", "content": "How do I bake bread number 0?"}]
    assert first.completion == "Answer to: How do I bake bread number 0?"
    assert first.meta["source"] == "magpie" and first.meta["magpie.round"] == 0
    assert first.provenance["generator"] == "magpie"
    assert [c["step"] for c in first.provenance["calls"]] == ["query", "response"]


def test_query_parse_cuts_a_visible_turn_header_when_the_decoder_hid_the_tokens(tmp_path):
    # A backend that skips special tokens prints "assistant" on its own line instead of the markers.
    teacher = ChatML(
        lambda r: "What is yeast?\nassistant\nYeast is a fungus." if r.prompt is not None else "ok fine answer",
        name="hidden",
    )
    records = list(run_generator("magpie", [teacher], tmp_path, n=1, options={"min_words": 1}).examples())
    assert records[0].prompt == "What is yeast?"


def test_filters_drop_empty_short_long_cut_off_and_duplicate_queries(tmp_path):
    planted = {
        0: "\nassistant\nHello!",  # nothing before the turn header: an empty query -> unparseable
        1: "Hi",  # too short
        2: " ".join(["word"] * 40),  # too long (max_words=30)
        3: "Tell me about bread baking please",
        4: "tell me  about BREAD baking please",  # duplicate of 3 after normalising
        5: "What makes sourdough bread sour?",
    }
    teacher = chat_teacher(lambda i: planted.get(i, f"Unique question number {i} about flour?"))
    result = run_generator(
        "magpie",
        [teacher],
        tmp_path,
        n=4,
        max_rounds=1,
        options={"min_words": 3, "max_words": 30},
    )
    prompts = [r.prompt for r in result.examples()]
    assert prompts[:2] == ["Tell me about bread baking please", "What makes sourdough bread sour?"]
    reasons = {(r.id, r.meta["excluded.reason"]) for r in excluded(tmp_path)}
    assert ("magpie-000000-query-s0", "unparseable (empty query)") in reasons
    assert ("magpie-000001", "too short") in reasons
    assert ("magpie-000002", "too long") in reasons
    assert ("magpie-000004", "duplicate") in reasons
    failed = next(r for r in excluded(tmp_path) if r.id == "magpie-000000-query-s0")
    assert failed.meta["query.raw"] == "\nassistant\nHello!"
    assert failed.meta["query.parse_error"] == "empty query"


def test_query_cut_off_by_the_token_budget_counts_as_too_long(tmp_path):
    teacher = ChatML(
        lambda r: "one two three four five six seven eight" if r.prompt is not None else "answer text",
        name="rambling",
    )
    result = run_generator("magpie", [teacher], tmp_path, n=1, max_rounds=1, options={"query_max_tokens": 5})
    assert list(result.examples()) == []
    assert {r.meta["excluded.reason"] for r in excluded(tmp_path)} == {"too long"}


def test_duplicates_across_rounds_and_rounds_stop_at_n(tmp_path):
    # Only five distinct queries exist: later rounds find nothing new and the run stops short of n.
    teacher = chat_teacher(lambda i: f"Question number {i % 5} about flour types?")
    result = run_generator("magpie", [teacher], tmp_path, n=8, max_rounds=4)
    records = list(result.examples())
    assert len(records) == 5
    assert len({normalise_text(r.prompt) for r in records}) == 5
    report = json.loads((tmp_path / "generation.json").read_text())
    assert report["kept"] == 5 and report["target"] == 8


def test_first_occurrence_is_decided_over_the_whole_list_with_earlier_keys():
    a, b, c = (Example.from_prompt(t, id=i) for t, i in [("X y", "a"), ("x  Y", "b"), ("z", "c")])
    seen = {"z"}
    step = FirstOccurrence.of([a, b, c], key=lambda e: normalise_text(e.prompt), seen=seen)
    assert [e.id for e in step([c, b, a])] == ["a"]  # order of arrival does not matter
    assert seen == {"x y", "z"}


def test_rerun_resumes_with_the_same_ids_and_no_new_requests(tmp_path):
    first = [r.id for r in run_generator("magpie", [chat_teacher()], tmp_path, n=5).examples()]
    teacher = chat_teacher()
    again = [r.id for r in run_generator("magpie", [teacher], tmp_path, n=5).examples()]
    assert first == again and len(set(again)) == 5
    assert teacher.history == []


# -- plan, garbage, CLI ----------------------------------------------------------------------------
def test_plan_renders_the_raw_prefix_without_calling_the_teacher(tmp_path):
    teacher = chat_teacher()
    gen = get_generator("magpie")
    plan = GenerationRun(gen, [teacher], GenerationSettings(n=10), tmp_path).dry_run()
    assert plan.prompts[0] == f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n"
    assert [p.name for p in plan.phases] == ["queries", "responses"]
    assert plan.phases[0].calls == 16 and plan.phases[1].calls == 10
    assert teacher.history == []


def test_echo_teacher_with_explicit_prefix_never_crashes(tmp_path):
    result = run_generator(
        "magpie", [EchoLLM()], tmp_path, n=3, options={"prefix": "User: ", "stop": ["\n"], "min_words": 1}
    )
    # Echo writes the prefix back every time: one query survives deduplication.
    assert [r.prompt for r in result.examples()] == ["User:"]


def test_cli_generates_with_a_chat_template_teacher(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "generate",
            "--generator",
            "magpie",
            "--teacher",
            "test-chatml:x",
            "--n",
            "3",
            "--out",
            str(out),
            "--no-progress",
            "--set",
            "system=You answer cooking questions.",
        ]
    )
    assert code == 0
    rows = list(read_jsonl(out / "r00" / "01_generate" / "shards" / "00000.jsonl"))
    assert len(rows) == 3 and rows[0].prompt.startswith("How do I bake bread")
    assert "kept 3 of 3" in capsys.readouterr().out


def test_docstring_examples():
    import doctest

    import syllabus.generators.magpie as module

    assert doctest.testmod(module).failed == 0
