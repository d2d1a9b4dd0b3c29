"""The Example record: JSON round trip, namespacing, strict parsing, derived records."""

from __future__ import annotations

import json

import pytest

from syllabus.errors import DataError
from syllabus.record import Example, content_hash, validate_messages


def full_example() -> Example:
    return Example(
        id="ex-1",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Ünïcode? 2+2"}],
        completion="4",
        reference="4",
        scores={"judge.helpfulness": 0.75, "check.lowercase": 1.0},
        meta={"skill": "arithmetic", "tags": ["math", "easy"], "generate.depth": 2, "evol.parent": {"op": "deepen"}},
        provenance={"parents": ["seed-0"], "step": "generate", "model": "fake:echo"},
    )


def test_dict_and_json_round_trip_is_exact():
    ex = full_example()
    assert Example.from_dict(ex.to_dict()) == ex
    line = ex.to_json()
    assert "\n" not in line
    assert "Ünïcode" in line  # written as UTF-8, not \u escapes
    assert Example.from_dict(json.loads(line)) == ex


def test_from_prompt_builds_chat_messages_and_a_content_id():
    ex = Example.from_prompt("Name a prime.", system="You are terse.", reference="2")
    assert ex.messages == [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a prime."}]
    assert ex.id == content_hash(ex.messages)
    assert ex.prompt == "Name a prime." and ex.system == "You are terse." and ex.reference == "2"
    assert Example.from_prompt("Name a prime.", system="You are terse.").id == ex.id  # stable
    assert Example.from_prompt("Name a prime!").id != ex.id


def test_missing_id_becomes_the_content_hash_of_the_messages():
    messages = [{"role": "user", "content": "hi"}]
    assert Example.from_dict({"messages": messages}).id == content_hash(messages)
    assert Example.from_dict({"id": 7, "messages": messages}).id == "7"


def test_content_hash_ignores_key_order_and_has_the_asked_length():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert len(content_hash("x", length=32)) == 32


def test_views_prompt_system_and_conversation():
    ex = Example(
        id="x",
        messages=[{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"}],
        completion="done",
    )
    assert ex.prompt == "second"
    assert ex.system is None
    assert ex.conversation()[-1] == {"role": "assistant", "content": "done"}
    assert len(ex.conversation()) == 4 and len(ex.messages) == 3  # conversation() does not mutate
    assert Example(id="y", messages=[{"role": "user", "content": "q"}]).conversation() == [{"role": "user", "content": "q"}]


def test_namespaced_scores_and_meta():
    ex = Example.from_prompt("q")
    assert ex.set_score("judge", "helpfulness", 4).set_meta("generate", "skill_id", "s1") is ex
    assert ex.scores == {"judge.helpfulness": 4.0}
    assert isinstance(ex.scores["judge.helpfulness"], float)
    assert ex.meta == {"generate.skill_id": "s1"}


@pytest.mark.parametrize("namespace", ["", "judge.sub", "a.b.c"])
def test_namespace_must_be_a_plain_name(namespace):
    ex = Example.from_prompt("q")
    with pytest.raises(ValueError, match="namespace"):
        ex.set_score(namespace, "x", 1.0)
    with pytest.raises(ValueError, match="namespace"):
        ex.set_meta(namespace, "x", 1)


def test_unknown_top_level_fields_are_errors_that_name_them_and_the_fix():
    with pytest.raises(DataError) as info:
        Example.from_dict({"messages": [{"role": "user", "content": "q"}], "skill": "x", "answer": "y"})
    message = str(info.value)
    assert "answer, skill" in message
    assert "meta" in message and "syllabus.formats" in message


def test_missing_messages_and_non_objects_are_errors():
    with pytest.raises(DataError, match="needs 'messages'"):
        Example.from_dict({"completion": "x"})
    with pytest.raises(DataError, match="JSON object"):
        Example.from_dict(["messages"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"completion": 5}, "'completion' must be a string"),
        ({"reference": ["a"]}, "'reference' must be a string"),
        ({"scores": [1, 2]}, "'scores' must be a JSON object"),
        ({"meta": "skill=x"}, "'meta' must be a JSON object"),
        ({"provenance": 3}, "'provenance' must be a JSON object"),
    ],
)
def test_wrongly_typed_fields_are_data_errors(record, match):
    with pytest.raises(DataError, match=match):
        Example.from_dict({"messages": [{"role": "user", "content": "q"}], **record})


def test_null_optional_fields_read_as_empty():
    ex = Example.from_dict({"messages": [], "completion": None, "scores": None, "meta": None, "provenance": None})
    assert (ex.completion, ex.scores, ex.meta, ex.provenance) == (None, {}, {}, {})


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ("hello", "must be a list"),
        ([{"role": "user"}], r"messages\[0\]"),
        ([{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}], r"messages\[1\].*robot"),
        ([{"role": "user", "content": None}], r"messages\[0\]"),
        (["user: hi"], r"messages\[0\]"),
    ],
)
def test_validate_messages_names_the_bad_turn(messages, match):
    with pytest.raises(DataError, match=match):
        validate_messages(messages)


def test_validate_messages_accepts_every_role_and_returns_the_list():
    messages = [{"role": r, "content": r} for r in ("system", "user", "assistant", "tool")]
    assert validate_messages(messages) is messages


def test_derive_links_the_parent_and_copies_mutable_fields():
    parent = full_example()
    child = parent.derive(suffix="s1", step="evol", completion="four", provenance={"model": "fake:scripted"})
    assert child.id == "ex-1-s1"
    assert child.completion == "four" and parent.completion == "4"
    assert child.provenance == {"parents": ["ex-1"], "step": "evol", "model": "fake:scripted"}
    assert child.scores == parent.scores and child.meta == parent.meta and child.messages == parent.messages
    # The child is independent: editing it leaves the parent as it was.
    child.set_score("judge", "extra", 1.0).set_meta("evol", "op", "widen")
    child.messages.append({"role": "assistant", "content": "x"})
    child.messages[0]["content"] = "changed"
    assert parent == full_example()


def test_derive_can_replace_scores_and_meta():
    child = full_example().derive(suffix="a", step="curate", scores={}, meta={"skill": "other"})
    assert child.scores == {} and child.meta == {"skill": "other"}
    assert child.provenance["parents"] == ["ex-1"]
