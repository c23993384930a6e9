"""The sandbox worker: a clean, pre-imported zygote that forks one locked-down child per checker function.

Started by :class:`SandboxPool` as ``python -I -B -X utf8 _worker.py CONFIG`` with an empty environment (inside
bubblewrap's namespaces where the host allows, see ``_isolation.py``). The zygote itself never runs dataset code:
it imports the allowed modules once, then forks children ahead of their jobs, as many as the parent asks for, and
passes each one's socket to the parent. Every job (one function and the responses it must check) runs in its own
child. The child, before it reads a byte of the function:

1. closes every file descriptor but its socket to the parent (stdio is /dev/null);
2. sets resource limits (address space, no file writes, no processes, few descriptors, CPU);
3. drops to uid/gid 65534 when the zygote runs as root (bubblewrap mode), losing every capability;
4. loads a seccomp-bpf allow-list (``_seccomp.py``; ``no_new_privs`` is set by libseccomp), after which the
   kernel refuses process creation, sockets, ptrace, signals to other processes, opening files for writing,
   unlink/rename/chmod/mkdir and every other system call a verdict does not need;
5. arms a PEP 578 audit hook and runs the code with restricted builtins and the static screen of
   ``_policy.py`` (defence in depth: the kernel layers above are the boundary).

It then checks each response and streams one record per verdict to the parent, closes its socket and waits for
the zygote's SIGKILL (sent once the parent's batch is over, so a child's exit costs nothing inside a reward
burst). A child never sees another function's state, so a row can only ever lie about its own constraint. The
parent keeps all time: it has a job's child killed (through the zygote) or the whole worker when its own clock
says so.

Wire format (the parent trusts none of the children's bytes, and none of the zygote's beyond its frames):

* parent -> zygote, over the Unix socket that is the zygote's stdin: 4-byte big-endian length + JSON
  ``{"op": "fork", "n": N, "prefault": bool}``, ``{"op": "kill", "children": [ids]}`` or ``{"op": "warm",
  "names": [...]}``;
* zygote -> parent: 1 kind byte + 4-byte length + payload. ``R`` ready (JSON); ``C`` a new child (id and pid,
  u32 each), with the parent's end of the child's socket pair attached (SCM_RIGHTS), after which the zygote
  keeps no descriptor of it; ``X`` a child exited (JSON status); ``W`` library data loaded (JSON, the id of
  the first child forked after it);
* parent -> child, on its socket: 4-byte length + a binary job (``encode_job``: the function's source and
  its compiled code, screened by the parent, the distinct strings, the index pairs), later 4-byte length + JSON
  ``{"ok": value}`` or ``{"error": text}`` answering a host call;
* child -> parent: ``\\x01`` defined; ``\\x02`` + index (u32) + status (u8: 0 False, 1 True, 2 None) + the
  check's time in microseconds (u32, the definition's included in the first) + error length (u16) + UTF-8
  error; ``\\x03`` + length (u32) + JSON ``[name, [args]]`` host call. Verdicts are sent together (see
  FLUSH_S) unless the job says ``"careful": true``.

Example (what the pool does, by hand)::

    python -I -B -X utf8 verif_nb/sandbox/_worker.py '{"allowed": ["re"], "memory_mb": 512, ...}'
"""

from __future__ import annotations

import builtins
import collections
import copy
import ctypes
import gc
import importlib
import importlib.util
import json
import marshal
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
import types

HEADER = struct.Struct(">I")
ZFRAME = struct.Struct(">cI")  # zygote -> parent: kind, payload length
RESULT = struct.Struct(">BIBIH")  # child record: type 2, task index, status, microseconds, error length
FLUSH_S = 0.05  # a child sends its verdicts in one write per this much time (at once when told to be careful)
REC_DEFINED, REC_RESULT, REC_CALL = 1, 2, 3
MAX_ERROR_CHARS = 300
HEADROOM_BYTES = 16 << 20  # address space a check needs at least, beyond the idle worker's
CHECK_FILENAME = "<check_following>"
NOBODY = 65534
PR_SET_PDEATHSIG = 1

