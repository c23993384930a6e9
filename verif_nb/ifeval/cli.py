"""``verif-nb ifeval score``: IFEval strict and loose scores for a responses file.

Example:
    verif-nb ifeval score --inputs ../shared/data/ifeval/input_data.jsonl \\
        --responses ../shared/data/ifeval/responses_llama31_8b_instruct.jsonl --out runs/ifeval
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from verif_nb.errors import RunExistsError

RESULT_FILES: tuple[str, ...] = ("eval_results_strict.jsonl", "eval_results_loose.jsonl")


def _score(args: argparse.Namespace) -> int:
    from verif_nb.ifeval._scoring import score_ifeval

    out = Path(args.out)
    existing = [out / name for name in RESULT_FILES if (out / name).exists()]
    if existing and not args.force:
        raise RunExistsError(f"{existing[0]} exists; choose another --out or pass --force to replace it")
    scores = score_ifeval(args.inputs, args.responses, progress=True)
    scores.write(out)
    print(json.dumps(scores.summary()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ifeval`` command group (``ifeval score``)."""
    ifeval = subparsers.add_parser("ifeval", help="IFEval scoring with the built-in checkers")
    sub = ifeval.add_subparsers(dest="ifeval_command", required=True)
    score = sub.add_parser(
        "score",
        help="strict + loose scores; writes eval_results_{strict,loose}.jsonl, prints one JSON line of aggregates",
    )
    score.add_argument("--inputs", required=True, help="IFEval input jsonl (prompt, instruction_id_list, kwargs)")
    score.add_argument("--responses", required=True, help="jsonl with prompt and response, matched by prompt")
    score.add_argument("--out", required=True, help="folder for eval_results_strict.jsonl / _loose.jsonl")
    score.add_argument("--force", action="store_true", help="replace result files already in --out")
    score.set_defaults(func=_score)
