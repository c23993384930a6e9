"""``verif-nb lab`` (what ``make lab`` runs): JupyterLab on 127.0.0.1 with a token, the ``verif-nb``
kernel and ``notebooks/`` open, and the URL printed before the server starts.

The kernel resolves to this interpreter (a private kernelspec goes first on ``JUPYTER_PATH``, as in
pipeline runs), so a stale user-level ``verif-nb`` kernel pointing at another environment is never used.

Exploring leaves git clean: a contents-manager pre-save hook (:func:`strip_on_save`) saves a notebook that git
tracks as git has it, without outputs, execution counts or volatile metadata (what ``nbstripout`` does at commit
time, done at save time); edits to the code and text are saved. Notebooks git does not track are saved as
JupyterLab saves them. JupyterLab's "get notified about Jupyter news?" prompt is off by default for this server
(an ``overrides.d`` file in its own application settings folder, ``outputs/.lab-app-settings``); a user setting
still wins.

Example:
    >>> cmd = lab_command(port=8890, token="t0k", notebook_dir="notebooks")
    >>> "--ServerApp.ip=127.0.0.1" in cmd and "--IdentityProvider.token=t0k" in cmd
    True
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from verif_nb.errors import ParamsError
from verif_nb.pipeline._kernel import KERNEL_NAME, private_kernel


def free_port(start: int = 8888, host: str = "127.0.0.1", tries: int = 50) -> int:
    """The first port at or above ``start`` that nothing listens on.

    Example:
        >>> 1024 <= free_port(20000) < 20050
        True
    """
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {start}..{start + tries - 1} on {host}")


def lab_url(port: int, token: str, path: str = "lab", host: str = "127.0.0.1") -> str:
    """The URL that opens JupyterLab (``path`` below the server root) with the token.

    Example:
        >>> lab_url(8888, "abc", "lab/tree/01_dataset_inspection.ipynb")
        'http://127.0.0.1:8888/lab/tree/01_dataset_inspection.ipynb?token=abc'
    """
    return f"http://{host}:{port}/{path.lstrip('/')}?token={token}"


# What a tracked notebook keeps of its metadata when saved from the lab: the kernel it runs in and its language.
NOTEBOOK_METADATA: tuple[str, ...] = ("kernelspec", "language_info")
CELL_METADATA: tuple[str, ...] = ("tags",)
# JupyterLab settings verif-nb's lab changes from JupyterLab's defaults (users' own settings still win).
LAB_SETTING_DEFAULTS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def clean_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` (a notebook as a dict) as the repository keeps it: no outputs, no execution counts, cell metadata
    only ``tags``, notebook metadata only the kernelspec and the language's name. Changes ``nb`` in place.

    Example:
        >>> nb = {"metadata": {"kernelspec": {"name": "verif-nb"}, "widgets": {}, "language_info": {"name": "python",
        ...       "version": "3.11.7"}}, "cells": [{"cell_type": "code", "source": "1", "outputs": [{"x": 1}],
        ...       "execution_count": 3, "metadata": {"tags": ["parameters"], "scrolled": True}}]}
        >>> clean_notebook(nb)["metadata"], nb["cells"][0]
        ({'kernelspec': {'name': 'verif-nb'}, 'language_info': {'name': 'python'}}, \
{'cell_type': 'code', 'source': '1', 'outputs': [], 'execution_count': None, 'metadata': {'tags': ['parameters']}})
    """
    meta = nb.get("metadata", {})
    kept = {k: meta[k] for k in NOTEBOOK_METADATA if k in meta}
    if isinstance(kept.get("language_info"), dict):
        kept["language_info"] = {k: v for k, v in kept["language_info"].items() if k == "name"}
    nb["metadata"] = kept
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in CELL_METADATA}
        if not cell.get("attachments"):
            cell.pop("attachments", None)  # an empty one the editor may add
    return nb