# Builtins a checker gets, by allow-list (new builtins in later Pythons stay out until reviewed).
SAFE_BUILTIN_NAMES = (
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "complex",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "format",
    "frozenset",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "object",
    "oct",
    "ord",
    "pow",
    "property",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "zip",
    "__build_class__",
    "True",
    "False",
    "None",
    "Ellipsis",
    "NotImplemented",
)

# Audit events refused in a child (exact names, then name prefixes before the first dot). The seccomp filter
# refuses the underlying system calls anyway; this layer gives readable errors and covers non-Linux opt-in runs.
BLOCKED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "os.forkpty",
        "os.kill",
        "os.killpg",
        "os.putenv",
        "os.unsetenv",
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.chown",
        "os.link",
        "os.symlink",
        "os.truncate",
        "os.utime",
        "os.chdir",
        "os.chflags",
        "os.lchflags",
        "os.lchmod",
        "os.lchown",
        "os.setxattr",
        "os.removexattr",
        "os.startfile",
        "os.add_dll_directory",
        "signal.pthread_kill",
        "sys._current_frames",
        "sys.settrace",
        "sys.setprofile",
        "sys._current_exceptions",
        "code.__new__",
        "function.__new__",
        "mmap.__new__",
        "pty.spawn",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "cpython.remove_audit_hook",
        "webbrowser.open",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
        "glob.glob",
        "glob.glob/2",
    }
)
BLOCKED_EVENT_PREFIXES = frozenset(
    {
        "socket",
        "ctypes",
        "subprocess",
        "shutil",
        "urllib",
        "http",
        "ftplib",
        "smtplib",
        "imaplib",
        "poplib",
        "telnetlib",
        "nntplib",
        "winreg",
        "msvcrt",
        "_winapi",
        "sqlite3",
        "syslog",
    }
)
BLOCKED_IMPORTS = frozenset(
    {
        "ctypes",
        "_ctypes",
        "_posixsubprocess",
        "subprocess",
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "pty",
        "multiprocessing",
        "_multiprocessing",
        "_posixshmem",
        "fcntl",
        "termios",
        "gc",
        "_thread",
        "threading",
        "pickle",
        "_pickle",
        "asyncio",
        "select",
        "selectors",
        "urllib.request",
        "http.client",
        "sqlite3",
        "pyseccomp",
        "posix",
        "os",
    }
)
# Modules that C code imports on its own when called straight from a check (so through the check's
# ``__import__``): the real module is returned, as checker code can never name ``__import__`` itself.
INTERNAL_IMPORTS = frozenset({"_strptime"})
# Submodules imported up front so a check's first use doesn't pay for loading them.
PRELOAD_SUBMODULES = ("html.parser", "xml.etree.ElementTree", "collections.abc", "punkt.data", "_strptime")
# VerInstruct's judge shim: functions a checker may call that are answered by the parent (host calls).
JUDGE_SHIM_FUNCTIONS = ("llm_judge", "llm_score", "llm_extract")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _load_langdetect() -> None:
    from langdetect.detector_factory import init_factory

    init_factory()


def _load_punkt() -> None:
    import punkt

    punkt.sent_tokenize("Warm up, Mr. Smith. Done.", "english")


# (substring of the code that triggers it, loader): library data the zygote loads once, before forking the
# first child that needs it, so children inherit it instead of paying for it inside their time limit.
WARM_UPS = (("langdetect", _load_langdetect), ("punkt", _load_punkt))
WARM_UP_NAMES = tuple(name for name, _ in WARM_UPS)


class _CheckTimeout(BaseException):
    """Raised by the child's own alarm in a check that ran past its time (the parent's clock is the authority)."""


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _send(channel: socket.socket, kind: bytes, payload: bytes) -> None:
    channel.sendall(ZFRAME.pack(kind, len(payload)) + payload)


