"""Reporting: what the notebooks call to present results (tables of records, the notebook's judge, metric
files, typed headline summaries, figures in :mod:`verif_nb.report.plots`), the run folder's layout
(:mod:`verif_nb.report.layout`), the findings (:mod:`verif_nb.report.findings`), the index page and the
single-file report (:mod:`verif_nb.report.index`).

Example:
    >>> from verif_nb.report import NotebookJudge
    >>> NotebookJudge.open("none").describe()
    'no judge: only rule mode runs'
"""

from verif_nb.files import project_path, project_root
from verif_nb.report.judge import JUDGE_KINDS, NotebookJudge
from verif_nb.report.layout import RunLayout, read_manifest
from verif_nb.report.metrics import (
    find_runs,
    read_metrics,
    read_run_metrics,
    runs_summary,
    save_metrics,
    summary_table,
)
from verif_nb.report.summaries import (
    AblationSummary,
    ModeScores,
    ablation_summary,
    accuracy_across_runs,
    dataset_summary,
    mode_measure,
    training_summary,
    verifier_scoreboard,
)
from verif_nb.report.tables import constraint_table, load_data, record_table, response_table, rule_health

__all__ = [
    "JUDGE_KINDS",
    "AblationSummary",
    "ModeScores",
    "NotebookJudge",
    "RunLayout",
    "ablation_summary",
    "accuracy_across_runs",
    "constraint_table",
    "dataset_summary",
    "find_runs",
    "load_data",
    "mode_measure",
    "project_path",
    "project_root",
    "read_manifest",
    "read_metrics",
    "read_run_metrics",
    "record_table",
    "response_table",
    "rule_health",
    "runs_summary",
    "save_metrics",
    "summary_table",
    "training_summary",
    "verifier_scoreboard",
]
