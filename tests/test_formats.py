"""Conversion to and from OpenAI/TRL, Alpaca, ShareGPT, Parquet and Hugging Face datasets."""

from __future__ import annotations

import json
import sys

import pytest

from syllabus.errors import ConfigError, DataError, MissingDependencyError, UnknownNameError
from syllabus.formats import (
    ALPACA_SEPARATOR,
    FORMATS,
    detect_format,
    from_alpaca,
    from_hf_dataset,
    from_messages,
    from_preference,
    from_prompt_completion,
    from_record,
    from_sharegpt,
    read_any,
    read_parquet,
    to_alpaca,
    to_hf_dataset,
    to_preference,
    to_prompt_completion,
    to_record,
    write_any,
    write_parquet,
)
from syllabus.record import Example, content_hash

SYS = {"role": "system", "content": "You are terse."}


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


# One record per format as people write them, each with its own id; exporting the
# imported Example must give the record back exactly.
RECORDS = {
    "messages": {"id": "m1", "messages": [SYS, u("2+2?"), a("4"), u("and 3+3?"), a("6")]},
    "messages_prompt_only": {"id": "m2", "messages": [u("unanswered")]},
    "prompt_completion": {"id": "p1", "prompt": [SYS, u("2+2?")], "completion": [a("4")]},
    "prompt_completion_text": {"id": "p2", "prompt": "2+2=", "completion": " 4"},
    "prompt_only": {"id": "p3", "prompt": [u("write a poem")]},
    "preference": {"id": "d1", "prompt": [u("2+2?")], "chosen": [a("4")], "rejected": [a("5")]},
    "preference_text": {"id": "d2", "prompt": "2+2?", "chosen": "4", "rejected": "5", "score_chosen": 9.0},
    "alpaca": {"id": "al1", "instruction": "Translate to French.", "input": "the cat", "output": "le chat"},
    "alpaca_no_input": {"id": "al2", "instruction": "Name a prime.", "input": "", "output": "2"},
    "alpaca_system": {"id": "al3", "instruction": "Hi", "input": "", "output": "Hello", "system": "Be kind.",
                      "category": "greeting"},
    "sharegpt": {"id": "s1", "conversations": [{"from": "system", "value": "sys"}, {"from": "human", "value": "hi"},
                                               {"from": "gpt", "value": "hello"}, {"from": "human", "value": "bye"},
                                               {"from": "gpt", "value": "goodbye"}]},
}
FORMAT_OF = {
    "messages": "messages", "messages_prompt_only": "messages", "prompt_completion": "prompt_completion",
    "prompt_completion_text": "prompt_completion", "prompt_only": "prompt_completion", "preference": "preference",
    "preference_text": "preference", "alpaca": "alpaca", "alpaca_no_input": "alpaca", "alpaca_system": "alpaca",
    "sharegpt": "sharegpt",
}
TEXT_FORM = {"prompt_completion_text", "preference_text"}  # TRL's standard (plain string) form


def export_options(case):
    fmt = FORMAT_OF[case]
    return {"conversational": case not in TEXT_FORM} if fmt in ("prompt_completion", "preference") else {}


@pytest.mark.parametrize("case", sorted(RECORDS))
def test_every_format_round_trips_record_to_example_to_record(case):
    record = RECORDS[case]
    fmt = detect_format(record)
    assert fmt == FORMAT_OF[case]
    example = from_record(record)
    assert example.id == record["id"]
    assert to_record(example, fmt, **export_options(case)) == record
    # The Example is a plain syllabus record in between.
    assert Example.from_dict(json.loads(example.to_json())) == example


@pytest.mark.parametrize("fmt", ["messages", "prompt_completion", "alpaca", "sharegpt"])
def test_every_format_round_trips_example_to_record_to_example(fmt):
    example = Example(id="e1", messages=[SYS, u("What is 2+2?")], completion="4")
    back = from_record(to_record(example, fmt), fmt)
    assert (back.id, back.messages, back.completion) == (example.id, example.messages, example.completion)
    # An example without a completion stays without one.
    prompt_only = Example(id="e2", messages=[u("q")])
    assert from_record(to_record(prompt_only, fmt), fmt).completion is None


def test_preference_round_trips_through_meta():
    example = Example(id="e1", messages=[u("2+2?")], meta={"pref.chosen": "4", "pref.rejected": "5", "skill": "math"})
    back = from_record(to_record(example, "preference"))
    assert back.messages == example.messages
    assert back.meta == {"pref.chosen": "4", "pref.rejected": "5"}
    assert back.completion is None  # one place says which answer won


