"""The verifier: one type for rule-only, LLM-only and hybrid verification (VerIF), its config and
``verif-nb verify``; it turns a record's constraint verdicts into one reward (None when unverifiable).

Example:
    >>> from verif_nb.verifier import Verifier
    >>> Verifier(mode="rule").config.combine
    'product'
"""

from verif_nb.verifier._verifier import VerificationResult, Verifier, describe_constraint
from verif_nb.verifier.config import (
    COMBINES,
    INSTRUCTION_ARGS,
    JUDGE_ERROR_POLICIES,
    JUDGE_GRANULARITIES,
    MODES,
    RULE_ERROR_POLICIES,
    VerifierConfig,
)

__all__ = [
    "COMBINES",
    "INSTRUCTION_ARGS",
    "JUDGE_ERROR_POLICIES",
    "JUDGE_GRANULARITIES",
    "MODES",
    "RULE_ERROR_POLICIES",
    "VerificationResult",
    "Verifier",
    "VerifierConfig",
    "describe_constraint",
]
