"""SandboxPool: runs dataset-supplied ``check_following`` code in a fresh, locked-down process per function.

The caller's process never executes the code. Each worker is a clean zygote (see ``_worker.py``) started inside
the kernel layers of ``_isolation.py``; it forks children that load a seccomp filter and wait, and passes each
one's socket to the parent, which sends it one function and all the responses to check with it; the child
answers and is killed after the batch. This module is the parent's side, and it trusts nothing it reads: each
child's byte stream is parsed against a strict binary schema with size caps, and a reply that does not fit is
that function's error, never the caller's crash. The parent alone keeps time, from its own clock,
per check: a check past ``timeout_s`` + grace gets its child killed (through the zygote, or the whole worker if
the zygote does not confirm). A crash or time-out is charged to the check that was running; the checks queued
behind it run again in a new child.

Example:
    >>> with SandboxPool(workers=1) as pool:
    ...     pool.check("def check_following(instruction, response):\\n    return len(response.split()) >= 2",
    ...                "instruction", "two words").passed
    True
"""

from __future__ import annotations

import collections
import functools
import itertools
import json
import logging
import marshal
import os
import queue
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from verif_nb.errors import SandboxError
from verif_nb.sandbox._isolation import LaunchPlan, launch_plan
from verif_nb.sandbox._policy import DEFAULT_ALLOWED_IMPORTS, compile_screened
from verif_nb.sandbox._settings import SandboxSettings
from verif_nb.sandbox._worker import WARM_UP_NAMES, encode_job

log = logging.getLogger(__name__)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
_ZFRAME_SIZE = 5  # kind byte + 4-byte length
_MAX_ZYGOTE_FRAME = 1 << 16  # zygote frames are small: ready, child, exit, warm
_RESULT = struct.Struct(">BIBIH")  # a verdict: type, u32 index, u8 status, u32 microseconds, u16 error length
_RESULT_SIZE = _RESULT.size
_MAX_ERROR_BYTES = 1000
_MAX_CALL_BYTES = 1 << 20
_KILL_CONFIRM_S = 2.0  # how long the zygote gets to confirm a kill before the whole worker goes
MAX_CALLS_PER_CHECK = 8  # host calls (llm_extract...) one check may make
# Finished children a worker lets wait for their SIGKILL until its batch is over (each holds the ~1-3 MB it
# copied from the zygote): beyond this, they are killed in the batch, whose exits then cost time inside it.
MAX_FINISHED = 64
_UNSANDBOXED_HINT = (
    "pass allow_unsandboxed=True (CLI: --allow-unsandboxed-code, params: "
    "sandbox.allow_unsandboxed: true) to run dataset code without it, at your own risk"
)


@functools.lru_cache(maxsize=4096)  # a GRPO run meets the same functions every epoch
def _screened(code: str, allowed: frozenset[str]) -> tuple[str | None, bytes | None]:
    """The static screen's verdict on ``code`` and, if it passes, its compiled form (marshal bytes) for the child.

    The parent already parses and compiles dataset code to screen it (nothing runs); sending the result spares
    each child a parse, a screen and a compile in a cold process.
    """
    problem, compiled = compile_screened(code, allowed)
    return problem, (marshal.dumps(compiled) if compiled is not None else None)


@dataclass
class CheckTask:
    """One check: dataset code defining ``check_following``, and the arguments to call it with.

    Example:
        >>> CheckTask("def check_following(i, r):\\n    return True", "instruction", "hi").instruction
        'instruction'
    """

    code: str
    instruction: str
    response: str


@dataclass
class CheckResult:
    """The outcome of one check: ``passed`` True/False, or None with ``error`` saying what happened.

    ``seconds`` is the time the check took, by the caller's clock (the function's definition included for the
    first check of a function).

    Example:
        >>> CheckResult(passed=None, error="timed out after 2.0 s", seconds=2.0).passed is None
        True
    """

    passed: bool | None
    error: str | None
    seconds: float


class _WorkerLost(Exception):
    """The zygote died, hung or sent something it never sends; the whole worker is replaced."""


