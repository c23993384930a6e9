"""The hybrid verifier: one type for rule-only, LLM-only and hybrid verification (VerIF).

Hard constraints are checked by code (built-in checkers in-process — they are ours — and
dataset-supplied ``check_following`` functions in the sandbox); soft constraints by the LLM judge.
An ablation changes one value, ``mode``:

============  ===========================================  =======================
mode          what is checked                              the paper's name
============  ===========================================  =======================
``rule``      hard constraints by code; soft ignored        "w/o LLM"
``llm``       soft constraints by the judge; hard ignored   "w/o code"
``llm_all``   every constraint by the judge                 "w/o code*"
``hybrid``    code on hard, judge on soft, combined         VerIF
============  ===========================================  =======================

``combine`` (hybrid only): ``product`` (VerIF's code: mean(rule) x judge 0/1, the default), ``mean``
(the paper's text: average of the two component scores), ``weighted`` (``rule_weight`` x rule +
(1 - ``rule_weight``) x judge) or ``min``.

A response that could not be verified gets ``reward=None`` with the reason in ``error`` — TRL skips
``None`` rewards — unless a named policy says otherwise (``on_rule_error``, ``on_judge_error``); every
such event is counted in :attr:`Verifier.metrics`.

``profile="reference"`` is exactly VerIF's published reward, checked against the original code by the random
differential test ``tests/test_reference_differential.py``; ``"default"`` is verif-nb's. What the reference
profile does differently (each the original's behaviour; the README's profile table says why the default
differs): the judge is asked about every response, also when its record has no ``[llm]`` checker; it is shown the
instruction and the Python list of ``[llm]`` checker names in VerIF's own prompt (read from its ``llm_call.py``);
its score is the first ``[[n]]`` anywhere in the answer, unclamped, 0 when there is none or the call fails; the
judge is reached as VerIF's client does (3 attempts, ``"NA"`` for any reply that is not a chat completion); a rule
function that raises scores 0; tags are read by substring (``[LLM] X`` and untagged checkers are dropped, ``X
[llm]`` is soft); rule code runs as written, with VerIF's split globals/locals (module-level names raise
NameError; module-level code reads ``response``, the answer being checked), afresh per answer, with no
Python-level screen and generous limits; its ``llm_call`` module is the original's (``llm_extract``/``llm_score``/
``llm_judge`` build their prompts in the sandbox on the rule's own objects; ``extract_score``, ``prompt_template``
...); the response is always ``split("</think>")[-1].strip()``. Where the original raises (and its
trainer gives the whole batch -1.0) this profile scores that check or judge call 0 for the row alone.

Example:
    >>> from verif_nb.records import Constraint, Record
    >>> rec = Record(id="r1", prompt="Answer in at least 3 words.", constraints=[
    ...     Constraint("length_constraints:number_words", "rule",
    ...                checker_id="length_constraints:number_words",
    ...                kwargs={"relation": "at least", "num_words": 3})])
    >>> with Verifier(mode="rule") as v:
    ...     v.verify(rec, "Three words here").reward
    1.0
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from verif_nb.errors import JudgeError, ParamsError
from verif_nb.files import make_encodable
from verif_nb.judge.config import JudgeConfig
from verif_nb.records import Constraint, Record, Verdict
from verif_nb.verifier.config import SANDBOX_LIMITS, VerifierConfig

if TYPE_CHECKING:  # imported lazily at run time: neither is needed for rule mode with built-in checkers
    from verif_nb.judge import JudgeClient
    from verif_nb.sandbox import SandboxPool

log = logging.getLogger(__name__)


@dataclass
class VerificationResult:
    """The verdicts on one response and the reward they add up to.

    ``rule_score`` is the mean of the rule verdicts, ``judge_score`` the judge's 0/1 (or the mean of
    per-constraint judgments); either is None when that component was not used or could not be
    computed. ``error`` says why ``reward`` is None; ``policy`` names a policy that changed the reward.
    """

    record_id: str
    reward: float | None
    rule_score: float | None
    judge_score: float | None
    verdicts: list[Verdict]
    error: str | None = None
    policy: str | None = None
    judge_raw: str | None = None
    judge_p_yes: float | None = None
    constraint_indices: list[int] = field(default_factory=list)
    """for each verdict, the index of its constraint in ``record.constraints`` (names may repeat)."""
    text_repaired: int = 0
    """lone surrogates in the response (not encodable as UTF-8) replaced by U+FFFD before any check."""

    def to_dict(self) -> dict[str, Any]:
        """The output-row form used by ``verif-nb verify``: id, reward, components and per-constraint verdicts."""
        return {
            "id": self.record_id,
            "reward": self.reward,
            "rule_score": self.rule_score,
            "judge_score": self.judge_score,
            "error": self.error,
            "policy": self.policy,
            "constraints": [v.to_dict() for v in self.verdicts],
        } | ({"text_repaired": self.text_repaired} if self.text_repaired else {})


@dataclass
class _Pending:
    """Book-keeping for one response while its checks run."""

    record: Record
    response: str
    rule: list[tuple[Constraint, Verdict | None]] = field(default_factory=list)
    judged: list[Constraint] = field(default_factory=list)
    judge_outcomes: list[Any] = field(default_factory=list)
    text_repaired: int = 0


def describe_constraint(constraint: Constraint, prompt: str | None = None) -> str:
    """The words a judge is asked about for one constraint.

    Soft constraints carry their description; built-in checkers describe themselves; dataset code
    has no words of its own, so the judge is pointed at the requirement of that type in the instruction.

    Example:
        >>> describe_constraint(Constraint("[llm] Tone", "llm", description="Be warm."))
        'Be warm.'
    """
    if constraint.description:
        return constraint.description
    if constraint.checker_id:
        from verif_nb.checkers import describe

        return describe(constraint.checker_id, constraint.kwargs, prompt)
    return f"the '{constraint.group}' requirement stated in the instruction"


class Verifier:
    """Verify responses against a record's constraints and turn the verdicts into a reward.

    Pass a :class:`VerifierConfig` or its fields as keywords. ``judge`` is a JudgeConfig or a
    ready JudgeClient (needed by every mode but ``rule``); ``sandbox`` an optional shared SandboxPool
    (created on first use of dataset code otherwise, and closed by :meth:`close`).

    Example:
        >>> Verifier(mode="rule").config.mode
        'rule'
    """

    def __init__(
        self,
        config: VerifierConfig | None = None,
        *,
        judge: JudgeConfig | JudgeClient | None = None,
        sandbox: SandboxPool | None = None,
        **overrides: Any,
    ):
        unknown = sorted(set(overrides) - set(VerifierConfig.field_types()))
        if unknown:
            raise ParamsError(f"unknown verifier key(s) {unknown}; known: {sorted(VerifierConfig.field_types())}")
        if config is None:
            config = VerifierConfig(**overrides)
        elif overrides:
            config = config.replace(**overrides)
        self.config = config  # a config passed alone is used as it is (checked when it was built)
        self._judge_arg = judge if judge is not None else self.config.judge
        self._judge: JudgeClient | None = None
        self._sandbox = sandbox
        # rule code's judge calls reach `judge` from the sandbox's threads: one client, built once
        self._resources_lock = threading.RLock()
        self._own_sandbox = sandbox is None
        self.metrics: Counter[str] = Counter()
        if self.config.mode != "rule" and self._judge_arg is None:
            raise ParamsError(
                f"verifier mode {self.config.mode!r} needs a judge (judge=JudgeConfig(base_url=..., model=...))"
            )
        self.reference = self.config.profile == "reference"
        if self.reference and self.config.mode != "rule":
            template_file = getattr(getattr(self._judge_arg, "config", self._judge_arg), "template_file", None)
            if not (template_file and str(template_file).endswith(".py")):
                raise ParamsError(
                    "the reference profile sends the judge VerIF's own prompt, which verif-nb does not ship: point "
                    "--judge-template-file (params: judge.template_file) at VerIF's llm_call.py "
                    "(verl/utils/reward_score/local_server/llm_call.py in THU-KEG/VerIF)"
                )

    @classmethod
    def from_params(cls, params: dict[str, Any], where: str | None = None) -> Verifier:
        """Build from a params dict: :class:`VerifierConfig` fields, ``judge`` a sub-dict of JudgeConfig fields.

        A misspelt key or a bad value, here or in ``judge``, raises ParamsError naming it (and ``where``, the
        file it came from).

        Example:
            >>> Verifier.from_params({"mode": "rule"}).config.mode
            'rule'
            >>> Verifier.from_params({"mode": "llm", "judge": {"modle": "m"}})  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            verif_nb.errors.ParamsError: verifier.judge: unknown judge key(s) ['modle']; known: [...]
        """
        return cls(VerifierConfig.from_dict(params, where=where))

    # ---- resources -------------------------------------------------------------------------------

    @property
    def judge(self) -> JudgeClient:
        """The judge client (created from the JudgeConfig on first use)."""
        if self._judge is None:
            with self._resources_lock:
                if self._judge is None:
                    self._judge = self._make_judge()
        return self._judge

    def _make_judge(self) -> JudgeClient:
        from verif_nb.judge import JudgeClient

        if isinstance(self._judge_arg, JudgeConfig):
            # the reference profile talks to the judge as VerIF's APIModel does (the openai SDK's defaults)
            return JudgeClient(self._judge_arg, original_transport=self.reference)
        if self._judge_arg is None:
            raise ParamsError("this verification needs a judge; pass judge=JudgeConfig(...)")
        return self._judge_arg

    @property
    def sandbox(self) -> SandboxPool:
        """The sandbox pool for dataset-supplied code (started on first use)."""
        if self._sandbox is None:
            with self._resources_lock:
                if self._sandbox is None:
                    self._sandbox = self._make_sandbox()
        return self._sandbox

    def _make_sandbox(self) -> SandboxPool:
        from verif_nb.sandbox import SandboxPool

        c = self.config
        timeout_s, memory_mb = self.sandbox_limits
        return SandboxPool(
            workers=c.sandbox_workers,
            spares=c.sandbox_spares,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            allow_unsandboxed=c.sandbox_allow_unsandboxed,
            # rule code's judge calls are answered through the judge endpoint, by this process
            host_functions=self._host_functions() if self._judge_arg is not None else {},
            llm_call=self._original_prompts().for_sandbox() if self.reference and self._judge_arg else None,
            exec_style="verif" if self.reference else "verif_nb",
            # The reference profile runs rule code as VerIF does, as written: no Python-level screen, any
            # installed module imports, and no cap on a check's judge calls; the kernel layers (seccomp,
            # namespaces, uid, rlimits, a process per function) stay.
            python_layers=not self.reference,
            **({"max_host_calls": 100_000} if self.reference else {}),
        )

    @property
    def sandbox_limits(self) -> tuple[float, int]:
        """(seconds a dataset check may take, MB of address space a sandbox worker may use): the config's, or the
        profile's defaults (:data:`~verif_nb.verifier.config.SANDBOX_LIMITS`) where it leaves them None.

        Example:
            >>> Verifier(mode="rule").sandbox_limits, Verifier(mode="rule", profile="reference").sandbox_limits
            ((2.0, 512), (60.0, 4096))
        """
        timeout_s, memory_mb = SANDBOX_LIMITS[self.config.profile]
        c = self.config
        return (
            timeout_s if c.sandbox_timeout_s is None else c.sandbox_timeout_s,
            memory_mb if c.sandbox_memory_mb is None else c.sandbox_memory_mb,
        )

    @property
    def sandbox_isolation(self) -> dict | None:
        """How dataset code was isolated (``SandboxPool.isolation``), or None if none ran.

        ``sandboxed`` False means it ran without the kernel layer, on the caller's explicit opt-in.

        Example:
            >>> Verifier(VerifierConfig(mode="rule")).sandbox_isolation is None
            True
        """
        # the pool records its Python layers and limits there (the reference profile's generous ones included)
        return dict(self._sandbox.isolation) if self._sandbox is not None and self._sandbox.isolation else None

    def _host_functions(self) -> dict[str, Any]:
        """The judge calls rule code may make: in the reference profile VerIF's ``generate_chat`` (its ``llm_call``
        functions build their prompts in the sandbox, see :mod:`verif_nb.sandbox._llm_call`); else ``llm_extract``
        with verif-nb's prompt."""
        if not self.reference:
            return {"llm_extract": self._llm_extract}
        from verif_nb.judge.original import NotText, OriginalCalls

        def chat(messages: list[dict[str, Any]], max_tokens: int, temperature: float) -> str | NotText:
            outcome = self.judge.chat(messages, max_tokens, temperature)
            self.metrics["rule_code_judge_calls"] += 1
            if outcome.content_type not in (None, "str"):
                return NotText(outcome.content_type)
            return "NA" if outcome.raw is None else outcome.raw  # "NA": what VerIF's APIModel returns on a failure

        calls = OriginalCalls(self._original_prompts(), chat)
        # rule code's llm_call module builds each prompt itself, in its sandbox child (SandboxPool(llm_call=...)),
        # as the original does on the rule's own objects; only the finished request comes here
        return {"generate_chat": calls.generate_chat}

    def _original_prompts(self):
        """The prompts of VerIF's ``llm_call.py`` (the reference profile's ``judge.template_file``)."""
        from verif_nb.judge.original import load_original_prompts

        return load_original_prompts(getattr(self._judge_arg, "config", self._judge_arg).template_file)

    def _llm_extract(self, instruction: str, response: str, request: str, *_: Any) -> str:
        """Rule code's ``llm_extract``, asked of the judge (cached and counted like every judge call)."""
        outcome = self.judge.extract(str(instruction), str(response), str(request))
        self.metrics["llm_extract_calls"] += 1
        if outcome.raw is None:
            raise RuntimeError(f"llm_extract: the judge could not answer ({outcome.error})")
        if outcome.content_type == "NoneType":  # a null content is no extraction (a reasoning judge may leave it so)
            raise RuntimeError("llm_extract: the judge's reply had no content")
        return outcome.raw.strip()

    def close(self) -> None:
        """Stop the sandbox workers this verifier started."""
        if self._own_sandbox and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- verification ----------------------------------------------------------------------------

    def verify(self, record: Record, response: str) -> VerificationResult:
        """Verify one response. See :meth:`verify_batch`."""
        return self.verify_batch([(record, response)])[0]

    def verify_batch(self, items: Sequence[tuple[Record, str]], progress: bool = False) -> list[VerificationResult]:
        """Verify many (record, response) pairs; dataset checks go to the sandbox in one batch and judge
        calls run concurrently, so a batch costs about as much as its slowest parts, not their sum.

        Example:
            >>> from verif_nb.records import Constraint, Record
            >>> rec = Record("a", "Greet me in lowercase.", [Constraint(
            ...     "change_case:english_lowercase", "rule", checker_id="change_case:english_lowercase")])
            >>> greeting = "good morning to you all"
            >>> [r.reward for r in Verifier(mode="rule").verify_batch([(rec, greeting), (rec, greeting.upper())])]
            [1.0, 0.0]
        """
        mode = self.config.mode
        pending = []
        for record, response in items:
            # the boundary: rules, sandbox, judge and output all see the same encodable text (the reference profile
            # keeps it as VerIF does: its rules see a lone surrogate, and its judge call then fails)
            text, repaired = (response, 0) if self.reference else make_encodable(response)
            pending.append(_Pending(record, self._clean(text), text_repaired=repaired))
            if repaired:
                self.metrics["text_repaired"] += repaired
        self.metrics["responses"] += len(pending)

        # 1. rules: built-in checkers right away, dataset code collected for one sandbox batch
        from verif_nb.checkers import check_constraint

        sandbox_jobs: list[tuple[_Pending, int, Constraint]] = []
        for p in pending:
            if mode in ("rule", "hybrid"):
                for c in p.record.rule_constraints:
                    p.rule.append((c, None))
                    if c.checker_id:
                        p.rule[-1] = (c, check_constraint(c.checker_id, c.kwargs, p.response, prompt=p.record.prompt))
                    elif c.code:
                        sandbox_jobs.append((p, len(p.rule) - 1, c))
                    else:
                        p.rule[-1] = (
                            c,
                            Verdict(c.name, "rule", None, error="constraint has neither code nor checker id"),
                        )
            if mode in ("llm", "hybrid"):
                p.judged = list(p.record.llm_constraints)
            elif mode == "llm_all":
                p.judged = list(p.record.constraints)
        if sandbox_jobs:
            self._run_sandbox(sandbox_jobs)

        # 2. judge: one call per response (or per constraint), all in flight together
        # (VerIF asks the judge about every response, even one whose record has no [llm] checker)
        self._run_judge([p for p in pending if p.judged or (self.reference and mode != "rule")], progress)
        results = [self._combine_reference(p) if self.reference else self._combine(p) for p in pending]
        for p, result in zip(pending, results):
            result.text_repaired = p.text_repaired
        return results

    def _clean(self, response: str) -> str:
        if self.reference:  # the original's parse_solution, applied to every response
            return response.split("</think>")[-1].strip()
        if self.config.strip_think and "</think>" in response:
            return response.rsplit("</think>", 1)[1].strip()
        return response

    def _run_sandbox(self, jobs: list[tuple[_Pending, int, Constraint]]) -> None:
        from verif_nb.sandbox import CheckTask

        literal = self.config.instruction_arg == "literal"
        tasks = [
            CheckTask(code=c.code or "", instruction="instruction" if literal else p.record.prompt, response=p.response)
            for p, _, c in jobs
        ]
        results = self.sandbox.check_batch(tasks)
        for (p, idx, c), res in zip(jobs, results):
            if res.passed is None:
                verdict = Verdict(c.name, "rule", None, error=res.error, reason=f"could not verify: {res.error}")
            else:
                verdict = Verdict(
                    c.name,
                    "rule",
                    res.passed,
                    reason=f"check_following returned {'a truthy' if res.passed else 'a falsy'} value",
                )
            p.rule[idx] = (c, verdict)
        self.metrics["rule_checks_sandboxed"] += len(jobs)

    def _run_judge(self, pending: list[_Pending], progress: bool) -> None:
        if not pending:
            return
        from verif_nb.judge import JudgeRequest

        requests: list[JudgeRequest] = []
        owners: list[_Pending] = []
        for p in pending:
            if self.reference:  # VerIF shows the judge the [llm] checker names, as a list, in one call
                requests.append(JudgeRequest.score(p.record.prompt, p.response, [c.name for c in p.judged]))
                owners.append(p)
                continue
            words = [describe_constraint(c, p.record.prompt) for c in p.judged]
            if self.config.judge_granularity == "response":
                requests.append(JudgeRequest.score(p.record.prompt, p.response, words))
                owners.append(p)
            else:
                for w in words:
                    requests.append(JudgeRequest.judge(p.record.prompt, p.response, w))
                    owners.append(p)
        outcomes = self.judge.run_many(requests, progress=progress)
        for p, outcome in zip(owners, outcomes):
            p.judge_outcomes.append(outcome)
        self.metrics["judge_requests"] += len(requests)

    def _judge_verdicts(self, p: _Pending) -> tuple[list[Verdict], float | None, str | None]:
        """Per-constraint verdicts from the judge outcomes, the judge score and the first error."""
        verdicts: list[Verdict] = []
        errors = [o.error for o in p.judge_outcomes if o.passed is None]
        if self.config.judge_granularity == "response":
            (o,) = p.judge_outcomes
            n = len(p.judged)
            for c in p.judged:
                reason = (
                    f"judge: {'all' if o.passed else 'not all'} of {n} judged constraint(s) met (one joint call)"
                    if o.passed is not None
                    else f"judge could not verify: {o.error}"
                )
                verdicts.append(Verdict(c.name, c.kind, o.passed, error=o.error, reason=reason, raw=o.raw))
            score = None if o.passed is None else float(o.passed)
        else:
            for c, o in zip(p.judged, p.judge_outcomes):
                reason = (
                    f"judge answered {'yes' if o.passed else 'no'}"
                    if o.passed is not None
                    else f"judge could not verify: {o.error}"
                )
                verdicts.append(Verdict(c.name, c.kind, o.passed, error=o.error, reason=reason, raw=o.raw))
            known = [o.passed for o in p.judge_outcomes if o.passed is not None]
            score = None if errors else sum(known) / len(known)
        return verdicts, score, (errors[0] if errors else None)

    def _combine(self, p: _Pending) -> VerificationResult:
        cfg = self.config
        policy: list[str] = []
        error: str | None = None
        verdicts: list[Verdict] = [v for _, v in p.rule if v is not None]
        position = {id(c): i for i, c in enumerate(p.record.constraints)}
        indices = [position[id(c)] for c, v in p.rule if v is not None]

        # rule component
        rule_score: float | None = None
        if p.rule:
            failed = [v for v in verdicts if v.passed is None]
            self.metrics["rule_checks"] += len(verdicts)
            self.metrics["rule_errors"] += len(failed)
            if not failed:
                rule_score = sum(bool(v.passed) for v in verdicts) / len(verdicts)
            elif cfg.on_rule_error == "none":
                error = f"{len(failed)} rule check(s) could not run: {failed[0].error}"
            elif cfg.on_rule_error == "skip":
                ran = [v for v in verdicts if v.passed is not None]
                rule_score = sum(bool(v.passed) for v in ran) / len(ran) if ran else None
                policy.append(f"on_rule_error=skip: {len(failed)} errored check(s) left out")
                if rule_score is None:
                    error = "every rule check errored"
            else:  # zero
                rule_score = sum(bool(v.passed) for v in verdicts) / len(verdicts)
                policy.append(f"on_rule_error=zero: {len(failed)} errored check(s) counted as failed")
            if policy:
                self.metrics["rule_error_policy_applied"] += 1

        # judge component
        judge_score: float | None = None
        raw = p_yes = None
        if p.judged:
            jverdicts, judge_score, jerror = self._judge_verdicts(p)
            verdicts.extend(jverdicts)
            indices.extend(position[id(c)] for c in p.judged)
            raw = p.judge_outcomes[0].raw if p.judge_outcomes else None
            p_yes = getattr(p.judge_outcomes[0], "p_yes", None) if p.judge_outcomes else None
            if jerror is not None:
                self.metrics["judge_errors"] += 1
                if cfg.on_judge_error == "raise":
                    raise JudgeError(f"record {p.record.id}: judge failed: {jerror}")
                if cfg.on_judge_error == "zero":
                    judge_score = 0.0
                    policy.append("on_judge_error=zero: failed judgment scored 0")
                    self.metrics["judge_error_policy_applied"] += 1
                elif error is None:
                    error = f"judge could not verify: {jerror}"

        reward: float | None = None
        if error is None:
            reward = self._reward(rule_score, judge_score, p)
            if reward is None:
                error = self._why_no_reward(p)
        if reward is None:
            self.metrics["rewards_none"] += 1
        return VerificationResult(
            record_id=p.record.id,
            reward=reward,
            rule_score=rule_score,
            judge_score=judge_score,
            verdicts=verdicts,
            error=error if reward is None else None,
            policy="; ".join(policy) or None,
            judge_raw=raw,
            judge_p_yes=p_yes,
            constraint_indices=indices,
        )

    def _combine_reference(self, p: _Pending) -> VerificationResult:
        """VerIF's reward, quirks included: every failure scores 0, and the judge's number is not clamped."""
        from verif_nb.judge.original import verif_score

        mode = self.config.mode
        verdicts: list[Verdict] = [v for _, v in p.rule if v is not None]
        position = {id(c): i for i, c in enumerate(p.record.constraints)}
        indices = [position[id(c)] for c, v in p.rule if v is not None]
        notes = []
        self.metrics["rule_checks"] += len(verdicts)
        failed = sum(v.passed is None for v in verdicts)
        self.metrics["rule_errors"] += failed
        if failed:
            notes.append(f"profile=reference: {failed} errored rule check(s) scored 0")
        # the original's mean of `1 if result else 0`, and 1 for a record without [rule] checkers
        rule_score = sum(bool(v.passed) for v in verdicts) / len(verdicts) if verdicts else 1.0
        judge_score = raw = None
        if mode != "rule":
            outcome = p.judge_outcomes[0]
            raw = outcome.raw
            if outcome.content_type not in (None, "str"):
                # VerIF's own client raises here and its trainer returns -1.0 for the whole batch; this row only
                # gets the score of a failed call (README, profile table)
                self.metrics["judge_errors"] += 1
                notes.append(
                    f"profile=reference: the judge's reply had a {outcome.content_type} content, on which VerIF's "
                    "reward raises (its trainer then gives the whole batch -1.0); scored 0 for this row"
                )
                raw = None
            judge_score = float(verif_score(raw.strip()) if raw is not None else 0)
            if raw is None and outcome.content_type in (None, "str"):
                self.metrics["judge_errors"] += 1
                notes.append(f"profile=reference: the failed judge call scored 0 ({outcome.error})")
            for c in p.judged:
                verdicts.append(
                    Verdict(
                        c.name,
                        c.kind,
                        judge_score >= 1 if raw is not None else None,
                        error=outcome.error if raw is None else None,
                        raw=raw,
                        reason=f"judge score {judge_score:g} for the response (VerIF: the first "
                        "[[n]] of the answer, 0 if none)",
                    )
                )
                indices.append(position[id(c)])
        if mode == "rule":
            reward = rule_score
        elif mode in ("llm", "llm_all"):
            reward = judge_score
        else:
            reward = self._combined(rule_score, judge_score)
        return VerificationResult(
            record_id=p.record.id,
            reward=reward,
            rule_score=rule_score if mode in ("rule", "hybrid") else None,
            judge_score=judge_score,
            verdicts=verdicts,
            policy="; ".join(notes) or None,
            judge_raw=raw,
            constraint_indices=indices,
        )

    def _reward(self, rule: float | None, judge: float | None, p: _Pending) -> float | None:
        if not p.rule and not p.judged:
            return None
        if rule is None or judge is None:  # only one component applies to this record / mode
            return rule if judge is None and p.rule else judge
        return self._combined(rule, judge)

    def _combined(self, rule: float, judge: float) -> float:
        combine = self.config.combine
        if combine == "product":
            return rule * judge
        if combine == "mean":
            return (rule + judge) / 2
        if combine == "weighted":
            w = self.config.rule_weight
            return w * rule + (1 - w) * judge
        return min(rule, judge)

    def _why_no_reward(self, p: _Pending) -> str:
        mode = self.config.mode
        if mode == "rule":
            return "record has no rule constraints to verify in rule mode"
        if mode == "llm":
            return "record has no soft (llm) constraints to verify in llm mode"
        return "record has no constraints"
