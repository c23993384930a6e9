"""The notebook pipeline: parameter files, papermill runs into ``outputs/<run-id>/``, HTML reports.

``verif-nb run params/ci.yaml`` executes the notebooks the file names, in order, in the
``verif-nb`` kernel (this interpreter), and writes executed notebooks, HTML, figures, metrics, a
``manifest.json`` and an ``index.html``. See :mod:`verif_nb.pipeline._params` for the file format.

Example:
    >>> from verif_nb.pipeline import run_pipeline
    >>> run_dir = run_pipeline("params/ci.yaml")  # doctest: +SKIP
"""

from verif_nb.pipeline._dataset import constraint_table, load_data, record_table, response_table, rule_health
from verif_nb.pipeline._judge import JUDGE_KINDS, NotebookJudge
from verif_nb.pipeline._kernel import KERNEL_NAME, install_kernel, kernel_spec, private_kernel
from verif_nb.pipeline._outputs import (
    find_runs,
    project_path,
    project_root,
    read_manifest,
    read_metrics,
    read_run_metrics,
    runs_summary,
    save_metrics,
    summary_table,
)
from verif_nb.pipeline._params import (
    INJECTED_KEYS,
    NotebookParameter,
    PipelineParams,
    load_params,
    notebook_parameters,
    parse_parameters_source,
)
from verif_nb.pipeline._report import notebook_to_html, write_index
from verif_nb.pipeline._run import NotebookFailedError, new_run_dir, package_versions, run_pipeline

__all__ = [
    "INJECTED_KEYS",
    "JUDGE_KINDS",
    "KERNEL_NAME",
    "NotebookFailedError",
    "NotebookJudge",
    "NotebookParameter",
    "PipelineParams",
    "constraint_table",
    "find_runs",
    "load_data",
    "install_kernel",
    "kernel_spec",
    "load_params",
    "new_run_dir",
    "notebook_parameters",
    "notebook_to_html",
    "package_versions",
    "parse_parameters_source",
    "private_kernel",
    "project_path",
    "project_root",
    "read_manifest",
    "read_metrics",
    "read_run_metrics",
    "record_table",
    "response_table",
    "rule_health",
    "run_pipeline",
    "runs_summary",
    "save_metrics",
    "summary_table",
    "write_index",
]