class _ChildStream:
    """Parses one child's records, trusting nothing: sequential indices, known types, capped sizes."""

    def __init__(self, count: int):
        self.count, self.expected, self.defined = count, 0, False
        self.buffer = bytearray()
        self.total, self.cap = 0, count * (_RESULT_SIZE + _MAX_ERROR_BYTES) + 64 * _MAX_CALL_BYTES

    def feed(self, data: bytes) -> tuple[list[tuple], str | None]:
        """Returns (records, problem); records are ('defined',), ('result', passed, error, seconds as the child
        measured them), ('call', name, args)."""
        self.total += len(data)
        if self.total > self.cap:
            return [], f"sent more than {self.cap} bytes"
        self.buffer += data
        records: list[tuple] = []
        buf = self.buffer
        at, end = 0, len(buf)
        try:
            while at < end:
                kind = buf[at]
                if kind == 2:
                    if end - at < _RESULT_SIZE:
                        break
                    _, index, status, micros, size = _RESULT.unpack_from(buf, at)
                    if index >= self.count:
                        return records, f"answered check {index} of a batch of {self.count}"
                    if index != self.expected:
                        return records, f"answered check {index} where {self.expected} was due"
                    if status > 2 or size > _MAX_ERROR_BYTES or (status < 2 and size):
                        return records, "sent a result record that does not fit the schema"
                    if end - at < _RESULT_SIZE + size:
                        break
                    self.expected += 1
                    if status == 2:
                        error = bytes(buf[at + _RESULT_SIZE : at + _RESULT_SIZE + size]).decode("utf-8", "replace")
                        records.append(
                            ("result", None, error or "the check gave no result and no reason", micros / 1e6)
                        )
                    else:
                        records.append(("result", status == 1, None, micros / 1e6))
                    at += _RESULT_SIZE + size
                elif kind == 1:
                    if self.defined or self.expected:
                        return records, "announced its definition twice or after a result"
                    self.defined = True
                    records.append(("defined",))
                    at += 1
                elif kind == 3:
                    if end - at < 5:
                        break
                    size = int.from_bytes(buf[at + 1 : at + 5], "big")
                    if size > _MAX_CALL_BYTES:
                        return records, f"sent a call of {size} bytes"
                    if end - at < 5 + size:
                        break
                    body = bytes(buf[at + 5 : at + 5 + size])
                    at += 5 + size
                    try:
                        call = json.loads(body)
                    except (ValueError, RecursionError):
                        return records, "sent a call that is not JSON"
                    if not (
                        isinstance(call, list)
                        and len(call) == 2
                        and isinstance(call[0], str)
                        and isinstance(call[1], list)
                        and all(a is None or isinstance(a, (str, int, float, bool)) for a in call[1])
                    ):
                        return records, "sent a call that does not fit the schema"
                    records.append(("call", call[0], call[1]))
                else:
                    return records, f"sent an unknown record type {kind}"
            return records, None
        finally:
            del buf[:at]


def _describe_exit(status: dict) -> str:
    if "signal" in status:
        number = status["signal"]
        try:
            name = signal.Signals(number).name
        except (ValueError, TypeError):
            name = "unknown signal"
        hint = " (memory limit, CPU limit or killed)" if number in (signal.SIGKILL, signal.SIGXCPU) else ""
        return f"check process died (killed by signal {number}, {name}){hint}"
    return f"check process exited early (exit code {status.get('exit')})"


def _shutdown_processes(processes: list) -> None:
    """Kills worker processes (and, through bubblewrap's PID namespace, everything under them)."""
    for proc in processes:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                try:
                    proc.kill()
                except OSError:
                    pass
    for proc in processes:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("sandbox worker %s did not exit after SIGKILL", proc.pid)
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass


class _Job:
    """One function's checks, running in one child, and what came back so far."""

    def __init__(self, job_id: int, indices: list[int], child: int, sock: socket.socket | None):
        self.id, self.indices = job_id, indices
        self.child, self.sock = child, sock  # the child's id at the zygote; the parent's end of its socket
        self.stream = _ChildStream(len(indices))
        self.records: list[tuple] = []
        self.last = 0.0  # when the check now running started, by the parent's clock
        self.ending: str | None = None  # set when the parent stopped it (timeout, malformed) or it ended early
        self.reason: str | None = None
        self.killed_at = 0.0
        self.calls = 0  # host calls made by the check now running
        self.began = 0.0
        self.careful = False
        self.outgoing = bytearray()  # the job, then host-call answers, not yet written


