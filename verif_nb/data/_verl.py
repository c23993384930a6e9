"""verl parquet rows, as VerIF's preprocessing writes them, to and from Records.

Row layout: ``data_source``, ``prompt=[{"role": "user", "content": ...}]``, ``ability="if"``,
``reward_model={"style": "rule", "ground_truth": json.dumps({"checkers", "functions"})}``,
``extra_info={"split", "index"}``. :func:`export_verl` adds ``extra_info["id"]`` (the record id),
``extra_info["prompt"]`` (verl passes extra_info, not the prompt, to reward functions) and, only
for records with built-in checkers (IFEval ids), a ``"builtin"`` list aligned with ``checkers`` in the
ground truth; both are ignored by code that does not know them.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from verif_nb.data._ifeval import builtin_constraint
from verif_nb.data._io import RawRow
from verif_nb.data._result import RowDropped
from verif_nb.data._verinstruct import build_constraints, extract_llm_description, split_tag
from verif_nb.errors import DataError
from verif_nb.files import atomic_path
from verif_nb.records import Constraint, Record

logger = logging.getLogger(__name__)

GT = "reward_model.ground_truth"


def _user_prompt(value: Any, raw: RawRow) -> tuple[str, list[dict[str, Any]]]:
    if value is None:
        raise DataError(raw.path, raw.line, "prompt", "missing")
    if not isinstance(value, list) or not value:
        raise DataError(
            raw.path,
            raw.line,
            "prompt",
            f"expected a non-empty list of chat messages [{{'role': 'user', 'content': ...}}], "
            f"got {type(value).__name__ if not isinstance(value, list) else 'an empty list'}",
        )
    user = None
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise DataError(raw.path, raw.line, f"prompt[{i}]", f"expected a message object, got {type(msg).__name__}")
        if not isinstance(msg.get("content"), str):
            raise DataError(raw.path, raw.line, f"prompt[{i}].content", "missing or not a string")
        if msg.get("role") == "user":
            user = msg["content"]
    if user is None:
        raise DataError(raw.path, raw.line, "prompt", "no message with role 'user'")
    return user, value


def parse_verl(raw: RawRow, *, untagged: str, unknown_checkers: str, **_: Any) -> tuple[Record, Counter]:
    """One verl row as a Record (the last user message is the prompt) and the counts it adds."""
    row = raw.row
    data_source = row.get("data_source")
    if not isinstance(data_source, str) or not data_source:
        raise DataError(
            raw.path,
            raw.line,
            "data_source",
            "missing" if data_source is None else f"expected a non-empty string, got {data_source!r}",
        )
    prompt, messages = _user_prompt(row.get("prompt"), raw)
    if not prompt.strip() and untagged != "verif":  # VerIF scores it
        raise DataError(raw.path, raw.line, "prompt", "the user message is empty")
    reward_model = row.get("reward_model")
    if not isinstance(reward_model, dict):
        raise DataError(
            raw.path,
            raw.line,
            "reward_model",
            "missing" if reward_model is None else f"expected an object, got {type(reward_model).__name__}",
        )
    gt = reward_model.get("ground_truth")
    if isinstance(gt, str):
        try:
            gt = json.loads(gt)
        except json.JSONDecodeError as err:
            raise DataError(
                raw.path,
                raw.line,
                GT,
                f"malformed JSON ({err.msg}); expected json.dumps({{'checkers': [...], 'functions': [...]}})",
            ) from None
    if not isinstance(gt, dict):
        raise DataError(
            raw.path,
            raw.line,
            GT,
            "missing" if gt is None else f"expected a JSON object with checkers and functions, got {type(gt).__name__}",
        )
    checkers = _str_list(gt, "checkers", raw)
    functions = _str_list(gt, "functions", raw, allow_empty_items=True)
    builtin = gt.get("builtin")
    if builtin is not None and (not isinstance(builtin, list) or len(builtin) != len(checkers)):
        raise DataError(raw.path, raw.line, f"{GT}.builtin", "expected a list aligned with checkers")

    def from_builtin(bare: str, tag: str, spec: Any, code: str, i: int, counts: Counter) -> Constraint | None:
        field = f"{GT}.builtin[{i}]"
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("checker_id"), str)
            or not isinstance(spec.get("kwargs") or {}, dict)
        ):
            raise DataError(raw.path, raw.line, field, "expected {'checker_id': str, 'kwargs': {...}}")
        cid, kwargs = spec["checker_id"], dict(spec.get("kwargs") or {})
        if tag == "llm":
            return Constraint(
                name=bare,
                kind="llm",
                code=code or None,
                checker_id=cid,
                kwargs=kwargs,
                description=extract_llm_description(code) if code else None,
            )
        return builtin_constraint(
            cid,
            kwargs,
            raw,
            unknown_checkers=unknown_checkers,
            id_field=field,
            kwargs_field=field,
            counts=counts,
            name=bare,
        )

    constraints, kept, counts = build_constraints(
        checkers, functions, raw, untagged=untagged, prefix=f"{GT}.", builtin=builtin, builtin_check=from_builtin
    )
    if not constraints and untagged != "verif":  # VerIF still scores such a row: rules 1 x the judge's answer
        raise RowDropped(raw.path, raw.line, f"{GT}.checkers", "a 'drop' policy removed every checker")
    extra = row.get("extra_info")
    if extra is not None and not isinstance(extra, dict):
        raise DataError(raw.path, raw.line, "extra_info", f"expected an object, got {type(extra).__name__}")
    extra = extra or {}
    split, index = extra.get("split"), extra.get("index")
    rid = extra.get("id")
    if rid is None:
        # VerIF's rows carry no record id; split and index identify a row within a data source.
        rid = f"{data_source}-{split if split is not None else 'train'}-{index if index is not None else raw.line - 1}"
    elif isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == "":
        raise DataError(raw.path, raw.line, "extra_info.id", f"expected a non-empty string, got {rid!r}")
    meta: dict[str, Any] = {"format": "verl", "data_source": data_source, "split": split, "index": index}
    if len(messages) > 1:
        meta["messages"] = messages
    return Record(
        id=str(rid), prompt=prompt, constraints=constraints, source=f"{raw.path}:{raw.line}", meta=meta
    ), counts


def parse_verl_row(
    row: dict[str, Any],
    *,
    path: str = "<verl>",
    line: int = 1,
    untagged: str = "error",
    unknown_checkers: str = "error",
) -> Record:
    """One verl parquet row (as VerIF's preprocessing or :func:`export_verl` writes it) as a Record.

    Example:
        >>> gt = json.dumps({"checkers": ["[rule] Length"],
        ...                  "functions": ["def check_following(instruction, response):\\n    return True"]})
        >>> parse_verl_row({"data_source": "d", "prompt": [{"role": "user", "content": "Hi"}],
        ...                 "reward_model": {"style": "rule", "ground_truth": gt}}).prompt
        'Hi'
    """
    record, _ = parse_verl(RawRow(path=path, line=line, row=row), untagged=untagged, unknown_checkers=unknown_checkers)
    return record


def _str_list(gt: dict[str, Any], name: str, raw: RawRow, allow_empty_items: bool = False) -> list[str]:
    value = gt.get(name)
    if not isinstance(value, list):
        raise DataError(
            raw.path,
            raw.line,
            f"{GT}.{name}",
            "missing" if value is None else f"expected a list of strings, got {type(value).__name__}",
        )
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise DataError(raw.path, raw.line, f"{GT}.{name}[{i}]", f"expected a string, got {type(item).__name__}")
    return value


def _llm_code(description: str) -> str:
    # The VerInstruct shape for a soft constraint, so VerIF's reward code and our reader both understand it.
    return (
        "from llm_call import llm_judge\n"
        "def check_following(instruction, response):\n"
        f"    return llm_judge(instruction, response, {description!r})\n"
    )


def to_verl_row(record: Record, index: int, data_source: str, split: str) -> dict[str, Any]:
    """One Record as a verl row (see the module docstring for the layout)."""
    checkers: list[str] = []
    functions: list[str] = []
    builtin: list[dict[str, Any] | None] = []
    for c in record.constraints:
        tag, _ = split_tag(c.name)
        checkers.append(c.name if tag == c.kind else f"[{c.kind}] {c.name}")
        if c.code is not None:
            functions.append(c.code)
        elif c.kind == "llm":
            functions.append(_llm_code(c.description or c.name))
        elif c.checker_id:
            functions.append("")
        else:
            raise DataError(
                record.source,
                None,
                "constraints",
                f"record {record.id!r}: rule constraint {c.name!r} has neither code nor checker_id; "
                "nothing a verl reward could run",
            )
        builtin.append({"checker_id": c.checker_id, "kwargs": c.kwargs or {}} if c.checker_id else None)
    gt: dict[str, Any] = {"checkers": checkers, "functions": functions}
    if any(b is not None for b in builtin):
        gt["builtin"] = builtin
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": record.prompt}],
        "ability": "if",
        "reward_model": {"style": "rule", "ground_truth": json.dumps(gt, ensure_ascii=False)},
        # verl hands reward functions extra_info but not the prompt; the judge needs the prompt.
        "extra_info": {"split": split, "index": index, "id": record.id, "prompt": record.prompt},
    }


def export_verl(
    records: Iterable[Record], path: str | os.PathLike, data_source: str = "verif_nb", split: str = "train"
) -> Path:
    """Write records as the verl parquet rows VerIF trains on; returns the path written (atomically).

    Records with built-in checkers (IFEval ids) carry a ``builtin`` list in the ground truth that only
    verif-nb's reward understands; VerIF's reference reward sees an empty function there (a warning says so).

    Example:
        >>> import tempfile, pathlib
        >>> from verif_nb.records import Constraint
        >>> r = Record("a", "Say hi.", [Constraint("[llm] Tone", "llm", description="Be warm.")])
        >>> out = export_verl([r], pathlib.Path(tempfile.mkdtemp()) / "train.parquet")
        >>> import pyarrow.parquet as pq; pq.read_table(out).num_rows
        1
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [to_verl_row(r, i, data_source, split) for i, r in enumerate(records)]
    if not rows:
        raise DataError(path, None, None, "no records to export; load some first (check LoadResult.skipped)")
    n_builtin = sum(
        1
        for row in rows
        for b in json.loads(row["reward_model"]["ground_truth"]).get("builtin") or []
        if b is not None and b.get("checker_id")
    )
    if n_builtin:
        logger.warning(
            "%d constraints are built-in checkers (IFEval ids): VerIF's reference reward cannot run them; "
            "train with verif-nb's reward",
            n_builtin,
        )
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    logger.info("wrote %d verl rows to %s", len(rows), path)
    return path
