"""The code sandbox: outcomes, limits, no network, contained files, nothing left running."""

from __future__ import annotations

import doctest
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from syllabus import ConfigError
from syllabus.evaluate import sandbox
from syllabus.evaluate.sandbox import Limits, isolation, run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox uses Linux rlimits and namespaces")


def test_outcomes():
    assert run_python("assert sorted([3, 1, 2]) == [1, 2, 3]").status == "passed"
    failed = run_python("def f(x):\n    return x\nassert f(1) == 2, 'f is wrong'")
    assert failed.status == "failed" and "AssertionError: f is wrong" in failed.stderr_tail and failed.returncode == 1
    assert run_python("def f(:\n").status == "failed"
    assert run_python("import sys; sys.exit(3)").returncode == 3
    printed = run_python("print('hello')")
    assert printed.stdout_tail == "hello\n" and printed.to_dict()["status"] == "passed"


def test_an_endless_loop_times_out_on_the_wall_clock():
    start = time.monotonic()
    result = run_python("while True:\n    pass", Limits(timeout=1.0))
    assert result.status == "timeout" and "wall clock" in result.reason
    assert time.monotonic() - start < 5


def test_the_cpu_limit_also_ends_a_busy_program():
    result = run_python("while True:\n    pass", Limits(timeout=8.0, cpu_seconds=1))
    assert result.status == "timeout" and "CPU limit" in result.reason


def test_a_memory_bomb_is_stopped():
    result = run_python("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))", Limits(memory_mb=128))
    assert result.status == "failed" and "MemoryError" in result.stderr_tail
    assert result.duration < 5


def test_output_floods_are_cut_by_the_file_size_limit():
    result = run_python("while True:\n    print('x' * 10000)", Limits(file_size_mb=1))
    assert result.status == "failed" and len(result.stdout_tail) <= 2000


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that records whether anyone connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    accepted: list[bool] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(True)
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def connect(port: int) -> str:
    return f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\nprint('connected')"


def test_no_connection_even_to_localhost(listener):
    port, accepted = listener
    result = run_python(connect(port))
    assert result.status == "failed" and "connected" not in result.stdout_tail
    assert not accepted


def test_network_namespace_alone_blocks_localhost(listener):
    if isolation()["network"] != "namespace":
        pytest.skip("no network namespace on this machine; the audit hook is the network guard")
    port, accepted = listener
    result = run_python(connect(port), guard=False)  # no audit hook: only the namespace stands in the way
    assert result.status == "failed" and ("unreachable" in result.stderr_tail or "refused" in result.stderr_tail)
    assert not accepted


def test_audit_hook_alone_blocks_sockets_without_namespaces(listener):
    port, accepted = listener
    plain = sandbox._Launcher((), sandbox._interpreters()[0], False)  # the fallback: no namespaces
    result = sandbox._run(connect(port), Limits(), plain, guard=True)
    assert result.status == "failed" and "socket.__new__ is not allowed" in result.stderr_tail
    assert not accepted


def test_runs_in_an_empty_temporary_folder_with_an_empty_environment():
    code = (
        "import os, sys\nprint(os.getcwd())\nprint(sorted(os.environ))\n"
        "print(os.listdir('.'))\nprint(sys.flags.isolated, sys.flags.no_site)"
    )
    result = run_python(code)
    cwd, env, listing, flags = result.stdout_tail.splitlines()
    assert Path(cwd).name.startswith("syllabus-sandbox-") and not Path(cwd).exists()  # removed afterwards
    # Python itself may set LC_CTYPE (PEP 538 locale coercion); nothing comes from our environment.
    assert set(eval(env)) <= {"LC_CTYPE"} and listing == "['main.py']" and flags == "1 1"


def test_shell_commands_and_writes_outside_the_folder_are_refused(tmp_path):
    outside = Path("/tmp") / f"syllabus-sandbox-escape-{uuid.uuid4().hex}"
    attempts = [
        f"import os\nos.system('touch {outside}')",
        f"import subprocess\nsubprocess.run(['touch', '{outside}'])",
        f"open('{outside}', 'w').write('x')",
        f"import os\nos.remove('{tmp_path}')",
        "import ctypes",
    ]
    for code in attempts:
        result = run_python(code)
        assert result.status == "failed" and "PermissionError: sandbox:" in result.stderr_tail, code
    assert not outside.exists() and tmp_path.exists()
    inside = run_python("open('notes.txt', 'w').write('ok')\nprint(open('notes.txt').read())")
    assert inside.status == "passed" and inside.stdout_tail == "ok\n"


def test_unprivileged_user_cannot_write_our_files_even_without_the_hook(tmp_path):
    if isolation()["user"] != "nobody":
        pytest.skip("not running as root: the program runs as the current user")
    target = tmp_path / "mine.txt"
    target.write_text("safe")
    result = run_python(f"open('{target}', 'w').write('overwritten')", guard=False)
    assert result.status == "failed" and "Permission denied" in result.stderr_tail
    assert target.read_text() == "safe"


def test_nothing_outlives_the_program():
    if not isolation()["pid_namespace"]:
        pytest.skip("no PID namespace on this machine")
    marker = Path("/tmp") / f"syllabus-sandbox-survivor-{uuid.uuid4().hex}"
    # A child that leaves the process group and would write a file later; guard off so it may fork.
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    time.sleep(1.0)\n"
        f"    open('{marker}', 'w').write('alive')\n"
        "    os._exit(0)\n"
    )
    assert run_python(code, guard=False).status == "passed"
    time.sleep(1.5)
    assert not marker.exists()


def test_isolation_report_and_limits_validation():
    info = isolation()
    assert info["network"] in ("namespace", "audit-hook") and os.path.exists(info["python"])
    with pytest.raises(ConfigError, match="timeout must be > 0"):
        Limits(timeout=0)
    with pytest.raises(ConfigError, match="memory_mb must be >= 32"):
        Limits(memory_mb=8)


def test_docstring_examples():
    assert doctest.testmod(sandbox).failed == 0
