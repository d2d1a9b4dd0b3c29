"""JSONL reading (errors name file:line) and atomic writing (never half a file)."""

from __future__ import annotations

import json

import pytest

from syllabus.errors import DataError
from syllabus.jsonl import (
    atomic_write,
    read_jsonl,
    read_numbered_records,
    read_records,
    write_jsonl,
    write_records,
    write_text_atomic,
)
from syllabus.record import Example

GOOD = '{"messages": [{"role": "user", "content": "q"}]}'


def test_write_then_read_round_trip(tmp_path):
    examples = [Example.from_prompt(f"q{i}", completion=f"a{i}", meta={"skill": "s", "gen.i": i}) for i in range(3)]
    path = tmp_path / "deep" / "folder" / "data.jsonl"  # parent folders are created
    assert write_jsonl(path, examples) == 3
    assert list(read_jsonl(path)) == examples
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(f"\n{GOOD}\n   \n\n{GOOD}\n\n")
    assert [n for n, _ in read_numbered_records(path)] == [2, 5]
    assert len(list(read_records(path))) == 2
    assert len(list(read_jsonl(path))) == 2


def test_windows_line_endings_are_read(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(f"{GOOD}\r\n{GOOD}\r\n".encode())
    assert len(list(read_jsonl(path))) == 2


@pytest.mark.parametrize(
    ("third_line", "match"),
    [
        ('{"messages": [}', r"data\.jsonl:3: invalid JSON"),
        ("[1, 2]", r"data\.jsonl:3: expected a JSON object, got list"),
        ('"just a string"', r"data\.jsonl:3: expected a JSON object, got str"),
    ],
)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, third_line, match):
    path = tmp_path / "data.jsonl"
    path.write_text(f"{GOOD}\n\n{third_line}\n{GOOD}\n")
    with pytest.raises(DataError, match=match):
        list(read_records(path))


def test_bad_records_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(f'{GOOD}\n{{"messages": [], "answer": "x"}}\n')
    with pytest.raises(DataError, match=r"data\.jsonl:2: unknown Example field\(s\) answer"):
        list(read_jsonl(path))
    path.write_text(f'{GOOD}\n{GOOD}\n{{"messages": [{{"role": "bot", "content": "x"}}]}}\n')
    with pytest.raises(DataError, match=r"data\.jsonl:3: messages\[0\]"):
        list(read_jsonl(path))
    path.write_text('{"messages": [], "scores": [0.5]}\n')
    with pytest.raises(DataError, match=r"data\.jsonl:1: 'scores' must be a JSON object"):
        list(read_jsonl(path))


def test_invalid_utf8_is_reported_with_its_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + b'{"messages": [], "completion": "\xff"}\n')
    with pytest.raises(DataError, match=r"data\.jsonl:2: not UTF-8"):
        list(read_records(path))


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(read_jsonl(tmp_path / "nope.jsonl"))


def test_write_records_writes_one_compact_object_per_line(tmp_path):
    path = tmp_path / "r.jsonl"
    assert write_records(path, iter([{"a": 1}, {"b": "é"}])) == 2
    assert path.read_text(encoding="utf-8") == '{"a":1}\n{"b":"é"}\n'


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.txt"
    write_text_atomic(path, "one")
    write_text_atomic(path, "two")
    assert path.read_text() == "two"
    assert leftovers(tmp_path) == []
    with atomic_write(tmp_path / "bin.dat", "wb") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "bin.dat").read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path) == []


def test_old_file_survives_an_exception_mid_write(tmp_path):
    path = tmp_path / "data.jsonl"
    old = [Example.from_prompt("old")]
    write_jsonl(path, old)
    before = path.read_bytes()

    def examples_then_crash():
        yield Example.from_prompt("new 1")
        yield Example.from_prompt("new 2")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed"):
        write_jsonl(path, examples_then_crash())
    assert path.read_bytes() == before
    assert list(read_jsonl(path)) == old
    assert leftovers(tmp_path) == []


def test_interrupt_before_first_write_creates_nothing(tmp_path):
    path = tmp_path / "never.jsonl"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as f:
            f.write(json.dumps({"a": 1}))
            raise KeyboardInterrupt
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