def test_messages_final_assistant_turn_is_the_completion():
    ex = from_messages(RECORDS["messages"])
    assert ex.completion == "6"
    assert ex.messages == [SYS, u("2+2?"), a("4"), u("and 3+3?")]  # earlier assistant turns stay
    assert ex.prompt == "and 3+3?" and ex.system == "You are terse."
    assert from_messages(RECORDS["messages_prompt_only"]).completion is None


def test_prompt_completion_standard_and_conversational_forms():
    standard = from_prompt_completion({"prompt": "2+2=", "completion": " 4"})
    assert standard.messages == [u("2+2=")] and standard.completion == " 4"
    assert to_prompt_completion(standard, include_id=False) == {"prompt": [u("2+2=")], "completion": [a(" 4")]}
    with pytest.raises(DataError, match="holds one user message.*conversational=True"):
        to_prompt_completion(Example(id="x", messages=[SYS, u("q")]), conversational=False)
    with pytest.raises(DataError, match="one assistant message.*'messages' format"):
        from_prompt_completion({"prompt": [u("q")], "completion": [a("one"), u("more"), a("two")]})


def test_preference_implicit_prompt_and_errors():
    implicit = {"chosen": [u("2+2?"), a("4")], "rejected": [u("2+2?"), a("5")]}
    assert detect_format(implicit) == "preference"
    ex = from_preference(implicit)
    assert ex.messages == [u("2+2?")] and ex.meta == {"pref.chosen": "4", "pref.rejected": "5"}
    assert to_preference(ex, include_id=False) == {"prompt": [u("2+2?")], "chosen": [a("4")], "rejected": [a("5")]}
    with pytest.raises(DataError, match="same conversation"):
        from_preference({"chosen": [u("2+2?"), a("4")], "rejected": [u("3+3?"), a("5")]})
    with pytest.raises(DataError, match="without 'prompt' needs conversational"):
        from_preference({"chosen": "4", "rejected": "5"})
    with pytest.raises(DataError, match="pref.rejected"):
        to_preference(Example(id="x", messages=[u("q")], completion="a"))
    # The chosen side falls back to the completion.
    fallback = Example(id="x", messages=[u("q")], completion="good", meta={"pref.rejected": "bad"})
    assert to_preference(fallback, conversational=False, include_id=False) == {"prompt": "q", "chosen": "good", "rejected": "bad"}


def test_alpaca_recovers_instruction_and_input_exactly():
    # Separators inside either part must not confuse the split.
    record = {"instruction": f"Summarise.{ALPACA_SEPARATOR}Be brief.", "input": f"Para 1.{ALPACA_SEPARATOR}Para 2.",
              "output": "Short."}
    ex = from_alpaca(record)
    assert ex.messages == [u(record["instruction"] + ALPACA_SEPARATOR + record["input"])]
    assert ex.meta == {"alpaca.input": record["input"]}
    assert to_alpaca(ex, include_id=False) == record
    # Empty instruction with an input.
    edge = {"instruction": "", "input": "data", "output": "x"}
    assert to_alpaca(from_alpaca(edge), include_id=False) == edge


def test_alpaca_after_a_prompt_rewrite_the_whole_message_is_the_instruction():
    ex = from_alpaca({"instruction": "Translate.", "input": "cat", "output": "chat"})
    ex.messages[0]["content"] = "Translate to German: cat"
    assert to_alpaca(ex, include_id=False) == {"instruction": "Translate to German: cat", "input": "", "output": "chat"}


def test_alpaca_cannot_hold_a_multi_turn_conversation():
    with pytest.raises(DataError, match=r"roles \['user', 'assistant', 'user'\].*'messages' or 'sharegpt'"):
        to_alpaca(Example(id="x", messages=[u("a"), a("b"), u("c")]))


def test_sharegpt_roles_and_top_level_system():
    ex = from_sharegpt({"system": "sys", "conversations": [{"from": "user", "value": "hi"}, {"from": "assistant", "value": "yo"}]})
    assert ex.messages == [SYS | {"content": "sys"}, u("hi")] and ex.completion == "yo"
    with pytest.raises(DataError, match=r"conversations\[1\].*'from'"):
        from_sharegpt({"conversations": [{"from": "human", "value": "hi"}, {"from": "robot", "value": "x"}]})


def test_unknown_keys_are_kept_in_meta_and_written_back():
    ex = from_record(RECORDS["alpaca_system"])
    assert ex.meta == {"alpaca.input": "", "alpaca.category": "greeting"}
    pref = from_record(RECORDS["preference_text"])
    assert pref.meta["pref.score_chosen"] == 9.0
    # Another format's exporter does not write them.
    assert "category" not in to_record(ex, "messages")


