"""Built-in rule checkers: IFEval's 25 instruction types (Zhou et al. 2023) and IFBench's 58 out-of-distribution
types (Pyatkin et al. 2025), reference-exact, in one registry; and strict/loose benchmark scoring.

One small frozen dataclass per instruction id (``length_constraints:number_words``, ``count:numbers`` ...),
built by id from typed kwargs; every verdict carries a reason and every checker can ``describe()`` its
constraint for a judge. Records name a built-in by its id (``[rule]`` constraints with ``checker_id``).
Nothing downloads at run time; IFBench's emoji, syllable and part-of-speech data come from the ``ifbench`` extra
and load on first use. Shared text measurements are public in :mod:`verif_nb.checkers.text`.

Example:
    >>> v = check_constraint("length_constraints:number_words",
    ...                      {"relation": "at least", "num_words": 300}, "Too short.")
    >>> (v.passed, v.reason)
    (False, '2 words, needs at least 300')
    >>> describe("words:palindrome")
    'Include at least 10 single-word palindromes, each at least 5 characters long.'
    >>> (len(IFEVAL_IDS), len(IFBENCH_IDS), len(CHECKER_IDS))
    (25, 58, 83)
"""

from verif_nb.checkers import _ifbench, _ifeval  # noqa: F401  (importing them fills the registry)
from verif_nb.checkers._base import REGISTRY, Checker
from verif_nb.checkers._ifeval import LANGUAGE_CODES
from verif_nb.checkers._registry import (
    LOOSE_VARIANT_NAMES,
    accepted_kwargs,
    build_checker,
    check_constraint,
    check_loose,
    describe,
    get_checker,
    loose_variants,
)
from verif_nb.checkers._scoring import TAGGER_IDS, IFBenchScores, IFEvalScores, score_ifbench, score_ifeval
from verif_nb.checkers.text import RELATIONS, MissingDependencyError

CHECKER_IDS: list[str] = sorted(REGISTRY)
IFEVAL_IDS: list[str] = [i for i in CHECKER_IDS if REGISTRY[i].family == "ifeval"]
IFBENCH_IDS: list[str] = [i for i in CHECKER_IDS if REGISTRY[i].family == "ifbench"]

__all__ = [
    "CHECKER_IDS",
    "IFBENCH_IDS",
    "IFEVAL_IDS",
    "LANGUAGE_CODES",
    "LOOSE_VARIANT_NAMES",
    "RELATIONS",
    "TAGGER_IDS",
    "Checker",
    "IFBenchScores",
    "IFEvalScores",
    "MissingDependencyError",
    "accepted_kwargs",
    "build_checker",
    "check_constraint",
    "check_loose",
    "describe",
    "get_checker",
    "loose_variants",
    "score_ifbench",
    "score_ifeval",
]
