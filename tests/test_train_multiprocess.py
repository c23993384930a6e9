"""Two training processes for real: ``accelerate launch`` (the command ``verif-nb launch --config ddp`` prints)
runs GRPO on the tiny model on 2 CPU processes (gloo), with the hybrid verifier asking the stub judge.

Four prompts per step, 4 completions each, 8 completions per process: each process holds two whole
prompts. One prompt's judge answers are nonsense, so its completions are unverifiable (None) on
whichever process holds it. Every process writes a reward trace (``VERIF_NB_REWARD_TRACE``), which
the test holds against the logged metrics. The run is launched for 1 step, then resumed to step 2.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.stub_judge_server import GARBAGE_ANSWER, StubJudgeServer, closed_port
from verif_nb.cli import main
from verif_nb.train import read_train_log

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

RECORDS = [
    {
        "key": 1,
        "prompt": "Write a sentence without commas.",
        "instruction_id_list": ["punctuation:no_comma"],
        "kwargs": [{}],
    },
    {
        "key": 2,
        "prompt": "Answer in lowercase letters only.",
        "instruction_id_list": ["change_case:english_lowercase"],
        "kwargs": [{}],
    },
    {
        "key": 3,
        "prompt": "Write between 5 and 50 words.",
        "instruction_id_list": ["made_up:judged_only"],  # no checker knows it: judged
        "kwargs": [{"min_words": 5, "max_words": 50}],
    },
    {
        "key": 4,
        "prompt": "Describe a GARBLE machine in 5 to 50 words.",
        "instruction_id_list": ["made_up:judged_only"],  # no checker knows it: judged
        "kwargs": [{"min_words": 5, "max_words": 50}],
    },
]
UNVERIFIABLE_ID = "4"  # the judge answers nonsense for this one


def judge_answer(body: dict) -> str:
    return GARBAGE_ANSWER if "GARBLE" in body["messages"][-1]["content"] else "[[1]] The constraint is met."


def write_params(folder: Path, judge_url: str, max_steps: int) -> Path:
    data = folder / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    params = {
        "run_name": "ddp",
        "model": {"source": "tiny", "dtype": "float32"},
        "data": {"source": str(data), "format": "ifeval", "load_kwargs": {"unknown_checkers": "llm"}},
        "verifier": {
            "mode": "hybrid",
            "judge": {"base_url": judge_url, "model": "stub-judge", "max_retries": 0, "timeout_s": 10.0},
        },
        "grpo": {
            "use_cpu": True,
            "learning_rate": 1e-3,
            "num_generations": 4,
            "per_device_train_batch_size": 8,
            "max_completion_length": 12,
            "beta": 0.001,
            "max_steps": max_steps,
            "logging_steps": 1,
            "save_strategy": "steps",
            "save_steps": 1,
            "gradient_checkpointing": False,
            "report_to": "none",
            "seed": 0,
        },
    }
    path = folder / f"params_{max_steps}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def launch(params: Path, out: Path, trace: Path, capsys, resume: bool = False, config: str = "ddp") -> dict:
    """Run the accelerate command that ``verif-nb launch`` prints; returns the last rank's run summary."""
    argv = [
        "launch",
        str(params),
        "--config",
        config,
        "--num-processes",
        "2",
        "--out",
        str(out),
        "--main-process-port",
        str(closed_port()),
    ]
    assert main(argv + (["--resume"] if resume else [])) == 0
    cmd = shlex.split(capsys.readouterr().out.strip())
    assert cmd[:2] == ["accelerate", "launch"] and cmd[cmd.index("--num_processes") + 1] == "2"
    local = Path(sys.executable).with_name("accelerate")  # `make test` does not put .venv/bin on PATH
    if local.exists():
        cmd[0] = str(local)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1", "VERIF_NB_REWARD_TRACE": str(trace)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    # Both processes print their summary; their output may share a line, so decode from each start.
    decoder, text = json.JSONDecoder(), proc.stdout
    summaries = [decoder.raw_decode(text, i)[0] for i in range(len(text)) if text.startswith('{"out_dir"', i)]
    assert len(summaries) == 2  # both processes ran the command to the end
    return summaries[-1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    trace = folder / "trace"
    with StubJudgeServer(answer=judge_answer) as stub:
        out = folder / "run"
        yield {
            "folder": folder,
            "out": out,
            "trace": trace,
            "stub": stub,
            "params": {n: write_params(folder, stub.url, n) for n in (1, 2)},
        }


def trace_rows(trace: Path) -> dict[int, list[dict]]:
    rows: dict[int, list[dict]] = {}
    for path in sorted(trace.glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            rows.setdefault(row["step"], []).append(row)
    return rows


def test_two_processes_train_score_their_own_prompts_and_resume(ddp_run, capsys):
    out, trace = ddp_run["out"], ddp_run["trace"]
    first = launch(ddp_run["params"][1], out, trace, capsys)
    assert first["global_step"] == 1 and (out / "checkpoints" / "checkpoint-1").is_dir()
    (out / "run_result.json").unlink()  # as if the job had been stopped after its first checkpoint
    second = launch(ddp_run["params"][2], out, trace, capsys, resume=True)
    assert second["resumed_from"].endswith("checkpoint-1") and second["global_step"] == 2
    assert json.loads((out / "run_result.json").read_text())["global_step"] == 2

    by_step = trace_rows(trace)
    logged = {m["step"]: m for m in read_train_log(out) if "reward" in m}
    assert sorted(by_step) == sorted(logged) == [1, 2]  # step 1 from the first launch, step 2 after resuming
    for step, calls in by_step.items():
        # one reward call per process per step, over gloo, each on its own two prompts
        assert sorted(c["rank"] for c in calls) == [0, 1] and {c["world_size"] for c in calls} == {2}
        assert all("gloo" in c["backend"] for c in calls)  # e.g. "cpu:gloo"
        ids = [set(c["record_ids"]) for c in calls]
        assert all(len(c["record_ids"]) == 8 and len(i) == 2 for c, i in zip(calls, ids))
        assert not ids[0] & ids[1] and ids[0] | ids[1] == {"1", "2", "3", "4"}

        # None rewards exactly where the judge could not be read, on one process only
        holder = [c for c in calls if UNVERIFIABLE_ID in c["record_ids"]]
        assert len(holder) == 1
        for c in calls:
            for rid, reward in zip(c["record_ids"], c["rewards"]):
                assert (reward is None) == (rid == UNVERIFIABLE_ID)

        # what the main process logged is the mean over both processes' rewards, None left out
        rewards = [r for c in calls for r in c["rewards"]]
        scored = [r for r in rewards if r is not None]
        row = logged[step]
        assert math.isclose(row["reward"], sum(scored) / len(scored), abs_tol=1e-6)
        assert math.isclose(row["verif/unverifiable"], rewards.count(None) / len(rewards), abs_tol=1e-6)
        assert row["loss"] is not None and math.isfinite(row["loss"])  # as on one process: trains on
    assert ddp_run["stub"].calls > 0


@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None,
    reason="DeepSpeed is not installed (the gpu extra; not part of the CPU install): ZeRO-3 stays "
    "configuration-tested here. On CPU it runs with deepspeed==0.19.8 on the path "
    "(benchmarks/RESULTS.md, 'Several processes')",
)
def test_zero3_on_two_cpu_processes_shards_the_optimizer(tmp_path, capsys):
    out = tmp_path / "run"
    summary = launch(ROOT / "params" / "train_ci.yaml", out, tmp_path / "trace", capsys, config="zero3")
    assert summary["global_step"] == 2
    shards = sorted(p.name for p in (out / "checkpoints" / "checkpoint-2").glob("global_step2/*optim_states.pt"))
    assert len(shards) == 2 and "rank_0" in shards[0] and "rank_1" in shards[1]  # one optimizer shard per process
    ranks = {
        json.loads(line)["rank"]
        for path in (tmp_path / "trace").glob("rank*.jsonl")
        for line in path.read_text().splitlines()
    }
    assert ranks == {0, 1}  # both processes computed rewards