def test_ids_are_the_records_own_or_a_stable_content_hash():
    record = {"instruction": "Name a prime.", "output": "2"}
    first, second = from_record(record), from_record(dict(record))
    assert first.id == second.id == content_hash(record)
    assert from_record({"instruction": "Name a prime.", "output": "3"}).id != first.id
    # Nulls (as Arrow fills missing columns) do not change the id.
    assert from_record({**record, "system": None, "input": None}).id == first.id
    assert from_record({**record, "id": 12}).id == "12"


def test_detect_format_tells_syllabus_from_messages():
    assert detect_format(Example.from_prompt("q").to_dict()) == "syllabus"
    assert detect_format({"messages": [u("q")], "meta": {"skill": "x"}}) == "syllabus"
    assert detect_format({"id": "x", "messages": [u("q")]}) == "messages"
    assert detect_format({"messages": [u("q")], "tools": []}) == "messages"  # OpenAI extras
    assert detect_format({"prompt": "q"}) == "prompt_completion"
    assert detect_format({"prompt": "q", "chosen": "a", "rejected": "b"}) == "preference"


def test_detect_format_error_names_the_keys_and_the_fix():
    with pytest.raises(DataError) as info:
        detect_format({"question": "q", "answer": "a"})
    message = str(info.value)
    assert "neither 'messages' nor 'instruction'" in message
    assert "its keys: answer, question" in message
    assert "--format" in message and "alpaca, messages" in message
    with pytest.raises(DataError, match="JSON object"):
        from_record(["not", "a", "dict"])  # type: ignore[arg-type]


def test_unknown_format_names_and_options():
    with pytest.raises(UnknownNameError, match="Did you mean sharegpt"):
        from_record({"conversations": []}, "sharegtp")
    with pytest.raises(ConfigError, match="format 'alpaca' takes the option\\(s\\) include_id, not conversational"):
        to_record(Example.from_prompt("q"), "alpaca", conversational=False)
    assert set(FORMATS.names()) >= {"syllabus", "messages", "prompt_completion", "preference", "alpaca", "sharegpt"}


