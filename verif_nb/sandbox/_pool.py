"""SandboxPool: runs dataset-supplied ``check_following`` code in a fresh, locked-down process per function.

The caller's process never executes the code, and parses it only when it is small (see ``PARENT_COMPILE_CHARS``).
Each worker is a clean zygote (see ``_worker.py``) started inside the kernel layers of ``_isolation.py``; it forks
children that lock themselves down and wait, and passes each one's socket and pidfd to the parent, which sends it
one function and all the responses to check with it. This module is the parent's side: **one event loop, on one
thread, over every worker and child** (no thread per worker contending for the GIL), and it trusts nothing it
reads: each child's byte stream is parsed against the strict schema of ``_wire.py``, and a reply that does not fit
is that function's error, never the caller's crash.

Fairness (issue 19): the loop alone keeps time, from its own clock, per check: a check past ``timeout_s`` + grace
gets its child killed. A check's clock pauses while a host call it made runs (the call is served on a thread of
its own, and the child is stopped meanwhile), so a slow judge is nobody's time-out. A child that has reported its
last verdict is stopped at once (SIGSTOP) and killed once the batch is over, or at once if it kept memory, so it
gets no more CPU and holds no memory. A crash or time-out is charged to the check that was running; the checks
queued behind it run again in a new child, and any host call they make again is answered from the batch's memo.

Example:
    >>> with SandboxPool(workers=1) as pool:
    ...     pool.check("def check_following(instruction, response):\\n    return len(response.split()) >= 2",
    ...                "instruction", "two words").passed
    True
"""

from __future__ import annotations

import array
import builtins
import collections
import hashlib
import json
import logging
import marshal
import math
import os
import select
import signal
import socket
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
from verif_nb.sandbox import _wire as wire
from verif_nb.sandbox._isolation import WORKER_ENV, LaunchPlan, launch_plan, read_roots
from verif_nb.sandbox._policy import DEFAULT_ALLOWED_IMPORTS, compile_screened, is_allowed_module
from verif_nb.sandbox._settings import MAX_CALLS_PER_CHECK, SandboxSettings

log = logging.getLogger(__name__)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
_KILL_CONFIRM_S = 2.0  # how long the zygote gets to report a killed child's exit before the whole worker goes
# Finished children a worker keeps stopped until its batch is over (killing them inside a reward burst costs their
# exits' CPU there); beyond this many, they are killed in the batch. Each may hold FINISHED_ALLOWANCE_MB beyond
# the zygote's pages; one holding more is killed at once.
MAX_FINISHED = 64
FINISHED_ALLOWANCE_MB = 8
# The caller screens and compiles a function itself (and caches the result) only when it is this small (bounded
# time and memory here: ~60 ms at worst, measured), and only when it meets it a second time or its loop has time
# to spare (busy less than PARENT_BUSY_SHARE of the last LOAD_WINDOW_S): a warm process compiles in ~0.1 ms what
# costs a cold child ~1 ms, but on many cores the loop's own time is the bottleneck. All other functions are
# parsed, screened and compiled by their child, under its limits and the parent's clock.
PARENT_COMPILE_CHARS = 16_384
PARENT_BUSY_SHARE, LOAD_WINDOW_S = 0.5, 0.1
_SEEN_FUNCTIONS = 65_536  # how many distinct function texts the pool remembers having seen
_UNSANDBOXED_HINT = (
    "pass allow_unsandboxed=True (CLI: --allow-unsandboxed-code, params: "
    "sandbox.allow_unsandboxed: true) to run dataset code without it, at your own risk"
)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_FINISHED_ALLOWANCE_PAGES = FINISHED_ALLOWANCE_MB * 2**20 // _PAGE
_MSG_CTRUNC = int(getattr(socket, "MSG_CTRUNC", 0))
_FDS_SPACE = socket.CMSG_SPACE(2 * wire.MAX_CHILDREN_PER_FRAME * array.array("i").itemsize)
PYTHON_LAYERS = ("static screen", "audit hook", "restricted builtins and imports", "read-only module proxies")


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
    first check of a function; host calls' time not included).

    Example:
        >>> CheckResult(passed=None, error="timed out after 2.0 s", seconds=2.0).passed is None
        True
    """

    passed: bool | None
    error: str | None
    seconds: float


class _WorkerLost(Exception):
    """The zygote died, hung or sent something it never sends; the whole worker is replaced."""


class _Batch:
    """One ``check_batch`` call: its results as they come, and the host-call answers given so far."""

    __slots__ = ("tasks", "results", "left", "done", "finished", "error", "memo", "asked")

    def __init__(self, tasks: list[CheckTask]):
        self.tasks = tasks
        self.results: list[CheckResult | None] = [None] * len(tasks)
        self.left = 0
        self.done = threading.Event()  # the caller waits on it
        self.finished = False  # the same, for the loop (cheaper to read)
        self.error: BaseException | None = None
        # (task index, call number within its check, name, digest of the arguments) -> answer: a re-run check
        # that asks again is answered from here, never by a second call (issue 20, item 8); ``asked``: the jobs
        # waiting for an answer still on its way.
        self.memo: dict[tuple, wire.HostAnswer] = {}
        self.asked: dict[tuple, list[_Job]] = {}

    def store(self, index: int, result: CheckResult) -> None:
        if self.results[index] is None:
            self.results[index] = result
            self.left -= 1
            if self.left == 0:
                self.finished = True
                self.done.set()

    def fail(self, error: BaseException) -> None:
        if not self.finished:
            self.error = error
            self.finished = True
            self.done.set()


class _Spec:
    """One job waiting for a child: a batch's indices of one function. ``careful``: a re-run after a death;
    ``warm``: library data the zygote must hold first (see ``_wire.WARM_UP_NAMES``)."""

    __slots__ = ("batch", "indices", "careful", "code", "warm")

    def __init__(self, batch: _Batch, indices: list[int], careful: bool, warm: tuple[str, ...] = ()):
        self.batch, self.indices, self.careful, self.warm = batch, indices, careful, warm
        self.code = batch.tasks[indices[0]].code


class _Child:
    """A forked child as the parent holds it: its id at the zygote, its socket, its pidfd (-1: none)."""

    __slots__ = ("id", "fd", "pidfd", "zygote_rss", "host_pid")

    def __init__(self, child_id: int, fd: int, pidfd: int, zygote_rss: int, host_pid: int | None):
        self.id, self.fd, self.pidfd, self.zygote_rss = child_id, fd, pidfd, zygote_rss
        self.host_pid = host_pid  # known for children forked ahead: they are stopped when done, not killed

    def close(self) -> None:
        for fd in (self.fd, self.pidfd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.pidfd = -1


class _Job:
    """One function's checks, running in one child, and what came back so far."""

    __slots__ = (
        "spec",
        "child",
        "worker",
        "stream",
        "results",
        "last",
        "began",
        "ending",
        "reason",
        "killed_at",
        "calls",
        "call_started",
        "outgoing",
        "polling_out",
    )

    def __init__(self, spec: _Spec, child: _Child, worker: _Worker, now: float):
        self.spec, self.child, self.worker = spec, child, worker
        self.stream = wire.ChildStream(len(spec.indices))
        self.results: list[CheckResult] = []
        self.last = self.began = now  # when the check now running started (its clock), by the parent's clock
        self.ending: str | None = None  # set when the parent stopped it (timeout, malformed) or it ended early
        self.reason: str | None = None
        self.killed_at = 0.0
        self.calls = 0  # host calls made by the check now running
        self.call_started: float | None = None  # a host call is being answered: the clock is paused
        self.outgoing = bytearray()  # the job, then host-call answers, not yet written
        self.polling_out = False  # its socket is watched for room to write


