"""The ``verif-nb`` Jupyter kernel: the current interpreter, so notebooks run in the project's env.

Example:
    >>> kernel_spec()["argv"][1:3]
    ['-m', 'ipykernel_launcher']
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KERNEL_NAME = "verif-nb"
DISPLAY_NAME = "Python (verif-nb)"


def kernel_spec(python: str | None = None) -> dict[str, Any]:
    """The kernel.json content for an interpreter (default: the running one).

    Example:
        >>> kernel_spec("/opt/env/bin/python")["argv"][0]
        '/opt/env/bin/python'
    """
    return {
        "argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def install_kernel(user: bool = True, prefix: str | None = None, name: str = KERNEL_NAME) -> Path:
    """Install the ``verif-nb`` kernelspec for JupyterLab (user level by default); returns its folder.

    Example:
        >>> install_kernel()  # doctest: +SKIP
        PosixPath('/root/.local/share/jupyter/kernels/verif-nb')
    """
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / name
        src.mkdir()
        (src / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1), encoding="utf-8")
        dest = KernelSpecManager().install_kernel_spec(
            str(src), kernel_name=name, user=user and prefix is None, prefix=prefix
        )
    log.info("installed kernel %r -> %s (python %s)", name, dest, sys.executable)
    return Path(dest)


@contextmanager
def private_kernel(name: str = KERNEL_NAME) -> Iterator[str]:
    """Make kernel ``name`` resolve to this interpreter for the duration of a run.

    A temporary kernelspec folder goes first on ``JUPYTER_PATH``, so a stale user-level ``verif-nb``
    kernel pointing at another environment cannot be picked up by papermill.

    Example:
        >>> with private_kernel() as kname:
        ...     kname
        'verif-nb'
    """
    old = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="verif-nb-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / name
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(json.dumps(kernel_spec()), encoding="utf-8")
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + old if old else "")
        try:
            yield name
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old
