"""Kill ``syllabus generate`` mid-run, run it again, and compare with an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from syllabus.pipeline import read_stage

WORKER = Path(__file__).with_name("gen_resume_worker.py")


def start(run_dir: Path, log: Path, delay: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(run_dir), str(log), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes]) -> None:
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode() if proc.stderr else ""


def records(run_dir: Path) -> list[dict]:
    return [e.to_dict() for e in read_stage(run_dir / "r00" / "01_generate")]


def test_killed_generation_resumes_with_the_same_ids_and_no_duplicates(tmp_path):
    ref_dir = tmp_path / "ref"
    finish(start(ref_dir, tmp_path / "ref.log", 0.0))
    expected = records(ref_dir)
    report = json.loads((ref_dir / "r00" / "01_generate" / "generation.json").read_text())
    assert report["kept"] == 40 and len(report["phases"]) >= 2, "the toy generator must need several rounds"

    run_dir, log = tmp_path / "run", tmp_path / "run.log"
    proc = start(run_dir, log, 0.02)
    phases = run_dir / "r00" / "01_generate" / "phases"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once the first round has finished shards and more are under way
        done = list(phases.glob("*/done/*")) if phases.exists() else []
        if len(done) >= 2:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert not (run_dir / "r00" / "01_generate" / "generation.json").exists(), "the kill must land mid-run"

    finish(start(run_dir, log, 0.0))
    got = records(run_dir)
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids)) == 40
    assert got == expected
