"""The hybrid verifier: modes, combinations, failure policies, think-stripping, the instruction switch."""

from __future__ import annotations

import pytest
from judge_fakes import FakeJudge

from verif_nb.errors import JudgeError, ParamsError
from verif_nb.records import Constraint, Record, record_from_columns, record_to_columns
from verif_nb.verifier import Verifier, VerifierConfig

WORDS = Constraint(
    "length_constraints:number_words",
    "rule",
    checker_id="length_constraints:number_words",
    kwargs={"relation": "at least", "num_words": 4},
)
NO_COMMA = Constraint("punctuation:no_comma", "rule", checker_id="punctuation:no_comma")
TONE = Constraint("[llm] Tone", "llm", description="Use a cheerful tone.")
AUDIENCE = Constraint("[llm] Target_Audience", "llm", description="Write for children.")
REC = Record("r1", "Write at least 4 words, no commas, cheerful, for children.", [WORDS, NO_COMMA, TONE, AUDIENCE])
GOOD = "What a sunny happy day"
ONE_BAD = "What a sunny, happy day"  # has a comma: rule mean 0.5


def test_rule_mode_ignores_soft_constraints():
    with Verifier(mode="rule") as v:
        res = v.verify(REC, ONE_BAD)
    assert res.reward == 0.5 and res.judge_score is None
    assert [x.name for x in res.verdicts] == ["length_constraints:number_words", "punctuation:no_comma"]
    assert res.constraint_indices == [0, 1]
    assert all(x.reason for x in res.verdicts)


def test_rule_mode_without_rule_constraints_is_none_with_reason():
    rec = Record("soft", "p", [TONE])
    res = Verifier(mode="rule").verify(rec, "hi")
    assert res.reward is None and "no rule constraints" in res.error


def test_llm_mode_one_call_per_response_over_soft_constraints():
    judge = FakeJudge()
    v = Verifier(mode="llm", judge=judge)
    results = v.verify_batch([(REC, GOOD), (REC, ONE_BAD)])
    assert len(judge.requests) == 2  # VerIF: one call per response, not per constraint
    assert judge.requests[0].constraints == ["Use a cheerful tone.", "Write for children."]
    assert [r.reward for r in results] == [1.0, 1.0]  # the comma goes unnoticed without code
    assert results[0].constraint_indices == [2, 3]


def test_constraint_granularity_calls_once_per_constraint_and_averages():
    judge = FakeJudge(lambda req: "cheerful" in req.constraints[0])
    res = Verifier(mode="llm", judge=judge, judge_granularity="constraint").verify(REC, GOOD)
    assert len(judge.requests) == 2
    assert res.judge_score == 0.5 and res.reward == 0.5
    assert [v.passed for v in res.verdicts] == [True, False]


def test_llm_all_judges_hard_constraints_too():
    judge = FakeJudge()
    res = Verifier(mode="llm_all", judge=judge).verify(REC, ONE_BAD)
    assert res.reward == 1.0 and res.rule_score is None
    (req,) = judge.requests
    assert len(req.constraints) == 4 and "commas" in req.constraints[1]


@pytest.mark.parametrize(
    "combine, weight, expected",
    [
        ("product", 0.5, 0.0),
        ("mean", 0.5, 0.25),
        ("weighted", 0.8, 0.4),
        ("min", 0.5, 0.0),
    ],
)
def test_hybrid_combinations(combine, weight, expected):
    judge = FakeJudge(lambda req: False)
    res = Verifier(mode="hybrid", combine=combine, rule_weight=weight, judge=judge).verify(REC, ONE_BAD)
    assert res.rule_score == 0.5 and res.judge_score == 0.0
    assert res.reward == pytest.approx(expected)


def test_hybrid_product_is_verif_reward():
    res = Verifier(mode="hybrid", judge=FakeJudge()).verify(REC, ONE_BAD)
    assert res.reward == 0.5  # mean(rule) x judge 1


def test_judge_failure_is_none_and_counted_never_zero():
    judge = FakeJudge(lambda req: "HTTP 500 after 4 retries")
    v = Verifier(mode="hybrid", judge=judge)
    res = v.verify(REC, GOOD)
    assert res.reward is None and "HTTP 500" in res.error
    assert res.rule_score == 1.0  # the component that worked is kept for inspection
    assert v.metrics["judge_errors"] == 1 and v.metrics["rewards_none"] == 1
    assert all(x.passed is None for x in res.verdicts if x.kind == "llm")


def test_judge_failure_policies_zero_and_raise():
    judge = FakeJudge(lambda req: "unparseable answer")
    res = Verifier(mode="hybrid", judge=judge, on_judge_error="zero").verify(REC, GOOD)
    assert res.reward == 0.0 and "on_judge_error=zero" in res.policy
    with pytest.raises(JudgeError, match="unparseable"):
        Verifier(mode="hybrid", judge=judge, on_judge_error="raise").verify(REC, GOOD)


