"""``verif-nb run`` (execute a pipeline parameter file) and ``verif-nb kernel install``.

Example:
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> register(sub)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from verif_nb.pipeline._run import run_pipeline

    run_dir = run_pipeline(
        args.params,
        out=args.out,
        hide_input=args.hide_input,
        outputs_root=args.outputs_root,
        progress=not args.no_progress,
    )
    done = {"run_dir": str(run_dir), "index": str(run_dir / "index.html"), "status": "ok"}
    if args.single_file:
        from verif_nb.report.index import write_single_file

        done["single_file"] = str(write_single_file(run_dir))
    print(json.dumps(done))
    return 0


def _is_training_preset(path: str) -> bool:
    """A training preset (``params/train_*.yaml``: ``model``, ``grpo``... and no ``notebooks``), not a pipeline file."""
    from verif_nb.files import read_yaml
    from verif_nb.train.params import TrainParams

    raw = read_yaml(Path(path), "params file")  # an empty or odd file: the pipeline loader says what is wrong
    return (
        isinstance(raw, dict)
        and "notebooks" not in raw
        and bool(set(raw) & {f.name for f in dataclasses.fields(TrainParams)})
    )


def _check(args: argparse.Namespace) -> int:
    from verif_nb.pipeline._params import load_pipeline_params

    if _is_training_preset(args.params):  # what `verif-nb train` would read, checked the same way, nothing started
        from verif_nb.train.params import load_params

        print(json.dumps({"params": args.params, "training": load_params(args.params).to_dict()}, default=str))
        return 0
    params = load_pipeline_params(args.params)
    print(
        json.dumps(
            {"params": str(params.path), "notebooks": {n: params.parameters_for(n) for n in params.notebooks}},
            default=str,
        )
    )
    return 0


def _kernel_install(args: argparse.Namespace) -> int:
    from verif_nb.pipeline._kernel import install_kernel

    dest = install_kernel(user=not args.sys_prefix, prefix=sys.prefix if args.sys_prefix else None, name=args.name)
    print(json.dumps({"kernel": args.name, "path": str(dest), "python": sys.executable}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run``, ``check-params`` and ``kernel install`` to the ``verif-nb`` command line."""
    run = subparsers.add_parser("run", help="execute the notebooks of a pipeline parameter file into outputs/<run-id>/")
    run.add_argument("params", help="pipeline parameter file, e.g. params/ci.yaml")
    run.add_argument(
        "--out",
        default=None,
        help="run folder to create (must not exist); default outputs/<YYYYmmdd-HHMMSS>-<run_name>",
    )
    run.add_argument("--outputs-root", default="outputs", help="parent of the default run folder")
    run.add_argument("--hide-input", action="store_true", help="HTML reports without code cells, for readers")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--single-file",
        action="store_true",
        help="also write report.html: the index with findings and every figure embedded, one file",
    )
    run.set_defaults(func=_run)

    check = subparsers.add_parser(
        "check-params", help="validate a pipeline file or a training preset without running it"
    )
    check.add_argument("params")
    check.set_defaults(func=_check)

    kernel = subparsers.add_parser("kernel", help="the 'verif-nb' Jupyter kernel")
    ksub = kernel.add_subparsers(dest="kernel_command", required=True)
    install = ksub.add_parser("install", help="install the 'verif-nb' kernel (this Python) for JupyterLab")
    install.add_argument("--sys-prefix", action="store_true", help="install into this environment, not user-level")
    install.add_argument("--name", default="verif-nb", help="kernel name (default verif-nb)")
    install.set_defaults(func=_kernel_install)
