"""GRPO training with the verifier as reward (TRL's GRPOTrainer) and multi-GPU launch (before/after evaluation
of the trained models is :mod:`verif_nb.evaluation`).

Example:
    >>> from verif_nb.train import load_params
    >>> load_params({"model": {"source": "tiny"}}).model.source
    'tiny'
"""

from verif_nb.train.data import build_dataset, load_training_records, split_records, synthetic_records
from verif_nb.train.launch import launch_command, vllm_serve_command
from verif_nb.train.models import build_tiny_model, convert_gguf, resolve_model
from verif_nb.train.params import DataParams, ModelParams, TrainParams, build_grpo_config, load_params
from verif_nb.train.run import RunResult, heldout_records, read_train_log, run_grpo

__all__ = [
    "DataParams",
    "ModelParams",
    "RunResult",
    "TrainParams",
    "build_dataset",
    "build_grpo_config",
    "build_tiny_model",
    "convert_gguf",
    "heldout_records",
    "launch_command",
    "load_params",
    "load_training_records",
    "read_train_log",
    "resolve_model",
    "run_grpo",
    "split_records",
    "synthetic_records",
    "vllm_serve_command",
]
