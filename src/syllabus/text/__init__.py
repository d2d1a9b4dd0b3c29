"""Text utilities shared by generation and curation (pure Python, no heavy imports).

- :mod:`syllabus.text.rouge`: ROUGE-L exactly as ``rouge_score`` computes it, and
  :class:`~syllabus.text.rouge.NoveltyIndex`, the exact sub-quadratic ROUGE-L novelty gate
  that Self-Instruct-style generators and the curation index share.
"""

from __future__ import annotations

from syllabus.text.rouge import NoveltyIndex, lcs_length, rouge_l, tokenize

__all__ = ["NoveltyIndex", "lcs_length", "rouge_l", "tokenize"]
