"""SandboxPool: runs dataset-supplied ``check_following`` code in a fresh, locked-down process per function.

The caller's process never executes the code. Each worker is a clean zygote (see ``_worker.py``) started inside
the kernel layers of ``_isolation.py``; for every function it forks one child that loads a seccomp filter,
checks all responses of that function and exits. This module is the parent's side, and it trusts nothing it
reads: each child's byte stream is parsed against a strict binary schema with size caps, and a reply that does
not fit is that function's error, never the caller's crash. The parent alone keeps time, from its own clock,
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
import hashlib
import itertools
import json
import logging
import os
import queue
import select
import signal
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

from verif_nb.errors import ParamsError, SandboxError
from verif_nb.sandbox._isolation import LaunchPlan, launch_plan
from verif_nb.sandbox._policy import DEFAULT_ALLOWED_IMPORTS

log = logging.getLogger(__name__)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
_ZFRAME_SIZE = 5  # kind byte + 4-byte length
_MAX_ZYGOTE_FRAME = 1 << 20  # the zygote relays the child's output in chunks of at most 64 KiB
_RESULT_SIZE = 8  # type, u32 index, u8 status, u16 error length
_MAX_ERROR_BYTES = 1000
_MAX_CALL_BYTES = 1 << 20
_KILL_CONFIRM_S = 2.0  # how long the zygote gets to confirm a kill before the whole worker goes
MAX_CALLS_PER_CHECK = 8  # host calls (llm_extract...) one check may make
_UNSANDBOXED_HINT = (
    "pass allow_unsandboxed=True (CLI: --allow-unsandboxed-code, params: "
    "sandbox.allow_unsandboxed: true) to run dataset code without it, at your own risk"
)


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
        """Returns (records, problem); records are ('defined',), ('result', passed, error), ('call', name, args)."""
        self.total += len(data)
        if self.total > self.cap:
            return [], f"sent more than {self.cap} bytes"
        self.buffer += data
        records: list[tuple] = []
        buf = self.buffer
        while buf:
            kind = buf[0]
            if kind == 1:
                if self.defined or self.expected:
                    return records, "announced its definition twice or after a result"
                self.defined = True
                records.append(("defined",))
                del buf[:1]
            elif kind == 2:
                if len(buf) < _RESULT_SIZE:
                    break
                index = int.from_bytes(buf[1:5], "big")
                status, size = buf[5], int.from_bytes(buf[6:8], "big")
                if index >= self.count:
                    return records, f"answered check {index} of a batch of {self.count}"
                if index != self.expected:
                    return records, f"answered check {index} where {self.expected} was due"
                if status > 2 or size > _MAX_ERROR_BYTES or (status < 2 and size):
                    return records, "sent a result record that does not fit the schema"
                if len(buf) < _RESULT_SIZE + size:
                    break
                error = bytes(buf[_RESULT_SIZE : _RESULT_SIZE + size]).decode("utf-8", "replace")
                del buf[: _RESULT_SIZE + size]
                self.expected += 1
                passed = None if status == 2 else bool(status)
                records.append(
                    ("result", passed, (error or "the check gave no result and no reason") if passed is None else None)
                )
            elif kind == 3:
                if len(buf) < 5:
                    break
                size = int.from_bytes(buf[1:5], "big")
                if size > _MAX_CALL_BYTES:
                    return records, f"sent a call of {size} bytes"
                if len(buf) < 5 + size:
                    break
                body = bytes(buf[5 : 5 + size])
                del buf[: 5 + size]
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
    """One function's checks as sent to a worker, and what came back so far."""

    def __init__(self, job_id: int, indices: list[int]):
        self.id, self.indices = job_id, indices
        self.stream = _ChildStream(len(indices))
        self.records: list[tuple] = []
        self.started, self.last = False, 0.0
        self.ending: str | None = None
        self.reason: str | None = None
        self.killed_at = 0.0
        self.calls = 0  # host calls made by the check now running


