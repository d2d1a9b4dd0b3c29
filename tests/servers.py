"""Local OpenAI-compatible servers for tests (127.0.0.1 only; they stop by themselves).

- :class:`FaultServer`: a small threaded HTTP server that speaks enough of the OpenAI API
  and misbehaves on cue (429 with Retry-After, 500, a hang, truncated JSON, 401, ...). It
  records every request (path, body, headers, arrival time) and the most requests it
  served at once.
- :func:`llama_cpp_server` / the ``llama_server`` fixture: the real llama-cpp-python
  server on the builtin SmolLM2 GGUF, started as a subprocess and always killed after.

>>> with FaultServer(script=[Fault.status(500)]) as server:
...     server.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = ["Fault", "FaultServer", "Recorded", "free_port", "llama_cpp_server", "llama_server"]


@dataclass(frozen=True)
class Fault:
    """What the server does with one request. Build with the class methods."""

    kind: str = "ok"  # ok | status | hang | truncated | cut
    code: int = 200
    message: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @classmethod
    def ok(cls) -> Fault:
        return cls("ok")

    @classmethod
    def status(cls, code: int, message: str = "", headers: dict[str, str] | None = None) -> Fault:
        """Answer ``code`` with an OpenAI-style error body."""
        return cls("status", code=code, message=message or f"scripted {code}", headers=tuple((headers or {}).items()))

    @classmethod
    def rate_limited(cls, retry_after: str) -> Fault:
        return cls.status(429, "Rate limit reached, slow down", {"Retry-After": retry_after})

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Say nothing for ``seconds`` (longer than the client's timeout), then hang up."""
        return cls("hang", seconds=seconds)

    @classmethod
    def truncated(cls) -> Fault:
        """A 200 whose JSON body stops half-way (Content-Length matches what is sent)."""
        return cls("truncated")

    @classmethod
    def cut(cls) -> Fault:
        """A 200 that promises more bytes than it sends, then closes the connection."""
        return cls("cut")


@dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    arrival: float  # time.monotonic() when the request line was read
    fault: Fault


@dataclass
class FaultServer:
    """An OpenAI-compatible test server with scripted faults.

    ``script`` is consumed one fault per request in arrival order; when it runs out,
    ``default`` applies. ``delay(body)`` gives the seconds a successful answer takes, so
    tests can make answers finish out of order. Successful answers echo the prompt:
    chat replies are ``"echo: <last user message>"``; ``/completions`` with ``echo`` and
    ``logprobs`` returns word-level tokens with log p = -0.5 per character (an uppercase
    word is "surprising": another token beats it in ``top_logprobs``).

    >>> with FaultServer() as server:
    ...     httpx.get(server.url + "/models").json()["data"][0]["id"]
    'fault'
    """

    script: list[Fault] = field(default_factory=list)
    default: Fault = field(default_factory=Fault.ok)
    delay: Callable[[dict[str, Any]], float] | None = None
    echo_logprobs: bool = True
    requests: list[Recorded] = field(default_factory=list, init=False)
    max_in_flight: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._queue: deque[Fault] = deque(self.script)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are hanging on purpose
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Called from handler threads.
    def _arrive(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Fault:
        with self._lock:
            fault = self._queue.popleft() if self._queue else self.default
            self.requests.append(Recorded(path, body, headers, time.monotonic(), fault))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return fault

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.delay is not None:
            self._stopping.wait(self.delay(body))
        if path.endswith("/chat/completions"):
            users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
            text, finish = _limit("echo: " + (users[-1] if users else ""), body)
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
            kind = "chat.completion"
        else:
            prompt = str(body.get("prompt", ""))
            if body.get("echo") and body.get("logprobs") is not None and self.echo_logprobs:
                choice = {"index": 0, "text": prompt + " end", "finish_reason": "length", "logprobs": _echo_logprobs(prompt)}
                text = " end"
            else:
                text, finish = _limit("echo: " + prompt, body)
                choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            kind = "text_completion"
        return {
            "id": "fault-1",
            "object": kind,
            "model": body.get("model", "fault"),
            "choices": [choice],
            "usage": {"prompt_tokens": 3, "completion_tokens": len(text.split()), "total_tokens": 3 + len(text.split())},
        }


def _limit(text: str, body: dict[str, Any]) -> tuple[str, str]:
    """Apply ``stop`` and ``max_tokens`` (one token = one word), like a real server."""
    for s in body.get("stop") or []:
        if s in text:
            text = text[: text.index(s)]
    words = text.split(" ")
    if len(words) > int(body.get("max_tokens") or 16):
        return " ".join(words[: int(body["max_tokens"])]), "length"
    return text, "stop"


def _echo_logprobs(prompt: str) -> dict[str, Any]:
    tokens = re.findall(r"\s*\S+", prompt) + [" end"]
    offsets, position = [], 0
    for t in tokens[:-1]:
        offsets.append(prompt.index(t, position))
        position = offsets[-1] + len(t)
    offsets.append(len(prompt))
    logprobs: list[float | None] = [None] + [-0.5 * len(t.strip()) for t in tokens[1:]]
    tops: list[dict[str, float] | None] = [None]
    for t, lp in zip(tokens[1:], logprobs[1:]):
        assert lp is not None
        tops.append({" OTHER": lp + 1.0, t: lp} if t.strip().isupper() else {t: lp})
    return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": offsets}


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": "fault", "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
            fault = server._arrive(self.path, body, {k.lower(): v for k, v in self.headers.items()})
            try:
                self._perform(fault, body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (its timeout); nothing to answer
            finally:
                server._leave()

        def _perform(self, fault: Fault, body: dict[str, Any]) -> None:
            if fault.kind == "hang":
                server._stopping.wait(fault.seconds)
                self.close_connection = True
                return
            if fault.kind == "status":
                self._send(fault.code, {"error": {"message": fault.message, "type": "scripted"}}, dict(fault.headers))
                return
            answer = json.dumps(server._answer(self.path, body)).encode()
            if fault.kind == "truncated":
                self._send_bytes(200, answer[: len(answer) // 2])
            elif fault.kind == "cut":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer[: len(answer) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self._send_bytes(200, answer)

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send_bytes(status, json.dumps(payload).encode(), headers)

        def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


# --------------------------------------------------------------------------- llama.cpp


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_cpp_server(model: Path, log: Path, *, n_ctx: int = 2048, deadline_s: float = 180.0) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on ``model``; yields the base URL (``.../v1``).

    Readiness is polled on ``/v1/models`` until ``deadline_s``; the process is terminated
    (then killed) on exit, whatever happened.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", "2",
        # chat_format is left unset: the server then uses the template stored in the GGUF.
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + deadline_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with code {process.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(url + "/models", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server not ready after {deadline_s:.0f} s:\n{_tail(log)}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a llama-cpp-python server running the builtin SmolLM2 model."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed (pip install 'syllabus[llamacpp]')")
    from syllabus.models import builtin_gguf_path

    model = builtin_gguf_path("smollm2-135m-instruct")
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with llama_cpp_server(model, log) as url:
        yield url
