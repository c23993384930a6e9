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
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verif_nb.errors import DataError, OutputPathError, ParamsError


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


def check_output_file(out: str | os.PathLike, inputs: dict[str, str | os.PathLike | None] | None = None) -> Path:
    """Check, before any work starts, that a result file can be written at ``out``; returns it as a Path.

    Refuses (:class:`OutputPathError`) an ``out`` that is one of ``inputs`` (``{"--data": path}``) by
    resolved path or by inode (a hard link), a folder, a path under a file, and a folder where a file
    cannot be created (tried for real, with a temporary file). Missing parent folders are created.
    The file itself is then written with :func:`atomic_path`, so an existing one is replaced only once
    the work succeeded.

    Example:
        >>> import tempfile, pathlib
        >>> data = pathlib.Path(tempfile.mkdtemp()) / "data.jsonl"
        >>> _ = data.write_text("{}")
        >>> check_output_file(data.parent / "out.jsonl", {"--data": data}).name
        'out.jsonl'
        >>> check_output_file(data, {"--data": data})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.OutputPathError: --out .../data.jsonl is the --data file; ...
    """
    path = Path(out)
    for option, given in (inputs or {}).items():
        if given is not None and _same_file(path, Path(given)):
            raise OutputPathError(
                f"--out {path} is the {option} file; writing results there would destroy the input. "
                "Choose another --out"
            )
    if path.is_dir():
        raise OutputPathError(f"--out {path} is a folder; give a file name inside it, e.g. {path / 'results.jsonl'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"--out {path}: {parent} is a file, not a folder")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputPathError(f"--out {path}: cannot write in {path.parent} ({err.strerror or err})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"--out {path} exists and is read-only; choose another --out or make it writable")
    return path


