"""Log-likelihood scoring throughput: the syllabus ``hf`` backend against lm-evaluation-harness.

A fixed multiple-choice workload with shared contexts: ``--questions`` items (64 by default)
of 4 choices each, a question of about 40-80 tokens (a short passage and a question about
it, built deterministically from a word list) and choices of 1-10 tokens. Every item's
four (context, continuation) pairs share the context. The items are written to a temp
directory as JSON lines, in the format of syllabus's ``mc`` task, and both sides read that
file:

* **lm-eval** (the baseline): lm-evaluation-harness's own pipeline
  (``lm_eval.simple_evaluate``) on a local task config (``dataset_path: json``,
  ``output_type: multiple_choice``, the same prompt template as ``mc``), run with an
  ``HFLM`` model object (``dtype="float32"``, ``batch_size=--batch-size``, CPU). The timer
  wraps ``HFLM.loglikelihood``, so task building and metric computation are not counted.
* **syllabus**: the ``mc`` task (``mutual_info`` and ``blank_ppl`` off, so one request per
  choice, as in lm-eval) builds the requests, and ``HFLLM.loglikelihood`` scores them
  (``dtype="float32"``, ``batch_size=--batch-size``): each item's context runs once and
  its key/value cache serves the four choices, and the LM head runs only at continuation
  positions.
* **syllabus-plain** (optional, ``--sides``): the same with ``share_context=False``, every
  pair run in full (only the LM-head saving left).

Both load the same model folder (``builtin:gemma-3-270m`` converted to safetensors) in
float32, in one process, with the same torch thread count. The script checks that both
sides score the same (context, continuation) pairs, then reports pairs/s (median of
``--repeats`` timed runs, interleaved: lm-eval and syllabus alternate, the order flipping
each round, after one untimed warm-up each), the speed ratio, the largest absolute
difference of the summed log-likelihoods, how often ``is_greedy`` agrees, and the ``acc``
of each side. The target (issue 3) is syllabus at 1.5x lm-eval's throughput or more, with
log-likelihoods equal to 1e-4.

lm-evaluation-harness is not a syllabus dependency: install it with ``pip install lm-eval``.
Without it the script says so and measures the syllabus side(s) alone.

Usage::

    python bench/score.py                          # 64 questions x 4 choices, 3 rounds
    python bench/score.py --questions 16 --repeats 1   # quick look
    python bench/score.py --sides lm-eval,syllabus,syllabus-plain --batch-size 8 --out /tmp/score.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = (
    "river mountain quiet engine garden winter letter market silver ocean museum window "
    "history science village harbor teacher student library morning evening thunder forest "
    "painter kitchen station journey machine theory planet candle bridge meadow lantern "
    "doctor signal castle desert island orchard pencil rocket shadow valley weather"
).split()
NAMES = ("Anna", "Tomas", "Mira", "Jonas", "Lena", "Pavel", "Ruth", "Omar")
VERBS = ("visited", "painted", "repaired", "described", "forgot", "found", "measured", "sold")
QUESTIONS = (
    "What did {name} see first?",
    "Which place did {name} remember best?",
    "What was missing at the end of the day?",
    "What did the teacher ask about?",
)
SIDES = ("lm-eval", "syllabus", "syllabus-plain")
TASK_NAME = "syllabus_bench_mc"
TASK_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
target_delimiter: " "
metric_list:
  - metric: acc
"""


