"""Skill discovery: group a student's failures into named skills and write a skills file.

A scored evaluation (``EVAL_DIR/samples/TASK.jsonl``) says which prompts the student
failed; :func:`discover_skills` groups those failures three ways:

- by **check** (``check:<name>``): for instruction-following samples (``meta["checks"]``),
  one group per check type the student failed (strict);
- by **task** (``task:<task>``): one group per task with failures;
- by **topic** (``cluster:<w1>-<w2>``): k-means over embeddings of the failed prompts, each
  cluster named by its most distinctive words (tf-idf against all failed prompts).

:func:`write_skills_file` writes the groups as a skills file (``skills.yaml``, the format
:func:`~syllabus.teach.skills.load_skills` reads) with the failed prompts as seed tasks
(``seeds/<skill>.jsonl``). It refuses samples from a held-out evaluation (``split: test``
or ``source: external-eval``): training on them would be contamination.

>>> from syllabus.record import Example
>>> def sample(i, ok):
...     return Example.from_prompt(f"Write a poem {i}. Write in lowercase.", id=f"p{i}",
...         meta={"checks": [{"name": "case.lowercase", "params": {}}], "split": "train"},
...         scores={"ifeval-lite.prompt_level_strict": float(ok), "ifeval-lite.strict.case.lowercase": float(ok)})
>>> found = discover_skills({"ifeval-lite": [sample(i, i > 3) for i in range(6)]}, embedder="fake:bow")
>>> [(d.name, d.failures, d.total) for d in found if d.kind != "cluster"]
[('check:case.lowercase', 4, 6), ('task:ifeval-lite', 4, 6)]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from syllabus.errors import ConfigError, SyllabusError
from syllabus.record import Example

if TYPE_CHECKING:
    import numpy as np

    from syllabus.teach.skills import SkillSet

__all__ = ["DiscoveredSkill", "discover_skills", "kmeans", "write_skills_file"]

#: Meta keys a seed keeps from the failed sample (what the generator needs, and where it came from).
SEED_META = ("checks", "split", "source", "category", "instruction", "keywords", "base_id")

#: Task settings that only say how many items there are (ignored when comparing evaluations).
_SIZE_SETTINGS = ("n", "n_base", "size", "limit")

_STOP_TEXT = """a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just let me more most my myself
no nor not now of off on once only or other our ours ourselves out over own same she should so some such
than that the their theirs them themselves then there these they this those through to too under until up
us very was we were what when where which while who whom why will with would you your yours yourself
yourselves one two three four five six seven eight nine ten response answer write use using sure must
without least exactly each every make many much"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass
class DiscoveredSkill:
    """One group of failures: what the student fails, how often, and the failed prompts.

    ``seeds`` are the failed examples without the student's answer or scores: the prompt,
    its checks or reference, and where it came from (``meta["split"]``, ``meta["source"]``).
    """

    name: str
    kind: Literal["check", "task", "cluster"]
    description: str
    failures: int
    total: int
    example_ids: list[str] = field(default_factory=list)
    seeds: list[Example] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    check: str | None = None
    words: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Failures over total (the prompts of the group, failed or not)."""
        return self.failures / self.total if self.total else 0.0

    @property
    def slug(self) -> str:
        """The name as a file name (``check:case.lowercase`` -> ``check-case.lowercase``)."""
        return re.sub(r"[^\w.-]+", "-", self.name).strip("-") or "skill"


# -- failures ----------------------------------------------------------------------------------
def _score_key(task: str, examples: Sequence[Example], metric: str | None) -> tuple[str, str]:
    """``(namespace, metric)`` of ``task``: the named metric, else the task's first one."""
    from syllabus.evaluate.task import get_task

    try:
        built = get_task(task)
        namespace, metrics, lower = built.namespace, list(built.metrics), set(built.lower_is_better)
    except SyllabusError:  # an unknown task, or one that needs settings: read the scores
        namespace, metrics, lower = task.replace(".", "_"), [], set()
        for e in examples:
            metrics += [k[len(namespace) + 1 :] for k in e.scores if k.startswith(f"{namespace}.") and k not in metrics]
        metrics = [m for m in dict.fromkeys(metrics) if not m.startswith(("strict.", "loose."))]
    if metric and metrics and metric not in metrics:
        raise ConfigError(f"task {task!r} has no metric {metric!r}; it has {', '.join(metrics)}")
    chosen = metric or (metrics[0] if metrics else None)
    if not chosen:
        raise ConfigError(f"task {task!r}: no metric found in its samples; name one (metric={{{task!r}: NAME}})")
    if chosen in lower:
        raise ConfigError(f"task {task!r}: metric {chosen!r} is lower-is-better; pick a 0..1 metric where 1 is a pass")
    return namespace, chosen