def check_output_dir(
    out: str | os.PathLike,
    names: Iterable[str],
    inputs: dict[str, str | os.PathLike | None] | None = None,
) -> Path:
    """:func:`check_output_file` for a command whose ``--out`` is a folder it writes ``names`` into.

    The folder must not be a file or lie under one, must be writable (it is created), and none of the
    files to be written may be one of ``inputs``.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> check_output_dir(d / "run", ["table.csv"]).name
        'run'
        >>> _ = (d / "run" / "table.csv").write_text("mine")
        >>> check_output_dir(d / "run", ["table.csv"], {"--responses": d / "run" / "table.csv"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.OutputPathError: --out .../run/table.csv is the --responses file; ...
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"--out {path} is a file; --out names a folder here")
    for name in names:
        check_output_file(path / name, inputs)
    return path


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


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
            value, field, problem = _parse_line(data)
            if problem is not None:
                yield JsonlLine(line_no, None, DataError(path, line_no, field, problem))
            elif value is not None:
                yield JsonlLine(line_no, value)


# A data row is a handful of levels deep; past this the row is refused, before deeper code (json.dumps
# to the sandbox, deepcopy) could hit Python's recursion limit on it.
MAX_JSON_DEPTH = 64
# Python refuses to convert longer integer strings (sys.get_int_max_str_digits), so no field can hold one.
MAX_INT_DIGITS = 4300


class _OversizedInt(str):
    """Stands in for an integer literal too long to convert, so the field holding it can be named."""


def parse_json_int(text: str) -> int | _OversizedInt:
    """``json.loads``'s ``parse_int``: an int, or a marker for one too long to convert (found later by
    :func:`json_value_problem`, which names its field) instead of a ValueError that names nothing.

    Example:
        >>> (parse_json_int("42"), type(parse_json_int("9" * 5000)).__name__)
        (42, '_OversizedInt')
    """
    return _OversizedInt(text) if len(text.lstrip("-")) > MAX_INT_DIGITS else int(text)


def _parse_line(data: bytes) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(object, None, None), (None, None, None) for a blank line, or (None, field or None, what is wrong)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, None, f"not UTF-8 text ({err.reason} at byte {err.start}); save the file as UTF-8"
    if not text.strip():
        return None, None, None
    too_deep = f"nested more than {MAX_JSON_DEPTH} levels deep; a data row is a flat object"
    marked = False
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return None, None, f"malformed JSON ({err.msg} at column {err.colno}); each line must be one JSON object"
    except RecursionError:
        return None, _deep_field(text), too_deep
    except ValueError:  # an integer too long to convert: read again, keeping it as a marker, to name its field
        try:
            value, marked = _MARKING_DECODER.decode(text), True
        except RecursionError:
            return None, _deep_field(text), too_deep
    if not isinstance(value, dict):
        return None, None, f"expected a JSON object per line, got {type(value).__name__}"
    # The walk costs about as much as the parse: only a line with an over-long integer, or with that many
    # brackets (which could be too deep), needs it.
    if marked or text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        problem = json_value_problem(value)
        if problem is not None:
            return None, problem[0], problem[1]
    return value, None, None


_MARKING_DECODER = json.JSONDecoder(parse_int=parse_json_int)


def json_value_problem(row: dict[str, Any]) -> tuple[str, str] | None:
    """(top-level field, what is wrong) for a parsed row nested too deep or holding an unconvertible
    integer, else None. Walks without recursion, so any depth is safe to inspect.

    Example:
        >>> json_value_problem({"id": 1, "meta": {"a": [[[]]]}}) is None
        True
        >>> deep: list = []
        >>> for _ in range(100):
        ...     deep = [deep]
        >>> json_value_problem({"id": "a", "meta": deep})[0]
        'meta'
    """
    stack: list[tuple[Any, int, str]] = [(v, 1, str(k)) for k, v in row.items()]
    while stack:
        value, depth, top = stack.pop()
        if isinstance(value, _OversizedInt):
            digits = len(value.lstrip("-"))
            return top, f"an integer of {digits} digits (more than {MAX_INT_DIGITS}); write it as a string"
        if depth > MAX_JSON_DEPTH:
            return top, f"nested more than {MAX_JSON_DEPTH} levels deep; a data row is a flat object"
        if isinstance(value, dict):
            stack.extend((v, depth + 1, top) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, top) for v in value)
    return None


def _deep_field(text: str) -> str | None:
    """The top-level key under which a JSON line nests too deep (scanned, not parsed), or None."""
    depth, key, in_string, escaped, start = 0, None, False, False, 0
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1 and text[i + 1 :].lstrip().startswith(":"):
                    try:
                        key = json.loads(text[start : i + 1])
                    except ValueError:
                        key = None
        elif ch == '"':
            in_string, start = True, i
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return key
        elif ch in "]}":
            depth -= 1
    return key


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


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def make_encodable(text: str) -> tuple[str, int]:
    """``text`` with every lone surrogate (which UTF-8 cannot encode) replaced by U+FFFD, and how many.

    Lone surrogates arrive from ``\\udc80`` escapes in JSON or from ``surrogateescape`` decoding; left in,
    they crash the first thing that encodes the text (an HTTP body, a cache key, an output file).

    Example:
        >>> make_encodable("ok \\udc80 here")
        ('ok \ufffd here', 1)
        >>> make_encodable("plain")
        ('plain', 0)
    """
    if text.isascii():
        return text, 0
    return _SURROGATE_RE.subn("\ufffd", text)


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
            line = json.dumps(row, ensure_ascii=False)
            if not line.isascii() and _SURROGATE_RE.search(line):
                line = json.dumps(row)  # \\u escapes keep a lone surrogate as valid JSON that UTF-8 can hold
            fh.write(line + "\n")
    return Path(path)


# Params files and judge templates are a few KB; the cap keeps a wrong or hostile file from being read whole.
MAX_YAML_BYTES = 1_000_000


def _no_alias_loader() -> type:
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases: ``*name`` can expand into billions of nodes (an alias bomb)."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"YAML alias *{event.anchor} refused: verif-nb files may not use anchors/aliases "
                    "(they can expand without bound); write the values out",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def _duplicate_key(loader: Any, root: Any) -> tuple[str, str] | None:
    """The first mapping key written twice in a composed YAML document, as (key path, what is wrong), else None.

    PyYAML keeps the last value silently, so ``max_steps: 2`` then ``max_steps: 5000`` would train 5000 steps.
    Keys are compared as YAML reads them (``1`` and ``0x1`` are one key); a merge key (``<<``) is not a key of its
    own. Walks without recursion."""
    import yaml

    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(node.value))))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            children = []
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<` twice in one mapping: the first is lost too
                    key = "<<"
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        return f"{path}.<<" if path else "<<", (
                            f"duplicate merge key at line {line} (first at line {seen[key]}); YAML would keep only "
                            "the last one: write one `<<` (a list merges several)"
                        )
                    seen[key] = line
                    continue
                if not isinstance(key_node, yaml.ScalarNode):  # a list or mapping as a key: PyYAML refuses it
                    continue
                key = loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                full = f"{path}.{key}" if path else str(key)
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:  # an unhashable key: PyYAML refuses it itself when constructing
                    continue
                if first is not None:
                    return full, (
                        f"duplicate key at line {line} (first at line {first}); YAML would keep only the last value: "
                        "write each key once"
                    )
                children.append((value_node, full))
            stack.extend(reversed(children))
    return None


def load_yaml_text(text: str, where: str) -> Any:
    """Parse YAML from a verif-nb params file or template: safe types only, no aliases, no duplicate keys, a size
    cap.

    Every failure is a :class:`ParamsError` naming ``where`` and saying which limit was hit.

    Example:
        >>> load_yaml_text("a: 1\\nb: [x, y]", "p.yaml")
        {'a': 1, 'b': ['x', 'y']}
        >>> load_yaml_text("grpo:\\n  max_steps: 2\\n  max_steps: 5000", "p.yaml")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: p.yaml: grpo.max_steps: duplicate key at line 3 (first at line 2); ...
        >>> load_yaml_text("a: &x [1]\\nb: *x", "p.yaml")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: p.yaml: not valid YAML: YAML alias *x refused: ...
    """
    import yaml

    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_YAML_BYTES:
        raise ParamsError(f"{where}: {size} bytes, over the {MAX_YAML_BYTES}-byte cap for a YAML file")
    try:
        loader = _no_alias_loader()(text)
        try:
            node = loader.get_single_node()  # what yaml.load does, with the duplicate check between its two steps
            if node is None:
                return None
            duplicate = _duplicate_key(loader, node)
            if duplicate is not None:
                raise ParamsError(duplicate[1], where=where, key=duplicate[0])
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except ParamsError:  # a duplicate key, already one line naming file, key path and lines
        raise
    except yaml.MarkedYAMLError as err:  # one line: what is wrong and where, not PyYAML's source excerpt
        mark = err.problem_mark or err.context_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ParamsError(f"{where}: not valid YAML: {err.problem or err.context}{at}") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{where}: not valid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise ParamsError(f"{where}: YAML nested too deep to read") from None
    except ValueError as err:  # e.g. an integer too long to convert
        raise ParamsError(f"{where}: a value cannot be read: {err}") from None


def read_yaml(path: str | os.PathLike, what: str = "YAML file") -> Any:
    """Read a YAML file through :func:`load_yaml_text`; a missing, oversized or non-UTF-8 file is a ParamsError.

    Example:
        >>> read_yaml("/nonexistent.yaml", "params file")
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: params file /nonexistent.yaml does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{what} {path} does not exist")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ParamsError(f"{path}: {path.stat().st_size} bytes, over the {MAX_YAML_BYTES}-byte cap for a {what}")
    with open(path, "rb") as fh:
        data = fh.read(MAX_YAML_BYTES + 1)  # the file may grow between stat and read
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return load_yaml_text(text, str(path))