class _Worker:
    """One zygote and the parent's view of it; used by one thread at a time."""

    def __init__(self, pool: SandboxPool):
        self.pool = pool
        self.proc: subprocess.Popen | None = None
        self.buffer = bytearray()
        self.outgoing = bytearray()
        self.inflight: dict[int, _Job] = {}

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
            "spares": pool.spares,
            "parallel": pool.parallel,
        }
        plan = launch_plan(
            [sys.executable, "-I", "-B", "-X", "utf8", WORKER_PATH, json.dumps(config)], use_namespaces=pool.namespaces
        )
        with tempfile.TemporaryFile() as errors:
            try:
                self.proc = subprocess.Popen(
                    plan.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    env={},
                    cwd="/",
                    close_fds=True,
                    start_new_session=True,
                )
            except OSError as err:
                raise SandboxError(
                    f"could not start a sandbox worker ({err}); check that {sys.executable} "
                    "runs and that the machine can create processes"
                ) from err
            pool._register(self.proc)
            self.buffer.clear()
            self.outgoing.clear()
            os.set_blocking(self.proc.stdin.fileno(), False)
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
        self.buffer.clear()
        self.outgoing.clear()

    # -- zygote frames -------------------------------------------------------------------------------
    def _queue(self, request: dict) -> None:
        data = json.dumps(request).encode("utf-8", "surrogatepass")
        self.outgoing += len(data).to_bytes(4, "big") + data

    def _frame(self, deadline: float) -> tuple[bytes, bytes] | None:
        """Writes what is queued and returns the next zygote frame, or None when ``deadline`` passes first.

        Writing and reading interleave: the zygote may be relaying output while the parent still sends jobs.
        """
        out_fd, in_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        while True:
            if len(self.buffer) >= _ZFRAME_SIZE:
                kind, size = bytes(self.buffer[:1]), int.from_bytes(self.buffer[1:5], "big")
                if kind not in (b"R", b"S", b"D", b"X") or size > _MAX_ZYGOTE_FRAME:
                    raise _WorkerLost("the worker sent a frame it never sends")
                if len(self.buffer) >= _ZFRAME_SIZE + size:
                    payload = bytes(self.buffer[_ZFRAME_SIZE : _ZFRAME_SIZE + size])
                    del self.buffer[: _ZFRAME_SIZE + size]
                    return kind, payload
            wait = deadline - time.monotonic()
            if wait <= 0:
                return None
            readable, writable, _ = select.select([in_fd], [out_fd] if self.outgoing else [], [], min(wait, 0.5))
            if writable:
                try:
                    del self.outgoing[: os.write(out_fd, self.outgoing[: 1 << 16])]
                except BlockingIOError:
                    pass
                except OSError:
                    raise _WorkerLost("the worker stopped reading its input") from None
            if readable:
                chunk = os.read(in_fd, 1 << 20)
                if not chunk:
                    code = self.proc.poll()
                    raise _WorkerLost("the worker died" + (f" (exit status {code})" if code is not None else ""))
                self.buffer += chunk

    @staticmethod
    def _json(payload: bytes) -> dict:
        try:
            value = json.loads(payload)
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            raise _WorkerLost("the worker sent a status that is not a JSON object")
        return value

    # -- functions' checks -----------------------------------------------------------------------------
    def run_jobs(self, jobs: list[list[int]], tasks: list[CheckTask], results: list) -> None:
        """Runs jobs (each: indices into ``tasks`` of one function) and fills ``results`` at those indices.

        All jobs are queued in the zygote at once, so one child's fork and filter overlap the previous job.
        """
        waiting: collections.deque[list[int]] = collections.deque(jobs)
        failed_starts = 0
        while waiting:
            if self.pool._closed:
                for indices in waiting:
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
            self.inflight.clear()
            try:
                self._drive(waiting, tasks, results)
            except _WorkerLost as lost:
                log.info("sandbox worker lost: %s", lost)
                self.discard()
                jobs_back = list(self.inflight.values())
                self.inflight.clear()
                for job in reversed(jobs_back):  # the running one is charged; the others never ran
                    if job.started:
                        self._finish(job, "crash", f"sandbox worker lost ({lost})", tasks, results, waiting)
                    else:
                        waiting.appendleft(job.indices)
            except (KeyboardInterrupt, SystemExit):
                self.discard()  # interrupted mid-job: its late output must not answer the next one
                raise

    def _send_job(self, indices: list[int], tasks: list[CheckTask]) -> None:
        strings: list[str] = []
        index_of: dict[str, int] = {}

        def intern(text: str) -> int:
            found = index_of.get(text)
            if found is None:
                found = index_of[text] = len(strings)
                strings.append(text)
            return found

        job = _Job(next(self.pool._job_ids), indices)
        rows = [[intern(tasks[i].instruction), intern(tasks[i].response)] for i in indices]
        self.inflight[job.id] = job
        self._queue({"op": "run", "job": job.id, "code": tasks[indices[0]].code, "strings": strings, "tasks": rows})

    def _drive(self, waiting: collections.deque, tasks: list[CheckTask], results: list) -> None:
        """Runs the jobs; the zygote runs up to ``parallel`` children at once, each one function."""
        pool = self.pool
        limit = pool.timeout_s + pool.grace_s
        while waiting:
            self._send_job(waiting.popleft(), tasks)
        running: dict[int, _Job] = {}
        idle_since = time.monotonic()
        while self.inflight:
            if running:  # the earliest deadline of the running children, by the parent's own clock
                deadline = min(j.killed_at + _KILL_CONFIRM_S if j.ending else j.last + limit for j in running.values())
            else:
                deadline = idle_since + pool.startup_timeout_s  # the zygote may load library data first
            frame = self._frame(deadline)
            now = time.monotonic()
            if frame is None:
                if not running:
                    raise _WorkerLost(f"no check process started within {pool.startup_timeout_s:.0f} s")
                for job in list(running.values()):
                    if job.ending and now >= job.killed_at + _KILL_CONFIRM_S:
                        raise _WorkerLost("the worker did not confirm a kill")
                    if not job.ending and now >= job.last + limit:
                        reason = f"timed out after {pool.timeout_s} s (check process killed)"
                        self._kill(
                            job,
                            "timeout" if job.stream.defined else "undefined",
                            reason if job.stream.defined else f"defining check_following {reason}",
                            now,
                        )
                continue
            kind, payload = frame
            if kind == b"S":
                job = self.inflight.get(self._json(payload).get("job"))
                if job is None or job.started:
                    raise _WorkerLost("the worker started a check process out of order")
                running[job.id], job.started, job.last = job, True, now
            elif kind == b"D":
                job = running.get(int.from_bytes(payload[:4], "big")) if len(payload) >= 4 else None
                if job is None:
                    raise _WorkerLost("the worker relayed output for no running check process")
                if job.ending:
                    continue  # being killed: what it still says does not count
                parsed, problem = job.stream.feed(payload[4:])
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
                        job.records.append((record[1], record[2], now - job.last))
                        job.calls = 0
                    job.last = now
                if problem:
                    self._kill(job, "malformed", problem, now)
            elif kind == b"X":
                status = self._json(payload)
                job = running.pop(status.get("job"), None)
                if job is None:
                    raise _WorkerLost("the worker reported an exit out of order")
                del self.inflight[job.id]
                ending, reason = job.ending, job.reason
                if not ending:
                    ending = "done" if len(job.records) == len(job.indices) else "crash"
                    reason = _describe_exit(status)
                    if not job.stream.defined and not job.records:
                        ending, reason = "undefined", f"{reason} while defining check_following"
                self._finish(job, ending, reason, tasks, results, waiting)
                while waiting:  # the neighbours of a culprit run again, in a fresh child
                    self._send_job(waiting.popleft(), tasks)
                idle_since = now
            else:
                raise _WorkerLost("the worker sent a frame out of order")

    def _kill(self, job: _Job, ending: str, reason: str, now: float) -> None:
        job.ending, job.reason, job.killed_at = ending, reason, now
        self._queue({"op": "kill", "job": job.id})

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
        elif ending == "undefined":
            for i in rest:
                results[i] = CheckResult(None, reason, 0.0)
        else:  # crash or timeout: the culprit is the check that was running; its neighbours run again
            results[rest[0]] = CheckResult(None, reason, 0.0)
            if rest[1:]:
                waiting.append(rest[1:])

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
        self._queue({"op": "reply", "job": job.id, "data": data})