def _failed_checks(example: Example, namespace: str) -> list[dict[str, Any]]:
    """The checks of ``example`` it failed strictly (from its ``NS.strict.NAME`` scores, else re-verified)."""
    checks = [c for c in example.meta.get("checks") or [] if isinstance(c, Mapping) and c.get("name")]
    if not checks:
        return []
    failed = []
    unscored = [c for c in checks if f"{namespace}.strict.{c['name']}" not in example.scores]
    verdicts: dict[str, bool] = {}
    if unscored:
        from syllabus.checks import verify

        try:
            for c in verify(unscored, example.completion or "")["checks"]:
                verdicts[c["name"]] = verdicts.get(c["name"], True) and bool(c["strict"])
        except SyllabusError:
            pass
    for c in checks:
        key = f"{namespace}.strict.{c['name']}"
        ok = example.scores[key] >= 1.0 if key in example.scores else verdicts.get(c["name"], True)
        if not ok and all(c["name"] != f["name"] for f in failed):
            failed.append(dict(c))
    return failed


def _seed(example: Example, skill: str, task: str) -> Example:
    """A failed sample as a seed task: the prompt and its checks or reference, no student answer."""
    meta = {k: example.meta[k] for k in SEED_META if k in example.meta}
    seed = Example(
        id=example.id,
        messages=[dict(m) for m in example.messages],
        reference=example.reference,
        meta=meta,
        provenance={"parents": [example.id], "step": "discover-skills"},
    )
    seed.set_meta("discover", "skill", skill)
    seed.set_meta("discover", "task", task)
    return seed


def _check_text(check: Mapping[str, Any]) -> str:
    from syllabus.checks import Check

    try:
        return Check.from_dict(check).describe()
    except SyllabusError:
        return str(check.get("name"))


