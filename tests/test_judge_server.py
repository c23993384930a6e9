"""The embedded judge's process management, with a fake ``llama_cpp.server`` (the real one: test_judge_llama.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.stub_judge_server import StubJudgeServer, closed_port
from verif_nb.cli import main as cli_main
from verif_nb.errors import JudgeError
from verif_nb.judge import JudgeClient
from verif_nb.judge import server as server_mod
from verif_nb.judge.server import (
    embedded_judge,
    read_pid_file,
    server_status,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parents[1]
FAKE_MAIN = textwrap.dedent('''
    """Stand-in for llama_cpp.server: the same command line, an OpenAI-style answer."""
    import argparse, json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    p = argparse.ArgumentParser()
    for name in ("--model", "--model_alias", "--host", "--port", "--n_threads", "--n_threads_batch", "--n_ctx",
                 "--logits_all"):
        p.add_argument(name)
    args = p.parse_args()
    if os.environ.get("FAKE_LLAMA_CRASH"):
        print("error: failed to load model (fake)", flush=True)
        sys.exit(3)

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass
        def _json(self, obj):
            body = json.dumps(obj).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        def do_GET(self):
            self._json({"data": [{"id": args.model_alias}]})
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._json({"choices": [{"message": {"content": "[[1]]"}}], "usage": {"prompt_tokens": 5,
                        "completion_tokens": 2}})

    print("fake llama server on", args.port, flush=True)
    HTTPServer((args.host, int(args.port)), H).serve_forever()
''')


@pytest.fixture
def fake_llama(tmp_path, monkeypatch):
    pkg = tmp_path / "fake" / "llama_cpp" / "server"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(FAKE_MAIN)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    monkeypatch.setenv("VERIF_NB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(server_mod, "llama_available", lambda: True)
    gguf = tmp_path / "tiny-judge.gguf"
    gguf.write_bytes(b"GGUF")
    ports: list[int] = []
    yield str(gguf), ports
    for port in ports:  # never leave a server behind, even when a test fails
        stop_server(port)


def test_start_health_pid_file_reuse_and_stop(fake_llama):
    gguf, ports = fake_llama
    port = closed_port()
    ports.append(port)
    info = start_server(gguf, port=port, threads=1, ctx=512, wait_s=30)
    assert info.base_url == f"http://127.0.0.1:{port}/v1" and info.model == "tiny-judge"
    recorded = read_pid_file(port)
    assert recorded.pid == info.pid and "llama_cpp.server" in recorded.cmdline
    assert psutil.Process(info.pid).is_running()
    status = server_status(port)
    assert status["running"] and status["healthy"] and status["pid"] == info.pid
    assert "fake llama server" in open(info.log).read()
    out = JudgeClient(info.config(logprobs=False)).score_response("p", "r", ["c"])
    assert out.passed is True and out.prompt_tokens == 5
    assert start_server(gguf, port=port, wait_s=30).pid == info.pid  # already running: reused
    assert stop_server(port) is True
    assert not psutil.pid_exists(info.pid) or psutil.Process(info.pid).status() == psutil.STATUS_ZOMBIE
    assert read_pid_file(port) is None and server_status(port)["running"] is False
    assert stop_server(port) is False


def test_stop_never_kills_a_process_that_is_not_our_server(fake_llama, tmp_path):
    gguf, ports = fake_llama
    port = closed_port()
    ports.append(port)
    info = start_server(gguf, port=port, threads=1, wait_s=30)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file = server_mod._pid_file(port)
        # The recorded PID now belongs to another program (as after a reboot and PID reuse).
        pid_file.write_text(pid_file.read_text().replace(f'"pid": {info.pid}', f'"pid": {stranger.pid}'))
        assert server_status(port)["running"] is False
        assert stop_server(port) is False
        assert stranger.poll() is None, "an unrelated process must survive `judge stop`"
        assert not pid_file.exists()  # the stale PID file is cleared
    finally:
        stranger.kill()
        stranger.wait()
        psutil.Process(info.pid).terminate()


def test_a_server_that_dies_while_starting_reports_its_log(fake_llama, monkeypatch):
    gguf, ports = fake_llama
    monkeypatch.setenv("FAKE_LLAMA_CRASH", "1")
    port = closed_port()
    with pytest.raises(JudgeError, match=r"exited with code 3(.|\n)*failed to load model"):
        start_server(gguf, port=port, wait_s=30)
    assert read_pid_file(port) is None


def test_refuses_without_llama_or_on_a_busy_port(fake_llama, monkeypatch):
    gguf, _ = fake_llama
    with StubJudgeServer() as other:
        with pytest.raises(JudgeError, match="already in use"):
            start_server(gguf, port=other.port)
    monkeypatch.setattr(server_mod, "llama_available", lambda: False)
    with pytest.raises(JudgeError, match=r"pip install 'verif-nb\[judge\]'"):  # the extra, as every command says
        start_server(gguf, port=closed_port())


def test_embedded_judge_context_manager_cleans_up(fake_llama):
    gguf, _ = fake_llama
    with embedded_judge(gguf, threads=1, ctx=512, max_tokens=16) as config:
        pid = read_pid_file(int(config.base_url.rsplit(":", 1)[1].split("/")[0])).pid
        assert config.max_tokens == 16 and config.model == "tiny-judge"
        assert JudgeClient(config.replace(logprobs=False)).score_response("p", "r", ["c"]).passed is True
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_cli_serve_status_stop(fake_llama, capsys):
    gguf, ports = fake_llama
    port = closed_port()
    ports.append(port)
    assert cli_main(["judge", "status", "--port", str(port)]) == 1
    assert cli_main(["judge", "serve", "--model", gguf, "--port", str(port), "--threads", "1", "--ctx", "512"]) == 0
    assert f"ready at http://127.0.0.1:{port}/v1" in capsys.readouterr().out
    assert cli_main(["judge", "status", "--port", str(port)]) == 0
    assert cli_main(["judge", "stop", "--port", str(port)]) == 0
    assert "stopped" in capsys.readouterr().out
    assert cli_main(["judge", "serve", "--model", "/nonexistent/x.gguf", "--port", str(port)]) == 2


def test_embedded_judge_server_dies_with_its_owner(fake_llama, tmp_path):
    """A killed notebook kernel / script must not leave its judge server running (the watchdog stops it)."""
    gguf, ports = fake_llama
    port = closed_port()
    ports.append(port)
    owner_code = textwrap.dedent(f"""
        import sys, time
        from verif_nb.judge import server
        server.llama_available = lambda: True
        with server.embedded_judge({gguf!r}, port={port}, threads=1, ctx=512):
            print("UP", flush=True)
            time.sleep(120)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ["PYTHONPATH"]])}
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert owner.stdout.readline().strip() == "UP"
        pid = read_pid_file(port).pid
        owner.kill()  # SIGKILL: no finally block runs
        owner.wait()
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and psutil.pid_exists(pid)
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ):
            time.sleep(0.2)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert read_pid_file(port) is None
    finally:
        owner.kill()
