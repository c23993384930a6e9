"""`make lab` / `verif-nb lab`: JupyterLab installed by the project, started on loopback with a token,
the verif-nb kernel and notebooks/ open; experiment tracking as a preset parameter."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import tomllib
import yaml

from verif_nb.cli import build_parser
from verif_nb.lab import free_port, lab_command, lab_url

ROOT = Path(__file__).resolve().parents[1]


def test_jupyterlab_is_in_the_notebooks_extra_and_pinned_in_the_constraints():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("jupyterlab>=") for r in extras["notebooks"])
    assert any(r.startswith("websocket-client>=") for r in extras["test"])
    assert any(r.startswith("tensorboard>=") for r in extras["tracking"])
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    assert any(re.fullmatch(r"jupyterlab==[\d.]+", line) for line in pins)
    assert any(re.fullmatch(r"websocket-client==[\d.]+", line) for line in pins)


def test_make_lab_runs_verif_nb_lab_and_is_the_third_quick_start_line():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: setup\n\t\$\(VENV\)/bin/verif-nb lab$", makefile, re.MULTILINE)
    quick = (ROOT / "README.md").read_text().split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split()[:2] for line in quick] == [["make", "demo"], ["make", "test"], ["make", "lab"]]


def test_lab_command_listens_on_loopback_with_a_token_and_the_verif_nb_kernel(tmp_path):
    cmd = lab_command(8899, "s3cret", tmp_path)
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--IdentityProvider.token=s3cret" in cmd
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in cmd
    assert "--MappingKernelManager.default_kernel_name=verif-nb" in cmd
    assert "--ServerApp.open_browser=False" in cmd and "--ServerApp.port=8899" in cmd
    assert not any("expose_app" in c for c in cmd)
    assert lab_url(8899, "s3cret", "lab") == "http://127.0.0.1:8899/lab?token=s3cret"


def test_verif_nb_lab_and_report_are_commands():
    parser = build_parser()
    args = parser.parse_args(["lab", "--port", "9999", "--token", "t"])
    assert (args.port, args.token) == (9999, "t")
    args = parser.parse_args(["report", "outputs/x", "--single-file"])
    assert args.single_file and args.run == "outputs/x"


@pytest.mark.parametrize(
    "name, tracker",
    [
        ("train_ci.yaml", "none"),
        ("train_cpu_demo.yaml", "none"),
        ("train_cpu_learn.yaml", "none"),
        ("verif_tulu3_8b.yaml", "tensorboard"),
        ("verif_r1_distill_qwen_7b.yaml", "tensorboard"),
    ],
)
def test_report_to_is_a_preset_parameter(name, tracker, tmp_path):
    from verif_nb.train.params import build_grpo_config, load_params

    assert yaml.safe_load((ROOT / "params" / name).read_text())["grpo"]["report_to"] == tracker
    cfg = build_grpo_config(load_params(ROOT / "params" / name), tmp_path, cpu_check=True)
    assert cfg.report_to == ([] if tracker == "none" else [tracker])


def _repo_with_a_notebook(tmp_path: Path) -> tuple[Path, Path]:
    import subprocess

    import nbformat

    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["kernelspec"] = {"name": "verif-nb", "display_name": "Python (verif-nb)", "language": "python"}
    tracked = repo / "notebooks" / "tracked.ipynb"
    tracked.write_text(nbformat.writes(nb) + "\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "notebooks/tracked.ipynb"], cwd=repo, check=True)
    (repo / "notebooks" / "scratch.ipynb").write_text(nbformat.writes(nb) + "\n")
    return repo, tracked


def test_the_pre_save_hook_strips_tracked_notebooks_only(tmp_path):
    import copy
    import types

    from verif_nb.lab import strip_on_save

    repo, _ = _repo_with_a_notebook(tmp_path)
    manager = types.SimpleNamespace(root_dir=str(repo / "notebooks"))
    executed = {
        "metadata": {"kernelspec": {"name": "verif-nb"}, "language_info": {"name": "python", "version": "3.11"},
                     "widgets": {"state": {}}},
        "cells": [{"cell_type": "code", "source": "1 + 1", "execution_count": 1, "id": "a",
                   "outputs": [{"output_type": "execute_result", "data": {"text/plain": "2"}}],
                   "metadata": {"execution": {"iopub.status.busy": "t"}, "scrolled": True, "tags": ["x"]}}],
    }  # fmt: skip
    model = {"type": "notebook", "content": copy.deepcopy(executed)}
    strip_on_save(model, "tracked.ipynb", contents_manager=manager)
    assert model["content"]["cells"][0]["outputs"] == [] and model["content"]["cells"][0]["execution_count"] is None
    assert model["content"]["cells"][0]["metadata"] == {"tags": ["x"]}
    assert model["content"]["metadata"] == {"kernelspec": {"name": "verif-nb"}, "language_info": {"name": "python"}}
    untracked = {"type": "notebook", "content": copy.deepcopy(executed)}
    strip_on_save(untracked, "scratch.ipynb", contents_manager=manager)
    assert untracked["content"] == executed  # not the repository's: saved as JupyterLab saves it
    new_file = {"type": "notebook", "content": copy.deepcopy(executed)}
    strip_on_save(new_file, "Untitled.ipynb", contents_manager=manager)
    assert new_file["content"] == executed


def test_verif_nb_lab_turns_the_news_prompt_off_by_default_and_keeps_the_environments_overrides(tmp_path, monkeypatch):
    import json
    import sys

    from verif_nb.lab import app_settings_dir, lab_command

    env = tmp_path / "env"
    (env / "share/jupyter/lab/settings").mkdir(parents=True)
    (env / "share/jupyter/lab/settings/overrides.json").write_text(json.dumps({"x:y": {"z": 1}}))
    monkeypatch.setattr(sys, "prefix", str(env))
    folder = app_settings_dir(tmp_path / "outputs" / ".lab-app-settings")
    assert json.loads((folder / "overrides.json").read_text()) == {"x:y": {"z": 1}}
    ours = json.loads((folder / "overrides.d" / "verif-nb.json").read_text())
    assert ours["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    cmd = lab_command(8899, "t", tmp_path / "notebooks")
    assert f"--LabApp.app_settings_dir={folder.resolve()}" in cmd
    assert "--ContentsManager.pre_save_hook=verif_nb.lab.strip_on_save" in cmd


def _wait_for_lab(port: int, wrapper, deadline_s: float = 120.0) -> None:
    url = f"http://127.0.0.1:{port}/api/status?token=t"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert wrapper.poll() is None, "verif-nb lab exited before its server answered"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the lab did not answer /api/status")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "Ctrl-C", "SIGKILL"])
def test_stopping_verif_nb_lab_stops_its_server_and_removes_its_kernel_spec(how, tmp_path):
    """`kill` of the command (a script, a scheduler, a closed terminal) must not leave a JupyterLab serving a
    token URL, nor its temporary kernel spec; Ctrl-C reaches the whole foreground process group, as a terminal
    sends it; after a SIGKILL of the command the server still ends (PR_SET_PDEATHSIG). (Seen in CI:
    scripts/check_installs.sh killed `verif-nb lab` and its server ran on.)"""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("jupyterlab")
    port = free_port()
    cmd = [sys.executable, "-m", "verif_nb.cli", "lab", "--port", str(port), "--token", "t"]
    wrapper = subprocess.Popen(
        [*cmd, "--notebook-dir", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # as a terminal's foreground job has it: a shell without job control starts `&` jobs with SIGINT ignored
        # (CI does), and a process started so inherits that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    server = None
    try:
        _wait_for_lab(port, wrapper)
        server = psutil.Process(wrapper.pid).children()[0]
        kernel_spec = Path(server.environ()["JUPYTER_PATH"].split(os.pathsep)[0])
        assert kernel_spec.is_dir()
        if how == "Ctrl-C":
            os.killpg(wrapper.pid, signal.SIGINT)
        else:
            wrapper.send_signal(getattr(signal, how))
        assert wrapper.wait(timeout=60) == (-signal.SIGKILL if how == "SIGKILL" else 0)
        gone, alive = psutil.wait_procs([server], timeout=30)
        assert not alive, f"the JupyterLab server outlived `verif-nb lab` ({how})"
        if how == "SIGKILL":  # nothing runs in a process killed so: its temporary kernel spec stays (removed here)
            shutil.rmtree(kernel_spec)
        assert not kernel_spec.exists(), "the temporary kernel spec was left behind"
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=t", timeout=5)
    finally:
        for proc in [server] if server is not None and server.is_running() else []:
            proc.kill()  # kernels started by it watch their parent and exit with it
        wrapper.kill()
        wrapper.wait()


def test_a_missing_notebook_folder_is_one_line_and_creates_nothing(tmp_path, capsys):
    pytest.importorskip("jupyterlab")
    from verif_nb.cli import main

    assert main(["lab", "--notebook-dir", str(tmp_path / "none" / "notebooks")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err
    assert not (tmp_path / "none").exists()  # its outputs/ (the lab's settings) was once created beside it
