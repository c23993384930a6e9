"""``verif-nb report RUN``: rewrite a run's ``index.html`` with its findings; ``--single-file`` also writes
``report.html`` with every figure embedded.

Example:
    verif-nb report outputs/20261130-120000-demo --single-file
"""

from __future__ import annotations

import argparse
import json


def _report(args: argparse.Namespace) -> int:
    from verif_nb.errors import VerifNbError
    from verif_nb.report.findings import run_findings
    from verif_nb.report.index import write_index, write_single_file
    from verif_nb.report.layout import RunLayout, read_manifest

    run = RunLayout(args.run)
    if not run.manifest.is_file():
        raise VerifNbError(f"{run.root} is not a run folder (no manifest.json); pass outputs/<run-id>")
    result = {"index": str(write_index(run.root, read_manifest(run.root)))}
    if args.single_file:
        result["single_file"] = str(write_single_file(run.root, args.out or None))
    result["findings"] = [f.text for f in run_findings(run.root)]
    print(json.dumps(result, indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``verif-nb`` command line."""
    report = subparsers.add_parser(
        "report", help="rewrite a run's index.html with its findings (--single-file: one self-contained HTML)"
    )
    report.add_argument("run", help="run folder, e.g. outputs/20261130-120000-demo")
    report.add_argument("--single-file", action="store_true", help="also write report.html with figures embedded")
    report.add_argument("--out", default="", help="path of the single file (default RUN/report.html)")
    report.set_defaults(func=_report)
