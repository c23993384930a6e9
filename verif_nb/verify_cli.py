"""``verif-nb verify``: score a responses file against a dataset with any verifier mode.

Example:
    verif-nb verify --data verif_nb/data/sample/verinstruct_sample_a.jsonl \\
        --responses resp.jsonl --mode rule --out out.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from verif_nb.errors import DataError
from verif_nb.verifier import COMBINES, INSTRUCTION_ARGS, JUDGE_ERROR_POLICIES, JUDGE_GRANULARITIES, MODES, \
    RULE_ERROR_POLICIES, Verifier, VerifierConfig


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--judge-*`` options shared by every command that talks to a judge."""
    g = parser.add_argument_group("judge (modes llm, llm_all, hybrid)")
    g.add_argument("--judge-base-url", action="append", metavar="URL[,URL...]",
                   help="OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp, Ollama, OpenAI); give it several "
                        "times or comma-separated for several servers of one model (default http://127.0.0.1:8088/v1)")
    g.add_argument("--judge-model", default="qwen2.5-coder-0.5b-instruct", help="model name the endpoint serves")
    g.add_argument("--judge-template", default="verif_score_en", help="prompt template name")
    g.add_argument("--judge-api-key-env", default="VERIF_JUDGE_API_KEY",
                   help="environment variable holding the API key (never the key itself)")
    g.add_argument("--judge-max-tokens", type=int, default=512)
    g.add_argument("--judge-concurrency", type=int, default=4, help="requests in flight at once, per server")
    g.add_argument("--judge-cache", default=None, help="folder of the persistent judge cache (off when not given)")
    g.add_argument("--judge-timeout", type=float, default=120.0, help="seconds per judge call")
    g.add_argument("--judge-max-retries", type=int, default=4, help="retries on 429/5xx/connection errors/timeouts")
    g.add_argument("--judge-backoff", type=float, default=0.5, help="first retry delay in seconds (doubles each time)")
    g.add_argument("--judge-logprobs", action="store_true", help="record the judge's P(yes) where the server returns it")


def judge_config_from_args(args: argparse.Namespace) -> Any:
    """A JudgeConfig from the ``--judge-*`` options."""
    from verif_nb.judge import JudgeConfig

    base_url = ",".join(args.judge_base_url) if args.judge_base_url else "http://127.0.0.1:8088/v1"
    return JudgeConfig(base_url=base_url, model=args.judge_model, template=args.judge_template,
                       api_key_env=args.judge_api_key_env, max_tokens=args.judge_max_tokens,
                       concurrency=args.judge_concurrency, cache_dir=args.judge_cache,
                       timeout_s=args.judge_timeout, max_retries=args.judge_max_retries,
                       backoff_s=args.judge_backoff, logprobs=args.judge_logprobs)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``verif-nb verify``."""
    p = sub.add_parser("verify", help="verify responses against a dataset's constraints",
                       description="Score RESP.jsonl rows {id, response} against the records of DATA.")
    p.add_argument("--data", required=True, help="dataset: VerInstruct/IFEval jsonl, verl parquet, or a HF id")
    p.add_argument("--format", default="auto", help="auto | verinstruct | verl | ifeval | ifbench")
    p.add_argument("--lenient", action="store_true", help="skip (and report) bad data rows instead of stopping")
    p.add_argument("--untagged", default="error", help="untagged VerInstruct checkers: error | rule | llm | drop")
    p.add_argument("--responses", required=True, help="jsonl rows {\"id\": ..., \"response\": ...}; several per id allowed")
    p.add_argument("--out", required=True, help="output jsonl: one row per response")
    p.add_argument("--mode", choices=MODES, default="rule")
    p.add_argument("--combine", choices=COMBINES, default="product")
    p.add_argument("--rule-weight", type=float, default=0.5, help="weight of the rule score with --combine weighted")
    p.add_argument("--judge-granularity", choices=JUDGE_GRANULARITIES, default="response")
    p.add_argument("--on-judge-error", choices=JUDGE_ERROR_POLICIES, default="none")
    p.add_argument("--on-rule-error", choices=RULE_ERROR_POLICIES, default="none")
    p.add_argument("--instruction-arg", choices=INSTRUCTION_ARGS, default="literal",
                   help="first argument of check_following: the literal 'instruction' (VerIF) or the prompt")
    p.add_argument("--workers", type=int, default=2, help="sandbox worker processes")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per dataset check")
    add_judge_arguments(p)
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Run the command; writes ``--out`` and prints one JSON summary line."""
    from verif_nb.data import load_records, read_responses, write_jsonl

    loaded = load_records(args.data, format=args.format, lenient=args.lenient, untagged=args.untagged)
    by_id = {r.id: r for r in loaded.records}
    responses = read_responses(args.responses)
    items = []
    for n, (rid, text) in enumerate(responses, 1):
        if rid not in by_id:
            raise DataError(args.responses, n, "id", f"no record {rid!r} in {args.data}")
        items.append((by_id[rid], text))
    config = VerifierConfig(mode=args.mode, combine=args.combine, rule_weight=args.rule_weight,
                            judge_granularity=args.judge_granularity, on_judge_error=args.on_judge_error,
                            on_rule_error=args.on_rule_error, instruction_arg=args.instruction_arg,
                            sandbox_workers=args.workers, sandbox_timeout_s=args.timeout)
    judge = judge_config_from_args(args) if args.mode != "rule" else None
    start = time.perf_counter()
    with Verifier(config, judge=judge) as verifier:
        results = verifier.verify_batch(items, progress=True)
        judge_stats = {**verifier.judge.stats.to_dict(), "endpoints": verifier.judge.endpoints.snapshot()} \
            if judge is not None else None
        metrics = dict(verifier.metrics)
    seconds = time.perf_counter() - start
    write_jsonl(Path(args.out), [r.to_dict() for r in results])
    rewards = [r.reward for r in results if r.reward is not None]
    summary = {"responses": len(results), "mode": args.mode, "combine": args.combine,
               "mean_reward": statistics.fmean(rewards) if rewards else None,
               "rewards_none": len(results) - len(rewards), "records": len(loaded.records),
               "skipped_rows": len(loaded.skipped), "seconds": round(seconds, 3), "metrics": metrics,
               "judge": judge_stats, "out": str(args.out)}
    print(json.dumps(summary))
    return 0
