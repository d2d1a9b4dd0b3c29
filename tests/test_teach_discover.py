"""Skill discovery on hand-made scored samples (fakes only: the ``fake:bow`` embedder)."""

from __future__ import annotations

import json

import pytest
import yaml

from syllabus.cli import main
from syllabus.errors import ConfigError
from syllabus.inputs import load_examples
from syllabus.jsonl import write_jsonl
from syllabus.record import Example
from syllabus.teach.discover import DiscoveredSkill, discover_skills, distinctive_words, kmeans, write_skills_file
from syllabus.teach.skills import load_skills

LOWER = {"name": "case.lowercase", "params": {}}
COMMA = {"name": "punctuation.no_comma", "params": {}}
NS = "ifeval-lite"

COOKING = [
    "Explain how to bake sourdough bread with flour yeast and an oven.",
    "Describe how to bake a chocolate cake with flour sugar and an oven.",
    "Give a recipe to bake banana bread with flour and butter in the oven.",
    "Tell me how to bake cookies with flour sugar butter and an oven.",
    "Explain how to bake pizza dough with flour yeast in a hot oven.",
    "Describe how to bake muffins with flour butter and sugar in the oven.",
]
SPACE = [
    "Explain why planets orbit the sun in the solar system galaxy.",
    "Describe how astronauts travel to orbit around planets and the moon.",
    "Tell me why the moon orbits planets and the sun in space.",
    "Explain how telescopes see planets and stars in the galaxy orbit.",
    "Describe the orbit of comets around the sun and planets in space.",
    "Explain why stars and planets orbit in the galaxy and space.",
]


def ifeval(i: int, checks: list[dict], failed: set[str], *, split: str = "train", prompt: str | None = None) -> Example:
    """A scored ifeval-lite sample: ``failed`` names the checks it failed (strict)."""
    scores = {f"{NS}.strict.{c['name']}": 0.0 if c["name"] in failed else 1.0 for c in checks}
    scores[f"{NS}.prompt_level_strict"] = 0.0 if failed else 1.0
    return Example.from_prompt(
        prompt or f"Describe item number {i}. Follow the instructions.",
        id=f"if-{i}",
        completion="Some Answer, with a comma.",
        meta={"checks": checks, "split": split, "category": "describe"},
        scores=scores,
    )


def arith(i: int, prompt: str, ok: bool) -> Example:
    return Example.from_prompt(
        prompt, id=f"ar-{i}", reference=str(i), completion="The answer is 0.",
        meta={"split": "train", "source": "syllabus:arith-ic"},
        scores={"arith-ic.flexible_acc": float(ok), "arith-ic.strict_acc": float(ok)},
    )


def planted() -> dict[str, list[Example]]:
    """7 prompts fail lowercase (of 9 with it), 4 fail no-comma (of 8), 1 passes all; 12 arithmetic failures."""
    items = [ifeval(i, [LOWER], {"case.lowercase"}) for i in range(5)]
    items += [ifeval(5 + i, [LOWER, COMMA], {"case.lowercase", "punctuation.no_comma"}) for i in range(2)]
    items += [ifeval(7 + i, [COMMA], {"punctuation.no_comma"}) for i in range(2)]
    items += [ifeval(9 + i, [LOWER, COMMA], set()) for i in range(2)]
    items += [ifeval(11 + i, [COMMA], set()) for i in range(2)]
    return {"ifeval-lite": items}


def topics() -> dict[str, list[Example]]:
    failed = [arith(i, p, False) for i, p in enumerate(COOKING + SPACE)]
    return {"arith-ic": [*failed, arith(99, "What is two plus two?", True)]}


def test_planted_check_failures_become_check_groups_with_their_counts():
    found = {d.name: d for d in discover_skills(planted(), embedder="fake:bow")}
    lower, comma = found["check:case.lowercase"], found["check:punctuation.no_comma"]
    assert (lower.kind, lower.failures, lower.total) == ("check", 7, 9)
    assert (comma.failures, comma.total) == (4, 8)
    assert comma.rate == 0.5
    assert lower.description == (
        "fails 'Write your entire response in lowercase letters; do not use a single capital letter.' "
        "(case.lowercase): 7 of 9 prompts"
    )
    assert sorted(lower.example_ids) == sorted(f"if-{i}" for i in range(7))
    assert all(s.meta["checks"] and s.completion is None and not s.scores for s in lower.seeds)
    task = found["task:ifeval-lite"]
    assert (task.kind, task.failures, task.total) == ("task", 9, 13)


