"""Conversion between :class:`Example` and the formats people already use.

Each format is a pair of functions, ``to_X(example) -> dict`` and ``from_X(record) ->
Example``, registered by name in :data:`FORMATS`:

============================  =====================================================================
name                          record
============================  =====================================================================
``syllabus``                  ``Example.to_dict()``: lossless, the format of every run folder
``messages``                  OpenAI / TRL conversational: ``{"messages": [...]}``
``prompt_completion``         TRL prompt-completion: ``{"prompt": [...], "completion": [...]}``
                              (conversational) or ``{"prompt": str, "completion": str}``
                              (standard); a record without ``completion`` is TRL prompt-only
``preference``                TRL preference: ``{"prompt", "chosen", "rejected"}``
``alpaca``                    ``{"instruction", "input", "output"}`` (optional ``system``)
``sharegpt``                  ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}``
============================  =====================================================================

How each format maps onto an ``Example``:

- The final assistant turn of a conversation becomes ``completion``; earlier turns,
  assistant turns included, stay in ``messages`` (the prompt side).
- Alpaca's ``instruction`` and ``input`` are joined into one user message with
  :data:`ALPACA_SEPARATOR` (a blank line) between them; the input is also kept in
  ``meta["alpaca.input"]`` so that exporting recovers both parts exactly. If a later step
  rewrites the prompt, the whole user message becomes the instruction.
- Preference pairs live in ``meta["pref.chosen"]`` and ``meta["pref.rejected"]``;
  ``completion`` stays empty, so there is one place that says which answer won.
- Keys a format does not know are kept in ``meta`` under the format's namespace
  (``alpaca.category``) and written back by the same format's exporter, so nothing is
  dropped silently. Keys whose value is ``None`` count as absent (Arrow tables fill
  missing columns with nulls).
- Ids are stable: a record's own ``id`` is kept; otherwise the id is a content hash of
  the record, so reading the same file twice yields the same ids. Exporters write
  ``id`` unless ``include_id=False``.
- Foreign formats hold only what they can express: ``scores``, ``reference`` and
  ``provenance`` survive only the ``syllabus`` format (JSONL or Parquet).

>>> ex = from_alpaca({"instruction": "Translate to French.", "input": "cat", "output": "chat"})
>>> ex.messages, ex.completion
([{'role': 'user', 'content': 'Translate to French.\\n\\ncat'}], 'chat')
>>> to_alpaca(ex, include_id=False)
{'instruction': 'Translate to French.', 'input': 'cat', 'output': 'chat'}
>>> detect_format({"conversations": [{"from": "human", "value": "hi"}]})
'sharegpt'

Files in any of these formats are read with :func:`read_any` and written with
:func:`write_any` (``.jsonl``, ``.json`` or ``.parquet``); :func:`to_hf_dataset` and
:func:`from_hf_dataset` convert to and from Hugging Face ``datasets``. pyarrow and
``datasets`` are imported only when those functions run.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syllabus.errors import ConfigError, DataError, MissingDependencyError
from syllabus.jsonl import atomic_write, read_numbered_records
from syllabus.record import Example, Message, content_hash, validate_messages
from syllabus.registry import Registry

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

__all__ = [
    "ALPACA_SEPARATOR",
    "FORMATS",
    "Format",
    "detect_format",
    "from_alpaca",
    "from_hf_dataset",
    "from_messages",
    "from_preference",
    "from_prompt_completion",
    "from_record",
    "from_sharegpt",
    "from_syllabus",
    "read_any",
    "read_parquet",
    "to_alpaca",
    "to_hf_dataset",
    "to_messages",
    "to_preference",
    "to_prompt_completion",
    "to_record",
    "to_sharegpt",
    "to_syllabus",
    "write_any",
    "write_parquet",
]

#: Put between Alpaca's ``instruction`` and a non-empty ``input`` in the user message.
ALPACA_SEPARATOR = "\n\n"

_EXAMPLE_FIELDS = frozenset(f.name for f in fields(Example))
# The syllabus columns that hold dicts with free-form keys; see write_parquet for why
# they are stored as JSON text in Arrow tables.
_JSON_COLUMNS = ("scores", "meta", "provenance")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "tool": "tool"}
_SHAREGPT_FROM = {"user": "human", "assistant": "gpt", "system": "system", "tool": "tool"}


# -- helpers shared by the formats ---------------------------------------------------------
def _present(record: dict[str, Any], key: str) -> bool:
    return record.get(key) is not None


def _record_id(record: dict[str, Any]) -> str:
    """The record's own id, else a hash of its content (``None`` values ignored)."""
    if _present(record, "id"):
        return str(record["id"])
    return content_hash({k: v for k, v in record.items() if k != "id" and v is not None})


