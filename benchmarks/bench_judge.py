"""Judge-client benchmarks: throughput vs. the server's raw capacity, calls per response, warm re-runs.

1. **Throughput** — a stub OpenAI-compatible server (``tests/stub_judge_server.py``, its own process)
   answers every request after a fixed delay. The same chat requests are sent (a) directly with N
   concurrent httpx connections — the server's raw capacity — and (b) through
   ``JudgeClient.run_many`` with ``concurrency=N`` (without and with the sqlite cache, cold). Goal:
   client >= 90% of raw. Repeated and interleaved; medians reported. Also the client's own cost per
   call: one connection, a stub that answers at once, client vs. raw.
2. **Calls per response** — the sample dataset's responses judged on their soft constraints in VerIF
   score mode (one call per response) and per-constraint mode, counted at the stub; then a warm
   re-run of the same verification with the cache, which must make 0 calls.
3. **Real judge** (``--llama``) — the embedded llama.cpp server with the 0.5B GGUF, 2 threads:
   seconds per judgment on IFEval prompts/responses, and client vs. raw throughput on that server.

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_judge.py [--llama | --llama-only] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
IFEVAL = ROOT.parent / "shared" / "data" / "ifeval"

from tests.stub_judge_server import StubJudgeServer  # noqa: E402
from verif_nb.judge import JudgeClient, JudgeConfig, JudgeRequest, get_template  # noqa: E402


def request_bodies(config: JudgeConfig, requests: list[JudgeRequest]) -> list[dict]:
    """The JSON bodies the client sends for ``requests`` (rendered the same way, for the raw baseline)."""
    bodies = []
    for r in requests:
        template = get_template(r.template or (config.template if r.scope == "all" else config.judge_template))
        body = {
            "model": config.model,
            "messages": template.render(r.prompt, r.response, r.constraints),
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
        }
        if config.logprobs:
            body.update(logprobs=True, top_logprobs=config.top_logprobs)
        bodies.append(body)
    return bodies


async def _raw(url: str, bodies: list[dict], concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=600, trust_env=False) as http:

        async def one(body: dict) -> None:
            async with semaphore:
                reply = await http.post(f"{url}/chat/completions", json=body)
                reply.raise_for_status()
                reply.json()

        start = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - start


def raw_seconds(url: str, bodies: list[dict], concurrency: int) -> float:
    """Wall time to send ``bodies`` directly with ``concurrency`` connections."""
    return asyncio.run(_raw(url, bodies, concurrency))


def client_run(config: JudgeConfig, requests: list[JudgeRequest], allow_unparseable: bool = False):
    """(seconds, client, outcomes) of one ``run_many``; transport failures abort the benchmark."""
    client = JudgeClient(config)
    start = time.perf_counter()
    outcomes = client.run_many(requests, progress=False)
    elapsed = time.perf_counter() - start
    failed = [o for o in outcomes if o.passed is None and not (allow_unparseable and o.raw is not None)]
    if failed:
        raise RuntimeError(f"{len(failed)} judge calls failed in the benchmark: {failed[0].error}")
    client.close()
    return elapsed, client, outcomes


def client_seconds(config: JudgeConfig, requests: list[JudgeRequest]) -> tuple[float, JudgeClient]:
    elapsed, client, _ = client_run(config, requests)
    return elapsed, client


def start_stub_process(delay_s: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "stub_judge_server.py"), "--delay", str(delay_s)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"stub server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def sample_requests(n: int) -> list[JudgeRequest]:
    return [
        JudgeRequest.score(
            f"Prompt {i}: write a short text.",
            f"Response number {i}. " + "Some words. " * 40,
            ["Use a friendly tone.", "Mention the number."],
        )
        for i in range(n)
    ]


def bench_throughput(delay_s: float, concurrency: int, n: int, repeats: int) -> dict:
    proc, url = start_stub_process(delay_s)
    try:
        requests = sample_requests(n)
        config = JudgeConfig(base_url=url, model="stub-judge", concurrency=concurrency, backoff_s=0.0)
        bodies = request_bodies(config, requests)
        raw_seconds(url, bodies[: concurrency * 2], concurrency)  # warm-up
        raw_t, client_t, cached_t = [], [], []
        for _ in range(repeats):
            raw_t.append(raw_seconds(url, bodies, concurrency))
            client_t.append(client_seconds(config, requests)[0])
            with tempfile.TemporaryDirectory() as cache_dir:
                cached_t.append(client_seconds(config.replace(cache_dir=cache_dir), requests)[0])
        raw_rps, client_rps, cached_rps = (n / statistics.median(t) for t in (raw_t, client_t, cached_t))
        return {
            "delay_s": delay_s,
            "concurrency": concurrency,
            "requests": n,
            "repeats": repeats,
            "ideal_rps": concurrency / delay_s,
            "raw_rps": round(raw_rps, 1),
            "client_rps": round(client_rps, 1),
            "client_cold_cache_rps": round(cached_rps, 1),
            "client_vs_raw": round(client_rps / raw_rps, 3),
            "client_cold_cache_vs_raw": round(cached_rps / raw_rps, 3),
        }
    finally:
        proc.kill()
        proc.wait()


def bench_overhead(n: int, repeats: int) -> dict:
    """The client's own cost per call: one connection, a stub that answers at once, client vs. raw."""
    proc, url = start_stub_process(0.0)
    try:
        requests = sample_requests(n)
        config = JudgeConfig(base_url=url, model="stub-judge", concurrency=1, backoff_s=0.0)
        bodies = request_bodies(config, requests)
        raw_seconds(url, bodies[:20], 1)
        raw_t, client_t = [], []
        for _ in range(repeats):
            raw_t.append(raw_seconds(url, bodies, 1))
            client_t.append(client_seconds(config, requests)[0])
        raw_ms, client_ms = (1000 * statistics.median(t) / n for t in (raw_t, client_t))
        return {
            "requests": n,
            "repeats": repeats,
            "raw_ms_per_call": round(raw_ms, 2),
            "client_ms_per_call": round(client_ms, 2),
            "client_overhead_ms_per_call": round(client_ms - raw_ms, 2),
        }
    finally:
        proc.kill()
        proc.wait()