def _describe_exit(exit: wire.Exit) -> str:
    if exit.signal is not None:
        try:
            name = signal.Signals(exit.signal).name
        except ValueError:
            name = "unknown signal"
        hints = {signal.SIGKILL: " (memory limit, CPU limit or killed)", signal.SIGXCPU: " (its CPU limit, cpu_s)"}
        hint = hints.get(exit.signal, "")
        return f"check process died (killed by signal {exit.signal}, {name}){hint}"
    return f"check process exited early (exit code {exit.code})"


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


def _read_proc(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _host_pid(pidfd: int) -> int | None:
    """The process's id in this process's PID namespace (a worker's children live in their own)."""
    info = _read_proc(f"/proc/self/fdinfo/{pidfd}")
    at = info.find(b"\nPid:")
    if at < 0:
        return None
    try:
        pid = int(info[at + 5 : info.index(b"\n", at + 5)])
    except ValueError:
        return None
    return pid if pid > 0 else None


def _resident_pages(pid: int) -> int:
    try:
        return int(_read_proc(f"/proc/{pid}/statm").split()[1])
    except (ValueError, IndexError):
        return 0


class _Worker:
    """One zygote and the parent's view of it: its stock of children, its running jobs, its finished children.

    The zygote forks children when asked and passes each one's socket (and pidfd) to the parent; from then on the
    parent talks to the child directly (the job out, records in) and the zygote only kills, reaps and reports
    exits. A worker runs up to ``parallel`` jobs at once and keeps a stock of children forked ahead.
    """

    def __init__(self, engine: _Engine, number: int):
        self.engine, self.pool, self.number = engine, engine.pool, number  # the pool: a weak proxy
        self.proc: subprocess.Popen | None = None
        self.channel: socket.socket | None = None
        self.errors = None  # the worker's stderr, read when it fails to start
        self.ready: wire.Ready | None = None
        self.start_deadline = math.inf
        self.failed_starts = 0
        self.buffer = bytearray()  # zygote frames not yet parsed
        self.fds: collections.deque[int] = collections.deque()  # received descriptors not yet matched to frames
        self.outgoing = bytearray()  # requests to the zygote not yet written
        self.stock: collections.deque[_Child] = collections.deque()
        self.stock_ids: set[int] = set()
        self.requested = 0  # children asked for that have not arrived
        self.starved_since: float | None = None  # waiting for children since
        self.running: dict[int, _Job] = {}  # child id -> job
        self.finished: list[int] = []  # stopped children done with their job, waiting for their SIGKILL
        self.warmed: set[str] = set()
        self.warming = False
        self.plan: LaunchPlan | None = None

    # -- the zygote ------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        pool = self.pool
        config = {
            "allowed": sorted(pool.allowed_imports),
            "memory_mb": pool.memory_mb,
            "timeout_s": pool.timeout_s,
            "cpu_s": pool.cpu_s,
            "screen": pool._static_screen,
            "python_layers": pool.python_layers,
            "seccomp": pool._seccomp,
            "allow_unsandboxed": pool.allow_unsandboxed,
            "host_calls": sorted(pool.host_functions),
            "llm_call": pool.llm_call,
            "exec_style": pool.exec_style,
            "read_roots": read_roots(),
        }
        self.plan = plan = launch_plan([], use_namespaces=pool.namespaces)
        config["drop_uid"] = plan.namespaces is not None and os.geteuid() == 0
        plan = launch_plan(
            [sys.executable, "-I", "-B", "-X", "utf8", WORKER_PATH, json.dumps(config)], use_namespaces=pool.namespaces
        )
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.errors = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                plan.argv,
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=self.errors,
                env=dict(WORKER_ENV),
                cwd="/",
                close_fds=True,
                start_new_session=True,
            )
        except OSError as err:
            ours.close()
            self.errors.close()
            self.errors = None
            raise SandboxError(
                f"could not start a sandbox worker ({err}); check that {sys.executable} "
                "runs and that the machine can create processes"
            ) from err
        finally:
            theirs.close()
        pool._register(self.proc)
        self.channel = ours
        ours.setblocking(False)
        self.start_deadline = now + pool.startup_timeout_s
        self.engine.watch(ours.fileno(), self, select.EPOLLIN)

    def stderr_tail(self) -> str:
        if self.errors is None:
            return ""
        try:
            self.errors.seek(0)
            return self.errors.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def discard(self) -> None:
        """Ends the worker and everything under it, and forgets its children."""
        if self.proc is not None:
            _shutdown_processes([self.proc])
            try:
                self.pool._unregister(self.proc)
            except ReferenceError:  # the pool was collected; its finalizer ended the processes
                pass
        self.proc = None
        if self.channel is not None:
            self.engine.unwatch(self.channel.fileno())
            self.channel.close()
            self.channel = None
        for child in self.stock:
            child.close()
        self.stock_ids.clear()
        for job in self.running.values():
            if job.child.fd >= 0:
                self.engine.unwatch(job.child.fd)
            job.child.close()
        while self.fds:
            os.close(self.fds.popleft())
        if self.errors is not None:
            self.errors.close()
            self.errors = None
        self.ready = None
        self.start_deadline = math.inf
        self.stock.clear()
        self.running.clear()
        self.finished.clear()
        self.warmed.clear()
        self.requested, self.warming, self.starved_since = 0, False, None
        self.buffer.clear()
        self.outgoing.clear()

    def request(self, message: wire.Fork | wire.Kill | wire.Warm) -> None:
        self.outgoing += message.encode()
        self.flush()

    def flush(self) -> None:
        """Writes what the zygote can take now (the rest when the loop sees it writable)."""
        if self.channel is None:
            return
        try:
            while self.outgoing:
                del self.outgoing[: self.channel.send(self.outgoing[: 1 << 16])]
        except BlockingIOError:
            pass
        except OSError:
            raise _WorkerLost("the worker stopped reading its input") from None
        self.engine.watch(
            self.channel.fileno(), self, select.EPOLLIN | (select.EPOLLOUT if self.outgoing else 0), modify=True
        )

    def receive(self) -> None:
        """Reads everything the zygote has sent (a read returns at most one message's descriptors, so it loops)."""
        while True:
            try:
                data, ancillary, flags, _ = self.channel.recvmsg(1 << 16, _FDS_SPACE)
            except BlockingIOError:
                return
            except ConnectionResetError:  # it died with requests unread
                data, ancillary, flags = b"", [], 0
            except OSError as err:
                raise _WorkerLost(f"the worker's channel failed ({err})") from None
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    self.fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
            if flags & _MSG_CTRUNC:
                raise _WorkerLost("descriptors from the worker were cut off")
            if not data:
                code = self.proc.poll() if self.proc else None
                raise _WorkerLost("the worker died" + (f" (exit status {code})" if code is not None else ""))
            self.buffer += data

    def frames(self):
        while True:
            try:
                frame = wire.next_frame(self.buffer)
            except (ValueError, RecursionError, TypeError, KeyError) as err:
                raise _WorkerLost(f"the worker sent a frame it never sends ({err})") from None
            if frame is None:
                return
            yield frame

    def want(self, count: int, ahead: bool = False) -> None:
        """Asks the zygote for enough children that ``count`` are in stock or on their way. Children forked
        ``ahead`` of a burst (the pool idle) also prefault their memory; ones needed now do not, and come first."""
        missing = count - len(self.stock) - self.requested
        if missing > 0:
            self.requested += missing
            self.request(wire.Fork(missing, ahead))

    def take_children(self, frame: wire.Children) -> None:
        per_child = 2 if self.ready.pidfd else 1
        if len(self.fds) < per_child * len(frame.children):
            raise _WorkerLost("the worker announced children without their descriptors")
        for child_id, _ in frame.children:
            fd = self.fds.popleft()  # non-blocking already (the zygote made the pair so)
            pidfd = self.fds.popleft() if per_child == 2 else -1
            host_pid = _host_pid(pidfd) if frame.ahead and pidfd >= 0 else None
            self.stock.append(_Child(child_id, fd, pidfd, frame.zygote_rss_pages, host_pid))
            self.stock_ids.add(child_id)
        self.requested = max(0, self.requested - len(frame.children))
        self.starved_since = None

    def kill_finished(self) -> None:
        if self.finished and self.channel is not None:
            self.request(wire.Kill(tuple(self.finished)))
        self.finished = []


