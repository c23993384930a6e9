"""Rebuild verif_nb/data/calibration/ifeval_hard_120.jsonl from the shared IFEval reference data.

The 120 cases (60 satisfied, 60 violated) are single IFEval constraints on Llama-3.1-8B-Instruct
responses; gold is verif-nb's strict verdict, which reproduces the reference implementation's
(tests/test_ifeval_conformance.py). Run: .venv/bin/python scripts/build_calibration_set.py
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from verif_nb.data import read_jsonl
from verif_nb.evaluation import build_calibration_cases

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "ifeval"
OUT = ROOT / "verif_nb" / "data" / "calibration" / "ifeval_hard_120.jsonl"


def main() -> None:
    inputs = read_jsonl(SHARED / "input_data.jsonl")
    responses = {row["prompt"]: row["response"] for row in read_jsonl(SHARED / "responses_llama31_8b_instruct.jsonl")}
    reference = {row["prompt"]: row for row in read_jsonl(SHARED / "reference_eval_strict.jsonl")}
    cases = build_calibration_cases(inputs, responses, n=120, seed=0)
    for case in cases:  # the gold must be the reference's own verdict
        ref = reference[case.prompt]
        verdicts = [
            v for i, v in zip(ref["instruction_id_list"], ref["follow_instruction_list"]) if i == case.checker_id
        ]
        assert case.gold in verdicts, case
    OUT.write_text("".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
