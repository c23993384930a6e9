"""IFEval / IFBench rows (key, prompt, instruction_id_list, kwargs) into Records of built-in checkers.

Each id and its kwargs are validated through ``verif_nb.checkers.get_checker`` (IFEval's and
IFBench's checkers).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from verif_nb.checkers import CHECKER_IDS, get_checker
from verif_nb.data._io import RawRow
from verif_nb.data._result import RowDropped
from verif_nb.data._verinstruct import require_id, require_str, require_str_list
from verif_nb.errors import CheckerError, DataError
from verif_nb.records import Constraint, Record

logger = logging.getLogger(__name__)

UNKNOWN_POLICIES: tuple[str, ...] = ("error", "llm", "drop")


def check_builtin(checker_id: str, kwargs: dict[str, Any]) -> tuple[str, str | None]:
    """``("ok" | "unknown" | "bad_kwargs", message)`` for a built-in checker id and its kwargs.

    Example:
        >>> check_builtin("no_such:checker", {})
        ('unknown', None)
        >>> check_builtin("punctuation:no_comma", {"num_words": 3})[0]
        'bad_kwargs'
    """
    if checker_id not in CHECKER_IDS:
        return "unknown", None
    try:
        get_checker(checker_id, kwargs)
    except CheckerError as err:
        return "bad_kwargs", str(err)
    return "ok", None


def llm_description(checker_id: str, kwargs: dict[str, Any]) -> str:
    """The judge's question for a checker that is not built in, made from its id and kwargs.

    Example:
        >>> llm_description("count:conjunctions", {"small_n": 3})
        "The response follows the instruction's 'count:conjunctions' constraint (small_n=3)."
    """
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in kwargs.items())
    return f"The response follows the instruction's {checker_id!r} constraint" + (f" ({args})" if args else "") + "."


def builtin_constraint(
    checker_id: str,
    kwargs: dict[str, Any],
    raw: RawRow,
    *,
    unknown_checkers: str,
    id_field: str,
    kwargs_field: str,
    counts: Counter,
    name: str | None = None,
) -> Constraint | None:
    """A rule constraint for a built-in checker, or what the unknown-checker policy makes of it (None = dropped)."""
    status, message = check_builtin(checker_id, kwargs)
    if status == "bad_kwargs":
        prefix = "" if message.startswith(checker_id) else f"{checker_id}: "
        raise DataError(raw.path, raw.line, kwargs_field, f"{prefix}{message}")
    elif status == "unknown":
        counts["unknown_checkers"] += 1
        if unknown_checkers == "error":
            raise DataError(
                raw.path,
                raw.line,
                id_field,
                f"unknown checker id {checker_id!r}; it is not built in (neither IFEval's nor IFBench's): pass "
                "unknown_checkers='llm' to judge it with the LLM, or 'drop' to leave it out",
            )
        if unknown_checkers == "drop":
            counts["unknown_dropped"] += 1
            return None
        counts["unknown_to_llm"] += 1
        # checker_id/kwargs are kept so per-group reports still see the id; kind="llm" decides how it is checked.
        return Constraint(
            name=name or checker_id,
            kind="llm",
            checker_id=checker_id,
            kwargs=kwargs,
            description=llm_description(checker_id, kwargs),
        )
    return Constraint(name=name or checker_id, kind="rule", checker_id=checker_id, kwargs=kwargs)


def builtin_constraints(
    pairs: list[tuple[str, dict[str, Any]]],
    raw: RawRow,
    *,
    unknown_checkers: str,
    field: str,
    id_field: str,
    kwargs_field: str,
) -> tuple[list[Constraint], Counter]:
    """:func:`builtin_constraint` for every (checker id, kwargs) pair of a row, and the counts it kept.

    ``id_field``/``kwargs_field`` name the i-th entry's place in the row (``{i}`` is filled in); a row whose
    every constraint the unknown-checker policy dropped is dropped itself (RowDropped, naming ``field``).
    """
    counts: Counter = Counter()
    constraints: list[Constraint] = []
    for i, (checker_id, kwargs) in enumerate(pairs):
        constraint = builtin_constraint(
            checker_id,
            kwargs,
            raw,
            unknown_checkers=unknown_checkers,
            id_field=id_field.format(i=i),
            kwargs_field=kwargs_field.format(i=i),
            counts=counts,
        )
        if constraint is not None:
            constraints.append(constraint)
    if not constraints:
        raise RowDropped(
            raw.path,
            raw.line,
            field,
            f"all {len(pairs)} checker ids are not built in and unknown_checkers='drop' removed them",
        )
    return constraints, counts


def parse_ifeval(raw: RawRow, *, unknown_checkers: str, fmt: str = "ifeval", **_: Any) -> tuple[Record, Counter]:
    """One IFEval/IFBench row as a Record and the counts it adds."""
    row = raw.row
    rid = require_id(row, "key", raw)
    prompt = require_str(row, "prompt", raw)
    ids = require_str_list(row, "instruction_id_list", raw)
    kwargs_list = row.get("kwargs")
    if kwargs_list is None:
        raise DataError(raw.path, raw.line, "kwargs", "missing; one object per instruction id ({} for none)")
    if not isinstance(kwargs_list, list):
        raise DataError(raw.path, raw.line, "kwargs", f"expected a list of objects, got {type(kwargs_list).__name__}")
    if len(kwargs_list) != len(ids):
        raise DataError(
            raw.path,
            raw.line,
            "kwargs",
            f"has {len(kwargs_list)} entries but instruction_id_list has {len(ids)}; they must be aligned",
        )
    if not ids:
        raise DataError(raw.path, raw.line, "instruction_id_list", "empty; a record needs at least one constraint")
    pairs = []
    for i, (cid, kw) in enumerate(zip(ids, kwargs_list)):
        if kw is None:
            kw = {}
        if not isinstance(kw, dict):
            raise DataError(raw.path, raw.line, f"kwargs[{i}]", f"expected an object, got {type(kw).__name__}")
        # Hub copies (IFBench) store every possible kwarg with null for "not given"; null never is a real value.
        pairs.append((cid, {k: v for k, v in kw.items() if v is not None}))
    constraints, counts = builtin_constraints(
        pairs,
        raw,
        unknown_checkers=unknown_checkers,
        field="instruction_id_list",
        id_field="instruction_id_list[{i}]",
        kwargs_field="kwargs[{i}]",
    )
    return Record(
        id=rid,
        prompt=prompt,
        constraints=constraints,
        source=f"{raw.path}:{raw.line}",
        meta={"format": fmt, "key": row["key"]},
    ), counts
