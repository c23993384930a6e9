"""``verif-nb ifeval score`` and ``verif-nb ifbench score``: strict and loose scores for a responses file.

Both refuse to overwrite, score, write the two result files (reference format) and print one JSON line of
aggregates. ``ifbench score`` also takes ``--only-answered``; its summary adds ``num_left_out`` and
``approximate_checks`` (checks whose verdict rests on the substitute part-of-speech model).

Example:
    verif-nb ifeval score --inputs ../shared/data/ifeval/input_data.jsonl \\
        --responses ../shared/data/ifeval/responses_llama31_8b_instruct.jsonl --out runs/ifeval
    verif-nb ifbench score --inputs ../shared/data/ifbench/IFBench_test.jsonl \\
        --responses responses.jsonl --out runs/ifbench
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from verif_nb.errors import RunExistsError
from verif_nb.files import check_output_dir

RESULT_FILES: tuple[str, ...] = ("eval_results_strict.jsonl", "eval_results_loose.jsonl")


def run_score(args: argparse.Namespace, scorer: Callable[..., Any], **scorer_kwargs: Any) -> int:
    """Score ``args.inputs``/``args.responses`` with ``scorer``, write the result files, print the summary.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "in.jsonl").write_text('{"prompt": "p", "instruction_id_list": [], "kwargs": []}\\n')
        >>> _ = (d / "r.jsonl").write_text('{"prompt": "p", "response": "r"}\\n')
        >>> from verif_nb.checkers import score_ifeval
        >>> run_score(argparse.Namespace(inputs=d / "in.jsonl", responses=d / "r.jsonl", out=d / "o", force=False),
        ...           score_ifeval)  # doctest: +ELLIPSIS
        {"prompt_strict": 100.0, ...}
        0
    """
    out = check_output_dir(args.out, RESULT_FILES, {"--inputs": args.inputs, "--responses": args.responses})
    existing = [out / name for name in RESULT_FILES if (out / name).exists()]
    if existing and not args.force:
        raise RunExistsError(f"{existing[0]} exists; choose another --out or pass --force to replace it")
    scores = scorer(args.inputs, args.responses, progress=True, **scorer_kwargs)
    scores.write(out)
    print(json.dumps(scores.summary()))
    return 0


def add_score_arguments(parser: argparse.ArgumentParser, benchmark: str) -> None:
    """The options every ``<benchmark> score`` command takes (--inputs, --responses, --out, --force).

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_score_arguments(p, "IFBench")
        >>> p.parse_args(["--inputs", "i", "--responses", "r", "--out", "o"]).force
        False
    """
    parser.add_argument(
        "--inputs", required=True, help=f"{benchmark} input jsonl (prompt, instruction_id_list, kwargs)"
    )
    parser.add_argument("--responses", required=True, help="jsonl with prompt and response, matched by prompt")
    parser.add_argument("--out", required=True, help="folder for eval_results_strict.jsonl / _loose.jsonl")
    parser.add_argument("--force", action="store_true", help="replace result files already in --out")


def _score_ifeval(args: argparse.Namespace) -> int:
    from verif_nb.checkers._scoring import score_ifeval

    return run_score(args, score_ifeval)


def _score_ifbench(args: argparse.Namespace) -> int:
    from verif_nb.checkers._scoring import score_ifbench

    return run_score(args, score_ifbench, only_answered=args.only_answered)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ifeval`` and ``ifbench`` command groups (``<benchmark> score``)."""
    score_help = "strict + loose scores; writes eval_results_{strict,loose}.jsonl, prints one JSON line of aggregates"
    ifeval = subparsers.add_parser("ifeval", help="IFEval scoring with the built-in checkers")
    score = ifeval.add_subparsers(dest="ifeval_command", required=True).add_parser("score", help=score_help)
    add_score_arguments(score, "IFEval")
    score.set_defaults(func=_score_ifeval)

    ifbench = subparsers.add_parser("ifbench", help="IFBench scoring with the built-in checkers (58 unseen types)")
    score = ifbench.add_subparsers(dest="ifbench_command", required=True).add_parser("score", help=score_help)
    add_score_arguments(score, "IFBench")
    score.add_argument(
        "--only-answered",
        action="store_true",
        help="score only prompts that have a response (the summary's num_left_out says how many "
        "were left out); without it a prompt with no response is an error naming it",
    )
    score.set_defaults(func=_score_ifbench)
