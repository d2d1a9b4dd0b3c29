"""Deduplication and novelty-gate throughput, each beside a named baseline.

Two workloads, both deterministic (``--seed``):

1. **Dedup of ``--records`` (100,000) synthetic instruction records**: an instruction of
   10-20 words and a response of 40-70 words drawn from a 5,000-word vocabulary, with
   planted duplicates: 5% exact copies of an earlier record in other case, punctuation
   and spacing, and 5% near copies (one or two response words changed). Rows:

   - ``exact``: syllabus ``ExactDedup`` (normalised hash), field "both";
   - ``minhash``: syllabus ``MinHashDedup`` (threshold 0.8, 128 permutations, word
     3-grams) on what ``exact`` kept, as a curation recipe runs them;
   - ``datasketch-readme`` (the baseline): the loop datasketch's documentation shows, on
     the same normalised 3-gram shingles: ``MinHash(num_perm=128)`` per record, ``update``
     per shingle, ``MinHashLSH(threshold=0.8)`` with its default weights, ``query`` then
     ``insert`` (first candidate wins; no confirmation of the candidate's similarity).

   Each row runs in a fresh process (so peak memory is its own) on one core: dedup is a
   sequential decision (keep the first, drop the later ones), so a second core would not
   help it. Reported: wall seconds and records/s, CPU seconds and records per CPU second
   (on a shared machine wall time also counts waiting for the CPU), peak RSS and the RSS growth over the process
   after the data was built, and recall of the planted copies (near copies are counted
   among those whose true 3-gram Jaccard with their original is >= 0.8, computed exactly;
   ``J>=.9``: recall among those at >= 0.9). A MinHash of 128 permutations estimates
   Jaccard with a standard deviation of about 0.035, so pairs just above 0.8 are often
   estimated below it: recall near the threshold is below 1 by design, not by accident.

2. **ROUGE-L novelty gate on ``--stream`` (10,000) Self-Instruct-like instructions**
   (templates over verbs, formats and topics, 25% near copies of an earlier one):
   keep an instruction only if its ROUGE-L F with every kept one is <= 0.7.

   - ``novelty-index``: syllabus ``NoveltyIndex`` (exact, pruned), the whole stream;
   - ``exact pairwise`` (the baseline): what Stanford Alpaca's generator does, ROUGE-L
     against every kept instruction with ``rouge_score``'s scorer on pre-tokenised
     instructions (``rouge_scorer._score_lcs``). Running it on all 10,000 would take
     about an hour here, so it runs on ``--sample`` (200) stream positions spread evenly
     over the stream, each against exactly the instructions the gate had kept at that
     point; its time for the whole stream is **extrapolated** as (measured CPU seconds
     per pair) x (pairs the whole stream needs, counted exactly from the gate's kept set).
     Alpaca spreads these comparisons over a process pool; the "ideal 2 cores" figure
     halves the extrapolated time (no pool overhead counted), the fairest comparison on a
     2-core machine.
   - agreement: on the sampled positions, the share where the two decide the same
     (keep or drop).

Usage::

    python bench/dedup.py                                # both workloads, about 5 minutes on a 2-core CPU
    python bench/dedup.py --records 20000 --stream 3000 --sample 50   # quick look
    python bench/dedup.py --only novelty --out /tmp/dedup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from syllabus.curate.dedup import ExactDedup, MinHashDedup, normalize, shingles  # noqa: E402
from syllabus.pipeline.step import StepContext  # noqa: E402
from syllabus.record import Example  # noqa: E402
from syllabus.text.rouge import NoveltyIndex  # noqa: E402

SYLLABLES = "ka lo mi ne ru sa ti vo pe da gu fi ho ja ze bo ny qu wa xe".split()


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    return sorted(words)


# -- workload 1: records -------------------------------------------------------------------
def make_records(n: int, seed: int) -> tuple[list[Example], dict[str, tuple[str, str]]]:
    """``n`` records and, for each planted copy, ``(kind, id of its original)``."""
    rng = random.Random(seed)
    vocab = vocabulary(5000, rng)
    verbs = ["Write", "Explain", "Describe", "Summarise", "List", "Compare", "Translate", "Rewrite", "Classify", "Suggest"]
    records: list[Example] = []
    planted: dict[str, tuple[str, str]] = {}
    for i in range(n):
        roll = rng.random()
        if records and roll < 0.05:
            src = rng.choice(records)
            prompt = src.prompt.upper().replace(".", " !").replace(" ", "  ")
            completion = " ".join(src.completion.split()).replace(" ", ", ", 3)
            planted[f"r{i}"] = ("exact", src.id)
        elif records and roll < 0.10:
            src = rng.choice(records)
            words = src.completion.split()
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            prompt, completion = src.prompt, " ".join(words)
            planted[f"r{i}"] = ("near", src.id)
        else:
            prompt = f"{rng.choice(verbs)} " + " ".join(rng.choices(vocab, k=rng.randint(9, 19))) + "."
            completion = " ".join(rng.choices(vocab, k=rng.randint(40, 70))) + "."
        records.append(Example.from_prompt(prompt, completion=completion, id=f"r{i}"))
    return records, planted


def true_jaccard(a: Example, b: Example, n: int = 3) -> float:
    sa = set(shingles(normalize(f"{a.prompt}\n{a.completion}"), n))
    sb = set(shingles(normalize(f"{b.prompt}\n{b.completion}"), n))
    return len(sa & sb) / len(sa | sb)


def rss_mb() -> float:
    """Current resident memory of this process, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def phase_dedup(kind: str, n: int, seed: int) -> dict[str, Any]:
    """One dedup row, in this (fresh) process."""
    records, planted = make_records(n, seed)
    by_id = {r.id: r for r in records}
    if kind == "minhash":
        # A recipe runs exact dedup first; MinHash sees its survivors (untimed here).
        records = list(ExactDedup()(records))
    if kind != "exact":
        import datasketch  # noqa: F401  (imported before timing: about 1 s of imports, scipy among them)
    before = rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    if kind == "datasketch-readme":
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=0.8, num_perm=128)
        dropped: dict[str, str] = {}
        for r in records:
            m = MinHash(num_perm=128)
            for s in shingles(normalize(f"{r.prompt}\n{r.completion}"), 3):
                m.update(s.encode("utf8"))
            found = lsh.query(m)
            if found:
                dropped[r.id] = found[0]
            else:
                lsh.insert(r.id, m)
    else:
        step = ExactDedup() if kind == "exact" else MinHashDedup(threshold=0.8, num_perm=128, ngram=3)
        ctx = StepContext()
        for _ in step(records, ctx):  # run the filter; the drops land in ctx.excluded
            pass
        dropped = {e.id: e.meta["dedup.duplicate_of"] for e in ctx.excluded}
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    kinds = ("exact",) if kind == "exact" else ("near",)
    targets = {i: src for i, (k, src) in planted.items() if k in kinds}
    recall_09 = None
    if kind != "exact":
        present = {r.id for r in records}
        jaccard = {i: true_jaccard(by_id[i], by_id[src]) for i, src in targets.items() if i in present}
        targets = {i: src for i, src in targets.items() if i in present and jaccard[i] >= 0.8}
        high = [i for i in targets if jaccard[i] >= 0.9]
        recall_09 = round(sum(1 for i in high if i in dropped) / len(high), 4) if high else None
    found = sum(1 for i in targets if i in dropped)
    false_drops = sum(1 for i in dropped if i not in planted)
    return {
        "row": kind, "records": len(records), "seconds": round(seconds, 2), "records_per_s": round(len(records) / seconds),
        "cpu_seconds": round(cpu, 2), "records_per_cpu_s": round(len(records) / cpu),
        "dropped": len(dropped), "planted": len(targets), "planted_found": found,
        "recall": round(found / len(targets), 4) if targets else None, "recall_jaccard_0.9": recall_09,
        "dropped_unplanted": false_drops,
        "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
        "growth_mb": round(peak_rss_mb() - before, 1),
    }


