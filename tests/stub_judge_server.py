"""A local stub of an OpenAI-compatible chat endpoint that injects faults, for judge-client tests and benchmarks.

It listens on 127.0.0.1 on a free port, in a background thread, and answers
``POST /v1/chat/completions`` and ``GET /v1/models``. Faults:

- ``None``: answer ``answer`` (a string, or a callable ``body -> str``) after ``delay_s``;
- ``"500_storm"``: every request gets HTTP 500;
- ``"500_then_ok"`` / ``"429_then_ok"``: the first ``fail_first`` requests fail (429 with ``Retry-After: 0``);
- ``"slow"``: sleep ``slow_s`` before answering (to exceed the client's timeout);
- ``"garbage"``: a 200 whose answer has no verdict;
- ``"think"``: the answer is preceded by a ``<think>`` section containing a misleading verdict;
- ``"bad_json"``: a 200 whose body is not JSON;
- ``"unauthorized"``: HTTP 401 (not retryable).

``calls`` counts POSTs, ``max_in_flight`` the most handled at once.

With ``logprobs`` in the request it returns OpenAI-style ``logprobs.content`` where the verdict token
(1/0/Yes/No) has top alternatives with probability ``p_yes`` for the yes-side token.

Example:
    >>> with StubJudgeServer(answer="[[1]] ok") as stub:
    ...     import httpx
    ...     r = httpx.post(stub.url + "/chat/completions", json={"model": "m", "messages": []})
    >>> (r.json()["choices"][0]["message"]["content"], stub.calls)
    ('[[1]] ok', 1)
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GARBAGE_ANSWER = "Well, it is hard to say; the response has some merits and some flaws."
_TOKEN_RE = re.compile(r"\[\[|\]\]|<think>|</think>|\w+|\s+|[^\w\s]")
_VERDICT_TOKENS = {"1": "0", "0": "1", "Yes": "No", "No": "Yes", "yes": "no", "no": "yes", "是": "否", "否": "是"}
_YES_SIDE = {"1", "Yes", "yes", "是"}


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released).

    Example:
        >>> 0 < closed_port() < 65536
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen() backlog: must be a class attribute, it is used in __init__


class StubJudgeServer:
    """The stub server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        answer: str | Callable[[dict[str, Any]], str] = "[[1]] All constraints are met.",
        fault: str | None = None,
        delay_s: float = 0.0,
        fail_first: int = 2,
        slow_s: float = 5.0,
        p_yes: float = 0.8,
        model_id: str = "stub-judge",
    ):
        self.answer, self.fault, self.delay_s = answer, fault, delay_s
        self.fail_first, self.slow_s, self.p_yes, self.model_id = fail_first, slow_s, p_yes, model_id
        self.calls = 0
        self.in_flight = self.max_in_flight = 0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stub first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to put in ``JudgeConfig.base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        with self._lock:
            self.calls = self.max_in_flight = 0
            self.requests.clear()
            self.headers.clear()

    def start(self) -> StubJudgeServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/v1/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": stub.model_id}]}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.calls += 1
                    index = stub.calls
                    stub.requests.append(body)
                    stub.headers.append(dict(self.headers))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    status, payload, headers = stub._respond(index, body)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                self._send(status, payload, headers)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stub-judge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StubJudgeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- responses -------------------------------------------------------------------------------

    def _respond(self, index: int, body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        if self.delay_s:
            time.sleep(self.delay_s)
        fault = self.fault
        if fault == "500_storm" or (fault == "500_then_ok" and index <= self.fail_first):
            return 500, b'{"error": "internal server error (stub)"}', {}
        if fault == "unauthorized":
            return 401, b'{"error": "invalid api key (stub)"}', {}
        if fault == "429_then_ok" and index <= self.fail_first:
            return 429, b'{"error": "rate limited (stub)"}', {"Retry-After": "0"}
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "bad_json":
            return 200, b"<html>not json</html>", {}
        answer = self.answer(body) if callable(self.answer) else self.answer
        if fault == "garbage":
            answer = GARBAGE_ANSWER
        elif fault == "think":
            answer = "<think>At first glance I would say [[0]] / No, but let me check again.</think>\n" + answer
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": answer},
            "finish_reason": "stop",
        }
        if body.get("logprobs"):
            choice["logprobs"] = {"content": self._logprobs(answer, int(body.get("top_logprobs") or 5))}
        prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
        payload = {
            "id": f"stub-{index}",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_chars // 4 + 1,
                "completion_tokens": len(_TOKEN_RE.findall(answer)),
                "total_tokens": prompt_chars // 4 + 1 + len(_TOKEN_RE.findall(answer)),
            },
        }
        return 200, json.dumps(payload).encode(), {}

    def _logprobs(self, answer: str, top: int) -> list[dict[str, Any]]:
        content, verdict_done, after_think = [], False, "</think>" not in answer
        for token in _TOKEN_RE.findall(answer):
            entry: dict[str, Any] = {"token": token, "logprob": 0.0, "top_logprobs": [{"token": token, "logprob": 0.0}]}
            if token == "</think>":
                after_think = True
            elif after_think and not verdict_done and token in _VERDICT_TOKENS:
                verdict_done = True
                yes_tok, no_tok = (
                    (token, _VERDICT_TOKENS[token]) if token in _YES_SIDE else (_VERDICT_TOKENS[token], token)
                )
                p_yes = min(max(self.p_yes, 1e-6), 1 - 1e-6)
                alts = [
                    {"token": yes_tok, "logprob": math.log(p_yes)},
                    {"token": no_tok, "logprob": math.log(1 - p_yes)},
                ]
                entry = {
                    "token": token,
                    "logprob": next(a["logprob"] for a in alts if a["token"] == token),
                    "top_logprobs": sorted(alts, key=lambda a: -a["logprob"])[:top],
                }
            content.append(entry)
        return content


def main(argv: list[str] | None = None) -> None:
    """Run the stub in the foreground (its own process, so benchmarks do not share its GIL).

    Prints ``READY <base_url>`` once listening; serves until killed.
    """
    import argparse

    parser = argparse.ArgumentParser(description="stub OpenAI-compatible judge server")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to sleep per request")
    parser.add_argument("--answer", default="[[1]] All constraints are met.")
    parser.add_argument("--fault", default=None)
    args = parser.parse_args(argv)
    stub = StubJudgeServer(answer=args.answer, fault=args.fault, delay_s=args.delay).start()
    print(f"READY {stub.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
