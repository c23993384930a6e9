"""Runs VerIF's original reward on cases, as its training path does (run with .venv-verif-ref's python).

Not imported by verif-nb or pytest: tests/test_reference_differential.py starts it as a subprocess, in the venv
that scripts/make_reference_venv.sh builds (the pinned openai SDK, requests, numpy; no verif-nb). It follows
../shared/reference/README.md: the original folder first on ``sys.path``, the real ``build_model.APIModel`` (the
openai SDK) pointed at the judge server, ``llm_call.api_model`` set to it; per case the response is cut after the
last ``</think>`` and stripped (``remote_if_verifier.parse_solution``), then ``local_service.local_serve`` scores
``{"instruction", "answers", "labels"}``. Where the original raises, its trainer (``compute_score``'s bare
``except``) returns -1.0 for the whole batch: that is recorded as the case's answer, with the exception's type
and the original function it left through, so the test can tell which of the known reasons it was.

Cases run concurrently (the trainer's ``local_request`` uses 128 threads), each in its own try.

    .venv-verif-ref/bin/python tests/reference_oracle.py --reference ../shared/reference/verif_reward \\
        --base-url http://127.0.0.1:PORT/v1 --model stub --cases cases.jsonl --out oracle.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor


def raised_where(err: BaseException, reference: str) -> str:
    """``file:function`` of the innermost frame of the original's code that the exception passed through."""
    where = "?"
    for frame in traceback.extract_tb(err.__traceback__):
        if os.path.dirname(os.path.abspath(frame.filename)) == reference:
            where = f"{os.path.basename(frame.filename)}:{frame.name}"
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="the folder of the original reward code")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--cases", required=True, help="jsonl: id, instruction, response, checkers, functions")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    reference = os.path.abspath(args.reference)
    sys.path.insert(0, reference)
    # The original prints failing functions and judge errors; a trainer's stdout is UTF-8 and strict, so a print
    # that cannot be encoded raises there as it does here.
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)

    import build_model
    import llm_call
    import local_service

    llm_call.api_model = build_model.APIModel(args.base_url, args.model)

    def run(case: dict) -> dict:
        labels = json.dumps({"checkers": case["checkers"], "functions": case["functions"]})
        solution = case["response"].split("</think>")[-1].strip()  # remote_if_verifier.parse_solution
        try:
            result = local_service.local_serve(
                {"instruction": case["instruction"], "answers": [solution], "labels": labels}
            )
            return {"id": case["id"], "reward": float(result["result"][0]), "raised": None}
        except BaseException as err:  # noqa: BLE001 (compute_score's bare except: -1.0 for the batch)
            return {
                "id": case["id"],
                "reward": -1.0,
                "raised": {
                    "type": type(err).__name__,
                    "where": raised_where(err, reference),
                    "message": repr(err)[:300],
                },
            }

    with open(args.cases, encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    with ThreadPoolExecutor(args.threads) as pool:
        results = list(pool.map(run, cases))
    with open(args.out, "w", encoding="utf-8") as f:
        for row in results:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
