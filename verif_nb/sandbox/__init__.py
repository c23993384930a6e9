"""Sandboxed execution of dataset-supplied checker code (VerInstruct ``check_following`` functions).

VerIF's reference reward ``exec``s each function inside the trainer, with no limits. verif-nb never does:
:class:`SandboxPool` runs them in separate worker processes behind layered defences, and
:func:`validate_code` screens code statically (nothing runs) so the data loader can reject bad rows.

Layers, from the outside in:

* a separate process per worker, started with an empty environment (no secrets), ``python -I`` (no user
  site, no PYTHON* variables), its own session, working directory ``/``, stdio on /dev/null;
* resource limits: RLIMIT_AS (``memory_mb``), RLIMIT_FSIZE=0, RLIMIT_NPROC=0, RLIMIT_NOFILE=64, RLIMIT_CORE=0,
  RLIMIT_CPU per batch; a per-check wall-clock alarm, and a watchdog in the caller that kills a worker
  whose check runs past ``timeout_s`` + grace (C code the alarm cannot interrupt);
* a PEP 578 audit hook (cannot be removed once installed) refusing process creation, signals, sockets,
  ctypes, file writes, file reads outside the Python installation, code-object construction and imports of
  dangerous modules;
* per-check builtins without open/exec/eval/compile/input/breakpoint/globals/vars/setattr..., a
  restricted ``__import__`` honouring an allow-list (:data:`DEFAULT_ALLOWED_IMPORTS`, documented in
  :data:`ALLOWED_IMPORT_REASONS`), read-only proxies of the allowed modules, a ``getattr`` refusing
  underscore names;
* a static screen of the code (the same :func:`validate_code`) refusing dunder and frame attributes,
  forbidden imports, attribute assignment on shared objects and ``str.format`` on non-literal strings.

Not available in pure Python, and not pretended: seccomp, namespaces, a separate user. Running the trainer
as root weakens RLIMIT_NPROC (Linux does not apply it to root) and file permissions; the audit hook is the
layer that stops fork/kill/writes there.

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
from verif_nb.sandbox._pool import CheckResult, CheckTask, SandboxPool

__all__ = [
    "ALLOWED_IMPORT_REASONS",
    "CheckResult",
    "CheckTask",
    "DEFAULT_ALLOWED_IMPORTS",
    "SandboxPool",
    "validate_code",
]
