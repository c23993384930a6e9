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

from verif_nb.errors import DataError
from verif_nb.judge.cli import add_judge_arguments, judge_config_from_args
from verif_nb.settings import add_options, from_options
from verif_nb.verifier._verifier import Verifier
from verif_nb.verifier.config import MODES, VerifierConfig

# VerifierConfig fields offered as options, each spelt --<field-with-dashes> unless renamed here
VERIFIER_FIELDS: tuple[str, ...] = (
    "profile",
    "mode",
    "combine",
    "rule_weight",
    "judge_granularity",
    "on_judge_error",
    "on_rule_error",
    "instruction_arg",
    "strip_think",
    "sandbox_workers",
    "sandbox_timeout_s",
    "sandbox_allow_unsandboxed",
)
_OPTION_NAMES = {
    "sandbox_workers": "--workers",
    "sandbox_timeout_s": "--timeout",
    "sandbox_allow_unsandboxed": "--allow-unsandboxed-code",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``verif-nb verify``."""
    p = sub.add_parser(
        "verify",
        help="verify responses against a dataset's constraints",
        description="Score RESP.jsonl rows {id, response} against the records of DATA.",
    )
    p.add_argument("--data", required=True, help="dataset: VerInstruct/IFEval jsonl, verl parquet, or a HF id")
    p.add_argument("--format", default="auto", help="auto | verinstruct | verl | ifeval | ifbench")
    p.add_argument("--lenient", action="store_true", help="skip (and report) bad data rows instead of stopping")
    p.add_argument("--untagged", default="error", help="untagged VerInstruct checkers: error | rule | llm | drop")
    p.add_argument("--responses", required=True, help='jsonl rows {"id": ..., "response": ...}; several per id allowed')
    p.add_argument("--out", required=True, help="output jsonl: one row per response")
    add_options(p, VerifierConfig(), [f for f in VERIFIER_FIELDS if f != "mode"], flags=_OPTION_NAMES)
    # Without --mode the command verifies with code alone, except under --profile reference, which is VerIF's
    # reward: hybrid (the config's own default is hybrid).
    p.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help=f"{VerifierConfig.field_help()['mode']} (default: rule; hybrid with --profile reference)",
    )
    add_judge_arguments(p)
    p.set_defaults(func=run_verify)


def verify_config(args: argparse.Namespace) -> VerifierConfig:
    """The VerifierConfig of ``verify``'s options; without ``--mode``: rule, or hybrid under ``--profile reference``
    (VerIF's reward). Sets ``args.mode`` to the mode chosen.

    Example:
        >>> verify_config(argparse.Namespace(profile="reference", mode=None, **{
        ...     f: getattr(VerifierConfig(), f) for f in VERIFIER_FIELDS if f not in ("profile", "mode")})).mode
        'hybrid'
    """
    if args.mode is None:
        args.mode = "hybrid" if args.profile == "reference" else "rule"
    return from_options(VerifierConfig, args, VERIFIER_FIELDS, flags=_OPTION_NAMES)


def run_verify(args: argparse.Namespace) -> int:
    """Run the command; writes ``--out`` and prints one JSON summary line."""
    from verif_nb.data import load_records, read_response_rows, write_jsonl
    from verif_nb.files import check_output_file

    # Before any work: the typed configs (a bad option value names its option), then --out (a bad --out found
    # after an hour of judging loses the hour).
    config = verify_config(args)
    # The --judge-* options are checked in every mode, rule included: a wrong value is an error where it is
    # written, not only once a run starts to use the judge.
    judge_config = judge_config_from_args(args)
    judge = judge_config if config.mode != "rule" else None
    out = check_output_file(args.out, {"--data": args.data, "--responses": args.responses})
    loaded = load_records(
        args.data, format=args.format, lenient=args.lenient, untagged=args.untagged, profile=args.profile
    )
    by_id = {r.id: r for r in loaded.records}
    unreadable = {e.row_id: e for e in loaded.skipped if getattr(e, "row_id", None) is not None}
    # One output row per response line; with --lenient a line that cannot be verified gets reward null and
    # its reason, and nothing stops half way.
    rows: list[dict | None] = []
    items = []
    for line in read_response_rows(args.responses):
        problem = line.error
        if problem is None and line.id not in by_id:
            why = unreadable.get(line.id)
            problem = DataError(
                args.responses,
                line.line,
                "id",
                f"record {line.id!r} could not be read: {why}" if why else f"no record {line.id!r} in {args.data}",
            )
        if problem is not None:
            if not args.lenient:
                raise problem
            rows.append({"id": line.id, "reward": None, "error": str(problem), "constraints": []})
            continue
        rows.append(None)
        items.append((by_id[line.id], line.response))
    start = time.perf_counter()
    with Verifier(config, judge=judge) as verifier:
        results = verifier.verify_batch(items, progress=True)
        judge_stats = (
            {**verifier.judge.stats.to_dict(), "endpoints": verifier.judge.endpoints.snapshot()}
            if judge is not None
            else None
        )
        metrics = dict(verifier.metrics)
        sandbox = verifier.sandbox_isolation
    seconds = time.perf_counter() - start
    unverifiable_lines = sum(row is not None for row in rows)
    verified = iter(results)
    rows = [row if row is not None else next(verified).to_dict() for row in rows]
    write_jsonl(out, rows)  # atomic: an existing --out is replaced only now
    rewards = [r.reward for r in results if r.reward is not None]
    summary = {
        "responses": len(rows),
        "unreadable_responses": unverifiable_lines,
        "profile": args.profile,
        "mode": args.mode,
        "combine": args.combine,
        # VerIF's reward only with all of its parts: --mode or --combine other than the paper's make it something else
        "reference": args.profile == "reference" and args.mode == "hybrid" and args.combine == "product",
        "mean_reward": statistics.fmean(rewards) if rewards else None,
        "rewards_none": len(rows) - len(rewards),
        "records": len(loaded.records),
        "skipped_rows": len(loaded.skipped),
        "seconds": round(seconds, 3),
        "metrics": metrics,
        "judge": judge_stats,
        "sandbox": sandbox,
        "out": str(args.out),
    }
    if args.profile == "reference" and not summary["reference"]:
        summary["note"] = (
            f"--mode {args.mode} --combine {args.combine} overrides the reference profile's hybrid product: "
            "these rewards are not VerIF's published reward"
        )
    print(json.dumps(summary))
    return 0
