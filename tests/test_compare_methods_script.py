"""scripts/compare_methods.py (the table of docs/methods.md) on a fake model: rows, pairing, cost columns."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_methods.py"


def _load():
    spec = importlib.util.spec_from_file_location("compare_methods", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_method_is_compared_with_direct_on_the_same_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _load()
    methods = ["direct", "cot", "self-consistency:k=2"]
    assert script.main(["--models", "fake:echo", "--methods", *methods, "--tasks", "arith-ic", "--limit", "3", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "table.json").read_text())
    assert [r["method"] for r in rows] == methods
    direct, cot, sc = rows
    assert "diff" not in direct and direct["n"] == cot["n"] == sc["n"] == 3
    assert cot["low"] <= cot["diff"] <= cot["high"] and cot["verdict"]
    assert sc["calls"] == 2 and direct["calls"] == 1  # the cost columns come from each report
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n") == 2 + len(methods) and table in capsys.readouterr().out  # printed as written


def test_the_baseline_must_be_direct(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _load().main(["--methods", "cot", "direct", "--out", str(tmp_path)])