def test_checks_without_strict_scores_are_verified_from_the_completion():
    e = Example.from_prompt("Describe a cat.", id="x", completion="A Cat, yes.", meta={"checks": [LOWER, COMMA]},
                            scores={f"{NS}.prompt_level_strict": 0.0})
    found = discover_skills({NS: [e]}, embedder="fake:bow", min_failures=1)
    assert {d.name for d in found if d.kind == "check"} == {"check:case.lowercase", "check:punctuation.no_comma"}


def test_two_topics_form_two_clusters_named_by_their_distinctive_words():
    found = [d for d in discover_skills(topics(), embedder="fake:bow", clusters=2) if d.kind == "cluster"]
    assert len(found) == 2
    groups = sorted(sorted(d.example_ids) for d in found)
    assert groups == sorted([sorted(f"ar-{i}" for i in range(6)), sorted(f"ar-{i}" for i in range(6, 12))])
    cooking = next(d for d in found if "ar-0" in d.example_ids)
    space = next(d for d in found if "ar-6" in d.example_ids)
    assert cooking.name.startswith("cluster:") and len(cooking.words) == 3
    assert set(cooking.words) <= {"bake", "flour", "oven", "butter", "sugar", "yeast", "bread"}
    assert set(space.words) <= {"orbit", "planets", "sun", "galaxy", "space", "stars", "moon", "orbits"}
    assert cooking.name == "cluster:" + "-".join(cooking.words[:2])
    assert cooking.failures == 6 and cooking.total in (6, 7)  # the passing prompt joins its nearest cluster
    # default k: round(sqrt(12 / 2)) = 2
    assert len([d for d in discover_skills(topics(), embedder="fake:bow") if d.kind == "cluster"]) == 2


def test_min_failures_drops_small_groups():
    names = {d.name for d in discover_skills(planted(), embedder="fake:bow", min_failures=5)}
    assert "check:case.lowercase" in names and "check:punctuation.no_comma" not in names
    assert not {d.name for d in discover_skills(planted(), embedder="fake:bow", min_failures=50)}


def test_the_metric_can_be_named_per_task():
    data = topics()
    for e in data["arith-ic"][:3]:
        e.scores["arith-ic.flexible_acc"] = 1.0
    default = {d.name: d for d in discover_skills(data, embedder="fake:bow")}["task:arith-ic"]  # strict_acc, the first
    flexible = {d.name: d for d in discover_skills(data, embedder="fake:bow", metric={"arith-ic": "flexible_acc"})}
    assert default.failures == 12 and flexible["task:arith-ic"].failures == 9
    with pytest.raises(ConfigError, match="metric"):
        discover_skills(data, embedder="fake:bow", metric={"arith-ic": "nope"})


def test_kmeans_and_words_are_deterministic():
    import numpy as np

    x = np.random.default_rng(1).normal(size=(30, 4))
    assert (kmeans(x, 3, seed=5) == kmeans(x, 3, seed=5)).all()
    words = distinctive_words(["the 42 cats", "cats and 7 dogs"], ["the 42 cats", "cats and 7 dogs", "fish"], 3)
    assert sorted(words) == ["cats", "dogs"]  # no numbers, no stop words


def test_test_split_samples_are_refused(tmp_path):
    held = {NS: [ifeval(i, [LOWER], {"case.lowercase"}, split="test") for i in range(4)]}
    found = discover_skills(held, embedder="fake:bow")
    with pytest.raises(ConfigError, match="dev/train-split") as e:
        write_skills_file(found, tmp_path / "out")
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()
    external = arith(1, "What is 3 plus 4?", False)
    external.meta["source"] = "external-eval"
    found = discover_skills({"arith-ic": [external] * 3}, embedder="fake:bow", min_failures=1)
    with pytest.raises(ConfigError, match="external-eval"):
        write_skills_file(found, tmp_path / "out2")
    assert write_skills_file(found, tmp_path / "out3", allow_test=True).exists()


def test_the_written_skills_file_loads_and_its_seeds_keep_the_checks(tmp_path):
    found = discover_skills({**planted(), **topics()}, embedder="fake:bow", clusters=2)
    path = write_skills_file(found, tmp_path / "skills")
    text = path.read_text()
    assert "Add held-out eval tasks" in text
    assert not any("eval" in entry or "dev" in entry for entry in yaml.safe_load(text)["skills"])
    skills = load_skills(path)
    assert skills.names == [d.name for d in found]
    lower = skills.get("check:case.lowercase")
    assert lower.options["checks"] == ["case.lowercase"] and lower.options["arithmetic_share"] == 0
    assert lower.options["repair"] is True and lower.eval == () and lower.dev is None
    seeds = load_examples(str(tmp_path / "skills" / "seeds" / "check-case.lowercase.jsonl"))
    assert len(seeds) == 7 and all({"name": "case.lowercase", "params": {}} in s.meta["checks"] for s in seeds)
    task = skills.get("task:arith-ic")
    rows = load_examples(task.seeds)
    assert len(rows) == 12 and all(r.reference and not r.completion for r in rows)
    cluster = next(s for s in skills.skills if s.name.startswith("cluster:"))
    assert cluster.seeds and load_examples(cluster.seeds)