class _Worker:
    """One zygote and the parent's view of it; used by one thread at a time.

    The zygote forks children when asked and passes each one's socket to the parent; from then on the parent
    talks to the child directly (the job out, verdicts in) and the zygote only kills, reaps and reports exits.
    The parent keeps a stock of ready children (forked and locked down ahead, while it is idle), runs up to
    ``parallel`` jobs at once, and after a batch has the finished children killed (they wait for it, so their
    exits cost nothing inside a reward burst) and the stock refilled.
    """

    def __init__(self, pool: SandboxPool):
        self.pool = pool
        self.proc: subprocess.Popen | None = None
        self.channel: socket.socket | None = None
        self.buffer = bytearray()  # zygote frames not yet parsed
        self.fds: collections.deque[int] = collections.deque()  # received descriptors not yet matched to frames
        self.outgoing = bytearray()  # requests to the zygote not yet written
        self.stock: collections.deque[tuple[int, socket.socket]] = collections.deque()
        self.requested = 0  # children asked for that have not arrived
        self.running: dict[int, _Job] = {}  # job id -> job
        self.finished: list[int] = []  # children done with their job, waiting for their SIGKILL
        self.warmed: set[str] = set()
        self.warming = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        pool = self.pool
        namespaced = launch_plan([], use_namespaces=pool.namespaces).namespaces is not None
        config = {
            "allowed": sorted(pool.allowed_imports),
            "memory_mb": pool.memory_mb,
            "timeout_s": pool.timeout_s,
            "screen": pool._static_screen,
            "python_layers": pool._python_layers,
            "drop_uid": namespaced and os.geteuid() == 0,
            "seccomp": pool._seccomp,
            "allow_unsandboxed": pool.allow_unsandboxed,
            "host_calls": sorted(pool.host_functions),
            "max_tasks": pool.max_batch,
            "exec_style": pool.exec_style,
        }
        plan = launch_plan(
            [sys.executable, "-I", "-B", "-X", "utf8", WORKER_PATH, json.dumps(config)], use_namespaces=pool.namespaces
        )
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with tempfile.TemporaryFile() as errors:
            try:
                self.proc = subprocess.Popen(
                    plan.argv,
                    stdin=theirs.fileno(),
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    env={},
                    cwd="/",
                    close_fds=True,
                    start_new_session=True,
                )
            except OSError as err:
                ours.close()
                raise SandboxError(
                    f"could not start a sandbox worker ({err}); check that {sys.executable} "
                    "runs and that the machine can create processes"
                ) from err
            finally:
                theirs.close()
            pool._register(self.proc)
            self.channel = ours
            ours.setblocking(False)
            self.buffer.clear()
            self.outgoing.clear()
            try:
                frame = self._frame(time.monotonic() + pool.startup_timeout_s)
                if frame is None:
                    raise _WorkerLost(f"no answer within {pool.startup_timeout_s:.0f} s")
                kind, payload = frame
                ready = json.loads(payload) if kind == b"R" else None
                if not isinstance(ready, dict):
                    raise _WorkerLost("the worker's first message was not its ready report")
            except (_WorkerLost, ValueError, RecursionError) as lost:
                errors.seek(0)
                detail = errors.read()[-2000:].decode("utf-8", "replace").strip()
                self.discard()
                raise SandboxError(
                    f"sandbox worker failed to start: {lost}" + (f"; its stderr ends with: {detail}" if detail else "")
                ) from None
        if "fatal" in ready:
            self.discard()
            refusal = SandboxError(f"sandbox worker refused to start: {ready['fatal']}")
            refusal.permanent = True  # a configuration problem: starting again would not help
            raise refusal
        pool._record_isolation(plan, ready)
        if not ready.get("seccomp") and not pool.allow_unsandboxed:
            self.discard()
            refusal = SandboxError(
                f"dataset code was not run: the kernel sandbox is unavailable here "
                f"({ready.get('kernel_problem')}); {_UNSANDBOXED_HINT}"
            )
            refusal.permanent = True
            raise refusal
        for name, reason in (ready.get("missing") or {}).items():
            pool._log_once(f"allowed module {name!r} cannot be imported in the workers ({reason})")

    def discard(self) -> None:
        if self.proc is not None:
            _shutdown_processes([self.proc])
            self.pool._unregister(self.proc)
        self.proc = None
        for sock in [self.channel, *(s for _, s in self.stock), *(j.sock for j in self.running.values())]:
            if sock is not None:
                sock.close()
        while self.fds:
            os.close(self.fds.popleft())
        self.channel = None
        self.stock.clear()
        self.running.clear()
        self.finished.clear()
        self.warmed.clear()
        self.requested, self.warming = 0, False
        self.buffer.clear()
        self.outgoing.clear()

    # -- the zygote ----------------------------------------------------------------------------------
    def _request(self, request: dict) -> None:
        data = json.dumps(request).encode("utf-8", "surrogatepass")
        self.outgoing += len(data).to_bytes(4, "big") + data

    def _flush(self) -> None:
        """Writes what the zygote can take now (the rest goes out while the parent waits)."""
        try:
            while self.outgoing:
                del self.outgoing[: self.channel.send(self.outgoing[: 1 << 16])]
        except BlockingIOError:
            pass
        except OSError:
            raise _WorkerLost("the worker stopped reading its input") from None

    def _receive(self) -> None:
        """Reads everything the zygote has sent (a read returns at most one child's descriptor, so it loops)."""
        while True:
            try:
                data, fds, flags, _ = socket.recv_fds(self.channel, 1 << 16, 64)
            except BlockingIOError:
                return
            except ConnectionResetError:  # it died with requests unread
                data, fds, flags = b"", [], 0
            except OSError as err:
                raise _WorkerLost(f"the worker's channel failed ({err})") from None
            self.fds.extend(fds)
            if flags & getattr(socket, "MSG_CTRUNC", 0):
                raise _WorkerLost("descriptors from the worker were cut off")
            if not data:
                code = self.proc.poll() if self.proc else None
                raise _WorkerLost("the worker died" + (f" (exit status {code})" if code is not None else ""))
            self.buffer += data

    def _next_frame(self) -> tuple[bytes, bytes] | None:
        if len(self.buffer) < _ZFRAME_SIZE:
            return None
        kind, size = bytes(self.buffer[:1]), int.from_bytes(self.buffer[1:5], "big")
        if kind not in (b"R", b"C", b"X", b"W") or size > _MAX_ZYGOTE_FRAME:
            raise _WorkerLost("the worker sent a frame it never sends")
        if len(self.buffer) < _ZFRAME_SIZE + size:
            return None
        payload = bytes(self.buffer[_ZFRAME_SIZE : _ZFRAME_SIZE + size])
        del self.buffer[: _ZFRAME_SIZE + size]
        return kind, payload

    def _frame(self, deadline: float) -> tuple[bytes, bytes] | None:
        """The next zygote frame (only at start-up, before any child exists), or None when ``deadline`` passes."""
        while True:
            frame = self._next_frame()
            if frame is not None:
                return frame
            wait = deadline - time.monotonic()
            if wait <= 0:
                return None
            if select.select([self.channel], [], [], min(wait, 0.5))[0]:
                self._receive()

    @staticmethod
    def _json(payload: bytes) -> dict:
        try:
            value = json.loads(payload)
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            raise _WorkerLost("the worker sent a status that is not a JSON object")
        return value

    def _want_children(self, count: int, ahead: bool = False) -> None:
        """Asks the zygote for enough children that ``count`` are in stock or on their way. Children forked
        ``ahead`` of a burst (the pool idle) also prefault their memory; ones needed now do not."""
        missing = count - len(self.stock) - self.requested
        if missing > 0:
            self.requested += missing
            self._request({"op": "fork", "n": missing, "prefault": ahead})

    def _ahead(self, waiting: collections.deque) -> int:
        """Children to have in stock or on their way during a batch: enough for it, at most a stock's worth."""
        return min(len(waiting), self.pool.spares + self.pool.parallel)

    def after_batch(self) -> None:
        """The burst is over: the finished children are killed and the stock refilled, while the caller goes on."""
        if self.channel is None:
            return
        if self.finished:
            self._request({"op": "kill", "children": self.finished})
            self.finished = []
        self._want_children(self.pool.spares, ahead=True)
        try:
            self._flush()
        except _WorkerLost:
            self.discard()

    # -- functions' checks -----------------------------------------------------------------------------
    def run_jobs(self, jobs: list[list[int]], tasks: list[CheckTask], results: list) -> None:
        """Runs jobs (each: indices into ``tasks`` of one function) and fills ``results`` at those indices."""
        # (indices, careful): a careful job is the re-run of one whose child died, its verdicts sent one by one
        waiting: collections.deque[tuple[list[int], bool]] = collections.deque((job, False) for job in jobs)
        failed_starts = 0
        try:
            while waiting:
                if self.pool._closed:
                    for indices, _ in waiting:
                        for i in indices:
                            results[i] = CheckResult(None, "sandbox pool was closed before this check ran", 0.0)
                    return
                if not self.alive():
                    self.discard()
                    try:
                        self.start()
                    except SandboxError as err:
                        failed_starts += 1
                        if failed_starts >= 3 or getattr(err, "permanent", False):
                            raise
                        continue
                try:
                    self._drive(waiting, tasks, results)
                except _WorkerLost as lost:
                    log.info("sandbox worker lost: %s", lost)
                    jobs_back = list(self.running.values())
                    self.discard()
                    for job in jobs_back:  # each running check is charged; the checks behind it run again
                        self._finish(job, "crash", f"sandbox worker lost ({lost})", tasks, results, waiting)
                except (KeyboardInterrupt, SystemExit):
                    self.discard()  # interrupted mid-job: its late output must not answer the next one
                    raise
        finally:
            self.after_batch()

    def _start_job(
        self, pending: tuple[list[int], bool], compiled: bytes | None, tasks: list[CheckTask], now: float
    ) -> None:
        """Hands one function's checks to a child from the stock (``compiled``: the parent's screened compile)."""
        strings: list[str] = []
        index_of: dict[str, int] = {}

        def intern(text: str) -> int:
            found = index_of.get(text)
            if found is None:
                found = index_of[text] = len(strings)
                strings.append(text)
            return found

        indices, careful = pending
        code = tasks[indices[0]].code
        child, sock = self.stock.popleft()
        job = _Job(next(self.pool._job_ids), indices, child, sock)
        job.careful = careful
        rows = [(intern(tasks[i].instruction), intern(tasks[i].response)) for i in indices]
        data = encode_job(code, compiled, strings, rows, careful)
        job.outgoing += len(data).to_bytes(4, "big") + data
        job.last = job.began = now
        self.running[job.id] = job
        self._write_child(job)

    def _write_child(self, job: _Job) -> None:
        try:
            while job.outgoing:
                del job.outgoing[: job.sock.send(job.outgoing[: 1 << 20])]
        except BlockingIOError:
            pass
        except OSError:
            job.outgoing.clear()  # it is gone; its end shows up as the end of its output

    def _drive(self, waiting: collections.deque, tasks: list[CheckTask], results: list) -> None:
        """Runs the waiting jobs, up to ``parallel`` children at once, each one function."""
        pool = self.pool
        limit = pool.timeout_s + pool.grace_s
        self._want_children(self._ahead(waiting))  # the zygote forks while the stock's children run
        idle_since = time.monotonic()
        while waiting or self.running:
            now = time.monotonic()
            while waiting and len(self.running) < pool.parallel and not self.warming:
                code = tasks[waiting[0][0][0]].code
                compiled = None
                if pool._static_screen and pool._python_layers:
                    problem, compiled = _screened(code, pool.allowed_imports)
                    if problem:  # refused by the screen: no child needed
                        for i in waiting.popleft()[0]:
                            results[i] = CheckResult(None, problem, 0.0)
                        continue
                names = [n for n in WARM_UP_NAMES if n in code and n not in self.warmed]
                if names:  # library data the zygote loads once, before forking the children that use it
                    self.warming = True
                    self._request({"op": "warm", "names": names})
                    self.warmed.update(names)
                    break
                if not self.stock:
                    self._want_children(self._ahead(waiting))
                    break
                self._start_job(waiting.popleft(), compiled, tasks, now)
            if not waiting and not self.running:
                break
            # the earliest deadline, by the parent's own clock
            deadline = idle_since + pool.startup_timeout_s
            for job in self.running.values():
                deadline = min(deadline, job.killed_at + _KILL_CONFIRM_S if job.ending else job.last + limit)
            if self._wait(deadline, tasks, results, waiting):
                idle_since = time.monotonic()
            now = time.monotonic()
            for job in list(self.running.values()):
                if job.ending:
                    if now >= job.killed_at + _KILL_CONFIRM_S:
                        raise _WorkerLost("the worker did not confirm a kill")
                elif now >= job.last + limit:
                    reason = f"timed out after {pool.timeout_s} s (check process killed)"
                    defined = job.stream.defined
                    self._kill(
                        job,
                        "timeout" if defined else "undefined",
                        reason if defined else f"defining check_following {reason}",
                        now,
                    )
            if not self.running and now >= idle_since + pool.startup_timeout_s:
                raise _WorkerLost(f"no check process started within {pool.startup_timeout_s:.0f} s")

    def _wait(self, deadline: float, tasks: list, results: list, waiting: collections.deque) -> bool:
        """Waits for the zygote or a child until ``deadline``; handles what came. True if a child arrived or a
        job ended (progress for the start-up clock)."""
        wait = deadline - time.monotonic()
        if wait <= 0:
            return False
        poller = select.poll()
        channel = self.channel.fileno()
        poller.register(channel, select.POLLIN | (select.POLLOUT if self.outgoing else 0))
        by_fd: dict[int, _Job] = {}
        for job in self.running.values():
            if job.sock is not None:
                by_fd[job.sock.fileno()] = job
                poller.register(job.sock.fileno(), select.POLLIN | (select.POLLOUT if job.outgoing else 0))
        progress = False
        for fd, event in poller.poll(max(1, min(wait, 0.5) * 1000)):
            if fd == channel:
                if event & select.POLLOUT:
                    self._flush()
                if event & ~select.POLLOUT:
                    self._receive()
                    progress |= self._zygote_frames(tasks, results, waiting)
                continue
            job = by_fd[fd]
            if job.sock is None:
                continue  # stopped earlier in this round
            if event & select.POLLOUT:
                self._write_child(job)
            if event & ~select.POLLOUT:
                progress |= self._read_child(job, tasks, results, waiting)
        return progress

    def _zygote_frames(self, tasks: list, results: list, waiting: collections.deque) -> bool:
        progress = False
        while (frame := self._next_frame()) is not None:
            kind, payload = frame
            if kind == b"C":
                if len(payload) != 8 or not self.fds:
                    raise _WorkerLost("the worker announced a child without its socket")
                sock = socket.socket(fileno=self.fds.popleft())
                sock.setblocking(False)
                self.stock.append((int.from_bytes(payload[:4], "big"), sock))
                self.requested = max(0, self.requested - 1)
                progress = True
            elif kind == b"X":
                status = self._json(payload)
                child = status.get("child")
                job = next((j for j in self.running.values() if j.child == child), None)
                if job is not None:
                    self._ended(job, status, tasks, results, waiting)
                    progress = True
                else:  # a spare that died before its job (or a finished child, killed as asked)
                    for entry in [e for e in self.stock if e[0] == child]:
                        self.stock.remove(entry)
                        entry[1].close()
            elif kind == b"W":
                fresh_from = self._json(payload).get("next", 0)
                stale = [e for e in self.stock if e[0] < fresh_from]
                for entry in stale:  # forked before the data was loaded: they would load it inside a check
                    self.stock.remove(entry)
                    entry[1].close()  # it sees the end of its input and exits
                self.warming = False
                progress = True
            else:
                raise _WorkerLost("the worker sent a frame out of order")
        return progress

    def _read_child(self, job: _Job, tasks: list, results: list, waiting: collections.deque) -> bool:
        try:
            data = job.sock.recv(1 << 16)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        now = time.monotonic()
        if not data:  # it ended before its last verdict: the zygote reports how
            job.sock.close()
            job.sock = None
            job.outgoing.clear()
            job.killed_at = now
            job.ending = "eof"
            self._request({"op": "kill", "children": [job.child]})
            return False
        parsed, problem = job.stream.feed(data)
        for record in parsed:
            if record[0] == "call":
                # The clock pauses while the parent answers (a judge call's time is not the check's) but
                # does not restart, and a check gets a few calls at most: a loop of llm_extract calls
                # would otherwise never time out and cost a judge call each turn.
                started = time.monotonic()
                self._answer_call(job, record[1], record[2])
                job.last += time.monotonic() - started
                continue
            if record[0] == "result":
                # the child's own measure, never more than the parent's clock allows since the job began
                job.records.append((record[1], record[2], min(record[3], now - job.began)))
                job.calls = 0
            job.last = now
        if problem:
            self._kill(job, "malformed", problem, now)
            return False
        if len(job.records) == len(job.indices):  # done; it waits for its SIGKILL after the burst
            job.sock.close()
            del self.running[job.id]
            self.finished.append(job.child)
            if len(self.finished) >= MAX_FINISHED:
                self._request({"op": "kill", "children": self.finished})
                self.finished = []
            self._finish(job, "done", None, tasks, results, waiting)
            return True
        return False

    def _ended(self, job: _Job, status: dict, tasks: list, results: list, waiting: collections.deque) -> None:
        """A running job's child exited (reported by the zygote): charges the check that was running."""
        if job.sock is not None and job.ending is None:
            # The exit came on the zygote's channel, but the child's last records may still wait in its own
            # socket: read them first (it is dead, so the socket ends after them).
            job.sock.settimeout(1.0)
            while job.id in self.running and job.sock is not None and job.ending is None:
                self._read_child(job, tasks, results, waiting)
            if job.id not in self.running:
                return  # its last verdict was in there
        del self.running[job.id]
        if job.sock is not None:
            job.sock.close()
            job.sock = None
        ending, reason = job.ending, job.reason
        if ending in (None, "eof"):
            ending, reason = "crash", _describe_exit(status)
            if not job.stream.defined and not job.records:
                ending, reason = "undefined", f"{reason} while defining check_following"
        self._finish(job, ending, reason, tasks, results, waiting)

    def _kill(self, job: _Job, ending: str, reason: str, now: float) -> None:
        job.ending, job.reason, job.killed_at = ending, reason, now
        if job.sock is not None:
            job.sock.close()  # what it still says does not count
            job.sock = None
        self._request({"op": "kill", "children": [job.child]})

    @staticmethod
    def _finish(
        job: _Job, ending: str, reason: str | None, tasks: list, results: list, waiting: collections.deque
    ) -> None:
        """Stores a job's verdicts; charges what went wrong to the check that was running."""
        for i, (passed, error, seconds) in zip(job.indices, job.records):
            results[i] = CheckResult(passed, error, round(seconds, 6))
        rest = job.indices[len(job.records) :]
        if ending == "done" or not rest:
            return
        if ending == "malformed":
            for i in rest:
                results[i] = CheckResult(None, f"the check process {reason}; its function was stopped", 0.0)
        elif not job.careful:  # it died or ran out of time, and records may have been held back: what was
            waiting.append((rest, True))  # running is unknown, so the rest runs again, each record sent at once
        elif ending == "undefined":
            for i in rest:
                results[i] = CheckResult(None, reason, 0.0)
        else:  # the culprit is the check that was running; its neighbours run again
            results[rest[0]] = CheckResult(None, reason, 0.0)
            if rest[1:]:
                waiting.append((rest[1:], True))

    def _answer_call(self, job: _Job, name: str, args: list) -> None:
        function = self.pool.host_functions.get(name)
        job.calls += 1
        try:
            if job.calls > MAX_CALLS_PER_CHECK:
                answer = {"error": f"more than {MAX_CALLS_PER_CHECK} judge calls in one check"}
            else:
                answer = {"ok": function(*args)} if function else {"error": f"{name} is not available"}
            data = json.dumps(answer)
        except Exception as err:  # the host function's failure is the check's, reported in its error
            data = json.dumps({"error": f"{type(err).__name__}: {err}"[:500]})
        body = data.encode("utf-8", "surrogatepass")
        job.outgoing += len(body).to_bytes(4, "big") + body
        self._write_child(job)


