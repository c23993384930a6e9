"""SandboxPool: runs dataset-supplied ``check_following`` code in locked-down worker processes.

The caller's process never executes the code. It sends batches of (code hash, instruction, response) to
long-lived workers (see ``_worker.py`` for the lock-down), each of which compiles a function once per code
hash and answers a whole batch in one reply. A worker that dies, hangs in C code or sends nonsense is killed
and replaced; the task it was running gets ``passed=None`` with the reason, the others are re-sent.

Example:
    >>> with SandboxPool(workers=1) as pool:
    ...     pool.check("def check_following(instruction, response):\\n    return len(response.split()) >= 2",
    ...                "instruction", "two words").passed
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import mmap
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from verif_nb.errors import ParamsError, SandboxError
from verif_nb.sandbox._policy import DEFAULT_ALLOWED_IMPORTS

log = logging.getLogger(__name__)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
_HEADER_SIZE = 4
_PROGRESS_SIZE = 16
_LOADING = 1 << 63  # set in the progress index while the worker loads library data (see _worker.py)
_MAX_ATTEMPTS = 3  # times a task is re-sent after workers died under other tasks
_MAX_KNOWN_CODES = 20_000  # a worker's compiled-function cache is reset beyond this


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

    ``seconds`` is the time the check took inside the worker (compilation included on first use).

    Example:
        >>> CheckResult(passed=None, error="timed out after 2.0 s", seconds=2.0).passed is None
        True
    """

    passed: bool | None
    error: str | None
    seconds: float


class _WorkerLost(Exception):
    """The worker died or was killed while running a batch; ``index`` is the task it was on (or None)."""

    def __init__(self, index: int | None, reason: str, seconds: float = 0.0):
        super().__init__(reason)
        self.index, self.reason, self.seconds = index, reason, seconds


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "worker died"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        hint = " (memory limit or killed)" if -returncode == signal.SIGKILL else ""
        return f"worker died (killed by signal {-returncode}, {name}){hint}"
    return f"worker died (exit code {returncode})"


def _shutdown_processes(processes: list) -> None:
    """Kills worker processes; also run by a finalizer when a pool is garbage-collected unclosed."""
    for proc in processes:
        if proc.poll() is None:
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


