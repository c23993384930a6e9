"""Built-in checkers by id: build one, describe it, check a response with it (strict or loose).

Every built-in, IFEval's or IFBench's, is found in the one :data:`~verif_nb.checkers._base.REGISTRY`; its family
decides how its kwargs are read. An IFBench checker whose optional package is missing gives ``passed=None``.

Example:
    >>> check_constraint("count:numbers", {"N": 1}, "Call me at 5.").passed
    True
    >>> check_constraint("startend:quotation", None, 'Sure:\\n"hi"', loose=True).reason
    'loose: with first line removed, wrapped in double quotation marks'
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from verif_nb.checkers._base import REGISTRY, Checker, from_kwargs
from verif_nb.checkers.text import MissingDependencyError
from verif_nb.errors import CheckerError
from verif_nb.records import Verdict

# Why each loose variant exists: models wrap answers in a preamble line ("Sure, here is ..."), a
# closing line, or markdown bold; the loose score forgives those. Order is the reference's.
LOOSE_VARIANT_NAMES: tuple[str, ...] = (
    "as written",
    "asterisks removed",
    "first line removed",
    "last line removed",
    "first and last lines removed",
    "first line and asterisks removed",
    "last line and asterisks removed",
    "first and last lines and asterisks removed",
)


def get_checker(checker_id: str, kwargs: dict[str, Any] | None = None) -> Checker:
    """Build the checker ``checker_id`` from its kwargs, validated.

    As in each reference, kwargs that do not count as given are dropped first: IFEval's drop every falsy
    value (``None``, ``0``, ``""``, ``[]``), IFBench's only ``None`` (their rows carry every kwarg name). Raises
    :class:`~verif_nb.errors.CheckerError` for an unknown id, a kwarg the checker does not take, a value of the
    wrong type or range, or a missing kwarg (where the reference would silently draw a random value).

    Example:
        >>> get_checker("detectable_format:title", {"num_words": None}).id
        'detectable_format:title'
        >>> get_checker("count:numbers", {"N": 3, "keyword": None}).N
        3
        >>> get_checker("no:such")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.CheckerError: unknown checker id 'no:such'; known ids are listed in ...
    """
    cls = REGISTRY.get(checker_id)
    if cls is None:
        raise CheckerError(f"unknown checker id {checker_id!r}; known ids are listed in verif_nb.checkers.CHECKER_IDS")
    return from_kwargs(cls, kwargs)


def build_checker(checker_id: str, kwargs: dict[str, Any] | None, prompt: str | None = None) -> Checker:
    """:func:`get_checker`, with ``prompt`` as ``prompt_to_repeat`` of ``combination:repeat_prompt`` when absent.

    The reference takes that text from the kwargs; records converted from other formats may lack it.

    Example:
        >>> build_checker("combination:repeat_prompt", None, prompt="Say hi.").prompt_to_repeat
        'Say hi.'
    """
    if checker_id == "combination:repeat_prompt" and prompt is not None and not (kwargs or {}).get("prompt_to_repeat"):
        kwargs = {**(kwargs or {}), "prompt_to_repeat": prompt}
    return get_checker(checker_id, kwargs)


def describe(checker_id: str, kwargs: dict[str, Any] | None = None, prompt: str | None = None) -> str:
    """The constraint ``checker_id`` with ``kwargs`` in one sentence, as a judge is shown it.

    ``prompt`` fills a missing ``prompt_to_repeat`` (see :func:`build_checker`). Raises CheckerError
    where :func:`get_checker` does.

    Example:
        >>> describe("length_constraints:number_words", {"relation": "at least", "num_words": 300})
        'The response must contain at least 300 words.'
        >>> describe("count:numbers", {"N": 4})
        'Include exactly 4 numbers in the response.'
    """
    return build_checker(checker_id, kwargs, prompt).describe()


def accepted_kwargs(checker_id: str) -> dict[str, str]:
    """Kwarg names the checker takes, with their type as a word.

    Example:
        >>> accepted_kwargs("keywords:existence")
        {'keywords': 'list of strings'}
    """
    cls = REGISTRY.get(checker_id)
    if cls is None:
        raise CheckerError(f"unknown checker id {checker_id!r}")
    words = {int: "integer", str: "string"}
    hints = typing.get_type_hints(cls)
    return {f.name: words.get(hints[f.name], "list of strings") for f in dataclasses.fields(cls)}


def loose_variants(response: str) -> list[str]:
    """The eight texts loose scoring tries, in the reference's order (see LOOSE_VARIANT_NAMES).

    Example:
        >>> loose_variants("Sure!\\n**Answer**\\nBye")[1]
        'Sure!\\nAnswer\\nBye'
    """
    lines = response.split("\n")
    no_first = "\n".join(lines[1:]).strip()
    no_last = "\n".join(lines[:-1]).strip()
    no_both = "\n".join(lines[1:-1]).strip()
    return [
        response,
        response.replace("*", ""),
        no_first,
        no_last,
        no_both,
        no_first.replace("*", ""),
        no_last.replace("*", ""),
        no_both.replace("*", ""),
    ]


def check_loose(
    checker: Checker, response: str, variants: list[str] | None = None, strict: Verdict | None = None
) -> Verdict:
    """The loose verdict: strict, else the first loose variant that passes (``variants``/``strict`` if known).

    Example:
        >>> check_loose(get_checker("startend:quotation"), 'Sure:\\n"hi"').passed
        True
    """
    strict = strict or checker.check(response)
    if strict.passed:
        return strict
    for name, text in zip(LOOSE_VARIANT_NAMES[1:], (variants or loose_variants(response))[1:]):
        if text.strip():
            followed, reason = checker.evaluate(text)
            if followed:
                return Verdict(name=checker.id, kind="rule", passed=True, reason=f"loose: with {name}, {reason}")
    return Verdict(name=checker.id, kind="rule", passed=False, reason=f"{strict.reason} (and no loose variant passes)")


def check_constraint(
    checker_id: str, kwargs: dict[str, Any] | None, response: str, prompt: str | None = None, loose: bool = False
) -> Verdict:
    """Check one built-in constraint on one response (strict, or loose as the references define it).

    ``prompt`` fills ``prompt_to_repeat`` for ``combination:repeat_prompt`` when the kwargs lack it. Raises
    CheckerError for an unknown id or bad kwargs; a checker whose optional package is missing gives passed=None.

    Example:
        >>> check_constraint("punctuation:no_comma", {}, "a, b").reason
        'contains 1 comma'
    """
    checker = build_checker(checker_id, kwargs, prompt)
    try:
        return check_loose(checker, response) if loose else checker.check(response)
    except MissingDependencyError as err:
        return Verdict(name=checker_id, kind="rule", passed=None, error=str(err))
