"""Run every registered generator once on the builtin models and print a table of its stats.

    .venv/bin/python scripts/measure_generators.py --n 8 --out runs/measure-generators

Each generator writes its own stage folder under ``--out``; the table (Markdown, for
docs/generators.md) gives per generator: kept of target, teacher requests, prompt and
completion tokens, completion tokens/s over the time spent in teacher calls, wall time,
and the yield of every step that dropped something. Rerunning resumes (finished phases
are read back and answered requests come from each run's cache), so ``--only NAME``
fills in one row without paying for the others again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from syllabus.generators import GENERATORS, get_generator
from syllabus.generators.base import GenerationRun, GenerationSettings
from syllabus.llm import load_llm
from syllabus.llm.base import SamplingParams
from syllabus.record import Example
from syllabus.run import RunDir

CHAT = "builtin:smollm2-135m-instruct"
BASE = "builtin:gemma-3-270m"

# What each generator is given: teachers, inputs and options. Everything else is default.
PLANS: dict[str, dict] = {
    "responses": {"inputs": "examples/prompts.jsonl"},
    "self-instruct": {"options": {"max_prompts_per_round": 4}},
    "ensemble-instruct": {"teachers": [CHAT, BASE]},
    "skillmix": {"options": {"skills": ["arithmetic", "persuasive writing", "summarising", "recipes"]}},
    "evol-instruct": {"options": {"rounds": 1}},
    "magpie": {},
    "agent-instruct": {"options": {"documents": "src/syllabus/data/documents", "instructions_per_text": 1}},
    "multi-hop": {"options": {"documents": "src/syllabus/data/documents", "chunk_chars": 600}},
    "verified-skills": {},
    "continuation": {"teachers": [BASE], "options": {"documents": "src/syllabus/data/documents"}},
}


def load_inputs(path: str | None) -> list[Example]:
    if not path:
        return []
    from syllabus.formats import read_any

    return list(read_any(path))


def measure(name: str, n: int, out: Path, max_tokens: int) -> dict:
    plan = PLANS.get(name, {})
    generator = get_generator(name, plan.get("options", {}))
    run = RunDir(out / name)
    teachers = [load_llm(spec, cache=run.cache()) for spec in plan.get("teachers", [CHAT])]
    settings = GenerationSettings(
        n=n,
        params=SamplingParams(max_tokens=max_tokens, temperature=generator.default_temperature, seed=0),
        batch_size=16,
        max_rounds=3,
    )
    started = time.monotonic()
    try:
        GenerationRun(generator, teachers, settings, out / name / "r00" / "01_generate", load_inputs(plan.get("inputs"))).execute()
    finally:
        for t in teachers:
            t.close()
        run.close()
    report = json.loads((out / name / "r00" / "01_generate" / "generation.json").read_text())
    report["wall"] = round(time.monotonic() - started, 1)
    report["teacher_specs"] = plan.get("teachers", [CHAT])
    return report


def yields(report: dict) -> str:
    """Each step that dropped something, summed over the rounds: kept/in and the reasons."""
    from collections import Counter

    seen: dict[str, Counter] = {}
    for phase in report["phases"]:
        for step in phase["steps"]:
            c = seen.setdefault(step["step"], Counter())
            c["in"] += step["in"]
            c["out"] += step["out"]
            c["dropped"] += step["dropped"]
            c.update({f"reason:{k}": v for k, v in step["reasons"].items()})
    parts = []
    for name, c in seen.items():
        if c["dropped"]:
            reasons = "; ".join(f"{k[7:]} {v}" for k, v in c.items() if k.startswith("reason:"))
            parts.append(f"{name}: {c['in'] - c['dropped']}/{c['in']} ({reasons})")
    return "<br>".join(parts) or "nothing dropped"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="records to keep per generator")
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--out", default="runs/measure-generators")
    parser.add_argument("--only", nargs="*", default=None, help="generators to run (default: all)")
    args = parser.parse_args()
    rows = []
    for name in args.only or GENERATORS.names():
        print(f"== {name}", file=sys.stderr, flush=True)
        r = measure(name, args.n, Path(args.out), args.max_tokens)
        rate = r["completion_tokens_per_second"]
        rows.append(
            f"| {name} | {', '.join(r['teacher_specs'])} | {r['kept']}/{r['target']} | {r['requests']} | "
            f"{r['prompt_tokens']:,} | {r['completion_tokens']:,} | {rate if rate else '-'} | {r['wall']} | {yields(r)} |"
        )
        print(rows[-1], flush=True)
    print("\n| generator | teacher(s) | kept/target | requests | prompt tokens | completion tokens | tok/s | wall s | yield of each step that dropped |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