class SandboxPool:
    """A pool of sandboxed workers that run dataset-supplied ``check_following`` functions.

    ``workers`` zygotes are started lazily on first use; every function runs in a fresh child process. Each
    check gets ``timeout_s`` seconds of wall time by the caller's clock, and each child at most ``memory_mb`` MB
    of address space. Only ``allowed_imports`` may be imported (see ``ALLOWED_IMPORT_REASONS``).
    ``check_batch`` is thread-safe and returns one result per task, in order; it never raises for a bad check.

    Where the kernel layer (seccomp) cannot be installed, dataset code does not run: ``check_batch`` raises
    SandboxError, unless ``allow_unsandboxed=True``, which runs it behind the Python layers only and says so in
    :attr:`isolation`. ``host_functions`` maps judge-shim names (``llm_extract``...) to callables the parent
    runs for rule code that asks (arguments and result are JSON values). ``exec_style="verif"`` defines each
    function the way VerIF's own executor does (imports replayed into the globals, module-level names in separate
    locals), for the ``reference`` profile.

    Speed (benchmarks/RESULTS.md): each worker keeps a stock of ``spares`` children forked, locked down and
    warmed up while the pool is idle (~3.6 MB each), so a trainer's reward burst waits for no fork; it runs up
    to ``parallel`` of them at once (each one function in its own process); finished children wait until the
    batch is over to be killed, so exits too fall outside the burst. Size ``spares`` to the functions a worker
    meets in one batch (a GRPO step: prompts x rule functions per prompt / ``workers``); beyond the stock,
    children are forked inside the batch (~2-5 ms of CPU each).

    Example:
        >>> code = "import re\\ndef check_following(instruction, response):\\n    return re.search('cat', response)"
        >>> with SandboxPool(workers=1, timeout_s=1.0) as pool:
        ...     [r.passed for r in pool.check_batch([CheckTask(code, "instruction", "a cat"),
        ...                                          CheckTask(code, "instruction", "a dog")])]
        [True, False]
    """

    def __init__(
        self,
        workers: int = 2,
        timeout_s: float = 2.0,
        memory_mb: int = 512,
        allowed_imports: frozenset[str] = DEFAULT_ALLOWED_IMPORTS,
        *,
        max_batch: int = 256,
        startup_timeout_s: float = 60.0,
        allow_unsandboxed: bool = False,
        namespaces: bool = True,
        host_functions: dict[str, Callable[..., Any]] | None = None,
        exec_style: str = "verif_nb",
        spares: int = 32,
        parallel: int = 4,
        _static_screen: bool = True,
        _seccomp: bool = True,
        _python_layers: bool = True,
    ):
        settings = SandboxSettings(
            workers=workers,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            max_batch=max_batch,
            startup_timeout_s=startup_timeout_s,
            allow_unsandboxed=allow_unsandboxed,
            namespaces=namespaces,
            exec_style=exec_style,  # type: ignore[arg-type]
            spares=spares,
            parallel=parallel,
        )
        self.settings = settings
        self.workers = settings.workers
        self.timeout_s = settings.timeout_s
        self.memory_mb = settings.memory_mb
        self.allowed_imports = frozenset(allowed_imports)
        self.max_batch = settings.max_batch
        self.startup_timeout_s = settings.startup_timeout_s
        self.allow_unsandboxed = settings.allow_unsandboxed
        self.namespaces = settings.namespaces
        self.host_functions = dict(host_functions or {})
        self.exec_style = settings.exec_style
        self.spares = settings.spares
        self.parallel = settings.parallel
        # Tests switch layers off to prove the ones behind them hold on their own.
        self._static_screen = bool(_static_screen)
        self._seccomp = bool(_seccomp)
        self._python_layers = bool(_python_layers)
        # Time a check gets past its own alarm before the parent kills its process (C code the alarm can't stop).
        self.grace_s = max(0.5, 0.5 * self.timeout_s)
        self.isolation: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._idle: queue.Queue[_Worker] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._processes: list[subprocess.Popen] = []
        self._logged: set[str] = set()
        self._job_ids = itertools.count(1)
        self._finalizer = weakref.finalize(self, _shutdown_processes, self._processes)

    # -- management ------------------------------------------------------------------------------------
    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _record_isolation(self, plan: LaunchPlan, ready: dict) -> None:
        seccomp = bool(ready.get("seccomp"))
        info = {
            "sandboxed": seccomp,
            "seccomp": seccomp,
            "namespaces": plan.namespaces,
            "uid": 65534 if ready.get("uid_drop") else None,
            "problems": [p for p in (ready.get("kernel_problem"), plan.problem) if p],
        }
        with self._lock:
            first = not self.isolation
            self.isolation = info
        if first and not seccomp and self.allow_unsandboxed:
            log.warning(
                "sandbox: dataset code runs WITHOUT the kernel sandbox (%s), as allow_unsandboxed asked",
                ready.get("kernel_problem"),
            )
        elif first and plan.problem:
            self._log_once(f"no namespaces for the sandbox workers ({plan.problem}); seccomp still applies")

    def _log_once(self, note: str) -> None:
        if note not in self._logged:
            self._logged.add(note)
            log.warning("sandbox: %s", note)

    def _register(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._processes.append(proc)

    def _unregister(self, proc: subprocess.Popen) -> None:
        with self._lock:
            if proc in self._processes:
                self._processes.remove(proc)

    def _ensure_open(self) -> queue.Queue:
        with self._lock:
            if self._closed:
                raise SandboxError("this SandboxPool is closed; create a new one")
            if self._idle is None:
                self._idle = queue.Queue()
                for _ in range(self.workers):
                    self._idle.put(_Worker(self))
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox")
            return self._idle

    def close(self) -> None:
        """Stops all workers and their children; the pool cannot be used afterwards. Idempotent.

        Example:
            >>> pool = SandboxPool(); pool.close(); pool.close()
        """
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            processes = list(self._processes)
            workers = list(self._idle.queue) if self._idle is not None else []
        _shutdown_processes(processes)
        for worker in workers:  # their sockets (the stock's children died with their zygote)
            worker.discard()

    def pids(self) -> list[int]:
        """Process ids of the running workers as the caller sees them (empty before first use).

        Example:
            >>> SandboxPool().pids()
            []
        """
        with self._lock:
            return [p.pid for p in self._processes if p.poll() is None]

    def rss_bytes(self) -> int:
        """Resident memory of the workers and their children together, in bytes (psutil; 0 before first use).

        RSS counts the zygote's shared pages once per child; :meth:`pss_bytes` splits them among their sharers.

        Example:
            >>> with SandboxPool(workers=1) as pool:
            ...     _ = pool.check("def check_following(i, r):\\n    return True", "instruction", "x")
            ...     pool.rss_bytes() > 0
            True
        """
        return self._memory(lambda process: process.memory_info().rss)

    def pss_bytes(self) -> int:
        """Proportional memory (PSS) of the workers and their children: what the pool really adds, in bytes.

        Example:
            >>> SandboxPool().pss_bytes()
            0
        """
        return self._memory(lambda process: process.memory_full_info().pss)

    def _memory(self, measure) -> int:
        import psutil

        total = 0
        for pid in self.pids():
            try:
                root = psutil.Process(pid)
                processes = [root, *root.children(recursive=True)]
            except psutil.Error:  # exited between listing and measuring
                continue
            for process in processes:
                try:
                    total += measure(process)
                except psutil.Error:  # a child killed meanwhile
                    pass
        return total

    # -- checking --------------------------------------------------------------------------------------
    def check(self, code: str, instruction: str, response: str) -> CheckResult:
        """Runs one check; see :meth:`check_batch` (batches are much faster).

        Example:
            >>> with SandboxPool(workers=1) as pool:
            ...     pool.check("def check_following(i, r):\\n    return 1/0", "instruction", "x").error
            'ZeroDivisionError: division by zero (line 2)'
        """
        return self.check_batch([CheckTask(code, instruction, response)])[0]

    def check_batch(self, tasks: Sequence[CheckTask]) -> list[CheckResult]:
        """Runs every task and returns their results in the same order; one child process per function.

        A check that fails in any way (bad code, exception, time-out, a killed process, a reply that breaks the
        protocol) gives ``passed=None`` and an ``error``; only a pool that cannot start workers, or that may
        not run dataset code here (no kernel sandbox, no opt-in), raises SandboxError.

        Example:
            >>> with SandboxPool(workers=1) as pool:
            ...     pool.check_batch([CheckTask("import os\\ndef check_following(i, r):\\n    return 1",
            ...                                 "instruction", "x")])[0].error
            "import of 'os' is not allowed (line 1)"
        """
        tasks = list(tasks)
        results: list[CheckResult | None] = [None] * len(tasks)
        groups: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            if type(task) is CheckTask and type(task.code) is type(task.instruction) is type(task.response) is str:
                groups.setdefault(task.code, []).append(i)
                continue
            problem = self._task_problem(task)  # the slow path: names what is wrong, accepts subclasses
            if problem:
                results[i] = CheckResult(None, problem, 0.0)
            else:
                groups.setdefault(task.code, []).append(i)
        if not groups:
            return results  # type: ignore[return-value]
        idle = self._ensure_open()
        # One job = one function's checks (split only when very many, to keep workers busy): never two functions.
        jobs = [
            members[i : i + self.max_batch]
            for members in groups.values()
            for i in range(0, len(members), self.max_batch)
        ]
        jobs.sort(key=len, reverse=True)
        # Longest first onto the least-loaded worker; each worker then gets its share queued in one go.
        shares: list[list[list[int]]] = [[] for _ in range(min(self.workers, len(jobs)))]
        loads = [0] * len(shares)
        for job in jobs:
            lightest = loads.index(min(loads))
            shares[lightest].append(job)
            loads[lightest] += len(job) + 16  # a fresh process per job costs about as much as 16 checks

        def drain(share: list[list[int]]) -> None:
            worker = idle.get()
            try:
                worker.run_jobs(share, tasks, results)
            finally:
                idle.put(worker)

        with self._lock:
            executor = self._executor
        futures = [executor.submit(drain, share) for share in shares[1:]] if executor else []
        drain(shares[0])  # the calling thread works too
        for future in futures:
            future.result()
        return results  # type: ignore[return-value]

    @staticmethod
    def _task_problem(task) -> str | None:
        if not isinstance(task, CheckTask):
            return f"expected a CheckTask, got {type(task).__name__}"
        for field in ("code", "instruction", "response"):
            if not isinstance(getattr(task, field), str):
                return f"{field} must be a string, not {type(getattr(task, field)).__name__}"
        return None


def probe_isolation(allow_unsandboxed: bool = False) -> dict[str, Any]:
    """What the sandbox gives on this machine: starts one worker, runs one check, reports its isolation.

    Reports record it so a reader can tell whether dataset code ran behind the kernel layers. Returns
    ``{"sandboxed": False, "problems": [...]}`` (never raises) when dataset code may not run here.

    Example:
        >>> probe_isolation()["sandboxed"] in (True, False)
        True
    """
    try:
        with SandboxPool(workers=1, allow_unsandboxed=allow_unsandboxed) as pool:
            pool.check("def check_following(instruction, response):\n    return True", "instruction", "x")
            return dict(pool.isolation)
    except SandboxError as err:
        return {"sandboxed": False, "seccomp": False, "namespaces": None, "uid": None, "problems": [str(err)]}