def bench_calls_per_response() -> dict:
    from verif_nb.data import load_sample

    records = [r for r in load_sample().records if r.llm_constraints]
    score, judge = [], []
    for record in records:
        soft = [c.description or c.name for c in record.llm_constraints]
        for response in record.responses:
            score.append(JudgeRequest.score(record.prompt, response.text, soft))
            judge += [JudgeRequest.judge(record.prompt, response.text, c) for c in soft]
    with (
        StubJudgeServer(
            answer=lambda body: "[[1]] ok" if "[[1]]" in body["messages"][-1]["content"] else "Yes"
        ) as stub,
        tempfile.TemporaryDirectory() as cache_dir,
    ):
        config = JudgeConfig(base_url=stub.url, model="stub-judge", concurrency=8, backoff_s=0.0, cache_dir=cache_dir)
        _, cold = client_seconds(config, score)
        score_calls = stub.calls
        stub.reset()
        _, per_constraint = client_seconds(config.replace(cache_dir=None), judge)
        judge_calls = stub.calls
        stub.reset()
        warm_t, warm = client_seconds(config, score)
        return {
            "records": len(records),
            "responses": len(score),
            "soft_constraints_judged": len(judge),
            "score_mode_calls": score_calls,
            "score_mode_calls_per_response": score_calls / len(score),
            "per_constraint_calls": judge_calls,
            "per_constraint_calls_per_response": judge_calls / len(score),
            "client_stats_cold": {k: cold.stats.to_dict()[k] for k in ("calls", "cache_hits", "cache_misses")},
            "warm_rerun_server_calls": stub.calls,
            "client_stats_warm": {k: warm.stats.to_dict()[k] for k in ("calls", "cache_hits", "cache_misses")},
            "warm_rerun_seconds": round(warm_t, 3),
        }


