"""Execute a pipeline parameter file: notebooks in order with papermill into a new run folder
``outputs/<run-id>/`` (run id = ``YYYYmmdd-HHMMSS-<run_name>``), laid out as :mod:`verif_nb.report.layout` says:
the executed notebooks, their HTML (code hidden with ``hide_input``), figures, metrics, ``params.yaml`` (the
parameter file as given), ``manifest.json`` (parameters, git commit, package versions, model/judge ids,
durations, status) and ``index.html``.

Each notebook runs *inside* the run folder, and the paths it is given (``run_dir``, ``figures_dir``,
``metrics_dir``) are relative to it, so what it writes names no path of this machine; the folder ``verif-nb run``
started in reaches the notebooks as ``$VERIF_NB_PROJECT`` (:func:`verif_nb.files.project_path`). What other
programs print (a library's warning naming its own file) is made portable after each notebook, structurally
(:mod:`verif_nb.report.portable`), so a run that fails half-way is portable too; the manifest lists the files
that needed it.

Example:
    >>> run_pipeline("params/ci.yaml")  # doctest: +SKIP
    PosixPath('outputs/20261126-130000-ci')
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from verif_nb.errors import OutputPathError, ParamsError, RunExistsError, VerifNbError
from verif_nb.files import PROJECT_ENV
from verif_nb.pipeline._kernel import private_kernel
from verif_nb.pipeline._params import PARAMETERS_TAG, PipelineParams, load_pipeline_params
from verif_nb.report.index import notebook_to_html, write_index
from verif_nb.report.layout import SUBFOLDERS, RunLayout, ids_file
from verif_nb.report.portable import machine_paths, make_portable, portable_value

log = logging.getLogger(__name__)

# Versions recorded in every manifest (missing ones are recorded as None).
TRACKED_PACKAGES: tuple[str, ...] = (
    "verif-nb",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "llama_cpp_python",
    "papermill",
    "nbconvert",
    "ipykernel",
    "pandas",
    "numpy",
    "matplotlib",
    "seaborn",
)


class NotebookFailedError(VerifNbError, RuntimeError):
    """A notebook of a run raised: names the notebook, the cell and the error; the run folder is kept.

    Example:
        >>> str(NotebookFailedError("02_x", 3, 2, "ValueError", "boom", Path("out/r")))[:44]
        '02_x failed in cell 3 (In [2]): ValueError: '
    """

    def __init__(self, notebook: str, cell: int | None, exec_count: int | None, ename: str, evalue: str, run_dir: Path):
        self.notebook, self.cell, self.exec_count = notebook, cell, exec_count
        self.ename, self.evalue, self.run_dir = ename, evalue, run_dir
        where = f"cell {cell}" if cell is not None else "an unknown cell"
        if exec_count is not None:
            where += f" (In [{exec_count}])"
        super().__init__(
            f"{notebook} failed in {where}: {ename}: {evalue}. What ran so far is kept in "
            f"{run_dir} (executed notebook: notebooks/{notebook}.ipynb, manifest.json); "
            "fix the cell and start a new run"
        )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _git_info(cwd: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None where not installed).

    Example:
        >>> package_versions(("papermill",))["papermill"]  # doctest: +SKIP
        '2.7.0'
    """
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out.get("verif-nb") is None:
        import verif_nb

        out["verif-nb"] = f"{verif_nb.__version__} (not installed; imported from {Path(verif_nb.__file__).parent})"
    return out


def _source_cell_number(notebook: Path, source: str | None) -> int | None:
    """1-based number of the cell with ``source`` in the notebook as the user edits it."""
    if source is None:
        return None
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source == source:
            return i + 1
    return None


