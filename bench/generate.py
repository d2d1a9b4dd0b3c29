"""Generation throughput: plain transformers loops against the syllabus backends.

A fixed workload: N prompts of about 60 tokens (built deterministically from a word
list), greedy decoding, every row forced to generate exactly ``--new-tokens`` tokens.
Measured, each as generated tokens per second of wall time (prefill included, model
load excluded, after one untimed warm-up call):

1. ``loop``: ``model.generate`` one prompt at a time in float32 (the baseline), on the
   first ``--loop-prompts`` prompts only, because it is slow.
2. ``batched``: plain left-padded ``model.generate``, ``--batch-size`` prompts at a time,
   once per dtype in ``--batched-dtypes`` (bfloat16, the second baseline, and float32:
   on a CPU without native bf16 instructions bfloat16 is emulated and slow, and float32
   is the fair comparison).
3. ``hf``: the syllabus ``hf`` backend at its defaults (dtype auto, batch 16), with the
   ``ignore_eos`` option so that every row generates the full length.
4. ``llamacpp``: the syllabus ``llamacpp`` backend on the same model's GGUF file
   (skipped, with the reason, when it cannot be built). It has no ignore-EOS switch, so
   its figure counts the tokens it actually generated; the table shows how many.

Usage::

    python bench/generate.py                       # the full workload (several minutes)
    python bench/generate.py --prompts 16 --new-tokens 16 --only hf,llamacpp
    python bench/generate.py --out /tmp/generate.json --hf-options '{"dtype": "float32"}'
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WORDS = (
    "river mountain quiet engine garden winter letter market silver ocean museum window "
    "history science village harbor teacher student library morning evening thunder forest "
    "painter kitchen station journey machine theory planet candle bridge meadow lantern "
    "doctor signal castle desert island orchard pencil rocket shadow valley weather"
).split()
TOPICS = (
    "the history of a small harbor town",
    "how a steam engine works",
    "a recipe for winter soup",
    "the life of a village teacher",
    "why the sky changes colour in the evening",
    "a journey across the desert",
    "the rules of a board game",
    "the design of a suspension bridge",
)
METHODS = ("loop", "batched", "hf", "llamacpp")


def build_prompts(tokenizer: Any, n: int, target: int = 60) -> list[str]:
    """``n`` deterministic prompts of ``target - 4`` to ``target + 4`` tokens (BOS included)."""
    prompts = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(80)]
        text = f"Chapter {i + 1}. This is a long essay about {TOPICS[i % len(TOPICS)]}. " + " ".join(words)
        ids = tokenizer(text).input_ids[: target - 4 + i % 9]
        prompts.append(tokenizer.decode(ids, skip_special_tokens=True))
    return prompts


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    tokens = fn()
    return tokens, time.perf_counter() - start


def plain_generate(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int, batch_size: int) -> int:
    """Left-padded greedy ``model.generate``, ``batch_size`` prompts at a time."""
    import torch

    tokenizer.padding_side = "left"
    generated = 0
    for start in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(
                **enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        generated += (out.shape[1] - enc.input_ids.shape[1]) * out.shape[0]
    return generated


def run_plain(path: str, dtype: str, prompts: list[str], new_tokens: int, batch_size: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
    load_s = time.perf_counter() - t0
    plain_generate(model, tokenizer, prompts[:batch_size], 2, batch_size)  # warm-up
    tokens, seconds = timed(lambda: plain_generate(model, tokenizer, prompts, new_tokens, batch_size))
    del model
    return {"dtype": dtype, "batch_size": batch_size, "prompts": len(prompts), "tokens": tokens, "seconds": seconds, "load_s": load_s}


def run_backend(spec: str, options: dict[str, Any], prompts: list[str], new_tokens: int) -> dict[str, Any]:
    from syllabus.llm import GenerateRequest, SamplingParams, load_llm

    t0 = time.perf_counter()
    llm = load_llm(spec, **options)
    load_s = time.perf_counter() - t0
    params = SamplingParams(max_tokens=new_tokens, temperature=0.0)
    requests = [GenerateRequest(prompt=p, params=params) for p in prompts]
    llm.generate([GenerateRequest(prompt=prompts[0], params=SamplingParams(max_tokens=2))])  # warm-up
    start = time.perf_counter()
    results = llm.generate(requests)
    seconds = time.perf_counter() - start
    tokens = sum(g.completion_tokens for g in results)
    info = llm.describe()
    llm.close()
    return {
        "spec": spec,
        "options": options,
        "describe": info,
        "prompts": len(prompts),
        "tokens": tokens,
        "forced_tokens": len(prompts) * new_tokens,
        "short_rows": sum(g.completion_tokens < new_tokens for g in results),
        "seconds": seconds,
        "load_s": load_s,
    }


def accepts(factory_path: str, option: str) -> bool:
    """Whether a backend class takes a keyword option (looked up without building it)."""
    import importlib

    module, _, name = factory_path.partition(":")
    target = getattr(importlib.import_module(module), name)
    return option in inspect.signature(target).parameters


def print_table(rows: dict[str, dict[str, Any]], skipped: dict[str, str]) -> None:
    base = rows.get("loop", {}).get("tok_s")
    header = f"{'method':<16} {'setup':<40} {'prompts':>7} {'tokens':>7} {'seconds':>8} {'tok/s':>8} {'vs loop':>8}"
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        ratio = f"{r['tok_s'] / base:.1f}x" if base else "-"
        print(f"{name:<16} {r['setup']:<40} {r['prompts']:>7} {r['tokens']:>7} {r['seconds']:>8.1f} {r['tok_s']:>8.1f} {ratio:>8}")
    for name, reason in skipped.items():
        print(f"{name:<16} skipped: {reason}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m", help="builtin model name (default: gemma-3-270m)")
    ap.add_argument("--prompts", type=int, default=64, help="number of prompts (default 64)")
    ap.add_argument("--new-tokens", type=int, default=64, help="tokens generated per prompt (default 64)")
    ap.add_argument("--batch-size", type=int, default=16, help="batch of the plain batched baseline (default 16)")
    ap.add_argument("--loop-prompts", type=int, default=8, help="prompts the one-at-a-time loop runs (default 8)")
    ap.add_argument("--batched-dtypes", default="bfloat16,float32", help="dtypes of the plain batched baseline")
    ap.add_argument("--batched-prompts", type=int, default=None, help="prompts the batched baseline runs (default all)")
    ap.add_argument("--hf-options", default="{}", help='JSON options for the hf backend, e.g. \'{"dtype": "float32"}\'')
    ap.add_argument("--llamacpp-options", default='{"n_parallel": 16}', help="JSON options for the llamacpp backend")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--only", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "generate.json"))
    args = ap.parse_args(argv)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(only) - set(METHODS)
    if unknown:
        ap.error(f"unknown method(s) {sorted(unknown)}; choose from {', '.join(METHODS)}")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoTokenizer

    from syllabus.llm.hf import _cpu_has_native_bf16
    from syllabus.models import builtin_hf_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    path = str(builtin_hf_dir(args.model))
    prompts = build_prompts(AutoTokenizer.from_pretrained(path), args.prompts)
    n = args.new_tokens
    load_before = os.getloadavg()[0]
    print(
        f"workload: builtin:{args.model}, {len(prompts)} prompts of ~60 tokens, {n} new tokens each, greedy; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16 CPU: {_cpu_has_native_bf16()}, load average {load_before:.2f}",
        flush=True,
    )

    raw: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    if "loop" in only:
        subset = prompts[: args.loop_prompts]
        print(f"loop: one prompt at a time, float32, on the first {len(subset)} prompts ...", flush=True)
        r = run_plain(path, "float32", subset, n, batch_size=1)
        raw["loop"] = {**r, "setup": f"model.generate x1, float32 ({len(subset)} prompts)"}
    if "batched" in only:
        subset = prompts[: args.batched_prompts or len(prompts)]
        for dtype in [d.strip() for d in args.batched_dtypes.split(",") if d.strip()]:
            print(f"batched: plain model.generate, {dtype}, batch {args.batch_size} ...", flush=True)
            r = run_plain(path, dtype, subset, n, batch_size=args.batch_size)
            raw[f"batched {dtype}"] = {**r, "setup": f"model.generate x{args.batch_size}, {dtype}"}
    if "hf" in only:
        options = {"ignore_eos": True, "progress": False, **json.loads(args.hf_options)}
        print(f"hf: syllabus hf backend {options} ...", flush=True)
        r = run_backend(f"builtin:{args.model}", options, prompts, n)
        d = r["describe"]
        raw["hf"] = {**r, "setup": f"syllabus hf, {d['dtype']}, batch {d['batch_size']}"}
    if "llamacpp" in only:
        options = json.loads(args.llamacpp_options)
        try:
            if accepts("syllabus.llm.llamacpp:LlamaCppLLM", "ignore_eos"):
                options.setdefault("ignore_eos", True)
            print(f"llamacpp: syllabus llamacpp backend {options} ...", flush=True)
            r = run_backend(f"llamacpp:builtin:{args.model}", options, prompts, n)
            setup = f"syllabus llamacpp, {json.dumps(options)}"
            if r["short_rows"]:
                setup += f" ({r['short_rows']} rows < {n})"
            raw["llamacpp"] = {**r, "setup": setup}
        except Exception as e:  # the backend is optional: report why, keep the other figures
            skipped["llamacpp"] = f"{type(e).__name__}: {e}"
    for r in raw.values():
        r["tok_s"] = r["tokens"] / r["seconds"]

    print()
    print_table(raw, skipped)
    load_after = os.getloadavg()[0]
    print(f"(load average before {load_before:.2f}, after {load_after:.2f}; figures on a shared or busy CPU vary a lot)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "workload": {"model": f"builtin:{args.model}", "prompts": len(prompts), "new_tokens": n, "greedy": True},
        "machine": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "native_bf16": _cpu_has_native_bf16(),
            "load_average": [load_before, load_after],
        },
        "results": raw,
        "skipped": skipped,
    }
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
