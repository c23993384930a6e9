"""HTML for a run: each executed notebook through nbconvert, and an ``index.html`` linking it all
(a jinja2 template, ``templates/index.html.j2``, so the page's markup is not built from strings).

Example:
    >>> _fmt(0.123456), _fmt({"a": 1})
    ('0.1235', '{"a": 1}')
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def notebook_to_html(notebook: str | Path, html_path: str | Path, hide_input: bool = False) -> Path:
    """Render an executed notebook to standalone HTML (figures embedded); ``hide_input`` hides code.

    Example:
        >>> notebook_to_html("run/notebooks/01.ipynb", "run/html/01.html", hide_input=True)  # doctest: +SKIP
        PosixPath('run/html/01.html')
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    if hide_input:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
    quiet = logging.getLogger("traitlets")  # nbconvert warns about alt text on every plot image
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        body, _ = exporter.from_notebook_node(nb)
    finally:
        quiet.setLevel(level)
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _section(root: Path, name: str) -> dict[str, Any] | None:
    """What index.html shows of one notebook: headline numbers, figures, metric files (None: nothing)."""
    summary_path = root / "metrics" / name / "summary.json"
    pngs = sorted((root / "figures" / name).glob("*.png"))
    if not summary_path.exists() and not pngs:
        return None
    summary: dict[str, str] = {}
    if summary_path.exists():
        try:
            summary = {str(k): _fmt(v) for k, v in json.loads(summary_path.read_text(encoding="utf-8")).items()}
        except ValueError:
            log.warning("%s is not valid JSON; left out of the index", summary_path)
    figures = [
        {
            "name": png.stem,
            "png": png.relative_to(root).as_posix(),
            "svg": png.with_suffix(".svg").relative_to(root).as_posix() if png.with_suffix(".svg").exists() else None,
        }
        for png in pngs
    ]
    metric_files = [
        {"name": p.name, "path": p.relative_to(root).as_posix()}
        for p in sorted((root / "metrics" / name).glob("*"))
        if p.is_file()
    ]
    return {"name": name, "summary": summary, "figures": figures, "metric_files": metric_files}


def _findings_section(root: Path) -> str:
    from verif_nb.findings import findings_html, run_findings

    try:
        return findings_html(run_findings(root))
    except Exception as err:  # an index must still be written; say why the findings are missing
        log.warning("findings of %s could not be computed: %s", root, err)
        return f"<h2>Findings</h2><p class='failed'>could not be computed: {html.escape(repr(err))}</p>"


def write_index(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``run_dir/index.html`` from the ``templates/index.html.j2`` jinja2 template: status,
    notebooks, figures, headline numbers, metric files.

    Example:
        >>> import tempfile
        >>> m = {"run_id": "r<1>", "status": "ok", "params_file": "p.yaml", "started": "t0", "finished": "t1",
        ...      "duration_s": 2.0, "git": {"commit": "abc"}, "notebooks": [{"name": "01", "status": "ok"}]}
        >>> page = write_index(tempfile.mkdtemp(), m).read_text()
        >>> ("verif-nb run r&lt;1&gt;" in page, "<td class='ok'>ok</td>" in page)
        (True, True)
    """
    import jinja2

    root = Path(run_dir)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("verif_nb.pipeline", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    notebooks = [
        {
            "name": e["name"],
            "status": e["status"],
            "error": e.get("error"),
            "seconds": f"{e['duration_s']:.1f}" if e.get("duration_s") is not None else "",
            "html": (root / "html" / f"{e['name']}.html").exists(),
            "ipynb": (root / "notebooks" / f"{e['name']}.ipynb").exists(),
        }
        for e in manifest["notebooks"]
    ]
    sections = [s for s in (_section(root, e["name"]) for e in manifest["notebooks"]) if s is not None]
    page = env.get_template("index.html.j2").render(
        m={
            "description": None,
            "finished": None,
            "duration_s": 0,
            **manifest,
            "git": {"commit": None, "dirty": False, **manifest.get("git", {})},
        },
        ids={k: v for k, v in manifest.get("ids", {}).items() if v not in (None, "")},
        notebooks=notebooks,
        sections=sections,
        findings=_findings_section(root),  # after the title: what the run found comes first
    )
    index = root / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
