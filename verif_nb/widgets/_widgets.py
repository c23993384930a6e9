"""ipywidgets views for a live kernel: thin wiring of :mod:`verif_nb.widgets._views` to controls.

Each function returns a widget box; in a papermill run (``interactive=False`` in the notebooks) the
notebook shows the static HTML of the same view instead, since nothing could operate the controls.

Example:
    >>> from verif_nb.records import Record
    >>> box = record_browser([Record("a", "Say hi.", [])])
    >>> type(box).__name__
    'VBox'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verif_nb.records import Record
from verif_nb.widgets._views import Playground, comparison_html, playground_html, record_html, record_label, run_choices


def _picker(records: Sequence[Record], description: str = "record") -> Any:
    import ipywidgets as w

    return w.Dropdown(
        options=[(record_label(i, r), i) for i, r in enumerate(records)],
        value=0 if records else None,
        description=description,
        layout=w.Layout(width="95%"),
    )


def record_browser(records: Sequence[Record]) -> Any:
    """Pick a record; see its prompt, constraints (kind, group, rule code, description) and gold labels.

    Example:
        >>> record_browser([]).children[1].value
        '<p>No records.</p>'
    """
    import ipywidgets as w

    picker = _picker(records)
    page = w.HTML(record_html(records[0]) if records else "<p>No records.</p>")

    def show(change: dict) -> None:
        page.value = record_html(records[change["new"]])

    picker.observe(show, names="value")
    return w.VBox([picker, page])


def playground(
    records: Sequence[Record], judge: Any = None, playground: Playground | None = None, start: int = 0
) -> Any:
    """Edit a response and see each constraint's verdict and reason, and the reward under every mode and
    combination, as you type. ``judge`` is a JudgeConfig/JudgeClient (None: rule mode only).

    Example:
        >>> from verif_nb.records import Constraint, Record
        >>> rec = Record("a", "No commas.", [Constraint("punctuation:no_comma", "rule",
        ...                                             checker_id="punctuation:no_comma")])
        >>> box = playground([rec])
        >>> box.children[1].value = "a, b"
        >>> "fail" in box.children[2].value
        True
    """
    import ipywidgets as w

    engine = playground or Playground(judge=judge)
    picker = _picker(records)
    if records:
        picker.value = start
    first = records[start].responses[0].text if records and records[start].responses else ""
    editor = w.Textarea(
        value=first,
        placeholder="type a response",
        continuous_update=True,
        layout=w.Layout(width="95%", height="10em"),
        description="response",
    )
    out = w.HTML()

    def refresh(*_: Any) -> None:
        if not records:
            out.value = "<p>No records.</p>"
            return
        out.value = playground_html(engine.evaluate(records[picker.value], editor.value))

    def pick(change: dict) -> None:
        record = records[change["new"]]
        editor.value = record.responses[0].text if record.responses else ""  # triggers refresh
        refresh()

    picker.observe(pick, names="value")
    editor.observe(refresh, names="value")
    refresh()
    box = w.VBox([picker, editor, out])
    box.playground = engine  # so the notebook can close its sandbox workers
    return box


def run_comparison(outputs_root: str | Path = "outputs") -> Any:
    """Pick two runs under ``outputs_root``; see their headline numbers and figures side by side.

    Example:
        >>> run_comparison("/nonexistent").children[-1].value
        '<p>No runs under /nonexistent.</p>'
    """
    import ipywidgets as w

    choices = run_choices(outputs_root)
    if not choices:
        return w.VBox([w.HTML(f"<p>No runs under {outputs_root}.</p>")])
    a = w.Dropdown(
        options=choices, value=choices[min(1, len(choices) - 1)][1], description="run a", layout=w.Layout(width="48%")
    )
    b = w.Dropdown(options=choices, value=choices[0][1], description="run b", layout=w.Layout(width="48%"))
    out = w.HTML()

    def refresh(*_: Any) -> None:
        out.value = comparison_html(a.value, b.value)

    a.observe(refresh, names="value")
    b.observe(refresh, names="value")
    refresh()
    return w.VBox([w.HBox([a, b]), out])
