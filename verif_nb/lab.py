"""``verif-nb lab`` (what ``make lab`` runs): JupyterLab on 127.0.0.1 with a token, the ``verif-nb``
kernel and ``notebooks/`` open, and the URL printed before the server starts.

The kernel resolves to this interpreter (a private kernelspec goes first on ``JUPYTER_PATH``, as in
pipeline runs), so a stale user-level ``verif-nb`` kernel pointing at another environment is never used.

Example:
    >>> cmd = lab_command(port=8890, token="t0k", notebook_dir="notebooks")
    >>> "--ServerApp.ip=127.0.0.1" in cmd and "--IdentityProvider.token=t0k" in cmd
    True
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

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
        "--LabApp.workspaces_dir=" + str(Path(notebook_dir).resolve().parent / "outputs" / ".lab-workspaces"),
    ]
    if expose_app:
        cmd.append("--LabApp.expose_app_in_browser=True")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses without this
        cmd.append("--ServerApp.allow_root=True")
    return cmd


def _lab(args: argparse.Namespace) -> int:
    from verif_nb.files import project_root

    root = project_root() or Path.cwd()
    notebook_dir = Path(args.notebook_dir) if args.notebook_dir else root / "notebooks"
    port = args.port or free_port()
    token = args.token or os.environ.get("VERIF_NB_LAB_TOKEN") or secrets.token_hex(16)
    cmd = lab_command(port, token, notebook_dir, open_browser=args.open_browser, expose_app=args.expose_app)
    url = lab_url(port, token, "lab/tree/01_dataset_inspection.ipynb")
    print(
        f"JupyterLab (kernel {KERNEL_NAME}, folder {notebook_dir}) starting at\n    {url}\nCtrl-C stops it.", flush=True
    )
    with private_kernel():
        try:
            return subprocess.call(cmd, cwd=notebook_dir)
        except KeyboardInterrupt:
            return 0


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
