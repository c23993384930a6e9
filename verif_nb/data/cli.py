"""``verif-nb data inspect|export`` (and ``verif-nb export verl``, the same export): data commands.

Example:
    verif-nb data inspect ../shared/data/ifeval/input_data.jsonl
    verif-nb data export verl --data records.jsonl --out train.parquet --untagged drop
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from verif_nb.data._ifeval import UNKNOWN_POLICIES
from verif_nb.data._load import FORMATS, load_records
from verif_nb.data._verinstruct import UNTAGGED_POLICIES
from verif_nb.data._verl import export_verl
from verif_nb.files import check_output_file


def _add_load_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: from the fields)")
    p.add_argument(
        "--untagged",
        default="error",
        choices=UNTAGGED_POLICIES,
        help="VerInstruct checkers without a [rule]/[llm] tag (default: error)",
    )
    p.add_argument(
        "--unknown-checkers",
        default="error",
        choices=UNKNOWN_POLICIES,
        help="IFEval/IFBench ids that are not built in (default: error)",
    )
    p.add_argument("--split", default="train", help="split of a hub / saved dataset (default: train)")


def _inspect(args: argparse.Namespace) -> int:
    res = load_records(
        args.data,
        args.format,
        lenient=not args.strict,
        untagged=args.untagged,
        unknown_checkers=args.unknown_checkers,
        split=args.split,
    )
    c = res.counts
    summary = {
        "format": res.format,
        "rows": c["rows"],
        "records": c["records"],
        "constraints": c["constraints"],
        "rule": c["rule"],
        "llm": c["llm"],
        "responses": c["responses"],
        "skipped": c["skipped"],
        "groups": res.groups(),
        "policies": {
            k: c[k]
            for k in (
                "untagged",
                "untagged_to_rule",
                "untagged_to_llm",
                "untagged_dropped",
                "unknown_checkers",
                "unknown_to_llm",
                "unknown_dropped",
                "dropped_by_policy",
                "llm_no_description",
            )
            if c[k]
        },
        "first_errors": [str(e) for e in res.skipped[:5]],
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _export_verl(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"verif-nb: error: {out} exists; pass --force to replace it", file=sys.stderr)
        return 2
    check_output_file(out, {"--data": args.data})
    res = load_records(
        args.data,
        args.format,
        lenient=args.lenient,
        untagged=args.untagged,
        unknown_checkers=args.unknown_checkers,
        split=args.split,
    )
    export_verl(res.records, out, data_source=args.data_source, split=args.export_split)
    print(res.summary(), file=sys.stderr)
    print(json.dumps({"out": str(out), "rows": len(res.records), "skipped": len(res.skipped)}))
    return 0


def _add_export_formats(parent: argparse.ArgumentParser) -> None:
    formats = parent.add_subparsers(dest="export_format", required=True)
    verl = formats.add_parser("verl", help="verl parquet rows as VerIF's preprocessing writes them")
    verl.add_argument("--data", required=True, help="input: file, folder, saved dataset or hub id")
    verl.add_argument("--out", required=True, help="output .parquet path")
    verl.add_argument("--lenient", action="store_true", help="skip bad rows (listed on stderr) instead of failing")
    verl.add_argument("--force", action="store_true", help="replace --out if it exists")
    verl.add_argument("--data-source", default="verif_nb", help="the rows' data_source (default: verif_nb)")
    verl.add_argument("--export-split", default="train", help="extra_info.split of the rows (default: train)")
    _add_load_options(verl)
    verl.set_defaults(func=_export_verl)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data inspect|export`` and the stable ``export verl`` (the same command as ``data export verl``)."""
    export_help = "write records in another framework's training format"
    _add_export_formats(subparsers.add_parser("export", help="alias of `data export` (" + export_help + ")"))

    data = subparsers.add_parser("data", help="look at a dataset, or export it")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    inspect = data_sub.add_parser("inspect", help="one-line JSON summary: records, constraints, rule/llm, groups")
    inspect.add_argument("data", help="file, folder, saved dataset or hub id")
    inspect.add_argument("--strict", action="store_true", help="fail at the first bad row (default: skip and count)")
    _add_load_options(inspect)
    inspect.set_defaults(func=_inspect)
    _add_export_formats(data_sub.add_parser("export", help=export_help))
