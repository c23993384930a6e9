"""Every built-in rule checker by id: IFEval's 25 and IFBench's 58, one table for records.

Records name a built-in by its id (``[rule]`` constraints with ``checker_id``); the data layer
validates ids and kwargs through :func:`get_checker` and :data:`CHECKER_IDS`, the verifier checks
through :func:`check_constraint`. IFEval ids keep IFEval's rules (kwargs that are falsy dropped,
``prompt`` filling ``combination:repeat_prompt``); IFBench ids drop only null kwargs. The IFBench
checkers' optional packages load when one is first used.

Example:
    >>> len(CHECKER_IDS)
    83
    >>> check_constraint("count:numbers", {"N": 1}, "Call me at 5.").passed
    True
"""

from __future__ import annotations

from typing import Any

from verif_nb.ifbench._checkers import IFBENCH_CHECKER_IDS, IFBENCH_REGISTRY
from verif_nb.ifbench._checkers import get_checker as get_ifbench_checker
from verif_nb.ifbench._scoring import get_any_checker
from verif_nb.ifbench._text import MissingDependencyError
from verif_nb.ifeval import CHECKER_IDS as IFEVAL_IDS
from verif_nb.ifeval import check_constraint as check_ifeval
from verif_nb.ifeval._scoring import _check_loose
from verif_nb.records import Verdict

CHECKER_IDS: list[str] = sorted(set(IFEVAL_IDS) | set(IFBENCH_CHECKER_IDS))


def get_checker(checker_id: str, kwargs: dict[str, Any] | None = None):
    """The IFEval or IFBench checker ``checker_id`` built from validated kwargs (CheckerError otherwise).

    Example:
        >>> get_checker("words:repeats", {"small_n": 2}).small_n
        2
    """
    return get_any_checker(checker_id, kwargs)


def check_constraint(
    checker_id: str, kwargs: dict[str, Any] | None, response: str, prompt: str | None = None, loose: bool = False
) -> Verdict:
    """Check one built-in constraint; a checker whose optional package is missing gives passed=None.

    Example:
        >>> check_constraint("punctuation:no_comma", {}, "a, b").reason
        'contains 1 comma'
    """
    if checker_id not in IFBENCH_REGISTRY:
        return check_ifeval(checker_id, kwargs, response, prompt=prompt, loose=loose)
    checker = get_ifbench_checker(checker_id, kwargs)
    try:
        return _check_loose(checker, response) if loose else checker.check(response)
    except MissingDependencyError as err:
        return Verdict(name=checker_id, kind="rule", passed=None, error=str(err))


def describe(checker_id: str, kwargs: dict[str, Any] | None, prompt: str | None = None) -> str:
    """Any built-in checker's constraint in words (IFEval's or IFBench's); CheckerError for unknown ids or bad kwargs.

    Example:
        >>> describe("format:no_whitespace", {})
        'The output should not contain any whitespace.'
        >>> describe("punctuation:no_comma", {})
        'The response must not contain any commas.'
    """
    if checker_id not in IFBENCH_REGISTRY:
        from verif_nb.ifeval import describe_checker

        return describe_checker(checker_id, kwargs, prompt)
    return get_ifbench_checker(checker_id, kwargs).describe()
