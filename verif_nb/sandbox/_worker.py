"""The sandbox worker process: runs dataset-supplied ``check_following`` functions for :class:`SandboxPool`.

Started by the pool as ``python -I -B -X utf8 _worker.py CONFIG`` with an empty environment; it never runs in
the caller's process. Before it reads its first task it locks itself down, in this order:

1. stdout/stderr/stdin point at /dev/null (protocol frames travel on private duplicates of the pipes), so
   printing gigabytes goes nowhere; the working directory is ``/``.
2. The allowed modules are imported while imports are still unrestricted (modules they use internally load
   normally; user code only ever sees read-only proxies of the allowed ones).
3. Resource limits: RLIMIT_AS (memory), RLIMIT_FSIZE=0 (no bytes written to files), RLIMIT_NPROC=0 (no
   child processes; not enforced by Linux for root), RLIMIT_NOFILE, RLIMIT_CORE=0, and RLIMIT_CPU per batch.
4. A PEP 578 audit hook, which cannot be removed once installed, refuses process creation, signals to other
   processes, sockets, ctypes, file writes, file reads outside the Python installation, code-object
   construction, frame introspection and imports of dangerous modules.

Each check then runs with per-check builtins (no open/exec/eval/compile/...), a restricted ``__import__``, a
wall-clock alarm, and the static screen of ``_policy.py`` applied before the code is compiled.

Protocol: frames of a 4-byte big-endian length plus UTF-8 JSON (never pickle: the parent must not trust what
comes back). Request ``{"seq", "codes": {hash: source}, "strings": [...], "tasks": [[hash, i, j], ...]}``;
reply ``{"seq", "results": [[passed, error, seconds], ...], "recycle": bool}``. The index of the running task
is kept in a shared 16-byte memory map so the parent can tell which task hung or killed the worker.

Example (what the pool does, by hand)::

    python -I -B -X utf8 verif_nb/sandbox/_worker.py '{"allowed": ["re"], "memory_mb": 512, ...}'
"""

from __future__ import annotations

import builtins
import copy
import importlib
import importlib.util
import json
import math
import mmap
import os
import resource
import signal
import struct
import sys
import time
import types

HEADER = struct.Struct(">I")
PROGRESS = struct.Struct("<QQ")  # (batch seq, index of the task now running)
LOADING = 1 << 63  # or-ed into the index while a library loads its data, outside the per-check clock
MAX_ERROR_CHARS = 300
HEADROOM_BYTES = 16 << 20  # address space a check needs at least, beyond the idle worker's
CHECK_FILENAME = "<check_following>"

# Builtins a checker gets, by allow-list (new builtins in later Pythons stay out until reviewed).
SAFE_BUILTIN_NAMES = (
    "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "classmethod", "complex", "dict", "dir", "divmod", "enumerate", "filter", "float", "format", "frozenset",
    "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next",
    "object", "oct", "ord", "pow", "property", "range", "repr", "reversed", "round", "set", "slice", "sorted",
    "staticmethod", "str", "sum", "super", "tuple", "type", "zip", "__build_class__",
    "True", "False", "None", "Ellipsis", "NotImplemented",
)

# Audit events refused once the worker is locked down (exact names, then name prefixes before the first dot).
BLOCKED_EVENTS = frozenset({
    "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "os.putenv", "os.unsetenv", "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
    "os.link", "os.symlink", "os.truncate", "os.utime", "os.chdir", "os.chflags", "os.lchflags", "os.lchmod",
    "os.lchown", "os.setxattr", "os.removexattr", "os.startfile", "os.add_dll_directory",
    "signal.pthread_kill", "sys._current_frames", "sys.settrace", "sys.setprofile",
    "sys._current_exceptions", "code.__new__", "function.__new__", "mmap.__new__", "pty.spawn",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "cpython.remove_audit_hook",
    "webbrowser.open", "tempfile.mkstemp", "tempfile.mkdtemp", "glob.glob", "glob.glob/2",
})
BLOCKED_EVENT_PREFIXES = frozenset({
    "socket", "ctypes", "subprocess", "shutil", "urllib", "http", "ftplib", "smtplib", "imaplib", "poplib",
    "telnetlib", "nntplib", "winreg", "msvcrt", "_winapi", "sqlite3", "syslog",
})
# Modules that may not even be loaded after lockdown (already-loaded ones are simply unreachable).
BLOCKED_IMPORTS = frozenset({
    "ctypes", "_ctypes", "_posixsubprocess", "subprocess", "socket", "_socket", "ssl", "_ssl", "pty",
    "multiprocessing", "_multiprocessing", "_posixshmem", "fcntl", "termios", "gc", "_thread", "threading",
    "pickle", "_pickle", "asyncio", "select", "selectors", "urllib.request", "http.client", "sqlite3",
})
# Modules that C code imports on its own when called straight from a check (so through the check's
# ``__import__``): the real module is returned, as checker code can never name ``__import__`` itself.
INTERNAL_IMPORTS = frozenset({"_strptime"})
# Submodules imported up front so a check's first use doesn't pay for loading them.
PRELOAD_SUBMODULES = ("html.parser", "xml.etree.ElementTree", "collections.abc", "punkt.data", "_strptime")


