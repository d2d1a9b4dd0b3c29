"""Run ``syllabus generate`` with a slow fake teacher (used by test_gen_resume.py, which kills it).

Usage: python gen_resume_worker.py RUN_DIR CALL_LOG DELAY [extra CLI args...]

Registers a backend ``slow:`` whose answers depend only on the request (so a rerun is
identical) and a toy generator ``toy-rounds`` that needs several rounds to reach --n, then
calls the real command-line entry point.
"""

import hashlib
import sys
import time
from dataclasses import dataclass

from syllabus.cli import main
from syllabus.generators import GENERATORS, Generator, Plan
from syllabus.llm import BACKENDS
from syllabus.llm.fake import FunctionLLM
from syllabus.parsing import ParseError, numbered_items
from syllabus.pipeline import Drop, Filter
from syllabus.pipeline.teacher import TeacherStep
from syllabus.prompts import PromptTemplate
from syllabus.record import Example

run_dir, call_log, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])


def answer(request):
    time.sleep(delay)
    text = request.messages[-1]["content"] if request.messages else request.prompt
    with open(call_log, "a") as f:
        f.write(f"{text[:40]!r}\t{request.sample_index}\n")
    digest = hashlib.sha256(f"{text}|{request.sample_index}".encode()).hexdigest()
    # Three items, one of them short, and now and then no list at all (a parse failure).
    if digest[0] in "01":
        return "I am not sure what you mean."
    return f"1. write about {digest[:6]}\n2. {digest[6:8]}\n3. explain topic {digest[8:14]} in detail"


BACKENDS.register("slow", lambda spec, **options: FunctionLLM(answer))

ASK = PromptTemplate("toy-ask", user="List three tasks about {topic}.")


class Ask(TeacherStep):
    name = "ask"
    template = ASK

    def fields(self, example):
        return {"topic": example.meta["toy.topic"]}

    def parse(self, text, example, sample):
        items = numbered_items(text)
        if len(items) < 2:
            raise ParseError("too few items")
        return [Example.from_prompt(item, id=f"{example.id}-{i}") for i, item in enumerate(items)]


class LongEnough(Filter):
    name = "long-enough"

    def keep(self, example):
        return True if len(example.prompt.split()) >= 3 else Drop("too short")


@dataclass
class ToyConfig:
    topics: int = 1000


class ToyRounds(Generator):
    name = "toy-rounds"
    Config = ToyConfig

    def _inputs(self, run, round_, k):
        rng = run.rng("topics", round_)
        return [
            Example.from_prompt(
                "topic",
                id=f"r{round_}-t{i}",
                meta={"toy.topic": f"topic {rng.randrange(self.config.topics)}"},
            )
            for i in range(k)
        ]

    def generate(self, run):
        steps = [
            Ask(run.teacher, run.params, origin=self.origin, batch_size=2),
            LongEnough(),
        ]
        return run.until("tasks", lambda r, k: self._inputs(run, r, k), steps, expected_yield=4.0)

    def plan(self, run):
        return Plan.of(run, [("tasks", Ask(run.teacher, run.params), self._inputs(run, 0, 3))])


GENERATORS.register("toy-rounds", ToyRounds)
code = main(
    [
        "generate",
        "--generator",
        "toy-rounds",
        "--teacher",
        "slow:x",
        "--out",
        run_dir,
        "--no-progress",
        "--shard-size",
        "4",
        "--n",
        "40",
        "--show",
        "0",
        *sys.argv[4:],
    ]
)
print("finished" if code == 0 else f"exit {code}")
sys.exit(code)
