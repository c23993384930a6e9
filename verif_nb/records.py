"""The one record model every input format is read into, and the verdict type every checker returns.

A :class:`Record` is a prompt plus its constraints. A constraint is either *rule* (hard: checked by
code — dataset-supplied ``check_following`` source or a built-in checker id with kwargs) or *llm*
(soft: checked by the judge). Records may carry candidate responses with per-constraint gold labels,
used to measure verifiers.

Example:
    >>> c = Constraint(name="length_constraints:number_words", kind="rule",
    ...                checker_id="length_constraints:number_words",
    ...                kwargs={"relation": "at least", "num_words": 300})
    >>> c.group
    'length_constraints'
    >>> Record(id="1", prompt="Write 300+ words.", constraints=[c]).rule_constraints == [c]
    True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["rule", "llm"]
KINDS: tuple[str, ...] = ("rule", "llm")


@dataclass
class Constraint:
    """One constraint of a record.

    ``code`` holds dataset-supplied Python defining ``check_following(instruction, response)``;
    ``checker_id``/``kwargs`` name a built-in checker instead. ``description`` is the constraint in
    words (what the judge is asked about); for VerInstruct ``[llm]`` entries it is taken from the code.

    Example:
        >>> Constraint(name="[llm] Style", kind="llm", description="Be enthusiastic.").kind
        'llm'
    """

    name: str
    kind: Kind
    code: str | None = None
    checker_id: str | None = None
    kwargs: dict[str, Any] | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"constraint {self.name!r}: kind must be 'rule' or 'llm', not {self.kind!r}")

    @property
    def group(self) -> str:
        """Constraint group for per-group reports: the id's namespace, or the bare checker name.

        Example:
            >>> Constraint(name="[rule] Length_Constraints", kind="rule").group
            'Length_Constraints'
        """
        if self.checker_id:
            return self.checker_id.split(":")[0]
        name = self.name
        if name.startswith("[") and "]" in name:
            name = name.split("]", 1)[1]
        return name.strip()


@dataclass
class LabelledResponse:
    """A candidate response with gold labels aligned with the record's constraints (None = unlabelled).

    Example:
        >>> LabelledResponse(text="hi", labels=[True, False]).gold_score
        0.5
    """

    text: str
    labels: list[bool | None] | None = None
    id: str | None = None

    @property
    def gold_score(self) -> float | None:
        """Fraction of labelled constraints the response satisfies (None without labels)."""
        known = [x for x in (self.labels or []) if x is not None]
        return sum(known) / len(known) if known else None


@dataclass
class Record:
    """A prompt with its constraints (and optionally labelled candidate responses).

    ``source`` is ``"file:line"`` where the record was read, for error messages.

    Example:
        >>> r = Record(id="a", prompt="p", constraints=[Constraint("x", "llm", description="d")])
        >>> (len(r.rule_constraints), len(r.llm_constraints))
        (0, 1)
    """

    id: str
    prompt: str
    constraints: list[Constraint]
    responses: list[LabelledResponse] = field(default_factory=list)
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def rule_constraints(self) -> list[Constraint]:
        return [c for c in self.constraints if c.kind == "rule"]

    @property
    def llm_constraints(self) -> list[Constraint]:
        return [c for c in self.constraints if c.kind == "llm"]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return asdict(self)


@dataclass
class Verdict:
    """The outcome of checking one constraint on one response.

    ``passed`` is True/False, or None when the check could not be carried out — then ``error`` says
    why. ``reason`` is a sentence a person can read ("212 words, needs at least 300").

    Example:
        >>> Verdict(name="len", kind="rule", passed=None, error="timed out after 2.0 s").verified
        False
    """

    name: str
    kind: Kind
    passed: bool | None
    error: str | None = None
    reason: str = ""
    raw: str | None = None  # the judge's raw answer, where one was asked

    @property
    def verified(self) -> bool:
        return self.passed is not None

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "kind": self.kind, "passed": self.passed, "error": self.error, "reason": self.reason}
        if self.raw is not None:
            d["raw"] = self.raw
        return d


# ---- records through dataset columns (TRL / HF datasets) -----------------------------------------


def record_to_columns(record: Record) -> dict[str, Any]:
    """Flatten a record into dataset columns that survive ``datasets`` (constraints as a JSON string).

    Example:
        >>> cols = record_to_columns(Record("a", "p", [Constraint("x", "llm", description="d")]))
        >>> sorted(cols)
        ['constraints', 'prompt', 'record_id']
    """
    constraints = [
        {
            "name": c.name,
            "kind": c.kind,
            "code": c.code,
            "checker_id": c.checker_id,
            "kwargs": c.kwargs,
            "description": c.description,
        }
        for c in record.constraints
    ]
    return {"record_id": record.id, "prompt": record.prompt, "constraints": json.dumps(constraints)}


def record_from_columns(row: dict[str, Any]) -> Record:
    """Inverse of :func:`record_to_columns`; ``prompt`` may be a chat message list (the user turn is used).

    Example:
        >>> r = record_from_columns(record_to_columns(Record("a", "p", [Constraint("x", "llm", description="d")])))
        >>> (r.id, r.constraints[0].description)
        ('a', 'd')
    """
    prompt = row["prompt"]
    if isinstance(prompt, list):
        prompt = next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), "")
    raw = row["constraints"]
    items = json.loads(raw) if isinstance(raw, str) else raw
    return Record(id=str(row["record_id"]), prompt=prompt, constraints=[Constraint(**c) for c in items])
