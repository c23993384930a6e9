"""Built-in IFEval checkers (Zhou et al. 2023), reference-exact, and strict/loose IFEval scoring.

One checker per instruction id (``length_constraints:number_words`` ...), built by id from typed
kwargs; every verdict carries a reason. Runs offline (no nltk downloads).

Example:
    >>> from verif_nb.ifeval import check_constraint
    >>> v = check_constraint("length_constraints:number_words",
    ...                      {"relation": "at least", "num_words": 300}, "Too short.")
    >>> (v.passed, v.reason)
    (False, '2 words, needs at least 300')
"""

from verif_nb.ifeval._checkers import (
    CHECKER_IDS,
    LANGUAGE_CODES,
    RELATIONS,
    Checker,
    accepted_kwargs,
    build_checker,
    describe_checker,
    get_checker,
)
from verif_nb.ifeval._scoring import (
    LOOSE_VARIANT_NAMES,
    IFEvalScores,
    check_constraint,
    loose_variants,
    score_ifeval,
)
from verif_nb.ifeval._text import count_sentences, count_words, word_tokenize

__all__ = [
    "CHECKER_IDS",
    "LANGUAGE_CODES",
    "LOOSE_VARIANT_NAMES",
    "RELATIONS",
    "Checker",
    "IFEvalScores",
    "accepted_kwargs",
    "build_checker",
    "check_constraint",
    "count_sentences",
    "count_words",
    "describe_checker",
    "get_checker",
    "loose_variants",
    "score_ifeval",
    "word_tokenize",
]
