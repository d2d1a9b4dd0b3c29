"""verified-skills: check instructions, procedural arithmetic, rejection sampling, erased strategy prompts."""

from __future__ import annotations

import doctest
import json
import random
import re
from dataclasses import replace

import pytest

from syllabus.checks import checks_from_meta
from syllabus.cli import main
from syllabus.curate.scorers.verify import VerifierScore
from syllabus.errors import ConfigError
from syllabus.generators import (
    GenerationRun,
    GenerationSettings,
    get_generator,
    run_generator,
)
from syllabus.generators.verified import (
    ANSWER,
    ANSWER_FORMATS,
    ARITHMETIC_TEMPLATES,
    STRATEGIES,
    KeepVerified,
    make_arithmetic,
    verify_sample,
)
from syllabus.llm.base import Capabilities
from syllabus.llm.fake import EchoLLM, FunctionLLM, ScriptedLLM
from syllabus.pipeline.runner import read_stage
from syllabus.pipeline.step import StepContext
from syllabus.record import Example


class ChatFunctionLLM(FunctionLLM):
    """A rule-based teacher that, like a chat model, has a chat template (fakes have none)."""

    capabilities = Capabilities(chat_template=True)


class ChatScriptedLLM(ScriptedLLM):
    capabilities = Capabilities(chat_template=True)


def _dropped(out_dir):
    """What the phases of a generation dropped (the final stage only keeps)."""
    return list(read_stage(out_dir / "phases" / "00_respond-r00", kind="excluded"))


def _gen(**options):
    return get_generator("verified-skills", options)


def _instructions(tmp_path, k=60, round_=0, seed=0, **options):
    """The instructions a run with these options would answer in round ``round_`` (no model call)."""
    gen = _gen(**options)
    run = GenerationRun(gen, [EchoLLM()], GenerationSettings(n=5, seed=seed), tmp_path / "probe")
    return gen.build_instructions(run, round_, k)


def _solver(answers, references):
    """A teacher that answers sample i of a problem with ``answers[i](reference)``."""

    def answer(request):
        ref = int(references[request.messages[-1]["content"]])
        return answers[request.sample_index](ref)

    return ChatFunctionLLM(answer, name="solver")


def RIGHT(ref):
    return f"First step.\nThe answer is {ref}."


def WRONG(ref):
    return f"First step.\nThe answer is {ref + 1}."


def NO_MARKER(ref):  # right, but without the answer marker
    return f"So the total is {ref}."


# -- arithmetic problems -------------------------------------------------------------------------
_LINE = re.compile(r"^(\d+) ([-+*/]) (\d+) = (-?\d+)$")


