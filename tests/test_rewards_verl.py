"""verl's reward entry point, called exactly the way verl's reward managers call it.

verl is not installed here; these tests rebuild its two call sites:

* ``BatchRewardManager.verify``: ``compute_score(data_sources=..., solution_strs=..., ground_truths=...,
  extra_infos=..., **reward_kwargs)`` with ``data_sources`` / ``extra_infos`` as numpy object arrays
  (``DataProto.non_tensor_batch``) and ``rollout_reward_scores`` added to every extra_info;
* ``NaiveRewardManager.__call__``: ``compute_score(data_source=..., solution_str=..., ground_truth=...,
  extra_info=...)`` once per response,

and load the function the way verl's ``get_custom_reward_fn`` does: by file path, with the
``reward_kwargs`` of the config bound by keyword.
"""

from __future__ import annotations

import importlib.util
import math
from functools import partial

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from verif_nb.data import export_verl
from verif_nb.records import Constraint, Record
from verif_nb.rewards import verl as verl_reward

LOWER = Constraint("change_case:english_lowercase", "rule", checker_id="change_case:english_lowercase", kwargs={})
SHORT_CODE = "def check_following(instruction, response):\n    return len(response.split()) <= 6\n"
SHORT = Constraint("[rule] Length_Constraints", "rule", code=SHORT_CODE)
TONE = Constraint("[llm] Tone", "llm", description="Use a warm tone.")


def load_like_verl(path, name="compute_score", reward_kwargs=None):
    """verl.trainer.ppo.reward.get_custom_reward_fn: import the file by path, bind reward_kwargs."""
    spec = importlib.util.spec_from_file_location("custom_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name)

    def _call_with_kwargs(raw_fn, extra_kwargs, *args, **kwargs):
        return raw_fn(*args, **{**kwargs, **extra_kwargs})

    return partial(_call_with_kwargs, fn, dict(reward_kwargs or {}))


@pytest.fixture()
def verl_rows(tmp_path):
    records = [
        Record("lower", "Answer in lowercase.", [LOWER]),
        Record("short", "Answer in six words or fewer.", [SHORT]),
        Record("soft", "Greet me warmly.", [TONE]),
    ]
    path = export_verl(records, tmp_path / "train.parquet")
    return pq.read_table(path).to_pylist()


def batch_call(fn, rows, responses):
    """BatchRewardManager.verify, minus the tokenizer: one compute_score call for the whole batch."""
    data_sources = np.array([r["data_source"] for r in rows], dtype=object)
    ground_truths = [r["reward_model"].get("ground_truth", None) for r in rows]
    extras = np.array([dict(r["extra_info"]) for r in rows], dtype=object)
    for extra in extras:
        extra["rollout_reward_scores"] = {}
    return fn(data_sources=data_sources, solution_strs=responses, ground_truths=ground_truths, extra_infos=extras)


def test_batched_manager_call(verl_rows):
    fn = load_like_verl(verl_reward.module_path(), reward_kwargs={"verifier": {"mode": "rule"}})
    responses = [
        "this reply is all in lowercase english words",
        "Too many words in this reply to pass it",
        "hello friend",
    ]
    scores = batch_call(fn, verl_rows, responses)
    assert [s["score"] for s in scores] == [1.0, 0.0, 0.0]
    assert [s["verified"] for s in scores] == [1.0, 1.0, 0.0]  # the soft-only record cannot be scored by rules
    assert all(set(s) == set(verl_reward.SCORE_KEYS) for s in scores)  # verl gathers keys per batch
    assert math.isnan(scores[2]["rule_score"])


def test_naive_manager_call_one_response_at_a_time(verl_rows):
    fn = load_like_verl(verl_reward.module_path(), reward_kwargs={"verifier": {"mode": "rule"}})
    row = verl_rows[1]
    extra = {**row["extra_info"], "num_turns": 1, "rollout_reward_scores": {}}
    out = fn(
        data_source=row["data_source"],
        solution_str="six words or fewer here",
        ground_truth=row["reward_model"]["ground_truth"],
        extra_info=extra,
    )
    assert out["score"] == 1.0 and out["verified"] == 1.0


@pytest.mark.parametrize("policy, expected", [(0.0, 0.0), (-1.0, -1.0)])
def test_unverifiable_score_is_explicit_and_flagged(verl_rows, policy, expected):
    fn = load_like_verl(
        verl_reward.module_path(), reward_kwargs={"verifier": {"mode": "rule"}, "unverifiable_score": policy}
    )
    scores = batch_call(fn, verl_rows[2:], ["hello"])
    assert scores[0]["score"] == expected and scores[0]["verified"] == 0.0


def test_verifier_settings_from_a_params_file(verl_rows, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"verifier": {"mode": "rule", "strip_think": True}}))
    fn = load_like_verl(verl_reward.module_path(), reward_kwargs={"verifier_params": str(params)})
    # a reasoning policy: only the text after </think> is verified
    scores = batch_call(fn, verl_rows[:1], ["<think>Let Me Think</think>this is lowercase english text"])
    assert scores[0]["score"] == 1.0


def test_params_file_without_verifier_block_is_an_error(verl_rows, tmp_path):
    from verif_nb.errors import ParamsError

    params = tmp_path / "p.yaml"
    params.write_text("grpo: {}\n")
    with pytest.raises(ParamsError, match="verifier"):
        batch_call(partial(verl_reward.compute_score, verifier_params=str(params)), verl_rows[:1], ["x"])


def test_verifier_is_built_once_per_settings():
    assert verl_reward.get_verifier({"mode": "rule"}) is verl_reward.get_verifier({"mode": "rule"})


def test_prompt_reaches_the_record_and_missing_prompt_falls_back(verl_rows):
    row = verl_rows[0]
    rec = verl_reward.record_from_verl(row["data_source"], row["reward_model"]["ground_truth"], row["extra_info"])
    assert rec.prompt == "Answer in lowercase." and rec.id == "lower"
    bare = verl_reward.record_from_verl("ds", row["reward_model"]["ground_truth"], {"index": 0})
    assert bare.prompt == "instruction"  # what VerIF's reference reward shows the judge


def test_bad_calls_are_errors():
    with pytest.raises(ValueError, match="compute_score needs"):
        verl_reward.compute_score(data_source="x")
    with pytest.raises(ValueError, match="aligned"):
        verl_reward.compute_score_batch(["a"], ["x", "y"], ["{}"], verifier={"mode": "rule"})