def _messages(value: Any, what: str = "messages") -> list[Message]:
    """Validate a chat list; drop ``None``-valued extra keys that Arrow struct columns add."""
    if not isinstance(value, list):
        raise DataError(f"'{what}' must be a list of {{role, content}} objects, got {type(value).__name__}")
    cleaned = [
        {k: v for k, v in m.items() if v is not None or k == "content"} if isinstance(m, dict) else m for m in value
    ]
    try:
        return validate_messages(cleaned)
    except DataError as e:
        raise DataError(f"'{what}': {e}") from None


def _split_completion(messages: list[Message]) -> tuple[list[Message], str | None]:
    """A final assistant turn is the completion; everything before it is the prompt side."""
    if messages and messages[-1]["role"] == "assistant":
        return messages[:-1], messages[-1]["content"]
    return messages, None


def _extras(record: dict[str, Any], known: Iterable[str], namespace: str) -> dict[str, Any]:
    """Keys a format does not know, namespaced for ``meta`` (kept, never dropped)."""
    skip = {"id", *known}
    return {f"{namespace}.{k}": v for k, v in record.items() if k not in skip and v is not None}


def _restore_extras(
    record: dict[str, Any], example: Example, namespace: str, reserved: Iterable[str] = ()
) -> dict[str, Any]:
    """Write ``meta["<namespace>.<key>"]`` back as top-level keys (format keys win)."""
    prefix, skip = f"{namespace}.", set(reserved)
    for key, value in example.meta.items():
        if key.startswith(prefix) and key[len(prefix):] not in skip:
            record.setdefault(key[len(prefix):], value)
    return record


def _with_id(record: dict[str, Any], example: Example, include_id: bool) -> dict[str, Any]:
    return {"id": example.id, **record} if include_id else record


def _require(record: dict[str, Any], key: str, fmt: str, hint: str = "") -> Any:
    if not _present(record, key):
        raise DataError(f"{fmt} record has no {key!r}{hint}; its keys: {', '.join(sorted(record)) or '(none)'}")
    return record[key]


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{what!r} must be a string, got {type(value).__name__}")
    return value


# -- syllabus -----------------------------------------------------------------------------
def to_syllabus(example: Example) -> dict[str, Any]:
    """The lossless form, ``Example.to_dict()``."""
    return example.to_dict()


def from_syllabus(record: dict[str, Any]) -> Example:
    """``Example.from_dict``, also accepting ``scores``/``meta``/``provenance`` as JSON text.

    JSON text is how :func:`write_parquet` and :func:`to_hf_dataset` store those columns.

    >>> from_syllabus({"messages": [{"role": "user", "content": "hi"}], "meta": '{"skill": "greet"}'}).meta
    {'skill': 'greet'}
    """
    record = dict(record)
    for key in _JSON_COLUMNS:
        if isinstance(record.get(key), str):
            try:
                record[key] = json.loads(record[key])
            except json.JSONDecodeError as e:
                raise DataError(f"{key!r} holds text that is not JSON ({e.msg})") from None
    if "messages" in record:
        record["messages"] = _messages(record["messages"])
    return Example.from_dict(record)


# -- OpenAI / TRL conversational ----------------------------------------------------------
def to_messages(example: Example, *, include_id: bool = True) -> dict[str, Any]:
    """``{"messages": prompt turns + the completion as the final assistant turn}``.

    >>> to_messages(Example.from_prompt("2+2?", completion="4"), include_id=False)
    {'messages': [{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '4'}]}
    """
    record = _with_id({"messages": [dict(m) for m in example.conversation()]}, example, include_id)
    return _restore_extras(record, example, "messages")


