"""Run a slow generate stage (used by test_resume.py, which kills it mid-run).

Usage: python resume_worker.py RUN_DIR CALL_LOG N_PROMPTS SHARD_SIZE DELAY
Each model call appends the prompt to CALL_LOG, so the test can count what was paid for.
"""

import sys
import time

from syllabus import Example
from syllabus.llm.base import SamplingParams
from syllabus.llm.cache import CachedLLM
from syllabus.llm.fake import FunctionLLM
from syllabus.pipeline import Pipeline, Respond
from syllabus.run import RunDir

run_dir, call_log, n, shard_size, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])


def answer(request):
    time.sleep(delay)
    prompt = request.messages[-1]["content"]
    with open(call_log, "a") as f:
        f.write(f"{prompt}\t{request.sample_index}\n")
    # Depends on the sample index, as a sampled generation would.
    return f"answer to {prompt} #{request.sample_index}"


run = RunDir(run_dir)
llm = CachedLLM(FunctionLLM(answer), run.cache())
examples = [Example.from_prompt(f"question {i}") for i in range(n)]
step = Respond(llm, SamplingParams(temperature=1.0, seed=7), n=2, batch_size=2)
Pipeline([step], shard_size=shard_size).run(examples, run.stage(0, 1, "generate"))
print("finished")
