"""Every knob of the verifier in one typed block: a params file's ``verifier:`` maps onto it one to one.

Example:
    >>> cfg = VerifierConfig.from_dict({"mode": "hybrid", "judge": {"model": "m"}})
    >>> (cfg.mode, cfg.judge.model)
    ('hybrid', 'm')
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from verif_nb.judge.config import JudgeConfig
from verif_nb.sandbox._settings import CheckTimeout, Spares, WorkerMemoryMB
from verif_nb.settings import Settings, UnitInterval, Workers, option

Mode = Literal["rule", "llm", "llm_all", "hybrid"]
Combine = Literal["product", "mean", "weighted", "min"]
RuleErrorPolicy = Literal["none", "skip", "zero"]
JudgeErrorPolicy = Literal["none", "zero", "raise"]
JudgeGranularity = Literal["response", "constraint"]
InstructionArg = Literal["literal", "prompt"]
Profile = Literal["default", "reference"]

MODES: tuple[str, ...] = typing.get_args(Mode)
COMBINES: tuple[str, ...] = typing.get_args(Combine)
RULE_ERROR_POLICIES: tuple[str, ...] = typing.get_args(RuleErrorPolicy)
JUDGE_ERROR_POLICIES: tuple[str, ...] = typing.get_args(JudgeErrorPolicy)
JUDGE_GRANULARITIES: tuple[str, ...] = typing.get_args(JudgeGranularity)
INSTRUCTION_ARGS: tuple[str, ...] = typing.get_args(InstructionArg)
PROFILES: tuple[str, ...] = typing.get_args(Profile)
# Sandbox limits when the config leaves them None: (seconds a check, MB a worker) per profile. VerIF's own code
# runs rule functions in the trainer with no limit at all; the reference profile's are generous, and recorded.
SANDBOX_LIMITS: dict[str, tuple[float, int]] = {"default": (2.0, 512), "reference": (60.0, 4096)}


@dataclass
class VerifierConfig(Settings):
    """Every knob of the verifier; ``judge`` is needed by every mode but ``rule``.

    Example:
        >>> VerifierConfig.from_dict({"mode": "rule"}).mode
        'rule'
        >>> VerifierConfig.from_dict({"mode": "nope"}, where="p.yaml")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: p.yaml: verifier.mode: expected one of 'rule', 'llm', ..., got 'nope' (str)
    """

    section = "verifier"

    profile: Profile = option(
        "default",
        help=(
            "default: verif-nb's verifier (honest None, strict tags, described constraints, guarded judge prompt); "
            "reference: exactly VerIF's published reward (see the README's profile table; needs the judge's "
            "template_file pointed at VerIF's llm_call.py)"
        ),
    )
    mode: Mode = option("hybrid", "rule | llm | llm_all | hybrid: what is checked by code and what by the judge")
    combine: Combine = option(
        "product", help=("hybrid only: product (VerIF code) | mean (paper text) | weighted | min")
    )
    rule_weight: UnitInterval = option(
        0.5, "weighted combination: reward = rule_weight * rule + (1 - rule_weight) * judge"
    )
    judge_granularity: JudgeGranularity = option(
        "response",
        help=(
            "response: one judge call per response over all judged constraints (VerIF's llm_score); "
            "constraint: one yes/no call per constraint (VerIF's llm_judge)"
        ),
    )
    on_rule_error: RuleErrorPolicy = option(
        "none",
        help=(
            "a rule check that errored: none -> reward None; skip -> mean over the checks that ran; "
            "zero -> counts as failed"
        ),
    )
    on_judge_error: JudgeErrorPolicy = option(
        "none",
        help=(
            "a judge call that failed or was unparseable: none -> reward None; zero -> judge score 0; "
            "raise -> JudgeError"
        ),
    )
    instruction_arg: InstructionArg = option(
        "literal",
        help=(
            'first argument of dataset check_following: literal -> the string "instruction" (VerIF); '
            "prompt -> the real prompt"
        ),
    )
    strip_think: bool = option(
        True,
        help=("verify only the text after the last </think> of a response (VerIF does this for reasoning policies)"),
    )
    sandbox_workers: Workers = option(2, "worker processes that run dataset-supplied code")
    sandbox_spares: Spares = option(
        32,
        help=(
            "children each sandbox worker keeps forked and ready (~3.6 MB each); size it to the rule functions a "
            "worker meets in one GRPO step"
        ),
    )
    sandbox_timeout_s: CheckTimeout | None = option(
        None,
        help=(
            "time limit of one dataset check (judge calls from rule code do not count); None: 2 s, or 60 s in the "
            "reference profile (VerIF's own code has no limit)"
        ),
    )
    sandbox_memory_mb: WorkerMemoryMB | None = option(
        None,
        help=(
            "address-space limit of one sandbox worker; None: 512 MB, or 4096 MB in the reference profile (VerIF's "
            "own code has no limit)"
        ),
    )
    sandbox_allow_unsandboxed: bool = option(
        False,
        help=(
            "RISK: run dataset-supplied code even where the kernel sandbox (seccomp) cannot be installed; "
            "results and run manifests then record that it ran unsandboxed"
        ),
    )
    judge: JudgeConfig | None = option(None, "the judge endpoint (JudgeConfig fields); every mode but rule needs one")