def from_messages(record: dict[str, Any]) -> Example:
    """The last assistant turn becomes ``completion``; earlier turns stay in ``messages``.

    >>> ex = from_messages({"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]})
    >>> ex.prompt, ex.completion
    ('2+2?', '4')
    """
    conversation = _messages(_require(record, "messages", "messages"))
    messages, completion = _split_completion(conversation)
    return Example(id=_record_id(record), messages=messages, completion=completion,
                   meta=_extras(record, ["messages"], "messages"))


# -- TRL prompt-completion ----------------------------------------------------------------
def to_prompt_completion(example: Example, *, conversational: bool = True, include_id: bool = True) -> dict[str, Any]:
    """TRL prompt-completion; without a completion, TRL's prompt-only form.

    ``conversational=False`` writes the standard form (plain strings), which holds exactly
    one user message and nothing else.

    >>> ex = Example.from_prompt("2+2?", completion="4")
    >>> to_prompt_completion(ex, conversational=False, include_id=False)
    {'prompt': '2+2?', 'completion': '4'}
    >>> to_prompt_completion(ex, include_id=False)["completion"]
    [{'role': 'assistant', 'content': '4'}]
    """
    record: dict[str, Any] = {"prompt": _prompt_value(example, conversational, "prompt_completion")}
    if example.completion is not None:
        record["completion"] = (
            [{"role": "assistant", "content": example.completion}] if conversational else example.completion
        )
    return _restore_extras(_with_id(record, example, include_id), example, "prompt_completion")


def from_prompt_completion(record: dict[str, Any]) -> Example:
    """Read either TRL form (``prompt`` a string or a list of messages; ``completion`` optional).

    >>> from_prompt_completion({"prompt": "2+2?", "completion": "4"}).messages
    [{'role': 'user', 'content': '2+2?'}]
    """
    messages = _prompt_messages(_require(record, "prompt", "prompt_completion"))
    completion = _response_text(record.get("completion"), "completion")
    return Example(id=_record_id(record), messages=messages, completion=completion,
                   meta=_extras(record, ["prompt", "completion"], "prompt_completion"))


def _prompt_value(example: Example, conversational: bool, fmt: str) -> str | list[Message]:
    if conversational:
        return [dict(m) for m in example.messages]
    if [m["role"] for m in example.messages] != ["user"]:
        raise DataError(
            f"example {example.id}: the standard (plain text) {fmt} form holds one user message, this one has "
            f"{len(example.messages)} message(s); pass conversational=True"
        )
    return example.messages[0]["content"]


def _prompt_messages(prompt: Any) -> list[Message]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return _messages(prompt, "prompt")


def _response_text(value: Any, what: str) -> str | None:
    """A response as TRL writes it: a string, or a list holding one assistant message."""
    if value is None or isinstance(value, str):
        return value
    turns = _messages(value, what)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise DataError(
            f"{what!r} must be one assistant message, got roles {[m['role'] for m in turns]}; "
            "multi-turn responses fit the 'messages' format"
        )
    return turns[0]["content"]


# -- TRL preference -----------------------------------------------------------------------
def to_preference(example: Example, *, conversational: bool = True, include_id: bool = True) -> dict[str, Any]:
    """TRL explicit-prompt preference row from ``meta["pref.chosen"]`` / ``meta["pref.rejected"]``.

    ``pref.chosen`` falls back to ``completion``; ``pref.rejected`` is required.

    >>> ex = Example.from_prompt("2+2?", meta={"pref.chosen": "4", "pref.rejected": "5"})
    >>> to_preference(ex, conversational=False, include_id=False)
    {'prompt': '2+2?', 'chosen': '4', 'rejected': '5'}
    """
    chosen = example.meta.get("pref.chosen", example.completion)
    rejected = example.meta.get("pref.rejected")
    if chosen is None or rejected is None:
        missing = "pref.chosen (or a completion)" if chosen is None else "pref.rejected"
        raise DataError(
            f"example {example.id} has no meta {missing!r}; a preference row needs a chosen and a rejected response"
        )

    def response(text: str) -> str | list[Message]:
        return [{"role": "assistant", "content": text}] if conversational else text

    record = {"prompt": _prompt_value(example, conversational, "preference"),
              "chosen": response(chosen), "rejected": response(rejected)}
    return _restore_extras(_with_id(record, example, include_id), example, "pref", reserved=["chosen", "rejected"])


