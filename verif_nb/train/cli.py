"""``verif-nb train`` and ``verif-nb launch``.

Example:
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> register(sub)
    >>> sorted(sub.choices)
    ['launch', 'train']
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


def _train(args: argparse.Namespace) -> int:
    from verif_nb.train.params import load_params
    from verif_nb.train.run import run_grpo

    params = load_params(args.params, parse_set(args.set))  # the edge: checked once, before torch is imported
    result = run_grpo(params, args.out, resume=args.resume)
    _end_process_group()  # on success only: a failed rank is the launcher's to stop
    print(json.dumps(result.to_dict()))
    return 0


def _end_process_group() -> None:
    """Tear down torch.distributed before the interpreter exits: left to exit, gloo's threads were destroyed while
    still joinable now and then ("terminate called without an active exception"), and the launcher then failed the
    whole run (seen once in CI, tests/test_train_multiprocess.py)."""
    import sys

    torch = sys.modules.get("torch")  # only a run that trained has imported it
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


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
    """Add ``train`` and ``launch`` to the ``verif-nb`` command line."""
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

    launch = subparsers.add_parser("launch", help="print the accelerate command that trains a params file on GPUs")
    launch.add_argument("params")
    launch.add_argument("--config", default="ddp", help="ddp | zero3 | path to an accelerate config")
    launch.add_argument("--num-processes", type=int, default=8)
    launch.add_argument("--out")
    launch.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    launch.add_argument("--main-process-port", type=int, help="rendezvous port (when 29500 is taken)")
    launch.set_defaults(func=_launch)
