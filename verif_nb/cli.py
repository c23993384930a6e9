"""The ``verif-nb`` command line. Each command group lives beside the code it drives and registers
itself here through a ``register(subparsers)`` function.

Building the parser imports only the base install's packages (``tests/test_install.py`` blocks every optional
one and builds it); a command imports what it needs when it runs, and a command whose extra is not installed
says which extra to install, in one line.

Example:
    >>> build_parser().prog
    'verif-nb'
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

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

# The top-level modules of the optional extras (pyproject.toml), and the extra that brings each: a command that
# needs one names the extra instead of failing with a traceback.
EXTRA_OF_MODULE: dict[str, str] = {
    **dict.fromkeys(("torch", "transformers", "trl", "peft", "accelerate", "datasets", "gguf"), "train"),
    **dict.fromkeys(("llama_cpp",), "judge"),
    **dict.fromkeys(
        (
            "matplotlib",
            "seaborn",
            "papermill",
            "nbconvert",
            "jinja2",
            "nbformat",
            "ipykernel",
            "ipywidgets",
            "IPython",
            "jupyterlab",
            "jupyter_server",
            "jupyter_client",
        ),
        "notebooks",
    ),
    **dict.fromkeys(("scipy",), "notebooks] or [train"),
    **dict.fromkeys(("emoji", "syllapy", "textblob", "textblob_aptagger"), "ifbench"),
    **dict.fromkeys(("tensorboard",), "tracking"),
    **dict.fromkeys(("vllm", "deepspeed"), "gpu"),
}


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """The one-line advice for a module of an optional extra that is not installed (None for any other module).

    Example:
        >>> missing_extra(ModuleNotFoundError("No module named 'nbformat'", name="nbformat"))
        "the optional package 'nbformat' is not installed: pip install 'verif-nb[notebooks]'"
        >>> missing_extra(ModuleNotFoundError("No module named 'x'", name="x")) is None
        True
    """
    top = (err.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    return None if extra is None else f"the optional package {top!r} is not installed: pip install 'verif-nb[{extra}]'"


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``verif-nb verify: error: argument --workers: invalid int value: 'two'``)
    and exit 2, like every other error of the command line; ``--help`` still shows the usage.

    Example:
        >>> OneLineParser(prog="x").parse_args(["--nope"])  # prints "x: error: unrecognized arguments: --nope ..."
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered command."""
    parser = OneLineParser(
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
    except ModuleNotFoundError as err:
        advice = missing_extra(err)
        if advice is None:
            raise
        print(f"verif-nb {args.command}: error: {advice}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