def from_preference(record: dict[str, Any]) -> Example:
    """Read a TRL preference row, explicit prompt or implicit (shared conversation prefix).

    >>> ex = from_preference({"chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
    ...                       "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}]})
    >>> ex.prompt, ex.meta
    ('2+2?', {'pref.chosen': '4', 'pref.rejected': '5'})
    """
    chosen = _require(record, "chosen", "preference")
    rejected = _require(record, "rejected", "preference")
    if _present(record, "prompt"):
        messages = _prompt_messages(record["prompt"])
        chosen_text, rejected_text = _response_text(chosen, "chosen"), _response_text(rejected, "rejected")
    else:
        # Implicit prompt: both sides are full conversations that share everything but the last turn.
        if isinstance(chosen, str) or isinstance(rejected, str):
            raise DataError("a preference record without 'prompt' needs conversational 'chosen' and 'rejected' lists")
        messages, chosen_text = _split_completion(_messages(chosen, "chosen"))
        rejected_prompt, rejected_text = _split_completion(_messages(rejected, "rejected"))
        if messages != rejected_prompt or chosen_text is None or rejected_text is None:
            raise DataError("'chosen' and 'rejected' must be the same conversation up to a final assistant turn")
    meta = {"pref.chosen": chosen_text, "pref.rejected": rejected_text,
            **_extras(record, ["prompt", "chosen", "rejected"], "pref")}
    return Example(id=_record_id(record), messages=messages, meta=meta)


# -- Alpaca -------------------------------------------------------------------------------
def to_alpaca(example: Example, *, include_id: bool = True) -> dict[str, Any]:
    """``{"instruction", "input", "output"}`` (plus ``system`` if the example has one).

    ``input`` is recovered from ``meta["alpaca.input"]`` when the user message still ends
    with it; otherwise the whole user message is the instruction. Without a completion the
    record has no ``output``.

    >>> to_alpaca(Example.from_prompt("Say hi.", completion="hi"), include_id=False)
    {'instruction': 'Say hi.', 'input': '', 'output': 'hi'}
    """
    roles = [m["role"] for m in example.messages]
    if roles not in (["user"], ["system", "user"]):
        raise DataError(
            f"example {example.id} has roles {roles}; an Alpaca record holds one instruction "
            "(and an optional system prompt). Use the 'messages' or 'sharegpt' format"
        )
    user = example.messages[-1]["content"]
    stored = example.meta.get("alpaca.input")
    instruction, input_ = user, ""
    if isinstance(stored, str) and stored and user.endswith(ALPACA_SEPARATOR + stored):
        instruction, input_ = user[: -len(ALPACA_SEPARATOR + stored)], stored
    record: dict[str, Any] = {"instruction": instruction, "input": input_}
    if example.completion is not None:
        record["output"] = example.completion
    if roles[0] == "system":
        record["system"] = example.messages[0]["content"]
    return _restore_extras(_with_id(record, example, include_id), example, "alpaca", reserved=["input"])


def from_alpaca(record: dict[str, Any]) -> Example:
    """Join ``instruction`` and ``input`` with :data:`ALPACA_SEPARATOR` into one user message."""
    instruction = _str(_require(record, "instruction", "alpaca"), "instruction")
    input_ = _str(record.get("input") or "", "input")
    messages: list[Message] = []
    if _present(record, "system"):
        messages.append({"role": "system", "content": _str(record["system"], "system")})
    messages.append({"role": "user", "content": instruction + ALPACA_SEPARATOR + input_ if input_ else instruction})
    output = record.get("output")
    meta = _extras(record, ["instruction", "output", "system"], "alpaca")  # keeps alpaca.input
    return Example(id=_record_id(record), messages=messages,
                   completion=None if output is None else _str(output, "output"), meta=meta)


# -- ShareGPT -----------------------------------------------------------------------------
def to_sharegpt(example: Example, *, include_id: bool = True) -> dict[str, Any]:
    """``{"conversations": [{"from": "system"|"human"|"gpt"|"tool", "value": ...}]}``.

    >>> to_sharegpt(Example.from_prompt("hi", completion="hello"), include_id=False)
    {'conversations': [{'from': 'human', 'value': 'hi'}, {'from': 'gpt', 'value': 'hello'}]}
    """
    turns = [{"from": _SHAREGPT_FROM[m["role"]], "value": m["content"]} for m in example.conversation()]
    return _restore_extras(_with_id({"conversations": turns}, example, include_id), example, "sharegpt")


