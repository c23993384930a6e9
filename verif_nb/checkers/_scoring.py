"""Strict and loose benchmark scoring: IFEval (the 541-prompt input file) and IFBench (``IFBench_test.jsonl``),
or any rows in their format, with per-prompt rows in the reference output format and aggregate accuracies.

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

from verif_nb.checkers._base import Checker
from verif_nb.checkers._registry import check_loose, get_checker, loose_variants
from verif_nb.errors import CheckerError, DataError
from verif_nb.files import read_jsonl_numbered, write_jsonl
from verif_nb.records import Verdict

log = logging.getLogger(__name__)


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
        loose = [check_loose(c, response, variants, s) for c, s in zip(checkers, strict)]
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


# Checks whose verdict rests on data that may differ from the reference's (see _text).
TAGGER_IDS: frozenset[str] = frozenset({"words:start_verb"})


class IFBenchScores(IFEvalScores):
    """IFEval's score type; the summary also says how many prompts were left out and which checks
    rest on a substitute part-of-speech model.

    Example:
        >>> IFBenchScores([], []).summary()["num_left_out"]
        0
    """

    def approximate_checks(self) -> dict[str, Any]:
        """``{checker_id: {"checks": n, "why": ...}}`` for checks whose verdict may differ from the reference's.

        Example:
            >>> IFBenchScores([], []).approximate_checks()
            {}
        """
        n = sum(cid in TAGGER_IDS for r in self.strict_rows for cid in r["instruction_id_list"])
        if not n:
            return {}
        from verif_nb.checkers import text as _text

        if _text.tagger_is_exact():
            return {}
        return {
            "words:start_verb": {
                "checks": n,
                "why": f"first-word part-of-speech tag from {_text.tagger_source()}; nltk's "
                "averaged_perceptron_tagger_eng is not installable offline (set VERIF_NB_POS_TAGGER to its folder)",
            }
        }

    def summary(self) -> dict[str, Any]:
        """IFEval's summary plus ``num_left_out`` and ``approximate_checks``.

        Example:
            >>> sorted(IFBenchScores([], []).summary())[:2]
            ['approximate_checks', 'instruction_loose']
        """
        return {**super().summary(), "num_left_out": self.left_out, "approximate_checks": self.approximate_checks()}


def score_ifbench(
    inputs: str | Path | Iterable[dict[str, Any]],
    responses: str | Path | Iterable[dict[str, Any]],
    progress: bool = False,
    only_answered: bool = False,
) -> IFBenchScores:
    """Score responses on IFBench inputs (``IFBench_test.jsonl`` layout), strict and loose, as the reference does.

    An input prompt without a response is a DataError naming it unless ``only_answered``; then it is
    left out and counted in the summary's ``num_left_out``.

    Example:
        >>> rows = [{"prompt": "p", "instruction_id_list": ["format:no_whitespace"], "kwargs": [{"N": None}]}]
        >>> score_ifbench(rows, [{"prompt": "p", "response": "Sure:\\nyes"}]).loose_rows[0]["follow_all_instructions"]
        True
    """
    return score_responses(
        inputs,
        responses,
        get_checker,
        progress=progress,
        desc="IFBench",
        only_answered=only_answered,
        scores_cls=IFBenchScores,
    )  # type: ignore[return-value]
