"""Upstream verl's own reward managers score with verif-nb's reward and agree with ``verif-nb verify``.

verl 0.9.1 cannot share the main environment (it pins transformers<5.11), so it lives in ``.venv-verl``
(``scripts/make_verl_venv.sh``; ``.ci/run`` creates it). Each test exports the sample dataset with
``verif-nb export verl``, has ``tests/verl_reward_driver.py`` build a ``DataProto`` of its labelled
responses inside that venv and run one of verl's managers on it, and compares the rewards with those
``verif-nb verify`` gives the same responses here. The hybrid cases ask the stub judge, which answers
yes, no or nonsense depending on the request, so rewards differ between responses and some are
unverifiable (verl gets ``unverifiable_score`` for them and ``verified=0``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import zlib
from pathlib import Path

import pytest
import yaml

from tests.stub_judge_server import GARBAGE_ANSWER, StubJudgeServer
from verif_nb.cli import main

ENV_PARAMS = "VERIF_NB_VERIFIER_PARAMS"
ROOT = Path(__file__).resolve().parent.parent
VERL_PYTHON = ROOT / ".venv-verl" / "bin" / "python"
SAMPLE = ROOT / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
DRIVER = ROOT / "tests" / "verl_reward_driver.py"
N_RECORDS = 6

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not VERL_PYTHON.exists(),
        reason="verl's own venv .venv-verl is absent: create it with scripts/make_verl_venv.sh "
        "(or `make verl-venv`; .ci/run does it) to run verl's reward managers",
    ),
]


def judge_answer(body: dict) -> str:
    """Yes, no or an unparseable answer, fixed by the request text (the same in both runs)."""
    text = body["messages"][-1]["content"]
    return ("[[0]] Not met.", "[[1]] All met.", GARBAGE_ANSWER)[zlib.crc32(text.encode()) % 3]


@pytest.fixture(scope="module")
def stub():
    with StubJudgeServer(answer=judge_answer) as server:
        yield server


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The sample exported for verl, and a responses file of the first records' labelled responses."""
    folder = tmp_path_factory.mktemp("verl")
    parquet = folder / "train.parquet"
    assert main(["export", "verl", "--data", str(SAMPLE), "--out", str(parquet)]) == 0
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()][:N_RECORDS]
    pairs = [{"id": r["id"], "response": resp["text"]} for r in rows for resp in r["responses"]]
    responses = folder / "responses.jsonl"
    responses.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    return parquet, responses, [p["response"] for p in pairs]


def verify_here(exported, tmp_path, judge_url: str | None) -> list:
    parquet, responses, _ = exported
    out = tmp_path / "verified.jsonl"
    argv = ["verify", "--data", str(SAMPLE), "--responses", str(responses), "--out", str(out)]
    argv += (
        ["--mode", "hybrid", "--judge-base-url", judge_url, "--judge-model", "stub-judge", "--judge-max-retries", "0"]
        if judge_url
        else ["--mode", "rule"]
    )
    assert main(argv) == 0
    return [json.loads(line)["reward"] for line in out.read_text().splitlines()]


def run_verl(exported, manager: str, reward_kwargs: dict | None = None, env: dict | None = None) -> dict:
    parquet, responses, _ = exported
    cmd = [
        str(VERL_PYTHON),
        str(DRIVER),
        "--data",
        str(parquet),
        "--responses",
        str(responses),
        "--manager",
        manager,
        "--reward-kwargs",
        json.dumps(reward_kwargs or {}),
    ]
    # PYTHONPATH: the checkout under test, whatever the venv's editable install points at.
    full_env = {k: v for k, v in os.environ.items() if k != ENV_PARAMS}
    full_env.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("VERL_RESULT "))
    return json.loads(line[len("VERL_RESULT ") :])


def expected_scores(rewards: list, unverifiable_score: float = 0.0) -> list[float]:
    return [unverifiable_score if r is None else r for r in rewards]


def assert_same(got: list[float], want: list[float]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert math.isclose(g, w, abs_tol=1e-6), (got, want)  # verl's reward tensor is float32


def hybrid_kwargs(url: str, unverifiable_score: float = 0.0) -> dict:
    return {
        "verifier": {"mode": "hybrid", "judge": {"base_url": url, "model": "stub-judge", "max_retries": 0}},
        "unverifiable_score": unverifiable_score,
    }


@pytest.mark.parametrize("manager", ["batch", "naive", "loop"])
def test_rule_mode_managers_match_verify(exported, tmp_path, manager):
    want = verify_here(exported, tmp_path, None)
    got = run_verl(exported, manager, {"verifier": {"mode": "rule"}})
    assert got["decoded"] == exported[2]  # the DataProto round trip hands verl the exact responses
    assert_same(got["rewards"], expected_scores(want))
    assert len(set(got["rewards"])) > 2  # the sample's responses pass and fail: a real comparison
    assert got["calls"] == (1 if manager == "batch" else len(want))


def test_hybrid_batch_manager_matches_verify_with_unverifiable_flagged(exported, tmp_path, stub):
    want = verify_here(exported, tmp_path, stub.url)
    assert any(r is None for r in want) and any(r == 0.0 for r in want) and any(r and r > 0 for r in want)
    got = run_verl(exported, "batch", hybrid_kwargs(stub.url, unverifiable_score=-1.0))
    assert got["calls"] == 1
    assert_same(got["rewards"], expected_scores(want, unverifiable_score=-1.0))
    assert got["extra"]["verified"] == [0.0 if r is None else 1.0 for r in want]


def test_hybrid_naive_manager_matches_verify(exported, tmp_path, stub):
    want = verify_here(exported, tmp_path, stub.url)
    got = run_verl(exported, "naive", hybrid_kwargs(stub.url))
    assert_same(got["rewards"], expected_scores(want))
    assert got["calls"] == len(want)


@pytest.mark.parametrize("mode", ["rule", "hybrid"])
def test_verif_fork_naive_call_shape(exported, tmp_path, stub, mode):
    # The fork passes no reward_kwargs: the settings come from $VERIF_NB_VERIFIER_PARAMS.
    judge = {"base_url": stub.url, "model": "stub-judge", "max_retries": 0} if mode == "hybrid" else None
    params = tmp_path / "verifier.yaml"
    params.write_text(yaml.safe_dump({"verifier": {"mode": mode, **({"judge": judge} if judge else {})}}))
    want = verify_here(exported, tmp_path, stub.url if mode == "hybrid" else None)
    got = run_verl(exported, "fork", env={ENV_PARAMS: str(params)})
    assert_same(got["rewards"], expected_scores(want))  # floats, straight into torch.tensor
    assert_same(got["listed"], expected_scores(want))  # and the fork's one call with lists
    assert got["calls"] == len(want) + 1


def test_the_verl_venv_holds_upstream_verl_and_its_own_transformers():
    out = subprocess.run(
        [str(VERL_PYTHON), "-c", "import verl, transformers; print(verl.__version__, transformers.__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    verl_version, transformers_version = out.stdout.split()
    major, minor = (int(x) for x in transformers_version.split(".")[:2])
    assert verl_version == "0.9.1" and (major, minor) < (5, 11)  # verl's pin, which the main venv does not meet
