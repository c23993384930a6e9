"""Launch commands for many GPUs on existing engines: accelerate (DDP or DeepSpeed ZeRO-3) and vLLM.

verif-nb adds no launcher of its own. It ships accelerate configs (``verif_nb/configs/ddp.yaml``,
``zero3.yaml``) and builds the command lines a user runs on the GPU machine::

    # 8 GPUs, vLLM colocated with training (use_vllm: true, vllm_mode: colocate in the params file)
    accelerate launch --config_file .../zero3.yaml --num_processes 8 -m verif_nb.cli train params/verif_tulu3_8b.yaml

    # vLLM server mode: rollouts on GPU 0 (trl vllm-serve), training on GPUs 1-7
    CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model allenai/Llama-3.1-Tulu-3-8B-SFT --port 8001
    CUDA_VISIBLE_DEVICES=1,2,3,4,5,6,7 accelerate launch --config_file .../zero3.yaml --num_processes 7 \\
        -m verif_nb.cli train params/verif_tulu3_8b.yaml  # with grpo: {vllm_mode: server, vllm_server_port: 8001}

Example:
    >>> cmd = launch_command("params/verif_tulu3_8b.yaml", config="zero3", num_processes=8)
    >>> cmd[:2], cmd[cmd.index("--num_processes") + 1]
    (['accelerate', 'launch'], '8')
"""

from __future__ import annotations

import os
from pathlib import Path

from verif_nb.errors import ParamsError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = {"ddp": "ddp.yaml", "zero3": "zero3.yaml"}


def config_path(config: str) -> Path:
    """The shipped accelerate config file for ``ddp`` or ``zero3`` (or a path to your own).

    Example:
        >>> config_path("ddp").name
        'ddp.yaml'
    """
    if config in CONFIGS:
        return CONFIG_DIR / CONFIGS[config]
    path = Path(config)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    raise ParamsError(f"unknown accelerate config {config!r}: choose {', '.join(CONFIGS)} or give a YAML file path")


def launch_command(
    params_path: str | os.PathLike,
    config: str = "ddp",
    num_processes: int = 8,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    main_process_port: int | None = None,
) -> list[str]:
    """The ``accelerate launch`` command that trains ``params_path`` on ``num_processes`` GPUs.

    Example:
        >>> " ".join(launch_command("p.yaml", "ddp", 4, out_dir="outputs/x")).split("--num_processes ")[1]
        '4 --module verif_nb.cli train p.yaml --out outputs/x'
    """
    if num_processes < 1:
        raise ParamsError(f"num_processes={num_processes}: at least 1")
    cmd = ["accelerate", "launch", "--config_file", str(config_path(config)), "--num_processes", str(num_processes)]
    if main_process_port is not None:
        cmd += ["--main_process_port", str(main_process_port)]
    cmd += ["--module", "verif_nb.cli", "train", str(params_path)]
    if out_dir is not None:
        cmd += ["--out", str(out_dir)]
    if resume:
        cmd.append("--resume")
    return cmd


def vllm_serve_command(
    model: str,
    port: int = 8000,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    gpu_memory_utilization: float = 0.9,
    max_model_len: int | None = None,
) -> list[str]:
    """The ``trl vllm-serve`` command for GRPO's server mode (``grpo: {use_vllm: true, vllm_mode: server}``).

    Example:
        >>> vllm_serve_command("allenai/Llama-3.1-Tulu-3-8B-SFT", port=8001)[:4]
        ['trl', 'vllm-serve', '--model', 'allenai/Llama-3.1-Tulu-3-8B-SFT']
    """
    cmd = [
        "trl",
        "vllm-serve",
        "--model",
        model,
        "--port",
        str(port),
        "--tensor_parallel_size",
        str(tensor_parallel_size),
        "--data_parallel_size",
        str(data_parallel_size),
        "--gpu_memory_utilization",
        str(gpu_memory_utilization),
    ]
    if max_model_len is not None:
        cmd += ["--max_model_len", str(max_model_len)]
    return cmd
