"""HTML for a run: each executed notebook through nbconvert, and an ``index.html`` linking it all.

Example:
    >>> "<td>1</td>" in _kv_table({"records": 1})
    True
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0} table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left;vertical-align:top} th{background:#f4f4f4}
.ok{color:#17803d;font-weight:600} .failed{color:#b3261e;font-weight:600} .running,.not-run,.interrupted{color:#8a6d00}
.gallery{display:flex;flex-wrap:wrap;gap:1em} figure{margin:0;width:360px;border:1px solid #eee;padding:.5em}
figure img{width:100%;height:auto} figcaption{font-size:.85em;color:#444;word-break:break-all}
pre{background:#fbf2f2;padding:.6em;white-space:pre-wrap}
"""


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


def _kv_table(values: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in values.items())
    return f"<table><tr><th>key</th><th>value</th></tr>{rows}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _ids_html(ids: dict[str, Any]) -> str:
    shown = {k: v for k, v in ids.items() if v not in (None, "")}
    return "<br>".join(f"{html.escape(k)}: <code>{html.escape(str(v))}</code>" for k, v in shown.items()) or "-"


def _rel(path: Path, root: Path) -> str:
    return html.escape(path.relative_to(root).as_posix(), quote=True)


def _findings_section(root: Path) -> str:
    from verif_nb.findings import findings_html, run_findings

    try:
        return findings_html(run_findings(root))
    except Exception as err:  # an index must still be written; say why the findings are missing
        log.warning("findings of %s could not be computed: %s", root, err)
        return f"<h2>Findings</h2><p class='failed'>could not be computed: {html.escape(repr(err))}</p>"


def write_index(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``run_dir/index.html``: status, notebooks, figures, headline numbers, metric files.

    Example:
        >>> write_index("outputs/20260101-000000-ci", manifest)  # doctest: +SKIP
        PosixPath('outputs/20260101-000000-ci/index.html')
    """
    root = Path(run_dir)
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>verif-nb run {esc(manifest['run_id'])}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>verif-nb run {esc(manifest['run_id'])}</h1>",
             f"<p class='sub'>{esc(manifest.get('description') or '')}</p>",
             "<table>",
             f"<tr><th>status</th><td class='{esc(manifest['status'])}'>{esc(manifest['status'])}</td></tr>",
             f"<tr><th>parameter file</th><td><a href='params.yaml'>{esc(manifest['params_file'])}</a></td></tr>",
             f"<tr><th>started / finished</th><td>{esc(manifest['started'])} / {esc(str(manifest.get('finished')))}</td></tr>",
             f"<tr><th>total</th><td>{manifest.get('duration_s', 0):.1f} s</td></tr>",
             f"<tr><th>git commit</th><td>{esc(str(manifest['git'].get('commit')))}"
             f"{' (uncommitted changes)' if manifest['git'].get('dirty') else ''}</td></tr>",
             f"<tr><th>model / judge / data</th><td>{_ids_html(manifest.get('ids', {}))}</td></tr>",
             "<tr><th>manifest</th><td><a href='manifest.json'>manifest.json</a></td></tr></table>"]
    parts.insert(4, _findings_section(root))  # after the title: what the run found comes first
    parts.append("<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>seconds</th>"
                 "<th>report</th><th>executed notebook</th></tr>")
    for entry in manifest["notebooks"]:
        name = entry["name"]
        status = entry["status"]
        html_link = f"<a href='html/{esc(name)}.html'>HTML</a>" if (root / "html" / f"{name}.html").exists() else ""
        nb_link = (f"<a href='notebooks/{esc(name)}.ipynb'>{esc(name)}.ipynb</a>"
                   if (root / "notebooks" / f"{name}.ipynb").exists() else "")
        seconds = f"{entry['duration_s']:.1f}" if entry.get("duration_s") is not None else ""
        parts.append(f"<tr><td>{esc(name)}</td><td class='{esc(status)}'>{esc(status)}</td><td>{seconds}</td>"
                     f"<td>{html_link}</td><td>{nb_link}</td></tr>")
    parts.append("</table>")
    for entry in manifest["notebooks"]:
        if entry.get("error"):
            parts.append(f"<h3>Error in {esc(entry['name'])}</h3><pre>{esc(entry['error'])}</pre>")
    for entry in manifest["notebooks"]:
        name = entry["name"]
        summary_path = root / "metrics" / name / "summary.json"
        pngs = sorted((root / "figures" / name).glob("*.png"))
        if not summary_path.exists() and not pngs:
            continue
        parts.append(f"<h2>{esc(name)}</h2>")
        if summary_path.exists():
            try:
                parts.append(_kv_table(json.loads(summary_path.read_text(encoding="utf-8"))))
            except ValueError:
                log.warning("%s is not valid JSON; left out of the index", summary_path)
        if pngs:
            parts.append("<div class='gallery'>")
            for png in pngs:
                svg = png.with_suffix(".svg")
                svg_link = f" · <a href='{_rel(svg, root)}'>SVG</a>" if svg.exists() else ""
                parts.append(f"<figure><a href='{_rel(png, root)}'><img src='{_rel(png, root)}' "
                             f"alt='{esc(png.stem)}'></a><figcaption>{esc(png.stem)}{svg_link}</figcaption></figure>")
            parts.append("</div>")
        metric_files = sorted(p for p in (root / "metrics" / name).glob("*") if p.is_file())
        if metric_files:
            links = " · ".join(f"<a href='{_rel(p, root)}'>{esc(p.name)}</a>" for p in metric_files)
            parts.append(f"<p>Metrics: {links}</p>")
    parts.append("</body></html>")
    index = root / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index
