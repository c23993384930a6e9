"""The run folder's layout, defined once: what ``verif-nb run`` writes where, and the metric files that the
notebooks write and the findings, the index and notebook 04 read back.

A run folder ``outputs/<run-id>/`` holds::

    index.html  report.html  manifest.json  params.yaml
    notebooks/<notebook>.ipynb     executed notebooks
    html/<notebook>.html           their renderings
    figures/<notebook>/*.png|svg   figures
    metrics/<notebook>/*.csv|json  metrics (see the MetricFile constants below)
    training/                      notebook 03's GRPO run (checkpoints, final model, metrics.jsonl)

Example:
    >>> layout = RunLayout("outputs/20260101-000000-demo")
    >>> layout.metric(TRAIN_STEPS).as_posix()
    'outputs/20260101-000000-demo/metrics/03_grpo_training/train_steps.csv'
    >>> layout.read(TRAIN_STEPS) is None
    True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATASET = "01_dataset_inspection"
ABLATION = "02_verifier_ablation"
TRAINING = "03_grpo_training"
RESULTS = "04_results_report"
NOTEBOOKS: tuple[str, ...] = (DATASET, ABLATION, TRAINING, RESULTS)

SUBFOLDERS: tuple[str, ...] = ("notebooks", "html", "figures", "metrics")


@dataclass(frozen=True)
class MetricFile:
    """One metric file of a notebook: ``metrics/<notebook>/<stem><suffix>``.

    Example:
        >>> TRAIN_STEPS.name
        'train_steps.csv'
    """

    notebook: str
    stem: str
    suffix: str  # ".csv" (a table) or ".json" (a mapping or a list)

    @property
    def name(self) -> str:
        return self.stem + self.suffix


def summary_file(notebook: str) -> MetricFile:
    """The flat ``summary.json`` of headline numbers every notebook writes.

    Example:
        >>> summary_file(ABLATION).name
        'summary.json'
    """
    return MetricFile(notebook, "summary", ".json")


def ids_file(notebook: str) -> MetricFile:
    """The ``ids.json`` naming the models, judge and data a notebook used (collected into the manifest).

    Example:
        >>> ids_file(TRAINING).stem
        'ids'
    """
    return MetricFile(notebook, "ids", ".json")


# What the findings read (written by notebooks 02 and 03).
RESPONSE_REWARDS = MetricFile(ABLATION, "response_rewards", ".csv")
CONSTRAINT_VERDICTS = MetricFile(ABLATION, "constraint_verdicts", ".csv")
JUDGE_CALIBRATION_CASES = MetricFile(ABLATION, "judge_calibration_cases", ".csv")
TRAIN_STEPS = MetricFile(TRAINING, "train_steps", ".csv")
HELDOUT_BEFORE_AFTER = MetricFile(TRAINING, "heldout_before_after", ".csv")
IFEVAL_BEFORE_AFTER = MetricFile(TRAINING, "ifeval_before_after", ".csv")
# What the index shows besides (written by notebook 03): the training parameters as resolved, and a few held-out
# prompts with the answers before and after training.
TRAIN_PARAMS = MetricFile(TRAINING, "train_params", ".json")
SAMPLE_COMPLETIONS = MetricFile(TRAINING, "sample_completions", ".json")


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run folder, and typed reads of its metric files.

    Example:
        >>> RunLayout("r").figures(ABLATION).as_posix()
        'r/figures/02_verifier_ablation'
    """

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def index(self) -> Path:
        return self.root / "index.html"

    @property
    def single_file(self) -> Path:
        return self.root / "report.html"

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def training(self) -> Path:
        return self.root / "training"

    def notebook(self, name: str) -> Path:
        return self.root / "notebooks" / f"{name}.ipynb"

    def html(self, name: str) -> Path:
        return self.root / "html" / f"{name}.html"

    def figures(self, name: str) -> Path:
        return self.root / "figures" / name

    def metrics(self, name: str) -> Path:
        return self.root / "metrics" / name

    def metric(self, metric: MetricFile) -> Path:
        return self.metrics(metric.notebook) / metric.name

    def read(self, metric: MetricFile) -> Any:
        """The metric file as a DataFrame (CSV) or a JSON value; None when the notebook did not write it.

        Example:
            >>> RunLayout("/nonexistent").read(RESPONSE_REWARDS) is None
            True
        """
        path = self.metric(metric)
        if not path.is_file():
            return None
        if metric.suffix == ".csv":
            import pandas as pd

            return pd.read_csv(path)
        return json.loads(path.read_text(encoding="utf-8"))


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run's ``manifest.json`` as a dict (empty when the folder has none).

    Example:
        >>> read_manifest("/nonexistent")
        {}
    """
    path = RunLayout(run_dir).manifest
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