# -- files ---------------------------------------------------------------------------------
def nested_examples() -> list[Example]:
    """Rows whose meta keys and value types differ: what Arrow structs would mangle."""
    return [
        Example(id="a", messages=[SYS, u("q1")], completion="r1", reference="g1",
                scores={"judge.helpfulness": 4.0, "check.len": 1.0},
                meta={"skill": "math", "tags": ["x", "y"], "gen.depth": 2, "gen.tree": {"ops": ["deepen"], "n": None}},
                provenance={"parents": ["s0"], "step": "generate", "model": "fake:echo"}),
        Example(id="b", messages=[u("q2"), {"role": "tool", "content": "42", "name": "calc"}],
                meta={"gen.depth": "deep", "other.flag": True}),
        Example(id="c", messages=[u("ü, 中文, emoji 🙂")], completion="", scores={"judge.helpfulness": 2.5}),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_syllabus_files_round_trip_exactly(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    examples = nested_examples()
    assert write_any(path, examples) == 3
    back = list(read_any(path))
    assert back == examples
    assert isinstance(back[0].meta["gen.depth"], int) and back[1].meta["gen.depth"] == "deep"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
@pytest.mark.parametrize("case", ["messages", "prompt_completion", "preference", "alpaca_system", "sharegpt"])
def test_foreign_format_files_round_trip(tmp_path, suffix, case):
    path = tmp_path / f"data{suffix}"
    example = from_record(RECORDS[case])
    write_any(path, [example], format=FORMAT_OF[case])
    assert list(read_any(path)) == [example]


def test_parquet_stores_nested_dicts_as_json_text_and_messages_as_structs(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    write_parquet(path, nested_examples())
    table = pq.read_table(path)
    assert str(table.schema.field("meta").type) == "string"
    assert json.loads(table.column("meta")[0].as_py()) == nested_examples()[0].meta
    assert str(table.schema.field("messages").type).startswith("list<")
    assert list(read_parquet(path)) == nested_examples()


def test_parquet_write_is_atomic(tmp_path):
    path = tmp_path / "data.parquet"
    write_parquet(path, nested_examples())
    before = path.read_bytes()
    multi_turn = Example(id="x", messages=[u("a"), a("b"), u("c")])
    with pytest.raises(DataError, match="Alpaca"):
        write_parquet(path, [*nested_examples(), multi_turn], format="alpaca")
    with pytest.raises(DataError, match="Alpaca"):
        write_any(tmp_path / "data.jsonl", [*nested_examples(), multi_turn], format="alpaca")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet"]


def test_read_any_errors_name_file_line_and_fix(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(RECORDS["alpaca"]) + "\n\n" + json.dumps({"question": "q"}) + "\n")
    with pytest.raises(DataError, match=r"data\.jsonl:3: record has neither 'messages' nor 'instruction'.*--format"):
        list(read_any(path))
    path.write_text(json.dumps(RECORDS["messages"]) + "\n")
    with pytest.raises(DataError, match=r"data\.jsonl:1: alpaca record has no 'instruction'"):
        list(read_any(path, format="alpaca"))
    path.write_text('{"instruction": "x", "output": 3}\n')
    with pytest.raises(DataError, match=r"data\.jsonl:1: 'output' must be a string"):
        list(read_any(path))

    json_path = tmp_path / "data.json"
    json_path.write_text(json.dumps([RECORDS["sharegpt"], {"conversations": "oops"}]))
    with pytest.raises(DataError, match=r"data\.json: record 2: 'conversations' must be a list"):
        list(read_any(json_path))
    json_path.write_text('[{"instruction": "x"},\n {"instruction": }]')
    with pytest.raises(DataError, match=r"data\.json:2: invalid JSON"):
        list(read_any(json_path))
    json_path.write_text('{"not": "an array"}')
    with pytest.raises(DataError, match="expected a JSON array"):
        list(read_any(json_path))

    pq_path = tmp_path / "data.parquet"
    write_parquet(pq_path, [from_record(RECORDS["sharegpt"])], format="sharegpt", include_id=False)
    with pytest.raises(DataError, match=r"data\.parquet: row 1: alpaca record has no 'instruction'"):
        list(read_any(pq_path, format="alpaca"))


def test_read_any_checks_path_and_format_at_once(tmp_path):
    with pytest.raises(DataError, match="unknown file type '.csv'"):
        read_any(tmp_path / "data.csv")
    with pytest.raises(DataError, match="no such file"):
        read_any(tmp_path / "missing.jsonl")
    (tmp_path / "ok.jsonl").write_text("")
    with pytest.raises(UnknownNameError, match="Did you mean alpaca"):
        read_any(tmp_path / "ok.jsonl", format="alpacca")
    assert list(read_any(tmp_path / "ok.jsonl")) == []
    write_parquet(tmp_path / "ok.parquet", [])
    with pytest.raises(UnknownNameError, match="Did you mean sharegpt"):
        read_parquet(tmp_path / "ok.parquet", format="sharegtp")  # before iterating
    with pytest.raises(UnknownNameError, match="Did you mean messages"):
        from_hf_dataset([], format="mesages")
    assert list(read_parquet(tmp_path / "ok.parquet")) == []


def test_json_files_may_hold_json_lines(tmp_path):
    path = tmp_path / "hub_style.json"
    path.write_text(json.dumps(RECORDS["alpaca"]) + "\n" + json.dumps(RECORDS["sharegpt"]) + "\n")
    assert [ex.id for ex in read_any(path)] == ["al1", "s1"]


def test_a_file_may_mix_formats(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(RECORDS[c]) + "\n" for c in ("alpaca", "sharegpt", "prompt_completion_text")))
    assert [ex.completion for ex in read_any(path)] == ["le chat", "goodbye", " 4"]


# -- Hugging Face datasets -----------------------------------------------------------------
def test_hf_dataset_round_trip_keeps_nested_meta():
    ds = to_hf_dataset(nested_examples())
    assert ds.num_rows == 3 and set(ds.column_names) == {"id", "messages", "completion", "reference", "scores", "meta", "provenance"}
    assert list(from_hf_dataset(ds)) == nested_examples()


def test_hf_dataset_in_trl_formats():
    examples = [from_record(RECORDS["messages"]), Example(id="e2", messages=[u("hi")], completion="hello")]
    ds = to_hf_dataset(examples, format="messages")
    assert ds[1] == {"id": "e2", "messages": [u("hi"), a("hello")]}
    assert list(from_hf_dataset(ds)) == examples
    pc = to_hf_dataset(examples, format="prompt_completion", include_id=False)
    assert pc.column_names == ["prompt", "completion"]
    assert pc[1] == {"prompt": [u("hi")], "completion": [a("hello")]}
    assert [ex.completion for ex in from_hf_dataset(pc)] == ["6", "hello"]


def test_hf_dataset_dict_asks_for_one_split():
    import datasets

    dd = datasets.DatasetDict({"train": to_hf_dataset(nested_examples())})
    with pytest.raises(DataError, match=r"pass one split, e\.g\. ds\['train'\]"):
        from_hf_dataset(dd)


def test_missing_datasets_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'syllabus\[datasets\]'"):
        to_hf_dataset(nested_examples())
