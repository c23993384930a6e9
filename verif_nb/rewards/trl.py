"""A TRL reward function backed by the verifier.

TRL calls a reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``
where ``columns`` are the dataset's other columns, repeated once per generation, plus
``trainer_state``, ``log_metric`` and ``log_extra``. The record of each prompt travels in the columns
``record_id`` and ``constraints`` (see :func:`verif_nb.records.record_to_columns`), so nothing is
looked up on the side and the same dataset works on any number of processes.

A batch is verified with one :meth:`Verifier.verify_batch` call: dataset code goes to the sandbox
in one batch and the judge requests of all completions are in flight together. A completion that
could not be verified gets ``None``; TRL turns it into NaN, leaves it out of the group baseline and
gives it no advantage.

Metrics logged per batch through TRL's ``log_metric`` hook (they appear next to ``reward`` and
``kl`` in the trainer's logs and in ``metrics.jsonl``):

==============================  ==========================================================
``verif/rule_score``            mean rule score of the completions that have one
``verif/judge_score``           mean judge score of the completions that have one
``verif/unverifiable``          fraction of completions whose reward is ``None``
``verif/judge_errors``          judge calls that failed or could not be parsed
``verif/rule_errors``           rule checks that could not run (sandbox timeout, crash)
``verif/pass_rule/<group>``     pass rate of the rule constraints of one group
``verif/pass_llm/<group>``      pass rate of the judged constraints of one group
``verif/seconds``               wall time of the verification of the batch
==============================  ==========================================================

With several training processes each process verifies its own share of the completions; TRL gathers
the rewards (``reward`` is the nan-aware mean over all processes) and averages the ``verif/*`` metrics
over processes. Set ``VERIF_NB_REWARD_TRACE=FOLDER`` to have every process append one JSON line per
reward call to ``FOLDER/rank<R>.jsonl`` (rank, world size, step, record ids, rewards): which prompts
each process scored, and with what.

Example:
    >>> from verif_nb.records import Constraint, Record, record_to_columns
    >>> from verif_nb.verifier import Verifier
    >>> rec = Record("r1", "Answer in lowercase.", [Constraint(
    ...     "change_case:english_lowercase", "rule", checker_id="change_case:english_lowercase")])
    >>> cols = record_to_columns(rec)
    >>> reward = make_trl_reward(Verifier(mode="rule"))
    >>> reward(prompts=[cols["prompt"]] * 2, completions=["this is all lowercase english", "THIS IS NOT"],
    ...        record_id=[cols["record_id"]] * 2, constraints=[cols["constraints"]] * 2)
    [1.0, 0.0]
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verif_nb.errors import ParamsError
from verif_nb.records import Record

if TYPE_CHECKING:
    from verif_nb.verifier import VerificationResult, Verifier

log = logging.getLogger(__name__)

METRIC_PREFIX = "verif"
TRACE_ENV = "VERIF_NB_REWARD_TRACE"
_RECORD_CACHE_SIZE = 4096


def completion_text(completion: Any) -> str:
    """The text of one completion, standard (a string) or conversational (a list of messages).

    For a conversation the assistant turns are joined; content given as a list of blocks
    (``[{"type": "text", "text": ...}]``) is flattened.

    Example:
        >>> completion_text([{"role": "assistant", "content": "Hello"}])
        'Hello'
        >>> completion_text("Hello")
        'Hello'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        raise TypeError(f"a completion is a string or a list of messages, not {type(completion).__name__}")
    parts: list[str] = []
    for message in completion:
        if message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content") or ""
        if isinstance(content, list):  # content blocks (multimodal chat format)
            content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        parts.append(content)
    return "\n".join(parts)


