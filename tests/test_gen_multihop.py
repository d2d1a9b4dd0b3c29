"""multi-hop: single-hop QA per chunk, entity-linked merge, teacher verification, distractors."""

from __future__ import annotations

import doctest
import json
import random
import re

import pytest

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.generators import GenerationRun, GenerationSettings, get_generator, run_generator
from syllabus.generators import multihop as mh
from syllabus.generators.multihop import (
    EvidenceInChunk,
    Merge,
    MergedQuestion,
    QAShape,
    Referential,
    SingleHop,
    Verified,
    Verify,
    group_questions,
    key_terms,
)
from syllabus.llm.fake import EchoLLM, FunctionLLM
from syllabus.parsing import ParseError
from syllabus.pipeline.runner import read_stage
from syllabus.pipeline.step import Drop
from syllabus.record import Example

DOCS = {
    "light.txt": "The Kessel Light was built by Mara Lindqvist. It was finished in 1791 on the Grey Teeth reefs.",
    "lindqvist.txt": "Mara Lindqvist was born in Brenholm in 1751. She studied mathematics on the mainland.",
    "bees.txt": "Honey bees live in colonies. A queen can lay a thousand eggs a day in early summer.",
}
FACTS = {  # one question per document, keyed by a word of its text
    "Kessel": ("Who built the Kessel Light?", "Mara Lindqvist", "The Kessel Light was built by Mara Lindqvist."),
    "Brenholm": ("Where was Mara Lindqvist born?", "Brenholm", "Mara Lindqvist was born in Brenholm in 1751."),
    "Honey": (
        "How many eggs can a honey bee queen lay a day?",
        "A thousand",
        "A queen can lay a thousand eggs a day in early summer.",
    ),
}


def prompt_of(request):
    return request.prompt if request.prompt is not None else request.messages[-1]["content"]


class Teacher:
    def __init__(self, verdict="Answerable: yes\nNeeds all passages: yes", merge=None, single=None):
        self.seen: dict[str, list[str]] = {}
        self.verdict, self.merge, self.single = verdict, merge, single

    def __call__(self, request):
        p = prompt_of(request)
        if "questions that can be answered from the text above" in p:
            self.seen.setdefault("single", []).append(p)
            if self.single is not None:
                return self.single
            key = next(k for k in FACTS if k in p.split("Text:\n", 1)[1].split("\n\nWrite")[0])
            q, a, e = FACTS[key]
            return f"Question: {q}\nAnswer: {a}\nEvidence: {e}\n\nQuestion: What did he study?\nAnswer: maths\nEvidence: She studied mathematics."
        if p.startswith("Here are"):
            self.seen.setdefault("merge", []).append(p)
            return (
                self.merge
                or "Question: In which village was the builder of the Kessel Light born?\nAnswer: Brenholm\nReasoning: Lindqvist built it; she was born in Brenholm."
            )
        self.seen.setdefault("verify", []).append(p)
        return self.verdict


def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    return str(folder)


def run(tmp_path, teacher, *, n=1, out="out", **options):
    options = {"documents": docs(tmp_path), "raw": False, "min_chunk_chars": 20, "questions_per_chunk": 2, **options}
    result = run_generator("multi-hop", [FunctionLLM(teacher)], tmp_path / out, n=n, options=options)
    stage = tmp_path / out
    excluded = [e for phase in sorted((stage / "phases").glob("*")) for e in read_stage(phase, kind="excluded")]
    return list(result.examples()), excluded, json.loads((stage / "generation.json").read_text())


def qa(id, chunk, question, answer="a", evidence="e"):
    e = Example.from_prompt("x", id=id)
    e.meta.update(
        {
            "multihop.question": question,
            "multihop.answer": answer,
            "multihop.evidence": evidence,
            "multihop.chunk": chunk,
            "source": f"{chunk}#0",
        }
    )
    return e


def test_docstring_examples():
    assert doctest.testmod(mh).failed == 0


