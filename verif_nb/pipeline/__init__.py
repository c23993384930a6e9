"""The notebook pipeline: parameter files, the notebook kernel, papermill runs into ``outputs/<run-id>/``
with each run's HTML and index (what notebooks call to present results lives in :mod:`verif_nb.report`).

``verif-nb run params/ci.yaml`` executes the notebooks the file names, in order, in the
``verif-nb`` kernel (this interpreter), and writes executed notebooks, HTML, figures, metrics, a
``manifest.json`` and an ``index.html``. See :mod:`verif_nb.pipeline._params` for the file format.

Example:
    >>> from verif_nb.pipeline import run_pipeline
    >>> run_dir = run_pipeline("params/ci.yaml")  # doctest: +SKIP
"""

from verif_nb.pipeline._kernel import KERNEL_NAME, install_kernel, kernel_spec, private_kernel
from verif_nb.pipeline._params import (
    INJECTED_KEYS,
    NotebookParameter,
    PipelineFile,
    PipelineParams,
    load_pipeline_params,
    notebook_parameters,
    parse_parameters_source,
)
from verif_nb.pipeline._run import NotebookFailedError, new_run_dir, package_versions, run_pipeline
from verif_nb.pipeline.notebooks import NOTEBOOK_PARAMS

__all__ = [
    "INJECTED_KEYS",
    "KERNEL_NAME",
    "NOTEBOOK_PARAMS",
    "NotebookFailedError",
    "NotebookParameter",
    "PipelineFile",
    "PipelineParams",
    "install_kernel",
    "kernel_spec",
    "load_pipeline_params",
    "new_run_dir",
    "notebook_parameters",
    "package_versions",
    "parse_parameters_source",
    "private_kernel",
    "run_pipeline",
]
