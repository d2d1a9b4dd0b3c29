"""The examples in docstrings run, in every module of the package.

Modules are found by walking the package, so a new module's examples are tested without
anyone adding it to a list. Examples that need a real model are written as plain text (no
``>>>``); the few modules that cannot be imported without optional extras are skipped.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import syllabus

# ``__main__`` modules run a command when imported.
MODULES = sorted(m.name for m in pkgutil.walk_packages(syllabus.__path__, "syllabus.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:  # an optional extra (vllm, ray) that is not installed
        pytest.skip(f"{name}: {e}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