def _ids(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters naming a model or a judge (``*model*``, ``judge``, ``judge_base_url``, ``judge_preset``)."""
    return {
        k: v
        for k, v in params.items()
        if not isinstance(v, (dict, list)) and ("model" in k or k in ("judge", "judge_base_url", "judge_preset"))
    }


def _reported_ids(run_dir: Path, name: str) -> dict[str, Any]:
    """Ids a notebook resolved itself (e.g. the model a training preset names), from its ``ids.json``."""
    path = RunLayout(run_dir).metric(ids_file(name))
    if not path.exists():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        log.warning("%s is not valid JSON; ids left out of the manifest", path)
        return {}
    return {f"{name}.{k}": v for k, v in found.items()} if isinstance(found, dict) else {}


def _sandbox_isolation() -> dict[str, Any]:
    from verif_nb.sandbox import probe_isolation

    return probe_isolation()


class _Run:
    """State of one run: its folder and manifest, written after every step so a crash keeps it."""

    def __init__(self, params: PipelineParams, run_dir: Path, hide_input: bool):
        self.params, self.run_dir, self.hide_input = params, run_dir, hide_input
        self.t0 = time.monotonic()
        self.manifest: dict[str, Any] = {
            "run_id": run_dir.name,
            "status": "running",
            "description": params.description,
            "params_file": str(params.path),
            "started": _now(),
            "finished": None,
            "duration_s": 0.0,
            "hide_input": hide_input,
            "git": _git_info(Path.cwd()),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "packages": package_versions(),
            "ids": {},
            # whether dataset-supplied code could run behind the kernel sandbox on this machine
            "sandbox": _sandbox_isolation(),
            "notebooks": [
                {"name": n, "status": "not-run", "duration_s": None, "parameters": None, "error": None}
                for n in params.notebooks
            ],
            # files a program other than verif-nb wrote a path of this machine into, rewritten structurally
            "made_portable": [],
        }
        self.machine_paths = machine_paths(run_dir, Path.cwd())

    def save(self) -> None:
        self.manifest["duration_s"] = round(time.monotonic() - self.t0, 2)
        # the manifest is built portable: any value naming this machine's folders is written relative
        shown = portable_value(json.loads(json.dumps(self.manifest, default=str)), self.machine_paths)
        RunLayout(self.run_dir).manifest.write_text(json.dumps(shown, indent=2), encoding="utf-8")
        write_index(self.run_dir, shown)

    def make_portable(self) -> None:
        """Rewrite, structurally, what other programs wrote with a path of this machine (after each notebook)."""
        changed = make_portable(self.run_dir, Path.cwd())
        done = self.manifest["made_portable"]
        done.extend(p for p in (c.relative_to(self.run_dir).as_posix() for c in changed) if p not in done)

    def finish(self, status: str) -> None:
        self.manifest["status"] = status
        self.manifest["finished"] = _now()
        self.make_portable()  # a run that stops half-way is shareable too
        self.save()


def inside_run(run_dir: Path, path: Path) -> Path:
    """``path`` if it lies inside ``run_dir`` (after resolving links and ``..``); else a ParamsError.

    Every path the pipeline writes goes through here, so no name from a params file can reach outside.

    Example:
        >>> inside_run(Path("/tmp/run"), Path("/tmp/run/html/a.html")).name
        'a.html'
        >>> inside_run(Path("/tmp/run"), Path("/tmp/run/notebooks/../../x.ipynb"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: refusing to write /tmp/run/notebooks/../../x.ipynb: outside the run folder ...
    """
    if not path.resolve().is_relative_to(run_dir.resolve()):
        raise ParamsError(f"refusing to write {path}: outside the run folder {run_dir}")
    return path


def _injected(run_dir: Path, name: str, declared: dict[str, Any]) -> dict[str, Any]:
    """The parameters the pipeline sets: the notebook's folders, relative to the run folder it runs in."""
    here = RunLayout(".")
    values = {"figures_dir": here.figures(name), "metrics_dir": here.metrics(name), "run_dir": here.root}
    for key in ("figures_dir", "metrics_dir"):
        inside_run(run_dir, run_dir / values[key]).mkdir(parents=True, exist_ok=True)
    injected: dict[str, Any] = {k: v.as_posix() for k, v in values.items() if k in declared}
    if "interactive" in declared:  # widgets need a live kernel; the batch run renders their static views
        injected["interactive"] = False
    return injected


@contextmanager
def _project_env(folder: Path) -> Iterator[None]:
    """``$VERIF_NB_PROJECT`` = ``folder`` for the kernels started meanwhile (they inherit this environment)."""
    old = os.environ.get(PROJECT_ENV)
    os.environ[PROJECT_ENV] = str(folder.resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = old


def _shown(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (what a manifest or a notebook records), else as it is."""
    resolved = path.resolve()
    return resolved.relative_to(base.resolve()).as_posix() if resolved.is_relative_to(base.resolve()) else str(path)


def _record_paths(executed: Path, source: Path, run_dir: Path) -> None:
    """Papermill records where it read and wrote the notebook as it was told (absolute paths): record the source
    relative to the project and the notebook relative to its run folder instead."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    recorded = nb.metadata.get("papermill")
    if recorded is None:
        return
    recorded["input_path"] = _shown(source, Path.cwd())
    recorded["output_path"] = _shown(executed, run_dir)
    nbformat.write(nb, executed)


def new_run_dir(run_name: str, outputs_root: str | Path = "outputs") -> Path:
    """The folder name a new run gets: ``<outputs_root>/<YYYYmmdd-HHMMSS>-<run_name>``.

    Example:
        >>> new_run_dir("ci").name.endswith("-ci")
        True
    """
    return Path(outputs_root) / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{run_name}"


def run_pipeline(
    params_path: str | Path,
    out: str | Path | None = None,
    *,
    hide_input: bool = False,
    outputs_root: str | Path = "outputs",
    progress: bool = True,
) -> Path:
    """Run the notebooks a parameter file names, in order, into a new run folder; returns the folder.

    The file is checked against every notebook's ``parameters`` cell before anything runs
    (:class:`~verif_nb.errors.ParamsError`). ``out`` is the run folder itself (default
    ``outputs/<timestamp>-<run_name>``); an existing folder raises
    :class:`~verif_nb.errors.RunExistsError`. A failing notebook stops the run with
    :class:`NotebookFailedError`; the folder keeps what ran, with ``manifest.json`` status ``failed``.

    Example:
        >>> run_pipeline("params/ci.yaml", out="outputs/my-ci-run", hide_input=True)  # doctest: +SKIP
        PosixPath('outputs/my-ci-run')
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    from tqdm.auto import tqdm

    params = load_pipeline_params(params_path)
    run_dir = Path(out) if out is not None else new_run_dir(params.run_name, outputs_root)
    if run_dir.exists():
        raise RunExistsError(
            f"{run_dir} already exists; verif-nb never overwrites a run. "
            "Choose another --out or remove the folder yourself"
        )
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir()
    except FileExistsError as err:  # created by a concurrent run between the check and here
        if not run_dir.parent.is_dir():
            raise OutputPathError(f"--out {run_dir}: a part of its path is a file, not a folder") from None
        raise RunExistsError(f"{run_dir} already exists; verif-nb never overwrites a run") from err
    except OSError as err:  # a path under a file, a read-only folder: before any notebook runs
        raise OutputPathError(f"--out {run_dir}: cannot create the run folder ({err.strerror or err})") from None
    layout = RunLayout(run_dir)
    for sub in SUBFOLDERS:
        (run_dir / sub).mkdir()
    shutil.copyfile(params.path, layout.params)
    run = _Run(params, run_dir, hide_input)
    run.save()
    log.info("run %s: %d notebook(s) -> %s", run_dir.name, len(params.notebooks), run_dir)

    with private_kernel() as kernel_name, _project_env(Path.cwd()):
        bar = tqdm(params.notebooks, desc="notebooks", unit="nb", disable=not progress)
        # the bar first: zip stops at the first exhausted iterator, and tqdm counts the last item only when
        # asked for the next one, so with the list first the bar ended at 3/4
        for name, entry in zip(bar, run.manifest["notebooks"]):
            bar.set_postfix_str(name)
            declared = params.declared[name]
            nb_params = {**params.parameters_for(name), **_injected(run_dir, name, declared)}
            effective = {k: p.default for k, p in declared.items()} | nb_params
            entry.update(status="running", parameters=nb_params, effective_parameters=effective, started=_now())
            run.manifest["ids"].update({f"{name}.{k}": v for k, v in _ids(effective).items()})
            run.save()
            source_nb = params.notebook_path(name)
            executed = inside_run(run_dir, layout.notebook(name))
            t_nb = time.monotonic()
            failure: NotebookFailedError | None = None
            try:
                pm.execute_notebook(
                    str(source_nb),
                    str(executed),
                    parameters=nb_params,
                    kernel_name=kernel_name,
                    progress_bar=progress,
                    cwd=str(run_dir.resolve()),  # the notebook runs inside its run folder
                    log_output=False,
                )
            except PapermillExecutionError as err:
                cell = _source_cell_number(source_nb, err.source)
                failure = NotebookFailedError(name, cell, err.exec_count, err.ename, err.evalue, run_dir)
            except BaseException as err:  # dead kernel, Ctrl-C, ...: record, keep the folder, re-raise
                status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
                entry.update(
                    status=status, duration_s=round(time.monotonic() - t_nb, 2), error=f"{type(err).__name__}: {err}"
                )
                with suppress(Exception):  # a notebook cut short mid-write is kept as it is
                    _record_paths(executed, source_nb, run_dir)
                run.finish(status)
                raise
            entry["duration_s"] = round(time.monotonic() - t_nb, 2)
            if executed.exists():
                _record_paths(executed, source_nb, run_dir)
            run.make_portable()  # before the HTML is rendered from the notebook
            if executed.exists():
                try:
                    html = inside_run(run_dir, layout.html(name))
                    notebook_to_html(executed, html, hide_input=hide_input)
                except Exception as err:  # a report that cannot render must not hide the run's result
                    log.warning("could not render %s to HTML: %s", executed, err)
            if failure is not None:
                entry.update(
                    status="failed", error=str(failure), cell=failure.cell, ename=failure.ename, evalue=failure.evalue
                )
                run.finish("failed")
                bar.close()
                raise failure
            entry["status"] = "ok"
            run.manifest["ids"].update(_reported_ids(run_dir, name))
            run.save()
            log.info("%s done in %.1f s", name, entry["duration_s"])
        bar.close()
    run.finish("ok")
    return run_dir


__all__ = ["NotebookFailedError", "PARAMETERS_TAG", "new_run_dir", "package_versions", "run_pipeline"]