def ifeval_requests(n: int) -> list[JudgeRequest]:
    """Per-constraint and score requests on real IFEval prompts and Llama-3.1-8B responses."""
    inputs = [json.loads(line) for line in open(IFEVAL / "input_data.jsonl", encoding="utf-8")]
    responses = {}
    for line in open(IFEVAL / "responses_llama31_8b_instruct.jsonl", encoding="utf-8"):
        row = json.loads(line)
        responses[row["prompt"]] = row["response"]
    out = []
    for row in inputs[:n]:
        kwargs = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in row["kwargs"]]
        constraints = [f"{iid} {json.dumps(kw)}" if kw else iid for iid, kw in zip(row["instruction_id_list"], kwargs)]
        response = responses[row["prompt"]]
        out.append(
            JudgeRequest.judge(row["prompt"], response, constraints[0])
            if len(out) % 2 == 0
            else JudgeRequest.score(row["prompt"], response, constraints)
        )
    return out


def bench_llama(n: int, threads: int) -> dict:
    """Seconds per judgment on the real server, and client vs. raw on the same requests.

    llama.cpp reuses the previous prompt's matching prefix, so client and raw calls alternate over
    the requests in two passes with swapped roles: each side sends every request once, each time
    right after a different request.
    """
    from verif_nb.judge.server import embedded_judge

    requests = ifeval_requests(n)
    load_before = os.getloadavg()[0]
    with embedded_judge("qwen2.5-coder-0.5b", threads=threads, ctx=4096, max_tokens=32) as config:
        config = config.replace(concurrency=1)  # llama.cpp's server answers one request at a time
        bodies = request_bodies(config, requests)
        client_run(config, [JudgeRequest.score("Say hi.", "hi", ["Be brief."])], allow_unparseable=True)  # page in
        client = JudgeClient(config)
        client_t = raw_t = 0.0
        outcomes: dict[int, object] = {}
        for first_is_client in (True, False):
            for i, (request, body) in enumerate(zip(requests, bodies)):
                if (i % 2 == 0) == first_is_client:
                    start = time.perf_counter()
                    outcomes[i] = client.run_many([request], progress=False)[0]
                    client_t += time.perf_counter() - start
                else:
                    raw_t += raw_seconds(config.base_url, [body], 1)
    load_after = os.getloadavg()[0]
    stats = client.stats.to_dict()
    ordered = [outcomes[i] for i in range(n)]
    return {
        "model": "qwen2.5-coder-0.5b (Q4 GGUF)",
        "threads": threads,
        "judgments_per_side": n,
        "seconds_per_judgment": round(client_t / n, 2),
        "latency_p50_s": round(stats["latency_p50_s"], 2),
        "latency_p90_s": round(stats["latency_p90_s"], 2),
        "prompt_tokens_per_judgment": round(stats["prompt_tokens"] / n),
        "completion_tokens_per_judgment": round(stats["completion_tokens"] / n, 1),
        "raw_seconds": round(raw_t, 2),
        "client_seconds": round(client_t, 2),
        "client_vs_raw": round(raw_t / client_t, 3),
        "unparseable": stats["failed"],
        "yes_rate": round(sum(o.passed is True for o in ordered) / n, 3),
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "answers": [
            {
                "template": o.template,
                "raw": o.raw,
                "passed": o.passed,
                "p_yes": None if o.p_yes is None else round(o.p_yes, 3),
                "prompt_tokens": o.prompt_tokens,
                "latency_s": round(o.latency_s, 2),
            }
            for o in ordered
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--setups",
        nargs="+",
        default=["4:0.05", "16:0.2", "16:0.05"],
        help="CONCURRENCY:STUB_DELAY_S pairs for the throughput runs",
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--llama", action="store_true", help="also benchmark the real embedded 0.5B judge")
    parser.add_argument("--llama-only", action="store_true", help="only the real-judge part")
    parser.add_argument("--llama-judgments", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    # `timeout`/Ctrl-C: leave through the context managers, so no judge server is left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result: dict = {}
    if not args.llama_only:
        setups = [(int(c), float(d)) for c, d in (x.split(":") for x in args.setups)]
        result["throughput"] = [bench_throughput(d, c, args.requests, args.repeats) for c, d in setups]
        result["overhead"] = bench_overhead(300, args.repeats)
        result["calls_per_response"] = bench_calls_per_response()
    if args.llama or args.llama_only:
        result["llama"] = bench_llama(args.llama_judgments, args.threads)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
