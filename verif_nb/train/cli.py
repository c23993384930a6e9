"""``verif-nb train``, ``verif-nb eval ifeval|heldout|bench`` and ``verif-nb launch``.

Example:
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> register(sub)
    >>> sorted(sub.choices)
    ['eval', 'launch', 'train']
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
from typing import Any

from verif_nb.errors import ParamsError
from verif_nb.files import load_yaml_text

log = logging.getLogger(__name__)


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``--set grpo.max_steps=5`` items as a nested override dict (values read as YAML).

    Example:
        >>> parse_set(["grpo.max_steps=5", "model.source=tiny"])
        {'grpo': {'max_steps': 5}, 'model': {'source': 'tiny'}}
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamsError(f"--set {item!r}: write KEY.PATH=VALUE, e.g. grpo.max_steps=5")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = load_yaml_text(value, f"--set {item!r}")
    return out


def _models(items: list[str]) -> dict[str, str]:
    models: dict[str, str] = {}
    for item in items:
        name, sep, source = item.partition("=")
        if not sep:
            name, source = item.rstrip("/").split("/")[-1] or item, item
        models[name] = source
    return models


def _train(args: argparse.Namespace) -> int:
    from verif_nb.train.params import load_params
    from verif_nb.train.run import run_grpo

    params = load_params(args.params, parse_set(args.set))  # the edge: checked once, before torch is imported
    result = run_grpo(params, args.out, resume=args.resume)
    print(json.dumps(result.to_dict()))
    return 0


def _eval_ifeval(args: argparse.Namespace) -> int:
    from verif_nb.train.evaluate import compare_ifeval

    table = compare_ifeval(
        _models(args.model),
        limit=args.limit,
        inputs=args.inputs,
        groups=args.groups,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        out_dir=args.out,
    )
    print(table.to_string())
    return 0


def _eval_heldout(args: argparse.Namespace) -> int:
    from verif_nb.train.evaluate import compare_heldout
    from verif_nb.train.run import heldout_records

    table = compare_heldout(
        _models(args.model),
        heldout_records(args.run),
        limit=args.limit,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        out_dir=args.out,
    )
    print(table.to_string())
    return 0


def _launch(args: argparse.Namespace) -> int:
    from verif_nb.train.launch import launch_command
    from verif_nb.train.params import load_params

    load_params(args.params)  # a typo should fail here, not on 8 GPUs
    print(
        shlex.join(
            launch_command(
                args.params,
                args.config,
                args.num_processes,
                out_dir=args.out,
                resume=args.resume,
                main_process_port=args.main_process_port,
            )
        )
    )
    return 0


def register(subparsers: Any) -> None:
    """Add ``train``, ``eval`` and ``launch`` to the ``verif-nb`` command line."""
    train = subparsers.add_parser("train", help="GRPO training with the verifier as reward (TRL), from a params file")
    train.add_argument("params", help="params YAML (e.g. params/train_cpu_demo.yaml)")
    train.add_argument("--out", help="output folder (default outputs/<run_name>)")
    train.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY.PATH=VALUE",
        help="override one parameter, e.g. --set grpo.max_steps=5 (repeatable)",
    )
    train.set_defaults(func=_train)

    ev = subparsers.add_parser("eval", help="before/after evaluation of models or checkpoints")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]SOURCE",
        help="model source or checkpoint folder (repeatable; one table row each)",
    )
    common.add_argument("--limit", type=int, help="evaluate the first N prompts only")
    common.add_argument("--out", required=True, help="folder for responses, verdicts and the table")
    common.add_argument("--max-new-tokens", type=int, default=256)
    common.add_argument("--batch-size", type=int, default=8)
    ifeval = ev_sub.add_parser("ifeval", parents=[common], help="greedy answers to IFEval prompts, scored strict/loose")
    ifeval.add_argument(
        "--inputs",
        help="IFEval input_data.jsonl (default $VERIF_NB_IFEVAL_INPUTS, else the copy shipped in the package)",
    )
    ifeval.add_argument("--groups", nargs="+", help="only prompts whose instructions all belong to these groups")
    ifeval.set_defaults(func=_eval_ifeval)
    heldout = ev_sub.add_parser("heldout", parents=[common], help="the held-out records of a run, rule-verified")
    heldout.add_argument("--run", required=True, help="the run folder (holds params.yaml and data_split.json)")
    heldout.set_defaults(func=_eval_heldout)
    from verif_nb.model_eval.cli import register_bench

    register_bench(ev_sub)

    launch = subparsers.add_parser("launch", help="print the accelerate command that trains a params file on GPUs")
    launch.add_argument("params")
    launch.add_argument("--config", default="ddp", help="ddp | zero3 | path to an accelerate config")
    launch.add_argument("--num-processes", type=int, default=8)
    launch.add_argument("--out")
    launch.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    launch.add_argument("--main-process-port", type=int, help="rendezvous port (when 29500 is taken)")
    launch.set_defaults(func=_launch)