def project_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working folder) holding ``pyproject.toml``.

    Example:
        >>> import tempfile, pathlib
        >>> top = pathlib.Path(tempfile.mkdtemp()); _ = (top / "pyproject.toml").write_text("")
        >>> (top / "a" / "b").mkdir(parents=True); project_root(top / "a" / "b") == top.resolve()
        True
    """
    here = Path(start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), None)


PROJECT_ENV = "VERIF_NB_PROJECT"
"""The environment variable a pipeline run sets for its notebooks: the folder ``verif-nb run`` started in (they
run inside the run folder, so relative paths they write stay relative to it)."""


def project_path(path: str | Path) -> Path:
    """Resolve a relative path the same way in a pipeline run and in JupyterLab.

    A pipeline run executes each notebook inside its run folder and names the folder ``verif-nb run`` was
    started from in ``$VERIF_NB_PROJECT``; JupyterLab runs notebooks in ``notebooks/``. A relative path is taken
    from the working folder if it exists there, else from ``$VERIF_NB_PROJECT`` when set, else from the project
    root (the folder holding ``pyproject.toml``) — also for paths that do not exist yet, such as output folders.

    Example:
        >>> project_path("/tmp") == Path("/tmp")
        True
    """
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    root = Path(os.environ[PROJECT_ENV]) if os.environ.get(PROJECT_ENV) else project_root()
    return root / p if root is not None else p