def _load_sibling(name: str):
    """Loads a module from beside this file (the worker runs with -I: the package is not importable)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_sandbox{name}", path)
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
    """Installed in the zygote disarmed (it forks); each child arms it. Its state lives in closures."""
    realpath = os.path.realpath
    blocked, prefixes, blocked_imports = BLOCKED_EVENTS, BLOCKED_EVENT_PREFIXES, BLOCKED_IMPORTS
    write_flags = WRITE_FLAGS
    armed = [False]

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
        if not armed[0]:
            return
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

    def arm():
        armed[0] = True

    return hook, arm


class _HostCalls:
    """The child's side of host calls: a request on its socket to the parent, the answer back on it."""

    def __init__(self, fd: int, names: frozenset[str]):
        self.fd, self.names = fd, names
        self.before_call = lambda: None  # sends the verdicts held back, so the call comes after them

    def call(self, name: str, args: list):
        if name not in self.names:
            raise RuntimeError(
                f"{name} is a judge call and this verifier answers none in rule code; "
                "[llm] constraints are checked by the LLM judge"
            )
        payload = json.dumps(
            [name, [a if isinstance(a, (str, int, float, bool)) or a is None else str(a) for a in args]]
        ).encode("utf-8", "surrogatepass")
        self.before_call()
        _write_all(self.fd, bytes([REC_CALL]) + HEADER.pack(len(payload)) + payload)
        header = _read_exact(self.fd, HEADER.size)
        body = _read_exact(self.fd, HEADER.unpack(header)[0]) if header else None
        if body is None:
            raise RuntimeError(f"{name}: no answer from the verifier")
        answer = json.loads(body)
        if "error" in answer:
            raise RuntimeError(f"{name} failed: {answer['error']}")
        return answer["ok"]


def _judge_shim(host: _HostCalls | None) -> types.ModuleType:
    """VerInstruct's ``llm_call`` module as checker code imports it; calls go to the parent as host calls."""
    shim = types.ModuleType("llm_call")

    def make(name: str):
        def judge_call(*args, **kwargs):
            if host is None:
                raise RuntimeError(f"{name} is a judge call and cannot run here")
            return host.call(name, list(args) + [kwargs[k] for k in sorted(kwargs)])

        judge_call.__name__ = name
        return judge_call

    for name in JUDGE_SHIM_FUNCTIONS:
        setattr(shim, name, make(name))
    return shim


