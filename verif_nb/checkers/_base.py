"""The checker base class and the one registry of built-in checkers, IFEval's and IFBench's alike.

A checker is a small frozen dataclass registered under a namespaced id (``punctuation:no_comma``): its fields
are its typed kwargs, ``evaluate(response)`` is a pure function returning ``(followed, reason)``, ``check``
wraps that in a :class:`~verif_nb.records.Verdict`, and ``describe()`` says the constraint in words for a judge.
Each class belongs to one benchmark family, which decides how kwargs are read (:data:`KWARG_RULES`).

Example:
    >>> from verif_nb.checkers import get_checker
    >>> type(get_checker("punctuation:no_comma")).family
    'ifeval'
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from verif_nb.checkers.text import RELATIONS
from verif_nb.errors import CheckerError
from verif_nb.records import Verdict

Family = Literal["ifeval", "ifbench"]

REGISTRY: dict[str, type[Checker]] = {}

# Which kwargs count as given: IFEval's reference drops every falsy value (rows padded with None, 0 or "");
# IFBench's test file pads every row with all kwarg names set to null and its reference drops only the nulls.
KWARG_RULES: dict[str, Callable[[Any], bool]] = {"ifeval": bool, "ifbench": lambda value: value is not None}


def register(checker_id: str, family: Family):
    """Class decorator: put a checker class in :data:`REGISTRY` under ``checker_id``.

    Example:
        >>> "punctuation:no_comma" in REGISTRY and "count:numbers" in REGISTRY
        True
    """

    def wrap(cls: type[Checker]) -> type[Checker]:
        if checker_id in REGISTRY:
            raise CheckerError(f"checker id {checker_id!r} is registered twice")
        cls.id = checker_id
        cls.family = family
        REGISTRY[checker_id] = cls
        return cls

    return wrap


@dataclass(frozen=True)
class Checker:
    """Base of all checkers: typed kwargs as dataclass fields, a pure ``evaluate``.

    Build checkers with :func:`~verif_nb.checkers.get_checker`, which validates kwargs the way the
    reference reads them.

    Example:
        >>> from verif_nb.checkers import get_checker
        >>> get_checker("punctuation:no_comma").check("No commas here.").passed
        True
    """

    id: ClassVar[str] = ""
    family: ClassVar[str] = ""
    description: ClassVar[str] = ""  # a str.format template over the kwargs (literal braces doubled)

    def evaluate(self, response: str) -> tuple[bool, str]:
        """``(followed, reason)`` for a non-empty response; pure, no side effects."""
        raise NotImplementedError

    def describe(self) -> str:
        """The constraint in one sentence, as a judge is asked about it (IFEval's ``build_description``).

        Example:
            >>> from verif_nb.checkers import get_checker
            >>> get_checker("language:response_language", {"language": "he"}).describe()
            'The entire response must be written in Hebrew, and no other language.'
            >>> get_checker("sentence:keyword", {"word": "moon", "N": 2}).describe()
            'The response must include keyword "moon" in the 2-th sentence.'
        """
        return self.description.format(**self.kwargs)

    def check(self, response: str) -> Verdict:
        """Verdict on ``response`` (strict: exactly the text given).

        As in the reference, a response that is empty or only whitespace follows nothing.

        Example:
            >>> from verif_nb.checkers import get_checker
            >>> get_checker("startend:quotation").check('"quoted"').reason
            'wrapped in double quotation marks'
        """
        if not response.strip():
            return Verdict(name=self.id, kind="rule", passed=False, reason="the response is empty")
        followed, reason = self.evaluate(response)
        return Verdict(name=self.id, kind="rule", passed=bool(followed), reason=reason)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The kwargs this checker was built with (lists as lists), e.g. for writing back to JSON."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)
        }

    def _fail(self, message: str) -> CheckerError:
        return CheckerError(f"{self.id}: {message}")

    def _need_relation(self, field: str, value: str) -> None:
        if value not in RELATIONS:
            raise self._fail(f"{field} must be one of {list(RELATIONS)}, not {value!r}")

    def _need_non_negative(self, field: str, value: int) -> None:
        if value < 0:
            raise self._fail(f"{field} must be >= 0, not {value}")

    def _need_positive(self, field: str, value: int) -> None:
        if value < 1:
            raise self._fail(f"{field} must be >= 1, not {value}")

    def _need_text(self, field: str, value: str) -> None:
        # where the reference draws a random word for an empty one, an empty one is refused
        if not value.strip():
            raise self._fail(f"{field} must be a non-empty string")

    def _need_regex(self, field: str, pattern: str) -> None:
        # The reference uses these strings as regular expressions; one that does not compile
        # would crash it mid-run, so refuse it when the checker is built instead.
        try:
            re.compile(pattern)
        except re.error as err:
            raise self._fail(f"{field} {pattern!r} is not a valid regular expression ({err})") from None


def _coerce(checker_id: str, name: str, value: Any, annotation: Any) -> Any:
    def bad(expected: str) -> CheckerError:
        return CheckerError(f"{checker_id}: kwarg {name!r} must be {expected}, not {type(value).__name__} {value!r}")

    if annotation is int:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # JSON tools and pandas sometimes write 3 as 3.0
        raise bad("an integer")
    if annotation is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    # tuple[str, ...]: a list of strings in the data files
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise bad("a list of strings")
    return tuple(value)


def from_kwargs(cls: type[Checker], kwargs: dict[str, Any] | None) -> Checker:
    """Build checker class ``cls`` from kwargs, validated and coerced to its field types.

    Kwargs that do not count as given under the family's rule (:data:`KWARG_RULES`) are dropped first;
    a kwarg the checker needs but lacks is an error where the reference would draw a random value.

    Example:
        >>> from_kwargs(REGISTRY["punctuation:no_comma"], {"unused": None}).id
        'punctuation:no_comma'
    """
    checker_id = cls.id
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise CheckerError(f"{checker_id}: kwargs must be a dict, not {type(kwargs).__name__}")
    is_given = KWARG_RULES[cls.family]
    given = {k: v for k, v in kwargs.items() if is_given(v)}
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(given) - set(fields))
    if unknown:
        accepted = ", ".join(fields) if fields else "none"
        raise CheckerError(f"{checker_id}: does not take kwarg(s) {unknown}; it takes: {accepted}")
    missing = [f for f in fields if f not in given]
    if missing:
        raise CheckerError(
            f"{checker_id}: needs a non-empty value for {missing} "
            "(the reference would draw a random one; give it explicitly)"
        )
    values = {name: _coerce(checker_id, name, given[name], hints[name]) for name in fields}
    return cls(**values)
