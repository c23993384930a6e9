"""Runs inside ``.venv-verl`` (upstream verl): verl's own reward managers score a DataProto built from
``verif-nb export verl`` rows, with ``verif_nb.rewards.verl.compute_score`` loaded the way verl loads it.

tests/test_verl_reward_loop.py starts this file with the verl venv's Python; it prints one JSON object:
``{"rewards": [...], "decoded": [...], "extra": {key: [...]}, "calls": N}``.

Managers:

``batch``   ``verl.workers.reward_manager.batch.BatchRewardManager`` with the function from verl's
            ``get_custom_reward_fn`` (``reward_kwargs`` bound from the config): one call per batch
``naive``   ``verl.workers.reward_manager.naive.NaiveRewardManager``: one call per response
``loop``    ``verl.experimental.reward_loop.reward_manager.naive.NaiveRewardManager`` (the async reward
            loop of verl 0.9): ``run_single`` per response
``fork``    the call shape of the VerIF fork's naive manager (THU-KEG/VerIF): ``compute_score`` imported
            as a plain function (the fork has no ``reward_kwargs``), called once per response with
            ``data_source``, ``prompt_str``, ``solution_str``, ``ground_truth``, ``extra_info``; the
            results go straight into ``torch.tensor(scores, dtype=float32)``, as the fork does

Usage:
    .venv-verl/bin/python tests/verl_reward_driver.py --data train.parquet --responses resp.jsonl \\
        --manager batch --reward-kwargs '{"verifier": {"mode": "rule"}}'
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any


def _rows_by_id(parquet: str) -> dict[str, dict[str, Any]]:
    import pyarrow.parquet as pq

    return {row["extra_info"]["id"]: row for row in pq.read_table(parquet).to_pylist()}


def build_dataproto(rows: list[dict[str, Any]], responses: list[str], tokenizer: Any) -> Any:
    """A rollout batch as verl's trainer hands it to the reward manager: left-padded prompts, right-padded
    responses ending in EOS, one attention mask over both, and the parquet columns as non-tensors."""
    import numpy as np
    import torch
    from verl import DataProto

    prompt_ids = [
        tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True) for row in rows
    ]
    prompt_ids = [list(p["input_ids"]) if isinstance(p, dict) or hasattr(p, "keys") else list(p) for p in prompt_ids]
    response_ids = [
        tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in responses
    ]
    pad = tokenizer.pad_token_id
    p_len, r_len = max(map(len, prompt_ids)), max(map(len, response_ids))
    prompts = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompt_ids])
    resp = torch.tensor([r + [pad] * (r_len - len(r)) for r in response_ids])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (r_len - len(r))
            for p, r in zip(prompt_ids, response_ids)
        ]
    )
    return DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": resp,
            "input_ids": torch.cat([prompts, resp], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array([dict(r["reward_model"]) for r in rows], dtype=object),
            "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object),
        },
    )


def _counting(fn: Any, counter: list[int]) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return fn(*args, **kwargs)

    return wrapped


def _result(reward_tensor: Any, extra: dict[str, list] | None, decoded: list[str], calls: int) -> dict[str, Any]:
    return {
        "rewards": [float(x) for x in reward_tensor.sum(dim=-1).tolist()],
        "decoded": decoded,
        "extra": {k: [float(v) for v in vals] for k, vals in (extra or {}).items()},
        "calls": calls,
    }


def _decoded(data: Any, tokenizer: Any) -> list[str]:
    prompt_len = data.batch["prompts"].shape[-1]
    lengths = data.batch["attention_mask"][:, prompt_len:].sum(dim=-1)
    return [
        tokenizer.decode(data.batch["responses"][i][: int(n)], skip_special_tokens=True) for i, n in enumerate(lengths)
    ]


def run(manager: str, data: Any, tokenizer: Any, reward_kwargs: dict[str, Any]) -> dict[str, Any]:
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    import verif_nb.rewards.verl as reward_module

    counter = [0]
    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": str(reward_module.module_path()),
                    "name": "compute_score",
                    "reward_kwargs": reward_kwargs,
                }
            }
        }
    )
    decoded = _decoded(data, tokenizer)
    if manager == "batch":
        from verl.workers.reward_manager.batch import BatchRewardManager

        fn = _counting(get_custom_reward_fn(config), counter)
        out = BatchRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=fn)(data, return_dict=True)
        return _result(out["reward_tensor"], out["reward_extra_info"], decoded, counter[0])
    if manager == "naive":
        from verl.workers.reward_manager.naive import NaiveRewardManager

        fn = _counting(get_custom_reward_fn(config), counter)
        out = NaiveRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=fn)(data, return_dict=True)
        return _result(out["reward_tensor"], out["reward_extra_info"], decoded, counter[0])
    if manager == "loop":
        import torch
        from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager as LoopManager

        fn = _counting(get_custom_reward_fn(config), counter)
        loop_manager = LoopManager(config, tokenizer, fn)
        results = [
            loop_manager.loop.run_until_complete(loop_manager.run_single(data[i : i + 1])) for i in range(len(data))
        ]
        scores = [r["reward_score"] for r in results]
        extra: dict[str, list] = {}
        for r in results:
            for key, value in r["reward_extra_info"].items():
                extra.setdefault(key, []).append(value)
        return _result(LoopManager.assemble_rm_scores(data, scores), extra, decoded, counter[0])
    if manager == "fork":
        import torch

        # The fork hands compute_score in as a plain function: no reward_kwargs, settings from the environment.
        fn = _counting(reward_module.compute_score, counter)
        prompt_len = data.batch["prompts"].shape[-1]
        scores, batch_lists = [], {"prompt_str": [], "solution_str": [], "ground_truth": [], "extra_info": []}
        for i in range(len(data)):
            item = data[i]
            mask = item.batch["attention_mask"]
            valid_prompt = item.batch["prompts"][-int(mask[:prompt_len].sum()) :]
            valid_response = item.batch["responses"][: int(mask[prompt_len:].sum())]
            prompt_str = tokenizer.decode(valid_prompt, skip_special_tokens=True)
            response_str = tokenizer.decode(valid_response, skip_special_tokens=True)
            ground_truth = item.non_tensor_batch["reward_model"]["ground_truth"]
            extra_info = item.non_tensor_batch.get("extra_info", None)
            scores.append(
                fn(
                    data_source="hf_rm",
                    prompt_str=prompt_str,
                    solution_str=response_str,
                    ground_truth=ground_truth,
                    extra_info=extra_info,
                )
            )
            for key, value in zip(batch_lists, (prompt_str, response_str, ground_truth, extra_info)):
                batch_lists[key].append(value)
        per_sample = torch.tensor(scores, dtype=torch.float32)  # a dict here would raise, as in the fork
        listed = fn(data_source="if_verifier", **batch_lists)  # the fork's __call__: one call with lists
        return {
            "rewards": per_sample.tolist(),
            "listed": [float(x) for x in listed],
            "decoded": decoded,
            "extra": {},
            "calls": counter[0],
        }
    raise SystemExit(f"unknown manager {manager!r}")


def main(argv: list[str] | None = None) -> None:
    """Build the batch, run the chosen manager, print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="parquet written by `verif-nb export verl`")
    parser.add_argument("--responses", required=True, help="jsonl rows {id, response}")
    parser.add_argument("--manager", required=True, choices=("batch", "naive", "loop", "fork"))
    parser.add_argument("--reward-kwargs", default="{}", help="JSON: custom_reward_function.reward_kwargs")
    args = parser.parse_args(argv)

    from verif_nb.train.models import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer(tempfile.mkdtemp(prefix="verl-tok-"))
    rows_by_id = _rows_by_id(args.data)
    pairs = [json.loads(line) for line in Path(args.responses).read_text(encoding="utf-8").splitlines() if line]
    data = build_dataproto([rows_by_id[p["id"]] for p in pairs], [p["response"] for p in pairs], tokenizer)
    result = run(args.manager, data, tokenizer, json.loads(args.reward_kwargs))
    print("VERL_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
