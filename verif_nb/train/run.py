"""One GRPO run from a params file: TRL's GRPOTrainer with the verifier as reward.

A run writes everything under its output folder (default ``outputs/<run_name>/``)::

    params.yaml        the resolved parameters (every default filled in)
    data_split.json    ids of the training and held-out records
    metrics.jsonl      trainer.state.log_history, one line per logging step: reward, verif/* components, kl, loss
    checkpoints/       trainer checkpoints (checkpoint-N/), resumable
    final/             the trained model (or LoRA adapter) and tokenizer
    run_result.json    written last: the run finished (a finished run is never overwritten)

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> res = run_grpo({"model": {"source": "tiny"}, "data": {"source": "synthetic:4"},
    ...                 "grpo": {"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 2,
    ...                          "max_completion_length": 8}}, out)  # doctest: +SKIP
    >>> res.global_step  # doctest: +SKIP
    1
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verif_nb.errors import ParamsError, RunExistsError
from verif_nb.files import read_jsonl, read_yaml, write_jsonl
from verif_nb.train.params import TrainParams, build_grpo_config, load_params

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

RESULT_FILE = "run_result.json"
METRICS_FILE = "metrics.jsonl"
PARAMS_FILE = "params.yaml"


@dataclass
class RunResult:
    """What a finished run left behind.

    Example:
        >>> RunResult(out_dir=Path("o"), global_step=0).final_dir
        PosixPath('o/final')
    """

    out_dir: Path
    global_step: int
    train_seconds: float = 0.0
    reward_seconds: float = 0.0
    reward_calls: int = 0
    resumed_from: str | None = None
    train_records: int = 0
    heldout_records: int = 0
    metrics: list[dict[str, Any]] = field(default_factory=list)
    heldout: list[Any] = field(default_factory=list, repr=False)  # the held-out Records (not written to disk)
    device: str = ""  # where the policy trained, e.g. "cpu" or "cuda:0 (NVIDIA H200)"

    @property
    def final_dir(self) -> Path:
        return self.out_dir / "final"

    def metrics_frame(self) -> pd.DataFrame:
        """The training log steps of ``metrics.jsonl`` as a DataFrame indexed by step.

        Example:
            >>> RunResult(Path("o"), 1, metrics=[{"step": 1, "reward": 0.5}]).metrics_frame()["reward"].tolist()
            [0.5]
        """
        import pandas as pd

        rows = [m for m in self.metrics if "reward" in m or "loss" in m]
        frame = pd.DataFrame(rows)
        return frame.set_index("step") if "step" in frame else frame

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "global_step": self.global_step,
            "train_seconds": self.train_seconds,
            "reward_seconds": self.reward_seconds,
            "reward_calls": self.reward_calls,
            "resumed_from": self.resumed_from,
            "train_records": self.train_records,
            "heldout_records": self.heldout_records,
            "device": self.device,
        }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a missing component is null
    return value


def log_rows(log_history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``trainer.state.log_history`` as ``metrics.jsonl`` keeps them (NaN as null).

    ``log_history`` is restored from the checkpoint on resume, so the rows cover the whole run.

    Example:
        >>> log_rows([{"loss": float("nan"), "reward": 0.5, "step": 1}])
        [{'step': 1, 'loss': None, 'reward': 0.5}]
    """
    return [{"step": row.get("step"), **{k: _finite(v) for k, v in row.items() if k != "step"}} for row in log_history]


