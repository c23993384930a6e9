"""Row-level input/output: jsonl helpers, the response-file reader, and one iterator over the rows of
any supported source (jsonl, json, parquet, a folder of those, a ``datasets`` folder, a hub id).

Every row comes with the place it was read from, so later errors can name the file and line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verif_nb.errors import DataError
from verif_nb.files import iter_jsonl

logger = logging.getLogger(__name__)

FILE_SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".parquet")


@dataclass
class RawRow:
    """One row as read, before any format is applied: ``row`` is None when ``error`` says why it is unreadable."""

    path: str
    line: int
    row: dict[str, Any] | None
    error: DataError | None = None


def _iter_jsonl(path: Path) -> Iterator[RawRow]:
    for item in iter_jsonl(path):
        yield RawRow(str(path), item.line, item.row, item.error)


def _iter_json(path: Path) -> Iterator[RawRow]:
    # A .json file is one array of objects; "line" is then the 1-based position in the array.
    try:
        with open(path, encoding="utf-8-sig") as fh:  # tolerate a BOM (Windows editors)
            value = json.load(fh)
    except UnicodeDecodeError as err:
        raise DataError(path, None, None, f"not UTF-8 text ({err.reason}); save the file as UTF-8") from None
    except json.JSONDecodeError as err:
        raise DataError(
            path,
            err.lineno,
            None,
            f"malformed JSON ({err.msg}); a .json file must hold one array "
            "of objects (use .jsonl for one object per line)",
        ) from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise DataError(path, None, None, f"expected a JSON array of objects, got {type(value).__name__}")
    for i, item in enumerate(value, start=1):
        if isinstance(item, dict):
            yield RawRow(str(path), i, item)
        else:
            yield RawRow(
                str(path), i, None, DataError(path, i, None, f"expected a JSON object, got {type(item).__name__}")
            )


def _iter_parquet(path: Path) -> Iterator[RawRow]:
    import pyarrow.parquet as pq  # pyarrow is a core dependency; imported here to keep `import verif_nb` light

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a corrupt/non-parquet file
        raise DataError(path, None, None, f"not a readable parquet file: {err}") from None
    i = 0
    # to_pylist (not pandas) so nested lists stay Python lists instead of numpy arrays.
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            i += 1
            yield RawRow(str(path), i, row)


class _Sized:
    """An iterator that knows its length, so progress bars can show a total."""

    def __init__(self, rows: Iterator[RawRow], n: int):
        self._rows, self._n = rows, n

    def __iter__(self) -> Iterator[RawRow]:
        return self._rows

    def __len__(self) -> int:
        return self._n


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception as err:  # pyarrow raises several types for a corrupt/non-parquet file
        raise DataError(path, None, None, f"not a readable parquet file: {err}") from None


def _iter_hf(dataset: Any, name: str) -> Iterator[RawRow]:
    for i, row in enumerate(dataset, start=1):
        yield RawRow(name, i, dict(row))


def _pick_split(dataset: Any, name: str, split: str) -> Any:
    # load_from_disk / load_dataset may return a DatasetDict; the caller's split chooses one part.
    if isinstance(dataset, dict):  # DatasetDict subclasses dict
        splits = list(dataset.keys())
        if split not in splits:
            raise DataError(
                name,
                None,
                None,
                f"split {split!r} not found; the dataset has splits {splits}; pass split=... to choose one",
            )
        return dataset[split]
    return dataset


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def source_files(source: str | os.PathLike) -> list[Path] | None:
    """The data files a local ``source`` stands for (a file, or a folder's files sorted by name).

    None when ``source`` is not local (a hub id) or is a folder written by ``datasets.save_to_disk``.
    """
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        if _is_saved_dataset(path):
            return None
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in FILE_SUFFIXES)
        if not files:
            raise DataError(
                path,
                None,
                None,
                f"folder holds no {'/'.join(FILE_SUFFIXES)} files and is not a dataset saved by datasets.save_to_disk",
            )
        return files
    if path.suffix in FILE_SUFFIXES or str(source).startswith((".", "/", "~")):
        raise DataError(path, None, None, f"file not found; check the path (relative paths start from {Path.cwd()})")
    return None


def iter_file_rows(path: Path) -> Iterable[RawRow]:
    """Rows of one local data file, chosen by its suffix."""
    if path.suffix == ".jsonl":
        return _iter_jsonl(path)
    if path.suffix == ".json":
        return _iter_json(path)
    if path.suffix == ".parquet":
        return _Sized(_iter_parquet(path), _parquet_rows(path))
    raise DataError(path, None, None, f"unsupported file type {path.suffix!r}; use one of {', '.join(FILE_SUFFIXES)}")


def iter_dataset_rows(source: str, split: str) -> tuple[str, Iterable[RawRow]]:
    """Rows of a folder saved by ``datasets.save_to_disk`` or of a Hugging Face hub dataset id.

    Returns the name used in error messages (``source[split]``) and the row iterator.
    """
    try:
        import datasets
    except ImportError:
        raise DataError(
            source,
            None,
            None,
            "reading a saved or hub dataset needs the `datasets` package: pip install 'verif-nb[train]'",
        ) from None
    name = f"{source}[{split}]"
    try:
        if Path(source).is_dir():
            ds = datasets.load_from_disk(source)
        else:
            logger.info("loading %s (split %s) with datasets.load_dataset", source, split)
            ds = datasets.load_dataset(source, split=split)
    except DataError:
        raise
    except Exception as err:  # the hub client raises many types (offline, not found, gated)
        raise DataError(
            source,
            None,
            None,
            f"could not load it as a Hugging Face dataset ({type(err).__name__}: {err}); check the id "
            "and your hub access, or download it and pass a local .jsonl/.parquet path",
        ) from None
    ds = _pick_split(ds, name, split)
    rows = _iter_hf(ds, name)
    return name, _Sized(rows, len(ds)) if hasattr(ds, "__len__") else rows


@dataclass(frozen=True)
class ResponseRow:
    """One line of a responses file: its id and text, or the DataError that made it unreadable.

    Example:
        >>> ResponseRow(3, "a", "hi").error is None
        True
    """

    line: int
    id: str | None
    response: str | None
    error: DataError | None = None


def read_response_rows(path: str | os.PathLike) -> list[ResponseRow]:
    """Every line of a responses file, the unreadable ones included with their error (``verify --lenient``).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "resp.jsonl"
        >>> _ = p.write_text('{"id": "a", "response": "hi"}\\n{"id": "b"}\\n')
        >>> [(r.id, r.error.field if r.error else None) for r in read_response_rows(p)]
        [('a', None), ('b', 'response')]
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "responses file not found")
    out: list[ResponseRow] = []
    for raw in _iter_jsonl(path):
        if raw.error is not None:
            out.append(ResponseRow(raw.line, None, None, raw.error))
            continue
        row = raw.row
        rid = row.get("id")
        rid = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) and rid != "" else None
        try:
            out.append(ResponseRow(raw.line, *_response_fields(path, raw.line, row)))
        except DataError as err:
            out.append(ResponseRow(raw.line, rid, None, err))
    return out