# -- workload 2: instruction stream --------------------------------------------------------
def make_stream(n: int, seed: int, topic_vocab: int = 3000) -> list[str]:
    rng = random.Random(seed + 1)
    vocab = vocabulary(topic_vocab, rng)
    verbs = ["Write", "Explain", "Describe", "Summarise", "List", "Compare", "Give", "Create", "Suggest", "Rewrite",
             "Classify", "Plan", "Outline", "Draft", "Evaluate", "Translate"]
    formats = ["a short poem", "three tips", "a step-by-step guide", "an email", "a haiku", "a summary",
               "a table", "a story", "five facts", "a tweet", "an outline", "a dialogue", "a checklist", "a riddle"]
    glue = ["about", "on", "for a beginner about", "for children about", "explaining", "that compares"]
    stream: list[str] = []
    for _ in range(n):
        if stream and rng.random() < 0.25:
            words = rng.choice(stream).split()
            for _ in range(rng.randint(1, 3)):
                op = rng.random()
                if op < 0.4 and len(words) > 4:
                    words.pop(rng.randrange(len(words)))
                elif op < 0.7:
                    words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
                else:
                    words[rng.randrange(len(words))] = rng.choice(vocab)
            stream.append(" ".join(words))
        else:
            topic = " ".join(rng.choices(vocab, k=rng.randint(2, 8)))
            tail = " and ".join(rng.choices(vocab, k=rng.randint(0, 3)))
            stream.append(f"{rng.choice(verbs)} {rng.choice(formats)} {rng.choice(glue)} {topic}{' with ' + tail if tail else ''}.")
    return stream


