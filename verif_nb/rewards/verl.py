"""``compute_score`` for verl, so VerIF-scale runs (verl + Ray) score with verif-nb's verifier unchanged.

verl loads a custom reward by file path and name and calls it in one of two ways:

* the batched reward manager (``reward_model.reward_manager=batch``; recommended, because the
  judge requests of a whole batch are then in flight together)::

      compute_score(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=..., **reward_kwargs)

* the naive reward manager, one response at a time::

      compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=..., **reward_kwargs)

:func:`compute_score` answers both (it looks at which keywords it got), and a third caller:

* the VerIF fork's naive manager (THU-KEG/VerIF, an older verl), which passes ``prompt_str`` and no
  ``reward_kwargs``, once per response in ``verify`` and once with lists in ``__call__``, and puts the
  result straight into a float tensor::

      compute_score(data_source=..., prompt_str=..., solution_str=..., ground_truth=..., extra_info=...)

  Given ``prompt_str``, :func:`compute_score` returns a float (a list of floats for lists); verifier
  settings then come from ``$VERIF_NB_VERIFIER_PARAMS``. A float cannot say "unverified", so such a
  response gets ``unverifiable_score`` and a warning in the log. Rows are those of
``verif-nb export verl``: the ground truth is ``json.dumps({"checkers", "functions"[, "builtin"]})``.

``reward_kwargs`` come from verl's ``custom_reward_function.reward_kwargs``:

``verifier``            a dict for :meth:`Verifier.from_params` (``{"mode": "hybrid", "judge": {...}}``)
``verifier_params``     path to a verif-nb params YAML whose ``verifier:`` block is used
``unverifiable_score``  the number verl gets for a response that could not be verified (default 0.0)

Without either, the environment variable ``VERIF_NB_VERIFIER_PARAMS`` names the YAML; failing that the
verifier runs in rule mode (soft constraints are then not scored; a warning says so once).

verl cannot leave a sample out of a batch, so an unverifiable response has to get a number: it gets
``unverifiable_score`` and the returned dict records ``verified=0.0`` and the reason, which verl collects
into ``reward_extra_info`` and logs — the failure stays visible instead of passing as a real 0.

verl command line (batched manager)::

    custom_reward_function.path=$(python -c "import verif_nb.rewards.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score
    reward_model.reward_manager=batch
    +custom_reward_function.reward_kwargs.verifier_params=params/verif_tulu3_8b.yaml

Example:
    >>> import json
    >>> gt = json.dumps({"checkers": ["[rule] Lowercase"],
    ...                  "functions": ["def check_following(instruction, response):\\n    return response.islower()"]})
    >>> out = compute_score(data_sources=["verif_nb"], solution_strs=["all lowercase"], ground_truths=[gt],
    ...                     extra_infos=[{"id": "a", "prompt": "Write in lowercase."}], verifier={"mode": "rule"})
    >>> out[0]["score"], out[0]["verified"]
    (1.0, 1.0)
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from verif_nb.errors import ParamsError
from verif_nb.files import read_yaml
from verif_nb.records import Record

log = logging.getLogger(__name__)

ENV_PARAMS = "VERIF_NB_VERIFIER_PARAMS"
# Keys of every returned dict: verl gathers each key into a list per batch, so all samples carry all keys.
SCORE_KEYS = ("score", "verified", "rule_score", "judge_score")

_verifiers: dict[str, Any] = {}
_lock = threading.Lock()
_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


def _plain(value: Any) -> Any:
    """Plain dicts and lists all the way down: verl hands reward_kwargs over as OmegaConf containers.

    Example:
        >>> from collections import OrderedDict
        >>> _plain(OrderedDict(judge=OrderedDict(base_url=("a", "b"))))
        {'judge': {'base_url': ['a', 'b']}}
    """
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(v) for v in value]
    return value


def _verifier_params(
    verifier: dict[str, Any] | None, verifier_params: str | os.PathLike | None
) -> tuple[dict[str, Any], str]:
    """The verifier block and where it came from (named in errors)."""
    if verifier is not None and verifier_params is not None:
        raise ParamsError("give either verifier={...} or verifier_params=PATH to compute_score, not both")
    if verifier is not None:
        return _plain(verifier), "compute_score(verifier=...)"
    path = verifier_params or os.environ.get(ENV_PARAMS)
    if path:
        loaded = read_yaml(path, "verifier params file") or {}
        block = loaded.get("verifier") if isinstance(loaded, dict) else None
        if not isinstance(block, dict):
            raise ParamsError(
                f"{path}: no 'verifier:' block; add one (e.g. verifier: {{mode: hybrid, judge: {{...}}}})"
            )
        return dict(block), str(path)
    _warn_once(
        "default",
        "compute_score got no verifier settings (reward_kwargs verifier/verifier_params or $%s): "
        "using rule mode, soft constraints are not scored",
        ENV_PARAMS,
    )
    return {"mode": "rule"}, "compute_score"


def get_verifier(verifier: dict[str, Any] | None = None, verifier_params: str | os.PathLike | None = None) -> Any:
    """The verifier for these settings, built once per process and reused across reward calls.

    Example:
        >>> get_verifier({"mode": "rule"}) is get_verifier({"mode": "rule"})
        True
    """
    from verif_nb.verifier import Verifier

    params, where = _verifier_params(verifier, verifier_params)
    key = json.dumps(params, sort_keys=True, default=str)
    with _lock:
        if key not in _verifiers:
            _verifiers[key] = Verifier.from_params(params, where=where)
        return _verifiers[key]


def record_from_verl(
    data_source: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None,
    index: int = 0,
    untagged: str = "rule",
) -> Record:
    """The Record behind one verl sample (its ground truth and extra_info as ``export verl`` wrote them).

    The prompt is taken from ``extra_info["prompt"]`` (or the ground truth's ``"prompt"``): verl's reward
    managers do not hand the prompt to reward functions (VerIF's fork passes its own ``prompt_str``, the decoded
    chat-templated prompt, and its judge sees that). Without one the judge is shown the word "instruction",
    which no run should rely on; a warning says so once. ``untagged="verif"`` reads checker tags as VerIF does
    (the reference profile).

    Example:
        >>> code = "from llm_call import llm_judge\\ndef check_following(instruction, response):\\n" \\
        ...        "    return llm_judge(instruction, response, 'Be warm.')"
        >>> gt = json.dumps({"checkers": ["[llm] Tone"], "functions": [code]})
        >>> rec = record_from_verl("verif_nb", gt, {"id": "x", "prompt": "Greet me."})
        >>> (rec.prompt, rec.constraints[0].description)
        ('Greet me.', 'Be warm.')
    """
    from verif_nb.data import parse_verl_row

    extra = dict(extra_info or {})
    gt = json.loads(ground_truth) if isinstance(ground_truth, (str, bytes)) else ground_truth
    prompt = extra.get("prompt") or (gt.get("prompt") if isinstance(gt, dict) else None)
    if not prompt:
        _warn_once(
            "prompt",
            "verl rows carry no prompt for the reward (extra_info['prompt'], as `verif-nb export verl` writes "
            "it); the judge sees the literal word 'instruction' instead of the prompt",
        )
        prompt = "instruction"
    extra.pop("rollout_reward_scores", None)  # added by verl's batch manager; not ours
    row = {
        "data_source": data_source or "verl",
        "prompt": [{"role": "user", "content": prompt}],
        "reward_model": {"style": "rule", "ground_truth": gt},
        "extra_info": extra,
    }
    return parse_verl_row(row, path="<verl batch>", line=index + 1, untagged=untagged, unknown_checkers="llm")


def _score_dict(result: Any, unverifiable_score: float) -> dict[str, Any]:
    reward = result.reward
    nan = math.nan
    return {
        "score": float(reward) if reward is not None else float(unverifiable_score),
        "verified": 1.0 if reward is not None else 0.0,
        "rule_score": float(result.rule_score) if result.rule_score is not None else nan,
        "judge_score": float(result.judge_score) if result.judge_score is not None else nan,
    }


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    *,
    verifier: dict[str, Any] | None = None,
    verifier_params: str | None = None,
    unverifiable_score: float = 0.0,
    **_: Any,
) -> list[dict[str, Any]]:
    """verl's batched form: one dict per response with ``score`` (the reward) and its components.

    Example:
        >>> import json
        >>> short = "def check_following(instruction, response):\\n    return len(response) < 5"
        >>> gt = json.dumps({"checkers": ["[rule] Short"], "functions": [short]})
        >>> [d["score"] for d in compute_score_batch(["s", "s"], ["ok", "far too long"], [gt, gt],
        ...                                          [{"prompt": "Be brief."}] * 2, verifier={"mode": "rule"})]
        [1.0, 0.0]
    """
    n = len(solution_strs)
    if not len(data_sources) == len(ground_truths) == n:
        raise ValueError(
            f"compute_score: {len(data_sources)} data sources, {n} solutions and {len(ground_truths)} "
            "ground truths; verl passes aligned lists"
        )
    extras = list(extra_infos) if extra_infos is not None else [None] * n
    v = get_verifier(verifier, verifier_params)
    tags = "verif" if getattr(v, "reference", False) else "rule"
    records = [
        record_from_verl(ds, gt, ex, i, untagged=tags)
        for i, (ds, gt, ex) in enumerate(zip(data_sources, ground_truths, extras))
    ]
    results = v.verify_batch(list(zip(records, [str(s) for s in solution_strs])))
    out = [_score_dict(r, unverifiable_score) for r in results]
    missing = [r for r in results if r.reward is None]
    if missing:
        log.warning(
            "%d of %d responses could not be verified (scored %s; verified=0 in reward_extra_info): %s",
            len(missing),
            n,
            unverifiable_score,
            missing[0].error,
        )
    return out


def _fork_scores(
    prompt_str: Any, solution_str: Any, ground_truth: Any, extra_info: Any, **reward_kwargs: Any
) -> float | list[float]:
    """The VerIF fork's call: floats only; ``prompt_str`` stands in when extra_info carries no prompt."""
    single = isinstance(solution_str, str)
    prompts = [prompt_str] if single else list(prompt_str)
    solutions = [solution_str] if single else list(solution_str)
    truths = [ground_truth] if single else list(ground_truth)
    extras = [extra_info] if single or extra_info is None else list(extra_info)
    if extra_info is None and not single:
        extras = [None] * len(solutions)
    if not len(prompts) == len(solutions) == len(truths) == len(extras):
        raise ValueError(
            f"compute_score: {len(prompts)} prompts, {len(solutions)} solutions, {len(truths)} "
            f"ground truths and {len(extras)} extra_infos; the VerIF fork passes aligned lists"
        )
    # The decoded prompt still holds the chat template; export verl's extra_info["prompt"] is the clean one.
    extras = [{**(ex or {}), "prompt": (ex or {}).get("prompt") or p} for ex, p in zip(extras, prompts)]
    scores = [
        d["score"] for d in compute_score_batch(["verl"] * len(solutions), solutions, truths, extras, **reward_kwargs)
    ]
    return scores[0] if single else scores


def compute_score(
    data_source: str | None = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: dict[str, Any] | None = None,
    *,
    prompt_str: Any = None,
    data_sources: Sequence[str] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    **reward_kwargs: Any,
) -> dict[str, Any] | list[dict[str, Any]] | float | list[float]:
    """verl's reward entry point, single-sample or batched (see the module docstring).

    Example:
        >>> import json
        >>> short = "def check_following(instruction, response):\\n    return len(response) < 5"
        >>> gt = json.dumps({"checkers": ["[rule] Short"], "functions": [short]})
        >>> compute_score("s", "ok", gt, {"prompt": "Be brief."}, verifier={"mode": "rule"})["score"]
        1.0
        >>> compute_score(data_source="if_verifier", prompt_str="Be brief.", solution_str="ok",  # VerIF fork
        ...               ground_truth=gt, extra_info=None, verifier={"mode": "rule"})
        1.0
    """
    if prompt_str is not None:
        if solution_str is None or ground_truth is None:
            raise ValueError("compute_score(prompt_str=...) needs solution_str and ground_truth as well")
        return _fork_scores(prompt_str, solution_str, ground_truth, extra_info, **reward_kwargs)
    if solution_strs is not None:
        if data_sources is None or ground_truths is None:
            raise ValueError("batched compute_score needs data_sources, solution_strs and ground_truths")
        return compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **reward_kwargs)
    if solution_str is None or ground_truth is None:
        raise ValueError(
            "compute_score needs (data_source, solution_str, ground_truth[, extra_info]) or their batched plurals"
        )
    return compute_score_batch([data_source or "verl"], [solution_str], [ground_truth], [extra_info], **reward_kwargs)[
        0
    ]


def module_path() -> Path:
    """This file, for verl's ``custom_reward_function.path``.

    Example:
        >>> module_path().name
        'verl.py'
    """
    return Path(__file__).resolve()
