"""Fault injection (issue 11): ``verif-nb verify --mode hybrid`` against a stub judge that mixes every bad
reply into good ones.

Each labelled response of the sample records that have soft constraints is verified as is (good), and
again with a ``FAULT=<name>`` marker appended for every fault the stub serves (content as a list of parts,
usage as a string or with non-numeric counts, logprobs.content of the wrong type, a log-prob of 1000, a
quoted ``[[1]]`` followed by ``[[0]]``, a lone surrogate in the answer, a body dripping one byte per second,
a 20 MB body, a non-JSON body) plus a response holding a lone surrogate itself. The same good responses are
verified in a clean run with no faults. Checks: one output row per response; every row has a reward or an
error; the summary's judge failures add up to the rows that lack a judge verdict, and per kind to what each
fault must give; the good rows are identical to the clean run's.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/fault_injection.py [--out benchmarks/results/fault_injection.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the stub lives in tests/

from tests.stub_judge_server import REPLY_FAULTS, StubJudgeServer, fault_from_marker  # noqa: E402
from verif_nb.data import load_records, write_jsonl  # noqa: E402

SAMPLE = ROOT / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
# what each fault must end as: a verdict ("ok") or the failure kind counted for the call
EXPECTED: dict[str, str] = {
    "content_parts": "ok",
    "surrogate": "ok",
    "usage_string": "bad_response",
    "usage_nonnumeric": "bad_response",
    "logprobs_wrong_type": "bad_response",
    "logprob_overflow": "bad_response",
    "huge": "bad_response",
    "bad_json": "bad_response",
    "conflict": "unparseable",
    "drip": "timeout",
}


def _verify(responses: Path, out: Path, url: str, timeout_s: float) -> tuple[int, dict | None, str, float]:
    cmd = [
        sys.executable,
        "-m",
        "verif_nb.cli",
        "verify",
        "--data",
        str(SAMPLE),
        "--responses",
        str(responses),
        "--out",
        str(out),
        "--mode",
        "hybrid",
        "--judge-base-url",
        url,
        "--judge-model",
        "stub-judge",
        "--judge-logprobs",
        "--judge-timeout",
        str(timeout_s),
        "--judge-max-retries",
        "1",
        "--judge-backoff",
        "0",
        "--judge-concurrency",
        "8",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, (json.loads(lines[-1]) if proc.returncode == 0 and lines else None), proc.stderr, seconds


def run_fault_injection(workdir: Path, per_fault: int = 3, timeout_s: float = 2.0) -> dict:
    """Run both passes; returns the counts and the checks (each check a bool), raising nothing on a failed check."""
    records = [r for r in load_records(SAMPLE).records if r.llm_constraints]
    goods = [(r.id, resp.text) for r in records for resp in r.responses]
    faulted = [(rid, f"{text}\n\nFAULT={fault}") for fault in REPLY_FAULTS for rid, text in goods[:per_fault]]
    surrogate_inputs = [(rid, text + " \udc80") for rid, text in goods[:per_fault]]
    rows_in = goods + faulted + surrogate_inputs
    labels = ["good"] * len(goods) + [f for f in REPLY_FAULTS for _ in goods[:per_fault]]
    labels += ["input_surrogate"] * len(surrogate_inputs)

    mixed = write_jsonl(workdir / "mixed.jsonl", [{"id": rid, "response": t} for rid, t in rows_in])
    clean = write_jsonl(workdir / "clean.jsonl", [{"id": rid, "response": t} for rid, t in goods])
    with StubJudgeServer(answer="[[1]] All constraints are met.", fault=fault_from_marker, drip_s=1.0) as stub:
        code_clean, summary_clean, err_clean, _ = _verify(clean, workdir / "clean_out.jsonl", stub.url, timeout_s)
        code, summary, err, seconds = _verify(mixed, workdir / "mixed_out.jsonl", stub.url, timeout_s)
    if code_clean != 0 or code != 0:
        return {"exit_codes": [code_clean, code], "stderr": (err_clean + err)[-2000:]}
    clean_rows = [json.loads(x) for x in (workdir / "clean_out.jsonl").read_text().splitlines()]
    rows = [json.loads(x) for x in (workdir / "mixed_out.jsonl").read_text().splitlines()]

    outcome_by_label: dict[str, Counter] = {}
    for label, row in zip(labels, rows):
        llm = [v for v in row["constraints"] if v["kind"] == "llm"]
        # one judge call per response: its verdict is on every llm verdict of the row
        kind = "ok" if llm and llm[0]["passed"] is not None else _kind(llm[0]["error"] if llm else "")
        outcome_by_label.setdefault(label, Counter())[kind] += 1
    judge = summary["judge"]
    no_verdict = sum(1 for row in rows if any(v["kind"] == "llm" and v["passed"] is None for v in row["constraints"]))
    expected_failures = Counter({})
    for kind in EXPECTED.values():
        if kind != "ok":
            expected_failures[kind] += per_fault
    checks = {
        "one_row_per_response": len(rows) == len(rows_in) == summary["responses"],
        "every_row_has_a_reward_or_an_error": all(r["reward"] is not None or r["error"] for r in rows),
        "rewards_none_adds_up": summary["rewards_none"] == sum(r["reward"] is None for r in rows),
        "judge_failed_equals_rows_without_a_judge_verdict": judge["failed"] == no_verdict,
        "judge_failures_by_kind_as_expected": dict(judge["failures"]) == dict(expected_failures),
        "each_fault_ends_as_expected": all(
            outcome_by_label[f] == Counter({EXPECTED[f]: per_fault}) for f in REPLY_FAULTS
        ),
        "good_rows_identical_to_the_clean_run": rows[: len(goods)] == clean_rows,
        "input_surrogates_repaired_and_verified": all(
            r.get("text_repaired") == 1 and r["reward"] is not None for r in rows[-len(surrogate_inputs) :]
        ),
        "clean_run_has_no_failures": summary_clean["judge"]["failed"] == 0,
    }
    return {
        "responses": len(rows),
        "good": len(goods),
        "faulted": len(faulted),
        "input_surrogates": len(surrogate_inputs),
        "per_fault": per_fault,
        "outcomes": {k: dict(v) for k, v in outcome_by_label.items()},
        "judge": {k: judge[k] for k in ("calls", "attempts", "failed", "failures", "retries", "text_repaired")},
        "rewards_none": summary["rewards_none"],
        "metrics_text_repaired": summary["metrics"].get("text_repaired", 0),
        "seconds_mixed_run": round(seconds, 1),
        "checks": checks,
    }


def _kind(error: str | None) -> str:
    error = error or ""
    if "malformed response" in error or "non-JSON" in error or "bytes; refused" in error:
        return "bad_response"
    if "no answer within" in error or "timeout" in error.lower():
        return "timeout"
    if "conflicting verdicts" in error or "no [[1]]" in error:
        return "unparseable"
    return f"other: {error[:80]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-fault", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the result JSON here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_fault_injection(Path(tmp), per_fault=args.per_fault)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    sys.exit(0 if result.get("checks") and all(result["checks"].values()) else 1)


if __name__ == "__main__":
    main()
