"""One exception hierarchy for verif-nb; every message says what to do next.

Example:
    >>> try:
    ...     raise DataError("bad.jsonl", 3, "functions", "expected a list of strings")
    ... except VerifNbError as err:
    ...     print(err)
    bad.jsonl:3: field 'functions': expected a list of strings
"""

from __future__ import annotations


class VerifNbError(Exception):
    """Base class of every error verif-nb raises on purpose."""


class DataError(VerifNbError, ValueError):
    """Bad input data: names the file, the line (1-based, or None) and the field.

    Example:
        >>> str(DataError("d.jsonl", 2, "prompt", "missing"))
        "d.jsonl:2: field 'prompt': missing"
    """

    def __init__(self, path: str | None, line: int | None, field: str | None, message: str):
        self.path = str(path) if path is not None else "<data>"
        self.line = line
        self.field = field
        self.message = message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{message}")


class OutputPathError(VerifNbError, ValueError):
    """An output path that would destroy an input, or cannot be written; raised before any work starts."""


class CheckerError(VerifNbError, ValueError):
    """An unknown built-in checker id or kwargs it does not accept."""


class SandboxError(VerifNbError, RuntimeError):
    """The sandbox pool itself failed (not a single check: those return passed=None)."""


class JudgeError(VerifNbError, RuntimeError):
    """A judge call failed after its retries, or its answer could not be parsed."""


class ParamsError(VerifNbError, ValueError):
    """A parameter file names a key the target does not have, or a bad value."""


class RunExistsError(VerifNbError, FileExistsError):
    """An output folder already exists; verif-nb never overwrites a finished run."""
