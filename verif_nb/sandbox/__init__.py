"""Sandboxed execution of dataset-supplied checker code (VerInstruct ``check_following`` functions).

VerIF's reference reward ``exec``s each function inside the trainer, with no limits. verif-nb never does, and
its boundary is the operating system, not Python. :class:`SandboxPool` runs each function in a fresh child
process forked from a clean, pre-imported worker; :func:`validate_code` screens code statically (nothing runs).

Layers, from the outside in (``_isolation.py``, ``_worker.py``, ``_seccomp.py``; the records they exchange are
defined once, in ``_wire.py``):

* **namespaces** (bubblewrap, where the host allows): no network, its own PID space, a read-only file system
  holding only the Python installation, its site-packages and this folder, whatever ``sys.path`` holds (the
  caller's working directory is not there); everything ends with the caller (``--die-with-parent``);
* **uid 65534** for every child when the caller is root (all capabilities dropped);
* **seccomp-bpf allow-list** in every child, before dataset code: no process creation, sockets, ptrace,
  signals to others, writes, unlink/rename/chmod/mkdir... This layer is required: where it cannot be
  installed (not Linux, no libseccomp), dataset code does not run unless ``allow_unsandboxed=True``
  (CLI ``--allow-unsandboxed-code``), and :attr:`SandboxPool.isolation` says so;
* **resource limits**: address space (``memory_mb``), CPU seconds (``cpu_s``), no file bytes, no processes, few
  descriptors;
* **one process per function and batch**: a row can only ever lie about its own constraint;
* **the parent keeps time, fairly, and distrusts replies** (one event loop over every worker): deadlines per
  check by its own clock, paused while the check's host call runs (on a thread of its own; the child is stopped
  meanwhile); a child that has reported its last verdict is stopped at once and killed after the batch, or at
  once if it holds memory; a strict binary reply schema with size caps; crashes charged to the running check,
  and the checks behind it run again without asking a host call twice;
* **bounded in the caller**: the caller parses a function only when it is small (16 KB); larger ones are parsed
  by their own child under its limits, and :func:`validate_code` screens them in a limited helper process;
* **Python layers** (defence in depth, ``python_layers=True``, the default profile): a PEP 578 audit hook (which
  also refuses turning any string into code, except namedtuple's and dataclasses' checked generators), restricted
  builtins and imports (:data:`DEFAULT_ALLOWED_IMPORTS`, reasons in :data:`ALLOWED_IMPORT_REASONS`), read-only
  module proxies, guards on the allowed modules' paths that act on names taken from data, and the static screen.
  ``python_layers=False`` (the reference profile) runs the code as written; the kernel layers stay.

Residual risks: a kernel bug reachable through the allowed system calls; reading files inside the Python
tree (bound read-only); a check may burn its CPU and memory budget. Without bubblewrap (locked-down
containers) the children still get seccomp and limits but see the host's file system read-only by seccomp
only, and keep the caller's uid. The Python layers can be walked around by code that reaches the real
interpreter; the kernel layers do not depend on them.

Example:
    >>> from verif_nb.sandbox import SandboxPool, CheckTask, validate_code
    >>> code = "def check_following(instruction, response):\\n    return len(response.split()) <= 3"
    >>> validate_code(code) is None
    True
    >>> with SandboxPool(workers=1) as pool:
    ...     pool.check(code, "instruction", "short answer").passed
    True
"""

from verif_nb.sandbox._policy import ALLOWED_IMPORT_REASONS, DEFAULT_ALLOWED_IMPORTS, validate_code
from verif_nb.sandbox._pool import CheckResult, CheckTask, SandboxPool, probe_isolation
from verif_nb.sandbox._settings import SandboxSettings

__all__ = [
    "ALLOWED_IMPORT_REASONS",
    "CheckResult",
    "CheckTask",
    "DEFAULT_ALLOWED_IMPORTS",
    "SandboxPool",
    "SandboxSettings",
    "probe_isolation",
    "validate_code",
]