class _Sandbox:
    """Zygote state (allowed modules, builtins template) and the child's per-check machinery."""

    def __init__(self, config: dict, policy):
        self.policy = policy
        self.allowed = frozenset(config["allowed"])
        self.timeout_s = float(config["timeout_s"])
        self.memory_mb = int(config["memory_mb"])
        self.screen = bool(config.get("screen", True))  # False only in tests of the layers behind the screen
        # False only in tests that prove the kernel layers hold alone: real builtins, imports, no audit hook.
        self.python_layers = bool(config.get("python_layers", True))
        # "verif_nb" (one namespace) or "verif" (the original executor's import replay and split namespaces)
        self.exec_style = config.get("exec_style", "verif_nb")
        self.missing: dict[str, str] = {}
        self.proxies: dict[str, types.ModuleType] = {}
        self.armed = False
        self.warmed: set[str] = set()
        self._builtins: dict | None = None

    # -- modules (zygote) ------------------------------------------------------------------------------
    def preload(self) -> None:
        wanted = sorted(n for n in self.allowed if n != "llm_call") + [
            m for m in PRELOAD_SUBMODULES if self._allowed(m) or m in INTERNAL_IMPORTS
        ]
        for name in wanted:
            try:
                importlib.import_module(name)
            except Exception as err:  # a module on the list that this Python lacks
                self.missing[name] = f"{type(err).__name__}: {err}"
        detector = sys.modules.get("langdetect")
        if detector is not None:
            # langdetect is random unless seeded; checks must give the same answer every time.
            detector.DetectorFactory.seed = 0

    def warm_up_names(self, names: list[str]) -> None:
        """Loads the data of the named libraries (see WARM_UPS), once per zygote, before forking the children
        that need it (they inherit it instead of loading it inside a check's time limit)."""
        for name, load in WARM_UPS:
            if name in names and name not in self.warmed and name not in self.missing and self._allowed(name):
                self.warmed.add(name)
                try:
                    load()
                except Exception:
                    pass  # the check itself will then fail with the library's own error

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
    def builtins_template(self) -> dict:
        """The checkers' builtins, built once in the zygote (children copy it, one copy per function)."""
        if self._builtins is None:
            self._builtins = self.make_builtins()
        return self._builtins

    def make_builtins(self) -> dict:
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
        template.update(
            getattr=safe_getattr, hasattr=safe_hasattr, print=discard_print, __import__=self.restricted_import
        )
        return template

    # -- running (child) -------------------------------------------------------------------------------
    def on_alarm(self, signum, frame):
        if self.armed:
            self.armed = False  # at most one interruption per check: the parent's clock does the rest
            raise _CheckTimeout()

    def error_text(self, err: BaseException) -> str:
        if isinstance(err, _CheckTimeout):
            return f"timed out after {self.timeout_s} s"
        if isinstance(err, MemoryError):
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

    def _timed(self, call):
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            return call()
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)

    def define(self, code: str, compiled: types.CodeType | None = None) -> tuple:
        """(function, None) or (None, error); runs the module body once, under the alarm. ``compiled``: the
        code as the parent screened and compiled it (then not screened again here)."""
        if compiled is None and self.screen and self.python_layers:
            if not isinstance(code, str):
                return None, f"code must be a string, not {type(code).__name__}"
            problem, compiled = self.policy.compile_screened(code, self.allowed)  # one parse, one compile
            if problem:
                return None, problem
        namespace = {
            "__builtins__": dict(self.builtins_template()) if self.python_layers else builtins.__dict__,
            "__name__": "<check>",
        }
        module_names = namespace
        try:
            if compiled is None:
                compiled = compile(code, CHECK_FILENAME, "exec", dont_inherit=True)
            if self.exec_style == "verif":
                module_names = {}
                self._timed(lambda: self._verif_exec(code, compiled, namespace, module_names))
            else:
                self._timed(lambda: exec(compiled, namespace))
        except BaseException as err:
            return None, f"error while defining check_following: {self.error_text(err)}"
        function = module_names.get("check_following")
        if not callable(function):
            return None, "defines no check_following"
        return function, None

    @staticmethod
    def _verif_exec(code: str, compiled, global_names: dict, local_names: dict) -> None:
        """Defines the function as VerIF's executor does, so its quirks score the same.

        Every import statement found anywhere in the code is first run on its own into the globals, rebuilt
        from the module name alone (``import re as r`` becomes ``import re``); then the code runs with separate
        globals and locals, so a module-level constant or helper lands in the locals, where
        ``check_following`` (whose globals are the globals) cannot see it: a NameError when it is used.
        """
        import ast

        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                lines = [f"import {alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                lines = [f"from {node.module} import {alias.name}" for alias in node.names]
            else:
                continue
            for line in lines:
                exec(compile(line, CHECK_FILENAME, "exec", dont_inherit=True), global_names)
        exec(compiled, global_names, local_names)

    def run_many(self, function, pairs, strings: list[str], on_result) -> None:
        """Checks every (instruction, response) index pair; ``on_result(index, passed, error)`` after each.

        One timer call per check: each check re-arms the alarm for itself (a late alarm between checks finds
        ``armed`` off and does nothing), and it is cleared once at the end.
        """
        setitimer, timeout = signal.setitimer, self.timeout_s
        try:
            for index, (i_instruction, i_response) in enumerate(pairs):
                instruction, response = strings[i_instruction], strings[i_response]
                setitimer(signal.ITIMER_REAL, timeout)  # replaces the last check's timer before arming
                self.armed = True
                try:
                    passed, error = bool(function(instruction, response)), None
                except BaseException as err:
                    passed, error = None, self.error_text(err)
                self.armed = False
                on_result(index, passed, error)
        finally:
            self.armed = False
            setitimer(signal.ITIMER_REAL, 0)


ZYGOTE_MAX_FDS = 1024  # the zygote keeps its descriptors below this, so a child can close all others cheaply
_FD_TOP = [ZYGOTE_MAX_FDS]  # the zygote's descriptor limit as set at start-up (lower where the host's hard one is)
_LIBC = [None]  # the C library, opened once in the zygote (prctl for the children)


JOB = struct.Struct(">BIIII")  # flags (1 careful, 2 compiled), strings, tasks, code bytes, compiled bytes


def encode_job(code: str, compiled: bytes | None, strings: list[str], tasks: list, careful: bool) -> bytes:
    """A job for a child: the function (source, and the parent's screened compile as marshal bytes), the
    distinct strings and (instruction, response) index pairs. Binary: cheaper to read than JSON in a cold child.

    Example:
        >>> decode_job(encode_job("x = 1", None, ["i", "r"], [(0, 1)], True))["tasks"]
        [(0, 1)]
    """
    code_bytes = code.encode("utf-8", "surrogatepass")
    encoded = [text.encode("utf-8", "surrogatepass") for text in strings]
    flags = (1 if careful else 0) | (2 if compiled is not None else 0)
    flat = [index for pair in tasks for index in pair]
    return b"".join(
        [
            JOB.pack(flags, len(encoded), len(tasks), len(code_bytes), len(compiled or b"")),
            code_bytes,
            compiled or b"",
            struct.pack(f">{len(encoded)}I", *map(len, encoded)),
            *encoded,
            struct.pack(f">{len(flat)}I", *flat),
        ]
    )


def decode_job(body: bytes) -> dict:
    """The job :func:`encode_job` wrote (the parent's bytes, trusted by the child)."""
    flags, n_strings, n_tasks, code_size, compiled_size = JOB.unpack_from(body)
    at = JOB.size
    code = body[at : at + code_size].decode("utf-8", "surrogatepass")
    at += code_size
    compiled = bytes(body[at : at + compiled_size]) if flags & 2 else None
    at += compiled_size
    sizes = struct.unpack_from(f">{n_strings}I", body, at)
    at += 4 * n_strings
    strings = []
    for size in sizes:
        strings.append(body[at : at + size].decode("utf-8", "surrogatepass"))
        at += size
    flat = struct.unpack_from(f">{2 * n_tasks}I", body, at)
    tasks = list(zip(flat[0::2], flat[1::2]))
    return {"code": code, "compiled": compiled, "strings": strings, "tasks": tasks, "careful": bool(flags & 1)}


def _close_other_fds(keep: int) -> int:
    """Moves ``keep`` to 3 and closes every other descriptor above 2; returns 3."""
    top = _FD_TOP[0]
    high = os.dup2(keep, top - 1)
    os.closerange(3, top - 1)
    os.dup2(high, 3)
    os.close(high)
    return 3


def _lock_down_child(config: dict, seccomp) -> None:
    """Kernel-enforced limits, in an order that keeps each step possible: rlimits, uid, then seccomp."""
    if _LIBC[0] is not None:
        _LIBC[0].prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote's death ends us too
    limit = int(config["memory_mb"]) * 1024 * 1024
    cpu = int(int(config.get("max_tasks", 256)) * (float(config["timeout_s"]) + 1) + 5)
    for name, value in (
        ("RLIMIT_AS", limit),
        ("RLIMIT_FSIZE", 0),
        ("RLIMIT_NOFILE", 16),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_CPU", cpu),
    ):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError, AttributeError):
            pass  # reported by the zygote's start-up probe
    if config.get("drop_uid") and os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)  # all capabilities go with uid 0
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if seccomp is not None:
        seccomp.install()


