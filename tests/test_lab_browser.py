"""JupyterLab in a real browser: notebook 01 opened in Debian's Chromium, every cell run, a response typed
into the verification playground, and a verdict on the page seen to change.

The browser is driven over the DevTools protocol (tests/chromium_cdp.py); nothing downloads a browser.
Screenshots go to the test's output folder (``tmp_path``; pytest keeps the last three runs under its base
temp folder, ``--basetemp`` chooses it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from tests.chromium_cdp import ALL_CELLS_RAN, ERRORS, KERNEL_IDLE, NOTEBOOK, Chromium, JupyterLab

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        Chromium.find() is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
    ),
]

VERDICTS = "Array.from(document.querySelectorAll('.vnb-verdict')).map(e => e.innerText).join(' | ')"
TEXTAREA = "document.querySelector('.widget-textarea textarea')"


def _notebook_copy(folder: Path) -> Path:
    """Notebook 01 with its outputs pointed into ``folder`` (as a pipeline would set its parameters)."""
    nb = nbformat.read(ROOT / "notebooks" / "01_dataset_inspection.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += (
        f"\nfigures_dir = {str(folder / 'figures')!r}\nmetrics_dir = {str(folder / 'metrics')!r}"
        f"\njudge_cache_dir = {str(folder / 'judge_cache')!r}"
    )
    path = folder / "01_dataset_inspection.ipynb"
    nbformat.write(nb, path)
    return path


def test_playground_verdict_changes_when_a_response_is_typed_in_jupyterlab(tmp_path):
    t0 = time.monotonic()
    served = tmp_path / "notebooks"
    served.mkdir()
    _notebook_copy(served)
    timings = {}
    with JupyterLab(served, log=tmp_path / "jupyterlab.log") as lab, Chromium() as browser:
        browser.navigate(lab.url("lab/tree/01_dataset_inspection.ipynb"))
        browser.wait_for(KERNEL_IDLE, timeout_s=180, what="the notebook open with the verif-nb kernel idle")
        timings["page_usable_s"] = time.monotonic() - t0
        assert browser.evaluate(f"{NOTEBOOK}.sessionContext.session.kernel.name") == "verif-nb"
        browser.screenshot(tmp_path / "1_opened.png")

        browser.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
        browser.wait_for(ALL_CELLS_RAN, timeout_s=300, what="every cell executed")
        assert browser.evaluate(ERRORS) == []
        browser.wait_for(
            f"{TEXTAREA} !== null && document.querySelectorAll('.vnb-verdict').length > 0",
            timeout_s=60,
            what="the playground rendered",
        )
        timings["all_cells_s"] = time.monotonic() - t0
        browser.evaluate(f"{TEXTAREA}.scrollIntoView({{block: 'start'}})")
        time.sleep(0.5)
        before = browser.evaluate(VERDICTS)
        assert "pass" in before
        browser.screenshot(tmp_path / "2_playground_before.png")

        browser.evaluate(f"{TEXTAREA}.focus(); {TEXTAREA}.select()")
        browser.insert_text("hi")  # far too short for the record's length constraint
        after = browser.wait_for(
            f"(() => {{ const v = {VERDICTS}; return v !== {json.dumps(before)} && v; }})()",
            timeout_s=60,
            what="a verdict on the page to change",
        )
        browser.evaluate(f"{TEXTAREA}.scrollIntoView({{block: 'start'}})")
        time.sleep(0.5)
        browser.screenshot(tmp_path / "3_playground_after.png")
        assert browser.evaluate(f"{TEXTAREA}.value") == "hi"
    changed = [(b, a) for b, a in zip(before.split(" | "), after.split(" | ")) if b != a]
    assert changed and any(a.startswith("fail") for _, a in changed), changed
    timings["total_s"] = time.monotonic() - t0
    (tmp_path / "timings.json").write_text(json.dumps(timings, indent=1))
    for png in ("1_opened.png", "2_playground_before.png", "3_playground_after.png"):
        assert (tmp_path / png).stat().st_size > 10_000, f"{png} looks blank"
    print(f"screenshots and timings in {tmp_path}: {timings}")