def phase_novelty(n: int, sample: int, seed: int, topic_vocab: int = 3000) -> dict[str, Any]:
    from rouge_score import rouge_scorer

    stream = make_stream(n, seed, topic_vocab)
    gate = NoveltyIndex(threshold=0.7)
    start, cpu_start = time.perf_counter(), time.process_time()
    decisions = [gate.add_if_novel(text, key=str(i)) for i, text in enumerate(stream)]
    gate_seconds, gate_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    kept_positions = [i for i, d in enumerate(decisions) if d]
    # Pairs an exact gate compares for the whole stream: each candidate against all kept before it.
    kept_before, pairs_total, k = [], 0, 0
    for i in range(n):
        kept_before.append(k)
        pairs_total += k
        k += decisions[i]

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    tokens = [scorer._tokenizer.tokenize(t) for t in stream]
    positions = sorted({round(j * (n - 1) / max(1, sample - 1)) for j in range(sample)})
    agree, checked, pairs, above = 0, 0, 0, 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in positions:
        others = kept_positions[: kept_before[i]]
        scores = [rouge_scorer._score_lcs(tokens[i], tokens[j]).fmeasure for j in others]
        pairs += len(others)
        best = max(scores, default=0.0)
        brute_keep = best <= 0.7
        checked += 1
        agree += brute_keep == decisions[i]
        above += not brute_keep
    brute_seconds, brute_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    # Both sides run single-threaded in this process; on a shared machine wall time also
    # counts waiting for the CPU, so the speedups use CPU time (wall figures are kept too).
    per_pair = brute_cpu / max(1, pairs)
    extrapolated = per_pair * pairs_total
    return {
        "stream": n, "kept": len(kept_positions), "dropped": n - len(kept_positions),
        "gate_seconds": round(gate_seconds, 2), "gate_cpu_seconds": round(gate_cpu, 2),
        "gate_per_cpu_s": round(n / gate_cpu),
        "gate_lcs_computations": gate.lcs_computations, "pairs_exact_needs": pairs_total,
        "sample_positions": checked, "sample_pairs": pairs, "sample_seconds": round(brute_seconds, 2),
        "sample_cpu_seconds": round(brute_cpu, 2), "cpu_us_per_pair": round(per_pair * 1e6, 2),
        "exact_extrapolated_cpu_seconds": round(extrapolated, 1),
        "exact_extrapolated_2core_ideal_seconds": round(extrapolated / 2, 1),
        "speedup_vs_1core": round(extrapolated / gate_cpu, 1),
        "speedup_vs_2core_ideal": round(extrapolated / 2 / gate_cpu, 1),
        "agreement": round(agree / checked, 4), "sample_above_threshold": above,
    }


