"""HTML for a run: each executed notebook through nbconvert, an ``index.html`` linking it all (the jinja2
template ``templates/index.html.j2`` renders the findings and everything else, so no markup is built from
strings), and ``report.html``, the same page with every figure embedded: one file to send.

Example:
    >>> _fmt(0.123456), _fmt({"a": 1})
    ('0.1235', '{"a": 1}')
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from pathlib import Path
from typing import Any

from verif_nb.report.layout import SAMPLE_COMPLETIONS, TRAIN_PARAMS, RunLayout, read_manifest, summary_file

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


def _section(run: RunLayout, name: str) -> dict[str, Any] | None:
    """What index.html shows of one notebook: headline numbers, figures, metric files (None: nothing)."""
    root = run.root
    summary_path = run.metric(summary_file(name))
    pngs = sorted(run.figures(name).glob("*.png"))
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
        for p in sorted(run.metrics(name).glob("*"))
        if p.is_file()
    ]
    return {
        "name": name,
        "summary": summary,
        "summary_source": summary_path.relative_to(root).as_posix(),
        "figures": figures,
        "figures_source": run.figures(name).relative_to(root).as_posix(),
        "metric_files": metric_files,
    }


def _findings(root: Path) -> tuple[list[Any], str | None]:
    """The run's findings, or why they could not be computed (an index is written either way)."""
    from verif_nb.report.findings import run_findings

    try:
        return run_findings(root), None
    except Exception as err:
        log.warning("findings of %s could not be computed: %s", root, err)
        return [], repr(err)


def _shown(value: Any) -> str:
    """A parameter's value as the page writes it (as in a parameter file)."""
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)


def _notebook_parameters(entry: dict[str, Any]) -> list[dict[str, str]]:
    """Every parameter a notebook ran with, and whether this run set it or the notebook's default applied."""
    given = entry.get("parameters") or {}
    effective = entry.get("effective_parameters") or given
    return [
        {"key": k, "value": _shown(v), "set": "this run" if k in given else "notebook default"}
        for k, v in effective.items()
    ]


def _yaml_text(value: Any) -> str | None:
    if value is None:
        return None
    import yaml

    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _environment(m: dict[str, Any]) -> list[tuple[str, str]]:
    """What the run ran with and on: the rows of the page's environment table (from the manifest)."""
    ids = m.get("ids", {})
    sandbox = m.get("sandbox") or {}
    rows = [
        ("Python", m.get("python")),
        ("platform", m.get("platform")),
        ("CPUs", m.get("cpu_count")),
        ("memory", f"{m['memory_gb']:.1f} GB" if m.get("memory_gb") else None),
        ("training device", next((v for k, v in ids.items() if k.endswith(".device")), None)),
        ("git commit", (m.get("git") or {}).get("commit")),
        (
            "dataset code sandbox",
            None
            if not sandbox
            else ("kernel sandbox (seccomp, namespaces)" if sandbox.get("sandboxed") else "NOT sandboxed"),
        ),
    ]
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


def write_index(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``run_dir/index.html`` from the ``templates/index.html.j2`` jinja2 template: the findings, what was
    run (the parameter file, every notebook's parameters, the training parameters), with what and on what (Python,
    platform, package versions, CPUs, the training device), the notebooks, sample answers before and after
    training, each notebook's headline numbers and figures; each part says which file it comes from.

    Example:
        >>> import tempfile
        >>> m = {"run_id": "r<1>", "status": "ok", "params_file": "p.yaml", "started": "t0", "finished": "t1",
        ...      "duration_s": 2.0, "git": {"commit": "abc"}, "notebooks": [{"name": "01", "status": "ok"}]}
        >>> page = write_index(tempfile.mkdtemp(), m).read_text()
        >>> ("verif-nb run r&lt;1&gt;" in page, "<td class='ok'>ok</td>" in page)
        (True, True)
    """
    import jinja2

    run = RunLayout(run_dir)
    root = run.root
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("verif_nb.report", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    notebooks = [
        {
            "name": e["name"],
            "status": e["status"],
            "error": e.get("error"),
            "seconds": f"{e['duration_s']:.1f}" if e.get("duration_s") is not None else "",
            "html": run.html(e["name"]).exists(),
            "ipynb": run.notebook(e["name"]).exists(),
            "parameters": _notebook_parameters(e),
        }
        for e in manifest["notebooks"]
    ]
    sections = [s for s in (_section(run, e["name"]) for e in manifest["notebooks"]) if s is not None]
    findings, findings_error = _findings(root)
    here = RunLayout(".")
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
        findings=findings,  # after the title: what the run found comes first
        findings_error=findings_error,
        params_text=run.params.read_text(encoding="utf-8") if run.params.is_file() else None,
        train_params=_yaml_text(run.read(TRAIN_PARAMS)),
        train_params_source=here.metric(TRAIN_PARAMS).as_posix(),
        environment=_environment(manifest),
        packages={k: v for k, v in (manifest.get("packages") or {}).items() if v},
        completions=run.read(SAMPLE_COMPLETIONS) or [],
        completions_source=here.metric(SAMPLE_COMPLETIONS).as_posix(),
    )
    run.index.write_text(page, encoding="utf-8")
    return run.index


def embed_figures(page: str, run_dir: str | Path) -> str:
    """``page`` with every ``<img src='relative.png'>`` inlined as a data URI and links to files dropped.

    Example:
        >>> embed_figures("<a href='x.csv'>x.csv</a>", "/nonexistent")
        'x.csv'
    """
    root = Path(run_dir)

    def inline(match: re.Match[str]) -> str:
        path = root / html.unescape(match.group(2))
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:image/png;base64,{data}{match.group(3)}"

    page = re.sub(r"(<img [^>]*src=['\"])([^'\"]+\.png)(['\"])", inline, page)
    # links into the run folder do not exist beside a single file: keep their text only
    return re.sub(r"<a href=['\"](?!https?:|#|data:)[^'\"]*['\"]>(.*?)</a>", r"\1", page, flags=re.DOTALL)


def write_single_file(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One self-contained HTML of a run (findings, tables, every figure embedded): ``run_dir/report.html``.

    Example:
        >>> write_single_file("outputs/20260101-000000-demo")  # doctest: +SKIP
        PosixPath('outputs/20260101-000000-demo/report.html')
    """
    run = RunLayout(run_dir)
    index = write_index(run.root, read_manifest(run.root))
    target = Path(out) if out else run.single_file
    target.write_text(embed_figures(index.read_text(encoding="utf-8"), run.root), encoding="utf-8")
    return target