def test_think_is_stripped_before_verification():
    judge = FakeJudge()
    res = Verifier(mode="hybrid", judge=judge).verify(REC, "<think>a, b, c</think>\nWhat a sunny happy day")
    assert res.reward == 1.0
    assert judge.requests[0].response == "What a sunny happy day"
    kept = Verifier(mode="rule", strip_think=False).verify(REC, "<think>a, b</think>What a sunny happy day")
    assert kept.reward == 0.5


def test_bad_config_is_a_params_error():
    with pytest.raises(ParamsError, match="mode"):
        Verifier(mode="code-only")
    with pytest.raises(ParamsError, match="needs a judge"):
        Verifier(mode="hybrid")
    with pytest.raises(ParamsError, match="unknown verifier key"):
        VerifierConfig.from_dict({"mdoe": "rule"})


def test_columns_round_trip():
    back = record_from_columns(record_to_columns(REC))
    assert back == Record(REC.id, REC.prompt, REC.constraints)
    chat = record_from_columns({**record_to_columns(REC), "prompt": [{"role": "user", "content": "hello"}]})
    assert chat.prompt == "hello"


# ---- dataset-supplied code through the sandbox --------------------------------------------------

CODE_OK = "def check_following(instruction, response):\n    return len(response.split()) >= 3"
CODE_ECHO = "def check_following(instruction, response):\n    return instruction == 'instruction'"
CODE_HANG = "def check_following(instruction, response):\n    while True:\n        pass"


@pytest.fixture(scope="module")
def pool():
    from verif_nb.sandbox import SandboxPool

    with SandboxPool(workers=1, timeout_s=0.5) as p:
        yield p


def test_dataset_code_runs_in_sandbox_with_instruction_switch(pool):
    rec = Record(
        "d",
        "the real prompt",
        [Constraint("[rule] Echo", "rule", code=CODE_ECHO), Constraint("[rule] Length", "rule", code=CODE_OK)],
    )
    literal = Verifier(mode="rule", sandbox=pool).verify(rec, "one two three")
    assert literal.reward == 1.0
    real = Verifier(mode="rule", sandbox=pool, instruction_arg="prompt").verify(rec, "one two three")
    assert real.reward == 0.5


def test_rule_error_policies(pool):
    rec = Record(
        "h", "p", [Constraint("[rule] Hang", "rule", code=CODE_HANG), Constraint("[rule] Length", "rule", code=CODE_OK)]
    )
    v = Verifier(mode="rule", sandbox=pool)
    res = v.verify(rec, "one two three")
    assert res.reward is None and "timed out" in res.error and v.metrics["rule_errors"] == 1
    skip = Verifier(mode="rule", sandbox=pool, on_rule_error="skip").verify(rec, "one two three")
    assert skip.reward == 1.0 and "skip" in skip.policy
    zero = Verifier(mode="rule", sandbox=pool, on_rule_error="zero").verify(rec, "one two three")
    assert zero.reward == 0.5 and "zero" in zero.policy


@pytest.mark.parametrize(
    "params, key",
    [
        ({"mode": "rule", "combne": "mean"}, "combne"),
        ({"mode": "llm", "judge": {"modle": "m"}}, "modle"),
    ],
)
def test_from_params_names_a_misspelt_key_as_params_error(params, key):
    # the verl reward path builds its verifier through from_params: a typo must say which key, not TypeError
    with pytest.raises(ParamsError, match=f"unknown .* key\\(s\\) \\['{key}'\\]"):
        Verifier.from_params(params)


def test_from_params_reads_the_judge_block_into_the_typed_config():
    v = Verifier.from_params({"mode": "hybrid", "judge": {"model": "m", "concurrency": 2}})
    assert (v.config.judge.model, v.config.judge.concurrency) == ("m", 2)
    with pytest.raises(ParamsError, match="needs a judge"):
        Verifier.from_params({"mode": "hybrid"})


def test_sandbox_settings_reach_the_pool():
    settings = {"mode": "rule", "sandbox_workers": 1, "sandbox_spares": 3, "sandbox_timeout_s": 1.5}
    config = VerifierConfig.from_dict(settings)
    with Verifier(config) as verifier:
        pool = verifier.sandbox
        assert (pool.workers, pool.spares, pool.timeout_s) == (1, 3, 1.5)
    with pytest.raises(ParamsError, match="spares"):
        _ = Verifier(VerifierConfig.from_dict({"mode": "rule", "sandbox_spares": 0})).sandbox
