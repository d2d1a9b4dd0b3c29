"""The docstring examples of the inference-time methods run (fake models only)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "syllabus.methods",
    "syllabus.methods.answers",
    "syllabus.methods.ape",
    "syllabus.methods.base",
    "syllabus.methods.beam",
    "syllabus.methods.bm25",
    "syllabus.methods.i3c",
    "syllabus.methods.prompting",
    "syllabus.methods.refine",
    "syllabus.methods.rewards",
    "syllabus.methods.sampling",
    "syllabus.methods.spec",
    "syllabus.methods.sweep",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