def from_sharegpt(record: dict[str, Any]) -> Example:
    """Map ``human``/``gpt``/``system`` (also ``user``/``assistant``/``tool``) to chat roles.

    A top-level ``system`` string, which some ShareGPT variants use, becomes the first message.
    """
    turns = _require(record, "conversations", "sharegpt")
    if not isinstance(turns, list):
        raise DataError(f"'conversations' must be a list, got {type(turns).__name__}")
    conversation: list[Message] = []
    if _present(record, "system"):
        conversation.append({"role": "system", "content": _str(record["system"], "system")})
    for i, turn in enumerate(turns):
        ok = isinstance(turn, dict) and turn.get("from") in _SHAREGPT_ROLES and isinstance(turn.get("value"), str)
        if not ok:
            raise DataError(
                f"conversations[{i}] must look like {{'from': one of {'/'.join(_SHAREGPT_ROLES)}, 'value': str}}, "
                f"got {turn!r}"
            )
        conversation.append({"role": _SHAREGPT_ROLES[turn["from"]], "content": turn["value"]})
    messages, completion = _split_completion(conversation)
    return Example(id=_record_id(record), messages=messages, completion=completion,
                   meta=_extras(record, ["conversations", "system"], "sharegpt"))


# -- the registry and detection -----------------------------------------------------------
@dataclass(frozen=True)
class Format:
    """A named pair of converters; ``to_record`` may take keyword options."""

    name: str
    to_record: Callable[..., dict[str, Any]]
    from_record: Callable[[dict[str, Any]], Example]
    description: str


#: Every format by name. Other packages add formats with the entry-point group
#: ``syllabus.formats`` (an entry naming a :class:`Format`); :func:`detect_format` only
#: recognises the built-in ones, so pass ``format=`` for those.
FORMATS: Registry[Format] = Registry("format", entry_point_group="syllabus.formats")
for _format in (
    Format("syllabus", to_syllabus, from_syllabus, "syllabus's own lossless record"),
    Format("messages", to_messages, from_messages, "OpenAI / TRL conversational {'messages': [...]}"),
    Format("prompt_completion", to_prompt_completion, from_prompt_completion, "TRL prompt-completion or prompt-only"),
    Format("preference", to_preference, from_preference, "TRL preference {'prompt', 'chosen', 'rejected'}"),
    Format("alpaca", to_alpaca, from_alpaca, "Alpaca {'instruction', 'input', 'output'}"),
    Format("sharegpt", to_sharegpt, from_sharegpt, "ShareGPT {'conversations': [{'from', 'value'}]}"),
):
    FORMATS.register(_format.name, _format)


def detect_format(record: dict[str, Any]) -> str:
    """Name the format of one record from its keys.

    A record with ``messages`` is ``syllabus`` when all its keys are Example fields and it
    has more than ``id`` and ``messages``; otherwise it is ``messages``. The two read alike
    except that ``messages`` turns a final assistant turn into the completion.

    >>> detect_format({"prompt": "2+2?", "completion": "4"})
    'prompt_completion'
    >>> detect_format({"id": "a", "messages": [], "completion": None, "meta": {}})
    'syllabus'
    >>> detect_format({"text": "hello"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    syllabus.errors.DataError: record has neither 'messages' nor 'instruction' nor ...; its keys: text. Pass --format NAME ...
    """
    if not isinstance(record, dict):
        raise DataError(f"a record must be a JSON object, got {type(record).__name__}")
    keys = {k for k, v in record.items() if v is not None}
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys:
        return "alpaca"
    if "chosen" in keys and "rejected" in keys:
        return "preference"
    if "prompt" in keys:
        return "prompt_completion"
    if "messages" in keys:
        return "syllabus" if set(record) <= _EXAMPLE_FIELDS and keys - {"id", "messages"} else "messages"
    raise DataError(
        "record has neither 'messages' nor 'instruction' nor another key that names a format "
        f"('prompt', 'chosen'+'rejected', 'conversations'); its keys: {', '.join(sorted(record)) or '(none)'}. "
        f"Pass --format NAME (format=NAME in Python), one of: {', '.join(FORMATS.names())}"
    )


