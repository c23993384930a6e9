"""Interactive views for JupyterLab: a record browser, a verification playground, a run comparison.

The logic is in plain functions (``record_html``, ``Playground.evaluate``, ``compare_runs``, ...),
tested without a browser; the ipywidgets (``record_browser``, ``playground``, ``run_comparison``) only
wire them to controls and need a live kernel. A papermill run shows the static HTML instead.

Example:
    >>> from verif_nb.widgets import record_html
    >>> from verif_nb.records import Record
    >>> "Say hi." in record_html(Record("a", "Say hi.", []))
    True
"""

from verif_nb.widgets._views import (
    COMBINES,
    MODES,
    Playground,
    PlaygroundResult,
    compare_runs,
    comparison_html,
    constraint_label,
    constraints_frame,
    gold_frame,
    playground_html,
    record_html,
    record_label,
    record_text,
    run_choices,
    run_figures,
)
from verif_nb.widgets._widgets import playground, record_browser, run_comparison

__all__ = [
    "COMBINES",
    "MODES",
    "Playground",
    "PlaygroundResult",
    "compare_runs",
    "comparison_html",
    "constraint_label",
    "constraints_frame",
    "gold_frame",
    "playground",
    "playground_html",
    "record_browser",
    "record_html",
    "record_label",
    "record_text",
    "run_choices",
    "run_comparison",
    "run_figures",
]