# -- clustering --------------------------------------------------------------------------------
def kmeans(x: np.ndarray, k: int, *, seed: int = 0, n_init: int = 8, iterations: int = 100) -> np.ndarray:
    """Cluster labels of the rows of ``x``: seeded k-means++ then Lloyd, best of ``n_init`` starts.

    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> labels = kmeans(x, 2)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(n_init):
        centers = [x[rng.integers(n)]]
        for _ in range(1, k):  # k-means++: the next center far from the chosen ones
            d2 = np.min(((x[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
            total = d2.sum()
            centers.append(x[rng.choice(n, p=d2 / total)] if total > 0 else x[rng.integers(n)])
        c = np.asarray(centers)
        labels = np.zeros(n, dtype=int)
        for step in range(iterations):
            d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
            new = d2.argmin(1)
            if step and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = x[labels == j]
                # an empty cluster restarts at the point farthest from its center
                c[j] = members.mean(0) if len(members) else x[d2.min(1).argmax()]
        inertia = float(((x - c[labels]) ** 2).sum())
        if best is None or inertia < best[0] - 1e-12:
            best = (inertia, labels.copy())
    assert best is not None
    return best[1]


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_]+", text.lower()) if len(w) > 2 and w not in _STOP_WORDS]


def distinctive_words(cluster: Sequence[str], everything: Sequence[str], k: int = 3) -> list[str]:
    """The ``k`` words most particular to ``cluster`` among ``everything`` (tf-idf, by prompt).

    A word's weight is the share of the cluster's prompts that use it times its idf over
    all prompts, so a word in every cluster prompt and nowhere else ranks first.

    >>> distinctive_words(["bake bread", "bake cake"], ["bake bread", "bake cake", "fix a car", "fix the bike"], 1)
    ['bake']
    """
    df = Counter(w for text in everything for w in set(_words(text)))
    inside = Counter(w for text in cluster for w in set(_words(text)))
    n, m = max(len(everything), 1), max(len(cluster), 1)
    weight = {w: (c / m) * math.log((1 + n) / (1 + df[w])) for w, c in inside.items()}
    return [w for w, _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))][:k]


def _cluster_groups(
    failed: list[tuple[str, Example]], passed: list[tuple[str, Example]], embedder: Any, clusters: int | None, seed: int
) -> list[DiscoveredSkill]:
    import numpy as np

    from syllabus.curate.embed import load_embedder

    n = len(failed)
    if n < 2:
        return []
    k = clusters if clusters is not None else max(2, min(8, round(math.sqrt(n / 2))))
    if k < 1:
        raise ConfigError(f"clusters must be >= 1, got {clusters}")
    k = min(k, n)
    model = load_embedder(embedder) if isinstance(embedder, str) else embedder
    texts = [e.prompt for _, e in failed]
    vectors = np.asarray(model.encode(texts + [e.prompt for _, e in passed]), dtype=np.float64)
    labels = kmeans(vectors[:n], k, seed=seed)
    centers = np.stack([vectors[:n][labels == j].mean(0) for j in range(k) if (labels == j).any()])
    ids = [j for j in range(k) if (labels == j).any()]
    nearest = ((vectors[n:, None, :] - centers[None]) ** 2).sum(-1).argmin(1) if len(passed) else np.zeros(0, int)
    out: list[DiscoveredSkill] = []
    used: set[str] = set()
    for slot, j in enumerate(ids):
        members = [failed[i] for i in range(n) if labels[i] == j]
        words = distinctive_words([e.prompt for _, e in members], texts, 3) or [f"group{slot + 1}"]
        name = "cluster:" + "-".join(words[:2])
        base, extra = name, 2
        while name in used:
            name, extra = f"{base}-{extra}", extra + 1
        used.add(name)
        total = len(members) + int((nearest == slot).sum())
        quoted = ", ".join(f"'{w}'" for w in words)
        out.append(
            DiscoveredSkill(
                name=name,
                kind="cluster",
                description=f"fails prompts about {quoted}: {len(members)} of {total} prompts",
                failures=len(members),
                total=total,
                example_ids=[e.id for _, e in members],
                seeds=[_seed(e, name, task) for task, e in members],
                tasks=sorted({task for task, _ in members}),
                words=list(words),
            )
        )
    return sorted(out, key=lambda d: (-d.failures, d.name))


# -- discovery ---------------------------------------------------------------------------------
def discover_skills(
    samples: Mapping[str, Sequence[Example]],
    *,
    metric: Mapping[str, str] | None = None,
    embedder: Any = "builtin:all-minilm-l6-v2",
    clusters: int | None = None,
    min_failures: int = 3,
    seed: int = 0,
) -> list[DiscoveredSkill]:
    """Group the failures in scored ``samples`` (task name -> its scored examples) into skills.

    A failure is a sample whose task metric (``metric[task]``, default the task's first
    metric) is below 1. Groups: one per failed check type, one per task, and k-means
    clusters of the failed prompts' embeddings (``clusters`` of them; default
    ``round(sqrt(failures / 2))`` within 2..8). Groups with fewer than ``min_failures``
    failures are dropped. Returns check groups, then task groups, then clusters, each
    by failures, most first.
    """
    if min_failures < 1:
        raise ConfigError(f"min_failures must be >= 1, got {min_failures}")
    metric = dict(metric or {})
    checks: dict[str, dict[str, Any]] = {}
    tasks: list[DiscoveredSkill] = []
    failed: list[tuple[str, Example]] = []
    passed: list[tuple[str, Example]] = []
    for task, examples in samples.items():
        namespace, name = _score_key(task, examples, metric.get(task))
        key = f"{namespace}.{name}"
        scored = [e for e in examples if key in e.scores]
        if examples and not scored:
            raise ConfigError(f"task {task!r}: no sample has the score {key!r}; are these scored samples of {task}?")
        bad = [e for e in scored if e.scores[key] < 1.0]
        failed += [(task, e) for e in bad]
        passed += [(task, e) for e in scored if e.scores[key] >= 1.0]
        for e in scored:
            kinds = {c.get("name") for c in e.meta.get("checks") or [] if isinstance(c, Mapping)}
            wrong = _failed_checks(e, namespace) if e.scores[key] < 1.0 else []
            for kind in sorted(k for k in kinds if k):
                group = checks.setdefault(kind, {"total": 0, "failed": [], "text": Counter()})
                group["total"] += 1
            for c in wrong:
                group = checks[c["name"]]
                group["failed"].append((task, e))
                group["text"][_check_text(c)] += 1
        if bad:
            label = f"task:{task}"
            tasks.append(
                DiscoveredSkill(
                    name=label,
                    kind="task",
                    description=f"fails {task} ({name} < 1): {len(bad)} of {len(scored)} prompts",
                    failures=len(bad),
                    total=len(scored),
                    example_ids=[e.id for e in bad],
                    seeds=[_seed(e, label, task) for e in bad],
                    tasks=[task],
                )
            )
    by_check = []
    for kind, group in checks.items():
        if not group["failed"]:
            continue
        label, text = f"check:{kind}", group["text"].most_common(1)[0][0]
        by_check.append(
            DiscoveredSkill(
                name=label,
                kind="check",
                description=f"fails '{text}' ({kind}): {len(group['failed'])} of {group['total']} prompts",
                failures=len(group["failed"]),
                total=group["total"],
                example_ids=[e.id for _, e in group["failed"]],
                seeds=[_seed(e, label, task) for task, e in group["failed"]],
                tasks=sorted({task for task, _ in group["failed"]}),
                check=kind,
            )
        )
    found = sorted(by_check, key=lambda d: (-d.failures, d.name)) + sorted(tasks, key=lambda d: (-d.failures, d.name))
    found += _cluster_groups(failed, passed, embedder, clusters, seed)
    return [d for d in found if d.failures >= min_failures]


# -- the skills file ---------------------------------------------------------------------------
def _held_out(seed: Example) -> str | None:
    if seed.meta.get("split") == "test":
        return "meta split=test"
    if seed.meta.get("source") == "external-eval":
        return "meta source=external-eval"
    return None


def _same_items(ref: Any, source: Mapping[str, Any] | None) -> bool:
    """Whether task ref ``ref`` draws the items of the evaluation ``source`` (its settings; sizes aside)."""
    if source is None:
        return False
    try:
        settings = ref.build().settings()
    except SyllabusError:
        settings = dict(ref.settings)
    keys = (set(settings) | set(source)) - set(_SIZE_SETTINGS)
    return all(settings.get(k) == source.get(k) for k in keys)


def _options(d: DiscoveredSkill) -> dict[str, Any]:
    if d.kind == "check":
        return {"arithmetic_share": 0, "checks": [d.check], "min_checks": 1, "max_checks": 1, "repair": True}
    return {"arithmetic_share": 0, "repair": True}


def write_skills_file(
    discovered: Sequence[DiscoveredSkill],
    out_dir: str | Path,
    *,
    allow_test: bool = False,
    base: SkillSet | None = None,
    sources: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``out_dir/skills.yaml`` and ``out_dir/seeds/<skill>.jsonl``; return the skills file.

    Check groups ask ``verified-skills`` for fresh prompts with that one check (train-split
    base tasks); task and cluster groups re-ask their failed prompts (``seeds:``), whose
    checks or reference let the generator verify the teacher's answers. No ``eval:`` is
    written unless ``base`` (a :class:`SkillSet`) is given: then each skill copies ``dev``
    and ``eval`` from the base skill whose dev task its failures came from, and the base's
    ``heldout``; an eval task with the settings of the evaluation the seeds came from
    (``sources``: task -> settings, from its report) is left out.

    Refuses (:class:`ConfigError`) seeds from a held-out evaluation unless ``allow_test``.
    """
    import yaml

    from syllabus.jsonl import write_jsonl, write_text_atomic
    from syllabus.teach.skills import load_skills

    if not discovered:
        raise ConfigError("no skills to write: no group of failures reached min_failures")
    if not allow_test:
        for d in discovered:
            for s in d.seeds:
                why = _held_out(s)
                if why:
                    task = s.meta.get("discover.task", "?")
                    raise ConfigError(
                        f"failed prompt {s.id!r} of task {task!r} is from a held-out evaluation ({why}); training on it "
                        "would be contamination: discover skills from a dev/train-split evaluation (a teaching run's "
                        "rNN/06_feedback/dev) or pass --allow-test"
                    )
    out = Path(out_dir)
    (out / "seeds").mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    dropped: list[str] = []
    for d in discovered:
        seeds_file = out / "seeds" / f"{d.slug}.jsonl"
        write_jsonl(seeds_file, d.seeds)
        entry: dict[str, Any] = {
            "name": d.name,
            "description": d.description,
            "generator": "verified-skills",
            "options": _options(d),
        }
        if d.kind != "check":
            entry["seeds"] = str(seeds_file.resolve())
        match = next((s for s in (base.skills if base else ()) if s.dev and s.dev.task in d.tasks), None)
        if match is not None:
            entry["dev"] = match.dev.to_dict()  # type: ignore[union-attr]
            evals = []
            for ref in match.eval:
                if _same_items(ref, (sources or {}).get(ref.task)):
                    dropped.append(f"{d.name}: {ref.task}")
                else:
                    evals.append(ref.to_dict())
            if evals:
                entry["eval"] = evals
        entries.append(entry)
    data: dict[str, Any] = {"skills": entries}
    if base is not None and base.heldout:
        data["heldout"] = [t.to_dict() for t in base.heldout]
    header = [
        "# Skills discovered from a student's failures (`syllabus discover-skills`).",
        "# check:* skills write fresh prompts with the failed check; task:* and cluster:* skills re-ask",
        "# the failed prompts (seeds/), verified by their checks or reference answers.",
    ]
    if base is None:
        header += [
            "# eval: none set. Add held-out eval tasks to each skill (eval: [{task: ..., metric: ...}]) and a dev",
            "# task for the teacher's feedback; never the evaluation these failures came from (contamination).",
        ]
    if dropped:
        header.append(f"# left out eval tasks equal to the seeds' own evaluation: {'; '.join(dropped)}")
    text = "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    path = out / "skills.yaml"
    write_text_atomic(path, text)
    load_skills(path)  # the teaching loop must be able to read what was written
    return path
