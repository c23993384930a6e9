"""The 202 sample responses scored under both profiles (``default`` and ``reference``): what changes, and why.

Two runs isolate the profiles' mechanics from the judge's quality:

* ``rule`` mode (no judge): differences come from how rule code runs and fails;
* ``hybrid`` mode with an *oracle* judge (a local stub answering ``[[1]]`` exactly when every gold-labelled soft
  constraint of that response holds, ``[[0]]`` otherwise): differences come from what each profile does around
  the judge (failures scoring 0, tags, ...);
* ``hybrid_empty_no``: the same oracle, except that a judge asked about a record without soft constraints (only
  the reference profile asks) answers ``[[0]]``, as a real judge may when shown an empty constraint list.

Needs VerIF's ``llm_call.py`` for the reference profile's prompt (``../shared/reference/verif_reward``).

Run:
    PYTHONPATH=.:tests .venv/bin/python benchmarks/profile_compare.py --out benchmarks/results/profiles
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from verif_nb.data import load_records
from verif_nb.judge import JudgeConfig
from verif_nb.verifier import Verifier

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "verif_nb" / "data" / "sample"
LLM_CALL = ROOT.parent / "shared" / "reference" / "verif_reward" / "llm_call.py"


def items(profile: str):
    out = []
    for path in sorted(SAMPLE.glob("*.jsonl")):
        for record in load_records(path, profile=profile).records:
            for response in record.responses:
                out.append((record, response))
    return out


def oracle_answer(gold: dict[str, bool | None], empty_says_no: bool):
    def answer(body: dict) -> str:
        content = body["messages"][-1]["content"]
        for text, ok in gold.items():
            if text in content:
                if ok is None:  # no soft constraint to judge
                    return "[[0]]" if empty_says_no else "[[1]]"
                return "[[1]]" if ok else "[[0]]"
        return "[[1]]"

    return answer


def run(mode: str, stub_url: str | None) -> dict[str, list]:
    rewards = {}
    for profile in ("default", "reference"):
        pairs = items(profile)
        judge = None
        if mode != "rule":
            judge = JudgeConfig(
                base_url=stub_url,
                model="oracle",
                max_retries=0,
                template_file=str(LLM_CALL) if profile == "reference" else None,
            )
        with Verifier(mode=mode, profile=profile, judge=judge) as verifier:
            results = verifier.verify_batch([(record, r.text) for record, r in pairs])
        rewards[profile] = [
            (record.id, r.id, res.reward, res.error, res.policy) for (record, r), res in zip(pairs, results)
        ]
    return rewards


def compare(rewards: dict[str, list]) -> dict:
    changes: Counter = Counter()
    reasons: Counter = Counter()
    for (_, _, a, err, _), (_, _, b, _, policy) in zip(rewards["default"], rewards["reference"]):
        if a == b:
            changes["same"] += 1
            continue
        if a is None:
            changes["None -> number"] += 1
        elif b is None:
            changes["number -> None"] += 1
        else:
            changes["up" if b > a else "down"] += 1
        why = (err or policy or "").split(":")[0] or "rule mean or judge verdict differs"
        reasons[why[:90]] += 1
    return {"changes": dict(changes), "reasons": dict(reasons.most_common())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="folder for the per-response rewards (JSON)")
    args = parser.parse_args()
    from stub_judge_server import StubJudgeServer  # tests/ on PYTHONPATH

    gold: dict[str, bool | None] = {}
    for record, response in items("default"):
        soft = [ok for c, ok in zip(record.constraints, response.labels or []) if c.kind == "llm" and ok is not None]
        has_soft = any(c.kind == "llm" for c in record.constraints)
        gold[response.text.strip()[:200]] = all(soft) if has_soft else None
    report = {}
    for name, mode, empty_says_no in (
        ("rule", "rule", False),
        ("hybrid", "hybrid", False),
        ("hybrid_empty_no", "hybrid", True),
    ):
        with StubJudgeServer(answer=oracle_answer(gold, empty_says_no)) as stub:
            rewards = run(mode, stub.url)
        report[name] = {"responses": len(rewards["default"]), **compare(rewards)}
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / f"{name}.json").write_text(json.dumps(rewards, indent=1))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