class _Worker:
    """One worker process and the parent's view of it; used by one thread at a time."""

    def __init__(self, pool: SandboxPool):
        self.pool = pool
        self.proc: subprocess.Popen | None = None
        self.progress: mmap.mmap | None = None
        self.known: set[str] = set()
        self.seq = 0
        self.buffer = bytearray()

    # -- life cycle ------------------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        pool = self.pool
        shm_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryFile(dir=shm_dir) as shared, tempfile.TemporaryFile() as errors:
            os.ftruncate(shared.fileno(), _PROGRESS_SIZE)
            self.progress = mmap.mmap(shared.fileno(), _PROGRESS_SIZE)
            config = {"allowed": sorted(pool.allowed_imports), "memory_mb": pool.memory_mb,
                      "timeout_s": pool.timeout_s, "progress_fd": shared.fileno(),
                      "screen": pool._static_screen}
            command = [sys.executable, "-I", "-B", "-X", "utf8", WORKER_PATH, json.dumps(config)]
            try:
                self.proc = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env={}, cwd="/",
                    pass_fds=(shared.fileno(),), close_fds=True, start_new_session=True)
            except OSError as err:
                raise SandboxError(f"could not start a sandbox worker ({err}); check that {sys.executable} "
                                   "runs and that the machine can create processes") from err
            pool._register(self.proc)
            self.known.clear()
            self.buffer.clear()
            os.set_blocking(self.proc.stdin.fileno(), False)
            try:
                ready = self._read_frame(pool.startup_timeout_s, watch_progress=False)
            except _WorkerLost as lost:
                errors.seek(0)
                detail = errors.read()[-2000:].decode("utf-8", "replace").strip()
                self.discard()
                raise SandboxError(f"sandbox worker failed to start: {lost.reason}"
                                   + (f"; its stderr ends with: {detail}" if detail else "")) from None
        if "fatal" in ready:
            self.discard()
            refusal = SandboxError(f"sandbox worker refused to start: {ready['fatal']}")
            refusal.permanent = True  # a configuration problem: starting again would not help
            raise refusal
        notes = [f"allowed module {name!r} cannot be imported in the workers ({reason})"
                 for name, reason in (ready.get("missing") or {}).items()]
        notes += [f"{warning}; that limit is not enforced on this platform" for warning in ready.get("warnings") or []]
        for note in notes:
            if note not in pool._logged:  # once per pool, not at every worker restart
                pool._logged.add(note)
                log.warning("sandbox: %s", note)

    def discard(self) -> None:
        if self.proc is not None:
            _shutdown_processes([self.proc])
            self.pool._unregister(self.proc)
        if self.progress is not None:
            self.progress.close()
        self.proc, self.progress = None, None
        self.known.clear()
        self.buffer.clear()

    # -- protocol --------------------------------------------------------------------------------------
    def _progress(self) -> tuple[int, int]:
        return tuple(int.from_bytes(self.progress[i:i + 8], "little") for i in (0, 8))  # type: ignore[return-value]

    def _lost(self, seq: int | None, reason: str | None = None, seconds: float = 0.0) -> _WorkerLost:
        """Builds the loss report after the process is gone (so its progress record is final)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        index = None
        if seq is not None and self.progress is not None:
            done_seq, running = self._progress()
            if done_seq == seq:
                index = running & ~_LOADING
        return _WorkerLost(index, reason or _describe_exit(self.proc.returncode if self.proc else None), seconds)

    def _write_frame(self, data: bytes) -> None:
        view = memoryview(len(data).to_bytes(_HEADER_SIZE, "big") + data)
        fd = self.proc.stdin.fileno()
        patience = self.pool.timeout_s + self.pool.grace_s + 10
        deadline = time.monotonic() + patience
        while view:
            try:
                view = view[os.write(fd, view):]
                deadline = time.monotonic() + patience  # it is reading: wait as long again
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise self._lost(None, "worker stopped reading its input (killed)")
                select.select([], [fd], [], 0.05)
            except (BrokenPipeError, OSError):
                raise self._lost(None) from None

    def _read_frame(self, first_wait_s: float, watch_progress: bool = True, seq: int | None = None,
                    max_size: int = 64 << 20) -> dict:
        """Reads one reply; while waiting, kills the worker if one task runs past timeout + grace."""
        fd = self.proc.stdout.fileno()
        limit = self.pool.timeout_s + self.pool.grace_s
        poll = min(0.1, self.pool.timeout_s / 4)
        started = time.monotonic()
        last_seen = self._progress() if watch_progress else None
        task_started = started
        while True:
            if len(self.buffer) >= _HEADER_SIZE:
                size = int.from_bytes(self.buffer[:_HEADER_SIZE], "big")
                if size > max_size:
                    raise self._lost(None, f"worker sent a reply of {size} bytes (killed)")
                if len(self.buffer) >= _HEADER_SIZE + size:
                    body = bytes(self.buffer[_HEADER_SIZE:_HEADER_SIZE + size])
                    del self.buffer[:_HEADER_SIZE + size]
                    try:
                        reply = json.loads(body)
                    except ValueError:
                        raise self._lost(None, "worker sent a malformed reply (killed)") from None
                    if not isinstance(reply, dict):
                        raise self._lost(None, "worker sent a malformed reply (killed)")
                    return reply
            readable, _, _ = select.select([fd], [], [], poll)
            now = time.monotonic()
            if readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise self._lost(seq)
                self.buffer += chunk
                continue
            if not watch_progress:
                if now - started > first_wait_s:
                    raise self._lost(None, f"no answer within {first_wait_s:.0f} s")
                continue
            seen = self._progress()
            if seen != last_seen:
                last_seen, task_started = seen, now
            elif now - task_started > (self.pool.startup_timeout_s if seen[1] & _LOADING else limit):
                raise self._lost(seq, f"timed out after {self.pool.timeout_s} s (worker killed)", now - task_started)

    def _validated(self, reply: dict, seq: int, count: int) -> list[CheckResult]:
        results = reply.get("results")
        if reply.get("seq") != seq or not isinstance(results, list) or len(results) != count:
            raise self._lost(None, "worker sent a reply that does not match the request (killed)")
        out = []
        for item in results:
            if not (isinstance(item, list) and len(item) == 3 and (item[0] is None or isinstance(item[0], bool))
                    and (item[1] is None or isinstance(item[1], str))
                    and isinstance(item[2], (int, float)) and math.isfinite(item[2])):
                raise self._lost(None, "worker sent a malformed result (killed)")
            passed, error, seconds = item
            if passed is None and not error:
                error = "worker gave no result and no reason"
            out.append(CheckResult(passed, None if passed is not None else error[:500], float(seconds)))
        return out

    def run_batch(self, tasks: list[CheckTask], digests: list[str]) -> list[CheckResult]:
        """Runs tasks in one request; raises _WorkerLost if the worker dies or hangs."""
        self.seq += 1
        seq = self.seq
        reset = len(self.known) > _MAX_KNOWN_CODES
        if reset:
            self.known.clear()
        codes = {}
        for task, digest in zip(tasks, digests):
            if digest not in self.known and digest not in codes:
                codes[digest] = task.code
        strings: list[str] = []
        index_of: dict[str, int] = {}  # responses repeat across a record's checks; send each once

        def intern(text: str) -> int:
            found = index_of.get(text)
            if found is None:
                found = index_of[text] = len(strings)
                strings.append(text)
            return found

        rows = [[digest, intern(task.instruction), intern(task.response)] for task, digest in zip(tasks, digests)]
        payload = json.dumps({"seq": seq, "reset": reset, "codes": codes, "strings": strings, "tasks": rows})
        self._write_frame(payload.encode("ascii"))
        self.known.update(codes)
        reply = self._read_frame(0, seq=seq, max_size=(1 << 20) + 1024 * len(tasks))
        results = self._validated(reply, seq, len(tasks))
        if reply.get("recycle"):
            self.discard()  # it hit its memory limit; the next batch gets a fresh process
        return results


class SandboxPool:
    """A pool of sandboxed worker processes that run dataset-supplied ``check_following`` functions.

    ``workers`` processes are started lazily on first use. Each check gets ``timeout_s`` seconds of wall
    time and each worker at most ``memory_mb`` MB of address space (RLIMIT_AS, for the whole process).
    Only ``allowed_imports`` may be imported (see ``ALLOWED_IMPORT_REASONS``). ``check_batch`` is
    thread-safe and returns one result per task, in order; it never raises for a bad check.

    Example:
        >>> code = "import re\\ndef check_following(instruction, response):\\n    return re.search('cat', response)"
        >>> with SandboxPool(workers=1, timeout_s=1.0) as pool:
        ...     [r.passed for r in pool.check_batch([CheckTask(code, "instruction", "a cat"),
        ...                                          CheckTask(code, "instruction", "a dog")])]
        [True, False]
    """

    def __init__(self, workers: int = 2, timeout_s: float = 2.0, memory_mb: int = 512,
                 allowed_imports: frozenset[str] = DEFAULT_ALLOWED_IMPORTS, *, max_batch: int = 128,
                 startup_timeout_s: float = 60.0, _static_screen: bool = True):
        if not isinstance(workers, int) or workers < 1:
            raise ParamsError(f"workers must be a positive integer, not {workers!r}")
        if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s <= 3600):
            raise ParamsError(f"timeout_s must be in (0, 3600] seconds, not {timeout_s!r}")
        if not isinstance(memory_mb, int) or memory_mb < 32:
            raise ParamsError(f"memory_mb must be an integer >= 32 (an idle worker uses ~25 MB of address "
                              f"space, ~90 MB once langdetect is loaded), not {memory_mb!r}")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ParamsError(f"max_batch must be a positive integer, not {max_batch!r}")
        self.workers = workers
        self.timeout_s = float(timeout_s)
        self.memory_mb = memory_mb
        self.allowed_imports = frozenset(allowed_imports)
        self.max_batch = max_batch
        self.startup_timeout_s = startup_timeout_s
        # Tests turn the workers' static screen off to prove the layers behind it hold on their own.
        self._static_screen = bool(_static_screen)
        # Time a worker gets past the per-check alarm before it is killed (C code the alarm can't interrupt).
        self.grace_s = max(0.5, 0.5 * self.timeout_s)
        self._lock = threading.Lock()
        self._closed = False
        self._slots: list[_Worker] = []
        self._idle: queue.Queue[_Worker] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._processes: list[subprocess.Popen] = []
        self._logged: set[str] = set()
        self._finalizer = weakref.finalize(self, _shutdown_processes, self._processes)

    # -- management ------------------------------------------------------------------------------------
    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
                self._slots = [_Worker(self) for _ in range(self.workers)]
                self._idle = queue.Queue()
                for slot in self._slots:
                    self._idle.put(slot)
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox")
            return self._idle

    def close(self) -> None:
        """Stops all workers; the pool cannot be used afterwards. Idempotent.

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
        for slot in self._slots:
            if slot.progress is not None:
                slot.progress.close()
                slot.progress = None
            slot.proc = None

    def pids(self) -> list[int]:
        """Process ids of the running workers (empty before first use).

        Example:
            >>> SandboxPool().pids()
            []
        """
        with self._lock:
            return [p.pid for p in self._processes if p.poll() is None]

    def rss_bytes(self) -> int:
        """Resident memory of all running workers together, in bytes (psutil; 0 before first use).

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
                total += psutil.Process(pid).memory_info().rss
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
        """Runs every task in the workers and returns their results in the same order.

        A check that fails in any way (bad code, exception, time-out, a killed worker) gives
        ``passed=None`` and an ``error``; only a pool that cannot start workers at all raises SandboxError.

        Example:
            >>> with SandboxPool(workers=1) as pool:
            ...     pool.check_batch([CheckTask("import os\\ndef check_following(i, r):\\n    return 1",
            ...                                 "instruction", "x")])[0].error
            "import of 'os' is not allowed (line 1)"
        """
        tasks = list(tasks)
        results: list[CheckResult | None] = [None] * len(tasks)
        runnable: list[int] = []
        for i, task in enumerate(tasks):
            problem = self._task_problem(task)
            if problem:
                results[i] = CheckResult(None, problem, 0.0)
            else:
                runnable.append(i)
        if not runnable:
            return results  # type: ignore[return-value]
        idle = self._ensure_open()
        size = max(1, min(self.max_batch, math.ceil(len(runnable) / self.workers)))
        chunks = [runnable[i:i + size] for i in range(0, len(runnable), size)]
        digests = {}
        for i in runnable:
            code = tasks[i].code
            if code not in digests:
                digests[code] = hashlib.blake2b(code.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        next_chunk = iter(chunks)
        take_lock = threading.Lock()

        def drain() -> None:
            worker = idle.get()
            try:
                while True:
                    with take_lock:
                        chunk = next(next_chunk, None)
                    if chunk is None:
                        return
                    chunk_tasks = [tasks[i] for i in chunk]
                    for i, result in zip(chunk, self._run_on(worker, chunk_tasks,
                                                             [digests[t.code] for t in chunk_tasks])):
                        results[i] = result
            finally:
                idle.put(worker)

        helpers = min(self.workers, len(chunks)) - 1
        with self._lock:
            executor = self._executor
        futures = [executor.submit(drain) for _ in range(helpers)] if executor and helpers > 0 else []
        drain()  # the calling thread works too
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

    def _run_on(self, worker: _Worker, tasks: list[CheckTask], digests: list[str]) -> list[CheckResult]:
        """Runs tasks on one worker slot, replacing the process when it is lost, until all have results."""
        results: list[CheckResult | None] = [None] * len(tasks)
        attempts = [0] * len(tasks)
        pending = list(range(len(tasks)))
        failed_starts = 0
        while pending:
            if self._closed:
                for i in pending:
                    results[i] = CheckResult(None, "sandbox pool was closed before this check ran", 0.0)
                break
            if not worker.alive():
                worker.discard()
                try:
                    worker.start()
                except SandboxError as err:
                    failed_starts += 1
                    if failed_starts >= 3 or getattr(err, "permanent", False):
                        raise
                    continue
            try:
                batch = worker.run_batch([tasks[i] for i in pending], [digests[i] for i in pending])
            except (KeyboardInterrupt, SystemExit):
                worker.discard()  # interrupted mid-request: its late reply must not answer the next one
                raise
            except _WorkerLost as lost:
                worker.discard()
                log.info("sandbox worker lost: %s", lost.reason)
                rest = pending
                if lost.index is not None and 0 <= lost.index < len(pending):
                    culprit = pending[lost.index]
                    results[culprit] = CheckResult(None, lost.reason, round(lost.seconds, 6))
                    rest = pending[:lost.index] + pending[lost.index + 1:]
                pending = []
                for i in rest:
                    attempts[i] += 1
                    if attempts[i] >= _MAX_ATTEMPTS:
                        results[i] = CheckResult(None, f"{lost.reason}; gave up after {attempts[i]} workers "
                                                       "were lost running this batch", 0.0)
                    else:
                        pending.append(i)
                continue
            for i, result in zip(pending, batch):
                results[i] = result
            pending = []
        return results  # type: ignore[return-value]
