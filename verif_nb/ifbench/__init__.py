"""Built-in IFBench checkers (Pyatkin et al. 2025, arXiv 2507.02833): the 58 out-of-distribution
constraint types, reference-exact, and strict/loose IFBench scoring.

One small class per instruction id (``count:word_count_range`` ...) on IFEval's checker base,
built by id from validated kwargs; every verdict carries a reason and every checker can
``describe()`` its constraint for a judge. Nothing downloads at run time; the emoji, syllable and
part-of-speech data come from the ``ifbench`` extra and load on first use.

Example:
    >>> from verif_nb.ifbench import check_constraint, get_checker
    >>> v = check_constraint("count:word_count_range", {"min_words": 3, "max_words": 5}, "Too short.")
    >>> (v.passed, v.reason)
    (False, '2 words, needs between 3 and 5')
    >>> get_checker("words:palindrome").describe()
    'Include at least 10 single-word palindromes, each at least 5 characters long.'
"""

from verif_nb.ifbench._checkers import IFBENCH_CHECKER_IDS as CHECKER_IDS
from verif_nb.ifbench._checkers import IFBenchChecker, get_checker
from verif_nb.ifbench._scoring import (
    TAGGER_IDS,
    IFBenchScores,
    check_constraint,
    get_any_checker,
    score_ifbench,
)


def describe(checker_id: str, kwargs: dict | None = None) -> str:
    """The constraint ``checker_id`` with ``kwargs`` in words, as a judge is shown it.

    Example:
        >>> describe("count:numbers", {"N": 4})
        'Include exactly 4 numbers in the response.'
    """
    return get_checker(checker_id, kwargs).describe()


__all__ = [
    "CHECKER_IDS",
    "TAGGER_IDS",
    "IFBenchChecker",
    "IFBenchScores",
    "check_constraint",
    "describe",
    "get_any_checker",
    "get_checker",
    "score_ifbench",
]
