"""``verif-nb ifbench score``: IFBench strict and loose scores for a responses file.

Same options, result files (reference format) and one-line JSON summary as ``verif-nb ifeval
score``, plus ``--only-answered``. The summary adds ``num_left_out`` and ``approximate_checks``
(checks whose verdict rests on the substitute part-of-speech model).

Example:
    verif-nb ifbench score --inputs ../shared/data/ifbench/IFBench_test.jsonl \\
        --responses responses.jsonl --out runs/ifbench
"""

from __future__ import annotations

import argparse

from verif_nb.ifeval.cli import add_score_arguments, run_score


def _score(args: argparse.Namespace) -> int:
    from verif_nb.ifbench._scoring import score_ifbench

    return run_score(args, score_ifbench, only_answered=args.only_answered)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ifbench`` command group (``ifbench score``)."""
    ifbench = subparsers.add_parser("ifbench", help="IFBench scoring with the built-in checkers (58 unseen types)")
    sub = ifbench.add_subparsers(dest="ifbench_command", required=True)
    score = sub.add_parser(
        "score",
        help="strict + loose scores; writes eval_results_{strict,loose}.jsonl, prints one JSON line of aggregates",
    )
    add_score_arguments(score, "IFBench")
    score.add_argument(
        "--only-answered",
        action="store_true",
        help="score only prompts that have a response (the summary's num_left_out says how many "
        "were left out); without it a prompt with no response is an error naming it",
    )
    score.set_defaults(func=_score)
