"""self-instruct on scripted fakes: 6+2 prompts, list parsing, every filter, exact novelty, classification
with output-first instances, records and provenance, plan, CLI, resume."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import pytest

from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators.self_instruct import (
    BlacklistFilter,
    FormatFilter,
    GenerateInstances,
    GenerateInstructions,
    LengthFilter,
    NoveltyFilter,
    builtin_seed_tasks,
    instance_filters,
    load_seed_tasks,
    mix_instructions,
    parse_instances,
)
from syllabus.llm.base import SamplingParams
from syllabus.llm.fake import FunctionLLM, ScriptedLLM
from syllabus.pipeline import Pipeline
from syllabus.pipeline.runner import read_stage
from syllabus.record import Example
from syllabus.text.rouge import NoveltyIndex, rouge_l

SEED_TEXTS = {t.instruction for t in builtin_seed_tasks()}
SYLLABLES = ["ka", "lo", "mi", "ne", "pu", "ri", "so", "tu", "va", "ze", "bo", "di", "fe", "gu", "hi", "jo"]
VOCAB = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in ("n", "r", "s")]  # 768 made-up words

# Planted instructions, one per instruction filter (the long one needs max_words=20).
PLANTED = {
    "too short": "Sort it.",
    "too long": "Explain " + " ".join(f"word{i}" for i in range(24)) + ".",
    "blacklisted keyword": "Describe the picture of a sunset over the harbour.",
    "starts with punctuation": "- List five tropical fruits and their colours.",
    "non-english start": "Écris un poème sur la mer en français.",
    "write a program": "Write a program that prints the first ten squares.",
    "too similar": "Classify the sentiment of the review as positive or negative.",  # a seed, verbatim
}


def words(key: str, k: int) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return " ".join(VOCAB[(digest[2 * i] * 256 + digest[2 * i + 1]) % len(VOCAB)] for i in range(k))


def text_of(request) -> str:
    return request.prompt if request.prompt is not None else request.messages[-1]["content"]


def last_task(text: str) -> str:
    return re.findall(r"^Task: (.*)$", text, re.MULTILINE)[-1].strip()


def teacher(request) -> str:
    """A rule-based teacher: answers by prompt type, deterministic in the request."""
    text = text_of(request)
    if "Is it classification?" in text:
        task = last_task(text)
        return " Yes" if task.startswith("Decide whether") else " No"
    if text.startswith("Given a classification task"):
        task = last_task(text)
        return f"Class label: Good\nInput: {words(task + 'g', 4)}\nClass label: Bad\nInput: {words(task + 'b', 4)}"
    if text.startswith("Come up with examples"):
        task = last_task(text)
        if task.startswith("Explain kept"):  # planted instances, one per instance filter
            return (
                "Example 1\nInput: a fine input\nOutput: a fine output\n"
                "Example 2\nInput: same text\nOutput: same text\n"
                "Example 3\nInput: x\nOutput:\n"
                "Example 4\nInput: Here it is:\nOutput: done\n"
                "Example 5\nInput: a fine input\nOutput: a fine output\n"
                "Example 6\nInput: clash\nOutput: one\n"
                "Example 7\nInput: clash\nOutput: two\n"
                "Example 8\nInput: long\nOutput: " + " ".join(["many"] * 45)
            )
        return f"Example 1\nInput: {words(task + 'in', 3)}\nOutput: {words(task + 'out', 3)}\nExample 2\nInput:\nOutput: {words(task + 'o2', 3)}"
    # instruction generation: two fresh tasks, a near copy of the first, a classification task, the planted ones
    fresh = [f"Explain {words(text + str(j), 7)}." for j in range(2)]
    items = [
        *fresh,
        fresh[0][:-1] + " now.",
        f"Decide whether {words(text + 'c', 5)} is good or bad.",
        *PLANTED.values(),
    ]
    if request.prompt is not None:  # raw: the prompt ends with "Task 9:"
        return items[0] + "\n" + "\n".join(f"Task {10 + j}: {t}" for j, t in enumerate(items[1:]))
    return "Sure! Here are new tasks:\n" + "\n".join(f"{9 + j}. {t}" for j, t in enumerate(items))


OPTIONS = {
    "new_per_prompt": 12,
    "max_words": 20,
    "max_instances": 8,
    "max_instance_words": 40,
    "max_prompts_per_round": 3,
}


def run_si(out, llm=None, n=1000, max_rounds=2, **options):
    llm = llm or FunctionLLM(teacher)
    result = run_generator(
        "self-instruct",
        [llm],
        out,
        n=n,
        max_rounds=max_rounds,
        shard_size=4,
        params=SamplingParams(max_tokens=400, temperature=0.7),
        options={**OPTIONS, **options},
    )
    return result, llm


def phase_dirs(out: Path, prefix: str) -> list[Path]:
    return sorted(p for p in (out / "phases").iterdir() if p.name.split("_", 1)[1].startswith(prefix))


def excluded_reasons(folder: Path) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    for e in read_stage(folder, kind="excluded"):
        out.setdefault(e.meta["excluded.reason"], []).append(e)
    return out


# -- prompts: 6 seeds + 2 generated ----------------------------------------------------------------
def test_mix_instructions_uses_generated_ones_as_they_appear():
    seeds = [f"s{i}" for i in range(20)]
    rng = random.Random(0)
    assert sum(c.startswith("m") for c in mix_instructions(rng, seeds, [])) == 0
    one = mix_instructions(rng, seeds, ["m0"])
    assert len(one) == 8 and sum(c.startswith("m") for c in one) == 1
    many = mix_instructions(rng, seeds, [f"m{i}" for i in range(10)])
    assert len(many) == 8 and sum(c.startswith("m") for c in many) == 2 and len(set(many)) == 8
    few_seeds = mix_instructions(rng, ["s0", "s1"], [f"m{i}" for i in range(10)])
    assert len(few_seeds) == 8 and sum(c.startswith("s") for c in few_seeds) == 2  # generated ones fill in


def test_round_zero_prompts_are_all_seeds_later_rounds_six_plus_two(tmp_path):
    _, llm = run_si(tmp_path)
    prompts = [text_of(r) for r in llm.history if text_of(r).startswith("Come up with a series of tasks")]
    assert prompts, "no instruction prompts"
    novel = {e.meta["selfinstruct.instruction"] for p in phase_dirs(tmp_path, "novelty") for e in read_stage(p)}
    for text in prompts:
        context = re.findall(r"^Task \d+: (.*)$", text, re.MULTILINE)
        assert len(context) == 8 and text.endswith("Task 9:")
        n_seed = sum(c in SEED_TEXTS for c in context)
        n_gen = sum(c in novel for c in context)
        assert n_seed + n_gen == 8 and (n_seed, n_gen) in ((8, 0), (6, 2))
    shapes = [(sum(c in SEED_TEXTS for c in re.findall(r"^Task \d+: (.*)$", t, re.MULTILINE))) for t in prompts]
    assert shapes[:3] == [8, 8, 8] and set(shapes[3:]) == {6}  # round 0: seeds only; round 1: 6 + 2


def test_chat_prompt_asks_to_continue_the_numbered_list(tmp_path):
    _, llm = run_si(tmp_path, max_rounds=1, raw=False)
    first = llm.history[0]
    assert first.messages is not None and first.prompt is None
    content = first.messages[-1]["content"]
    assert (
        re.search(r"^8\. ", content, re.MULTILINE)
        and "numbered 9 to 20" in content
        and "Continue the list with 12 new tasks" in content
    )
    kept = [e for p in phase_dirs(tmp_path, "novelty") for e in read_stage(p)]
    assert any(e.prompt.startswith("Explain ") for e in kept) and not any(e.prompt.startswith("Sure") for e in kept)


# -- parsing ------------------------------------------------------------------------------------------------
def test_instruction_list_parsing_good_and_malformed(tmp_path):
    prompt = Example(
        id="p",
        messages=[{"role": "user", "content": "-"}],
        meta={"selfinstruct.context": ["Say hello to the user.", "Count from one to three."]},
    )
    answers = [
        (
            'Here you go:\n3. "Name three rivers in Europe."\n4) **Translate the word house into German.**\n'
            "5. Write a limerick about a\ncat who loves rain.\n"
        ),
        "I cannot help with that.",  # no list at all
    ]
    step = GenerateInstructions(ScriptedLLM(answers), count=8, raw=False)
    result = Pipeline([step], shard_size=1).run(
        [prompt, Example(id="q", messages=prompt.messages, meta=prompt.meta)], tmp_path
    )
    assert [e.prompt for e in result.examples()] == [
        "Name three rivers in Europe.",
        "Translate the word house into German.",
        "Write a limerick about a cat who loves rain.",
    ]
    assert [e.id for e in result.examples()] == ["p-i0", "p-i1", "p-i2"]
    (bad,) = result.excluded()
    assert bad.meta["excluded.reason"] == "unparseable (no numbered list)"
    assert bad.meta["instructions.raw"] == "I cannot help with that."


def test_raw_answer_starts_mid_item_and_cut_off_item_is_dropped():
    prompt = Example(
        id="p", messages=[{"role": "user", "content": "-"}], meta={"selfinstruct.context": ["Say hello to the user."]}
    )
    step = GenerateInstructions(
        ScriptedLLM(["Name three rivers in Europe.\nTask 3: Give five tips for better sleep at"]),
        SamplingParams(max_tokens=12),
        count=8,
        raw=True,
    )
    assert step.request(prompt) == "Come up with a series of tasks:\n\nTask 1: Say hello to the user.\nTask 2:"
    items = list(step([prompt]))
    assert [e.prompt for e in items] == ["Name three rivers in Europe.", "Give five tips for better sleep"]
    assert FormatFilter().keep(items[0]) is True
    assert FormatFilter().keep(items[1]).reason == "cut off"  # the answer hit max_tokens mid-item


def test_parse_instances_shapes():
    assert parse_instances("Example 1\nInput: 2+2\nOutput: 4\nExample 2\nInput: N/A\nOutput: 0") == [
        ("2+2", "4"),
        ("", "0"),
    ]
    assert parse_instances("Input: a\nOutput: b\nInput: c\nOutput: multi\nline") == [("a", "b"), ("c", "multi\nline")]
    assert parse_instances("Output: only an output") == [("", "only an output")]
    assert parse_instances("no labels at all") == []
    assert parse_instances("Class label: Yes\nInput: x\nClass label: No\nInput: y", output_first=True) == [
        ("x", "Yes"),
        ("y", "No"),
    ]
    assert parse_instances("Class label: Yes\nClass label: No", output_first=True) == [("", "Yes"), ("", "No")]


# -- filters -------------------------------------------------------------------------------------------------
def test_every_instruction_filter_drops_its_planted_case(tmp_path):
    run_si(tmp_path, max_rounds=1)
    reasons: dict[str, list[Example]] = {}
    for p in [*phase_dirs(tmp_path, "instructions"), *phase_dirs(tmp_path, "novelty")]:
        for reason, items in excluded_reasons(p).items():
            reasons.setdefault(reason, []).extend(items)
    for reason, text in PLANTED.items():
        assert any(e.meta["selfinstruct.instruction"] == text for e in reasons.get(reason, [])), reason
    copies = [e for e in reasons["too similar"] if e.meta["selfinstruct.instruction"].endswith(" now.")]
    assert copies and all(e.meta["selfinstruct.rouge_l"] > 0.7 for e in copies)
    assert any(e.meta["selfinstruct.similar_to"] == "seed-sentiment" for e in reasons["too similar"])
    assert {e.meta["selfinstruct.blacklisted"] for e in reasons["blacklisted keyword"]} == {"picture"}
    stats = json.loads((tmp_path / "generation.json").read_text())
    steps = {s["step"]: s for p in stats["phases"] for s in p["steps"]}
    assert {"length", "blacklist", "format", "novelty"} <= set(steps) and steps["novelty"]["dropped"] > 0


def test_filters_alone():
    assert LengthFilter(4, 6).keep(Example.from_prompt("one two three four five six seven")).reason == "too long"
    blacklist = BlacklistFilter(["go to", "map"])
    assert blacklist.keep(Example.from_prompt("Please Go  to the store.")).reason == "blacklisted keyword"
    assert blacklist.keep(Example.from_prompt("Summarize this paragraph about maple trees.")) is True
    assert FormatFilter().keep(Example.from_prompt("Explain gravity.")) is True
    with pytest.raises(ConfigError):
        LengthFilter(5, 3)


def test_novelty_decisions_equal_brute_force_rouge_l():
    rng = random.Random(3)
    base = [f"{rng.choice(['Write', 'List', 'Explain'])} {words(str(i), rng.randint(3, 9))}" for i in range(60)]
    texts = []
    for t in base * 3:  # originals and noisy copies, some above and some below 0.7
        ws = t.split()
        for _ in range(rng.randint(0, 4)):
            ws.insert(rng.randrange(len(ws) + 1), rng.choice(VOCAB[:20]))
        texts.append(" ".join(ws))
    rng.shuffle(texts)
    pool_texts = [t.instruction for t in builtin_seed_tasks()]
    index = NoveltyIndex(0.7)
    for i, t in enumerate(pool_texts):
        index.add(t, key=f"s{i}")
    candidates = [Example.from_prompt(t, id=f"c{i}") for i, t in enumerate(texts)]
    f = NoveltyFilter(index, candidates)
    decisions = [f.keep(c) is True for c in candidates]
    pool, expected = list(pool_texts), []
    for t in texts:
        novel = max(rouge_l(t, p) for p in pool) <= 0.7
        expected.append(novel)
        if novel:
            pool.append(t)
    assert decisions == expected and 0 < sum(decisions) < len(decisions)
    assert len(index) == len(pool)


def test_novelty_across_rounds_equals_brute_force_over_the_whole_pool(tmp_path):
    run_si(tmp_path, max_rounds=3)
    pool = [t.instruction for t in builtin_seed_tasks()]
    checked = 0
    for folder in phase_dirs(tmp_path, "novelty"):
        kept = {e.id for e in read_stage(folder)}
        dropped = {e.id for e in read_stage(folder, kind="excluded")}
        # The novelty phase reads the round's instruction phase, the one numbered just before it.
        (source,) = (folder.parent).glob(f"{int(folder.name[:2]) - 1:02d}_instructions-*")
        candidates = list(read_stage(source))
        assert {c.id for c in candidates} == kept | dropped
        for c in candidates:
            text = c.meta["selfinstruct.instruction"]
            novel = max(rouge_l(text, p) for p in pool) <= 0.7
            assert (c.id in kept) == novel
            if novel:
                pool.append(text)
            checked += 1
    assert checked > 20


# -- classification and instances ------------------------------------------------------------------------
def test_classification_tasks_get_output_first_instances(tmp_path):
    _, llm = run_si(tmp_path, max_rounds=1)
    texts = [text_of(r) for r in llm.history]
    clf_prompts = [t for t in texts if t.startswith("Given a classification task")]
    open_prompts = [t for t in texts if t.startswith("Come up with examples")]
    assert clf_prompts and all(last_task(t).startswith("Decide whether") for t in clf_prompts)
    assert open_prompts and not any(last_task(t).startswith("Decide whether") for t in open_prompts)
    assert "Class label:" in clf_prompts[0] and "Example 1" in open_prompts[0]
    records = list(read_stage(tmp_path))
    clf = [r for r in records if r.meta["selfinstruct.is_classification"]]
    assert clf and {r.completion for r in clf} == {"Good", "Bad"}
    assert all(r.prompt.startswith("Decide whether") and r.prompt.count("\n\n") == 1 for r in clf)


def test_classify_prompt_is_few_shot_with_seeds_and_malformed_verdicts_are_excluded(tmp_path):
    def maybe(request):
        text = text_of(request)
        return " Maybe." if "Is it classification?" in text else teacher(request)

    run_si(tmp_path, llm=FunctionLLM(maybe), max_rounds=1)
    folder = phase_dirs(tmp_path, "classify")[0]
    excluded = list(read_stage(folder, kind="excluded"))
    assert excluded and {e.meta["excluded.reason"] for e in excluded} == {"unparseable (no yes or no)"}
    assert excluded[0].meta["classify.raw"] == " Maybe."
    assert not list(read_stage(tmp_path))  # nothing typed, nothing kept, and no crash

    _, llm = run_si(tmp_path / "ok", max_rounds=1)
    prompt = next(text_of(r) for r in llm.history if "Is it classification?" in text_of(r))
    assert prompt.count("Is it classification? Yes") == 4 and prompt.count("Is it classification? No") == 4
    shots = re.findall(r"^Task: (.*)$", prompt, re.MULTILINE)[:-1]
    assert all(s in SEED_TEXTS for s in shots)


def test_every_instance_filter_drops_its_planted_case(tmp_path):
    task = Example.from_prompt(
        "Explain kept things.",
        id="t",
        meta={"selfinstruct.instruction": "Explain kept things.", "selfinstruct.is_classification": False},
    )
    step = GenerateInstances(FunctionLLM(teacher), max_instances=8, raw=True)
    result = Pipeline([step, *instance_filters(40)]).run([task], tmp_path / "inst")
    assert [(e.meta["selfinstruct.input"], e.completion) for e in result.examples()] == [
        ("a fine input", "a fine output")
    ]
    reasons = excluded_reasons(tmp_path / "inst")
    assert set(reasons) == {
        "empty output",
        "output equals input",
        "ends with a colon",
        "repeated instance",
        "same input, different outputs",
        "too long",
    }
    assert len(reasons["same input, different outputs"]) == 2


# -- records, provenance, plan, CLI --------------------------------------------------------------------------
def test_records_and_provenance(tmp_path):
    run_si(tmp_path, max_rounds=1)
    records = list(read_stage(tmp_path))
    assert records and len({r.id for r in records}) == len(records)
    with_input = next(r for r in records if r.meta["selfinstruct.input"])
    instruction = with_input.meta["selfinstruct.instruction"]
    assert with_input.messages == [
        {"role": "user", "content": instruction + "\n\n" + with_input.meta["selfinstruct.input"]}
    ]
    assert with_input.meta["alpaca.input"] == with_input.meta["selfinstruct.input"]
    assert with_input.meta["selfinstruct.round"] == 0 and with_input.meta["selfinstruct.is_classification"] is False
    no_input = next(r for r in records if not r.meta["selfinstruct.input"])
    assert no_input.messages == [{"role": "user", "content": no_input.meta["selfinstruct.instruction"]}]
    p = with_input.provenance
    assert p["generator"] == "self-instruct" and p["generator_version"] == "1" and p["model"] == "fake:function"
    assert p["template"] == "self-instruct/instances-input-first" and len(p["template_hash"]) == 12 and p["prompt_hash"]
    assert [c["step"] for c in p["calls"]] == ["instructions", "classify", "instances"]
    assert p["parents"] == [with_input.id.rsplit("-", 1)[0]]
    context_ids = with_input.meta["selfinstruct.context_ids"]
    assert len(context_ids) == 8 and all(c.startswith("seed-") for c in context_ids)  # round 0: seeds only
    from syllabus.formats import to_alpaca

    assert to_alpaca(with_input, include_id=False)["instruction"] == instruction


def test_plan_renders_round_zero_prompts_without_calling(tmp_path):
    llm = ScriptedLLM([])
    gen = get_generator("self-instruct")
    plan = GenerationRun(gen, [llm], GenerationSettings(n=40), tmp_path).dry_run()
    assert llm.history == [] and plan.calls > 0
    assert [p.name for p in plan.phases] == ["instructions", "classify", "instances", "instances-clf"]
    first = plan.prompts[0]
    assert isinstance(first, str) and first.startswith("Come up with a series of tasks") and first.endswith("Task 9:")
    assert plan.phases[0].calls == 22  # ceil(40 / 2 kept per prompt * 1.1)


def test_cli_with_echo_teacher_never_crashes(tmp_path, capsys):
    from syllabus.cli import main

    out = tmp_path / "run"
    assert (
        main(
            [
                "generate",
                "--generator",
                "self-instruct",
                "--teacher",
                "fake:echo",
                "--n",
                "5",
                "--out",
                str(out),
                "--no-progress",
                "--set",
                "max_prompts_per_round=4",
            ]
        )
        == 0
    )
    report = json.loads((out / "r00" / "01_generate" / "generation.json").read_text())
    assert report["generator"]["name"] == "self-instruct" and report["requests"] > 0
    assert (
        main(
            [
                "generate",
                "--generator",
                "self-instruct",
                "--teacher",
                "fake:echo",
                "--dry-run",
                "--out",
                str(tmp_path / "dry"),
            ]
        )
        == 0
    )
    assert "Come up with a series of tasks" in capsys.readouterr().out


# -- seeds -----------------------------------------------------------------------------------------------------
def test_builtin_seeds_are_well_formed():
    seeds = builtin_seed_tasks()
    assert len(seeds) >= 30 and len({s.id for s in seeds}) == len(seeds)
    assert all(s.instances and s.is_classification is not None for s in seeds)
    assert 5 <= sum(s.is_classification for s in seeds) <= 15 and 5 <= sum(not s.has_input for s in seeds)
    assert all(LengthFilter().keep(Example.from_prompt(s.instruction)) is True for s in seeds)
    assert all(BlacklistFilter().keep(Example.from_prompt(s.instruction)) is True for s in seeds)


def test_seed_files_in_every_documented_format(tmp_path):
    path = tmp_path / "seeds.jsonl"
    lines = [
        {
            "id": "a",
            "instruction": "Is the number odd?",
            "instances": [{"input": "3", "output": "Yes"}],
            "is_classification": True,
        },
        {"instruction": "Reverse the word.", "input": "cat", "output": "tac", "is_classification": False},
        {
            "id": "c",
            "messages": [{"role": "user", "content": "Name a color of the rainbow."}],
            "completion": "Red",
            "meta": {"selfinstruct.is_classification": False},
        },
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    tasks = load_seed_tasks(path)
    assert [(t.instruction, t.instances, t.is_classification) for t in tasks] == [
        ("Is the number odd?", (("3", "Yes"),), True),
        ("Reverse the word.", (("cat", "tac"),), False),
        ("Name a color of the rainbow.", (("", "Red"),), False),
    ]
    gen = get_generator("self-instruct", {"seed_tasks": str(path)})
    run = GenerationRun(gen, [ScriptedLLM([])], GenerationSettings(n=5), tmp_path / "r")
    assert [t.id for t in gen.seeds(run)] == [t.id for t in tasks]  # auto: no built-ins when seeds are given
    always = get_generator("self-instruct", {"seed_tasks": str(path), "builtin_seeds": "always"})
    assert len(always.seeds(run)) == 3 + len(builtin_seed_tasks())
    from syllabus.formats import read_any

    inputs = list(read_any(path))
    via_prompts = GenerationRun(
        get_generator("self-instruct"), [ScriptedLLM([])], GenerationSettings(n=5), tmp_path / "p", inputs
    )
    assert [t.instruction for t in via_prompts.generator.seeds(via_prompts)] == [t.instruction for t in tasks]
    with pytest.raises(ConfigError, match="no such file"):
        get_generator("self-instruct", {"seed_tasks": str(tmp_path / "missing.jsonl")}).seeds(run)
    with pytest.raises(ConfigError, match="needs seed tasks"):
        get_generator("self-instruct", {"builtin_seeds": "never"}).seeds(run)
    with pytest.raises(ConfigError, match="unknown option"):
        get_generator("self-instruct", {"seed_task": "x"})


# -- resume -----------------------------------------------------------------------------------------------------
def test_rerun_and_killed_run_give_the_same_ids(tmp_path):
    first, llm1 = run_si(tmp_path, max_rounds=2)
    ids = [e.id for e in first.examples()]
    assert ids and len(set(ids)) == len(ids)
    again, llm2 = run_si(tmp_path, max_rounds=2)
    assert [e.id for e in again.examples()] == ids
    assert llm2.history == []  # every phase was done: nothing asked again
    # A kill: some shards of several phases (and the final stage) lost their done markers.
    for folder in [*phase_dirs(tmp_path, "novelty"), *phase_dirs(tmp_path, "instances"), tmp_path]:
        markers = sorted((folder / "done").glob("*"))
        for marker in markers[1::2] or markers:
            marker.unlink()
    (tmp_path / "phases" / "01_novelty-r00" / "shards" / "00001.jsonl").unlink(missing_ok=True)
    resumed, llm3 = run_si(tmp_path, max_rounds=2)
    assert [e.id for e in resumed.examples()] == ids
    assert [e.to_dict() for e in resumed.examples()] == [e.to_dict() for e in first.examples()]
    assert 0 < len(llm3.history) < len(llm1.history)


def test_a_copied_context_list_is_skipped():
    prompt = Example(
        id="p", messages=[{"role": "user", "content": "-"}], meta={"selfinstruct.context": ["Say hi.", "Count to 3."]}
    )
    step = GenerateInstructions(ScriptedLLM(["1. Say hi.\n2. Count to 3.\n3. Name a river in Asia."]), count=8)
    assert [e.prompt for e in step([prompt])] == ["Name a river in Asia."]


def test_chat_few_shot_prompts_are_earlier_turns(tmp_path):
    def chat_teacher(request):
        content = request.messages[-1]["content"]
        if "Is it classification?" in content:
            return "Yes" if last_task(content).startswith("Decide whether") else "No"
        if request.messages[0]["content"].startswith("The user gives a classification task"):
            return "Class label: Good\nInput: fine\nClass label: Bad\nInput: awful"
        if request.messages[0]["content"].startswith("Write examples"):
            return "Example 1\nInput: " + words(content, 3) + "\nOutput: " + words(content + "o", 3)
        return teacher(request)

    llm = FunctionLLM(chat_teacher)
    run_si(tmp_path, llm=llm, max_rounds=1, raw=False)
    classify = [r.messages for r in llm.history if "Is it classification?" in r.messages[-1]["content"]]
    assert classify and [m["role"] for m in classify[0][:3]] == ["system", "user", "assistant"]
    assert {m["content"] for m in classify[0] if m["role"] == "assistant"} == {"Yes", "No"}
    assert all(re.sub(r"^Task: (.*)\n.*", r"\1", m["content"]) in SEED_TEXTS for m in classify[0][1:-1:2])
    instances = [r.messages for r in llm.history if r.messages[0]["content"].startswith("Write examples")]
    assert instances and len(instances[0]) == 6  # system, two seed demonstrations, the task
    assert "Output:" in instances[0][2]["content"] and instances[0][-1]["content"].startswith("Task: ")
    records = list(read_stage(tmp_path))
    assert {r.meta["selfinstruct.is_classification"] for r in records} == {True, False}