def reward_metrics(records: Sequence[Record], results: Sequence[VerificationResult]) -> dict[str, float]:
    """Batch metrics of verification results: component means, unverifiable share, per-group pass rates.

    Example:
        >>> from verif_nb.records import Constraint, Record, Verdict
        >>> from verif_nb.verifier import VerificationResult
        >>> rec = Record("a", "p", [Constraint("change_case:x", "rule", checker_id="change_case:x")])
        >>> res = VerificationResult("a", 1.0, 1.0, None, [Verdict("change_case:x", "rule", True)],
        ...                          constraint_indices=[0])
        >>> reward_metrics([rec], [res])["verif/pass_rule/change_case"]
        1.0
    """
    out: dict[str, float] = {}
    n = len(results)
    if n == 0:
        return out
    rule = [r.rule_score for r in results if r.rule_score is not None]
    judge = [r.judge_score for r in results if r.judge_score is not None]
    if rule:
        out[f"{METRIC_PREFIX}/rule_score"] = sum(rule) / len(rule)
    if judge:
        out[f"{METRIC_PREFIX}/judge_score"] = sum(judge) / len(judge)
    out[f"{METRIC_PREFIX}/unverifiable"] = sum(r.reward is None for r in results) / n
    passed: dict[str, list[bool]] = defaultdict(list)
    for record, result in zip(records, results):
        indices = result.constraint_indices or [None] * len(result.verdicts)
        for verdict, index in zip(result.verdicts, indices):
            if verdict.passed is None:
                continue
            constraint = record.constraints[index] if index is not None else None
            group = constraint.group if constraint is not None else verdict.name
            passed[f"{METRIC_PREFIX}/pass_{verdict.kind}/{group}"].append(bool(verdict.passed))
    for key in sorted(passed):
        out[key] = sum(passed[key]) / len(passed[key])
    return out


def trace_reward_call(
    record_ids: Sequence[Any], rewards: Sequence[float | None], step: int | None, seconds: float
) -> Path | None:
    """Append one reward call to ``$VERIF_NB_REWARD_TRACE/rank<R>.jsonl``; does nothing when the variable is unset.

    The rank and world size come from the launcher's ``RANK``/``WORLD_SIZE`` (accelerate, torchrun).

    Example:
        >>> import tempfile
        >>> os.environ[TRACE_ENV] = tempfile.mkdtemp()
        >>> path = trace_reward_call(["a"], [1.0], step=1, seconds=0.1)
        >>> json.loads(path.read_text())["record_ids"], path.name
        (['a'], 'rank0.jsonl')
        >>> del os.environ[TRACE_ENV]
    """
    folder = os.environ.get(TRACE_ENV)
    if not folder:
        return None
    rank = int(os.environ.get("RANK", "0"))
    row = {
        "rank": rank,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "step": step,
        "record_ids": [str(i) for i in record_ids],
        "rewards": list(rewards),
        "seconds": round(seconds, 4),
        "pid": os.getpid(),
    }
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            # get_backend() says "undefined" for a group with per-device backends; the config names them
            config = getattr(dist, "get_backend_config", None)
            row["backend"] = str(config() if config is not None else dist.get_backend())
    except ImportError:  # the reward also runs without torch (verif-nb verify, notebooks)
        pass
    path = Path(folder) / f"rank{rank}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    return path


