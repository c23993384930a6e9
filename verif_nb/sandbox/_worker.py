"""The sandbox worker: a clean, pre-imported zygote that forks one locked-down child per checker function.

Started by :class:`SandboxPool` as ``python -I -B -X utf8 _worker.py CONFIG`` with an almost empty environment
(inside bubblewrap's namespaces where the host allows, see ``_isolation.py``). The zygote itself never runs or
parses dataset code: it imports the allowed modules once, then forks children ahead of their jobs, as many as
the parent asks for, and passes each one's socket (and a pidfd, so the parent can stop, continue and kill it
directly) to the parent. Every job (one function and the responses it must check) runs in its own child. The
child, before it reads a byte of the function:

1. closes every file descriptor but its socket to the parent (stdio is /dev/null);
2. sets resource limits (address space, CPU seconds, no file writes, no processes, few descriptors);
3. drops to uid/gid 65534 when the zygote runs as root (bubblewrap mode), losing every capability;
4. loads a seccomp-bpf allow-list (``_seccomp.py``, compiled to BPF once in the zygote; ``no_new_privs`` set
   first), after which the kernel refuses process creation, sockets, ptrace, signals to other processes,
   opening files for writing, unlink/rename/chmod/mkdir and every other system call a verdict does not need.

It then parses (and with the Python layers on, screens) and compiles the function itself, under its own limits
and the parent's clock, unless the parent sent a compile of its own; with the Python layers on it arms a PEP 578
audit hook and runs the code with restricted builtins and imports (defence in depth: the kernel layers above are
the boundary). It checks each response, running the module body afresh for each (its names start anew; state it
changed through a library, such as ``random.seed``, stays for the later checks of the same code), streams its
records to the parent, closes its socket and waits; the parent stops it at once (SIGSTOP through its pidfd) and
has it killed once the batch is over, or at once if it kept memory. A child never sees another function's state,
so a row can only ever lie about its own constraint. The parent keeps all time: it has a job's child killed, or
the whole worker, when its own clock says so.

The records exchanged are defined once, in ``_wire.py``.

Example (what the pool does, by hand)::

    python -I -B -X utf8 verif_nb/sandbox/_worker.py '{"allowed": ["re"], "memory_mb": 512, ...}'
"""

from __future__ import annotations

import array
import builtins
import collections
import copy
import ctypes
import gc
import importlib
import importlib.util
import json
import keyword
import marshal
import os
import resource
import select
import signal
import socket
import sys
import time
import types
from _socket import socketpair as _socketpair

FLUSH_S = 0.05  # a child sends its verdicts in one write per this much time (at once when told to be careful)
MAX_ERROR_CHARS = 300
HEADROOM_BYTES = 16 << 20  # address space a check needs at least, beyond the idle worker's
CHECK_FILENAME = "<check_following>"
NOBODY = 65534
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2

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
    import langdetect
    from langdetect.detector_factory import init_factory

    langdetect.DetectorFactory.seed = 0  # langdetect is random unless seeded; checks must answer the same each time
    init_factory()


def _load_punkt() -> None:
    import punkt

    punkt.sent_tokenize("Warm up, Mr. Smith. Done.", "english")


def _loader(name: str):
    return lambda: importlib.import_module(name)


# (substring of the code that triggers it, loader): library data the zygote loads once, before forking the
# first child that needs it, so children inherit it instead of paying for it inside their time limit. random,
# statistics (which imports it) and langdetect (too) are not even imported until then: random re-seeds itself in
# every forked child, which costs each child ~45 page copies (measured). numpy: only where the caller allows it
# (the reference profile runs code as written).
WARM_UPS = (
    ("langdetect", _load_langdetect),
    ("punkt", _load_punkt),
    ("numpy", _loader("numpy")),
    ("random", _loader("random")),
    ("statistics", _loader("statistics")),
)
# Allowed modules the zygote imports only on demand (see WARM_UPS).
LAZY_MODULES = frozenset({"langdetect", "random", "statistics"})


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


def _load_sibling(name: str):
    """Loads a module from beside this file (the worker runs with -I: the package is not importable)."""
    found = sys.modules.get(f"_sandbox{name}")
    if found is not None:
        return found
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_sandbox{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


wire = _load_sibling("_wire")
assert tuple(name for name, _ in WARM_UPS) == wire.WARM_UP_NAMES


def _statm_pages(index: int) -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[index])
    except (OSError, ValueError, IndexError):
        return 0