def test_arithmetic_steps_redo_to_the_exact_answer():
    rng = random.Random(0)
    seen = set()
    for _ in range(400):
        p = make_arithmetic(rng)
        seen.add(p.template)
        values = []
        for line in p.steps:
            a, op, b, c = _LINE.match(line).groups()
            a, b, c = int(a), int(b), int(c)
            assert c == {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
            assert op != "/" or a % b == 0  # exact division only
            values.append(c)
        assert values[-1] == p.answer and p.answer > 0 and p.operations == 3
        assert p.solution.endswith(f"The answer is {p.answer}.")
    assert seen == set(ARITHMETIC_TEMPLATES)  # every template is drawn
    assert make_arithmetic(random.Random(5)) == make_arithmetic(random.Random(5))


def test_answer_formats_are_stated_in_the_prompt_and_decide_verification(tmp_path):
    items = _instructions(tmp_path, k=60, arithmetic_share=1.0, answer_formats=["sentence", "tags", "final-line"])
    formats = {e.meta["verified.answer_format"] for e in items}
    assert formats == set(ANSWER_FORMATS)  # each drawn
    for item in items:
        fmt = ANSWER_FORMATS[item.meta["verified.answer_format"]]
        assert item.prompt.endswith(fmt.instruction)
        solution = item.meta["verified.solution"]
        assert solution.endswith(fmt.line.format(answer=item.reference))
        assert verify_sample(replace(item, completion=solution))
        at = solution.rindex(item.reference)
        wrong = solution[:at] + str(int(item.reference) + 1) + solution[at + len(item.reference) :]
        assert not verify_sample(replace(item, completion=wrong))
        if item.meta["verified.answer_format"] != "sentence":  # the right number in another format fails
            assert not verify_sample(replace(item, completion=f"The answer is {item.reference}."))
    # Without the option, prompts state no format and solutions end "The answer is N.".
    plain = _instructions(tmp_path / "plain", k=5, arithmetic_share=1.0)
    assert all("verified.answer_format" not in e.meta for e in plain)
    assert not any(fmt.instruction in e.prompt for e in plain for fmt in ANSWER_FORMATS.values())
    assert all(e.meta["verified.solution"].endswith(f"The answer is {e.reference}.") for e in plain)


def test_arithmetic_problems_never_reuse_arith_ic_items_or_templates():
    from syllabus.evaluate.tasks.arith_ic import TEMPLATES, ArithIC

    assert not set(TEMPLATES) & set(ARITHMETIC_TEMPLATES)
    eval_sentences = set()
    for split in ("test", "train"):
        for ex in ArithIC(n_base=60, split=split, variants=False).load():
            eval_sentences |= {s.strip() for s in re.split(r"(?<=[.?])\s+", ex.meta["arith_ic.problem"])}
    rng = random.Random(1)
    for _ in range(400):
        p = make_arithmetic(rng)
        ours = {s.strip() for s in re.split(r"(?<=[.?])\s+", p.text)}
        assert not ours & eval_sentences


# -- check instructions ---------------------------------------------------------------------------
def test_check_instructions_come_from_train_base_tasks_with_checks_in_the_scorer_format(tmp_path):
    from syllabus.evaluate.tasks.ifeval_lite import base_tasks

    train = {b.id: b for b in base_tasks("train")}
    test_ids = {b.id for b in base_tasks("test")}
    items = _instructions(tmp_path, k=80, arithmetic_share=0.0)
    for item in items:
        base = train[item.meta["verified.base_id"]]  # never a test-split base task
        assert item.meta["verified.base_id"] not in test_ids
        checks = checks_from_meta(item.meta)  # the form the curation scorer reads
        assert 1 <= len(checks) <= 2 and all(set(c) == {"name", "params"} for c in item.meta["checks"])
        assert item.prompt == " ".join([base.instruction, *(c.describe() for c in checks)])
        assert item.meta["verified.kind"] == "checks" and item.meta["verified.task_type"] == base.category
        assert item.meta["skill"] == "instruction-following" and item.messages[0]["role"] == "user"
        # VerifierScore reads these checks (a blank answer fails all of them).
        [scored] = VerifierScore()([Example.from_prompt(item.prompt, completion="", meta=item.meta)])
        assert scored.scores["verify.checks_total"] == len(checks)
    assert {len(i.meta["checks"]) for i in items} == {1, 2}
    # Seeded: the same round gives the same instructions; another round other ids.
    again = _instructions(tmp_path, k=80, arithmetic_share=0.0)
    assert [(i.id, i.prompt) for i in again] == [(i.id, i.prompt) for i in items]
    other = _instructions(tmp_path, k=80, round_=1, arithmetic_share=0.0)
    assert not {i.id for i in other} & {i.id for i in items}


def test_check_types_and_counts_follow_the_options(tmp_path):
    items = _instructions(tmp_path, k=20, arithmetic_share=0.0, checks=["case.lowercase", "punctuation.no_comma"],
                          min_checks=2, max_checks=2)
    assert all(sorted(c["name"] for c in i.meta["checks"]) == ["case.lowercase", "punctuation.no_comma"] for i in items)
    with pytest.raises(ConfigError, match="Did you mean case.lowercase"):
        run_generator("verified-skills", [EchoLLM()], tmp_path / "x", options={"checks": ["case.lowercas"]})
    with pytest.raises(ConfigError, match="min_checks"):
        run_generator("verified-skills", [EchoLLM()], tmp_path / "y", options={"min_checks": 3, "max_checks": 2})


def test_user_prompts_get_checks_and_verifiable_user_items_are_used_as_given(tmp_path):
    inputs = [
        Example.from_prompt("Describe a lighthouse.", id="plain"),
        Example.from_prompt("What is 6 * 7?", id="ref", reference="42"),
    ]
    gen = _gen(arithmetic_share=0.0)
    run = GenerationRun(gen, [EchoLLM()], GenerationSettings(n=5), tmp_path, inputs)
    items = gen.build_instructions(run, 0, 30)
    by_kind = {i.meta["verified.kind"]: i for i in items}
    assert by_kind["checks"].prompt.startswith("Describe a lighthouse. ") and by_kind["checks"].meta["checks"]
    given = by_kind["given"]
    assert given.prompt == "What is 6 * 7?" and given.reference == "42" and "checks" not in given.meta
    assert given.meta["verified.task_type"] == "reference" and given.meta["verified.strategy"] == "step-by-step"
    assert given.provenance["parents"] == ["ref"] and len({i.id for i in items}) == 30


# -- strategies -----------------------------------------------------------------------------------
def test_strategy_is_chosen_per_task_type_and_can_be_overridden(tmp_path):
    gen = _gen()
    assert gen.strategy_for("arithmetic") == "step-by-step"
    assert gen.strategy_for("explain") == "explain-then-answer"
    assert gen.strategy_for("tips") == "recall-then-generate"
    assert gen.strategy_for("story") == "direct" and gen.strategy_for("unheard-of") == "direct"
    assert _gen(routes={"story": "explain-then-answer"}).strategy_for("story") == "explain-then-answer"
    assert _gen(strategy="direct").strategy_for("arithmetic") == "direct"
    with pytest.raises(ConfigError, match="Did you mean step-by-step"):
        run_generator("verified-skills", [EchoLLM()], tmp_path, options={"routes": {"story": "step-by-stp"}})


def test_strategy_system_prompt_is_sent_but_erased_from_every_stored_record(tmp_path):
    teacher = ChatFunctionLLM(lambda r: "all lowercase words here.", name="plain")
    result = run_generator("verified-skills", [teacher], tmp_path, n=6, options={"samples": 2})
    instructions = {}
    for request in teacher.history:
        system, user = request.messages
        assert system["role"] == "system" and system["content"] in STRATEGIES.values()
        instructions[user["content"]] = system["content"]
    assert set(instructions.values()) >= {STRATEGIES["step-by-step"]}  # arithmetic was asked step by step
    records = [*result.examples(), *_dropped(tmp_path)]
    assert records
    for record in records:
        assert record.messages == [{"role": "user", "content": record.prompt}]  # the user prompt only
        text = json.dumps(record.messages)
        assert not any(s in text for s in STRATEGIES.values())
        # meta keeps which strategy was used, and it is the one that was sent
        assert STRATEGIES[record.meta["verified.strategy"]] == instructions[record.prompt]
        assert record.meta["verified.erased_system"] is True


def test_erase_system_false_keeps_the_strategy_as_the_system_turn(tmp_path):
    teacher = ChatFunctionLLM(lambda r: "ok.", name="plain")
    result = run_generator("verified-skills", [teacher], tmp_path, n=2, max_rounds=1,
                           options={"samples": 1, "erase_system": False})
    record = next(iter([*result.examples(), *_dropped(tmp_path)]))
    assert record.messages[0] == {"role": "system", "content": STRATEGIES[record.meta["verified.strategy"]]}


def test_a_teacher_without_chat_template_gets_plain_text_prompts_cut_at_the_next_block(tmp_path):
    refs = {i.prompt: i.reference for i in _instructions(tmp_path, k=50, arithmetic_share=1.0)}

    def base_model(request):
        assert request.messages is None and "\n### " in request.params.stop
        problem = request.prompt.split("### Request\n", 1)[1].split("\n\n### Response\n", 1)[0]
        assert request.prompt.startswith(STRATEGIES["step-by-step"])
        return f"The answer is {refs[problem]}.\n### Request\nAnother question"

    teacher = FunctionLLM(base_model, name="base")
    result = run_generator("verified-skills", [teacher], tmp_path / "run", n=3,
                           options={"samples": 1, "arithmetic_share": 1.0})  # raw by default: no template
    kept = list(result.examples())
    assert len(kept) == 3 and all(e.completion == f"The answer is {e.reference}." for e in kept)


# -- rejection sampling ---------------------------------------------------------------------------
def _arith_run(tmp_path, answers, n=4, **options):
    refs = {i.prompt: i.reference for i in _instructions(tmp_path, k=200, arithmetic_share=1.0)}
    teacher = _solver(answers, refs)
    result = run_generator("verified-skills", [teacher], tmp_path / "run", n=n, max_rounds=1,
                           options={"arithmetic_share": 1.0, **options})
    return teacher, result


def test_rejection_sampling_keeps_the_first_verified_answer_and_records_the_pass_rate(tmp_path):
    teacher, result = _arith_run(tmp_path, [WRONG, RIGHT, RIGHT, NO_MARKER])
    kept = list(result.examples())
    assert len(kept) == 4 and len(teacher.history) == 9 * 4  # ceil(4 / 0.5 * 1.1) instructions x 4 samples
    for e in kept:
        assert e.id.endswith("-s1") and e.completion == f"First step.\nThe answer is {e.reference}."
        assert (e.meta["verified.pass_rate"], e.meta["verified.samples"], e.meta["verified.passed"]) == (0.5, 4, 2)
        assert e.meta["verified.strategy"] == "step-by-step" and e.meta["skill"] == "arithmetic"
        assert e.scores["verify.answer_correct"] == 1.0  # the curation scorer's verdict travels along
        assert [m["role"] for m in teacher.history[0].messages] == ["system", "user"]
    reasons = json.loads((tmp_path / "run" / "generation.json").read_text())["phases"][0]["steps"][1]["reasons"]
    assert reasons == {"failed verification": 18, "extra verified sample": 9}
    failed = [e for e in _dropped(tmp_path / "run") if e.meta["excluded.reason"] == "failed verification"]
    assert {e.id[-3:] for e in failed} == {"-s0", "-s3"} and failed[0].completion  # the raw answer is kept


def test_keep_all_and_a_lenient_extractor_change_what_is_verified(tmp_path):
    _, result = _arith_run(tmp_path / "all", [WRONG, RIGHT, RIGHT, NO_MARKER], n=6, keep="all")
    kept = list(result.examples())
    assert {e.id[-3:] for e in kept} == {"-s1", "-s2"} and len(kept) == 6
    _, result = _arith_run(tmp_path / "auto", [WRONG, RIGHT, RIGHT, NO_MARKER], extract="auto")
    assert {e.meta["verified.pass_rate"] for e in result.examples()} == {0.75}  # the last number counts


def test_instructions_without_a_verified_answer_are_dropped_and_their_zero_rate_is_counted(tmp_path):
    refs = {i.prompt: int(i.reference) for i in _instructions(tmp_path, k=60, arithmetic_share=1.0)}

    # Odd answers are solved on one sample in three; even ones never.
    def teacher_fn(request):
        ref = refs[request.messages[-1]["content"]]
        return RIGHT(ref) if ref % 2 and request.sample_index == 1 else WRONG(ref)

    out = tmp_path / "run"
    run_generator("verified-skills", [ChatFunctionLLM(teacher_fn)], out, n=20, max_rounds=1,
                  options={"arithmetic_share": 1.0, "samples": 3})
    phase = out / "phases" / "00_respond-r00"
    kept, excluded = list(read_stage(phase)), list(read_stage(phase, kind="excluded"))
    assert kept and all(int(e.reference) % 2 for e in kept)
    lost = [e for e in excluded if e.meta["excluded.reason"] == "no verified sample"]
    assert lost and all(int(e.reference) % 2 == 0 and e.meta["verified.pass_rate"] == 0.0 for e in lost)
    assert len(lost) == 3 * len({e.meta["verified.instruction"] for e in lost})  # every answer of a lost instruction
    stats = json.loads((phase / "stats.json").read_text())
    counters = stats["counters"]
    assert counters["verified.pass_rate.0of3"] == len(lost) // 3 and counters["verified.pass_rate.1of3"] == len(kept)
    assert counters["verified.instructions"] == len(kept) + len(lost) // 3 == counters["answer.requests"] // 3 == 44
    assert counters["verified.answers_passed"] == counters["verified.instructions_kept"] == len(kept)
    assert counters["verified.answers"] == 3 * 44
    assert stats["steps"][1]["reasons"] == {"no verified sample": len(lost), "failed verification": 2 * len(kept)}


def test_pass_rate_counts_missing_answers_as_failures():
    def answer(i, text):
        return Example.from_prompt("Say hi.", id=f"q-s{i}", completion=text,
                                   meta={"verified.instruction": "q", "checks": [{"name": "case.lowercase"}]})

    ctx = StepContext()
    kept = list(KeepVerified(samples=5, keep="all")([answer(0, "hi"), answer(1, "HI"), answer(2, "hey")], ctx))
    assert [e.id for e in kept] == ["q-s0", "q-s2"] and kept[0].meta["verified.pass_rate"] == 2 / 5
    assert ctx.counters["verified.answers"] == 5 and ctx.counters["verified.pass_rate.2of5"] == 1
    with pytest.raises(ConfigError, match="keep"):
        KeepVerified(2, keep="best")  # type: ignore[arg-type]


def test_checks_are_verified_strictly_or_loosely(tmp_path):
    inputs = [Example.from_prompt("Describe a calm lake.", id="lake")]
    replies = ["Sure!\nthe lake is calm.", "The Lake Is Calm.", "the lake is calm and still."]
    teacher = FunctionLLM(lambda r: replies[r.sample_index], name="writer")
    options = {"arithmetic_share": 0.0, "samples": 3, "checks": ["case.lowercase"], "max_checks": 1}
    result = run_generator("verified-skills", [teacher], tmp_path / "strict", n=2, max_rounds=1, inputs=inputs,
                           options=options)
    kept = list(result.examples())
    assert {e.completion for e in kept} == {"the lake is calm and still."}
    assert all(e.meta["checks"] == [{"name": "case.lowercase", "params": {}}] for e in kept)
    assert all(e.meta["verified.pass_rate"] == 1 / 3 for e in kept)
    [again] = VerifierScore()([Example.from_dict(kept[0].to_dict())])  # the curation scorer agrees
    assert again.scores["verify.pass"] == 1.0
    loose = run_generator("verified-skills", [teacher], tmp_path / "loose", n=2, max_rounds=1, inputs=inputs,
                          options={**options, "check_mode": "loose", "keep": "all"})
    assert {e.meta["verified.pass_rate"] for e in loose.examples()} == {2 / 3}
    assert verify_sample(Example.from_prompt("x", completion="y")) is False  # nothing to verify: never passes


def test_provenance_of_a_kept_record(tmp_path):
    _, result = _arith_run(tmp_path, [RIGHT, RIGHT, RIGHT, RIGHT], n=1)
    [e] = result.examples()
    p = e.provenance
    assert p["generator"] == "verified-skills" and p["generator_version"] == "1" and p["model"] == "fake:solver"
    assert p["template"] == "verified-answer" and p["template_hash"] == ANSWER.hash
    assert p["parents"] == [e.meta["verified.instruction"]] and p["sample_index"] == 0
    assert p["params"]["temperature"] == 0.7 and len(p["prompt_hash"]) == 16


def test_rerun_in_the_same_folder_gives_the_same_ids_without_calling_the_teacher(tmp_path):
    _, first = _arith_run(tmp_path, [WRONG, RIGHT, RIGHT, NO_MARKER])
    refs = {i.prompt: i.reference for i in _instructions(tmp_path, k=200, arithmetic_share=1.0)}
    again_teacher = _solver([WRONG, RIGHT, RIGHT, NO_MARKER], refs)
    second = run_generator("verified-skills", [again_teacher], tmp_path / "run", n=4, max_rounds=1,
                           options={"arithmetic_share": 1.0})
    assert [e.id for e in second.examples()] == [e.id for e in first.examples()]
    assert again_teacher.history == []


# -- options, plan, CLI ---------------------------------------------------------------------------
def test_bad_options_are_one_line_config_errors(tmp_path):
    from syllabus.llm.base import SamplingParams

    with pytest.raises(ConfigError, match="temperature above 0"):
        run_generator("verified-skills", [EchoLLM()], tmp_path, params=SamplingParams(temperature=0.0))
    with pytest.raises(ConfigError, match="arithmetic_share"):
        run_generator("verified-skills", [EchoLLM()], tmp_path, options={"arithmetic_share": 1.5})
    with pytest.raises(ConfigError, match="samples"):
        run_generator("verified-skills", [EchoLLM()], tmp_path, options={"samples": 0})
    with pytest.raises(ConfigError, match="unknown format 'boxed'"):
        run_generator("verified-skills", [EchoLLM()], tmp_path, options={"answer_formats": ["boxed"]})
    # One greedy sample per instruction is fine.
    run_generator("verified-skills", [EchoLLM()], tmp_path / "greedy", n=1, max_rounds=1,
                  params=SamplingParams(temperature=0.0), options={"samples": 1})


def test_plan_renders_round_zero_and_counts_samples_without_calling_the_teacher():
    teacher = ChatScriptedLLM([])
    gen = _gen(samples=3, raw=False)  # explicit: a dry run's stand-in teacher does not pass on capabilities
    plan = GenerationRun(gen, [teacher], GenerationSettings(n=10), "unused").dry_run()
    assert teacher.history == []
    [phase] = plan.phases
    assert phase.name == "respond-r00" and phase.calls == 22 * 3  # ceil(10 / 0.5 * 1.1) x 3 samples
    assert all(p[0]["role"] == "system" and p[0]["content"] in STRATEGIES.values() for p in plan.prompts)
    assert any("erased" in note for note in plan.notes)


def test_cli_dry_run_and_an_echo_run_that_never_crashes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["generate", "--generator", "verified-skills", "--teacher", "fake:echo", "--n", "4", "--out", str(out)]
    assert main([*argv, "--dry-run", "--set", "samples=2"]) == 0
    text = capsys.readouterr().out
    # fake:echo has no chat template, so the dry run shows the plain-text layout
    assert "respond-r00" in text and "### Request" in text and "You are" in text and not out.exists()
    assert main([*argv, "--no-progress", "--show", "0", "--max-rounds", "2", "--set", "raw=false"]) == 0
    report = json.loads((out / "r00" / "01_generate" / "generation.json").read_text())
    assert report["generator"]["name"] == "verified-skills" and report["requests"] > 0
    assert report["generator"]["options"]["raw"] is False
    kept = [json.loads(line) for f in sorted((out / "r00" / "01_generate" / "shards").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    # Echoing the prompt back passes some checks (e.g. "no commas") and no arithmetic problem.
    assert len({r["id"] for r in kept}) == len(kept) == report["kept"]
    assert all(verify_sample(Example.from_dict(r)) and "checks" in r["meta"] for r in kept)


def test_docstring_examples():
    import syllabus.generators.verified as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0


def test_trim_truncated_cuts_an_answer_that_ran_out_of_tokens_after_its_last_sentence() -> None:
    from syllabus.generators.verified import StrategyAnswer
    from syllabus.llm.base import Generation
    from syllabus.llm.fake import EchoLLM

    step = StrategyAnswer(EchoLLM(), trim_truncated=True)
    out = Example.from_prompt("Describe rain.", completion="Rain falls. It is wet. And then the")
    step.annotate(out, Generation("Rain falls. It is wet. And then the", finish_reason="length"))
    assert out.completion == "Rain falls. It is wet."
    assert out.meta["verified.untrimmed"].endswith("And then the")
    done = Example.from_prompt("Describe rain.", completion="Rain falls. And then the")
    step.annotate(done, Generation("Rain falls. And then the", finish_reason="stop"))
    assert done.completion == "Rain falls. And then the"  # it ended by itself: left alone
