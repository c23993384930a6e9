"""IFBench scoring: IFEval's strict/loose machinery with IFBench's checkers, plus what the summary
must say about verdicts that are not reference-exact.

Example:
    >>> rows = [{"key": 1, "prompt": "Count.", "instruction_id_list": ["custom:multiples"], "kwargs": [{}]}]
    >>> s = score_ifbench(rows, [{"prompt": "Count.", "response": "14 21 28 35 42 49"}])
    >>> (s.prompt_strict, s.summary()["approximate_checks"])
    (100.0, {})
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from verif_nb.errors import CheckerError
from verif_nb.ifbench._checkers import IFBENCH_REGISTRY
from verif_nb.ifbench._checkers import get_checker as get_ifbench_checker
from verif_nb.ifeval._checkers import Checker
from verif_nb.ifeval._checkers import get_checker as get_ifeval_checker
from verif_nb.ifeval._scoring import IFEvalScores, _check_loose, score_responses
from verif_nb.records import Verdict

# Checks whose verdict rests on data that may differ from the reference's (see _text).
TAGGER_IDS: frozenset[str] = frozenset({"words:start_verb"})


def get_any_checker(checker_id: str, kwargs: dict[str, Any] | None = None) -> Checker:
    """An IFBench checker, or for IFEval's ids (IFBench's registry carries them too) the IFEval one.

    Example:
        >>> [get_any_checker(i, {}).id for i in ("format:no_whitespace", "punctuation:no_comma")]
        ['format:no_whitespace', 'punctuation:no_comma']
    """
    if checker_id in IFBENCH_REGISTRY:
        return get_ifbench_checker(checker_id, kwargs)
    try:
        return get_ifeval_checker(checker_id, {k: v for k, v in (kwargs or {}).items() if v is not None})
    except CheckerError as err:
        if str(err).startswith("unknown IFEval checker id"):
            raise CheckerError(
                f"unknown checker id {checker_id!r}: neither an IFBench nor an IFEval id "
                "(see verif_nb.ifbench.CHECKER_IDS, verif_nb.ifeval.CHECKER_IDS)"
            ) from None
        raise


def check_constraint(checker_id: str, kwargs: dict[str, Any] | None, response: str, loose: bool = False) -> Verdict:
    """Check one IFBench (or IFEval) constraint on one response, strict or loose.

    Example:
        >>> answer = "Sure!\\nMy Answer: y My Conclusion: z Future Outlook: w"
        >>> check_constraint("format:output_template", {}, answer).passed
        True
    """
    checker = get_any_checker(checker_id, kwargs)
    return _check_loose(checker, response) if loose else checker.check(response)


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
        from verif_nb.ifbench import _text

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
        get_any_checker,
        progress=progress,
        desc="IFBench",
        only_answered=only_answered,
        scores_cls=IFBenchScores,
    )  # type: ignore[return-value]
