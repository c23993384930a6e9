"""Stop an embedded judge server when the notebook kernel that started it dies.

A kernel that exits normally stops its server (``atexit``); a kernel that is killed (papermill after an
interrupt, a crash, "Restart kernel") cannot. This tiny detached process waits for the kernel's PID to go
away, then stops the server on that port — :func:`verif_nb.judge.server.stop_server` checks that the PID
in the server's PID file is still a llama.cpp server on that port before signalling anything.

Usage (started by :class:`verif_nb.pipeline.NotebookJudge`)::

    python -m verif_nb.pipeline._watchdog KERNEL_PID PORT

Example:
    >>> watchdog_command(123, 8088)[-2:]
    ['123', '8088']
"""

from __future__ import annotations

import subprocess
import sys
import time


def watchdog_command(kernel_pid: int, port: int) -> list[str]:
    """The command line of a watchdog for ``kernel_pid`` and the server on ``port``."""
    return [sys.executable, "-m", "verif_nb.pipeline._watchdog", str(kernel_pid), str(port)]


def start_watchdog(kernel_pid: int, port: int) -> subprocess.Popen:
    """Start the watchdog detached (own session, no stdio), so it outlives a killed kernel.

    Example:
        >>> start_watchdog(12345, 8088)  # doctest: +SKIP
    """
    return subprocess.Popen(watchdog_command(kernel_pid, port), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def watch(kernel_pid: int, port: int, poll_s: float = 1.0) -> bool:
    """Block until ``kernel_pid`` is gone or the server stopped; stop the server in the first case.

    Returns True if this watchdog stopped the server.
    """
    import psutil

    from verif_nb.judge.server import read_pid_file, stop_server

    try:
        kernel = psutil.Process(kernel_pid)
        created = kernel.create_time()
    except psutil.Error:
        kernel, created = None, None
    while True:
        if read_pid_file(port) is None:  # stopped normally: nothing to do
            return False
        try:
            alive = kernel is not None and kernel.is_running() and kernel.create_time() == created \
                and kernel.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            alive = False
        if not alive:
            return stop_server(port)
        time.sleep(poll_s)


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
