"""Where notebooks put their results, and how a report reads them back.

Inside a run every notebook gets ``figures_dir`` and ``metrics_dir`` (its own folders under
``outputs/<run-id>/figures/<notebook>/`` and ``.../metrics/<notebook>/``) and ``run_dir``. Tables
go to CSV, dicts to JSON; each notebook writes a flat ``summary.json`` of its headline numbers,
which the run's ``index.html`` and ``04_results_report`` show.

Example:
    >>> import tempfile, pandas as pd
    >>> d = tempfile.mkdtemp()
    >>> [p.name for p in save_metrics({"records": 3}, "summary", d)]
    ['summary.json']
    >>> read_metrics(d)["summary"]
    {'records': 3}
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from verif_nb.report.layout import MetricFile, read_manifest

SUMMARY = "summary"


def _jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN to None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_metrics(obj: Any, name: str | MetricFile, metrics_dir: str | Path) -> list[Path]:
    """Write metrics: a DataFrame to ``name.csv``, anything else (dict, list) to ``name.json``.

    ``name`` is a plain name or one of the run layout's :class:`~verif_nb.report.layout.MetricFile` constants
    (files that the findings and reports read back), whose suffix must match what is written.

    Example:
        >>> import tempfile, pandas as pd
        >>> save_metrics(pd.DataFrame({"a": [1]}), "t", tempfile.mkdtemp())[0].suffix
        '.csv'
        >>> from verif_nb.report.layout import TRAIN_STEPS
        >>> save_metrics({"a": 1}, TRAIN_STEPS, tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        ValueError: train_steps.csv is a table: pass a DataFrame
    """
    if isinstance(name, MetricFile):
        is_table = isinstance(obj, (pd.DataFrame, pd.Series))
        if is_table != (name.suffix == ".csv"):
            kind = "a table: pass a DataFrame" if name.suffix == ".csv" else "JSON: pass a dict or a list"
            raise ValueError(f"{name.name} is {kind}")
        name = name.stem
    folder = Path(metrics_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
    if isinstance(obj, pd.DataFrame):
        path = folder / f"{name}.csv"
        obj.to_csv(path, index=not isinstance(obj.index, pd.RangeIndex))
        return [path]
    path = folder / f"{name}.json"
    path.write_text(json.dumps(_jsonable(obj), indent=2, sort_keys=False), encoding="utf-8")
    return [path]


def read_metrics(metrics_dir: str | Path) -> dict[str, Any]:
    """Everything :func:`save_metrics` wrote in one folder: ``{name: DataFrame | dict | list}``.

    Example:
        >>> read_metrics("/nonexistent")
        {}
    """
    folder = Path(metrics_dir)
    out: dict[str, Any] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        if path.suffix == ".csv":
            out[path.stem] = pd.read_csv(path)
        elif path.suffix == ".json":
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return out


def read_run_metrics(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """All metrics of a run, per notebook: ``{notebook: {name: table or dict}}``.

    Example:
        >>> read_run_metrics("/nonexistent")
        {}
    """
    root = Path(run_dir) / "metrics"
    if not root.is_dir():
        return {}
    return {d.name: read_metrics(d) for d in sorted(root.iterdir()) if d.is_dir()}


def find_runs(outputs_root: str | Path = "outputs") -> list[Path]:
    """Run folders (those holding a ``manifest.json``) under ``outputs_root``, oldest first.

    Example:
        >>> find_runs("/nonexistent")
        []
    """
    root = Path(outputs_root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "manifest.json").is_file())


def summary_table(run_dir: str | Path) -> pd.DataFrame:
    """The ``summary.json`` numbers of every notebook of a run as one long table.

    Columns: ``notebook``, ``metric``, ``value``.

    Example:
        >>> list(summary_table("/nonexistent").columns)
        ['notebook', 'metric', 'value']
    """
    rows = []
    for notebook, metrics in read_run_metrics(run_dir).items():
        for key, value in (metrics.get(SUMMARY) or {}).items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                rows.append({"notebook": notebook, "metric": key, "value": value})
    return pd.DataFrame(rows, columns=["notebook", "metric", "value"])


def runs_summary(run_dirs: list[str | Path]) -> pd.DataFrame:
    """The headline numbers (``summary.json``) of several runs side by side, one row per number.

    Columns: ``run_id``, ``status``, ``params_file``, ``notebook``, ``metric``, ``value``. Only numeric
    values are kept, so the table can be plotted across runs.

    Example:
        >>> runs_summary([]).empty
        True
    """
    frames = []
    for run in run_dirs:
        manifest = read_manifest(run)
        table = summary_table(run)
        table = table[table["value"].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))]
        frames.append(
            table.assign(
                run_id=manifest.get("run_id", Path(run).name),
                status=manifest.get("status"),
                params_file=manifest.get("params_file"),
            )
        )
    columns = ["run_id", "status", "params_file", "notebook", "metric", "value"]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)[columns]
    out["value"] = out["value"].astype(float)
    return out