_DATACLASSES_FILE = sys.modules["dataclasses"].__file__  # loaded with _wire
_COLLECTIONS_FILE = sys.modules["collections"].__file__
_IMPORT_FILE = "<frozen importlib._bootstrap_external>"


def _make_audit_hook(read_roots: tuple[str, ...]):
    """Installed in the zygote disarmed (it forks); each child arms it. Its state lives in closures, and so does
    every function and builtin it calls: nothing it uses is looked up, at call time, in a namespace that code in
    the child could write to (``enum.global_enum`` can write into any module named by a string, ``builtins``
    included)."""
    realpath, fspath, sep, path_like = os.path.realpath, os.fspath, os.sep, os.PathLike
    any_, isinstance_, type_, str_, bytes_, dict_ = any, isinstance, type, str, bytes, dict
    permission_error, import_error = PermissionError, ImportError
    iskeyword, getframe = keyword.iskeyword, sys._getframe
    blocked, prefixes, blocked_imports = BLOCKED_EVENTS, BLOCKED_EVENT_PREFIXES, BLOCKED_IMPORTS
    write_flags = WRITE_FLAGS
    dataclasses_file, collections_file, import_file = _DATACLASSES_FILE, _COLLECTIONS_FILE, _IMPORT_FILE
    armed = [False]

    def readable(path) -> bool:
        if isinstance_(path, bytes_):
            path = path.decode("utf-8", "surrogateescape")
        if isinstance_(path, path_like):
            path = fspath(path)
        if not isinstance_(path, str_):
            return False  # file descriptors, None (the working directory)
        full = realpath(path)
        return any_(full == root or full.startswith(root + sep) for root in read_roots)

    def plain_field_names(frame) -> bool:
        """Whether the class ``dataclasses`` generates code for has only plain identifiers as field names: it
        pastes them into the source it compiles, and a class made by ``type()`` can carry any string (or a
        ``str`` subclass with its own ``__str__``) as an annotation key."""
        while frame is not None:
            if frame.f_code.co_name == "_process_class" and frame.f_code.co_filename == dataclasses_file:
                cls = frame.f_locals.get("cls")
                annotations = cls.__dict__.get("__annotations__", {}) if isinstance_(cls, type_) else None
                return isinstance_(annotations, dict_) and not any_(
                    type_(name) is not str_
                    or not name.isidentifier()
                    or iskeyword(name)
                    or (name.startswith("__") and name.endswith("__"))
                    for name in annotations
                )
            frame = frame.f_back
        return False

    def compile_allowed(filename) -> bool:
        """A string becomes code only where its text cannot come from dataset code (class 1 of issue 19)."""
        caller = getframe(2).f_code  # 0: this function, 1: the hook, 2: the Python frame calling compile()
        where = caller.co_filename
        if where == import_file:  # a module without bytecode, imported from the Python installation
            return isinstance_(filename, str_) and filename.endswith(".py") and readable(filename)
        if where == collections_file and caller.co_name == "namedtuple":
            return True  # namedtuple checks that every name is an identifier before it pastes it in
        if where == dataclasses_file:
            return plain_field_names(getframe(2))
        return False  # typing's forward references, eval/exec anywhere, inspect, six.exec_...

    def hook(event, args):
        if not armed[0]:
            return
        if event in blocked or event.partition(".")[0] in prefixes:
            raise permission_error(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = args
            if (isinstance_(mode, str_) and any_(c in mode for c in "wax+")) or (flags or 0) & write_flags:
                raise permission_error("sandbox: writing files is not allowed")
            if not readable(path):
                raise permission_error("sandbox: reading files outside the Python installation is not allowed")
        elif event == "compile":
            if not compile_allowed(args[1]):
                raise permission_error("sandbox: turning a string into code is not allowed")
        elif event in ("os.listdir", "os.scandir"):
            if not readable(args[0]):
                raise permission_error(f"sandbox: {event} outside the Python installation is not allowed")
        elif event == "import":
            name = args[0]
            if name in blocked_imports or name.partition(".")[0] in blocked_imports:
                raise import_error(f"import of {name!r} is not allowed")

    def arm():
        armed[0] = True

    return hook, arm


class _HostCalls:
    """The child's side of host calls: a request on its socket to the parent, the answer back on it.

    The check's own alarm pauses while the parent answers, as the parent's clock does: a slow judge is not the
    check's time.
    """

    def __init__(self, fd: int, names: frozenset[str]):
        self.fd, self.names = fd, names
        self.before_call = lambda: None  # sends the verdicts held back, so the call comes after them
        self.waited = 0.0  # seconds spent waiting for answers, left out of the check's own time
        self.sent = 0  # bytes of calls this child sent

    def call(self, name: str, args: list, kwargs: dict):
        if name not in self.names:
            raise RuntimeError(
                f"{name} is a judge call and this verifier answers none in rule code; "
                "[llm] constraints are checked by the LLM judge"
            )
        request = wire.HostCall(name, args, kwargs).encode()
        # The parent treats a call over its byte limits as a broken stream and stops the function's remaining
        # checks, other rows' included: refused here instead, it is this check's error alone.
        size = len(request) - 1 - wire.LENGTH.size
        if size > wire.MAX_CALL_BYTES or self.sent + size > wire.MAX_CALLS_BYTES:
            raise RuntimeError(
                f"{name}: a request of {size} bytes is over the sandbox's limits ({wire.MAX_CALL_BYTES} bytes a call, "
                f"{wire.MAX_CALLS_BYTES} bytes of calls per function and batch)"
            )
        self.sent += size
        self.before_call()
        left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        asked = time.perf_counter()
        try:
            _write_all(self.fd, request)
            header = _read_exact(self.fd, wire.LENGTH.size)
            body = _read_exact(self.fd, wire.LENGTH.unpack(header)[0]) if header else None
        finally:
            self.waited += time.perf_counter() - asked
            if left:
                signal.setitimer(signal.ITIMER_REAL, left)
        if body is None:
            raise RuntimeError(f"{name}: no answer from the verifier")
        answer = wire.HostAnswer.decode(body)
        if answer.ok:
            return answer.value
        kind = getattr(builtins, answer.kind or "", None)
        if isinstance(kind, type) and issubclass(kind, Exception):  # raised again as it was, for rule code
            try:
                error = kind(*(answer.args or []))
            except Exception:
                error = None
            if error is not None:
                raise error
        raise RuntimeError(f"{name} failed: {answer.error}")


def _judge_shim(host: _HostCalls | None) -> types.ModuleType:
    """VerInstruct's ``llm_call`` module as checker code imports it; calls go to the parent as host calls."""
    shim = types.ModuleType("llm_call")

    def make(name: str):
        def judge_call(*args, **kwargs):
            if host is None:
                raise RuntimeError(f"{name} is a judge call and cannot run here")
            return host.call(name, list(args), dict(kwargs))

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
        # False: real builtins and imports, no screen, no audit hook: the code runs as written (the reference
        # profile, and tests that prove the kernel layers hold alone).
        self.python_layers = bool(config.get("python_layers", True))
        # "verif_nb" (one namespace) or "verif" (the original executor's import replay and split namespaces)
        self.exec_style = config.get("exec_style", "verif_nb")
        self.missing: dict[str, str] = {}
        self.proxies: dict[str, types.ModuleType] = {}
        self.armed = False
        self.warmed: set[str] = set()
        self._builtins: dict | None = None
        self.denied_values: frozenset[int] = frozenset()  # ids of callables a module proxy never hands out
        self._class_makers: dict[type, object] = {}

    # -- modules (zygote) ------------------------------------------------------------------------------
    def preload(self) -> None:
        wanted = sorted(n for n in self.allowed if n != "llm_call" and n not in LAZY_MODULES) + [
            m for m in PRELOAD_SUBMODULES if self._allowed(m) or m in INTERNAL_IMPORTS
        ]
        for name in wanted:
            try:
                importlib.import_module(name)
            except Exception as err:  # a module on the list that this Python lacks
                self.missing[name] = f"{type(err).__name__}: {err}"
        if self.python_layers:
            self._guard_string_paths()

    def _guard_string_paths(self) -> None:
        """Closes, at run time too, the allowed modules' paths that act on names taken from data (issue 19,
        class 1): attribute lookups by a string (``string.Formatter`` fields, ``functools.update_wrapper``'s
        name lists, ``operator.attrgetter``), and writes into a module found by its name (``enum.global_enum``).
        The static screen refuses most by name; this holds where a name gets past it. Paths that compile a
        string are refused by the audit hook (``compile_allowed``)."""
        import _string
        import enum
        import functools
        import operator
        import string

        denied = self.policy.DENIED_ATTRIBUTES
        get_field = string.Formatter.get_field

        def guarded_get_field(formatter, field_name, args, kwargs):
            _, rest = _string.formatter_field_name_split(field_name)
            for is_attribute, name in rest:
                if is_attribute and (name.startswith("_") or name in denied):
                    raise AttributeError(f"access to attribute {name!r} is not allowed")
            return get_field(formatter, field_name, args, kwargs)

        update_wrapper = functools.update_wrapper
        usual = frozenset(functools.WRAPPER_ASSIGNMENTS) | frozenset(functools.WRAPPER_UPDATES)

        def guarded_update_wrapper(
            wrapper, wrapped, assigned=functools.WRAPPER_ASSIGNMENTS, updated=functools.WRAPPER_UPDATES
        ):
            for name in (*assigned, *updated):
                if type(name) is not str or (name not in usual and (name.startswith("_") or name in denied)):
                    raise AttributeError(f"access to attribute {name!r} is not allowed")
            return update_wrapper(wrapper, wrapped, assigned, updated)

        global_enum = enum.global_enum

        def guarded_global_enum(cls, *args, **kwargs):
            if getattr(cls, "__module__", None) in sys.modules:
                raise PermissionError("sandbox: enum.global_enum writing into a module is not allowed")
            return global_enum(cls, *args, **kwargs)

        string.Formatter.get_field = guarded_get_field
        functools.update_wrapper = guarded_update_wrapper
        enum.global_enum = guarded_global_enum
        # Callables that read attributes named by a string, whatever module re-exports them: never handed out.
        self.denied_values = frozenset(id(v) for v in (operator.attrgetter, operator.methodcaller, getattr))

    def warm_up_names(self, names) -> None:
        """Loads the data of the named libraries (see WARM_UPS), once per zygote, before forking the children
        that need it (they inherit it instead of loading it inside a check's time limit)."""
        for name, load in WARM_UPS:
            usable = self._allowed(name) or not self.python_layers
            if name in names and name not in self.warmed and name not in self.missing and usable:
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
            if id(value) in sandbox.denied_values:
                raise AttributeError(f"access to {module_name}.{attr} is not allowed")
            if isinstance(value, type) and issubclass(value, type):  # a metaclass (collections.abc.ABCMeta...)
                return sandbox.class_maker(value), True
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
        module = importlib.import_module(name)
        if name == "langdetect" and "langdetect" not in self.warmed:  # imported here, in a child: seed it
            module.DetectorFactory.seed = 0
        return module

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

    def class_maker(self, metaclass: type):
        """``metaclass`` (``type`` itself, ``ABCMeta``...) as checker code gets it: it makes classes whose
        namespace holds no dunder name the screen would refuse in a class body (``__match_args__``,
        ``__annotations__``, ``__instancecheck__``...): a namespace built from data is not screened."""
        found = self._class_makers.get(metaclass)
        if found is not None:
            return found
        allowed = self.policy.ALLOWED_DUNDER_ATTRIBUTES | {"__module__", "__qualname__", "__doc__"}

        def make_class(*args, **kwargs):
            namespace = args[2] if len(args) == 3 else kwargs.get("dict", {})
            if len(args) == 3 or kwargs:
                for key in namespace if isinstance(namespace, dict) else ():
                    if type(key) is not str or (key.startswith("__") and key not in allowed):
                        raise TypeError(f"sandbox: the name {key!r} is not allowed in a class namespace")
                if not isinstance(namespace, dict):
                    raise TypeError("sandbox: a class namespace other than a dict is not allowed")
            return metaclass(*args, **kwargs)

        make_class.__name__ = metaclass.__name__
        self._class_makers[metaclass] = make_class
        return make_class

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

        class_maker = self.class_maker

        def guarded_type(*args, **kwargs):
            if len(args) != 1 or kwargs:
                return class_maker(type)(*args, **kwargs)
            found = type(args[0])
            # the class of a class is a metaclass, which makes classes from any namespace: guarded too
            return class_maker(found) if issubclass(found, type) else found

        template = {name: real_getattr(builtins, name) for name in SAFE_BUILTIN_NAMES if hasattr(builtins, name)}
        for name in dir(builtins):
            value = real_getattr(builtins, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                template[name] = value
        template.update(
            getattr=safe_getattr,
            hasattr=safe_hasattr,
            print=discard_print,
            type=guarded_type,
            __import__=self.restricted_import,
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

    def _compile(self, code: str) -> tuple[str | None, types.CodeType | None]:
        """(problem, None) or (None, code object): parse, screen (Python layers on) and compile, in the child."""
        if not isinstance(code, str):
            return f"code must be a string, not {type(code).__name__}", None
        if self.screen and self.python_layers:
            return self.policy.compile_screened(code, self.allowed)  # one parse, one compile
        try:
            return None, compile(code, CHECK_FILENAME, "exec", dont_inherit=True)
        except SyntaxError as err:
            return f"SyntaxError line {err.lineno}: {err.msg}", None
        except (ValueError, MemoryError, RecursionError) as err:
            return f"code cannot be compiled: {type(err).__name__}: {err}", None

    def prepare(self, code: str, compiled: types.CodeType | None = None) -> tuple:
        """(program, None) or (None, problem): parses and compiles ``code`` once per job, unless ``compiled`` (the
        parent's screened compile) is given, under the alarm and before the audit hook is armed. The program is
        then defined afresh for every check (:meth:`define`)."""
        if compiled is None:
            try:
                problem, compiled = self._timed(lambda: self._compile(code))
            except BaseException as err:
                return None, f"error while compiling check_following: {self.error_text(err)}"
            if problem:
                return None, problem
        imports = self._verif_imports(code) if self.exec_style == "verif" else []
        return (compiled, imports), None

    def define(self, program: tuple, response: str):
        """Runs the module body of ``program`` (from :meth:`prepare`) in a fresh namespace and returns what it
        names ``check_following`` (None if nothing). Once per check, in every profile: a global counter, a mutable
        default argument or a module-level cache starts anew, as VerIF's executor runs the code afresh per answer.
        Process-wide state the code changed through a library (``random.seed``, ``csv.field_size_limit``...) is not
        reset: it stays for this child's later checks, which are all of the same code. Raises
        what the module body raises (the caller runs it under the check's alarm)."""
        compiled, imports = program
        if self.exec_style == "verif":
            # VerIF's own globals ({}: exec adds the real builtins) and locals holding the answer being checked, so
            # module-level code reads ``response`` as it does there; the sandbox's builtins with the Python layers
            namespace = (
                {"__builtins__": dict(self.builtins_template()), "__name__": "<check>"} if self.python_layers else {}
            )
            local_names = {"response": response}
            self._verif_exec(imports, compiled, namespace, local_names)
            return local_names.get("check_following")
        if self.python_layers:
            namespace = {"__builtins__": dict(self.builtins_template()), "__name__": "<check>"}
        else:
            namespace = {"__builtins__": builtins.__dict__, "__name__": "<check>"}
        exec(compiled, namespace)
        return namespace.get("check_following")

    @staticmethod
    def _verif_imports(code: str) -> list:
        """VerIF's executor replays every import statement found anywhere in the code on its own, rebuilt from
        the module name alone (``import re as r`` becomes ``import re``): those lines, compiled."""
        import ast

        lines = []
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                lines += [f"import {alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                lines += [f"from {node.module} import {alias.name}" for alias in node.names]
        return [compile(line, CHECK_FILENAME, "exec", dont_inherit=True) for line in lines]

    @staticmethod
    def _verif_exec(imports: list, compiled, global_names: dict, local_names: dict) -> None:
        """Defines the function as VerIF's executor does, so its quirks score the same: the import lines first,
        into the globals; then the code with separate globals and locals, so a module-level constant or helper
        lands in the locals, where ``check_following`` (whose globals are the globals) cannot see it."""
        for line in imports:
            exec(line, global_names)
        exec(compiled, global_names, local_names)

    def run_many(self, program: tuple, pairs, strings: list[str], on_result, on_defined=None) -> None:
        """Checks every (instruction, response) index pair, each with ``program`` defined afresh for it (see
        :meth:`define`); ``on_result(index, passed, error)`` after each, ``on_defined()`` once the first check's
        definition ran (before its verdict).

        One timer call per check: each check re-arms the alarm for itself (the definition and the call share it;
        a late alarm between checks finds ``armed`` off and does nothing), and it is cleared once at the end.
        """
        setitimer, timeout = signal.setitimer, self.timeout_s
        try:
            for index, (i_instruction, i_response) in enumerate(pairs):
                instruction, response = strings[i_instruction], strings[i_response]
                setitimer(signal.ITIMER_REAL, timeout)  # replaces the last check's timer before arming
                self.armed = True
                defined = False
                try:
                    function = self.define(program, response)
                    defined = True
                    if not callable(function):
                        passed, error = None, "defines no check_following"
                    else:
                        if index == 0 and on_defined is not None:
                            on_defined()
                        passed, error = bool(function(instruction, response)), None
                except BaseException as err:
                    text = self.error_text(err)
                    passed, error = None, text if defined else f"error while defining check_following: {text}"
                self.armed = False
                on_result(index, passed, error)
        finally:
            self.armed = False
            setitimer(signal.ITIMER_REAL, 0)


ZYGOTE_MAX_FDS = 1024  # the zygote keeps its descriptors below this, so a child can close all others cheaply
_FD_TOP = [ZYGOTE_MAX_FDS]  # the zygote's descriptor limit as set at start-up (lower where the host's hard one is)
_LIBC = [None]  # the C library, opened once in the zygote (prctl for the children)


def _close_other_fds(keep: int) -> int:
    """Moves ``keep`` to 3 and closes every other descriptor above 2; returns 3."""
    top = _FD_TOP[0]
    high = os.dup2(keep, top - 1)
    os.closerange(3, top - 1)
    os.dup2(high, 3)
    os.close(high)
    return 3


class _Filter:
    """The seccomp filter as a BPF program, compiled once in the zygote; a child loads it with one prctl."""

    def __init__(self):
        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        program = self._compile()
        self.buffer = ctypes.create_string_buffer(program, len(program))
        self.prog = SockFprog(len(program) // 8, ctypes.addressof(self.buffer))
        # no_new_privs (required to load a filter without privileges) is inherited: set once, here in the zygote
        if _LIBC[0].prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")

    @staticmethod
    def _compile() -> bytes:
        """The program, built by a throw-away child: libseccomp's binding imports threading and random, whose
        fork hooks would cost every child of the zygote page copies."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 3
            try:
                os.close(read)
                _write_all(write, _load_sibling("_seccomp").bpf_program())
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 1 << 16):
            chunks.append(chunk)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        if status != 0 or not chunks:
            raise OSError("libseccomp could not build the filter (is libseccomp2 installed?)")
        return b"".join(chunks)

    def install(self) -> None:
        if _LIBC[0].prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.prog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "loading the seccomp filter failed")


def _lock_down_child(config: dict, seccomp: _Filter | None) -> None:
    """Kernel-enforced limits, in an order that keeps each step possible: rlimits, uid, then seccomp."""
    if _LIBC[0] is not None:
        _LIBC[0].prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote's death ends us too
    limit = int(config["memory_mb"]) * 1024 * 1024
    cpu = max(1, int(float(config["cpu_s"]) + 0.999))
    for name, soft, hard in (
        ("RLIMIT_AS", limit, limit),
        ("RLIMIT_FSIZE", 0, 0),
        ("RLIMIT_NOFILE", 16, 16),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_CPU", cpu, cpu + 1),  # SIGXCPU at the limit, SIGKILL a second later if that is ignored
    ):
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
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
        strings = ["instruction", "Warm up: a short text, with words. Two sentences!", "word " * 400]
        job = wire.Job.decode(wire.Job(PREFAULT_CODE, None, strings, [(0, 1), (0, 2)], False).encode()[4:])
        program, _ = sandbox.prepare(job.code)
        if program is None:
            program, _ = sandbox.prepare(PREFAULT_FALLBACK)  # a pool whose allow-list lacks re/string/collections
        if program is not None:
            sandbox.run_many(program, job.tasks, job.strings, lambda index, passed, error: None)
            wire.CheckVerdict(0, None, "warm", 0.0).encode()
    except Exception:
        pass


_HOST: list = [None]  # the children's host-call client, made once by the zygote (install_judge_shim)


def install_judge_shim(sandbox: _Sandbox, config: dict) -> None:
    """In the zygote: VerInstruct's ``llm_call`` module for checker code, its calls sent to the parent as host
    calls on the socket of whichever child makes them."""
    host = _HostCalls(-1, frozenset(config.get("host_calls") or ()))
    original = config.get("llm_call")
    # the reference profile's: VerIF's own functions, run here on the rule's objects (see _llm_call.py)
    shim = _load_sibling("_llm_call").original_module(original, host.call) if original else _judge_shim(host)
    sys.modules["llm_call"] = shim
    sandbox.proxies["llm_call"] = shim
    _HOST[0] = host


def _child(sandbox: _Sandbox, seccomp, arm, fd: int, config: dict, prefault: bool) -> None:
    """A child, locked down before it knows its job; then runs one job. Never returns (os._exit).

    ``fd`` is its end of a socket pair whose other end the parent holds (the zygote passed it on): the job
    comes in, records and host calls go out, host-call answers come in. After its last verdict the child
    closes it and waits; the parent stops it and has it killed once the batch is over.
    """
    status = 0
    try:
        fd = _close_other_fds(fd)
        os.set_blocking(fd, True)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _lock_down_child(config, seccomp)
        if prefault:  # only children forked ahead, while the pool is idle: one needed now would pay twice
            _prefault(sandbox)
        header = _read_exact(fd, wire.LENGTH.size)
        body = _read_exact(fd, wire.LENGTH.unpack(header)[0]) if header else None
        if body is None:
            os._exit(0)  # a spare that was not needed
        job = wire.Job.decode(body)
        compiled = marshal.loads(job.compiled) if job.compiled is not None else None
        host = _HOST[0]  # built in the zygote; its calls now go out on this child's socket
        host.fd = fd
        started = time.perf_counter()
        program, error = sandbox.prepare(job.code, compiled)
        if program is not None and sandbox.python_layers:
            arm()  # nothing but the job's own code is left to run
        # Records go out together, at least every FLUSH_S: one write (one wake-up of the parent) per job instead
        # of one per verdict. A careful job (the re-run of one whose child died) sends each record at once, so
        # the parent can tell whether the (first) definition or which check was running when a child dies.
        careful = job.careful
        pending = bytearray()
        flushed = time.perf_counter()

        def flush():
            nonlocal flushed
            if pending:
                _write_all(fd, bytes(pending))
                pending.clear()
            flushed = time.perf_counter()

        host.before_call = flush
        verdict = wire.CheckVerdict

        def on_result(index: int, passed, error) -> None:
            nonlocal started
            now = time.perf_counter()
            pending.extend(verdict(index, passed, error, now - started - host.waited).encode())
            started, host.waited = now, 0.0
            if careful or now - flushed >= FLUSH_S:
                flush()

        def on_defined() -> None:
            pending.extend(wire.DEFINED)
            if careful:
                flush()

        if program is not None:
            sandbox.run_many(program, job.tasks, job.strings, on_result, on_defined)
        else:
            for index in range(len(job.tasks)):
                on_result(index, None, error)
        flush()
        os.close(fd)
        while True:  # done: the parent stops it, and it is killed when the burst is over
            select.select([], [], [])
    except BaseException:
        status = 70
    finally:
        os._exit(status)


_PAIR = (socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)


def _spawn(sandbox: _Sandbox, seccomp, arm, config: dict, prefault: bool) -> tuple[int, int]:
    """Forks a child that locks itself down and waits for its job; returns (pid, the parent's end's descriptor).

    Lean on purpose: after each fork, every page the zygote writes is copied again (it shares them all with the
    new child), so the fewer objects this path touches, the cheaper the next fork (~145 page copies a fork
    measured with socket objects and a dataclass per child; see benchmarks/RESULTS.md).
    """
    # non-blocking for the parent, which reads many; the child makes its own end blocking again
    ours, theirs = _socketpair(*_PAIR)
    ours, theirs = ours.detach(), theirs.detach()
    pid = os.fork()
    if pid == 0:
        os.close(ours)
        _child(sandbox, seccomp, arm, theirs, config, prefault)
    os.close(theirs)
    return pid, ours


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


def _pidfds_work() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except (AttributeError, OSError):
        return False


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
        _LIBC[0] = ctypes.CDLL(None, use_errno=True)
    except OSError:
        pass
    policy = _load_sibling("_policy")
    sandbox = _Sandbox(config, policy)
    sandbox.preload()
    sandbox.builtins_template()  # built once here; every child copies it
    install_judge_shim(sandbox, config)
    signal.signal(signal.SIGALRM, sandbox.on_alarm)
    seccomp, kernel_problem = None, None
    if config.get("seccomp", True):
        try:
            if _LIBC[0] is None:
                raise OSError("the C library cannot be opened")
            seccomp = _Filter()
        except Exception as err:  # no libseccomp, not Linux
            seccomp, kernel_problem = None, f"seccomp unavailable: {type(err).__name__}: {err}"
        if seccomp is not None:
            kernel_problem = _probe_seccomp(seccomp, config)
            if kernel_problem:
                seccomp = None
    else:
        kernel_problem = "seccomp switched off by the caller"

    in_use = _statm_pages(0) * resource.getpagesize()
    if in_use and in_use + HEADROOM_BYTES > sandbox.memory_mb * 1024 * 1024:
        fatal = (
            f"memory_mb={sandbox.memory_mb} is too small: the worker already uses {in_use / 2**20:.0f} MB of "
            "address space; raise memory_mb"
        )
        channel.sendall(wire.Ready(pid=os.getpid(), fatal=fatal).encode())
        return 1
    hook, arm = _make_audit_hook(tuple(config["read_roots"]))
    sys.addaudithook(hook)
    pidfd = _pidfds_work()
    ready = wire.Ready(
        pid=os.getpid(),
        seccomp=seccomp is not None,
        kernel_problem=kernel_problem,
        uid_drop=bool(config.get("drop_uid") and os.geteuid() == 0),
        pidfd=pidfd,
        missing=sandbox.missing,
    )
    channel.sendall(ready.encode())
    if seccomp is None and not config.get("allow_unsandboxed"):
        return 0  # the parent refuses to go on; never run dataset code without the kernel layer

    gc.freeze()  # what the zygote loaded stays out of the children's garbage collections (fewer copied pages)
    return _serve(channel, sandbox, seccomp, arm, config, pidfd)


MAX_STOCK = 1024  # children the zygote forks ahead at the parent's request, at most


def _serve(channel: socket.socket, sandbox: _Sandbox, seccomp, arm, config: dict, pidfd: bool) -> int:
    """The zygote's loop: forks children when the parent asks, hands each one's socket (and pidfd) to the
    parent, kills children when asked, reaps them and reports every exit. Requests and frames: ``_wire.py``.
    The zygote never reads a child's bytes: they go to the parent directly."""
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # wakes the select below through wake_w
    children: dict[int, int] = {}  # child id -> pid, until reaped
    ids: dict[int, int] = {}  # pid -> child id
    next_id = 1
    to_fork: collections.deque[list] = collections.deque()  # [count, prefault] per request, in order
    forked: list[tuple[int, int]] = []  # (id, pid) not yet announced
    forked_fds: list[int] = []
    pending = bytearray()

    def announce(ahead: bool) -> None:
        if forked:  # the zygote's size matters only for children forked ahead (they are measured when done)
            frame = wire.Children.pack(forked, ahead, _statm_pages(1) if ahead else 0)
            channel.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", forked_fds))])
            for fd in forked_fds:
                os.close(fd)
            forked.clear()
            forked_fds.clear()

    while True:
        exits = []
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
                signaled = os.WIFSIGNALED(status)
                exits.append(
                    wire.Exit(
                        child,
                        os.WTERMSIG(status) if signaled else None,
                        None if signaled else (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255),
                    )
                )
        if exits:
            channel.sendall(wire.Exits(tuple(exits)).encode())
        if to_fork and not select.select([channel], [], [], 0)[0]:
            prefault = to_fork[0][1]
            pid, ours = _spawn(sandbox, seccomp, arm, config, prefault)
            children[next_id], ids[pid] = pid, next_id
            forked.append((next_id, pid))
            forked_fds.append(ours)
            if pidfd:
                forked_fds.append(os.pidfd_open(pid))
            next_id += 1
            to_fork[0][0] -= 1
            if to_fork[0][0] <= 0:
                to_fork.popleft()
            # Children needed now go out one by one; ones forked ahead (the pool idle) in groups.
            if not prefault or not to_fork or not to_fork[0][1] or len(forked) >= wire.MAX_CHILDREN_PER_FRAME:
                announce(prefault)
            continue
        announce(True)  # only children forked ahead wait to be announced
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
        while len(pending) >= wire.LENGTH.size:
            size = wire.LENGTH.unpack_from(pending)[0]
            if len(pending) < wire.LENGTH.size + size:
                break
            request = wire.decode_request(bytes(pending[wire.LENGTH.size : wire.LENGTH.size + size]))
            del pending[: wire.LENGTH.size + size]
            if isinstance(request, wire.Fork):
                count = min(MAX_STOCK - sum(n for n, _ in to_fork), request.count)
                if count > 0 and request.ahead:
                    to_fork.append([count, True])
                elif count > 0:  # needed now: before any stock being forked ahead
                    to_fork.appendleft([count, False])
            elif isinstance(request, wire.Kill):
                for child in request.children:
                    pid = children.get(child)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)  # its exit is reported when it is reaped
            elif isinstance(request, wire.Warm):
                sandbox.warm_up_names(request.names)
                gc.freeze()
                channel.sendall(wire.Warmed(next_id).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
