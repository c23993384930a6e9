"""Files on disk, done one way: JSON-lines read and write, atomic replacement, the cache folder.

Every JSONL reader of the package goes through :func:`iter_jsonl` (a bad line is a DataError naming
file and line); every file that must appear complete or not at all is written through
:func:`atomic_path`; every cached artefact lives under :func:`cache_root`.

Example:
    >>> import tempfile, pathlib
    >>> p = write_jsonl(pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl", [{"id": "a"}, {"id": "b"}])
    >>> [r["id"] for r in read_jsonl(p)]
    ['a', 'b']
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verif_nb.errors import DataError


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$VERIF_NB_CACHE``, else ``~/.cache/verif_nb``.

    Models, judge-server PID files and logs live in sub-folders of it.

    Example:
        >>> cache_root("/tmp/x")
        PosixPath('/tmp/x')
    """
    chosen = cache_dir or os.environ.get("VERIF_NB_CACHE")
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "verif_nb"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` only if the block succeeds.

    Parent folders are created; readers never see a half-written file; ``mode`` is applied before the
    move (mkstemp makes files private, and these are not secrets).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a" / "out.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path.

    Example:
        >>> import tempfile, pathlib
        >>> write_text_atomic(pathlib.Path(tempfile.mkdtemp()) / "x.json", "{}").read_text()
        '{}'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@dataclass
class JsonlLine:
    """One non-blank line of a JSONL file: its 1-based number and the object, or the error that stops it."""

    line: int
    row: dict[str, Any] | None
    error: DataError | None = None


def iter_jsonl(path: str | os.PathLike) -> Iterator[JsonlLine]:
    """The lines of a JSONL file, each an object or a DataError naming file and line (not raised: a lenient
    reader skips it, a strict one raises it). Blank lines are not rows; a UTF-8 BOM is tolerated.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> _ = p.write_text('{"a": 1}\\n\\n[1]\\n')
        >>> [(x.line, x.row, str(x.error).split(": ", 1)[1] if x.error else None) for x in iter_jsonl(p)]
        [(1, {'a': 1}, None), (3, None, 'expected a JSON object per line, got list')]
    """
    path = Path(path)
    # Bytes, decoded line by line, so one badly encoded line is that line's error, not the file's.
    with open(path, "rb") as fh:
        for line_no, data in enumerate(fh, start=1):
            if line_no == 1 and data.startswith(b"\xef\xbb\xbf"):  # a BOM (Windows editors)
                data = data[3:]
            value, problem = _parse_line(data)
            if problem is not None:
                yield JsonlLine(line_no, None, DataError(path, line_no, None, problem))
            elif value is not None:
                yield JsonlLine(line_no, value)


def _parse_line(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None), (None, None) for a blank line, or (None, what is wrong with the line)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text ({err.reason} at byte {err.start}); save the file as UTF-8"
    if not text.strip():
        return None, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"malformed JSON ({err.msg} at column {err.colno}); each line must be one JSON object"
    if not isinstance(value, dict):
        return None, f"expected a JSON object per line, got {type(value).__name__}"
    return value, None


def read_jsonl(path: str | os.PathLike, what: str = "jsonl") -> list[dict[str, Any]]:
    """Read a JSONL file into a list of dicts; the first bad line raises its DataError.

    ``what`` names the file in the "not found" error ("responses file not found").

    Example:
        >>> read_jsonl("/nonexistent.jsonl", "metrics")
        Traceback (most recent call last):
        ...
        verif_nb.errors.DataError: /nonexistent.jsonl: metrics file not found
    """
    return [row for _, row in read_jsonl_numbered(path, what)]


def read_jsonl_numbered(path: str | os.PathLike, what: str = "jsonl") -> list[tuple[int, dict[str, Any]]]:
    """:func:`read_jsonl` with each row's line number, for errors about a field of a row.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_jsonl(pathlib.Path(tempfile.mkdtemp()) / "r.jsonl", [{"x": 1}])
        >>> read_jsonl_numbered(p)
        [(1, {'x': 1})]
    """
    if not Path(path).is_file():
        raise DataError(path, None, None, f"{what} file not found")
    rows = []
    for item in iter_jsonl(path):
        if item.error is not None:
            raise item.error
        rows.append((item.line, item.row))
    return rows  # type: ignore[return-value]


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    """Write rows (dicts, or objects with ``to_dict()``) as one JSON object per line, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_jsonl(pathlib.Path(tempfile.mkdtemp()) / "out" / "r.jsonl", [{"x": 1}])
        >>> p.read_text()
        '{"x": 1}\\n'
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            if hasattr(row, "to_dict"):
                row = row.to_dict()
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(path)
