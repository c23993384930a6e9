"""Running a pipeline: run folder layout, manifest, index, no overwrite, failing notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from verif_nb.cli import main
from verif_nb.errors import ParamsError, RunExistsError, VerifNbError
from verif_nb.pipeline import NotebookFailedError, run_pipeline
from verif_nb.pipeline._kernel import KERNEL_NAME, kernel_spec, private_kernel

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "pipeline"


def _params(tmp_path: Path, notebooks: list[str], **extra) -> Path:
    doc = {"run_name": "fixture", "notebooks_dir": str(FIXTURES), "notebooks": notebooks, **extra}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ok_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ok")
    path = _params(tmp, ["tiny_ok"], parameters={"n_points": 4}, overrides={"tiny_ok": {"label": "four"}})
    return run_pipeline(path, out=tmp / "run", progress=False)


def test_run_folder_layout(ok_run):
    for rel in [
        "index.html",
        "manifest.json",
        "params.yaml",
        "notebooks/tiny_ok.ipynb",
        "html/tiny_ok.html",
        "figures/tiny_ok/tiny_line.png",
        "figures/tiny_ok/tiny_line.svg",
        "metrics/tiny_ok/summary.json",
        "metrics/tiny_ok/points.csv",
    ]:
        assert (ok_run / rel).is_file(), rel


def test_parameters_reach_the_notebook(ok_run):
    assert json.loads((ok_run / "metrics/tiny_ok/summary.json").read_text()) == {"n_points": 4, "last_y": 3.0}
    assert "four" in (ok_run / "metrics/tiny_ok/points.csv").read_text()
    executed = nbformat.read(ok_run / "notebooks/tiny_ok.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["label"] == "four"
    assert executed.metadata.kernelspec.name == KERNEL_NAME


def test_manifest(ok_run):
    manifest = json.loads((ok_run / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["run_id"] == "run"
    (entry,) = manifest["notebooks"]
    assert entry["status"] == "ok" and entry["duration_s"] > 0
    assert entry["parameters"]["n_points"] == 4
    # relative to the run folder once the run is over, so a zipped run folder is shareable
    assert entry["parameters"]["figures_dir"] == "figures/tiny_ok"
    assert manifest["packages"]["papermill"]
    assert manifest["git"]["commit"] is None or len(manifest["git"]["commit"]) == 40
    assert manifest["finished"] and manifest["duration_s"] >= entry["duration_s"]


def test_index_links_everything(ok_run):
    index = (ok_run / "index.html").read_text()
    for link in [
        "html/tiny_ok.html",
        "notebooks/tiny_ok.ipynb",
        "figures/tiny_ok/tiny_line.png",
        "figures/tiny_ok/tiny_line.svg",
        "metrics/tiny_ok/points.csv",
        "manifest.json",
    ]:
        assert f"'{link}'" in index, link
    html = (ok_run / "html/tiny_ok.html").read_text()
    assert "data:image/png;base64" in html  # the figure is embedded in the rendered notebook


def test_existing_run_folder_is_never_overwritten(ok_run, tmp_path):
    before = (ok_run / "manifest.json").read_text()
    with pytest.raises(RunExistsError, match="never overwrites"):
        run_pipeline(_params(tmp_path, ["tiny_ok"]), out=ok_run, progress=False)
    assert (ok_run / "manifest.json").read_text() == before
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunExistsError):
        run_pipeline(_params(tmp_path, ["tiny_ok"]), out=empty, progress=False)
    assert list(empty.iterdir()) == []


def test_default_run_id_is_timestamp_and_name(tmp_path):
    run_dir = run_pipeline(_params(tmp_path, ["tiny_ok"]), outputs_root=tmp_path / "outputs", progress=False)
    assert run_dir.parent == tmp_path / "outputs"
    stamp, name = run_dir.name.rsplit("-", 1)
    assert name == "fixture" and len(stamp) == len("20261126-123000")


def test_failing_notebook_names_cell_and_keeps_what_ran(tmp_path):
    path = _params(tmp_path, ["tiny_ok", "tiny_fail", "tiny_ok"][:2])
    with pytest.raises(NotebookFailedError) as caught:
        run_pipeline(path, out=tmp_path / "run", progress=False)
    err = caught.value
    assert isinstance(err, VerifNbError)
    assert (err.notebook, err.cell, err.ename) == ("tiny_fail", 4, "ValueError")
    assert "tiny_fail failed in cell 4" in str(err) and "deliberate failure" in str(err)
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert [(e["name"], e["status"]) for e in manifest["notebooks"]] == [("tiny_ok", "ok"), ("tiny_fail", "failed")]
    assert manifest["notebooks"][1]["cell"] == 4
    # the first notebook's outputs and the failing one's partial work are kept
    assert (run / "figures/tiny_ok/tiny_line.png").is_file()
    assert json.loads((run / "metrics/tiny_fail/summary.json").read_text()) == {"reached": "cell 3"}
    assert (run / "notebooks/tiny_fail.ipynb").is_file() and (run / "html/tiny_fail.html").is_file()
    assert "deliberate failure" in (run / "index.html").read_text()


def test_failure_stops_the_run(tmp_path):
    (tmp_path / "nbs").mkdir()
    for name in ("tiny_fail", "tiny_ok"):
        (tmp_path / "nbs" / f"{name}.ipynb").write_bytes((FIXTURES / f"{name}.ipynb").read_bytes())
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"notebooks_dir": "nbs", "notebooks": ["tiny_fail", "tiny_ok"]}))
    with pytest.raises(NotebookFailedError):
        run_pipeline(path, out=tmp_path / "run", progress=False)
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert [e["status"] for e in manifest["notebooks"]] == ["failed", "not-run"]
    assert not (tmp_path / "run/notebooks/tiny_ok.ipynb").exists()


def test_params_error_creates_nothing(tmp_path):
    path = _params(tmp_path, ["tiny_ok"], parameters={"unknown_key": 1})
    with pytest.raises(ParamsError, match="unknown_key"):
        run_pipeline(path, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_cli_run_and_errors(tmp_path, capsys):
    path = _params(tmp_path, ["tiny_ok"])
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--hide-input", "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["run_dir"] == str(tmp_path / "r")
    html = (tmp_path / "r/html/tiny_ok.html").read_text()
    assert "plots.save_figure" not in html  # --hide-input: no code in the reader's report
    assert json.loads((tmp_path / "r/manifest.json").read_text())["hide_input"] is True
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "never overwrites" in capsys.readouterr().err
    bad = _params(tmp_path, ["tiny_ok"], parameters={"nope": 1})
    assert main(["check-params", str(bad)]) == 2
    assert "nope" in capsys.readouterr().err


def test_private_kernel_points_at_this_interpreter():
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    with private_kernel() as name:
        spec = KernelSpecManager().get_kernel_spec(name)
        assert spec.argv[0] == sys.executable
    assert kernel_spec()["display_name"] == "Python (verif-nb)"


def test_kernel_install_user_level(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["kernel", "install"]) == 0
    spec = json.loads((tmp_path / "data/kernels/verif-nb/kernel.json").read_text())
    import sys

    # ipykernel writes the spec (it may add interpreter flags such as -Xfrozen_modules=off)
    assert spec["argv"][0] == sys.executable
    assert spec["argv"][-4:] == ["-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["display_name"] == "Python (verif-nb)"


def test_run_folder_holds_no_path_of_this_machine(ok_run):
    from verif_nb.report import project_root

    machine = [str(ok_run.resolve()), str(project_root() or ROOT), str(Path.home())]
    for path in ok_run.rglob("*"):
        if path.suffix in (".json", ".html", ".csv", ".ipynb", ".yaml"):
            text = path.read_text(encoding="utf-8")
            leaks = [m for m in machine if m in text]
            assert not leaks, f"{path.relative_to(ok_run)} names {leaks}"


def test_progress_bar_ends_at_the_last_notebook(tmp_path, capsys):
    run_pipeline(_params(tmp_path, ["tiny_ok"]), out=tmp_path / "run", progress=True)
    bars = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("notebooks:")]
    assert bars and "1/1" in bars[-1], bars[-3:]


def test_run_single_file_writes_one_self_contained_page(tmp_path, capsys):
    from verif_nb.cli import main

    assert (
        main(
            [
                "run",
                str(_params(tmp_path, ["tiny_ok"])),
                "--out",
                str(tmp_path / "run"),
                "--no-progress",
                "--single-file",
            ]
        )
        == 0
    )
    page = (tmp_path / "run" / "report.html").read_text()
    assert "id='findings'" in page and "data:image/png;base64," in page and "src='figures/" not in page
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["single_file"].endswith("report.html")


def _paths_notebook(folder: Path) -> Path:
    """A notebook that writes this machine's paths where a run's files keep them (its printed output, a JSON and a
    CSV metric file, its error), right before an escaped quote and a backslash, then fails."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"display_name": "Python (verif-nb)", "language": "python", "name": KERNEL_NAME}
    params = nbformat.v4.new_code_cell(
        'figures_dir = "figures"  # set by the pipeline\nmetrics_dir = "metrics"  # set by the pipeline'
    )
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import json, sys\n"
        "from pathlib import Path\n"
        "import pandas as pd\n"
        "from verif_nb.report import save_metrics\n"
        "here = Path.cwd().resolve()\n"
        "print(f'run_dir = \"{here}\\\\\"\\\\\\\\ and {sys.prefix}')\n"
        "print(json.dumps({'folder': str(here / 'figures'), 'python': sys.executable}))\n"
        "save_metrics({'where': str(here / 'metrics'), 'home': str(Path.home() / 'x')}, 'paths', metrics_dir)\n"
        "pd.DataFrame({'p': [str(here / 'figures' / 'a \"q\".png')]}).to_csv(Path(metrics_dir) / 'paths.csv')\n"
        "raise RuntimeError(f'failing in {here}')"
    )
    nb.cells = [params, body]
    path = folder / "paths_then_fail.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_run_that_fails_half_way_is_portable_and_every_file_opens(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _paths_notebook(nbs)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"notebooks_dir": "nbs", "notebooks": ["paths_then_fail"]}))
    run = tmp_path / "run"
    with pytest.raises(NotebookFailedError, match="failing in"):
        run_pipeline(path, out=run, progress=False)
    import sys

    machine = [str(run.resolve()), str(ROOT), sys.prefix, str(Path.home()) + "/"]
    for file in sorted(p for p in run.rglob("*") if p.is_file()):
        text = file.read_text(encoding="utf-8")
        assert not [m for m in machine if m in text], f"{file.relative_to(run)} names a path of this machine"
    executed = nbformat.read(run / "notebooks/paths_then_fail.ipynb", as_version=4)
    nbformat.validate(executed)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs if o.output_type == "stream")
    # the run folder's path became ".", and the backslash-quote and backslash after it are kept
    assert printed.startswith('run_dir = ".\\"\\\\ and <python-env>'), printed
    assert json.loads(printed.splitlines()[1]) == {"folder": "figures", "python": "<python-env>/bin/python"}
    assert json.loads((run / "metrics/paths_then_fail/paths.json").read_text()) == {"where": "metrics", "home": "~/x"}
    import pandas as pd

    assert pd.read_csv(run / "metrics/paths_then_fail/paths.csv")["p"].tolist() == ['figures/a "q".png']
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "failing in ." in manifest["notebooks"][0]["error"]
    assert set(manifest["made_portable"]) == {
        "metrics/paths_then_fail/paths.json",
        "metrics/paths_then_fail/paths.csv",
        "notebooks/paths_then_fail.ipynb",
    }
