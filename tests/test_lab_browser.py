"""JupyterLab in a real browser (Debian's Chromium over the DevTools protocol, tests/chromium_cdp.py):

- the project's notebook 01 opened through the lab's own server, every cell run, a response typed into the
  verification playground and a verdict seen to change; then saved, and git sees no change in notebooks/
  (the lab's pre-save hook saves a tracked notebook as the repository keeps it); no "Jupyter news" prompt;
- every executed notebook of a pipeline run opened in JupyterLab from its run folder, outputs rendered;
- the single-file report opened in Chromium: every figure decoded, the sections a reader needs present.

Screenshots go to the test's output folder (``tmp_path``; pytest keeps the last three runs under its base
temp folder, ``--basetemp`` chooses it).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

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
NEWS_PROMPT = "document.body.innerText.includes('official Jupyter news')"


def _git_status(path: Path) -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--", str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_playground_in_the_project_notebook_and_saving_leaves_git_clean(tmp_path):
    notebook = ROOT / "notebooks" / "01_dataset_inspection.ipynb"
    committed = notebook.read_bytes()
    status_before = _git_status(ROOT / "notebooks")
    t0 = time.monotonic()
    timings = {}
    try:
        with JupyterLab(ROOT / "notebooks", log=tmp_path / "jupyterlab.log") as lab, Chromium() as browser:
            settings = json.load(
                urllib.request.urlopen(lab.url("lab/api/settings/@jupyterlab/apputils-extension:notification"))
            )
            assert settings["schema"]["properties"]["fetchNews"]["default"] == "false"  # the lab's own default

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
            assert not browser.evaluate(NEWS_PROMPT), "the 'Jupyter news' prompt was shown"

            # save what ran: the outputs stay in the page, the file stays as committed
            outputs = browser.evaluate(
                f"{NOTEBOOK}.content.widgets.filter(c => c.model.type === 'code')"
                ".reduce((n, c) => n + c.model.outputs.length, 0)"
            )
            assert outputs > 10
            browser.evaluate(f"{NOTEBOOK}.context.save()")
            browser.wait_for(f"!{NOTEBOOK}.context.model.dirty", timeout_s=60, what="the notebook saved")
            timings["saved_s"] = time.monotonic() - t0
        changed = [(b, a) for b, a in zip(before.split(" | "), after.split(" | ")) if b != a]
        assert changed and any(a.startswith("fail") for _, a in changed), changed
        assert notebook.read_bytes() == committed, "saving from the lab changed the tracked notebook"
        assert _git_status(ROOT / "notebooks") == status_before
    finally:
        notebook.write_bytes(committed)  # never leave the checkout changed, whatever failed above
    timings["total_s"] = time.monotonic() - t0
    (tmp_path / "timings.json").write_text(json.dumps(timings, indent=1))
    for png in ("1_opened.png", "2_playground_before.png", "3_playground_after.png"):
        assert (tmp_path / png).stat().st_size > 10_000, f"{png} looks blank"
    print(f"screenshots and timings in {tmp_path}: {timings}")


def _panel(path: str) -> str:
    """JavaScript: the open notebook panel of ``path`` (a path below the server root)."""
    return f"Array.from(jupyterapp.shell.widgets('main')).find(w => w.context && w.context.path === {json.dumps(path)})"


LOAD_ERROR = "!!document.querySelector('.jp-Dialog')"  # JupyterLab's "File Load Error" for a notebook it cannot read


def test_every_executed_notebook_of_a_run_opens_in_jupyterlab(pipeline_ci_run, tmp_path):
    run = pipeline_ci_run
    paths = sorted(f"notebooks/{p.name}" for p in (run / "notebooks").glob("*.ipynb"))
    assert len(paths) == 4
    rendered = {}
    with JupyterLab(run, log=tmp_path / "jupyterlab.log") as lab, Chromium() as browser:
        browser.navigate(lab.url("lab"))
        browser.wait_for(
            "!!(window.jupyterapp && jupyterapp.commands.hasCommand('docmanager:open'))",
            timeout_s=120,
            what="JupyterLab loaded",
        )
        for path in paths:
            panel = _panel(path)
            browser.evaluate(
                f"jupyterapp.commands.execute('docmanager:open', {{path: {json.dumps(path)}}}).then(() => 1)"
            )
            browser.wait_for(
                f"(() => {{ const w = {panel}; return {LOAD_ERROR} || !!(w && w.context.isReady "
                "&& w.content.widgets.length); })()",
                timeout_s=120,
                what=f"{path} open",
            )
            assert not browser.evaluate(LOAD_ERROR), f"JupyterLab could not open {path}"
            outputs = (
                f"{panel}.content.widgets.filter(c => c.model.type === 'code')"
                ".reduce((n, c) => n + c.model.outputs.length, 0)"
            )
            rendered[path] = browser.wait_for(f"{outputs} > 3 && {outputs}", timeout_s=60, what=f"{path}'s outputs")
            browser.evaluate(f"jupyterapp.shell.activateById({panel}.id)")
            browser.screenshot(tmp_path / f"{Path(path).stem}.png")
    assert all(n > 3 for n in rendered.values()), rendered


def test_the_single_file_report_shows_every_figure_and_says_what_ran_in_chromium(pipeline_ci_run, tmp_path):
    page = pipeline_ci_run / "report.html"
    with Chromium(height=3000) as browser:
        browser.navigate(page.as_uri())
        browser.wait_for("document.readyState === 'complete'", timeout_s=60, what="report.html loaded")
        browser.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        images = browser.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0, i.src.slice(0, 22)])"
        )
        sections = browser.evaluate("Array.from(document.querySelectorAll('section[id]')).map(s => s.id)")
        text = browser.evaluate("document.body.innerText")
        browser.screenshot(tmp_path / "report.png")
    assert len(images) > 20 and all(ok for _, ok, _ in images), [i for i in images if not i[1]]
    assert all(src == "data:image/png;base64," for _, _, src in images)  # one file: nothing to fetch
    assert {"findings", "what-was-run", "environment", "completions"} <= set(sections), sections
    manifest = json.loads((pipeline_ci_run / "manifest.json").read_text())
    for needed in (
        f"Python\t{manifest['python']}",  # with what
        manifest["platform"],  # on what
        f"torch\t{manifest['packages']['torch']}",
        "train_params: params/train_ci.yaml",  # the pipeline parameter file
        "source: synthetic:16",  # the resolved training parameters
        "before training",  # answers before and after training
    ):
        assert needed in text, needed