def from_record(record: dict[str, Any], format: str = "auto") -> Example:
    """Convert one record; ``format="auto"`` uses :func:`detect_format`."""
    if not isinstance(record, dict):
        raise DataError(f"a record must be a JSON object, got {type(record).__name__}")
    name = detect_format(record) if format == "auto" else format
    return FORMATS.get(name).from_record(record)


def to_record(example: Example, format: str = "syllabus", **options: Any) -> dict[str, Any]:
    """Convert one example; ``options`` go to the format's exporter (``include_id``, ``conversational``)."""
    return _exporter(format, options)(example)


def _exporter(format: str, options: dict[str, Any]) -> Callable[[Example], dict[str, Any]]:
    fmt = FORMATS.get(format)
    try:
        inspect.signature(fmt.to_record).bind(None, **options)
    except TypeError:
        takes = list(inspect.signature(fmt.to_record).parameters)[1:]
        raise ConfigError(
            f"format {format!r} takes the option(s) {', '.join(takes) or '(none)'}, not {', '.join(options)}"
        ) from None
    return lambda example: fmt.to_record(example, **options)


def _convert_all(records: Iterable[tuple[str, dict[str, Any]]], format: str) -> Iterator[Example]:
    """``(location, record)`` pairs to Examples, lazily; errors start with the location."""
    if format != "auto":
        FORMATS.get(format)  # did-you-mean now, not at the first record

    def convert() -> Iterator[Example]:
        for where, record in records:
            try:
                yield from_record(record, format)
            except DataError as e:
                raise DataError(f"{where}: {e}") from None

    return convert()


# -- files --------------------------------------------------------------------------------
_SUFFIXES = (".jsonl", ".json", ".parquet")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of {', '.join(_SUFFIXES)}")
    return suffix


def read_any(path: str | os.PathLike[str], format: str = "auto") -> Iterator[Example]:
    """Read ``.jsonl``, ``.json`` (an array of records) or ``.parquet`` in any format.

    Records are detected one by one, so a file may mix formats. Errors name the place
    (``file.jsonl:3``, ``file.json: record 3``, ``file.parquet: row 3``) and the fix.
    The file type, the file's existence and the format name are checked at once; records
    are converted as they are iterated.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "data.jsonl"
    >>> _ = p.write_text('{"instruction": "Say hi.", "output": "hi"}\\n')
    >>> [(ex.prompt, ex.completion) for ex in read_any(p)]
    [('Say hi.', 'hi')]
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if suffix == ".parquet":
        return read_parquet(path, format)
    if suffix == ".json":
        return _convert_all(_json_records(path), format)
    return _convert_all(((f"{path}:{n}", r) for n, r in read_numbered_records(path)), format)


def _json_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(path.read_bytes())  # bytes: json detects the encoding itself
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # many ".json" files on the hub are JSON lines
            yield from ((f"{path}:{n}", r) for n, r in read_numbered_records(path))
            return
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of records (or JSON lines), got a {type(data).__name__}")
    yield from ((f"{path}: record {i}", r) for i, r in enumerate(data, 1))


def write_any(path: str | os.PathLike[str], examples: Iterable[Example], format: str = "syllabus", **options: Any) -> int:
    """Atomically write ``.jsonl``, ``.json`` or ``.parquet`` in a format; returns the count.

    ``options`` go to the format's exporter, e.g. ``conversational=False``.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix == ".parquet":
        return write_parquet(path, examples, format=format, **options)
    convert = _exporter(format, options)

    def line(example: Example) -> str:
        return json.dumps(convert(example), ensure_ascii=False, separators=(",", ":"))

    n = 0
    with atomic_write(path) as f:
        if suffix == ".jsonl":
            for n, example in enumerate(examples, 1):
                f.write(line(example) + "\n")
        else:  # a JSON array with one record per line, so diffs and `head` stay readable
            f.write("[")
            for n, example in enumerate(examples, 1):
                f.write(("\n" if n == 1 else ",\n") + line(example))
            f.write("\n]\n")
    return n