def _response_fields(path: Path, line: int, row: dict[str, Any]) -> tuple[str, str]:
    if "id" not in row:
        hint = " (IFEval response files key rows by prompt; add the record id)" if "prompt" in row else ""
        raise DataError(path, line, "id", f"missing; each row needs the id of its record{hint}")
    rid = row["id"]
    if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
        raise DataError(path, line, "id", f"expected a non-empty string, got {rid!r}")
    if "response" not in row:
        raise DataError(path, line, "response", "missing; each row needs the response text")
    if not isinstance(row["response"], str):
        raise DataError(path, line, "response", f"expected a string, got {type(row['response']).__name__}")
    return str(rid), row["response"]


def read_responses(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a responses file: rows ``{"id": record_id, "response": text}``, several rows per id allowed.

    Returns ``(id, response)`` pairs in file order. Integer ids are read as strings (to match
    ``Record.id``). A bad row is a DataError naming the file, line and field.

    Example:
        >>> import tempfile, pathlib
        >>> from verif_nb.files import write_jsonl
        >>> p = write_jsonl(pathlib.Path(tempfile.mkdtemp()) / "resp.jsonl",
        ...                 [{"id": "a", "response": "hi"}, {"id": "a", "response": "hello"}])
        >>> read_responses(p)
        [('a', 'hi'), ('a', 'hello')]
    """
    out: list[tuple[str, str]] = []
    for row in read_response_rows(path):
        if row.error is not None:
            raise row.error
        out.append((row.id, row.response))  # type: ignore[arg-type]
    return out