# What a child runs on its own before it reads its job: a benign function like a dataset's, checked twice. A
# forked child shares the zygote's memory until it writes to it, and Python writes (reference counts) to every
# object it touches, so a child's first define-and-check copies ~2 MB page by page (~560 page faults, ~1 ms
# here). Run ahead while the child waits as a spare, that copying happens outside the reward burst.
PREFAULT_CODE = """import re
import string
from collections import Counter
def check_following(instruction, response):
    words = [w.strip(string.punctuation).lower() for w in response.split()]
    sentences = [s for s in re.split(r'[.!?]+', response) if s.strip()]
    counts = Counter(words)
    return len(words) >= 1 and len(sentences) >= 1 and counts.most_common(1)[0][1] >= 1 and ',' not in response
"""
PREFAULT_FALLBACK = "def check_following(instruction, response):\n    return len(response.split()) > 1\n"


def _prefault(sandbox: _Sandbox) -> None:
    """Runs the code paths of a job once with our own benign function (see PREFAULT_CODE); nothing is sent."""
    try:
        _, compiled = sandbox.policy.compile_screened(PREFAULT_CODE, sandbox.allowed)
        strings = ["instruction", "Warm up: a short text, with words. Two sentences!", "word " * 400]
        job = decode_job(
            encode_job(PREFAULT_CODE, compiled and marshal.dumps(compiled), strings, [(0, 1), (0, 2)], False)
        )
        function, _ = sandbox.define(PREFAULT_CODE, compiled and marshal.loads(job["compiled"]))
        if function is None:
            function, _ = sandbox.define(PREFAULT_FALLBACK)  # a pool whose allow-list lacks re/string/collections
        if function is not None:
            sandbox.run_many(function, job["tasks"], job["strings"], lambda index, passed, error: None)
    except Exception:
        pass


