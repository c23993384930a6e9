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
    """A parameter is wrong: an unknown key, a value of the wrong type or out of range, a missing file.

    Always one line: ``FILE: KEY.PATH: what is wrong`` (the file and the key path when they are known).
    ``problems`` holds each ``(key path, text)`` when one object had several.

    Example:
        >>> err = ParamsError("expected an integer >= 1, got 'lots' (str)", where="p.yaml", key="judge.concurrency")
        >>> str(err), err.key
        ("p.yaml: judge.concurrency: expected an integer >= 1, got 'lots' (str)", 'judge.concurrency')
    """

    def __init__(self, message: str, *, where: str | None = None, key: str | None = None):
        self.where = where
        self.problems: tuple[tuple[str | None, str], ...] = ((key, message),)
        text = message if key is None else f"{key}: {message}"
        super().__init__(" ".join((f"{where}: {text}" if where else text).splitlines()))

    @property
    def key(self) -> str | None:
        """The key path of the first problem (None for a problem with the file as a whole)."""
        return self.problems[0][0]

    @classmethod
    def of(cls, problems: list[tuple[str | None, str]], where: str | None = None) -> ParamsError:
        """One error for several problems of one object, each ``(key path, text)``, joined by '; '.

        Example:
            >>> str(ParamsError.of([("a", "expected a string, got 1 (int)"), ("b", "expected true or false")]))
            'a: expected a string, got 1 (int); b: expected true or false'
        """
        err = cls("; ".join(text if key is None else f"{key}: {text}" for key, text in problems), where=where)
        err.problems = tuple(problems)
        return err


class RunExistsError(VerifNbError, FileExistsError):
    """An output folder already exists; verif-nb never overwrites a finished run."""
