"""The judge client against a local fault-injecting stub server: retries, timeouts, parsing, cache, stats."""

from __future__ import annotations

import asyncio

import pytest

from tests.stub_judge_server import GARBAGE_ANSWER, StubJudgeServer, closed_port
from verif_nb.errors import JudgeError, ParamsError
from verif_nb.judge import JudgeClient, JudgeConfig, JudgeRequest, register_template

FAST = {"backoff_s": 0.0, "timeout_s": 5.0}


def config_for(url: str, **kw) -> JudgeConfig:
    return JudgeConfig(base_url=url, **{"model": "stub-judge", **FAST, **kw})


@pytest.fixture
def stub():
    with StubJudgeServer() as server:
        yield server


def test_score_response_sends_one_openai_request_and_reads_usage(stub):
    client = JudgeClient(config_for(stub.url, max_tokens=77))
    out = client.score_response("Write a poem.", "Roses are red.", ["Rhyme.", "Mention a colour."])
    assert (out.passed, out.error, out.raw, out.cached, out.attempts) == (True, None, stub.answer, False, 1)
    assert out.prompt_tokens > 0 and out.completion_tokens > 0 and out.latency_s > 0
    body = stub.requests[0]
    assert body["model"] == "stub-judge" and body["temperature"] == 0.0 and body["max_tokens"] == 77
    assert "logprobs" not in body
    user = body["messages"][-1]["content"]
    assert "Roses are red." in user and "1. Rhyme.\n2. Mention a colour." in user
    assert client.stats.calls == 1 and client.stats.prompt_tokens == out.prompt_tokens


def test_judge_constraint_uses_the_per_constraint_template():
    with StubJudgeServer(answer="No, it is not all lowercase.") as stub:
        out = JudgeClient(config_for(stub.url)).judge_constraint("Say hi.", "Hi THERE", "Use lowercase only.")
        assert out.passed is False and out.template == "verif_judge_en"
        assert "Use lowercase only." in stub.requests[0]["messages"][-1]["content"]


@pytest.mark.parametrize("fault, retried_kind", [("429_then_ok", "http_429"), ("500_then_ok", "http_5xx")])
def test_transient_errors_are_retried_until_success(fault, retried_kind):
    with StubJudgeServer(fault=fault, fail_first=2) as stub:
        client = JudgeClient(config_for(stub.url, max_retries=4))
        out = client.score_response("p", "r", ["c"])
        assert out.passed is True and out.attempts == 3 and stub.calls == 3
        assert client.stats.retries == {retried_kind: 2} and client.stats.failed == 0
        assert client.stats.attempts == 3 and client.stats.calls == 1


def test_backoff_doubles_between_retries():
    with StubJudgeServer(fault="500_storm") as stub:
        client = JudgeClient(config_for(stub.url, max_retries=2, backoff_s=0.1))
        out = client.score_response("p", "r", ["c"])
        # two sleeps: 0.1 then 0.2 s
        assert out.latency_s >= 0.3 and stub.calls == 3


def test_500_storm_gives_none_after_the_retries():
    with StubJudgeServer(fault="500_storm") as stub:
        client = JudgeClient(config_for(stub.url, max_retries=2))
        out = client.score_response("p", "r", ["c"])
        assert out.passed is None and out.raw is None
        assert "3 attempt(s)" in out.error and "HTTP 500" in out.error
        assert stub.calls == 3 and client.stats.failures == {"http_5xx": 1} and client.stats.retries == {"http_5xx": 2}


def test_slow_server_times_out_per_attempt():
    with StubJudgeServer(fault="slow", slow_s=1.5) as stub:
        client = JudgeClient(config_for(stub.url, timeout_s=0.2, max_retries=1))
        out = client.score_response("p", "r", ["c"])
        assert out.passed is None and "no answer within 0.2 s" in out.error
        assert stub.calls == 2 and client.stats.failures == {"timeout": 1}
        assert out.latency_s < 1.5  # it did not wait for the slow answers


def test_garbage_answer_is_unparseable_with_raw_recorded():
    with StubJudgeServer(fault="garbage") as stub:
        client = JudgeClient(config_for(stub.url))
        out = client.score_response("p", "r", ["c"])
        assert out.passed is None and out.raw == GARBAGE_ANSWER and "[[1]]" in out.error
        assert stub.calls == 1 and client.stats.failures == {"unparseable": 1}  # no retry of a real answer