def build_items(n: int) -> list[dict[str, Any]]:
    """``n`` deterministic items: a passage and a question (~40-80 tokens), 4 choices of 1-9 words."""
    items = []
    for i in range(n):
        name = NAMES[i % len(NAMES)]
        words = [WORDS[(i * 11 + j * 7) % len(WORDS)] for j in range(24 + (i * 5) % 30)]
        sentences = [
            f"In the {words[0]} near the {words[1]}, {name} {VERBS[i % len(VERBS)]} a {words[2]}.",
            " ".join(words[3:]).capitalize() + ".",
        ]
        question = " ".join(sentences) + " " + QUESTIONS[i % len(QUESTIONS)].format(name=name)
        choices = []
        for c in range(4):
            length = 1 + (i + 3 * c) % 9  # 1 to 9 words: 1 to 10 tokens with the leading space
            choices.append(" ".join(WORDS[(i * 13 + c * 17 + k * 5) % len(WORDS)] for k in range(length)))
        items.append({"id": f"q{i:03d}", "question": question, "choices": choices, "answer": i % 4})
    return items


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class LmEvalSide:
    """lm-evaluation-harness: ``simple_evaluate`` on a local JSON task, timing ``HFLM.loglikelihood``."""

    def __init__(self, path: str, task_dir: Path, batch_size: int):
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager

        self.lm = HFLM(pretrained=path, dtype="float32", batch_size=batch_size, device="cpu")
        self.task_manager = TaskManager(include_path=str(task_dir), include_defaults=False)
        self.seconds: list[float] = []
        self.requests: list[Any] = []
        self.results: list[tuple[float, bool]] = []
        original = self.lm.loglikelihood

        def timed_loglikelihood(requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
            start = time.perf_counter()
            results = original(requests, disable_tqdm=True)
            self.seconds.append(time.perf_counter() - start)
            self.requests, self.results = list(requests), list(results)
            return results

        self.lm.loglikelihood = timed_loglikelihood  # type: ignore[method-assign]

    def warm_up(self, pairs: list[tuple[str, str]]) -> None:
        from lm_eval.api.instance import Instance

        instances = [Instance("loglikelihood", doc={}, arguments=p, idx=i) for i, p in enumerate(pairs)]
        self.lm.loglikelihood(instances)
        self.seconds.pop()

    def run(self) -> dict[str, Any]:
        """One pass of lm-eval's pipeline; returns the seconds spent scoring and the task's acc."""
        import lm_eval

        out = lm_eval.simple_evaluate(
            model=self.lm,
            tasks=[TASK_NAME],
            task_manager=self.task_manager,
            log_samples=False,
            bootstrap_iters=0,
        )
        assert out is not None
        acc = out["results"][TASK_NAME].get("acc,none")
        return {"seconds": self.seconds[-1], "acc": acc}

    def by_pair(self) -> dict[tuple[int, int], tuple[tuple[str, str], float, bool]]:
        """(doc_id, choice index) -> ((context, continuation), logprob, is_greedy) of the last run."""
        return {
            (r.doc_id, r.idx): (tuple(r.args), float(lp), bool(g))
            for r, (lp, g) in zip(self.requests, self.results, strict=True)
        }


class SyllabusSide:
    """syllabus: the ``mc`` task's requests scored by ``HFLLM.loglikelihood``."""

    def __init__(self, path: str, data: Path, batch_size: int, share_context: bool = True):
        from syllabus.evaluate.tasks.multiple_choice import MultipleChoice
        from syllabus.llm.hf import HFLLM

        self.llm = HFLLM(path, dtype="float32", batch_size=batch_size, share_context=share_context)
        self.task = MultipleChoice(path=str(data), mutual_info=False, blank_ppl=False)
        self.examples = self.task.load()
        self.per_example = [self.task.requests(e) for e in self.examples]
        self.requests = [r for rs in self.per_example for r in rs]
        self.results: list[Any] = []

    def warm_up(self, pairs: list[tuple[str, str]]) -> None:
        from syllabus.llm.base import LoglikelihoodRequest

        self.llm.loglikelihood([LoglikelihoodRequest(context=c, continuation=x) for c, x in pairs])

    def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        self.results = self.llm.loglikelihood(self.requests)
        seconds = time.perf_counter() - start
        at, accs = 0, []
        for example, reqs in zip(self.examples, self.per_example, strict=True):
            accs.append(self.task.score(example, self.results[at : at + len(reqs)])["acc"])
            at += len(reqs)
        return {"seconds": seconds, "acc": sum(accs) / len(accs)}

    def by_pair(self) -> dict[tuple[int, int], tuple[tuple[str, str], float, bool]]:
        out, at = {}, 0
        for doc_id, reqs in enumerate(self.per_example):
            for idx, r in enumerate(reqs):
                res = self.results[at]
                out[(doc_id, idx)] = ((r.context, r.continuation), res.logprob, res.is_greedy)
                at += 1
        return out


def compare(ours: dict, theirs: dict) -> dict[str, Any]:
    """Same pairs on both sides, largest |logprob difference|, is_greedy agreement."""
    if ours.keys() != theirs.keys():
        raise SystemExit(f"the two sides built different requests: {len(ours)} vs {len(theirs)} pairs")
    mismatched = [k for k in ours if ours[k][0] != theirs[k][0]]
    if mismatched:
        k = mismatched[0]
        raise SystemExit(f"the two sides built different (context, continuation) pairs, e.g. {k}: {ours[k][0]!r} vs {theirs[k][0]!r}")
    diffs = [abs(ours[k][1] - theirs[k][1]) for k in ours]
    return {
        "pairs": len(ours),
        "max_abs_diff": max(diffs),
        "mean_abs_diff": sum(diffs) / len(diffs),
        "mean_abs_logprob": sum(abs(v[1]) for v in theirs.values()) / len(theirs),
        "is_greedy_agree": sum(ours[k][2] == theirs[k][2] for k in ours),
        "is_greedy_true": sum(v[2] for v in theirs.values()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m", help="builtin model name (default: gemma-3-270m)")
    ap.add_argument("--questions", type=int, default=64, help="multiple-choice items, 4 choices each (default 64)")
    ap.add_argument("--batch-size", type=int, default=16, help="batch size of every side (default 16)")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds per side, interleaved (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for every side (default 2)")
    ap.add_argument("--sides", default="lm-eval,syllabus", help=f"comma-separated subset of {','.join(SIDES)} (default lm-eval,syllabus)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "score.json"))
    args = ap.parse_args(argv)
    wanted = [x.strip() for x in args.sides.split(",") if x.strip()]
    unknown = set(wanted) - set(SIDES)
    if unknown or not wanted:
        ap.error(f"unknown side(s) {sorted(unknown)}; choose from {', '.join(SIDES)}")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import AutoTokenizer

    from syllabus.models import builtin_hf_dir

    torch.set_num_threads(args.threads)
    _quiet_progress_bars()
    path = str(builtin_hf_dir(args.model))
    skipped: dict[str, str] = {}
    if "lm-eval" in wanted:
        try:
            import lm_eval  # noqa: F401
        except ImportError:
            skipped["lm-eval"] = "lm-evaluation-harness is not installed (pip install lm-eval)"
            wanted.remove("lm-eval")
            print(f"{skipped['lm-eval']}: measuring the syllabus side(s) alone", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="syllabus-bench-score-"))
    items = build_items(args.questions)
    data = tmp / "mc.jsonl"
    data.write_text("".join(json.dumps(it) + "\n" for it in items))
    (tmp / f"{TASK_NAME}.yaml").write_text(TASK_YAML.format(name=TASK_NAME, path=data))
    os.environ.setdefault("HF_DATASETS_CACHE", str(tmp / "datasets-cache"))

    tok = AutoTokenizer.from_pretrained(path)
    ctx_lens = [len(tok(f"Question: {it['question']}\nAnswer:").input_ids) for it in items]
    cont_lens = [len(tok(" " + c, add_special_tokens=False).input_ids) for it in items for c in it["choices"]]
    n_pairs = 4 * len(items)
    load_before = os.getloadavg()
    print(
        f"workload: builtin:{args.model}, {len(items)} questions x 4 choices = {n_pairs} pairs; contexts "
        f"{min(ctx_lens)}-{max(ctx_lens)} tokens (BOS included, shared by the 4 choices), choices "
        f"{min(cont_lens)}-{max(cont_lens)} tokens; float32, batch {args.batch_size}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}",
        flush=True,
    )
    if load_before[0] > 1.0 + max(0, (os.cpu_count() or 1) - args.threads):
        print("warning: the CPU is busy; with threads competing for cores the figures mean little", flush=True)

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    sides: dict[str, Any] = {}
    load_s: dict[str, float] = {}
    for name in wanted:
        t0 = time.perf_counter()
        if name == "lm-eval":
            sides[name] = LmEvalSide(path, tmp, args.batch_size)
        else:
            sides[name] = SyllabusSide(path, data, args.batch_size, share_context=name == "syllabus")
        load_s[name] = time.perf_counter() - t0
    warm = [(f"Question: {it['question']}\nAnswer:", " " + c) for it in items[:2] for c in it["choices"]]
    for side in sides.values():
        side.warm_up(warm)

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for rnd in range(args.repeats):
        for name in wanted if rnd % 2 == 0 else wanted[::-1]:
            r = sides[name].run()
            runs[name].append(r)
            print(f"round {rnd + 1}: {name:<14} {r['seconds']:7.1f} s  {n_pairs / r['seconds']:6.2f} pairs/s", flush=True)
    load_after = os.getloadavg()

    summary: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        secs = median([r["seconds"] for r in rs])
        summary[name] = {
            "seconds": [r["seconds"] for r in rs],
            "median_s": secs,
            "pairs_s": n_pairs / secs,
            "acc": rs[-1]["acc"],
            "load_s": load_s[name],
        }
    agreement = {}
    if "lm-eval" in sides:
        for name, side in sides.items():
            if name != "lm-eval":
                agreement[name] = compare(side.by_pair(), sides["lm-eval"].by_pair())

    print()
    setups = {
        "lm-eval": "HFLM via simple_evaluate",
        "syllabus": "HFLLM.loglikelihood, mc task",
        "syllabus-plain": "same, share_context=False",
    }
    header = f"{'side':<15} {'setup':<30} {'pairs':>6} {'median s':>9} {'pairs/s':>8} {'vs lm-eval':>10} {'acc':>6}"
    print(header)
    print("-" * len(header))
    base = summary.get("lm-eval", {}).get("pairs_s")
    for name in SIDES:
        if name in summary:
            row = summary[name]
            ratio = f"{row['pairs_s'] / base:.2f}x" if base else "-"
            print(f"{name:<15} {setups[name]:<30} {n_pairs:>6} {row['median_s']:>9.1f} {row['pairs_s']:>8.2f} {ratio:>10} {row['acc']:>6.3f}")
        elif name in skipped:
            print(f"{name:<15} skipped: {skipped[name]}")
    print(f"(all float32, batch {args.batch_size}, {torch.get_num_threads()} threads; median of {args.repeats} interleaved rounds)")
    for name, agr in agreement.items():
        verdict = "within" if agr["max_abs_diff"] <= 1e-4 else "OUTSIDE"
        print(
            f"{name} vs lm-eval, {agr['pairs']} pairs (mean |loglikelihood| {agr['mean_abs_logprob']:.2f}): max abs diff "
            f"{agr['max_abs_diff']:.2e} ({verdict} 1e-4), mean {agr['mean_abs_diff']:.2e}; is_greedy agrees on "
            f"{agr['is_greedy_agree']}/{agr['pairs']} ({agr['is_greedy_true']} greedy in lm-eval)"
        )
    print(f"(load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; figures on a shared or busy CPU vary a lot)")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "workload": {
            "model": f"builtin:{args.model}",
            "questions": len(items),
            "choices": 4,
            "pairs": n_pairs,
            "context_tokens": [min(ctx_lens), max(ctx_lens)],
            "choice_tokens": [min(cont_lens), max(cont_lens)],
            "dtype": "float32",
            "batch_size": args.batch_size,
            "repeats": args.repeats,
        },
        "machine": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": _version("transformers"),
            "lm_eval": _version("lm_eval"),
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "results": summary,
        "ratio_vs_lm_eval": {name: summary[name]["pairs_s"] / base for name in summary if name != "lm-eval"} if base else None,
        "agreement": agreement,
        "skipped": skipped,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _quiet_progress_bars() -> None:
    """No weight-loading or dataset progress bars between the figures."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
