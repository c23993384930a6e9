"""load_records: any supported source and format into one list of Records, with every skipped row reported."""

from __future__ import annotations

import dataclasses
import logging
import os
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from verif_nb.data._ifeval import UNKNOWN_POLICIES, parse_ifeval
from verif_nb.data._io import RawRow, iter_dataset_rows, iter_file_rows, source_files
from verif_nb.data._result import Collector, LoadResult
from verif_nb.data._rlvr import parse_rlvr
from verif_nb.data._verinstruct import UNTAGGED_POLICIES, parse_verinstruct
from verif_nb.data._verl import parse_verl
from verif_nb.errors import DataError, ParamsError
from verif_nb.records import Record

DataFormat = Literal["auto", "verinstruct", "verl", "ifeval", "ifbench", "rlvr"]
FORMATS: tuple[str, ...] = typing.get_args(DataFormat)
SAMPLE_DIR = Path(__file__).parent / "sample"

logger = logging.getLogger(__name__)

_PARSERS: dict[str, Callable[..., tuple[Record, Any]]] = {
    "verinstruct": parse_verinstruct,
    "verl": parse_verl,
    "ifeval": parse_ifeval,
    "ifbench": parse_ifeval,
    "rlvr": parse_rlvr,
}
_ID_FIELDS = {"verinstruct": "id", "verl": "extra_info.id", "ifeval": "key", "ifbench": "key", "rlvr": "key"}


def detect_format(row: dict[str, Any]) -> str | None:
    """The format a row's fields point to, or None.

    IFEval and IFBench share one layout, so a row of either is reported as ``"ifeval"``.

    Example:
        >>> detect_format({"id": "1", "prompt": "p", "checkers": [], "functions": []})
        'verinstruct'
        >>> detect_format({"key": 1, "prompt": "p", "instruction_id_list": [], "kwargs": []})
        'ifeval'
    """
    if "checkers" in row or "functions" in row:
        return "verinstruct"
    if "reward_model" in row or "data_source" in row:
        return "verl"
    if "instruction_id_list" in row:
        return "ifeval"
    if "ground_truth" in row:  # AI2's RLVR rows (IF_multi_constraints): a stringified checker list
        return "rlvr"
    return None


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParamsError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")


def _row_id(row: dict[str, Any]) -> str | None:
    """The record id a raw row claims, whatever its format, or None."""
    extra = row.get("extra_info")
    for value in (row.get("id"), row.get("key"), extra.get("id") if isinstance(extra, dict) else None):
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return str(value)
    return None


def _load_streams(
    streams: list[tuple[str, Iterable[RawRow]]], fmt: str, *, lenient: bool, untagged: str, unknown_checkers: str
) -> LoadResult:
    collector = Collector(lenient=lenient)
    used: list[str] = []
    for name, rows in streams:
        stream_fmt = fmt
        # delay: short loads (the common case) show no bar at all.
        for raw in tqdm(rows, desc=f"reading {Path(name).name}", unit=" rows", delay=2.0, leave=False):
            collector.row()
            if raw.error is not None:
                collector.fail(raw.error)
                continue
            if stream_fmt == "auto":
                detected = detect_format(raw.row)
                if detected is None:
                    collector.fail(
                        DataError(
                            raw.path,
                            raw.line,
                            None,
                            f"cannot tell the format from the fields {sorted(raw.row)}; expected "
                            "VerInstruct (id, prompt, checkers, functions), verl (data_source, "
                            "prompt, reward_model, extra_info), IFEval/IFBench (key, prompt, "
                            "instruction_id_list, kwargs) or RLVR (key, messages, ground_truth); "
                            "or pass format=...",
                        )
                    )
                    continue
                stream_fmt = detected
            try:
                record, counts = _PARSERS[stream_fmt](
                    raw, untagged=untagged, unknown_checkers=unknown_checkers, fmt=stream_fmt
                )
            except DataError as err:
                err.row_id = _row_id(raw.row)  # so `verify --lenient` can say why a response's record is missing
                collector.fail(err)
                continue
            collector.add(record, counts, _ID_FIELDS[stream_fmt], raw.path, raw.line)
        if stream_fmt != "auto" and stream_fmt not in used:
            used.append(stream_fmt)
    result = collector.result("+".join(used) or fmt)
    if result.skipped:
        logger.warning(
            "skipped %d of %d rows (reasons in result.skipped; result.summary() lists them); first: %s",
            len(result.skipped),
            result.counts["rows"],
            result.skipped[0],
        )
    return result


