"""Several judge servers behind one client: configuration, least-outstanding choice, back-off, shared cache,
and a server killed in the middle of a run."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.stub_judge_server import StubJudgeServer, closed_port
from verif_nb.errors import ParamsError
from verif_nb.judge import JudgeClient, JudgeConfig, JudgeRequest
from verif_nb.judge.cli import add_judge_arguments, judge_config_from_args
from verif_nb.judge.endpoints import EndpointPool, split_base_urls

ROOT = Path(__file__).resolve().parent.parent
A, B, C = "http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1", "http://127.0.0.1:8003/v1"


def requests(n: int, tag: str = "r") -> list[JudgeRequest]:
    return [JudgeRequest.score("Say hi.", f"{tag} response {i}", ["Be polite."]) for i in range(n)]


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[A, B], f"{A},{B}", f" {A}/ , {B} ", [f"{A},{B}"], [A, B, A]])
def test_base_url_takes_a_list_or_a_comma_separated_string(value):
    config = JudgeConfig(base_url=value)
    assert split_base_urls(config.base_url) == [A, B]
    assert JudgeClient(config).endpoints.urls == [A, B]
    assert JudgeConfig.from_dict(config.to_dict()).base_url == config.base_url  # round-trips through params


@pytest.mark.parametrize("bad", ["", [], ",", "127.0.0.1:8000/v1", [A, 8000]])
def test_bad_base_urls_are_params_errors(bad):
    with pytest.raises(ParamsError, match="base_url"):
        JudgeConfig(base_url=bad)


def test_params_file_judge_block_with_a_list():
    from verif_nb.verifier import Verifier

    verifier = Verifier.from_params({"mode": "hybrid", "judge": {"base_url": [A, B], "model": "m"}})
    assert verifier.judge.endpoints.urls == [A, B]


@pytest.mark.parametrize(
    "argv, urls",
    [
        ([], ["http://127.0.0.1:8088/v1"]),
        (["--judge-base-url", A], [A]),
        (["--judge-base-url", A, "--judge-base-url", B], [A, B]),
        (["--judge-base-url", f"{A},{B}", "--judge-base-url", C], [A, B, C]),
    ],
)
def test_cli_judge_base_url_repeats_and_commas(argv, urls):
    import argparse

    parser = argparse.ArgumentParser()
    add_judge_arguments(parser)
    config = judge_config_from_args(parser.parse_args(argv))
    assert split_base_urls(config.base_url) == urls


# --- the pool ------------------------------------------------------------------------------------


def test_least_outstanding_server_gets_the_next_attempt():
    pool = EndpointPool([A, B, C])
    held = [pool.lease() for _ in range(3)]
    assert sorted(h.url for h in held) == [A, B, C]  # one each while all are idle
    held[0].release()
    assert pool.lease().url == held[0].url  # the only server with nothing outstanding
    assert [s["outstanding"] for s in pool.snapshot()] == [1, 1, 1]


def test_failing_server_is_backed_off_then_tried_again():
    clock = Clock()
    pool = EndpointPool([A, B], cooldown_s=30, clock=clock)
    lease = pool.lease()
    failed_url = lease.url
    lease.release("connect")
    others = [pool.lease() for _ in range(4)]
    assert {o.url for o in others} == {B if failed_url == A else A}  # out of rotation, even when busier
    snap = {s["url"]: s for s in pool.snapshot()}
    assert snap[failed_url]["ejections"] == 1 and not snap[failed_url]["in_rotation"]
    assert snap[failed_url]["back_in_s"] == 30
    clock.now += 30
    assert pool.lease().url == failed_url  # back after the back-off, and now the least busy


def test_request_errors_do_not_eject_a_server():
    pool = EndpointPool([A, B])
    lease = pool.lease()
    lease.release("http_4xx")  # the request was bad, not the server
    snap = {s["url"]: s for s in pool.snapshot()}
    assert snap[lease.url]["failures"] == 1 and snap[lease.url]["ejections"] == 0 and snap[lease.url]["in_rotation"]


def test_when_every_server_is_out_the_first_to_return_is_used():
    clock = Clock()
    pool = EndpointPool([A, B], cooldown_s=10, clock=clock)
    first = pool.lease()
    first.release("http_5xx")
    clock.now += 5
    second = pool.lease()
    second.release("timeout")
    assert pool.lease().url == first.url  # back in 5 s, the other in 10 s: no call is parked


def test_release_is_idempotent():
    pool = EndpointPool([A])
    lease = pool.lease()
    lease.release()
    lease.release("connect")
    assert pool.snapshot()[0]["outstanding"] == 0 and pool.snapshot()[0]["failures"] == 0


# --- the client against stub servers -------------------------------------------------------------


def test_calls_are_spread_over_servers_and_concurrency_is_per_server():
    with StubJudgeServer(delay_s=0.05) as one, StubJudgeServer(delay_s=0.05) as two:
        client = JudgeClient(JudgeConfig(base_url=[one.url, two.url], model="stub-judge", concurrency=3, backoff_s=0.0))
        outcomes = client.run_many(requests(40), progress=False)
    assert all(o.passed is True for o in outcomes)
    assert one.calls + two.calls == 40 and min(one.calls, two.calls) >= 15
    assert one.max_in_flight <= 3 and two.max_in_flight <= 3 and one.max_in_flight + two.max_in_flight > 3
    assert [s["attempts"] for s in client.endpoints.snapshot()] == [one.calls, two.calls]


def test_a_failing_server_is_taken_out_and_counted_and_its_calls_retried_elsewhere():
    with StubJudgeServer(fault="500_storm") as bad, StubJudgeServer() as good:
        client = JudgeClient(
            JudgeConfig(
                base_url=[bad.url, good.url],
                model="stub-judge",
                concurrency=2,
                backoff_s=0.0,
                max_retries=2,
                endpoint_cooldown_s=60,
            )
        )
        outcomes = client.run_many(requests(30), progress=False)
        bad_url = bad.url
    assert all(o.passed is True for o in outcomes)  # every call ended with a verdict from the good server
    assert 1 <= bad.calls <= 2  # the calls in flight when it first failed; then out of rotation
    snap = {s["url"]: s for s in client.endpoints.snapshot()}
    assert snap[bad_url]["ejections"] == 1 and snap[bad_url]["failures"] == bad.calls
    assert client.stats.retries == {"http_5xx": bad.calls} and client.stats.failed == 0


def test_the_answer_cache_is_shared_by_all_servers(tmp_path):
    with StubJudgeServer() as one, StubJudgeServer() as two:
        config = JudgeConfig(base_url=[one.url, two.url], model="stub-judge", cache_dir=str(tmp_path))
        with JudgeClient(config) as client:
            client.run_many(requests(12), progress=False)
        assert one.calls > 0 and two.calls > 0 and one.calls + two.calls == 12
        one.reset(), two.reset()
        # the same judgments, now with one server gone and one new: every answer comes from the cache
        with JudgeClient(config.replace(base_url=[two.url, f"http://127.0.0.1:{closed_port()}/v1"])) as client:
            outcomes = client.run_many(requests(12), progress=False)
        assert all(o.cached and o.passed for o in outcomes) and two.calls == 0
        assert client.stats.cache_hits == 12 and client.stats.calls == 0


def _stub_process(delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "stub_judge_server.py"), "--delay", str(delay)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("READY "), line
    return proc, line.split()[1]


def test_one_of_two_servers_killed_mid_run_loses_no_verification():
    survivor, survivor_url = _stub_process(0.05)
    victim, victim_url = _stub_process(0.05)
    try:
        client = JudgeClient(
            JudgeConfig(
                base_url=[victim_url, survivor_url],
                model="stub-judge",
                concurrency=4,
                backoff_s=0.05,
                max_retries=3,
                timeout_s=10,
                endpoint_cooldown_s=60,
            )
        )
        n = 300
        killer = threading.Timer(0.5, victim.kill)  # a GPU node lost while calls are in flight
        killer.start()
        start = time.perf_counter()
        outcomes = client.run_many(requests(n, "kill"), progress=False)
        seconds = time.perf_counter() - start
        killer.join()
    finally:
        for proc in (victim, survivor):
            proc.kill()
            proc.wait()
    assert victim.returncode is not None and seconds > 0.5  # it really died in the middle of the run
    verdicts = [o for o in outcomes if o.passed is not None]
    failed = [o for o in outcomes if o.passed is None]
    assert len(outcomes) == n and len(verdicts) + client.stats.failed == n  # none lost: a verdict or counted
    assert all(o.error for o in failed)
    snap = {s["url"]: s for s in client.endpoints.snapshot()}
    assert snap[victim_url]["ejections"] >= 1 and snap[victim_url]["failures"] >= 1
    assert snap[survivor_url]["attempts"] > snap[victim_url]["attempts"]  # the survivor took over
    assert sum(s["outstanding"] for s in snap.values()) == 0
