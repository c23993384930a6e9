"""The ``verif-nb`` command line. Each command group lives beside the code it drives and registers
itself here through a ``register(subparsers)`` function.

Example:
    >>> build_parser().prog
    'verif-nb'
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from verif_nb.errors import VerifNbError

# Modules that define ``register(subparsers)``; each adds its own sub-commands.
COMMAND_MODULES: list[str] = [
    "verif_nb.verifier.cli",
    "verif_nb.pipeline.cli",
    "verif_nb.data.cli",
    "verif_nb.judge.cli",
    "verif_nb.checkers.cli",
    "verif_nb.train.cli",
    "verif_nb.evaluation.cli",
    "verif_nb.lab",
    "verif_nb.report.cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="verif-nb",
        description="verif-nb: verification engineering for RL in instruction following (VerIF). "
        "Rule checkers, sandboxed dataset code, an LLM judge, GRPO rewards, notebooks and reports.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen command; errors print one line and exit 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:  # one INFO line per judge request drowns the progress bars
        for noisy in ("httpx", "openai"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except VerifNbError as err:
        print(f"verif-nb: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
