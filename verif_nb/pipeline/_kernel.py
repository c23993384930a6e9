"""The ``verif-nb`` Jupyter kernel: the current interpreter, so notebooks run in the project's env.

The kernelspec itself is ipykernel's (:mod:`ipykernel.kernelspec`); only the name and the display
name are verif-nb's.

Example:
    >>> kernel_spec()["argv"][1:3]
    ['-m', 'ipykernel_launcher']
"""

from __future__ import annotations

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


def kernel_spec() -> dict[str, Any]:
    """The kernel.json content for the running interpreter.

    Example:
        >>> spec = kernel_spec()
        >>> (spec["argv"][0] == sys.executable, spec["display_name"])
        (True, 'Python (verif-nb)')
    """
    from ipykernel.kernelspec import get_kernel_dict

    return {**get_kernel_dict(), "display_name": DISPLAY_NAME}


def install_kernel(user: bool = True, prefix: str | None = None, name: str = KERNEL_NAME) -> Path:
    """Install the ``verif-nb`` kernelspec for JupyterLab (user level by default); returns its folder.

    Example:
        >>> install_kernel()  # doctest: +SKIP
        PosixPath('/root/.local/share/jupyter/kernels/verif-nb')
    """
    from ipykernel.kernelspec import install

    dest = install(user=user and prefix is None, kernel_name=name, display_name=DISPLAY_NAME, prefix=prefix)
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
    from ipykernel.kernelspec import write_kernel_spec

    old = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="verif-nb-kernel-") as tmp:
        write_kernel_spec(Path(tmp) / "kernels" / name, overrides={"display_name": DISPLAY_NAME})
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + old if old else "")
        try:
            yield name
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old