_HOST: list = [None]  # the children's host-call client, made once by the zygote (install_judge_shim)


def install_judge_shim(sandbox: _Sandbox, config: dict) -> None:
    """In the zygote: VerInstruct's ``llm_call`` module for checker code, its calls sent to the parent as host
    calls on the socket of whichever child makes them."""
    host = _HostCalls(-1, frozenset(config.get("host_calls") or ()))
    shim = _judge_shim(host)
    sys.modules["llm_call"] = shim
    sandbox.proxies["llm_call"] = shim
    _HOST[0] = host


def _child(sandbox: _Sandbox, seccomp, arm, fd: int, config: dict, prefault: bool) -> None:
    """A child, locked down before it knows its job; then runs one job. Never returns (os._exit).

    ``fd`` is its end of a socket pair whose other end the parent holds (the zygote passed it on): the job
    comes in, verdicts and host calls go out, host-call answers come in. After its last verdict the child
    closes it and waits for the zygote's SIGKILL, so its exit costs nothing inside a reward burst.
    """
    status = 0
    try:
        fd = _close_other_fds(fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _lock_down_child(config, seccomp)
        if prefault:  # only children forked ahead, while the pool is idle: one needed now would pay twice
            _prefault(sandbox)
        header = _read_exact(fd, HEADER.size)
        body = _read_exact(fd, HEADER.unpack(header)[0]) if header else None
        if body is None:
            os._exit(0)  # a spare that was not needed
        job = decode_job(body)
        strings, tasks = job["strings"], job["tasks"]
        compiled = marshal.loads(job["compiled"]) if job["compiled"] is not None else None
        host = _HOST[0]  # built in the zygote; its calls now go out on this child's socket
        host.fd = fd
        if sandbox.python_layers:
            arm()
        started = time.perf_counter()
        function, error = sandbox.define(job["code"], compiled)
        # Records go out together, at least every FLUSH_S: one write (one wake-up of the parent) per job instead
        # of one per verdict. A careful job (the re-run of one whose child died) sends each record at once, so
        # the parent can tell whether the definition or which check was running when a child dies.
        careful = bool(job.get("careful"))
        pending = bytearray()
        if function is not None:
            pending.append(REC_DEFINED)
        flushed = time.perf_counter()
        if careful:
            _write_all(fd, bytes(pending))
            pending.clear()

        def flush():
            nonlocal flushed
            if pending:
                _write_all(fd, bytes(pending))
                pending.clear()
            flushed = time.perf_counter()

        host.before_call = flush

        def on_result(index: int, passed, error) -> None:
            nonlocal started
            now = time.perf_counter()
            micros = min(int((now - started) * 1e6), 0xFFFFFFFF)
            started = now
            text = (error or "").encode("utf-8", "replace")[:1000] if passed is None else b""
            pending.extend(RESULT.pack(REC_RESULT, index, 2 if passed is None else int(passed), micros, len(text)))
            pending.extend(text)
            if careful or now - flushed >= FLUSH_S:
                flush()

        if function is not None:
            sandbox.run_many(function, tasks, strings, on_result)
        else:
            for index in range(len(tasks)):
                on_result(index, None, error)
        flush()
        os.close(fd)
        while True:  # done: the zygote ends it when the burst is over (SIGKILL); no descriptor left to use
            select.select([], [], [])
    except BaseException:
        status = 70
    finally:
        os._exit(status)


def _spawn(sandbox: _Sandbox, seccomp, arm, config: dict, prefault: bool) -> tuple[int, socket.socket]:
    """Forks a child that locks itself down and waits for its job; returns (pid, the parent's end)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        ours.detach()
        _child(sandbox, seccomp, arm, theirs.detach(), config, prefault)
    theirs.close()
    return pid, ours


def _describe_status(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1}


def _probe_seccomp(seccomp, config: dict) -> str | None:
    """Forks a child that installs the filter and tries a socket; None if the kernel refused it as it must."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            _lock_down_child(config, seccomp)
            import socket

            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
                code = 4
            except OSError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    detail = {3: "installing it failed", 4: "a socket could still be opened"}
    return (
        f"the seccomp filter did not take effect ({detail.get(os.WEXITSTATUS(status), 'probe died')})"
        if os.WIFEXITED(status)
        else f"the seccomp probe was killed by signal {os.WTERMSIG(status)}"
    )


def main(argv: list[str]) -> int:
    """Zygote entry point; returns the exit status."""
    config = json.loads(argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails instead of killing
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # notebook interrupts are the parent's business
    # stdin is a Unix stream socket to the parent, both ways (it takes the children's descriptors over it)
    channel = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdin = None
    sys.stdout = sys.stderr = _Discard()
    os.chdir("/")

    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        top = ZYGOTE_MAX_FDS if hard == resource.RLIM_INFINITY else min(ZYGOTE_MAX_FDS, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
        _FD_TOP[0] = top
    except (ValueError, OSError):
        _FD_TOP[0] = min(ZYGOTE_MAX_FDS, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    try:
        _LIBC[0] = ctypes.CDLL(None)
    except OSError:
        pass
    policy = _load_sibling("_policy")
    sandbox = _Sandbox(config, policy)
    sandbox.preload()
    sandbox.builtins_template()  # built once here; every child copies it
    install_judge_shim(sandbox, config)
    signal.signal(signal.SIGALRM, sandbox.on_alarm)
    warnings: list[str] = []
    seccomp, kernel_problem = None, None
    if config.get("seccomp", True):
        try:
            seccomp = _load_sibling("_seccomp")
            seccomp.prepare()
        except Exception as err:  # no libseccomp, not Linux
            seccomp, kernel_problem = None, f"seccomp unavailable: {type(err).__name__}: {err}"
        if seccomp is not None:
            kernel_problem = _probe_seccomp(seccomp, config)
            if kernel_problem:
                seccomp = None
    else:
        kernel_problem = "seccomp switched off by the caller"

    in_use = _vm_size_bytes()
    if in_use and in_use + HEADROOM_BYTES > sandbox.memory_mb * 1024 * 1024:
        _send(
            channel,
            b"R",
            json.dumps(
                {
                    "fatal": f"memory_mb={sandbox.memory_mb} is too small: the worker "
                    f"already uses {in_use / 2**20:.0f} MB of address space; "
                    "raise memory_mb"
                }
            ).encode(),
        )
        return 1
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.update(os.path.realpath(p) for p in sys.path if p and os.path.isdir(p))
    hook, arm = _make_audit_hook(tuple(sorted(roots)))
    sys.addaudithook(hook)
    _send(
        channel,
        b"R",
        json.dumps(
            {
                "ready": True,
                "pid": os.getpid(),
                "missing": sandbox.missing,
                "warnings": warnings,
                "seccomp": seccomp is not None,
                "kernel_problem": kernel_problem,
                "uid_drop": bool(config.get("drop_uid") and os.geteuid() == 0),
            }
        ).encode(),
    )
    if seccomp is None and not config.get("allow_unsandboxed"):
        return 0  # the parent refuses to go on; never run dataset code without the kernel layer

    gc.freeze()  # what the zygote loaded stays out of the children's garbage collections (fewer copied pages)
    return _serve(channel, sandbox, seccomp, arm, config)


MAX_STOCK = 1024  # children the zygote forks ahead at the parent's request, at most


def _serve(channel: socket.socket, sandbox: _Sandbox, seccomp, arm, config: dict) -> int:
    """The zygote's loop: forks children when the parent asks, hands each one's socket to the parent, kills
    children when asked, reaps them and reports every exit.

    Requests (4-byte length + JSON): ``{"op": "fork", "n": N, "prefault": bool}`` N more children (that
    prefault, see PREFAULT_CODE, when asked); ``{"op": "kill", "children":
    [ids]}``; ``{"op": "warm", "names": [...]}`` load library data first (answered by ``W`` with the id the
    next child will get: children forked before it lack the data). Frames to the parent: ``C`` a child
    (id u32 + pid u32, its socket attached), ``X`` a child's exit (JSON ``{"child": id, ...status}``).
    The zygote never reads a child's bytes: they go to the parent directly.
    """
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # wakes the select below through wake_w
    children: dict[int, int] = {}  # child id -> pid, until reaped
    ids = {}  # pid -> child id
    next_id = 1
    to_fork: collections.deque[list] = collections.deque()  # [count, prefault] per request, in order
    pending = bytearray()
    while True:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            child = ids.pop(pid, None)
            if child is not None:
                del children[child]
                _send(channel, b"X", json.dumps({"child": child, **_describe_status(status)}).encode())
        if to_fork and not select.select([channel], [], [], 0)[0]:
            prefault = to_fork[0][1]
            pid, ours = _spawn(sandbox, seccomp, arm, config, prefault)
            children[next_id], ids[pid] = pid, next_id
            frame = ZFRAME.pack(b"C", 8) + next_id.to_bytes(4, "big") + pid.to_bytes(4, "big")
            socket.send_fds(channel, [frame], [ours.fileno()])
            ours.close()
            next_id += 1
            to_fork[0][0] -= 1
            if to_fork[0][0] <= 0:
                to_fork.popleft()
            continue
        readable, _, _ = select.select([channel, wake_r], [], [])
        if wake_r in readable:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        if channel not in readable:
            continue
        data = channel.recv(1 << 16)
        if not data:  # the parent is gone: nothing of ours may outlive it
            for pid in children.values():
                os.kill(pid, signal.SIGKILL)
            return 0
        pending += data
        while len(pending) >= HEADER.size and len(pending) >= HEADER.size + HEADER.unpack(pending[:4])[0]:
            size = HEADER.unpack(pending[:4])[0]
            request = json.loads(bytes(pending[HEADER.size : HEADER.size + size]))
            del pending[: HEADER.size + size]
            op = request.get("op")
            if op == "fork":
                count = min(MAX_STOCK - sum(n for n, _ in to_fork), int(request.get("n", 0)))
                if count > 0:
                    to_fork.append([count, bool(request.get("prefault"))])
            elif op == "kill":
                for child in request.get("children", ()):
                    pid = children.get(child)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)  # its exit is reported when it is reaped
            elif op == "warm":
                names = [n for n in request.get("names", ()) if isinstance(n, str)]
                sandbox.warm_up_names(names)
                gc.freeze()
                _send(channel, b"W", json.dumps({"next": next_id}).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