def test_the_pipeline_prompts_and_the_stored_record(tmp_path):
    teacher = Teacher()
    records, excluded, report = run(tmp_path, teacher, n=2, distractors=1)
    assert len(records) == 2  # three kept questions give two distinct groups
    (r,) = [x for x in records if "bees-c000" not in x.meta["multihop.chunks"]]
    # Single-hop prompts hold one chunk each; the referential "What did he study?" was dropped.
    assert len(teacher.seen["single"]) == 3
    assert all("Write 2 questions" in p and "Evidence: ..." in p for p in teacher.seen["single"])
    assert sum(e.meta["excluded.reason"] == "referential question" for e in excluded) == 3
    # The merge paired the two Lindqvist questions (shared name), from different chunks.
    merge = teacher.seen["merge"][0]
    assert "Question 1:" in merge and "Question 2:" in merge and "combining all of these facts" in merge
    assert r.meta["multihop.link"] == "entity" and "mara lindqvist" in r.meta["multihop.shared"]
    assert sorted(r.meta["multihop.chunks"]) == ["light-c000", "lindqvist-c000"]
    assert {p["question"] for p in r.meta["multihop.parts"]} == {FACTS["Kessel"][0], FACTS["Brenholm"][0]}
    # The verifier read both source passages.
    verify = next(v for v in teacher.seen["verify"] if DOCS["light.txt"] in v and DOCS["lindqvist.txt"] in v)
    assert DOCS["light.txt"] in verify and DOCS["lindqvist.txt"] in verify and "Proposed answer: Brenholm" in verify
    # The record: the source chunks and one distractor, shuffled, then the question.
    prompt = r.prompt
    assert prompt.count("Passage ") == 3 and prompt.endswith(
        "Question: In which village was the builder of the Kessel Light born?"
    )
    assert all(text in prompt for text in DOCS.values())
    assert r.meta["multihop.distractors"] == ["bees-c000"]
    assert sorted(r.meta["multihop.context"]) == ["bees-c000", "light-c000", "lindqvist-c000"]
    assert r.completion == r.reference == "Brenholm"
    assert r.meta["multihop.reasoning"].startswith("Lindqvist built it")
    assert r.meta["multihop.answerable"] is True and r.meta["multihop.needs_all"] is True
    assert set(r.meta["source"].split(" + ")) == {"light.txt#0", "lindqvist.txt#0"}
    assert "multihop.passages" not in r.meta
    p = r.provenance
    assert p["generator"] == "multi-hop" and p["model"] == "fake:function"
    assert [c["step"] for c in p["calls"]] == ["merge", "verify"]
    assert sorted(p["parents"]) == sorted(x["id"] for x in r.meta["multihop.parts"])
    names = [[s["step"] for s in ph["steps"]] for ph in report["phases"]]
    assert names == [
        ["chunk-length", "single-hop", "qa-shape", "referential", "evidence"],
        ["merge", "merged-question", "verify", "verified", "assemble"],
    ]


def test_verification_drops_with_reasons_and_parses_loose_verdicts(tmp_path):
    records, excluded, _ = run(tmp_path, Teacher(verdict="Answerable: yes\nNeeds all passages: no"), n=1)
    assert records == [] and "single-hop" in {e.meta["excluded.reason"] for e in excluded}
    records, excluded, _ = run(tmp_path, Teacher(verdict="Answerable: No. Needs all passages: yes"), n=1, out="o2")
    assert records == [] and "not answerable" in {e.meta["excluded.reason"] for e in excluded}
    records, excluded, _ = run(tmp_path, Teacher(verdict="I think so."), n=1, out="o3")
    bad = [e for e in excluded if e.meta["excluded.step"] == "verify"]
    assert records == [] and bad and bad[0].meta["excluded.reason"] == "unparseable (no yes/no verdict)"
    assert bad[0].meta["verify.raw"] == "I think so."
    step = Verify(EchoLLM())
    e = Example.from_prompt("x", id="g")
    assert step.parse("Yes, yes.", e, 0).meta["multihop.needs_all"] is True
    assert step.parse("**Answerable:** yes\n**Needs all passages:** No", e, 0).meta["multihop.needs_all"] is False
    assert Verified().keep(step.parse("no\nyes", e, 0)) == Drop("not answerable")
    # Without verification nothing is asked of a verifier.
    teacher = Teacher(verdict="no no")
    records, _, _ = run(tmp_path, teacher, n=1, out="o4", verify=False)
    assert len(records) == 1 and "verify" not in teacher.seen


