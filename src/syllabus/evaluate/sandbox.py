"""Run untrusted, model-written Python in a separate, limited process.

Code-execution tasks (``humaneval``) must run what a model wrote. This module is the only
place syllabus does that. One call runs one program::

    >>> result = run_python("assert sum([1, 2]) == 3")
    >>> result.status, result.passed
    ('passed', True)
    >>> run_python("assert 1 + 1 == 3").status
    'failed'
    >>> run_python("while True: pass", Limits(timeout=1)).status
    'timeout'

What every run gets, in layers (each one stops what the others might miss):

1. **A fresh process.** ``python -I -S -B``: isolated mode (no ``PYTHON*`` variables, no
   user site, no current folder on ``sys.path``), no ``site`` (so no site-packages: the
   standard library only), no bytecode writing. The environment is empty, stdin reads
   ``/dev/null``, the working folder is a new temporary folder that is deleted afterwards.
2. **Resource limits** (``setrlimit`` in the child; hard limits cannot be raised):
   address space (``RLIMIT_AS``), CPU seconds, size of any file written (stdout and stderr
   included, since they go to files), open files, processes, no core dumps.
3. **A wall-clock timeout**: past it the whole process group is killed with ``SIGKILL``.
4. **Linux namespaces when the system allows them** (``unshare``): a new network namespace
   (no interface but a down loopback, so no connection can be made, not even to
   127.0.0.1) and a new PID namespace (when its first process exits, the kernel kills
   every process left in it, so nothing outlives the run). When syllabus runs as root,
   the child runs as user ``nobody`` instead, so it cannot write root's files or raise
   its limits, and the process limit applies to it.
5. **An audit hook** (:pep:`578`) installed before the program runs: it refuses sockets,
   subprocesses, ``os.system``, ``fork``/``exec``, signals to other processes, ``ctypes``,
   and writing, deleting or renaming files outside the working folder. Audit hooks are a
   tripwire, not a security boundary (code that reaches C-level calls without an audit
   event gets past them); that is why the layers above exist.

:func:`isolation` says which layers are active on this machine (namespaces need
``unshare`` and unprivileged user namespaces, or root). What is *not* guaranteed: reading
files the (possibly ``nobody``) user may read; CPU time stolen from other work up to the
limits; kernel exploits. Run evaluations of untrusted models inside a container or VM as well.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from syllabus.errors import ConfigError

__all__ = ["Limits", "SandboxResult", "isolation", "run_python"]

Status = Literal["passed", "failed", "timeout", "error"]

NOBODY = 65534  # the conventional unprivileged uid/gid
_TAIL = 2000  # characters of stdout/stderr kept in a result


@dataclass(frozen=True)
class Limits:
    """What one run may use.

    Attributes:
        timeout: wall-clock seconds before the process group is killed.
        memory_mb: address-space limit (``RLIMIT_AS``); allocations past it raise MemoryError.
        cpu_seconds: CPU-time limit; ``None`` means ``ceil(timeout) + 1``.
        file_size_mb: the largest file the program may write (stdout and stderr included).
        max_processes: ``RLIMIT_NPROC`` (not enforced by Linux for root; see module notes).
        max_open_files: ``RLIMIT_NOFILE``.
    """

    timeout: float = 5.0
    memory_mb: int = 512
    cpu_seconds: int | None = None
    file_size_mb: int = 16
    max_processes: int = 16
    max_open_files: int = 64

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigError(f"sandbox timeout must be > 0 seconds, got {self.timeout}")
        if self.memory_mb < 32:
            raise ConfigError(f"sandbox memory_mb must be >= 32 (Python itself needs ~20 MB), got {self.memory_mb}")

    @property
    def cpu(self) -> int:
        return self.cpu_seconds if self.cpu_seconds is not None else int(self.timeout) + 2


@dataclass(frozen=True)
class SandboxResult:
    """How one run ended.

    ``status`` is ``passed`` (exit code 0), ``failed`` (the program raised, exited non-zero
    or was killed by a signal other than the CPU limit, e.g. MemoryError or an assertion),
    ``timeout`` (wall clock or CPU limit) or ``error`` (the sandbox itself could not run it).
    """

    status: Status
    reason: str
    returncode: int | None
    stdout_tail: str
    stderr_tail: str
    duration: float
    cpu_seconds: float | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The first process in the sandbox. It forks: the child installs the limits and the audit
# hook and runs the program; this parent (PID 1 of the namespace when there is one) waits
# and writes how the child ended to the status pipe. Keeping the supervisor separate makes
# the outcome exact (a program killed by SIGXCPU is a timeout, not "exit 1"), and signals
# reach the program with their normal meaning (PID 1 would ignore most of them).
_SUPERVISOR = r"""
import json, os, resource, signal, sys, time
root, program, status_fd, limits = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
pid = os.fork()
if pid == 0:
    os.close(status_fd)
    for name, (soft, hard) in limits["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    sys.dont_write_bytecode = True
    if limits["guard"]:
        _root = os.path.realpath(root)
        _block = ("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                  "os.forkpty", "os.kill", "os.killpg", "signal.pthread_kill", "pty.", "ctypes.", "os.startfile",
                  "winreg.", "os.setuid", "os.setgid")
        _paths = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.link": (0, 1),
                  "os.symlink": (1,), "os.chmod": (0,), "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,),
                  "os.chdir": (0,), "shutil.rmtree": (0,), "os.chroot": (0,)}
        _write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
        def _inside(path):
            if isinstance(path, int):
                return True  # an already open file descriptor
            p = os.path.realpath(os.fsdecode(path))
            return p == _root or p.startswith(_root + os.sep)
        def _hook(event, args):
            if event.startswith(_block):
                raise PermissionError(f"sandbox: {event} is not allowed")
            if event == "open":
                path, mode, flags = args
                writes = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & _write_flags)
                if writes and path is not None and not _inside(path):
                    raise PermissionError(f"sandbox: writing {os.fsdecode(path)!r} outside the working folder")
            elif event in _paths:
                for i in _paths[event]:
                    if i < len(args) and args[i] is not None and not _inside(args[i]):
                        raise PermissionError(f"sandbox: {event} on {args[i]!r} outside the working folder")
            elif event == "import" and args[0] in ("ctypes", "_ctypes"):
                raise PermissionError("sandbox: ctypes is not allowed")
        sys.addaudithook(_hook)
    code = 0
    try:
        import runpy
        runpy.run_path(program, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass  # the program closed or broke it; its exit code still counts
    os._exit(code & 0xFF)
_, status, usage = os.wait4(pid, 0)
result = {"cpu": usage.ru_utime + usage.ru_stime}
if os.WIFSIGNALED(status):
    result["signal"] = os.WTERMSIG(status)
else:
    result["exit"] = os.WEXITSTATUS(status)
os.write(status_fd, json.dumps(result).encode())
"""


@dataclass(frozen=True)
class _Launcher:
    """How this machine starts a sandboxed interpreter (found once by probing)."""

    prefix: tuple[str, ...]  # e.g. ("/usr/bin/unshare", "-r", "-n", "-p", "-f", "--kill-child")
    python: str
    drop_to_nobody: bool

    @property
    def namespaces(self) -> bool:
        return bool(self.prefix)


def _interpreters() -> list[str]:
    """Python interpreters to try, ours first (an unprivileged user may not reach ours)."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    found = [base]
    for name in ("python3", f"python{sys.version_info.major}.{sys.version_info.minor}"):
        for folder in ("/usr/bin", "/usr/local/bin", "/bin"):
            candidate = os.path.realpath(os.path.join(folder, name))
            if os.access(candidate, os.X_OK) and candidate not in found:
                found.append(candidate)
    return found


def _candidates() -> list[_Launcher]:
    unshare = shutil.which("unshare")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    # -r: a user namespace (what lets an unprivileged user create the others); -n: network;
    # -p -f: a PID namespace whose first process is the forked child; --kill-child: if
    # unshare dies (our timeout kills it), the kernel kills that child, hence the namespace.
    ns = (unshare, "-r", "-n", "-p", "-f", "--kill-child") if unshare else None
    out: list[_Launcher] = []
    for python in _interpreters():
        if root:
            if ns:
                out.append(_Launcher(ns, python, True))
            out.append(_Launcher((), python, True))
        elif ns:
            out.append(_Launcher(ns, python, False))
    base = _interpreters()[0]
    if root and ns:
        out.append(_Launcher(ns[:1] + ns[2:], base, False))  # root without a user namespace
    out.append(_Launcher((), base, False))
    return out


@cache
def _launcher() -> _Launcher:
    """The strongest launcher that works here: namespaces and an unprivileged user first."""
    probe = "import sys; assert sys.version_info >= (3, 8)"
    for candidate in _candidates():
        result = _run(probe, Limits(timeout=10), candidate, guard=True)
        if result.passed:
            return candidate
    raise ConfigError("the code sandbox cannot start any Python interpreter on this machine")


def isolation() -> dict[str, Any]:
    """Which isolation layers are active on this machine.

    >>> sorted(isolation())
    ['network', 'pid_namespace', 'python', 'user']
    """
    launcher = _launcher()
    return {
        "network": "namespace" if launcher.namespaces else "audit-hook",
        "pid_namespace": launcher.namespaces,
        "user": "nobody" if launcher.drop_to_nobody else "current",
        "python": launcher.python,
    }


def run_python(code: str, limits: Limits | None = None, *, guard: bool = True) -> SandboxResult:
    """Run ``code`` as a program in the sandbox and say how it ended.

    ``guard=False`` leaves out the audit hook (tests use it to check that the namespaces
    alone stop network access); everything else always applies.
    """
    return _run(code, limits or Limits(), _launcher(), guard=guard)


def _rlimits(limits: Limits) -> dict[str, tuple[int, int]]:
    """(soft, hard) per limit. Only CPU has a gap: SIGXCPU at the soft limit ends the
    program in a way that says "CPU limit"; the hard limit (SIGKILL) one second later
    catches a program that ignores SIGXCPU."""
    mb = 1 << 20
    same = {
        "RLIMIT_AS": limits.memory_mb * mb,
        "RLIMIT_FSIZE": limits.file_size_mb * mb,
        "RLIMIT_NOFILE": limits.max_open_files,
        "RLIMIT_NPROC": limits.max_processes,
        "RLIMIT_CORE": 0,
    }
    return {"RLIMIT_CPU": (limits.cpu, limits.cpu + 1), **{name: (v, v) for name, v in same.items()}}


def _tail(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4 * _TAIL))
        return f.read().decode("utf-8", errors="replace")[-_TAIL:]


