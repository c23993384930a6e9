"""AI2's RLVR instruction-following rows (the ``IF_multi_constraints`` training sets) into Records.

Row layout: ``key`` (or ``id``), ``messages=[{"role": "user", "content": ...}, ...]`` (or a plain
``prompt``), ``ground_truth``: a *string* holding a list of ``{"instruction_id": [...], "kwargs":
[...]}`` objects, written as JSON or as a Python literal (single quotes, ``None``), plus fields
such as ``dataset`` and ``constraint`` that are kept in ``Record.meta``. Every id becomes a
``[rule]`` constraint on a built-in checker (IFEval's or IFBench's), validated like IFEval rows.

Example:
    >>> parse_ground_truth("[{'instruction_id': ['count:numbers'], 'kwargs': [{'N': 2, 'word': None}]}]")
    [('count:numbers', {'N': 2})]
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from typing import Any

from verif_nb.data._ifeval import builtin_constraints
from verif_nb.data._io import RawRow
from verif_nb.data._verinstruct import require_id
from verif_nb.errors import DataError
from verif_nb.records import Record

FIELD = "ground_truth"


def parse_ground_truth(value: Any, where: tuple[str, int | None] = ("<ground_truth>", None)) -> list[tuple[str, dict]]:
    """``[(checker_id, kwargs), ...]`` from an RLVR ground truth (string or already-parsed list/dict).

    Null kwargs are dropped (AI2's rows pad kwargs with None). Raises DataError naming the field.

    Example:
        >>> parse_ground_truth('{"instruction_id": "punctuation:no_comma", "kwargs": null}')
        [('punctuation:no_comma', {})]
    """
    path, line = where
    text = value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            try:
                value = ast.literal_eval(value)  # literals only: no code runs
            except (ValueError, SyntaxError):
                raise DataError(path, line, FIELD, f"neither JSON nor a Python literal: {text[:80]!r}") from None
    groups = [value] if isinstance(value, dict) else value
    if not isinstance(groups, list) or not groups:
        raise DataError(path, line, FIELD, "expected a non-empty list of {instruction_id, kwargs} objects")
    out: list[tuple[str, dict]] = []
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or "instruction_id" not in group:
            raise DataError(path, line, f"{FIELD}[{g}]", "expected an object with instruction_id and kwargs")
        ids, kwargs = group["instruction_id"], group.get("kwargs")
        ids = [ids] if isinstance(ids, str) else ids
        kwargs = [kwargs] if kwargs is None or isinstance(kwargs, dict) else kwargs
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise DataError(path, line, f"{FIELD}[{g}].instruction_id", "expected a checker id or a list of them")
        if not isinstance(kwargs, list) or len(kwargs) != len(ids):
            raise DataError(
                path,
                line,
                f"{FIELD}[{g}].kwargs",
                f"expected one kwargs object (or null) per instruction id ({len(ids)})",
            )
        for i, (cid, kw) in enumerate(zip(ids, kwargs)):
            if kw is not None and not isinstance(kw, dict):
                raise DataError(path, line, f"{FIELD}[{g}].kwargs[{i}]", f"expected an object, got {type(kw).__name__}")
            out.append((cid, {k: v for k, v in (kw or {}).items() if v is not None}))
    return out


def _prompt(row: dict[str, Any], raw: RawRow) -> str:
    messages = row.get("messages")
    if messages is None:
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(raw.path, raw.line, "messages", "missing (and no 'prompt' string either)")
        return prompt
    if not isinstance(messages, list):
        raise DataError(
            raw.path, raw.line, "messages", f"expected a list of chat messages, got {type(messages).__name__}"
        )
    user = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not user or not isinstance(user[-1], str) or not user[-1].strip():
        raise DataError(raw.path, raw.line, "messages", "no user message with text content")
    return user[-1]


def parse_rlvr(raw: RawRow, *, unknown_checkers: str, fmt: str = "rlvr", **_: Any) -> tuple[Record, Counter]:
    """One RLVR row as a Record (the last user message is the prompt) and the counts it adds.

    Example:
        >>> truth = "[{'instruction_id': ['format:no_whitespace'], 'kwargs': [None]}]"
        >>> raw = RawRow("f.jsonl", 1, {"key": "k", "messages": [{"role": "user", "content": "Hi"}],
        ...                             "ground_truth": truth})
        >>> record, _ = parse_rlvr(raw, unknown_checkers="error")
        >>> (record.prompt, record.constraints[0].checker_id)
        ('Hi', 'format:no_whitespace')
    """
    row = raw.row
    rid = require_id(row, "key" if "key" in row else "id", raw)
    prompt = _prompt(row, raw)
    if row.get(FIELD) is None:
        raise DataError(raw.path, raw.line, FIELD, "missing")
    pairs = parse_ground_truth(row[FIELD], (raw.path, raw.line))
    constraints, counts = builtin_constraints(
        pairs,
        raw,
        unknown_checkers=unknown_checkers,
        field=FIELD,
        id_field=FIELD + ": instruction_id[{i}]",
        kwargs_field=FIELD + ": kwargs[{i}]",
    )
    meta = {"format": fmt, **{k: row[k] for k in ("key", "dataset", "constraint_type", "constraint") if k in row}}
    return Record(id=rid, prompt=prompt, constraints=constraints, source=f"{raw.path}:{raw.line}", meta=meta), counts