@pytest.mark.parametrize(
    "answer, method, expected",
    [
        ("[[1]] fine", "score", True),
        ("[[0]] no", "score", False),
        ("Yes", "judge", True),
        ("No", "judge", False),
    ],
)
def test_think_sections_are_skipped_when_parsing(answer, method, expected):
    # the stub's think section contains "[[0]] / No", which must not count
    with StubJudgeServer(fault="think", answer=answer) as stub:
        client = JudgeClient(config_for(stub.url))
        out = client.score_response("p", "r", ["c"]) if method == "score" else client.judge_constraint("p", "r", "c")
        assert out.passed is expected and out.raw.startswith("<think>")


def test_policy_response_is_cut_after_think_before_judging(stub):
    JudgeClient(config_for(stub.url)).score_response("p", "<think>SECRET PLAN</think>Final text", ["c"])
    user = stub.requests[0]["messages"][-1]["content"]
    assert "Final text" in user and "SECRET PLAN" not in user


def test_non_json_reply_is_a_counted_bad_response():
    with StubJudgeServer(fault="bad_json") as stub:
        client = JudgeClient(config_for(stub.url))
        out = client.score_response("p", "r", ["c"])
        assert out.passed is None and "non-JSON" in out.error and client.stats.failures == {"bad_response": 1}


def test_unauthorized_is_not_retried_and_names_the_key_variable():
    with StubJudgeServer(fault="unauthorized") as stub:
        client = JudgeClient(config_for(stub.url, max_retries=3, api_key_env="MY_JUDGE_KEY"))
        out = client.score_response("p", "r", ["c"])
        assert out.passed is None and "HTTP 401" in out.error and "MY_JUDGE_KEY" in out.error
        assert stub.calls == 1 and client.stats.failures == {"http_4xx": 1}


def test_api_key_is_read_from_the_named_variable(stub, monkeypatch):
    monkeypatch.delenv("TEST_JUDGE_KEY", raising=False)
    client = JudgeClient(config_for(stub.url, api_key_env="TEST_JUDGE_KEY"))
    client.score_response("p", "r", ["c"])
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test-123")
    client.score_response("p", "r2", ["c"])
    assert "Authorization" not in stub.headers[0]
    assert stub.headers[1]["Authorization"] == "Bearer sk-test-123"


def test_closed_port_fails_fast_as_a_connect_failure():
    client = JudgeClient(config_for(f"http://127.0.0.1:{closed_port()}/v1", max_retries=1))
    out = client.score_response("p", "r", ["c"])
    assert out.passed is None and "cannot reach" in out.error and client.stats.failures == {"connect": 1}
    assert client.stats.retries == {"connect": 1}


def test_every_failure_is_a_counted_none_never_false():
    """Closed port, 500 storm and garbage answers: passed=None each time, counted, never 0/False."""
    outcomes = []
    failed_total = 0
    with StubJudgeServer(fault="500_storm") as storm, StubJudgeServer(fault="garbage") as garbage:
        for url in (f"http://127.0.0.1:{closed_port()}/v1", storm.url, garbage.url):
            client = JudgeClient(config_for(url, max_retries=1))
            batch = client.run_many(
                [JudgeRequest.score("p", f"r{i}", ["c"]) for i in range(3)] + [JudgeRequest.judge("p", "r", "c")],
                progress=False,
            )
            outcomes += batch
            failed_total += client.stats.failed
            assert client.stats.failed == len(batch) == 4
    assert all(o.passed is None for o in outcomes)
    assert not any(o.passed is False or o.passed == 0 for o in outcomes)
    assert all(o.error for o in outcomes) and failed_total == 12
    assert [o.raw for o in outcomes[-4:]] == [GARBAGE_ANSWER] * 4


