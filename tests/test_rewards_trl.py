"""The TRL reward function: signature, standard and conversational completions, None, logged metrics."""

from __future__ import annotations

import json
import math

import pytest

from tests.stub_judge_server import StubJudgeServer, closed_port
from verif_nb.errors import ParamsError
from verif_nb.records import Constraint, Record, record_to_columns
from verif_nb.rewards import VerifierReward, completion_text, make_trl_reward, reward_metrics
from verif_nb.verifier import Verifier

LOWER = Constraint("change_case:english_lowercase", "rule", checker_id="change_case:english_lowercase", kwargs={})
NO_COMMA = Constraint("punctuation:no_comma", "rule", checker_id="punctuation:no_comma", kwargs={})
TONE = Constraint("[llm] Tone", "llm", description="Use a warm tone.")


def columns(records: list[Record], per_record: int) -> dict[str, list]:
    """Dataset columns as TRL passes them: each record's columns repeated once per generation."""
    rows = [record_to_columns(r) for r in records for _ in range(per_record)]
    return {
        "prompts": [r["prompt"] for r in rows],
        "record_id": [r["record_id"] for r in rows],
        "constraints": [r["constraints"] for r in rows],
    }


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("plain text", "plain text"),
        ([{"role": "assistant", "content": "chat text"}], "chat text"),
        ({"role": "assistant", "content": "one message"}, "one message"),
        ([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "ab"),
        ([{"role": "tool", "content": "ignored"}, {"role": "assistant", "content": "kept"}], "kept"),
        ([{"role": "assistant", "content": None}], ""),
    ],
)
def test_completion_text(completion, expected):
    assert completion_text(completion) == expected


def test_completion_text_rejects_other_types():
    with pytest.raises(TypeError):
        completion_text(42)


def test_rule_rewards_for_standard_and_conversational_completions():
    rec = Record("r1", "Write in lowercase without commas.", [LOWER, NO_COMMA])
    cols = columns([rec], 4)
    texts = ["all lowercase here", "Capital, and comma", "lowercase, comma", "Capital no comma"]
    reward = make_trl_reward(Verifier(mode="rule"))
    standard = reward(completions=texts, **cols)
    chat_prompts = [[{"role": "user", "content": p}] for p in cols["prompts"]]
    conversational = reward(
        completions=[[{"role": "assistant", "content": t}] for t in texts], **{**cols, "prompts": chat_prompts}
    )
    assert standard == [1.0, 0.0, 0.5, 0.5]
    assert conversational == standard


def test_unverifiable_samples_get_none_not_a_number():
    # rule mode cannot score a record that only has a soft constraint: the reward is None, not 0
    ruled = Record("a", "lowercase please", [LOWER])
    soft = Record("b", "be warm", [TONE])
    reward = make_trl_reward(Verifier(mode="rule"))
    out = reward(completions=["this answer is written in lowercase english"] * 2, **columns([ruled, soft], 1))
    assert out == [1.0, None]
    metrics = reward.pop_metrics()
    assert metrics["verif/unverifiable"] == 0.5


def test_judge_failure_gives_none_and_counts_a_judge_error():
    rec = Record("h", "Say hi warmly, in lowercase.", [LOWER, TONE])
    judge = {"base_url": f"http://127.0.0.1:{closed_port()}/v1", "max_retries": 0, "timeout_s": 2.0}
    verifier = Verifier.from_params({"mode": "hybrid", "judge": judge})
    logged: dict[str, list[float]] = {}
    reward = make_trl_reward(verifier)
    out = reward(
        completions=["hello there, it is lovely to see you today"] * 2,
        log_metric=lambda k, v: logged.setdefault(k, []).append(v),
        **columns([rec], 2),
    )
    assert out == [None, None]
    assert logged["verif/judge_errors"] == [2.0]
    assert logged["verif/unverifiable"] == [1.0]
    assert logged["verif/rule_score"] == [1.0]  # the rule component was computed even though the judge failed


def test_metrics_go_through_trl_log_metric_and_log_extra():
    recs = [Record("a", "lowercase", [LOWER]), Record("b", "no commas", [NO_COMMA])]
    logged: dict[str, list[float]] = {}
    extra: dict[str, list] = {}
    reward = make_trl_reward(Verifier(mode="rule"))
    reward(
        completions=["this is written in lowercase english", "This Is Not", "one, two", "one two"],
        log_metric=lambda k, v: logged.setdefault(k, []).append(v),
        log_extra=lambda c, v: extra.setdefault(c, []).extend(v),
        **columns(recs, 2),
    )
    assert logged["verif/rule_score"] == [0.5]
    assert logged["verif/pass_rule/change_case"] == [0.5]
    assert logged["verif/pass_rule/punctuation"] == [0.5]
    assert logged["verif/unverifiable"] == [0.0]
    assert logged["verif/rule_errors"] == [0.0]
    assert "verif/judge_score" not in logged  # rule mode has no judge component
    assert extra["rule_score"] == [1.0, 0.0, 0.0, 1.0]
    assert reward.pop_metrics() == {}  # everything went to TRL's hook


def test_log_groups_off_keeps_components_only():
    reward = make_trl_reward(Verifier(mode="rule"), log_groups=False)
    reward(completions=["ok"], **columns([Record("a", "x", [LOWER])], 1))
    metrics = reward.pop_metrics()
    assert "verif/rule_score" in metrics and not any("/pass_" in k for k in metrics)


def test_hybrid_judge_calls_of_a_batch_overlap():
    rec = Record("h", "Say hi warmly.", [TONE])
    with StubJudgeServer(answer="[[1]] met", delay_s=0.3) as stub:
        judge = {"base_url": stub.url, "concurrency": 8, "max_retries": 0}
        reward = make_trl_reward(Verifier.from_params({"mode": "hybrid", "judge": judge}))
        out = reward(completions=[f"hello {i}" for i in range(8)], **columns([rec], 8))
    assert out == [1.0] * 8
    assert stub.calls == 8
    assert stub.max_in_flight >= 4  # requests were in flight together, not one after another


def test_missing_columns_and_misaligned_inputs_are_errors():
    reward = make_trl_reward(Verifier(mode="rule"))
    with pytest.raises(ParamsError, match="record_id"):
        reward(prompts=["p"], completions=["c"])
    cols = columns([Record("a", "x", [LOWER])], 1)
    with pytest.raises(ValueError, match="differ in length"):
        reward(completions=["c", "d"], **cols)


def test_reward_metrics_table():
    rec = Record("a", "p", [LOWER, NO_COMMA])
    results = Verifier(mode="rule").verify_batch(
        [(rec, "this is lowercase english, with a comma"), (rec, "this is lowercase english without any")]
    )
    m = reward_metrics([rec, rec], results)
    assert m["verif/rule_score"] == 0.75
    assert m["verif/pass_rule/change_case"] == 1.0
    assert m["verif/pass_rule/punctuation"] == 0.5
    assert math.isclose(m["verif/unverifiable"], 0.0)
    assert reward_metrics([], []) == {}


def test_reward_name_and_records_are_parsed_once_per_prompt():
    reward = VerifierReward(Verifier(mode="rule"), name="ifeval_rules")
    assert reward.__name__ == "ifeval_rules"
    cols = columns([Record("a", "x", [LOWER])], 4)
    reward(completions=["a"] * 4, **cols)
    assert len(reward._records) == 1
    assert json.loads(cols["constraints"][0])[0]["checker_id"] == "change_case:english_lowercase"
