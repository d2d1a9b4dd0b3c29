"""Inference-time methods: prompting and search strategies that wrap any LLM and are LLMs.

``build_method("i3c+self-consistency:k=8", llm)`` returns an LLM, so every task runs under
every method (``syllabus eval --method SPEC``) and methods nest; the leftmost component
is the outermost wrapper. See ``docs/methods.md`` for each method and its options.

==================  ==========================================================
name                what it does
==================  ==========================================================
direct              the model itself (no wrapper)
cot                 zero-shot chain of thought
few-shot            k worked demonstrations: random, bm25 or complex selection
skic                skills and compositional exemplars in one context
self-consistency    k samples, majority or probability-weighted vote
best-of-n           n samples, the best by a reward (loglik, judge, random)
self-refine         feedback then rewrite, for a few rounds
spar-refine         tree search over refinements until a judge accepts one
beam                step-level beam search scored by a value function
i3c                 flag, verify and ignore irrelevant conditions
instruction         a fixed instruction, or the one APE chose, before the prompt
==================  ==========================================================

>>> from syllabus.llm.fake import EchoLLM
>>> build_method("cot+self-consistency:k=3,temperature=0", EchoLLM()).chain
'cot+self-consistency:k=3,temperature=0.0'
"""

from __future__ import annotations

from syllabus.methods.base import METHODS, Method, MethodGeneration, Spent
from syllabus.methods.spec import build_method, parse_method_spec

__all__ = ["METHODS", "Method", "MethodGeneration", "Spent", "build_method", "list_methods", "parse_method_spec"]

METHODS.register("cot", "syllabus.methods.prompting:ZeroShotCoT")
METHODS.register("few-shot", "syllabus.methods.prompting:FewShot")
METHODS.register("skic", "syllabus.methods.prompting:SKiC")
METHODS.register("self-consistency", "syllabus.methods.sampling:SelfConsistency")
METHODS.register("best-of-n", "syllabus.methods.sampling:BestOfN")
METHODS.register("self-refine", "syllabus.methods.refine:SelfRefine")
METHODS.register("spar-refine", "syllabus.methods.spar:SparRefine")
METHODS.register("beam", "syllabus.methods.beam:BeamSearch")
METHODS.register("i3c", "syllabus.methods.i3c:I3C")
METHODS.register("instruction", "syllabus.methods.ape:Instruction")
METHODS.register("eft", "syllabus.methods.logit_mix:EFT")
METHODS.register("poe", "syllabus.methods.logit_mix:PoE")


def list_methods() -> list[str]:
    """Every method name, ``direct`` included."""
    return ["direct", *METHODS.names()]