def test_run_many_bounds_concurrency_and_keeps_order():
    def answer(body):
        return "[[1]]" if "GOOD" in body["messages"][-1]["content"] else "[[0]]"

    with StubJudgeServer(answer=answer, delay_s=0.15) as stub:
        client = JudgeClient(config_for(stub.url, concurrency=3))
        pattern = [True, False, False, True, True, False, True, False, False]
        reqs = [
            JudgeRequest.score("p", ("GOOD " if good else "BAD ") + str(i), ["c"]) for i, good in enumerate(pattern)
        ]
        outs = client.run_many(reqs, progress=False)
        assert [o.passed for o in outs] == pattern
        assert stub.max_in_flight == 3 and stub.calls == len(pattern)
        assert client.stats.calls == len(pattern)


def test_run_many_works_inside_a_running_event_loop(stub):
    client = JudgeClient(config_for(stub.url))

    async def notebook_cell():
        return client.run_many([JudgeRequest.score("p", "r", ["c"])], progress=False)

    assert asyncio.run(notebook_cell())[0].passed is True


def test_arun_many(stub):
    client = JudgeClient(config_for(stub.url))
    outs = asyncio.run(client.arun_many([JudgeRequest.judge("p", "r", "c", template="verif_score_en")], progress=False))
    assert outs[0].passed is True and outs[0].template == "verif_score_en"


def test_cache_warm_rerun_makes_zero_calls(stub, tmp_path):
    reqs = [JudgeRequest.score("p", f"response {i}", ["c1", "c2"]) for i in range(5)]
    cold = JudgeClient(config_for(stub.url, cache_dir=str(tmp_path)))
    first = cold.run_many(reqs, progress=False)
    assert stub.calls == 5 and cold.stats.cache_misses == 5 and cold.stats.cache_hits == 0
    cold.close()
    warm = JudgeClient(config_for(stub.url, cache_dir=str(tmp_path)))
    second = warm.run_many(reqs, progress=False)
    assert stub.calls == 5, "a warm re-run must not call the server"
    assert warm.stats.calls == 0 and warm.stats.cache_hits == 5 and warm.stats.cache_misses == 0
    assert warm.stats.prompt_tokens == 0  # nothing spent
    assert [o.passed for o in second] == [o.passed for o in first] and all(o.cached for o in second)
    assert second[0].prompt_tokens == first[0].prompt_tokens  # the original cost is kept


@pytest.mark.parametrize("change", ["model", "constraints", "response", "template", "logprobs"])
def test_cache_key_covers_what_changes_the_answer(stub, tmp_path, change):
    register_template(
        {"name": "test_cache_tpl", "user": "{response} {constraints}", "parser": "bracket"}, overwrite=True
    )
    base = dict(model="m1", template="test_cache_tpl")
    JudgeClient(config_for(stub.url, cache_dir=str(tmp_path), **base)).score_response("p", "r", ["c"])
    kw, resp, cons = dict(base), "r", ["c"]
    if change == "model":
        kw["model"] = "m2"
    elif change == "constraints":
        cons = ["c", "d"]
    elif change == "response":
        resp = "r!"
    elif change == "template":
        register_template(
            {"name": "test_cache_tpl", "user": "Judge: {response} {constraints}", "parser": "bracket"}, overwrite=True
        )
    else:
        kw["logprobs"] = True
    client = JudgeClient(config_for(stub.url, cache_dir=str(tmp_path), **kw))
    client.score_response("p", resp, cons)
    assert client.stats.cache_misses == 1 and stub.calls == 2


def test_transport_failures_are_not_cached(tmp_path):
    with StubJudgeServer(fault="500_storm") as storm:
        JudgeClient(config_for(storm.url, cache_dir=str(tmp_path), max_retries=0)).score_response("p", "r", ["c"])
    with StubJudgeServer() as ok:
        client = JudgeClient(config_for(ok.url, cache_dir=str(tmp_path)))
        assert client.score_response("p", "r", ["c"]).passed is True and ok.calls == 1


@pytest.mark.parametrize(
    "answer, p_yes, expected",
    [
        ("[[1]] ok", 0.8, 0.8),
        ("[[0]] no", 0.3, 0.3),
        ("Yes", 0.9, 0.9),
        ("No.", 0.2, 0.2),
    ],
)
def test_logprobs_give_p_yes(answer, p_yes, expected):
    with StubJudgeServer(answer=answer, p_yes=p_yes) as stub:
        client = JudgeClient(config_for(stub.url, logprobs=True, top_logprobs=5))
        out = client.score_response("p", "r", ["c"]) if "[[" in answer else client.judge_constraint("p", "r", "c")
        assert stub.requests[0]["logprobs"] is True and stub.requests[0]["top_logprobs"] == 5
        assert out.p_yes == pytest.approx(expected)