def _wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` exits (True) or ``timeout`` passes (False), without reaping it."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.02)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group: unshare, supervisor, program
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def _remove(folder: Path) -> None:
    def fix(func: Any, path: str, _: Any) -> None:
        # The program may have made its files read-only; root or the owner can undo that.
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass

    shutil.rmtree(folder, onerror=fix)


def _run(code: str, limits: Limits, launcher: _Launcher, *, guard: bool) -> SandboxResult:
    private = Path(tempfile.mkdtemp(prefix="syllabus-sandbox-io-"))  # outputs, out of the program's reach
    work = Path(tempfile.mkdtemp(prefix="syllabus-sandbox-"))
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    try:
        program = work / "main.py"
        program.write_text(code, encoding="utf-8")
        if launcher.drop_to_nobody:
            os.chown(work, NOBODY, NOBODY)
            os.chown(program, NOBODY, NOBODY)
        settings = json.dumps({"rlimits": _rlimits(limits), "guard": guard})
        command = [*launcher.prefix, launcher.python, "-I", "-S", "-B", "-c", _SUPERVISOR,
                   str(work), str(program), str(write_fd), settings]
        user = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if launcher.drop_to_nobody else {}
        with (private / "stdout").open("wb") as out, (private / "stderr").open("wb") as err:
            try:
                proc = subprocess.Popen(
                    command, cwd=work, env={}, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    pass_fds=(write_fd,), start_new_session=True, close_fds=True, **user,
                )
            except OSError as e:
                return SandboxResult("error", f"could not start the sandbox: {e}", None, "", "", 0.0)
            os.close(write_fd)
            write_fd = -1
            try:
                timed_out = not _wait_unreaped(proc.pid, limits.timeout)
            finally:
                # The process is still unreaped here, so its group id cannot have been reused:
                # killing the group is safe, and it ends anything the program left behind
                # (which the PID namespace would do anyway where there is one).
                _kill(proc)
                proc.wait()
        duration = time.monotonic() - start
        status_text = os.read(read_fd, 4096).decode() if not timed_out else ""
        stdout, stderr = _tail(private / "stdout"), _tail(private / "stderr")
        return _classify(timed_out, status_text, proc.returncode, stdout, stderr, duration, limits)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        _remove(work)
        _remove(private)


def _classify(
    timed_out: bool, status_text: str, returncode: int, stdout: str, stderr: str, duration: float, limits: Limits
) -> SandboxResult:
    def result(status: Status, reason: str, code: int | None, cpu: float | None = None) -> SandboxResult:
        return SandboxResult(status, reason, code, stdout, stderr, round(duration, 3), cpu)

    if timed_out:
        return result("timeout", f"wall clock over {limits.timeout:g} s", None)
    try:
        status = json.loads(status_text)
    except ValueError:
        return result("error", f"the sandbox supervisor ended without a status (exit code {returncode})", returncode)
    cpu = round(float(status["cpu"]), 3)
    if "signal" in status:
        sig = int(status["signal"])
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu):
            return result("timeout", f"CPU limit of {limits.cpu} s", -sig, cpu)
        return result("failed", f"killed by {name}", -sig, cpu)
    code = int(status["exit"])
    if code == 0:
        return result("passed", "exit code 0", 0, cpu)
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {code}"
    return result("failed", last[-300:], code, cpu)