# -- Arrow: Parquet and Hugging Face datasets ---------------------------------------------
def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise MissingDependencyError("pyarrow", package="pyarrow") from None
    return pyarrow


def _arrow_table(examples: Iterable[Example], format: str, options: dict[str, Any]) -> pa.Table:
    """Examples as an Arrow table in ``format``.

    In the ``syllabus`` format, ``scores``, ``meta`` and ``provenance`` become JSON text
    columns: an Arrow struct column has one set of keys for every row, so keys that differ
    between rows would come back as extra ``None`` entries, an int would come back as a
    float next to floats, and mixed-type values would not fit at all. JSON text keeps each
    row's dict exactly, and readers such as pandas or DuckDB can still parse it. The other
    columns keep their natural types, so ``messages`` stays a list of structs for TRL.
    """
    pa = _pyarrow()
    convert = _exporter(format, options)
    rows = [convert(ex) for ex in examples]
    try:
        if format != "syllabus":
            return pa.Table.from_pylist(rows)
        columns: dict[str, Any] = {
            "id": pa.array([r["id"] for r in rows], pa.string()),
            "messages": pa.array([r["messages"] for r in rows]),
            "completion": pa.array([r["completion"] for r in rows], pa.string()),
            "reference": pa.array([r["reference"] for r in rows], pa.string()),
        }
        for key in _JSON_COLUMNS:
            columns[key] = pa.array([json.dumps(r[key], ensure_ascii=False) for r in rows], pa.string())
        return pa.table(columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError(f"the {format} records do not fit one Arrow schema: {e}") from None


def write_parquet(
    path: str | os.PathLike[str], examples: Iterable[Example], *, format: str = "syllabus", **options: Any
) -> int:
    """Atomically write examples to a Parquet file; returns the number written.

    In the default ``syllabus`` format the file round-trips exactly through
    :func:`read_parquet`, nested ``scores``/``meta``/``provenance`` included: they are
    stored as JSON text columns, because an Arrow struct column gives every row the same
    keys (and one type per key), which would add ``None`` entries and turn ints to floats.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "data.parquet"
    >>> ex = Example.from_prompt("hi", meta={"tags": ["a"], "gen.depth": 2})
    >>> write_parquet(p, [ex]), list(read_parquet(p)) == [ex]
    (1, True)
    """
    table = _arrow_table(examples, format, options)
    import pyarrow.parquet as pq

    with atomic_write(path, "wb") as f:
        pq.write_table(table, f)
    return table.num_rows


def read_parquet(path: str | os.PathLike[str], format: str = "auto") -> Iterator[Example]:
    """Read a Parquet file in any format, batch by batch; errors name the row."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    _pyarrow()
    import pyarrow.parquet as pq

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        n = 0
        for batch in pq.ParquetFile(path).iter_batches():
            for row in batch.to_pylist():
                n += 1
                yield f"{path}: row {n}", row

    return _convert_all(rows(), format)


def to_hf_dataset(examples: Iterable[Example], format: str = "syllabus", **options: Any) -> datasets.Dataset:
    """A Hugging Face ``datasets.Dataset`` with one row per example.

    ``format="messages"`` or ``"prompt_completion"`` gives rows that TRL's trainers take
    as they are. The ``syllabus`` format stores ``scores``/``meta``/``provenance`` as JSON
    text so that :func:`from_hf_dataset` recovers them exactly.

    >>> ds = to_hf_dataset([Example.from_prompt("hi", completion="hello")], format="messages", include_id=False)
    >>> ds[0]
    {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'hello'}]}
    """
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError("datasets", extra="datasets") from None
    return datasets.Dataset(_arrow_table(examples, format, options))


def from_hf_dataset(ds: Iterable[dict[str, Any]], format: str = "auto") -> Iterator[Example]:
    """Examples from a ``datasets.Dataset`` (or ``IterableDataset``, or any iterable of dicts).

    >>> list(from_hf_dataset([{"prompt": "2+2?", "completion": "4"}]))[0].completion
    '4'
    """
    if isinstance(ds, dict):  # a DatasetDict is a dict of splits
        raise DataError(f"got a dict of splits ({', '.join(map(str, ds))}); pass one split, e.g. ds['train']")
    return _convert_all(((f"dataset row {i}", row) for i, row in enumerate(ds)), format)
