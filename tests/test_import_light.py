"""`import syllabus` stays light: no torch, transformers, vLLM, llama.cpp, datasets or pyarrow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers", "vllm", "llama_cpp", "datasets", "pyarrow")


def modules_after(code: str) -> set[str]:
    """Run ``code`` in a fresh interpreter and return the names in its sys.modules."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_import_and_fake_model_load_no_heavy_package():
    modules = modules_after("""
        import syllabus
        import syllabus.llm
        from syllabus.llm import load_llm
        assert load_llm("fake:echo").chat("hi") == "hi"
    """)
    assert "syllabus" in modules and "syllabus.llm.fake" in modules
    assert heavy_in(modules) == []


def test_formats_and_backend_listing_load_no_heavy_package():
    modules = modules_after("""
        import syllabus.formats
        from syllabus.llm import BACKENDS
        from syllabus.formats import from_record, detect_format
        assert {"hf", "vllm", "llamacpp", "openai"} <= set(BACKENDS.names())
        assert detect_format({"instruction": "x"}) == "alpaca"
        from_record({"messages": [{"role": "user", "content": "q"}]})
    """)
    assert heavy_in(modules) == []
    # Listing the backends imported none of their modules.
    assert not {"syllabus.llm.hf", "syllabus.llm.vllm", "syllabus.llm.llamacpp", "syllabus.llm.openai"} & modules
