"""Strict and loose IFEval scoring of responses against the 541-prompt input file (or any rows in
its format), with per-prompt rows in the reference output format and aggregate accuracies.

Example:
    >>> rows = [{"key": 1, "prompt": "Say hi without commas.",
    ...          "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}]
    >>> scores = score_ifeval(rows, [{"prompt": "Say hi without commas.", "response": "Hi there"}])
    >>> (scores.prompt_strict, scores.instruction_loose, scores.per_group_strict)
    (100.0, 100.0, {'punctuation': 100.0})
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from verif_nb.errors import CheckerError, DataError
from verif_nb.files import read_jsonl_numbered, write_jsonl
from verif_nb.ifeval._checkers import Checker, build_checker, get_checker
from verif_nb.records import Verdict

log = logging.getLogger(__name__)

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


def _check_loose(
    checker: Checker, response: str, variants: list[str] | None = None, strict: Verdict | None = None
) -> Verdict:
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
    """Check one IFEval constraint on one response (strict, or loose as the reference defines it).

    ``prompt`` fills ``prompt_to_repeat`` for ``combination:repeat_prompt`` when the kwargs lack
    it; the reference takes that text from the kwargs. Raises CheckerError for an unknown id or
    bad kwargs.

    Example:
        >>> check_constraint("startend:quotation", None, 'Sure:\\n"hi"', loose=True).reason
        'loose: with first line removed, wrapped in double quotation marks'
    """
    checker = build_checker(checker_id, kwargs, prompt)
    return _check_loose(checker, response) if loose else checker.check(response)


@dataclass
class IFEvalScores:
    """Per-prompt results (reference output format) and aggregate accuracies in percent.

    Example:
        >>> s = IFEvalScores(strict_rows=[], loose_rows=[])
        >>> s.summary()["prompt_strict"] is None
        True
    """

    strict_rows: list[dict[str, Any]]
    loose_rows: list[dict[str, Any]]
    strict_verdicts: list[list[Verdict]] = field(default_factory=list)
    loose_verdicts: list[list[Verdict]] = field(default_factory=list)
    left_out: int = 0  # input prompts without a response, left out on request

    @staticmethod
    def _prompt_acc(rows: list[dict[str, Any]]) -> float | None:
        return round(100.0 * sum(r["follow_all_instructions"] for r in rows) / len(rows), 2) if rows else None

    @staticmethod
    def _instruction_acc(rows: list[dict[str, Any]]) -> float | None:
        flat = [b for r in rows for b in r["follow_instruction_list"]]
        return round(100.0 * sum(flat) / len(flat), 2) if flat else None

    @staticmethod
    def _per_group(rows: list[dict[str, Any]]) -> dict[str, float]:
        hits: dict[str, list[bool]] = defaultdict(list)
        for r in rows:
            for cid, ok in zip(r["instruction_id_list"], r["follow_instruction_list"]):
                hits[cid.split(":")[0]].append(ok)
        return {g: round(100.0 * sum(v) / len(v), 2) for g, v in sorted(hits.items())}

    @property
    def prompt_strict(self) -> float | None:
        return self._prompt_acc(self.strict_rows)

    @property
    def instruction_strict(self) -> float | None:
        return self._instruction_acc(self.strict_rows)

    @property
    def prompt_loose(self) -> float | None:
        return self._prompt_acc(self.loose_rows)

    @property
    def instruction_loose(self) -> float | None:
        return self._instruction_acc(self.loose_rows)

    @property
    def per_group_strict(self) -> dict[str, float]:
        return self._per_group(self.strict_rows)

    @property
    def per_group_loose(self) -> dict[str, float]:
        return self._per_group(self.loose_rows)

    @property
    def num_checks(self) -> int:
        """Instruction checks scored (per mode)."""
        return sum(len(r["instruction_id_list"]) for r in self.strict_rows)

    def summary(self) -> dict[str, Any]:
        """The aggregates as one JSON-ready dict (what the CLI prints).

        Example:
            >>> sorted(IFEvalScores([], []).summary())[:3]
            ['instruction_loose', 'instruction_strict', 'num_instructions']
        """
        return {
            "prompt_strict": self.prompt_strict,
            "instruction_strict": self.instruction_strict,
            "prompt_loose": self.prompt_loose,
            "instruction_loose": self.instruction_loose,
            "per_group_strict": self.per_group_strict,
            "per_group_loose": self.per_group_loose,
            "num_prompts": len(self.strict_rows),
            "num_instructions": self.num_checks,
        }

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``eval_results_strict.jsonl`` and ``eval_results_loose.jsonl`` into ``out_dir``.

        Example:
            >>> import tempfile
            >>> paths = IFEvalScores([], []).write(tempfile.mkdtemp())
            >>> [p.name for p in paths]
            ['eval_results_strict.jsonl', 'eval_results_loose.jsonl']
        """
        out = Path(out_dir)
        paths = out / "eval_results_strict.jsonl", out / "eval_results_loose.jsonl"
        for path, rows in zip(paths, (self.strict_rows, self.loose_rows)):
            write_jsonl(path, rows)
        return paths


def _rows(
    source: str | Path | Iterable[dict[str, Any]], what: str
) -> tuple[str, list[tuple[int | None, dict[str, Any]]]]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        return str(path), read_jsonl_numbered(path, what)  # type: ignore[return-value]
    return f"<{what} rows>", [(i, r) for i, r in enumerate(source, start=1)]


