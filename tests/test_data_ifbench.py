"""IFBench checkers as built-in [rule] constraints in records, and AI2's RLVR ground-truth rows
(``IF_multi_constraints``: a stringified list of {instruction_id, kwargs}) loaded into Records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verif_nb.data import load_records, write_jsonl
from verif_nb.data._load import detect_format
from verif_nb.data._rlvr import parse_ground_truth
from verif_nb.errors import DataError
from verif_nb.records import Constraint, Record
from verif_nb.verifier import Verifier, describe_constraint

RLVR = Path(__file__).parent / "fixtures" / "ifbench" / "rlvr_if_multi_constraints.jsonl"


def test_rlvr_rows_are_detected_and_loaded_with_built_in_rules():
    assert detect_format(json.loads(RLVR.read_text().splitlines()[0])) == "rlvr"
    res = load_records(RLVR, unknown_checkers="drop")
    assert res.format == "rlvr" and [r.id for r in res] == ["rlvr-1", "rlvr-2", "rlvr-3", "rlvr-4"]
    first = res[0]
    # the last user message is the prompt; the system message is not
    assert first.prompt.startswith("Tell me about two cats.")
    assert [(c.kind, c.checker_id, c.kwargs) for c in first.constraints] == [
        ("rule", "count:numbers", {"N": 2}),
        ("rule", "punctuation:no_comma", {}),
    ]
    assert first.meta["dataset"] == "ifeval" and first.meta["format"] == "rlvr"
    # several {instruction_id, kwargs} groups in one ground truth are all kept, IFEval ids among them
    assert [c.checker_id for c in res[2].constraints] == ["words:repeats", "length_constraints:number_sentences"]
    # the made-up id is dropped by the policy, the real one in the same row stays
    assert [c.checker_id for c in res[3].constraints] == ["punctuation:no_comma"]
    assert res.counts["unknown_checkers"] == res.counts["unknown_dropped"] == 1


def test_an_unknown_id_in_rlvr_is_an_error_naming_line_and_field():
    with pytest.raises(DataError) as info:
        load_records(RLVR)
    assert (info.value.line, info.value.field) == (4, "ground_truth: instruction_id[0]")
    assert "'words:made_up_checker'" in info.value.message


@pytest.mark.parametrize(
    "text, field, message",
    [
        ("[{'instruction_id': ['count:numbers'], 'kwargs': [{'N': 2}, {}]}]", "ground_truth[0].kwargs", "one kwargs"),
        ("[{'kwargs': []}]", "ground_truth[0]", "instruction_id"),
        ("__import__('os')", "ground_truth", "neither JSON nor a Python literal"),
        ("[]", "ground_truth", "non-empty list"),
        ("[{'instruction_id': [3], 'kwargs': [None]}]", "ground_truth[0].instruction_id", "checker id"),
    ],
)
def test_bad_ground_truth_is_an_error_naming_the_field(text, field, message):
    with pytest.raises(DataError) as info:
        parse_ground_truth(text, ("f.jsonl", 7))
    assert (info.value.path, info.value.line, info.value.field) == ("f.jsonl", 7, field)
    assert message in info.value.message


def test_bad_ifbench_kwargs_in_rlvr_name_the_row(tmp_path):
    row = {
        "key": "x",
        "messages": [{"role": "user", "content": "Hi"}],
        "ground_truth": str([{"instruction_id": ["sentence:increment"], "kwargs": [{"small_n": "two"}]}]),
    }
    with pytest.raises(DataError) as info:
        load_records(write_jsonl(tmp_path / "r.jsonl", [row]))
    assert info.value.field == "ground_truth: kwargs[0]" and "must be an integer" in info.value.message


def test_rule_verifier_scores_ifbench_built_ins_from_rlvr_records():
    records = {r.id: r for r in load_records(RLVR, unknown_checkers="drop")}
    verifier = Verifier(mode="rule")
    results = verifier.verify_batch(
        [
            (records["rlvr-1"], "Cat 1 and cat 2 sleep."),
            (records["rlvr-1"], "Cats 1, 2 and 3 sleep."),
            (records["rlvr-2"], "Rain\nfalls\nsoftly."),
            (records["rlvr-2"], "Rain falls softly."),
        ]
    )
    assert [r.reward for r in results] == [1.0, 0.0, 1.0, 0.0]
    assert [v.reason for v in results[1].verdicts] == ["3 numbers, needs exactly 2", "contains 1 comma"]


def test_a_record_naming_an_ifbench_rule_by_id_is_checked_and_described():
    constraint = Constraint("format:no_whitespace", "rule", checker_id="format:no_whitespace")
    record = Record("r", "Answer with no spaces.", [constraint])
    assert describe_constraint(constraint) == "The output should not contain any whitespace."
    good, bad = Verifier(mode="rule").verify_batch([(record, "OK"), (record, "not ok")])
    assert (good.reward, bad.reward) == (1.0, 0.0)