def test_single_hop_parsing():
    step = SingleHop(EchoLLM(), k=2)
    chunk = Example.from_prompt("x", id="c")
    chunk.meta.update({"doc.text": "t", "source": "d#0"})
    text = "Sure:\nQuestion: Q one?\nAnswer: A1\nEvidence: E1\nQuestion: broken block\nQuestion: Q two?\nAnswer: A2\nQuestion: Q3?\nAnswer: A3"
    out = step.parse(text, chunk, 0)
    assert [
        (o.id, o.meta["multihop.question"], o.meta["multihop.answer"], o.meta["multihop.evidence"]) for o in out
    ] == [("c-q0", "Q one?", "A1", "E1"), ("c-q1", "Q two?", "A2", "")]
    assert all(o.meta["multihop.chunk"] == "c" for o in out)
    assert step.parse("Question: Q?\nAnswer: A", chunk, 1)[0].id == "c-s1q0"
    assert step.parse("Question: Q?\nAnswer: The answer is: 1791.", chunk, 0)[0].meta["multihop.answer"] == "1791."
    with pytest.raises(ParseError, match="no question-answer pairs"):
        step.parse("I cannot do that.", chunk, 0)


def test_single_hop_filters_on_planted_cases():
    chunk_text = "The Kessel Light was finished in 1791. It stands 31 metres tall."

    def rec(q="Who built the Kessel Light?", a="Lindqvist", e="The Kessel Light was finished in 1791."):
        r = qa("x", "c", q, a, e)
        r.meta["doc.text"] = chunk_text
        return r

    shape = QAShape(max_answer_chars=20)
    assert shape.keep(rec(q="Why?")) == Drop("question length")
    assert shape.keep(rec(a="")) == Drop("answer missing")
    assert shape.keep(rec(a="x" * 21)) == Drop("answer too long")
    assert shape.keep(rec()) is True
    ref = Referential()
    for q in ["What did he build?", "According to the passage, when was it built?", "What does the author say?"]:
        assert ref.keep(rec(q=q)) == Drop("referential question"), q
    assert ref.keep(rec()) is True
    assert ref.keep(rec(q="Who built the Kessel Light, and where was she born?")) is True  # named before the pronoun
    ev = EvidenceInChunk(0.8)
    assert ev.keep(rec(e="")) == Drop("evidence missing")
    assert ev.keep(rec(e="The bridge at Emsby was finished in 1784.")) == Drop("evidence not in chunk")
    ok = rec(e="the Kessel Light was finished in 1791")
    assert ev.keep(ok) is True and ok.meta["multihop.evidence_overlap"] == 1.0


def test_merge_parse_and_the_copy_filter():
    group = Example(id="g", messages=[])
    group.meta["multihop.parts"] = [
        {"question": "Who built the Kessel Light?", "answer": "Lindqvist"},
        {"question": "Where was Mara Lindqvist born?", "answer": "Brenholm"},
    ]
    step = Merge(EchoLLM())
    assert "Question 2: Where was Mara Lindqvist born?\nAnswer 2: Brenholm" in step.request(group)[-1]["content"]
    merged = step.parse("Question: Where was the builder of the Kessel Light born?\nAnswer: Brenholm", group, 0)
    assert merged.id == "g" and merged.meta["multihop.reasoning"] == ""
    with pytest.raises(ParseError):
        step.parse("Brenholm", group, 0)
    f = MergedQuestion(max_rouge=0.9)
    assert f.keep(merged) is True
    copy = step.parse("Question: Who built the Kessel Light?\nAnswer: Lindqvist", group, 0)
    assert f.keep(copy) == Drop("copy of a single-hop question")
    assert f.keep(step.parse("Question: Who?\nAnswer: x", group, 0)) == Drop("question length")


def test_grouping_links_by_shared_terms_across_chunks():
    questions = [
        qa("a", "c1", "When was the Kessel Light finished?", "1791"),
        qa("b", "c1", "Who founded Kessel?", "Fishermen"),
        qa("c", "c2", "How tall is the Kessel Light?", "31 metres"),
        qa("d", "c3", "How many eggs does a queen lay?", "A thousand"),
    ]
    groups = group_questions(questions, 2, random.Random(0))
    assert all(len({m.meta["multihop.chunk"] for m in members}) == 2 for members, _, _ in groups)
    by_seed = {members[0].id: (members[1].id, shared, how) for members, shared, how in groups}
    # "a" and "c" share the Kessel Light (whichever seeded the group); "b" meets them on "Kessel".
    pair = next(g for g in groups if {m.id for m in g[0]} == {"a", "c"})
    assert pair[1:] == (["kessel", "kessel light", "light"], "entity")
    assert by_seed["b"] == ("c", ["kessel"], "entity")
    assert by_seed["d"][2] == "random" and by_seed["d"][1] == []
    assert len({frozenset(m.id for m in g[0]) for g in groups}) == len(groups)  # no duplicate groups
    assert [[m.id for m in g[0]] for g in group_questions(questions, 2, random.Random(0))] == [
        [m.id for m in g[0]] for g in groups
    ]
    three = group_questions(questions, 3, random.Random(1))
    assert three and all(len({m.meta["multihop.chunk"] for m in g[0]}) == 3 for g in three)
    assert all(how == "random" for _, _, how in group_questions(questions, 2, random.Random(0), link="random"))
    assert group_questions(questions, 4, random.Random(0)) == []  # only three chunks
    with pytest.raises(ConfigError):
        group_questions(questions, 1, random.Random(0))
    assert key_terms("The Emsby Dam holds 12 million cubic metres since 1931.") == {
        "emsby dam",
        "emsby",
        "dam",
        "12",
        "1931",
    }


