"""Kill a real generation process mid-run, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from syllabus.pipeline import read_stage

WORKER = Path(__file__).with_name("resume_worker.py")
N, SHARD, DELAY = 24, 4, 0.05


def start(run_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(run_dir), str(log), str(N), str(SHARD), str(DELAY)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_killed_run_resumes_without_loss_or_duplication(tmp_path):
    # Reference: one uninterrupted run.
    ref_dir, ref_log = tmp_path / "ref", tmp_path / "ref.log"
    ref = start(ref_dir, ref_log)
    assert ref.wait(timeout=120) == 0, ref.stderr.read().decode() if ref.stderr else ""
    expected = [e.to_dict() for e in read_stage(ref_dir / "r00" / "01_generate")]
    assert len(expected) == 2 * N

    # Interrupted: SIGKILL once a couple of shards are done and the next one is under way.
    run_dir, log = tmp_path / "run", tmp_path / "run.log"
    proc = start(run_dir, log)
    done_dir = run_dir / "r00" / "01_generate" / "done"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if done_dir.exists() and len(list(done_dir.iterdir())) >= 2 and len(calls(log)) % (2 * SHARD) >= 3:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    paid_before = calls(log)
    done_before = len(list(done_dir.iterdir()))
    assert 2 <= done_before < N // SHARD, "the kill must land mid-run"
    assert len(paid_before) > done_before * SHARD * 2, "a shard was in progress when killed"
    # No partial shard file is visible: only complete shards (temp files are hidden dot-files).
    visible = sorted(p.name for p in (done_dir.parent / "shards").glob("*.jsonl"))
    assert len(visible) == done_before

    resumed = start(run_dir, log)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read().decode() if resumed.stderr else ""
    got = [e.to_dict() for e in read_stage(run_dir / "r00" / "01_generate")]

    assert got == expected  # same output, same order, exactly once each
    assert len({e["id"] for e in got}) == 2 * N
    # Requests answered before the kill came from the cache. The cache stores a batch when
    # the model returns it, so at most the one batch in flight at the kill is paid twice.
    paid = calls(log)
    assert len(set(paid)) == 2 * N
    batch_requests = 2 * 2  # batch_size 2 prompts x n=2 samples in resume_worker.py
    assert len(paid) - len(set(paid)) <= batch_requests