def _llm_call_stub() -> types.ModuleType:
    """VerInstruct's judge shim, as a module whose functions refuse: judge calls don't belong in a rule check."""
    stub = types.ModuleType("llm_call")

    def refuse(name: str):
        def judge_call(*args, **kwargs):
            raise RuntimeError(f"{name} is a judge call: [llm] constraints are checked by the LLM judge, "
                               "not in the sandbox")
        judge_call.__name__ = name
        return judge_call

    for name in ("llm_judge", "llm_score", "llm_extract"):
        setattr(stub, name, refuse(name))
    return stub


def _load_langdetect() -> None:
    from langdetect.detector_factory import init_factory

    init_factory()


def _load_punkt() -> None:
    import punkt

    punkt.sent_tokenize("Warm up, Mr. Smith. Done.", "english")


# (substring of the code that triggers it, loader): data loaded on a worker's first check that needs it.
WARM_UPS = (("langdetect", _load_langdetect), ("punkt", _load_punkt))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _CheckTimeout(BaseException):
    """Raised by the alarm inside a check that ran past its time (BaseException: harder to swallow)."""


class _Discard:
    """A text sink for sys.stdout / sys.stderr: checker prints cost time, never memory or disk."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_frame(fd: int, payload: dict) -> None:
    data = json.dumps(payload).encode("ascii")
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _load_policy():
    """Loads _policy.py from beside this file (the worker runs with -I: the package is not importable)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_policy.py")
    spec = importlib.util.spec_from_file_location("_sandbox_policy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _make_audit_hook(read_roots: tuple[str, ...]):
    """The process-wide last line of defence; its state is captured in closures the checker can't reach."""
    realpath = os.path.realpath
    blocked, prefixes, blocked_imports = BLOCKED_EVENTS, BLOCKED_EVENT_PREFIXES, BLOCKED_IMPORTS
    write_flags = WRITE_FLAGS

    def readable(path) -> bool:
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str):
            return False  # file descriptors, None (the working directory)
        full = realpath(path)
        return any(full == root or full.startswith(root + os.sep) for root in read_roots)

    def hook(event, args):
        if event in blocked or event.partition(".")[0] in prefixes:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & write_flags:
                raise PermissionError("sandbox: writing files is not allowed")
            if not readable(path):
                raise PermissionError("sandbox: reading files outside the Python installation is not allowed")
        elif event in ("os.listdir", "os.scandir"):
            if not readable(args[0]):
                raise PermissionError(f"sandbox: {event} outside the Python installation is not allowed")
        elif event == "import":
            name = args[0]
            if name in blocked_imports or name.partition(".")[0] in blocked_imports:
                raise ImportError(f"import of {name!r} is not allowed")

    return hook