def _field(origin: str, line: int | None, row: dict[str, Any], name: str, kind: type) -> Any:
    if name not in row:
        raise DataError(origin, line, name, "missing")
    if not isinstance(row[name], kind):
        raise DataError(origin, line, name, f"must be a {kind.__name__}, not {type(row[name]).__name__}")
    return row[name]


def score_ifeval(
    inputs: str | Path | Iterable[dict[str, Any]],
    responses: str | Path | Iterable[dict[str, Any]],
    progress: bool = False,
) -> IFEvalScores:
    """Score responses on IFEval inputs, strict and loose, exactly as the reference does.

    ``inputs``: path to a JSONL file (or rows) with ``prompt``, ``instruction_id_list``, ``kwargs``;
    ``responses``: path (or rows) with ``prompt`` and ``response``, matched to inputs by prompt
    text. Raises DataError naming the file and line for a malformed row or an input prompt that
    has no response, CheckerError (wrapped as DataError with its location) for bad kwargs.

    Example:
        >>> s = score_ifeval([{"prompt": "p", "instruction_id_list": ["startend:quotation"],
        ...                    "kwargs": [{}]}], [{"prompt": "p", "response": "Here:\\n\\"q\\""}])
        >>> (s.strict_rows[0]["follow_all_instructions"], s.loose_rows[0]["follow_all_instructions"])
        (False, True)
    """
    return score_responses(inputs, responses, get_checker, progress=progress, desc="IFEval")


def score_responses(
    inputs: str | Path | Iterable[dict[str, Any]],
    responses: str | Path | Iterable[dict[str, Any]],
    build: Callable[[str, dict[str, Any]], Checker],
    *,
    progress: bool = False,
    desc: str = "IFEval",
    only_answered: bool = False,
    scores_cls: type[IFEvalScores] = IFEvalScores,
) -> IFEvalScores:
    """Strict and loose scores of responses on rows in the IFEval layout, checkers built by ``build``.

    Shared by the IFEval and IFBench scorers. Responses are matched by prompt text, or by the
    stripped prompt (as IFBench's reference does). An input prompt without a response is a
    DataError naming every such prompt, unless ``only_answered`` (then they are left out and
    counted in ``scores.left_out``).

    Example:
        >>> rows = [{"prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
        ...         {"prompt": "q", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}]
        >>> s = score_responses(rows, [{"prompt": "p ", "response": "a, b"}], get_checker, only_answered=True)
        >>> (len(s.strict_rows), s.left_out)
        (1, 1)
    """
    in_origin, in_rows = _rows(inputs, "inputs")
    resp_origin, resp_rows = _rows(responses, "responses")
    by_prompt: dict[str, str] = {}
    for line, row in resp_rows:
        prompt = _field(resp_origin, line, row, "prompt", str)
        by_prompt[prompt] = _field(resp_origin, line, row, "response", str)
        by_prompt.setdefault(prompt.strip(), by_prompt[prompt])

    strict_rows: list[dict[str, Any]] = []
    loose_rows: list[dict[str, Any]] = []
    strict_verdicts: list[list[Verdict]] = []
    loose_verdicts: list[list[Verdict]] = []
    unanswered: list[tuple[int | None, str]] = []
    for line, row in tqdm(in_rows, desc=desc, disable=not progress):
        prompt = _field(in_origin, line, row, "prompt", str)
        ids = _field(in_origin, line, row, "instruction_id_list", list)
        kwargs_list = _field(in_origin, line, row, "kwargs", list)
        if len(ids) != len(kwargs_list):
            raise DataError(in_origin, line, "kwargs", f"has {len(kwargs_list)} entries for {len(ids)} instruction ids")
        response = by_prompt.get(prompt, by_prompt.get(prompt.strip()))
        if response is None:
            unanswered.append((line, prompt))
            continue
        try:
            # Every id is checked on its own, repeated ids included (two number_words bounds
            # make a range).
            checkers = [build(cid, kw) for cid, kw in zip(ids, kwargs_list)]
        except CheckerError as err:
            raise DataError(in_origin, line, "kwargs", str(err)) from None
        variants = loose_variants(response)
        strict = [c.check(response) for c in checkers]
        loose = [_check_loose(c, response, variants, s) for c, s in zip(checkers, strict)]
        for verdicts, rows, bucket in ((strict, strict_rows, strict_verdicts), (loose, loose_rows, loose_verdicts)):
            flags = [bool(v.passed) for v in verdicts]
            rows.append(
                {
                    "instruction_id_list": ids,
                    "prompt": prompt,
                    "response": response,
                    "follow_all_instructions": all(flags),
                    "follow_instruction_list": flags,
                }
            )
            bucket.append(verdicts)
    if unanswered and not only_answered:
        line, prompt = unanswered[0]
        more = (
            f" (and {len(unanswered) - 1} more prompts: lines "
            + ", ".join(str(n) for n, _ in unanswered[1:11])
            + ("…" if len(unanswered) > 11 else "")
            + ")"
            if len(unanswered) > 1
            else ""
        )
        raise DataError(
            in_origin,
            line,
            "prompt",
            f"no response in {resp_origin} for prompt {prompt[:80]!r}{more}; "
            "pass only_answered (--only-answered) to score just the answered prompts",
        )
    if unanswered:
        log.warning("left out %d of %d prompts that have no response in %s", len(unanswered), len(in_rows), resp_origin)
    log.info(
        "scored %d prompts (%d instructions)", len(strict_rows), sum(len(r["instruction_id_list"]) for r in strict_rows)
    )
    scores = scores_cls(strict_rows, loose_rows, strict_verdicts, loose_verdicts)
    scores.left_out = len(unanswered)
    return scores