class SandboxPool:
    """A pool of sandboxed workers that run dataset-supplied ``check_following`` functions.

    ``workers`` zygotes are started lazily on first use; each runs one function at a time, in a fresh child
    process. Each check gets ``timeout_s`` seconds of wall time by the caller's clock, and each child at most
    ``memory_mb`` MB of address space. Only ``allowed_imports`` may be imported (see ``ALLOWED_IMPORT_REASONS``).
    ``check_batch`` is thread-safe and returns one result per task, in order; it never raises for a bad check.

    Where the kernel layer (seccomp) cannot be installed, dataset code does not run: ``check_batch`` raises
    SandboxError, unless ``allow_unsandboxed=True``, which runs it behind the Python layers only and says so in
    :attr:`isolation`. ``host_functions`` maps judge-shim names (``llm_extract``...) to callables the parent
    runs for rule code that asks (arguments and result are JSON values). ``exec_style="verif"`` defines each
    function the way VerIF's own executor does (imports replayed into the globals, module-level names in separate
    locals), for the ``reference`` profile. Each worker keeps up to ``spares`` children forked and locked down
    while it is idle (about 1 MB each), so a trainer's reward burst does not wait for forks, and runs up to
    ``parallel`` of them at once (each still one function in its own process): a child's start, exit and
    the relays between processes then overlap instead of adding up.

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
        spares: int = 16,
        parallel: int = 4,
        _static_screen: bool = True,
        _seccomp: bool = True,
        _python_layers: bool = True,
    ):
        if not isinstance(workers, int) or workers < 1:
            raise ParamsError(f"workers must be a positive integer, not {workers!r}")
        if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s <= 3600):
            raise ParamsError(f"timeout_s must be in (0, 3600] seconds, not {timeout_s!r}")
        if not isinstance(memory_mb, int) or memory_mb < 32:
            raise ParamsError(
                f"memory_mb must be an integer >= 32 (an idle worker uses ~25 MB of address "
                f"space, ~90 MB once langdetect is loaded), not {memory_mb!r}"
            )
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ParamsError(f"max_batch must be a positive integer, not {max_batch!r}")
        self.workers = workers
        self.timeout_s = float(timeout_s)
        self.memory_mb = memory_mb
        self.allowed_imports = frozenset(allowed_imports)
        self.max_batch = max_batch
        self.startup_timeout_s = startup_timeout_s
        self.allow_unsandboxed = bool(allow_unsandboxed)
        self.namespaces = bool(namespaces)
        self.host_functions = dict(host_functions or {})
        if exec_style not in ("verif_nb", "verif"):
            raise ParamsError(f"exec_style must be 'verif_nb' or 'verif', not {exec_style!r}")
        self.exec_style = exec_style
        if not isinstance(spares, int) or spares < 1:
            raise ParamsError(f"spares must be a positive integer, not {spares!r}")
        self.spares = spares
        if not isinstance(parallel, int) or parallel < 1:
            raise ParamsError(f"parallel must be a positive integer, not {parallel!r}")
        self.parallel = parallel
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
        _shutdown_processes(processes)

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

        Example:
            >>> with SandboxPool(workers=1) as pool:
            ...     _ = pool.check("def check_following(i, r):\\n    return True", "instruction", "x")
            ...     pool.rss_bytes() > 0
            True
        """
        import psutil

        total = 0
        for pid in self.pids():
            try:
                process = psutil.Process(pid)
                total += sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
            except psutil.Error:  # exited between listing and measuring
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
            problem = self._task_problem(task)
            if problem:
                results[i] = CheckResult(None, problem, 0.0)
            else:
                digest = hashlib.blake2b(task.code.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
                groups.setdefault(digest, []).append(i)
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