def test_distractors_are_seeded_and_bounded(tmp_path):
    first, _, _ = run(tmp_path, Teacher(), n=1, distractors=5)
    again, _, _ = run(tmp_path, Teacher(), n=1, out="o2", distractors=5)
    assert first[0].meta["multihop.context"] == again[0].meta["multihop.context"]
    (extra,) = first[0].meta["multihop.distractors"]  # only one other chunk exists
    assert extra not in first[0].meta["multihop.chunks"]
    none, _, _ = run(tmp_path, Teacher(), n=1, out="o3", distractors=0)
    assert none[0].prompt.count("Passage ") == 2


def test_bad_options_and_too_few_chunks(tmp_path):
    with pytest.raises(ConfigError, match="hops must be >= 2"):
        run(tmp_path, Teacher(), hops=1)
    one = tmp_path / "one.txt"
    one.write_text("Only one short document here.")
    with pytest.raises(ConfigError, match="at least hops=2 chunks"):
        run_generator("multi-hop", [FunctionLLM(Teacher())], tmp_path / "x", n=1, options={"documents": str(one)})
    with pytest.raises(ConfigError, match="is not one of"):
        get_generator("multi-hop", {"link": "embedding"})


def test_garbage_single_hop_output_is_excluded_and_the_run_ends_cleanly(tmp_path):
    records, excluded, report = run(tmp_path, Teacher(single="No idea."), n=2)
    assert records == []
    assert {e.meta["excluded.reason"] for e in excluded} == {"unparseable (no question-answer pairs)"}
    assert report["kept"] == 0


def test_rerun_gives_the_same_ids(tmp_path):
    first, _, _ = run(tmp_path, Teacher(), n=2)
    again, _, _ = run(tmp_path, Teacher(), n=2)
    assert [r.id for r in first] == [r.id for r in again] and len({r.id for r in first}) == len(first)


def test_plan_and_cli(tmp_path, capsys):
    gen = get_generator("multi-hop", {"documents": "builtin:samples", "raw": False})
    plan = GenerationRun(gen, [EchoLLM()], GenerationSettings(n=3), tmp_path / "p").dry_run()
    assert [p.name for p in plan.phases] == ["single-hop", "merge", "verify"]
    assert plan.phases[0].calls == 4 and plan.phases[1].calls == plan.phases[2].calls == 7
    assert plan.prompts[0][-1]["content"].startswith("Text:\n")
    out = tmp_path / "cli"
    argv = [
        "generate",
        "--generator",
        "multi-hop",
        "--teacher",
        "fake:echo",
        "--set",
        "documents=builtin:samples",
        "--n",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main([*argv, "--dry-run"]) == 0
    assert re.search(r"single-hop", capsys.readouterr().out)
    assert main(argv) == 0
    report = json.loads((out / "r00" / "01_generate" / "generation.json").read_text())
    assert report["phases"][0]["steps"][1]["step"] == "single-hop"


def test_grouping_stays_fast_on_many_questions():
    import time

    rng = random.Random(0)
    places = [f"Place{i}" for i in range(300)]
    questions = [
        qa(f"q{i}", f"c{i // 3}", f"How far is {rng.choice(places)} from {rng.choice(places)}?", str(i))
        for i in range(3000)
    ]
    started = time.perf_counter()
    groups = group_questions(questions, 2, random.Random(0))
    assert time.perf_counter() - started < 10  # an all-pairs scan would do 9 million set intersections
    assert len(groups) > 2000 and all(how == "entity" for _, _, how in groups[:100])