def test_p_yes_is_none_without_logprobs_or_verdict(stub):
    assert JudgeClient(config_for(stub.url)).score_response("p", "r", ["c"]).p_yes is None
    with StubJudgeServer(fault="garbage") as garbage:
        assert JudgeClient(config_for(garbage.url, logprobs=True)).score_response("p", "r", ["c"]).p_yes is None


def test_stats_percentiles_and_reset():
    with StubJudgeServer(delay_s=0.05) as stub:
        client = JudgeClient(config_for(stub.url, concurrency=2))
        client.run_many([JudgeRequest.score("p", f"r{i}", ["c"]) for i in range(6)], progress=False)
        stats = client.stats.to_dict()
        assert stats["calls"] == 6 and stats["failed"] == 0
        assert 0.05 <= stats["latency_p50_s"] <= stats["latency_p90_s"] <= stats["latency_p99_s"]
        client.stats.reset()
        assert client.stats.to_dict()["calls"] == 0 and client.stats.to_dict()["latency_p50_s"] is None


def test_configuration_errors_surface_before_any_call(stub):
    with pytest.raises(JudgeError, match="unknown judge template"):
        JudgeClient(config_for(stub.url, template="nope"))
    client = JudgeClient(config_for(stub.url))
    with pytest.raises(JudgeError, match="one constraint per call"):
        client.run_many([JudgeRequest("p", "r", ["a", "b"], scope="one")])
    with pytest.raises(JudgeError, match="at least one constraint"):
        client.score_response("p", "r", [])
    with pytest.raises(ParamsError):
        JudgeConfig(concurrency=0)
    with pytest.raises(ParamsError, match="unknown judge key"):
        JudgeConfig.from_dict({"modle": "x"})
    assert stub.calls == 0


@pytest.mark.parametrize(
    "preset, model, max_tokens",
    [
        ("qwq-32b-vllm", "Qwen/QwQ-32B", 8192),
        ("if-verifier-7b-vllm", "THU-KEG/IF-Verifier-7B", 4096),
    ],
)
def test_gpu_presets_build_reasoning_judge_requests(preset, model, max_tokens):
    """The paper's vLLM setups, checked by configuration: model name, long answers, Chinese llm_score prompt."""
    with StubJudgeServer(fault="think", answer="[[1]]\n所有约束均满足。") as stub:
        config = JudgeConfig.preset(preset, base_url=stub.url, backoff_s=0.0)
        assert config.temperature == 0.0 and config.timeout_s >= 600 and config.concurrency >= 32
        client = JudgeClient(config)
        out = client.score_response("写一首诗。", "春眠不觉晓", ["语气要欢快。", "不超过四行。"])
        body = stub.requests[0]
        assert body["model"] == model and body["max_tokens"] == max_tokens and body["temperature"] == 0.0
        assert (
            "【约束】" in body["messages"][-1]["content"]
            and "1. 语气要欢快。\n2. 不超过四行。" in body["messages"][-1]["content"]
        )
        assert out.passed is True  # verdict read after </think>, despite the [[0]] inside it
        client.judge_constraint("写一首诗。", "春眠不觉晓", "不超过四行。")
        assert "只回答“是”" in stub.requests[1]["messages"][-1]["content"]


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ParamsError, match="qwq-32b-vllm"):
        JudgeConfig.preset("gpt-17")


def test_template_dir_option_registers_user_templates(stub, tmp_path):
    (tmp_path / "terse.yaml").write_text(
        "name: test_terse_dir\nparser: bracket\n"
        "user: 'Q: {prompt} A: {response} Rules: {constraints} -> [[1]] or [[0]]'\n"
    )
    client = JudgeClient(config_for(stub.url, template_dir=str(tmp_path), template="test_terse_dir"))
    assert client.score_response("p", "r", ["c"]).passed is True
    assert stub.requests[0]["messages"] == [{"role": "user", "content": "Q: p A: r Rules: 1. c -> [[1]] or [[0]]"}]