def read_train_log(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl`` (empty when none were logged).

    Example:
        >>> read_train_log("/nonexistent")
        []
    """
    path = Path(run_dir) / METRICS_FILE
    return read_jsonl(path, "metrics") if path.exists() else []


def _check_out_dir(out: Path, params: TrainParams, resume: bool) -> str | None:
    """Refuse to touch a finished run; on resume, return the last checkpoint to continue from."""
    from transformers.trainer_utils import get_last_checkpoint

    if (out / RESULT_FILE).exists():
        raise RunExistsError(
            f"{out} holds a finished run; verif-nb never overwrites one. Choose another --out "
            "(or run_name), or delete the folder yourself"
        )
    started = out.exists() and any(out.iterdir())
    if not started:
        return None
    if not resume:
        raise RunExistsError(
            f"{out} holds an unfinished run; pass --resume (resume=True) to continue it from its "
            "last checkpoint, or choose another --out"
        )
    stored_path = out / PARAMS_FILE
    if stored_path.exists():
        stored = read_yaml(stored_path, "stored params file") or {}
        current = params.to_dict()
        changed = [k for k in ("model", "lora", "data", "verifier") if stored.get(k) != current.get(k)]
        if changed:
            raise ParamsError(
                f"cannot resume {out}: parameters {changed} differ from the run's {PARAMS_FILE}; "
                "only grpo settings (e.g. max_steps) may change on resume"
            )
    ckpt_dir = out / "checkpoints"
    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    if last is None:
        log.warning("%s has no checkpoint yet; the run starts again from step 0", out)
    return last


def run_grpo(
    params: str | os.PathLike | dict[str, Any] | TrainParams,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    verifier: Any = None,
    callbacks: Sequence[Any] = (),
    extra_reward_funcs: Sequence[Any] = (),
    overrides: dict[str, Any] | None = None,
) -> RunResult:
    """Train with GRPO on the verifier's reward, as the params say; returns what the run left behind.

    ``params`` is a :class:`~verif_nb.train.params.TrainParams` (used as it is: nothing is re-read or checked
    again), or a params file or dict, which is read and validated here once.
    ``verifier``: a ready Verifier (else built from ``params.verifier``; closed at the end only then).
    ``extra_reward_funcs`` are added next to the verifier's reward (e.g. a format reward).
    ``overrides`` deep-merge into the params (``{"grpo": {"max_steps": 5}}``).
    Raises RunExistsError for a finished run, or an unfinished one without ``resume``.

    Example:
        >>> run_grpo({"grpo": {"max_stepz": 1}})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: grpo: unknown key(s) ['max_stepz'] in 'grpo'; ... 'max_steps' for ...
    """
    import yaml
    from accelerate import PartialState

    p = load_params(params, overrides)
    out = Path(out_dir) if out_dir is not None else Path("outputs") / p.run_name
    state = PartialState()
    last_checkpoint = _check_out_dir(out, p, resume)  # every rank checks before any rank writes
    state.wait_for_everyone()

    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from verif_nb.rewards import make_trl_reward
    from verif_nb.train.data import build_dataset, load_training_records, split_records
    from verif_nb.train.models import resolve_model
    from verif_nb.verifier import Verifier

    grpo_config = build_grpo_config(p, out / "checkpoints")
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        if last_checkpoint is None:
            with open(out / PARAMS_FILE, "w", encoding="utf-8") as fh:
                yaml.safe_dump(p.to_dict(), fh, sort_keys=False)

    model_path = resolve_model(p.model.source, p.model.cache_dir) if state.is_main_process else None
    state.wait_for_everyone()
    if model_path is None:  # the main process built/converted it; the others find it in the cache now
        model_path = resolve_model(p.model.source, p.model.cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), padding_side="left")

    mode = p.verifier.mode
    records = load_training_records(p.data, verifier_mode=mode)
    train_records, heldout = split_records(records, holdout=p.data.holdout, seed=p.data.seed)
    if state.is_main_process:
        with open(out / "data_split.json", "w", encoding="utf-8") as fh:
            json.dump(
                {"source": p.data.source, "train": [r.id for r in train_records], "heldout": [r.id for r in heldout]},
                fh,
            )
    dataset = build_dataset(train_records, tokenizer, p.data.max_prompt_tokens, p.data.system_prompt)

    own_verifier = verifier is None
    verifier = verifier if verifier is not None else Verifier(p.verifier)
    reward = make_trl_reward(verifier)
    peft_config = LoraConfig(**{"task_type": "CAUSAL_LM", **p.lora}) if p.lora is not None else None

    trainer = GRPOTrainer(
        model=str(model_path),
        reward_funcs=[reward, *extra_reward_funcs],
        args=grpo_config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    start = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=last_checkpoint)
        trainer.save_model(str(out / "final"))
    finally:
        if own_verifier:
            verifier.close()
    result = RunResult(
        out_dir=out,
        global_step=trainer.state.global_step,
        train_seconds=time.perf_counter() - start,
        reward_seconds=reward.total_seconds,
        reward_calls=reward.calls,
        resumed_from=last_checkpoint,
        train_records=len(dataset),
        heldout_records=len(heldout),
        metrics=log_rows(trainer.state.log_history),
        heldout=heldout,
        device=_device_name(trainer.args.device),
    )
    if state.is_main_process:
        _portable_training_args(out)
        write_jsonl(out / METRICS_FILE, result.metrics)
        with open(out / RESULT_FILE, "w", encoding="utf-8") as fh:
            json.dump(result.to_dict(), fh, indent=1)
    log.info(
        "run finished: %d steps in %.0f s (reward %.1f s) -> %s",
        result.global_step,
        result.train_seconds,
        result.reward_seconds,
        out,
    )
    return result


def _device_name(device: Any) -> str:
    """``cpu``, or the accelerator with its name (``cuda:0 (NVIDIA H200)``): what a report says training ran on."""
    import torch

    if getattr(device, "type", "") == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _portable_training_args(out: Path) -> None:
    """Rewrites the ``training_args.bin`` files the trainer saved (a pickle of its config, written by this run)
    with ``output_dir`` relative to the run folder, so a zipped run folder carries no path of this machine."""
    import torch

    for path in sorted(out.rglob("training_args.bin")):
        args = torch.load(path, weights_only=False)  # this run's own file, saved minutes ago
        if os.path.isabs(str(getattr(args, "output_dir", ""))):
            args.output_dir = os.path.relpath(args.output_dir, out)
            torch.save(args, path)


def heldout_records(run_dir: str | os.PathLike) -> list[Any]:
    """The held-out records of a run folder, from its ``params.yaml`` and ``data_split.json`` (for a run trained
    elsewhere, e.g. ``verif-nb eval heldout --run``; the process that trained has them as ``RunResult.heldout``).

    Example:
        >>> heldout_records("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ParamsError: /nonexistent has no data_split.json; is it a verif-nb run folder?
    """
    from verif_nb.train.data import load_training_records

    run = Path(run_dir)
    split_path = run / "data_split.json"
    if not split_path.exists():
        raise ParamsError(f"{run} has no data_split.json; is it a verif-nb run folder?")
    with open(split_path, encoding="utf-8") as fh:
        split = json.load(fh)
    p = load_params(run / PARAMS_FILE)
    wanted = set(split["heldout"])
    return [r for r in load_training_records(p.data, p.verifier.mode) if r.id in wanted]