def test_verified_skills_takes_the_seeds_as_given(tmp_path):
    from syllabus.generators.verified import VerifiedSkills

    found = discover_skills(planted(), embedder="fake:bow")
    path = write_skills_file(found, tmp_path / "skills")
    seed = load_examples(load_skills(path).get("task:ifeval-lite").seeds)[0]
    gen = VerifiedSkills.__new__(VerifiedSkills)
    gen.name = "verified-skills"
    item = gen._from_base(seed, __import__("random").Random(0))
    assert item.meta["checks"] == seed.meta["checks"] and item.prompt == seed.prompt


def test_base_skills_give_dev_and_eval_but_never_the_seeds_own_evaluation(tmp_path):
    base = load_skills("default")
    found = discover_skills(planted(), embedder="fake:bow")
    path = write_skills_file(found, tmp_path / "a", base=base)
    lower = load_skills(path).get("check:case.lowercase")
    assert lower.dev == base.get("format").dev and lower.eval == base.get("format").eval
    assert load_skills(path).heldout == base.heldout
    # the seeds came from an evaluation with the eval task's own settings: that eval is left out
    same = base.get("format").eval[0].build().settings()
    path = write_skills_file(found, tmp_path / "b", base=base, sources={"ifeval-lite": same})
    assert load_skills(path).get("check:case.lowercase").eval == ()
    assert "left out eval tasks" in path.read_text()


def test_discovered_skill_slug():
    assert DiscoveredSkill("check:case.lowercase", "check", "", 1, 1).slug == "check-case.lowercase"


def _eval_dir(root, samples):
    (root / "samples").mkdir(parents=True)
    for task, items in samples.items():
        for e in items:
            e.provenance["task"] = task
        write_jsonl(root / "samples" / f"{task}.jsonl", items)
    return root


def test_cli_writes_the_skills_file_and_prints_the_table(tmp_path, capsys):
    data = planted()
    data[NS][0].messages[0]["content"] = "Describe [bold]markup[/bold] in prompts."
    src = _eval_dir(tmp_path / "run" / "r01" / "06_feedback" / "dev", {**data, **topics()})
    _eval_dir(tmp_path / "run" / "r00" / "06_feedback" / "dev", {"arith-ic": [arith(1, "x", True)]})
    out = tmp_path / "found"
    assert main(["discover-skills", "--in", str(tmp_path / "run"), "--out", str(out), "--embedder", "fake:bow",
                 "--clusters", "2", "--min-failures", "3"]) == 0
    printed = capsys.readouterr().out
    assert "skills discovered" in printed and "case.lowercase" in printed and "wrote" in printed
    skills = load_skills(out / "skills.yaml")
    assert "check:case.lowercase" in skills.names and "task:arith-ic" in skills.names
    assert (out / "seeds" / "task-ifeval-lite.jsonl").exists()
    rows = [json.loads(line) for line in (out / "seeds" / "task-ifeval-lite.jsonl").read_text().splitlines()]
    assert any("[bold]markup[/bold]" in r["messages"][0]["content"] for r in rows)
    assert main(["discover-skills", "--in", str(src), "--out", str(tmp_path / "again"), "--embedder", "fake:bow"]) == 0


@pytest.mark.parametrize(("flags", "named"), [
    (["--in", "nowhere"], "--in"),
    (["--min-failures", "0"], "--min-failures"),
    (["--clusters", "0"], "--clusters"),
    (["--embedder", "fake:nope"], "--embedder"),
    (["--base", "nope.yaml"], "--skills nope.yaml"),
])
def test_bad_options_are_one_line_errors_naming_the_option(tmp_path, capsys, flags, named):
    src = _eval_dir(tmp_path / "eval", planted())
    args = ["discover-skills", "--in", str(src), "--out", str(tmp_path / "o"), "--embedder", "fake:bow", *flags]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("syllabus: error: ") and named in err
    assert not (tmp_path / "o" / "skills.yaml").exists()


def test_cli_refuses_a_held_out_evaluation(tmp_path, capsys):
    src = _eval_dir(tmp_path / "eval", {NS: [ifeval(i, [LOWER], {"case.lowercase"}, split="test") for i in range(4)]})
    assert main(["discover-skills", "--in", str(src), "--out", str(tmp_path / "o"), "--embedder", "fake:bow"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--allow-test" in err and "dev/train-split" in err
    assert main(["discover-skills", "--in", str(src), "--out", str(tmp_path / "o"), "--embedder", "fake:bow",
                 "--allow-test"]) == 0
