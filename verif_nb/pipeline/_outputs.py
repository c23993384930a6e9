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


def save_metrics(obj: Any, name: str, metrics_dir: str | Path) -> list[Path]:
    """Write metrics: a DataFrame to ``name.csv``, anything else (dict, list) to ``name.json``.

    Example:
        >>> import tempfile, pandas as pd
        >>> save_metrics(pd.DataFrame({"a": [1]}), "t", tempfile.mkdtemp())[0].suffix
        '.csv'
    """
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


def project_path(path: str | Path) -> Path:
    """Resolve a relative path the way both the pipeline and JupyterLab expect.

    The pipeline runs notebooks in the folder ``verif-nb run`` was started from (normally the
    project root); JupyterLab runs them in ``notebooks/``. A relative path that does not exist
    here is therefore also tried in the parent folders (up to the one holding ``pyproject.toml``).

    Example:
        >>> project_path("/tmp").is_absolute()
        True
    """
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    here = Path.cwd()
    for parent in [here, *here.parents]:
        if (parent / p).exists():
            return parent / p
        if (parent / "pyproject.toml").exists():
            break
    return p


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