class VerifierReward:
    """A TRL reward function: ``reward(prompts, completions, record_id=..., constraints=..., **kw)``.

    Build it with :func:`make_trl_reward`. ``__name__`` is the name TRL logs the reward under
    (``rewards/<name>/mean``). Metrics go to TRL's ``log_metric`` hook when the trainer passes one,
    and otherwise wait in :meth:`pop_metrics` (for callers outside a trainer).

    Example:
        >>> from verif_nb.verifier import Verifier
        >>> VerifierReward(Verifier(mode="rule"), name="ifeval_rules").__name__
        'ifeval_rules'
    """

    def __init__(
        self, verifier: Verifier, name: str = "verif", log_groups: bool = True, log_extra_columns: bool = True
    ):
        self.verifier = verifier
        self.__name__ = name
        self.log_groups = log_groups
        self.log_extra_columns = log_extra_columns
        self.total_seconds = 0.0
        self.calls = 0
        self._records: dict[tuple[str, str, str], Record] = {}
        self._pending: dict[str, list[float]] = defaultdict(list)

    def _record(self, prompt: Any, record_id: Any, constraints: Any) -> Record:
        from verif_nb.records import record_from_columns

        key_constraints = constraints if isinstance(constraints, str) else repr(constraints)
        key = (str(record_id), key_constraints, prompt if isinstance(prompt, str) else repr(prompt))
        record = self._records.get(key)
        if record is None:
            if len(self._records) >= _RECORD_CACHE_SIZE:
                self._records.clear()
            record = record_from_columns({"prompt": prompt, "record_id": record_id, "constraints": constraints})
            self._records[key] = record
        return record

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        record_id: Sequence[Any] | None = None,
        constraints: Sequence[Any] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        log_extra: Callable[[str, list], None] | None = None,
        trainer_state: Any = None,
        **_: Any,
    ) -> list[float | None]:
        if record_id is None or constraints is None:
            raise ParamsError(
                "the verif-nb reward needs the dataset columns 'record_id' and 'constraints' "
                "(build the dataset with verif_nb.train.build_dataset or record_to_columns)"
            )
        if not len(prompts) == len(completions) == len(record_id) == len(constraints):
            raise ValueError(
                f"reward inputs differ in length: {len(prompts)} prompts, {len(completions)} "
                f"completions, {len(record_id)} record ids, {len(constraints)} constraint lists"
            )
        records = [self._record(p, i, c) for p, i, c in zip(prompts, record_id, constraints)]
        texts = [completion_text(c) for c in completions]
        before = Counter(self.verifier.metrics)
        start = time.perf_counter()
        results = self.verifier.verify_batch(list(zip(records, texts)))
        seconds = time.perf_counter() - start
        self.total_seconds += seconds
        self.calls += 1
        after = self.verifier.metrics
        metrics = reward_metrics(records, results)
        if not self.log_groups:
            metrics = {k: v for k, v in metrics.items() if "/pass_" not in k}
        metrics[f"{METRIC_PREFIX}/judge_errors"] = float(after["judge_errors"] - before["judge_errors"])
        metrics[f"{METRIC_PREFIX}/rule_errors"] = float(after["rule_errors"] - before["rule_errors"])
        metrics[f"{METRIC_PREFIX}/seconds"] = seconds
        for key, value in metrics.items():
            if log_metric is not None:
                log_metric(key, value)
            else:
                self._pending[key].append(value)
        if log_extra is not None and self.log_extra_columns:
            log_extra("rule_score", [r.rule_score for r in results])
            log_extra("judge_score", [r.judge_score for r in results])
            log_extra("verif_error", [r.error for r in results])
        # The step being computed: TRL scores before it increments global_step.
        step = trainer_state.global_step + 1 if trainer_state is not None else None
        trace_reward_call([r.id for r in records], [r.reward for r in results], step, seconds)
        unverifiable = [r for r in results if r.reward is None]
        if unverifiable:
            log.debug(
                "%d of %d completions unverifiable; first: %s", len(unverifiable), len(results), unverifiable[0].error
            )
        return [r.reward for r in results]

    def pop_metrics(self) -> dict[str, float]:
        """Metrics of the calls made without TRL's ``log_metric`` hook, averaged per key, then cleared.

        Example:
            >>> from verif_nb.verifier import Verifier
            >>> VerifierReward(Verifier(mode="rule")).pop_metrics()
            {}
        """
        out = {k: sum(v) / len(v) for k, v in self._pending.items() if v}
        self._pending.clear()
        return out


def make_trl_reward(verifier: Verifier, name: str = "verif", log_groups: bool = True) -> VerifierReward:
    """Wrap a verifier as a TRL reward function (pass it as ``reward_funcs`` to ``GRPOTrainer``).

    ``log_groups`` adds one pass-rate metric per constraint group (``verif/pass_rule/<group>``).

    Example:
        >>> from verif_nb.verifier import Verifier
        >>> callable(make_trl_reward(Verifier(mode="rule")))
        True
    """
    return VerifierReward(verifier, name=name, log_groups=log_groups)
