"""Training parameters, presets, accelerate configs and launch commands (no training here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from verif_nb.errors import ParamsError, RunExistsError
from verif_nb.train import launch_command, load_params, vllm_serve_command
from verif_nb.train.cli import parse_set
from verif_nb.train.launch import config_path
from verif_nb.train.params import build_grpo_config, grpo_fields, merge
from verif_nb.train.run import _check_out_dir

ROOT = Path(__file__).resolve().parent.parent
PRESETS = [
    "train_ci.yaml",
    "train_cpu_demo.yaml",
    "train_gpu_smoke.yaml",
    "verif_tulu3_8b.yaml",
    "verif_r1_distill_qwen_7b.yaml",
]


@pytest.mark.parametrize("name", PRESETS)
def test_presets_validate_against_grpo_config(name, tmp_path):
    params = load_params(ROOT / "params" / name)
    # GPU recipes are checked with use_cpu forced: every field is validated, CUDA is never touched
    cfg = build_grpo_config(params, tmp_path, cpu_check=True)
    for key, value in params.grpo.items():
        if key not in ("use_cpu", "report_to"):  # report_to is normalised to a list
            assert getattr(cfg, key) == value, key
    assert cfg.model_init_kwargs["dtype"] == params.model.dtype


@pytest.mark.parametrize("name", ["verif_tulu3_8b.yaml", "verif_r1_distill_qwen_7b.yaml"])
def test_gpu_presets_reproduce_the_paper_recipe(name, tmp_path):
    p = load_params(ROOT / "params" / name)
    g = p.grpo
    assert g["learning_rate"] == 1e-6 and g["beta"] == 0.001
    assert g["num_generations"] == 16
    # 32 prompts x 16 rollouts per optimizer step on 8 GPUs
    assert 8 * g["per_device_train_batch_size"] * g["gradient_accumulation_steps"] == 32 * 16
    assert g["max_completion_length"] == 4096 and p.data.max_prompt_tokens == 1024
    assert g["use_vllm"] is True and g["num_train_epochs"] == 1
    assert p.verifier.mode == "hybrid" and p.verifier.judge.model == "Qwen/QwQ-32B"
    cfg = build_grpo_config(p, tmp_path, cpu_check=True)
    assert cfg.bf16 is True and cfg.vllm_mode == "colocate"


def test_ci_and_demo_presets_run_on_cpu():
    ci = load_params(ROOT / "params" / "train_ci.yaml")
    demo = load_params(ROOT / "params" / "train_cpu_demo.yaml")
    assert ci.model.source == "tiny" and ci.grpo["max_steps"] == 2
    assert demo.model.source == "pypi:qwen2.5-coder-0.5b" and demo.lora["r"] > 0
    assert demo.grpo["num_generations"] == 4 and demo.grpo["use_cpu"] is True


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"grpo": {"lerning_rate": 1e-6}}, r"unknown key\(s\) \['lerning_rate'\] in 'grpo'"),
        ({"modle": {}}, r"unknown params key\(s\) \['modle'\]"),
        ({"model": {"sorce": "tiny"}}, r"unknown model key\(s\) \['sorce'\]"),
        ({"data": {"holdot": 0.1}}, r"unknown data key\(s\) \['holdot'\]"),
        ({"lora": {"rank": 8}}, "in 'lora'"),
        ({"verifier": {"mode": "rule", "combne": "mean"}}, "unknown verifier key"),
        ({"verifier": {"mode": "hybrid", "judge": {"url": "x"}}}, "unknown judge key"),
        ({"verifier": {"mode": "nope"}}, "mode"),
        ({"model": {"dtype": "int8"}}, "dtype"),
        ({"data": {"holdout": 1.5}}, "holdout"),
        ({"data": {"require": "both"}}, "require"),
        ({"run_name": "a/b"}, "run_name"),
        ({"grpo": {"output_dir": "x"}}, "output_dir"),
        ({"grpo": []}, "mapping"),
    ],
)
def test_bad_params_fail_before_anything_runs(raw, match):
    with pytest.raises(ParamsError, match=match):
        load_params(raw)


def test_invalid_values_surface_as_params_error(tmp_path):
    p = load_params({"grpo": {"num_generations": 3, "per_device_train_batch_size": 4}})
    with pytest.raises(ParamsError, match="GRPOConfig"):
        build_grpo_config(p, tmp_path)


def test_defaults_and_overrides():
    p = load_params({}, {"grpo": {"max_steps": 3}, "model": {"source": "tiny:7"}})
    assert (p.run_name, p.model.source, p.model.dtype, p.verifier.mode, p.lora) == (
        "grpo",
        "tiny:7",
        "float32",
        "rule",
        None,
    )
    assert p.grpo == {"max_steps": 3}
    assert load_params(p).to_dict() == p.to_dict()  # a TrainParams round-trips
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}
    assert {"beta", "use_vllm", "vllm_mode", "num_generations"} <= grpo_fields()


def test_params_file_errors(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        load_params(tmp_path / "none.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n")
    with pytest.raises(ParamsError, match="mapping"):
        load_params(bad)


@pytest.mark.parametrize(
    "items, expected",
    [
        (["grpo.max_steps=5"], {"grpo": {"max_steps": 5}}),
        (["model.source=tiny", "grpo.beta=0.001"], {"model": {"source": "tiny"}, "grpo": {"beta": 0.001}}),
        (["data.rule_groups=[a, b]"], {"data": {"rule_groups": ["a", "b"]}}),
        (["lora=null"], {"lora": None}),
    ],
)
def test_parse_set(items, expected):
    assert parse_set(items) == expected


def test_parse_set_rejects_missing_value():
    with pytest.raises(ParamsError, match="KEY.PATH=VALUE"):
        parse_set(["grpo.max_steps"])


@pytest.mark.parametrize("config, distributed", [("ddp", "MULTI_GPU"), ("zero3", "DEEPSPEED")])
def test_accelerate_configs_load(config, distributed):
    from accelerate.commands.config.config_args import ClusterConfig

    path = config_path(config)
    cluster = ClusterConfig.from_yaml_file(str(path))  # accelerate's own loader rejects unknown keys
    assert cluster.distributed_type.value == distributed
    assert cluster.mixed_precision == "bf16" and cluster.num_processes == 8
    if config == "zero3":
        assert cluster.deepspeed_config["zero_stage"] == 3


@pytest.mark.parametrize("config", ["ddp", "zero3"])
def test_launch_command(config):
    cmd = launch_command(
        "params/verif_tulu3_8b.yaml",
        config=config,
        num_processes=4,
        out_dir="outputs/t",
        resume=True,
        main_process_port=29501,
    )
    assert cmd[:4] == ["accelerate", "launch", "--config_file", str(config_path(config))]
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    assert cmd[cmd.index("--main_process_port") + 1] == "29501"
    # the module entry point parses the rest exactly like `verif-nb train ...`
    tail = cmd[cmd.index("--module") + 1 :]
    assert tail == ["verif_nb.cli", "train", "params/verif_tulu3_8b.yaml", "--out", "outputs/t", "--resume"]
    from verif_nb.cli import build_parser

    args = build_parser().parse_args(tail[1:])
    assert (args.params, args.out, args.resume) == ("params/verif_tulu3_8b.yaml", "outputs/t", True)


def test_launch_command_errors(tmp_path):
    with pytest.raises(ParamsError, match="accelerate config"):
        launch_command("p.yaml", config="fsdp9")
    with pytest.raises(ParamsError, match="num_processes"):
        launch_command("p.yaml", num_processes=0)
    own = tmp_path / "mine.yaml"
    own.write_text(yaml.safe_dump({"distributed_type": "MULTI_GPU"}))
    assert launch_command("p.yaml", config=str(own))[3] == str(own)


def test_vllm_serve_command_matches_trl_cli():
    from trl.scripts.vllm_serve import ScriptArguments

    cmd = vllm_serve_command("allenai/Llama-3.1-Tulu-3-8B-SFT", port=8001, tensor_parallel_size=2, max_model_len=5120)
    assert cmd[:2] == ["trl", "vllm-serve"]
    fields = set(ScriptArguments.__dataclass_fields__)
    flags = [a[2:] for a in cmd[2:] if a.startswith("--")]
    assert set(flags) <= fields, set(flags) - fields


def test_cli_launch_prints_the_command(capsys):
    from verif_nb.cli import main

    assert main(["launch", str(ROOT / "params" / "verif_tulu3_8b.yaml"), "--config", "zero3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accelerate launch --config_file") and "zero3.yaml" in out and "--num_processes 8" in out


def test_output_folder_rules(tmp_path):
    p = load_params({})
    fresh = tmp_path / "fresh"
    assert _check_out_dir(fresh, p, resume=False) is None
    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (unfinished / "params.yaml").write_text(yaml.safe_dump(p.to_dict()))
    with pytest.raises(RunExistsError, match="--resume"):
        _check_out_dir(unfinished, p, resume=False)
    assert _check_out_dir(unfinished, p, resume=True).endswith("checkpoint-3")
    changed = load_params({"model": {"source": "tiny:1"}})
    with pytest.raises(ParamsError, match="model"):
        _check_out_dir(unfinished, changed, resume=True)
    (unfinished / "run_result.json").write_text("{}")
    for resume in (False, True):
        with pytest.raises(RunExistsError, match="finished run"):
            _check_out_dir(unfinished, p, resume=resume)


def test_a_preset_data_file_resolves_from_the_notebooks_folder(monkeypatch):
    """JupyterLab runs notebook 03 in notebooks/: the demo preset's project-relative data file still loads."""
    from verif_nb.train.data import load_training_records

    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params" / "train_cpu_learn.yaml")
    monkeypatch.chdir(root / "notebooks")
    assert not Path(params.data.source).exists()  # relative to the project root, not to notebooks/
    records = load_training_records(params.data)
    assert len(records) == 200
