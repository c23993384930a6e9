"""Tables for the dataset-inspection notebook: one row per record, per constraint, per rule function.

Example:
    >>> from verif_nb.records import Constraint, Record, LabelledResponse
    >>> code = "def check_following(i, r): return True"
    >>> rec = Record("r1", "Write two words.", [Constraint("[rule] Length", "rule", code=code),
    ...                                         Constraint("[llm] Tone", "llm", description="Be warm.")],
    ...              responses=[LabelledResponse("Hello there", [True, True])])
    >>> record_table([rec])[["id", "n_rule", "n_llm", "prompt_words"]].values.tolist()
    [['r1', 1, 1, 3]]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from verif_nb.evaluation import taxonomy_group
from verif_nb.records import Record

log = logging.getLogger(__name__)


def _words(text: str) -> int:
    return len(text.split())


def record_table(records: Iterable[Record]) -> pd.DataFrame:
    """One row per record: constraint counts (rule/llm), prompt length, labelled responses.

    Columns: ``id, n_constraints, n_rule, n_llm, prompt_chars, prompt_words, n_responses, source``.

    Example:
        >>> record_table([]).empty
        True
    """
    rows = [
        {
            "id": r.id,
            "n_constraints": len(r.constraints),
            "n_rule": len(r.rule_constraints),
            "n_llm": len(r.llm_constraints),
            "prompt_chars": len(r.prompt),
            "prompt_words": _words(r.prompt),
            "n_responses": len(r.responses),
            "source": r.source,
        }
        for r in records
    ]
    return pd.DataFrame(
        rows,
        columns=["id", "n_constraints", "n_rule", "n_llm", "prompt_chars", "prompt_words", "n_responses", "source"],
    )


def constraint_table(records: Iterable[Record]) -> pd.DataFrame:
    """One row per constraint: record, name, kind (rule = hard, llm = soft), group, taxonomy, how checked.

    ``checked_by`` is ``builtin`` (a verif-nb checker id), ``dataset_code`` (sandboxed
    ``check_following``) or ``judge``.

    Example:
        >>> from verif_nb.records import Constraint
        >>> t = constraint_table([Record("r", "p", [Constraint("punctuation:no_comma", "rule",
        ...                                                    checker_id="punctuation:no_comma")])])
        >>> t[["group", "checked_by"]].values.tolist()
        [['punctuation', 'builtin']]
    """
    rows = []
    for r in records:
        for i, c in enumerate(r.constraints):
            checked_by = "judge" if c.kind == "llm" else ("builtin" if c.checker_id else "dataset_code")
            rows.append(
                {
                    "record_id": r.id,
                    "index": i,
                    "name": c.name,
                    "kind": c.kind,
                    "group": c.group,
                    "taxonomy": taxonomy_group(c.group),
                    "checked_by": checked_by,
                    "description": c.description or "",
                }
            )
    return pd.DataFrame(
        rows, columns=["record_id", "index", "name", "kind", "group", "taxonomy", "checked_by", "description"]
    )


def response_table(records: Iterable[Record]) -> pd.DataFrame:
    """One row per labelled candidate response: length and gold score (fraction of constraints met).

    Example:
        >>> from verif_nb.records import Constraint, LabelledResponse
        >>> rec = Record("r", "p", [Constraint("c", "llm", description="d")], [LabelledResponse("a b", [False])])
        >>> t = response_table([rec])
        >>> (int(t.response_words[0]), float(t.gold_score[0]))
        (2, 0.0)
    """
    rows = [
        {
            "record_id": r.id,
            "response": i,
            "response_chars": len(resp.text),
            "response_words": _words(resp.text),
            "gold_score": resp.gold_score,
            "gold_all": None if not resp.labels else all(x for x in resp.labels if x is not None),
        }
        for r in records
        for i, resp in enumerate(r.responses)
    ]
    return pd.DataFrame(
        rows, columns=["record_id", "response", "response_chars", "response_words", "gold_score", "gold_all"]
    )


def rule_health(records: Sequence[Record], pool: Any = None, *, instruction_arg: str = "literal") -> pd.DataFrame:
    """Health of every dataset-supplied rule function: does it pass the sandbox's static screen
    (compiles, defines ``check_following``, imports only what is allowed), and how do its checks on the
    record's labelled responses go in the sandbox (errors, passes, time per check).

    Nothing runs in this process: :func:`verif_nb.sandbox.validate_code` only parses, and the checks
    run in ``pool`` (a :class:`verif_nb.sandbox.SandboxPool`, made here when None) as one batch.
    One row per (record, rule constraint with code): ``record_id, name, group, problem, checks, errors,
    passed, ms_per_check, first_error``; ``ms_per_check`` is the mean time inside the worker
    (compilation included on first use).

    Example:
        >>> rule_health([]).empty
        True
    """
    columns = ["record_id", "name", "group", "problem", "checks", "errors", "passed", "ms_per_check", "first_error"]
    targets = [(r, c) for r in records for c in r.rule_constraints if c.code]
    if not targets:
        return pd.DataFrame([], columns=columns)
    from verif_nb.sandbox import CheckTask, SandboxPool, validate_code

    rows, tasks, owners = [], [], []
    for i, (record, c) in enumerate(targets):
        problem = validate_code(c.code)
        rows.append(
            {
                "record_id": record.id,
                "name": c.name,
                "group": c.group,
                "problem": problem,
                "checks": 0,
                "errors": 0,
                "passed": 0,
                "ms_per_check": float("nan"),
                "first_error": None,
            }
        )
        if problem is None:
            instruction = "instruction" if instruction_arg == "literal" else record.prompt
            for resp in record.responses:
                tasks.append(CheckTask(code=c.code, instruction=instruction, response=resp.text))
                owners.append(i)
    if tasks:
        own_pool = pool is None
        pool = pool or SandboxPool()
        try:
            start = time.perf_counter()
            results = pool.check_batch(tasks)
            log.info("%d sandboxed checks in %.2f s", len(tasks), time.perf_counter() - start)
        finally:
            if own_pool:
                pool.close()
        seconds: dict[int, list[float]] = {}
        for i, res in zip(owners, results):
            row = rows[i]
            row["checks"] += 1
            seconds.setdefault(i, []).append(res.seconds)
            if res.passed is None:
                row["errors"] += 1
                row["first_error"] = row["first_error"] or res.error
            elif res.passed:
                row["passed"] += 1
        for i, values in seconds.items():
            rows[i]["ms_per_check"] = 1000 * sum(values) / len(values)
    return pd.DataFrame(rows, columns=columns)


def load_data(
    data: str = "sample",
    data_format: str = "auto",
    *,
    lenient: bool = True,
    untagged: str = "error",
    unknown_checkers: str = "error",
    profile: str = "default",
):
    """Load the notebooks' ``data`` parameter: ``"sample"`` (the embedded dataset) or a path / dataset id.

    Relative paths are tried from the working folder and its parents (see
    :func:`verif_nb.pipeline.project_path`), so the same value works in JupyterLab and in a run.

    Example:
        >>> load_data("sample").counts["records"] > 0  # doctest: +SKIP
        True
    """
    from verif_nb.data import load_records, load_sample
    from verif_nb.files import project_path

    if data == "sample":
        return load_sample(profile)
    path = project_path(data)
    return load_records(
        path if path.exists() else data,
        format=data_format,
        lenient=lenient,
        untagged=untagged,
        unknown_checkers=unknown_checkers,
        profile=profile,
    )