class _Engine:
    """The pool's event loop, on a thread of its own: every worker's channel and every running child's socket
    in one epoll; batches and host-call answers come in through ``post`` (any thread)."""

    def __init__(self, pool: SandboxPool):
        # A weak proxy: a pool dropped without close() is still collected, and its finalizer ends this loop.
        self.pool = weakref.proxy(pool)
        self.epoll = select.epoll()
        self.wake_r, self.wake_w = os.pipe()
        self.wake_lock = threading.Lock()  # the pipe is closed under it: a late post never writes elsewhere
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.epoll.register(self.wake_r, select.EPOLLIN)
        self.targets: dict[int, object] = {}  # fd -> _Worker (its channel) or _Job (its child's socket)
        self.inbox: collections.deque = collections.deque()
        self.queue: collections.deque[_Spec] = collections.deque()
        self.workers = [_Worker(self, n) for n in range(pool.workers)]
        self.batches: set[_Batch] = set()
        self.host_calls: ThreadPoolExecutor | None = None
        self.fatal: SandboxError | None = None
        self.closing = False
        self.wake_at = math.inf  # no deadline before this (a lower bound, recomputed when reached)
        self.dirty = False  # something changed that may let a job start
        self.idle = True
        self.seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.busy = 0.0  # the share of the last LOAD_WINDOW_S the loop spent working
        self.window = (time.monotonic(), time.thread_time())
        self.compiled: collections.OrderedDict[str, tuple[str | None, bytes | None]] = collections.OrderedDict()
        self.thread = threading.Thread(target=self.run, name="sandbox-pool", daemon=True)
        self.thread.start()

    # -- plumbing ---------------------------------------------------------------------------------------
    def post(self, *message) -> None:
        """From any thread: hands the loop a message and wakes it."""
        self.inbox.append(message)
        with self.wake_lock:
            if self.wake_w >= 0:
                try:
                    os.write(self.wake_w, b"\0")
                except BlockingIOError:
                    pass  # the pipe is full: the loop wakes anyway

    def watch(self, fd: int, target, events: int, modify: bool = False) -> None:
        if modify:
            self.epoll.modify(fd, events)
        else:
            self.epoll.register(fd, events)
            self.targets[fd] = target

    def unwatch(self, fd: int) -> None:
        if self.targets.pop(fd, None) is not None:
            try:
                self.epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    def run(self) -> None:
        try:
            while not (self.closing and not self.inbox):
                timeout = self.wake_at - time.monotonic() if self.wake_at < math.inf else -1
                events = self.epoll.poll(max(0.0, timeout) if timeout >= 0 else -1)
                for fd, mask in events:
                    if fd == self.wake_r:
                        try:
                            while os.read(self.wake_r, 4096):
                                pass
                        except BlockingIOError:
                            pass
                        continue
                    target = self.targets.get(fd)
                    if type(target) is _Job:
                        self.on_child(target, mask)
                    elif type(target) is _Worker:
                        self.on_channel(target, mask)
                while self.inbox:
                    self.handle(self.inbox.popleft())
                now = time.monotonic()
                if now - self.window[0] >= LOAD_WINDOW_S:
                    cpu = time.thread_time()
                    self.busy = (cpu - self.window[1]) / (now - self.window[0])
                    self.window = (now, cpu)
                if now >= self.wake_at:
                    self.expire(now)
                if self.dirty:
                    self.schedule(now)
                    if any(batch.finished for batch in self.batches):
                        self.batches = {batch for batch in self.batches if not batch.finished}
                if not self.idle and not self.batches:
                    self.on_idle()
        except BaseException as err:  # a bug here must not leave callers waiting forever
            log.exception("sandbox pool loop failed")
            self.fatal = SandboxError(f"the sandbox pool's loop failed: {type(err).__name__}: {err}")
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        error = self.fatal or SandboxError("sandbox pool was closed before this check ran")
        for batch in list(self.batches):
            batch.fail(error)
        while self.inbox:
            message = self.inbox.popleft()
            if message[0] == "batch":
                message[1].fail(error)
        self.batches.clear()
        self.queue.clear()
        for worker in self.workers:
            worker.discard()
        if self.host_calls is not None:
            self.host_calls.shutdown(wait=False, cancel_futures=True)
        self.epoll.close()
        with self.wake_lock:
            os.close(self.wake_r)
            os.close(self.wake_w)
            self.wake_w = -1

    def handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "batch":
            _, batch, specs = message
            if self.fatal is not None:
                batch.fail(self.fatal)
                return
            self.batches.add(batch)
            self.queue.extend(specs)
            self.idle = False
            self.dirty = True
        elif kind == "answer":
            self.on_answer(*message[1:])
        elif kind == "cancel":
            self.cancel(message[1])
        elif kind == "close":
            self.closing = True
            self.fatal = self.fatal or SandboxError("this SandboxPool is closed; create a new one")

    # -- scheduling -------------------------------------------------------------------------------------
    def schedule(self, now: float) -> None:
        """Starts waiting jobs on workers with a free slot and a child in stock; starts workers as needed."""
        self.dirty = False
        queue, pool = self.queue, self.pool
        while queue and queue[0].batch.finished:
            queue.popleft()  # cancelled or failed
        if not queue:
            return
        if self.fatal is None:
            for worker in self.workers:
                if worker.proc is None:
                    self.start(worker, now)
        ready = [w for w in self.workers if w.ready is not None and not w.warming]
        parallel = pool.parallel
        for worker in ready:
            try:
                while queue and len(worker.running) < parallel:
                    spec = queue[0]
                    if spec.batch.finished:
                        queue.popleft()
                        continue
                    if spec.warm and not worker.warmed.issuperset(spec.warm):
                        # library data the zygote loads once, before forking the children that use it
                        names = tuple(n for n in spec.warm if n not in worker.warmed)
                        worker.warming = True
                        worker.warmed.update(names)
                        worker.request(wire.Warm(names))
                        break
                    if not worker.stock:
                        share = -(-len(queue) // len(ready))
                        worker.want(min(share, pool.spares + parallel))
                        if worker.starved_since is None:
                            worker.starved_since = now
                            self.wake_at = min(self.wake_at, now + pool.startup_timeout_s)
                        break
                    queue.popleft()
                    problem, compiled = self.parent_compile(spec.code)
                    if problem is not None:  # refused by the screen: no child needed
                        for i in spec.indices:
                            spec.batch.store(i, CheckResult(None, problem, 0.0))
                        continue
                    self.start_job(worker, spec, compiled, now)
            except _WorkerLost as lost:
                self.lose(worker, lost)
            if not queue:
                break

    def parent_compile(self, code: str) -> tuple[str | None, bytes | None]:
        """(screen problem, marshalled code) for a small function, compiled here once and cached, when it was met
        before or the loop has time to spare; (None, None) otherwise: the child parses, screens and compiles it,
        under its own limits."""
        found = self.compiled.get(code)
        if found is not None:
            return found
        if len(code) > PARENT_COMPILE_CHARS:
            return None, None
        if code not in self.seen and self.busy >= PARENT_BUSY_SHARE:
            self.seen[code] = None
            if len(self.seen) > _SEEN_FUNCTIONS:
                self.seen.popitem(last=False)
            return None, None
        pool = self.pool
        if pool._static_screen and pool.python_layers:
            problem, code_object = compile_screened(code, pool.allowed_imports)
        else:
            problem, code_object = None, None  # the child compiles code that runs as written
        found = self.compiled[code] = (problem, marshal.dumps(code_object) if code_object is not None else None)
        if len(self.compiled) > 4096:
            self.compiled.popitem(last=False)
        return found

    def start(self, worker: _Worker, now: float) -> None:
        try:
            worker.start(now)
            self.wake_at = min(self.wake_at, worker.start_deadline)
        except SandboxError as err:
            self.fail_all(err)

    def start_job(self, worker: _Worker, spec: _Spec, compiled: bytes | None, now: float) -> None:
        """Hands one function's checks to a child from the stock: each distinct string once, and index pairs."""
        tasks = spec.batch.tasks
        index_of: dict[str, int] = {}
        rows = []
        for i in spec.indices:
            task = tasks[i]
            rows.append(
                (
                    index_of.setdefault(task.instruction, len(index_of)),
                    index_of.setdefault(task.response, len(index_of)),
                )
            )
        child = worker.stock.popleft()
        worker.stock_ids.discard(child.id)
        job = _Job(spec, child, worker, now)
        job.outgoing += wire.Job(spec.code, compiled, list(index_of), rows, spec.careful).encode()
        worker.running[child.id] = job
        self.epoll.register(child.fd, select.EPOLLIN)
        self.targets[child.fd] = job
        self.write_child(job)
        self.wake_at = min(self.wake_at, now + self.pool.timeout_s + self.pool.grace_s)

    def write_child(self, job: _Job) -> None:
        fd = job.child.fd
        try:
            while job.outgoing:
                del job.outgoing[: os.write(fd, job.outgoing[: 1 << 20])]
        except BlockingIOError:
            pass
        except OSError:
            job.outgoing.clear()  # it is gone; its end shows up as the end of its output
        if bool(job.outgoing) != job.polling_out:
            job.polling_out = bool(job.outgoing)
            self.epoll.modify(fd, select.EPOLLIN | (select.EPOLLOUT if job.polling_out else 0))

    def guard(self, worker: _Worker, action) -> None:
        """Runs ``action`` on a worker's zygote; a worker found lost is replaced and its jobs charged."""
        try:
            action()
        except _WorkerLost as lost:
            self.lose(worker, lost)

    # -- the zygotes ------------------------------------------------------------------------------------
    def on_channel(self, worker: _Worker, mask: int) -> None:
        try:
            if mask & select.EPOLLOUT:
                worker.flush()
            if mask & ~select.EPOLLOUT:
                worker.receive()
            for frame in worker.frames():
                self.on_frame(worker, frame)
        except _WorkerLost as lost:
            self.lose(worker, lost)

    def on_frame(self, worker: _Worker, frame) -> None:
        if worker.ready is None:
            if not isinstance(frame, wire.Ready):
                raise _WorkerLost("the worker's first message was not its ready report")
            self.on_ready(worker, frame)
        elif isinstance(frame, wire.Children):
            worker.take_children(frame)
            self.dirty = True
        elif isinstance(frame, wire.Exits):
            for exit in frame.exits:
                job = worker.running.get(exit.child)
                if job is not None:
                    self.ended(job, exit)
                elif exit.child in worker.stock_ids:  # a spare that died before its job (rare)
                    for child in [c for c in worker.stock if c.id == exit.child]:
                        worker.stock.remove(child)
                        worker.stock_ids.discard(child.id)
                        child.close()
        elif isinstance(frame, wire.Warmed):
            stale = [c for c in worker.stock if c.id < frame.next_child]
            for child in stale:  # forked before the data was loaded: they would load it inside a check
                worker.stock.remove(child)
                worker.stock_ids.discard(child.id)
                child.close()  # it sees the end of its input and exits
            worker.warming = False
            self.dirty = True
        else:
            raise _WorkerLost("the worker sent a frame out of order")

    def on_ready(self, worker: _Worker, ready: wire.Ready) -> None:
        pool = self.pool
        if ready.fatal:
            detail = ready.fatal
            worker.discard()
            self.fail_all(SandboxError(f"sandbox worker refused to start: {detail}"))
            return
        pool._record_isolation(worker.plan, ready)
        if not ready.seccomp and not pool.allow_unsandboxed:
            worker.discard()
            self.fail_all(
                SandboxError(
                    f"dataset code was not run: the kernel sandbox is unavailable here "
                    f"({ready.kernel_problem}); {_UNSANDBOXED_HINT}"
                )
            )
            return
        for name, reason in ready.missing.items():
            pool._log_once(f"allowed module {name!r} cannot be imported in the workers ({reason})")
        worker.ready = ready
        worker.failed_starts = 0
        worker.start_deadline = math.inf
        # enough for the work waiting (children needed now), else a stock for the next burst (forked ahead)
        wanted = -(-len(self.queue) // len(self.workers))
        worker.want(min(wanted, pool.spares + pool.parallel) if wanted else pool.spares, ahead=not wanted)
        self.dirty = True

    def lose(self, worker: _Worker, lost: Exception) -> None:
        """The worker died or broke its protocol: each running check is charged, the checks behind it run
        again; the worker is started again when there is work."""
        log.info("sandbox worker lost: %s", lost)
        starting = worker.ready is None
        detail = worker.stderr_tail() if starting else ""
        jobs = list(worker.running.values())
        worker.discard()
        for job in jobs:
            self.finish(job, "crash", f"sandbox worker lost ({lost})")
        if starting:
            worker.failed_starts += 1
            if worker.failed_starts >= 3:
                worker.failed_starts = 0  # the next batch tries again
                self.fail_all(
                    SandboxError(
                        f"sandbox worker failed to start: {lost}"
                        + (f"; its stderr ends with: {detail}" if detail else "")
                    ),
                    permanent=False,
                )
        self.dirty = True

    def fail_all(self, error: SandboxError, permanent: bool = True) -> None:
        """A worker cannot start here: every batch in flight gets the error, and every later one too when it is
        a configuration problem (``permanent``)."""
        if permanent:
            self.fatal = error
        for batch in list(self.batches):
            batch.fail(error)
        self.batches.clear()
        self.queue.clear()

    # -- children ---------------------------------------------------------------------------------------
    def on_child(self, job: _Job, mask: int) -> None:
        if mask & select.EPOLLOUT:
            self.write_child(job)
        if mask & ~select.EPOLLOUT:
            self.read_child(job)

    def read_child(self, job: _Job) -> None:
        fd = job.child.fd
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        now = time.monotonic()
        if not data:  # it ended before its last verdict: the zygote reports how
            self.close_socket(job)
            self.kill(job, "eof", None, now)
            return
        records, problem = job.stream.feed(data)
        elapsed = now - job.began  # caps each check's time as the child claims it
        results = job.results
        for record in records:
            if type(record) is wire.CheckVerdict:
                if job.call_started is not None:
                    problem = "sent a verdict while its host call was being answered"
                    break
                seconds = record.seconds
                results.append(CheckResult(record.passed, record.error, seconds if seconds < elapsed else elapsed))
                job.calls = 0
                job.last = now
            elif type(record) is wire.HostCall:
                problem = self.on_call(job, record, now)
                if problem:
                    break
            else:  # Defined
                job.last = now
        if problem:
            self.kill(job, "malformed", problem, now)
        elif len(job.results) == len(job.spec.indices):  # done
            self.close_socket(job)
            del job.worker.running[job.child.id]
            self.release(job.worker, job.child)
            self.finish(job, "done", None)
            self.dirty = True

    def close_socket(self, job: _Job) -> None:
        fd = job.child.fd
        if fd >= 0:
            # Out of the epoll set first: closing alone does not take it out while another reference to the
            # socket lives (measured: a closed child's socket kept waking the loop with EPOLLHUP).
            self.unwatch(fd)
            os.close(fd)
            job.child.fd = -1
        job.outgoing.clear()

    def release(self, worker: _Worker, child: _Child) -> None:
        """A child reported its last verdict: it gets no more CPU and keeps no memory. One forked ahead of a
        burst (the pool idle) is stopped at once and killed with the others when the batch is over, so its exit
        costs nothing inside the burst, unless it holds more than the zygote's pages and a small allowance: then
        it is killed at once. One forked during the batch is killed at once (its exit's CPU is spent in the
        batch either way)."""
        if child.pidfd < 0:  # no pidfd here: the zygote kills it now
            self.guard(worker, lambda: worker.request(wire.Kill((child.id,))))
            return
        try:
            if child.host_pid is not None:
                signal.pidfd_send_signal(child.pidfd, signal.SIGSTOP)
                if _resident_pages(child.host_pid) <= child.zygote_rss + _FINISHED_ALLOWANCE_PAGES:
                    worker.finished.append(child.id)
                    child.close()
                    if len(worker.finished) >= MAX_FINISHED:
                        self.guard(worker, worker.kill_finished)
                    return
            signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.close()

    def kill(self, job: _Job, ending: str, reason: str | None, now: float) -> None:
        """Stops a job's child (what it still says does not count); its exit, reported by the zygote, settles
        the job."""
        job.ending, job.reason, job.killed_at = ending, reason, now
        self.close_socket(job)
        child = job.child
        killed = False
        if child.pidfd >= 0:
            try:
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
                killed = True
            except ProcessLookupError:
                killed = True  # already gone; the zygote reports its exit
            except OSError:
                pass
        if not killed:
            self.guard(job.worker, lambda: job.worker.request(wire.Kill((child.id,))))
        self.wake_at = min(self.wake_at, now + _KILL_CONFIRM_S)

    def ended(self, job: _Job, exit: wire.Exit) -> None:
        """A running job's child exited (reported by the zygote): charges the check that was running."""
        if job.child.fd >= 0 and job.ending is None:
            # The exit came on the zygote's channel, but the child's last records may still wait in its own
            # socket: read them first (it is dead, so the socket ends after them).
            os.set_blocking(job.child.fd, True)
            while job.child.id in job.worker.running and job.child.fd >= 0 and job.ending is None:
                if not select.select([job.child.fd], [], [], 1.0)[0]:
                    break
                self.read_child(job)
            if job.child.id not in job.worker.running:
                return  # its last verdict was in there
        job.worker.running.pop(job.child.id, None)
        self.close_socket(job)
        job.child.close()
        ending, reason = job.ending, job.reason
        if ending in (None, "eof"):
            ending, reason = "crash", _describe_exit(exit)
            if not job.stream.defined and not job.results:
                ending, reason = "undefined", f"{reason} while defining check_following"
        self.finish(job, ending, reason)
        self.dirty = True

    def finish(self, job: _Job, ending: str, reason: str | None) -> None:
        """Stores a job's verdicts; charges what went wrong to the check that was running."""
        batch, indices = job.spec.batch, job.spec.indices
        for i, result in zip(indices, job.results):
            batch.store(i, result)
        rest = indices[len(job.results) :]
        if ending == "done" or not rest or batch.finished:
            return
        if ending == "malformed":
            for i in rest:
                batch.store(i, CheckResult(None, f"the check process {reason}; its function was stopped", 0.0))
        elif not job.spec.careful:  # it died or ran out of time, and records may have been held back: what was
            self.queue.appendleft(_Spec(batch, rest, True, job.spec.warm))  # what ran is unknown: all run again
        elif ending == "undefined":
            for i in rest:
                batch.store(i, CheckResult(None, reason, 0.0))
        else:  # the culprit is the check that was running; its neighbours run again
            batch.store(rest[0], CheckResult(None, reason, 0.0))
            if rest[1:]:
                self.queue.appendleft(_Spec(batch, rest[1:], True, job.spec.warm))
        self.dirty = True

    # -- time -------------------------------------------------------------------------------------------
    def expire(self, now: float) -> None:
        """Kills what ran past its time by the loop's clock and finds the next deadline."""
        pool = self.pool
        limit = pool.timeout_s + pool.grace_s
        wake_at = math.inf
        for worker in self.workers:
            if worker.proc is not None and worker.ready is None:
                if now >= worker.start_deadline:
                    self.lose(worker, _WorkerLost(f"no answer within {pool.startup_timeout_s:.0f} s"))
                    continue
                wake_at = min(wake_at, worker.start_deadline)
            if worker.starved_since is not None:
                if worker.stock or not self.queue:
                    worker.starved_since = None
                elif now >= worker.starved_since + pool.startup_timeout_s:
                    self.lose(worker, _WorkerLost(f"no check process started within {pool.startup_timeout_s:.0f} s"))
                    continue
                else:
                    wake_at = min(wake_at, worker.starved_since + pool.startup_timeout_s)
            for job in list(worker.running.values()):
                if job.ending:
                    if now >= job.killed_at + _KILL_CONFIRM_S:
                        self.lose(worker, _WorkerLost("the worker did not confirm a kill"))
                        break
                    wake_at = min(wake_at, job.killed_at + _KILL_CONFIRM_S)
                elif job.call_started is not None:
                    continue  # paused: a host call is being answered
                elif now >= job.last + limit:
                    self.read_child(job)  # what it said while the loop was busy counts
                    if job.child.id in worker.running and job.ending is None and now >= job.last + limit:
                        reason = f"timed out after {pool.timeout_s} s (check process killed)"
                        if job.stream.defined:
                            self.kill(job, "timeout", reason, now)
                        else:
                            self.kill(job, "undefined", f"defining check_following {reason}", now)
                    wake_at = min(wake_at, now + _KILL_CONFIRM_S)
                else:
                    wake_at = min(wake_at, job.last + limit)
        self.wake_at = wake_at

    # -- host calls -------------------------------------------------------------------------------------
    def on_call(self, job: _Job, call: wire.HostCall, now: float) -> str | None:
        """A check asked for a host function: answered from the batch's memo, or by the function on a thread of
        its own while the child is stopped and its clock paused. Returns a protocol problem, if any."""
        if job.call_started is not None:
            return "sent a host call while another was being answered"
        done = len(job.results)
        if done >= len(job.spec.indices):
            return "sent a host call after its last verdict"
        job.calls += 1
        # the arguments by digest: a row may send 8 calls of 1 MiB per check, and the memo lives as long as the batch
        arguments = hashlib.blake2b(json.dumps([call.args, call.kwargs]).encode(), digest_size=16).digest()
        key = (job.spec.indices[done], job.calls, call.name, arguments)
        batch = job.spec.batch
        answer = batch.memo.get(key)
        if answer is None and key not in batch.asked:
            function = self.pool.host_functions.get(call.name)
            if job.calls > self.pool.max_host_calls:
                answer = wire.HostAnswer(False, None, f"more than {self.pool.max_host_calls} judge calls in one check")
            elif function is None:
                answer = wire.HostAnswer(False, None, f"{call.name} is not available")
            else:
                if self.host_calls is None:
                    self.host_calls = ThreadPoolExecutor(self.pool.host_concurrency, thread_name_prefix="sandbox-host")
                future = self.host_calls.submit(_call_host, function, call.args, call.kwargs)
                future.add_done_callback(lambda f: self.post("answer", batch, key, _answer_of(f)))
                batch.asked[key] = []
        if answer is not None:
            batch.memo[key] = answer
            self.answer(job, answer)
            return None
        batch.asked[key].append(job)  # answered when the call returns (a re-run's repeat waits for the same)
        job.call_started = now
        if job.child.pidfd >= 0:  # it waits for the answer anyway; stopped, it cannot spend CPU meanwhile
            try:
                signal.pidfd_send_signal(job.child.pidfd, signal.SIGSTOP)
            except OSError:
                pass
        return None

    def on_answer(self, batch: _Batch, key: tuple, answer: wire.HostAnswer) -> None:
        batch.memo[key] = answer
        now = time.monotonic()
        for job in batch.asked.pop(key, ()):
            if job.call_started is not None:
                job.last += now - job.call_started  # the clock resumes where it paused
                job.call_started = None
                self.wake_at = min(self.wake_at, job.last + self.pool.timeout_s + self.pool.grace_s)
            if job.child.fd >= 0 and job.ending is None:
                self.answer(job, answer)
            if job.child.pidfd >= 0:
                try:
                    signal.pidfd_send_signal(job.child.pidfd, signal.SIGCONT)
                except OSError:
                    pass

    def answer(self, job: _Job, answer: wire.HostAnswer) -> None:
        try:
            job.outgoing += answer.encode()
        except (TypeError, ValueError) as err:  # a value JSON cannot carry
            job.outgoing += wire.HostAnswer(False, None, f"the host function's answer is not JSON ({err})").encode()
        self.write_child(job)

    # -- batches ----------------------------------------------------------------------------------------
    def cancel(self, batch: _Batch) -> None:
        """The caller stopped waiting (KeyboardInterrupt): its jobs' children are killed, its queue dropped."""
        batch.fail(SandboxError("interrupted"))
        now = time.monotonic()
        for worker in self.workers:
            for job in list(worker.running.values()):
                if job.spec.batch is batch and job.ending is None:
                    self.kill(job, "crash", "interrupted", now)

    def on_idle(self) -> None:
        """The burst is over: finished children are killed and every worker's stock refilled, while the caller
        goes on."""
        if any(worker.running for worker in self.workers):
            return
        self.idle = True
        for worker in self.workers:
            if worker.ready is not None:
                self.guard(worker, worker.kill_finished)
                self.guard(worker, lambda w=worker: w.want(self.pool.spares, ahead=True))


def _finalize(engines: list[_Engine], processes: list) -> None:
    """A pool collected without close(): its loop is told to end, its processes are killed."""
    for engine in engines:
        engine.post("close")
    _shutdown_processes(processes)


def _answer_of(future) -> wire.HostAnswer:
    try:
        return future.result()
    except BaseException as err:  # KeyboardInterrupt in a host function, a call cancelled at close
        return wire.HostAnswer(False, None, f"{type(err).__name__}: {err}"[:500])


def _call_host(function: Callable[..., Any], args: list, kwargs: dict) -> wire.HostAnswer:
    """Runs a host function for a check (on the pool's host-call threads); what it raises is the check's."""
    try:
        value = function(*args, **kwargs)
        json.dumps(value)
        return wire.HostAnswer(True, value)
    except Exception as err:
        kind = type(err).__name__ if getattr(builtins, type(err).__name__, None) is type(err) else None
        try:
            arguments = json.loads(json.dumps(list(err.args))) if kind else None
        except (TypeError, ValueError):
            arguments = [str(err)]
        return wire.HostAnswer(False, None, f"{type(err).__name__}: {err}"[:500], kind, arguments)


class SandboxPool:
    """A pool of sandboxed workers that run dataset-supplied ``check_following`` functions.

    ``workers`` zygotes are started lazily on first use; every function runs in a fresh child process. Each
    check gets ``timeout_s`` seconds of wall time by the caller's clock (host calls not counted), each child at
    most ``memory_mb`` MB of address space and ``cpu_s`` seconds of CPU. ``check_batch`` is thread-safe and
    returns one result per task, in order; it never raises for a bad check.

    ``python_layers=True`` (the default profile) screens the code statically and runs it with an audit hook,
    restricted builtins and imports (only ``allowed_imports``, see ``ALLOWED_IMPORT_REASONS``) and read-only
    module proxies, as defence in depth; ``python_layers=False`` runs the code as written (any module installed
    in the sandbox's environment imports; ``eval``, ``open`` for reading, ``"...".format``... work), for the
    reference profile. The kernel layers are the same either way, and :attr:`isolation` records both.

    Where the kernel layer (seccomp) cannot be installed, dataset code does not run: ``check_batch`` raises
    SandboxError, unless ``allow_unsandboxed=True``, which runs it without it and says so in :attr:`isolation`.
    ``host_functions`` maps judge-shim names (``llm_extract``, ``llm_score``, ``llm_judge``) to callables the
    parent runs for rule code that calls them: JSON arguments in, any JSON value back unchanged; one that raises
    is that check's error. They run on up to ``host_concurrency`` threads, a check's clock paused meanwhile, at
    most ``max_host_calls`` per check; a re-run check's repeated call is answered from memory.
    ``llm_call`` (``OriginalPrompts.for_sandbox()``, the reference profile) makes the ``llm_call`` module rule
    code imports VerIF's own: its functions build the prompt in the child, on the rule's own objects, and send
    only the finished request as a ``generate_chat`` host call.
    ``exec_style="verif"`` defines each function the way VerIF's own executor does (imports replayed into the
    globals, module-level names in separate locals), for the ``reference`` profile.

    Speed (benchmarks/RESULTS.md): each worker keeps a stock of ``spares`` children forked, locked down and
    warmed up while the pool is idle (~3.6 MB each), so a trainer's reward burst waits for no fork; it runs up
    to ``parallel`` of them at once; finished children are stopped and killed once the batch is over, so exits
    too fall outside the burst. Memory: at most ``workers`` x ``parallel`` children run at once, each within
    ``memory_mb``; finished ones keep at most ``FINISHED_ALLOWANCE_MB`` of their own.

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
        python_layers: bool = True,
        cpu_s: float | None = None,
        max_batch: int = 256,
        startup_timeout_s: float = 60.0,
        allow_unsandboxed: bool = False,
        namespaces: bool = True,
        host_functions: dict[str, Callable[..., Any]] | None = None,
        llm_call: dict[str, Any] | None = None,
        max_host_calls: int = MAX_CALLS_PER_CHECK,
        host_concurrency: int = 16,
        exec_style: str = "verif_nb",
        spares: int = 32,
        parallel: int = 4,
        _static_screen: bool = True,
        _seccomp: bool = True,
        _python_layers: bool | None = None,
    ):
        settings = SandboxSettings(
            workers=workers,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            python_layers=python_layers if _python_layers is None else _python_layers,
            cpu_s=cpu_s,
            max_batch=max_batch,
            startup_timeout_s=startup_timeout_s,
            allow_unsandboxed=allow_unsandboxed,
            namespaces=namespaces,
            max_host_calls=max_host_calls,
            host_concurrency=host_concurrency,
            exec_style=exec_style,  # type: ignore[arg-type]
            spares=spares,
            parallel=parallel,
        )
        self.settings = settings  # typed and checked once; the attributes below are its values
        self.workers = settings.workers
        self.timeout_s = settings.timeout_s
        self.memory_mb = settings.memory_mb
        self.allowed_imports = frozenset(allowed_imports)
        self.python_layers = settings.python_layers
        self.max_batch = settings.max_batch
        # Time a check gets past its own alarm before the parent kills its process (C code the alarm can't stop).
        self.grace_s = max(0.5, 0.5 * self.timeout_s)
        # A child's CPU: the parent's clock bounds each check, and a finished child is stopped; this is the
        # kernel's bound over a whole job (by default what its largest job may use by the parent's clock).
        self.cpu_s = settings.cpu_s if settings.cpu_s is not None else max_batch * (self.timeout_s + self.grace_s) + 5
        self.startup_timeout_s = settings.startup_timeout_s
        self.allow_unsandboxed = settings.allow_unsandboxed
        self.namespaces = settings.namespaces
        self.host_functions = dict(host_functions or {})
        self.llm_call = llm_call
        self.max_host_calls = settings.max_host_calls
        self.host_concurrency = settings.host_concurrency
        self.exec_style = settings.exec_style
        self.spares = settings.spares
        self.parallel = settings.parallel
        # Tests switch layers off to prove the ones behind them hold on their own.
        self._static_screen = bool(_static_screen)
        self._seccomp = bool(_seccomp)
        self.isolation: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._engine: _Engine | None = None
        self._processes: list[subprocess.Popen] = []
        self._logged: set[str] = set()
        self._engines: list[_Engine] = []  # the loop, for the finalizer of a pool dropped without close()
        self._finalizer = weakref.finalize(self, _finalize, self._engines, self._processes)

    # -- management ------------------------------------------------------------------------------------
    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _record_isolation(self, plan: LaunchPlan, ready: wire.Ready) -> None:
        seccomp = bool(ready.seccomp)
        children = self.workers * self.parallel
        finished = self.workers * MAX_FINISHED * FINISHED_ALLOWANCE_MB if ready.pidfd else 0
        info = {
            "sandboxed": seccomp,
            "seccomp": seccomp,
            "namespaces": plan.namespaces,
            "uid": 65534 if ready.uid_drop else None,
            "problems": [p for p in (ready.kernel_problem, plan.problem) if p],
            "python_layers": list(PYTHON_LAYERS) if self.python_layers else [],
            "limits": {
                "timeout_s": self.timeout_s,
                "memory_mb": self.memory_mb,
                "cpu_s": self.cpu_s,
                "children_at_once": children,
                "finished_children": "stopped at once, killed after the batch" if ready.pidfd else "killed at once",
                # running children within memory_mb each, finished ones within their allowance, plus the
                # workers' own (zygotes and their stock of idle children)
                "children_memory_bound_mb": children * self.memory_mb + finished,
                "host_calls_per_check": self.max_host_calls,
            },
        }
        with self._lock:
            first = not self.isolation
            self.isolation = info
        if first and not seccomp and self.allow_unsandboxed:
            log.warning(
                "sandbox: dataset code runs WITHOUT the kernel sandbox (%s), as allow_unsandboxed asked",
                ready.kernel_problem,
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

    def _engine_now(self) -> _Engine:
        with self._lock:
            if self._closed:
                raise SandboxError("this SandboxPool is closed; create a new one")
            if self._engine is None:
                self._engine = _Engine(self)
                self._engines.append(self._engine)
            return self._engine

    def close(self) -> None:
        """Stops all workers and their children; the pool cannot be used afterwards. Idempotent.

        Example:
            >>> pool = SandboxPool(); pool.close(); pool.close()
        """
        with self._lock:
            self._closed = True
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.post("close")
            engine.thread.join()
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
        batch = _Batch(tasks)
        groups: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            if type(task) is CheckTask and type(task.code) is type(task.instruction) is type(task.response) is str:
                groups.setdefault(task.code, []).append(i)
                continue
            problem = self._task_problem(task)  # the slow path: names what is wrong, accepts subclasses
            if problem:
                batch.results[i] = CheckResult(None, problem, 0.0)
            else:
                groups.setdefault(task.code, []).append(i)
        if not groups:
            return batch.results  # type: ignore[return-value]
        # One job = one function's checks (split only when very many): never two functions. Longest first.
        specs = [
            _Spec(batch, members[i : i + self.max_batch], False, self._warm_names(code))
            for code, members in groups.items()
            for i in range(0, len(members), self.max_batch)
        ]
        specs.sort(key=lambda spec: len(spec.indices), reverse=True)
        batch.left = sum(len(spec.indices) for spec in specs)
        engine = self._engine_now()
        engine.post("batch", batch, specs)
        try:
            batch.done.wait()
        except BaseException:  # interrupted (Ctrl-C in a notebook): its children are killed, then it propagates
            engine.post("cancel", batch)
            raise
        if batch.error is not None:
            raise batch.error
        return batch.results  # type: ignore[return-value]

    def _warm_names(self, code: str) -> tuple[str, ...]:
        """Library data the zygote must load before forking this function's child (named in its source)."""
        return tuple(
            name
            for name in wire.WARM_UP_NAMES
            if name in code and (not self.python_layers or is_allowed_module(name, self.allowed_imports))
        )

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
