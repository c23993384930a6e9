"""``verif-nb judge serve|stop|status``: the embedded CPU judge from the command line.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); register(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["judge", "serve", "--threads", "2"]).port
    8088
"""

from __future__ import annotations

import argparse
import json

from verif_nb.judge.model import DEFAULT_MODEL, MODELS
from verif_nb.judge.server import DEFAULT_PORT, server_status, start_server, state_dir, stop_server


def _serve(args: argparse.Namespace) -> int:
    info = start_server(model=args.model, port=args.port, threads=args.threads, ctx=args.ctx,
                        logprobs=not args.no_logprobs, wait_s=args.wait)
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
    judge = subparsers.add_parser("judge", help="run the embedded CPU judge (llama.cpp server)",
                                  description=f"PID files and logs live in {state_dir()} ($VERIF_NB_CACHE/server).")
    sub = judge.add_subparsers(dest="judge_command", required=True)
    serve = sub.add_parser("serve", help="start the judge server detached and wait until it is healthy")
    serve.add_argument("--model", default=DEFAULT_MODEL,
                       help=f"one of {', '.join(MODELS)} (assembled from PyPI chunks) or a path to a .gguf file")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1")
    serve.add_argument("--threads", type=int, default=None, help="CPU threads (default: min(4, cores))")
    serve.add_argument("--ctx", type=int, default=4096, help="context length in tokens")
    serve.add_argument("--no-logprobs", action="store_true",
                       help="do not keep per-token logits (saves memory; p_yes is then unavailable)")
    serve.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the server to be healthy")
    serve.set_defaults(func=_serve)
    for name, func, text in (("stop", _stop, "stop the judge server started on --port"),
                             ("status", _status, "show the judge server on --port (exit 1 if not running)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1")
        p.set_defaults(func=func)