# -- driver ---------------------------------------------------------------------------------
def run_child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench phase {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--stream", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=200, help="stream positions the exact baseline runs on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--topic-vocab", type=int, default=3000, help="made-up words topics are drawn from (fewer: more shared words)")
    parser.add_argument("--only", choices=["dedup", "novelty"], default=None)
    parser.add_argument("--rows", default="exact,minhash,datasketch-readme", help="dedup rows to run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "dedup.json"))
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "novelty":
        print(json.dumps(phase_novelty(args.stream, args.sample, args.seed, args.topic_vocab)))
        return
    if args.phase:
        print(json.dumps(phase_dedup(args.phase, args.records, args.seed)))
        return

    load_before = os.getloadavg()
    results: dict[str, Any] = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                                           "cpus": os.cpu_count(), "loadavg_before": load_before}}
    if args.only in (None, "dedup"):
        rows = [run_child(["--phase", row, "--records", str(args.records), "--seed", str(args.seed)])
                for row in args.rows.split(",")]
        results["dedup"] = rows
        print(f"\nDedup of {args.records:,} synthetic instruction records (one process per row, one core each)")
        print(f"{'row':<18} {'records':>8} {'seconds':>8} {'rec/s':>8} {'CPU s':>7} {'rec/CPU-s':>9} {'dropped':>8} {'recall':>14} {'J>=.9':>6} {'false drops':>11} {'peak RSS':>9} {'growth':>8}")
        for r in rows:
            recall = f"{r['planted_found']}/{r['planted']} {r['recall']:.3f}" if r["recall"] is not None else "-"
            print(f"{r['row']:<18} {r['records']:>8} {r['seconds']:>8.1f} {r['records_per_s']:>8} {r['cpu_seconds']:>7.1f} "
                  f"{r['records_per_cpu_s']:>9} {r['dropped']:>8} "
                  f"{recall:>14} {r['recall_jaccard_0.9'] or '-':>6} {r['dropped_unplanted']:>11} {r['peak_rss_mb']:>7.0f}MB {r['growth_mb']:>6.0f}MB")
        ours = [r for r in rows if r["row"] in ("exact", "minhash")]
        if len(ours) == 2:
            total, cpu = sum(r["seconds"] for r in ours), sum(r["cpu_seconds"] for r in ours)
            print(f"exact + minhash: {total:.1f} s wall ({cpu:.1f} s CPU) for {args.records:,} records "
                  f"({args.records / total:,.0f} records/s wall, {args.records / cpu:,.0f} per CPU second)")
    if args.only in (None, "novelty"):
        r = run_child(["--phase", "novelty", "--stream", str(args.stream), "--sample", str(args.sample),
                       "--seed", str(args.seed), "--topic-vocab", str(args.topic_vocab)])
        results["novelty"] = r
        print(f"\nROUGE-L novelty gate (threshold 0.7) on {r['stream']:,} instructions: kept {r['kept']:,}, dropped {r['dropped']:,}")
        print(f"{'method':<46} {'CPU seconds':>11} {'instr/CPU-s':>11} {'speedup':>8}")
        print("(the 2-core row: the 1-core CPU time halved, i.e. the wall time of a perfect 2-process pool)")
        print(f"{'syllabus NoveltyIndex (whole stream)':<46} {r['gate_cpu_seconds']:>11.2f} {r['gate_per_cpu_s']:>11} {'':>8}")
        print(f"{'exact pairwise, rouge_score, 1 core (extrap.)':<46} {r['exact_extrapolated_cpu_seconds']:>11.0f} "
              f"{r['stream'] / r['exact_extrapolated_cpu_seconds']:>11.1f} {r['speedup_vs_1core']:>7.1f}x")
        print(f"{'exact pairwise, 2 idle cores, ideal (extrap.)':<46} {r['exact_extrapolated_2core_ideal_seconds']:>11.0f} "
              f"{r['stream'] / r['exact_extrapolated_2core_ideal_seconds']:>11.1f} {r['speedup_vs_2core_ideal']:>7.1f}x")
        print(f"baseline measured on {r['sample_positions']} positions ({r['sample_pairs']:,} pairs, {r['sample_cpu_seconds']} CPU s, "
              f"{r['cpu_us_per_pair']} us/pair); the whole stream needs {r['pairs_exact_needs']:,} pairs; "
              f"the gate computed {r['gate_lcs_computations']:,} LCS")
        print(f"agreement on the sampled positions: {r['agreement']:.2%} ({r['sample_above_threshold']} of them above the threshold)")
    results["machine"]["loadavg_after"] = os.getloadavg()
    print(f"\nload average before {load_before[0]:.2f}, after {results['machine']['loadavg_after'][0]:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
