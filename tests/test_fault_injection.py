"""Issue 11, the proof run: ``verif-nb verify --mode hybrid`` (a real subprocess) against a stub judge that
mixes every bad reply into good ones. Every response ends with a verdict or a counted failure, the
summary's counts add up, and the good responses get exactly the rows of a clean run."""

from __future__ import annotations

from benchmarks.fault_injection import EXPECTED, run_fault_injection
from tests.stub_judge_server import REPLY_FAULTS


def test_every_fault_ends_counted_and_the_good_rows_are_untouched(tmp_path):
    assert set(EXPECTED) == set(REPLY_FAULTS)  # every fault the stub can serve is in the run
    result = run_fault_injection(tmp_path, per_fault=1, timeout_s=1.0)
    assert "checks" in result, result
    failed = [name for name, ok in result["checks"].items() if not ok]
    assert not failed, (failed, result)
    assert result["judge"]["failed"] == sum(kind != "ok" for kind in EXPECTED.values())
