"""The examples in docstrings run (modules that need no model)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "syllabus.errors",
    "syllabus.registry",
    "syllabus.record",
    "syllabus.llm",
    "syllabus.llm.base",
    "syllabus.llm.cache",
    "syllabus.llm.fake",
    "syllabus.llm.openai",
    "syllabus.formats",
    "syllabus.models",
    "syllabus.pipeline.runner",
    "syllabus.pipeline.respond",
    "syllabus.run",
    "syllabus.evaluate.trend",
    "syllabus.evaluate.stats",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
