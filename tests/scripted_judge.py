"""A stub OpenAI-compatible judge scripted per request, for the differential test of the reference profile.

Each request is keyed by the case and channel tags it carries (``«c17»`` for case 17's main scoring call,
``«c17/f2»`` for a judge call made by rule function 2 of case 17; the generator writes the tags into the
instruction, the response or the rule code's call arguments) and by how many times that key was asked before
(the attempt). The script maps ``case -> channel -> [step, ...]``; attempt *k* gets step *k* (the last one
again past the end). A step sets the latency, the HTTP status and the body's shape, so one server run serves
hundreds of cases, each with its own faults: HTTP 500 then success, slow replies, ``[[n]]`` variants, a null
content, content parts, a text-only choice, a body that is not a chat completion, malformed JSON.

Every request body is logged with its key and attempt, for comparing what each side sent.

Example:
    >>> import httpx
    >>> script = {"c1": {"score": [{"status": 500}, {"content": "[[1]] fine"}]}}
    >>> with ScriptedJudge(script) as judge:
    ...     bodies = [{"model": "m", "messages": [{"role": "user", "content": "about «c1»"}]}] * 2
    ...     replies = [httpx.post(judge.url + "/chat/completions", json=b) for b in bodies]
    >>> [r.status_code for r in replies], replies[1].json()["choices"][0]["message"]["content"]
    ([500, 200], '[[1]] fine')
    >>> [(entry["case"], entry["channel"], entry["attempt"]) for entry in judge.log]
    [('c1', 'score', 0), ('c1', 'score', 1)]
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TAG = re.compile(r"«(c\d+)(?:/(f\d+))?»")
SHAPES = ("chat", "null", "parts", "text_choice", "list_body", "not_chat", "bad_json", "empty_choices", "no_message")


def request_key(body: Any) -> tuple[str | None, str]:
    """(case, channel) of a request body: the first case tag anywhere in it, the first function tag's channel.

    Example:
        >>> request_key({"messages": [{"role": "user", "content": "R: x «c3» E: «c3/f1»"}]})
        ('c3', 'f1')
        >>> request_key({"messages": [{"role": "user", "content": "no tag"}]})
        (None, 'score')
    """
    text = json.dumps(body, ensure_ascii=False)
    tags = TAG.findall(text)
    case = tags[0][0] if tags else None
    channel = next((f for _, f in tags if f), "score")
    return case, channel


def reply_body(step: dict[str, Any], index: int) -> tuple[int, bytes]:
    """The status and body bytes a step asks for.

    Example:
        >>> reply_body({"shape": "list_body"}, 1)
        (200, b'[[1]]')
        >>> json.loads(reply_body({"content": "[[0]]"}, 1)[1])["choices"][0]["message"]["content"]
        '[[0]]'
    """
    status = int(step.get("status", 200))
    if status != 200:
        return status, json.dumps({"error": {"message": f"stub status {status}", "type": "server_error"}}).encode()
    shape, content = step.get("shape", "chat"), step.get("content", "[[1]]")
    if shape == "list_body":
        return 200, b"[[1]]"
    if shape == "not_chat":
        return 200, json.dumps({"object": "list", "result": "[[1]]", "data": [content]}).encode()
    if shape == "bad_json":
        return 200, b'{"choices": [{"message": {"content": "[[1]]"'
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    if shape == "null":
        choice["message"]["content"] = None
    elif shape == "parts":
        choice["message"]["content"] = [{"type": "text", "text": content}]
    elif shape == "text_choice":
        choice = {"index": 0, "text": content, "finish_reason": "stop"}
    elif shape == "no_message":
        choice = {"index": 0, "finish_reason": "stop"}
    payload = {
        "id": f"scripted-{index}",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [] if shape == "empty_choices" else [choice],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return 200, json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")


class ScriptedJudge:
    """The server: ``script`` as described above; ``default`` answers requests no script entry covers."""

    def __init__(self, script: dict[str, dict[str, list[dict[str, Any]]]], default: dict[str, Any] | None = None):
        self.script = script
        self.default = default or {"content": "[[1]]"}
        self.log: list[dict[str, Any]] = []
        self._attempts: Counter[tuple[str | None, str]] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _step(self, body: Any) -> tuple[dict[str, Any], int]:
        case, channel = request_key(body)
        with self._lock:
            attempt = self._attempts[(case, channel)]
            self._attempts[(case, channel)] += 1
            self.log.append({"case": case, "channel": channel, "attempt": attempt, "body": body})
            index = len(self.log)
        steps = self.script.get(case or "", {}).get(channel) or [self.default]
        return steps[min(attempt, len(steps) - 1)], index

    def start(self) -> ScriptedJudge:
        judge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:  # logged as received, so a side that sends broken JSON shows up
                    body = {"unparsable": raw.decode("utf-8", "replace")}
                step, index = judge._step(body)
                if step.get("delay"):
                    time.sleep(float(step["delay"]))
                status, payload = reply_body(step, index)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedJudge:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