class _Sandbox:
    """Per-worker state: allowed modules, proxies, safe builtins and the compiled-check cache."""

    def __init__(self, config: dict, policy):
        self.policy = policy
        self.allowed = frozenset(config["allowed"])
        self.timeout_s = float(config["timeout_s"])
        self.memory_mb = int(config["memory_mb"])
        self.screen = bool(config.get("screen", True))  # False only in tests of the layers behind the screen
        self.missing: dict[str, str] = {}
        self.proxies: dict[str, types.ModuleType] = {}
        self.cache: dict[str, tuple] = {}
        self.armed = False
        self.recycle = False  # after a timeout or memory bomb, shared library state may be half-updated
        self.progress: mmap.mmap | None = None
        self.position = (0, 0)
        self.warmed: set[str] = set()

    # -- modules ---------------------------------------------------------------------------------------
    def preload(self) -> None:
        if "llm_call" in self.allowed:
            sys.modules["llm_call"] = _llm_call_stub()
        wanted = sorted(self.allowed) + [m for m in PRELOAD_SUBMODULES
                                         if self._allowed(m) or m in INTERNAL_IMPORTS]
        for name in wanted:
            try:
                importlib.import_module(name)
            except Exception as err:  # a module on the list that this Python lacks
                self.missing[name] = f"{type(err).__name__}: {err}"
        detector = sys.modules.get("langdetect")
        if detector is not None:
            # langdetect is random unless seeded; checks must give the same answer every time.
            detector.DetectorFactory.seed = 0

    def warm_up(self, code: str) -> None:
        """Loads the data of libraries the code uses, once, before its clock starts.

        langdetect reads ~55 profiles (~0.8 s, ~60 MB) on first use; interrupting that with the alarm
        would leave it half-loaded for every later check, and paying it in every worker up front would
        cost memory when no check needs it. The parent allows the LOADING phase its start-up time.
        """
        for name, load in WARM_UPS:
            if name in self.warmed or name in self.missing or name not in code or not self._allowed(name):
                continue
            self.warmed.add(name)
            seq, index = self.position
            PROGRESS.pack_into(self.progress, 0, seq, index | LOADING)
            try:
                load()
            except Exception:
                pass  # the check itself will then fail with the library's own error
            finally:
                PROGRESS.pack_into(self.progress, 0, seq, index)

    def _allowed(self, name: str) -> bool:
        return self.policy.is_allowed_module(name, self.allowed)

    def proxy(self, module: types.ModuleType) -> types.ModuleType:
        name = module.__name__
        found = self.proxies.get(name)
        if found is None:
            found = self.proxies[name] = self._make_proxy(module)
        return found

    def _make_proxy(self, module: types.ModuleType) -> types.ModuleType:
        sandbox = self
        exposes_all = self._allowed(module.__name__)
        module_name = module.__name__
        denied = self.policy.DENIED_ATTRIBUTES
        containers = (dict, list, set, bytearray)

        def resolve(attr: str):
            if attr.startswith("_") or attr in denied:
                raise AttributeError(f"access to attribute {attr!r} is not allowed")
            child = f"{module_name}.{attr}"
            if not exposes_all:
                if sandbox._allowed(child):
                    return sandbox.proxy(sandbox.import_real(child)), True
                raise AttributeError(f"access to module {child!r} is not allowed")
            try:
                value = getattr(module, attr)
            except AttributeError:
                if sandbox._allowed(child):
                    return sandbox.proxy(sandbox.import_real(child)), True
                raise AttributeError(f"module {module_name!r} has no attribute {attr!r}") from None
            if isinstance(value, types.ModuleType):
                if not sandbox._allowed(value.__name__):
                    raise AttributeError(f"access to module {value.__name__!r} is not allowed")
                return sandbox.proxy(value), True
            if type(value) in containers:
                # A copy per access: a checker that edits a module-level table must not change it for the next.
                try:
                    return copy.deepcopy(value), False
                except Exception:
                    return copy.copy(value), False
            return value, True

        class ReadOnlyModule(types.ModuleType):
            __slots__ = ()

            def __getattr__(self, attr):
                value, cacheable = resolve(attr)
                if cacheable:
                    self.__dict__[attr] = value  # later lookups skip this method
                return value

            def __setattr__(self, attr, value):
                raise AttributeError(f"module {module_name!r} is read-only in the sandbox")

            def __delattr__(self, attr):
                raise AttributeError(f"module {module_name!r} is read-only in the sandbox")

            def __dir__(self):
                return sorted(n for n in dir(module) if not n.startswith("_"))

            def __repr__(self):
                return f"<sandboxed module {module_name!r}>"

        return ReadOnlyModule(module_name)

    def import_real(self, name: str) -> types.ModuleType:
        if name in self.missing or name.partition(".")[0] in self.missing:
            reason = self.missing.get(name) or self.missing.get(name.partition(".")[0])
            raise ImportError(f"import of {name!r} failed: allowed, but not importable in the sandbox ({reason})")
        return importlib.import_module(name)

    def restricted_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if name in INTERNAL_IMPORTS and not level and not fromlist:
            return importlib.import_module(name)
        if level:
            raise ImportError("relative imports are not allowed")
        if not isinstance(name, str) or not self.policy.leads_to_allowed_module(name, self.allowed):
            raise ImportError(f"import of {name!r} is not allowed")
        if not self._allowed(name) and not fromlist and "." not in name:
            raise ImportError(f"import of {name!r} is not allowed")
        module = self.import_real(name)
        if fromlist:
            for item in fromlist:
                if not isinstance(item, str) or item == "*" or item.startswith("_"):
                    raise ImportError(f"import of {name}.{item} is not allowed")
            return self.proxy(module)
        return self.proxy(sys.modules[name.partition(".")[0]])

    # -- builtins --------------------------------------------------------------------------------------
    def make_builtins_template(self) -> dict:
        denied = self.policy.DENIED_ATTRIBUTES
        real_getattr = builtins.getattr

        def check_name(name):
            if not isinstance(name, str):
                raise TypeError("attribute name must be a string")
            # "format" too: the static screen only lets str.format run on literal format strings.
            if name.startswith("_") or name in denied or name == "format":
                raise AttributeError(f"access to attribute {name!r} is not allowed")

        def safe_getattr(obj, name, *default):
            check_name(name)
            return real_getattr(obj, name, *default)

        def safe_hasattr(obj, name):
            check_name(name)
            return builtins.hasattr(obj, name)

        def discard_print(*args, **kwargs):
            return None

        template = {name: real_getattr(builtins, name) for name in SAFE_BUILTIN_NAMES if hasattr(builtins, name)}
        for name in dir(builtins):
            value = real_getattr(builtins, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                template[name] = value
        template.update(getattr=safe_getattr, hasattr=safe_hasattr, print=discard_print,
                        __import__=self.restricted_import)
        return template

    # -- running ---------------------------------------------------------------------------------------
    def on_alarm(self, signum, frame):
        if self.armed:
            self.armed = False  # at most one interruption per check: the parent's watchdog does the rest
            raise _CheckTimeout()

    def _error_text(self, err: BaseException) -> str:
        if isinstance(err, _CheckTimeout):
            self.recycle = True
            return f"timed out after {self.timeout_s} s"
        if isinstance(err, MemoryError):
            self.recycle = True
            return f"MemoryError (memory limit {self.memory_mb} MB)"
        if isinstance(err, (SystemExit, KeyboardInterrupt, GeneratorExit)):
            return f"check_following raised {type(err).__name__}"
        line = None
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == CHECK_FILENAME:
                line = tb.tb_lineno
            tb = tb.tb_next
        try:
            message = str(err)
        except BaseException:  # a checker-defined exception whose __str__ fails
            message = "<unprintable>"
        text = f"{type(err).__name__}: {message}" if message else type(err).__name__
        if len(text) > MAX_ERROR_CHARS:
            text = text[:MAX_ERROR_CHARS] + "..."
        return f"{text} (line {line})" if line else text

    def compile_check(self, code: str, template: dict) -> tuple:
        """(function, None) or (None, error); runs the module body once, under the alarm."""
        problem = self.policy.validate_code(code, self.allowed) if self.screen else None
        if problem:
            return None, problem
        self.warm_up(code)
        namespace = {"__builtins__": dict(template), "__name__": "<check>"}
        try:
            compiled = compile(code, CHECK_FILENAME, "exec", dont_inherit=True)
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
            try:
                exec(compiled, namespace)
            finally:
                self.armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as err:
            return None, f"error while defining check_following: {self._error_text(err)}"
        function = namespace.get("check_following")
        if not callable(function):
            return None, "defines no check_following"
        return function, None

    def run_one(self, function, instruction: str, response: str) -> tuple:
        failure = None
        try:
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
            passed = bool(function(instruction, response))  # truthiness, as the reference does
        except BaseException as err:
            self.armed = False
            passed, failure = None, err
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
        return passed, (None if failure is None else self._error_text(failure))


def main(argv: list[str]) -> int:
    """Worker entry point; returns the exit status."""
    config = json.loads(argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails instead of killing us
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # notebook interrupts are the parent's business

    in_fd, out_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdin = None
    sys.stdout = sys.stderr = _Discard()
    progress = mmap.mmap(config["progress_fd"], PROGRESS.size)
    os.close(config["progress_fd"])
    os.chdir("/")

    policy = _load_policy()
    sandbox = _Sandbox(config, policy)
    sandbox.progress = progress
    sandbox.preload()
    template = sandbox.make_builtins_template()
    signal.signal(signal.SIGALRM, sandbox.on_alarm)

    limit = sandbox.memory_mb * 1024 * 1024
    in_use = _vm_size_bytes()
    if in_use and in_use + HEADROOM_BYTES > limit:
        _write_frame(out_fd, {"fatal": f"memory_mb={sandbox.memory_mb} is too small: the worker already uses "
                                       f"{in_use / 2**20:.0f} MB of address space; raise memory_mb"})
        return 1
    warnings = []
    for name, value in (("RLIMIT_AS", limit), ("RLIMIT_FSIZE", 0), ("RLIMIT_NPROC", 0), ("RLIMIT_NOFILE", 64),
                        ("RLIMIT_CORE", 0)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))  # hard = soft: cannot be raised again
        except (ValueError, OSError, AttributeError) as err:  # some platforms refuse some limits
            warnings.append(f"could not set {name}={value}: {err}")

    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.update(os.path.realpath(p) for p in sys.path if p and os.path.isdir(p))
    sys.addaudithook(_make_audit_hook(tuple(sorted(roots))))
    # Library code uses the real builtins; a check that reached them (past every other layer) and patched
    # one must not change the answers of the checks after it.
    real_builtins = builtins.__dict__
    builtins_snapshot = dict(real_builtins)
    detector_factory = getattr(sys.modules.get("langdetect"), "DetectorFactory", None)
    _write_frame(out_fd, {"ready": True, "pid": os.getpid(), "missing": sandbox.missing, "warnings": warnings})

    while True:
        header = _read_exact(in_fd, HEADER.size)
        if header is None:
            return 0
        body = _read_exact(in_fd, HEADER.unpack(header)[0])
        if body is None:
            return 0
        request = json.loads(body)
        if request.get("reset"):
            sandbox.cache.clear()
        for digest, code in request.get("codes", {}).items():
            sandbox.cache[digest] = (code,)  # compiled on first use, inside that task's time window
        strings, tasks, seq = request["strings"], request["tasks"], request["seq"]
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_budget = int(used.ru_utime + used.ru_stime + len(tasks) * (sandbox.timeout_s + 1) + 10)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_budget, resource.RLIM_INFINITY))
        results = []
        for index, (digest, i_instruction, i_response) in enumerate(tasks):
            sandbox.position = (seq, index)
            PROGRESS.pack_into(progress, 0, seq, index)
            start = time.perf_counter()
            entry = sandbox.cache.get(digest)
            try:
                if entry is None:
                    passed, error = None, "internal error: code was not sent to the worker"
                else:
                    if len(entry) == 1:
                        entry = sandbox.cache[digest] = sandbox.compile_check(entry[0], template)
                    function, error = entry
                    passed = None
                    if function is not None:
                        passed, error = sandbox.run_one(function, strings[i_instruction], strings[i_response])
            except _CheckTimeout:  # the alarm landed in our own bookkeeping, a hair after the check
                sandbox.recycle = True
                passed, error = None, f"timed out after {sandbox.timeout_s} s"
            if detector_factory is not None and detector_factory.seed != 0:
                detector_factory.seed = 0  # a check may set it (allowed); the next one starts seeded as usual
            if real_builtins != builtins_snapshot:
                real_builtins.clear()
                real_builtins.update(builtins_snapshot)
                sandbox.recycle = True
            seconds = time.perf_counter() - start
            results.append([passed, error, round(seconds, 6) if math.isfinite(seconds) else 0.0])
        _write_frame(out_fd, {"seq": seq, "results": results, "recycle": sandbox.recycle})
        if sandbox.recycle:
            return 0  # an interrupted check may have left library state half-updated: start clean


if __name__ == "__main__":
    sys.exit(main(sys.argv))