def _tracked_by_git(path: Path) -> bool:
    """Whether git tracks ``path`` (False without git or outside a repository)."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def strip_on_save(model: dict[str, Any], path: str, contents_manager: Any, **kwargs: Any) -> None:
    """The lab's pre-save hook (``ContentsManager.pre_save_hook``): a notebook git tracks is saved as the
    repository keeps it (:func:`clean_notebook`), so running and saving it leaves ``git status`` clean.

    Example:
        >>> model = {"type": "file", "content": "x"}
        >>> strip_on_save(model, "notes.txt", contents_manager=None); model["content"]
        'x'
    """
    if model.get("type") != "notebook" or not model.get("content"):
        return
    file = Path(contents_manager.root_dir) / path.strip("/")
    if file.exists() and _tracked_by_git(file):
        clean_notebook(model["content"])


def lab_state_dir(notebook_dir: str | os.PathLike) -> Path:
    """Where the lab keeps its workspaces and settings: ``outputs/`` beside the served folder (git-ignored).

    Example:
        >>> lab_state_dir("/p/notebooks").as_posix()
        '/p/outputs'
    """
    return Path(notebook_dir).resolve().parent / "outputs"


def app_settings_dir(target: str | os.PathLike) -> Path:
    """JupyterLab's application settings folder for this lab, at ``target``: the environment's own overrides (if
    any) plus verif-nb's defaults (:data:`LAB_SETTING_DEFAULTS`) as ``overrides.d/verif-nb.json``.

    Example:
        >>> import tempfile
        >>> folder = app_settings_dir(tempfile.mkdtemp())
        >>> json.loads((folder / "overrides.d" / "verif-nb.json").read_text())[
        ...     "@jupyterlab/apputils-extension:notification"]["fetchNews"]
        'false'
    """
    target = Path(target)
    default = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    if default.is_dir() and default.resolve() != target.resolve():
        shutil.copytree(default, target, dirs_exist_ok=True)  # page_config.json, overrides.json, overrides.d/
    (target / "overrides.d").mkdir(parents=True, exist_ok=True)
    (target / "overrides.d" / "verif-nb.json").write_text(json.dumps(LAB_SETTING_DEFAULTS, indent=1), encoding="utf-8")
    return target


def lab_command(
    port: int,
    token: str,
    notebook_dir: str | os.PathLike,
    *,
    open_browser: bool = False,
    expose_app: bool = False,
    python: str | None = None,
) -> list[str]:
    """The ``jupyter lab`` command line: loopback only, token auth, ``verif-nb`` as the default kernel.

    ``expose_app`` sets ``window.jupyterapp`` in the page (what the browser test drives).

    Example:
        >>> lab_command(8888, "t", "nb")[:3] == [sys.executable, "-m", "jupyterlab"]
        True
    """
    cmd = [
        python or sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={Path(notebook_dir).resolve()}",
        f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",
        f"--ServerApp.open_browser={open_browser}",
        # the workspace (open tabs) would otherwise be restored from an earlier session
        "--LabApp.workspaces_dir=" + str(lab_state_dir(notebook_dir) / ".lab-workspaces"),
        # its settings defaults (app_settings_dir() writes them before the server starts)
        "--LabApp.app_settings_dir=" + str(lab_state_dir(notebook_dir) / ".lab-app-settings"),
        # tracked notebooks are saved without outputs and volatile metadata: exploring leaves git clean
        "--ContentsManager.pre_save_hook=verif_nb.lab.strip_on_save",
    ]
    if expose_app:
        cmd.append("--LabApp.expose_app_in_browser=True")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses without this
        cmd.append("--ServerApp.allow_root=True")
    return cmd


def _lab(args: argparse.Namespace) -> int:
    import jupyterlab  # noqa: F401  (the notebooks extra; without it the command says so in one line)

    from verif_nb.files import project_root

    root = project_root() or Path.cwd()
    notebook_dir = Path(args.notebook_dir) if args.notebook_dir else root / "notebooks"
    if not notebook_dir.is_dir():
        raise ParamsError(f"--notebook-dir: the folder {notebook_dir} does not exist")
    port = args.port or free_port()
    token = args.token or os.environ.get("VERIF_NB_LAB_TOKEN") or secrets.token_hex(16)
    cmd = lab_command(port, token, notebook_dir, open_browser=args.open_browser, expose_app=args.expose_app)
    app_settings_dir(lab_state_dir(notebook_dir) / ".lab-app-settings")
    url = lab_url(port, token, "lab/tree/01_dataset_inspection.ipynb")
    print(
        f"JupyterLab (kernel {KERNEL_NAME}, folder {notebook_dir}) starting at\n    {url}\nCtrl-C stops it.", flush=True
    )
    with private_kernel():
        return serve(cmd, cwd=notebook_dir)


def _end_with_parent() -> None:
    """In the server's process before it starts (Linux): SIGTERM when ``verif-nb lab`` dies, even by SIGKILL."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class _Stop(Exception):
    """SIGTERM or SIGHUP reached ``verif-nb lab``."""


def _raise_stop(signum, frame) -> None:
    raise _Stop(signum)


def serve(cmd: list[str], cwd: str | os.PathLike, grace_s: float = 15.0) -> int:
    """Run the server ``cmd`` until it exits, or until this process is asked to stop (Ctrl-C, SIGTERM, SIGHUP):
    then the server gets SIGTERM (it shuts its kernels down), ``grace_s`` seconds, and SIGKILL. So a ``kill``
    of ``verif-nb lab`` (a script, a scheduler, a closed terminal) never leaves a server serving a token URL, and
    the caller's clean-up (the private kernel spec) runs. Returns the server's exit status, 0 when stopped.

    Example:
        >>> serve([sys.executable, "-c", "raise SystemExit(3)"], ".")
        3
    """
    stops = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in (*stops, signal.SIGINT)}
    for sig in stops:
        signal.signal(sig, _raise_stop)
    try:
        server = subprocess.Popen(cmd, cwd=cwd, preexec_fn=_end_with_parent if sys.platform == "linux" else None)
        try:
            return server.wait()
        except (KeyboardInterrupt, _Stop):
            for sig in (*stops, signal.SIGINT):  # a second Ctrl-C or kill now would cut the shutdown short
                signal.signal(sig, signal.SIG_IGN)
            server.terminate()
            try:
                server.wait(grace_s)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lab`` to the ``verif-nb`` command line."""
    lab = subparsers.add_parser("lab", help="start JupyterLab on 127.0.0.1 (token auth) with the notebooks open")
    lab.add_argument("--port", type=int, default=0, help="port (default: the first free one from 8888)")
    lab.add_argument("--token", default="", help="access token (default: $VERIF_NB_LAB_TOKEN or a random one)")
    lab.add_argument("--notebook-dir", default="", help="folder to serve (default: the project's notebooks/)")
    lab.add_argument("--open-browser", action="store_true", help="also open a browser on this machine")
    lab.add_argument(
        "--expose-app",
        action="store_true",
        help="set window.jupyterapp in the page, for scripted browsers (benchmarks/bench_lab.py)",
    )
    lab.set_defaults(func=_lab)