def load_records(
    source: str | os.PathLike,
    format: str = "auto",
    *,
    lenient: bool = False,  # noqa: A002 - API name
    untagged: str = "error",
    unknown_checkers: str = "error",
    split: str = "train",
    profile: str = "default",
) -> LoadResult:
    """Read records from a file, a folder, a saved ``datasets`` folder or a Hugging Face dataset id.

    ``source``: a ``.jsonl`` / ``.json`` (array) / ``.parquet`` file; a folder of such files (read in name
    order); a folder written by ``datasets.save_to_disk``; or a hub id for ``datasets.load_dataset``
    (needs hub access; ``split`` picks the split there and for saved DatasetDicts).
    ``format``: ``auto`` (from the first row's fields, per file) | ``verinstruct`` | ``verl`` | ``ifeval`` | ``ifbench``
    | ``rlvr`` (IFEval and IFBench share one layout and one reader; the name only labels ``Record.meta["format"]``;
    ``rlvr`` is AI2's IF_multi_constraints layout with a stringified ``ground_truth`` list of checkers).

    Bad rows raise a DataError naming the file, line and field; with ``lenient=True`` they are skipped and
    listed in ``result.skipped`` instead (a source that cannot be read at all — missing file, corrupt
    parquet, malformed ``.json`` array, hub failure — raises either way). ``untagged`` decides what
    happens to VerInstruct checkers with no ``[rule]``/``[llm]`` tag and ``unknown_checkers`` to
    IFEval/IFBench ids that are not built in (``"llm"``: judged by the LLM from a description made of the
    id and kwargs); every policy applied is counted in ``result.counts``, and
    ``counts["rows"] == len(records) + len(skipped)``. ``profile="reference"`` reads checker tags exactly as
    VerIF's reward does (``untagged="verif"``). A dataset function the sandbox would refuse (a forbidden import,
    a syntax error) is kept and counted (``counts["rule_code_rejected"]``): verifying it gives that constraint
    ``passed=None`` with the reason, and the record's other constraints are still checked.

    Example:
        >>> res = load_records("../shared/data/verinstruct_format/example.jsonl")  # doctest: +SKIP
        >>> res.counts["records"], res[0].constraints[0].kind                    # doctest: +SKIP
        (5, 'rule')
    """
    _check_choice("profile", profile, ("default", "reference"))
    if profile == "reference":
        untagged = "verif"  # the original reads tags by substring and drops what it cannot place
    _check_choice("format", format, FORMATS)
    _check_choice("untagged", untagged, UNTAGGED_POLICIES)
    _check_choice("unknown_checkers", unknown_checkers, UNKNOWN_POLICIES)
    files = source_files(source)
    if files is None:
        streams = [iter_dataset_rows(str(source), split)]
    else:
        streams = [(str(f), iter_file_rows(f)) for f in files]
    return _load_streams(streams, format, lenient=lenient, untagged=untagged, unknown_checkers=unknown_checkers)


def load_sample(profile: str = "default") -> LoadResult:
    """The sample dataset embedded in the package: every ``verif_nb/data/sample/*.jsonl``, in file-name order.

    ``profile="reference"`` reads its checker tags as VerIF does (see :func:`load_records`).

    VerInstruct records with labelled candidate responses, for trying verifiers without any download.

    Example:
        >>> res = load_sample()                           # doctest: +SKIP
        >>> sum(len(r.responses) for r in res) > 0        # doctest: +SKIP
        True
    """
    files = sorted(SAMPLE_DIR.glob("*.jsonl")) if SAMPLE_DIR.is_dir() else []
    if not files:
        raise DataError(
            SAMPLE_DIR,
            None,
            None,
            "the embedded sample dataset is missing (no *.jsonl files here); "
            "reinstall verif-nb, or load your own data with load_records(path)",
        )

    # the rows name their file by its place in the package, not on this machine: the name travels into records'
    # sources and from there into reports
    def rows(f: Path) -> tuple[str, Iterable[RawRow]]:
        name = f.relative_to(SAMPLE_DIR.parents[2]).as_posix()
        return name, (dataclasses.replace(raw, path=name) for raw in iter_file_rows(f))

    return _load_streams(
        [rows(f) for f in files],
        "verinstruct",
        lenient=False,
        untagged="verif" if profile == "reference" else "error",
        unknown_checkers="error",
    )
