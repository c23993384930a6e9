"""Which sandbox layer stops which attack: every attack class of issue 8 run under each layer alone.

Each attack is written with the real interpreter in hand (as an escape past the Python layers would give it) and
reports whether its side effect happened. Configurations, from everything on to nothing:

* ``all``        every layer (what users get);
* ``kernel``     namespaces + uid 65534 + seccomp + rlimits, Python layers off;
* ``seccomp``    seccomp + rlimits only (no namespaces, as in a locked-down container), Python layers off;
* ``namespaces`` bubblewrap namespaces + uid 65534 + rlimits, no seccomp, Python layers off;
* ``python``     only the Python layers (audit hook, restricted builtins/imports, static screen): the old design;
* ``none``       nothing but a separate process and rlimits (shows each attack is real).

Run (writes a markdown table; side effects land only in a temporary folder and on a loopback socket):
    PYTHONPATH=. .venv/bin/python benchmarks/sandbox_layers.py
"""

from __future__ import annotations

import os
import socket
import tempfile
import textwrap
import time
from pathlib import Path

import psutil

from verif_nb.sandbox import CheckTask, SandboxPool

CONFIGS = {
    "all": {},
    "kernel": {"_python_layers": False},
    "seccomp": {"_python_layers": False, "namespaces": False},
    "namespaces": {"_python_layers": False, "_seccomp": False, "allow_unsandboxed": True},
    "python": {"_seccomp": False, "namespaces": False, "allow_unsandboxed": True, "_static_screen": False},
    "none": {"_python_layers": False, "_seccomp": False, "namespaces": False, "allow_unsandboxed": True},
}
ESCAPE = "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__"


def check(body: str) -> str:
    # The real os module, whichever way works in this configuration: a plain import where imports are real,
    # the classic subclass walk where they are restricted.
    prelude = (
        f"try:\n    import os as O\nexcept BaseException:\n    O = None\nif O is None or not hasattr(O, 'system'):\n"
        f"    G = {ESCAPE}\n    import types as _t\n    O = _t.SimpleNamespace(**G)\n"
    )
    return (
        prelude
        + "def check_following(instruction, response):\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
        + "\n"
    )


def attacks(tmp: Path, port: int) -> dict[str, tuple[str, callable]]:
    """name -> (code, did_it_happen())"""
    marker, victim, secret = tmp / "pwned", tmp / "victim", tmp / "secret"
    return {
        "shell as root (class 1)": (check(f"O.system('touch {marker}')\nreturn True"), marker.exists),
        "fork + write (class 1)": (
            check(f"""
            if O.fork() == 0:
                O.close(O.open('{marker}2', O.O_CREAT | O.O_WRONLY))
                O._exit(0)
            return True"""),
            lambda: (tmp / "pwned2").exists(),
        ),
        "write a file (old suite)": (
            check(f"O.close(O.open('{marker}3', O.O_CREAT | O.O_WRONLY))\nreturn True"),
            lambda: (tmp / "pwned3").exists(),
        ),
        "delete a file (class 1)": (check(f"O.unlink('{victim}')\nreturn True"), lambda: not victim.exists()),
        "read a host secret (class 1)": (
            check(f"""
            fd = O.open('{secret}', O.O_RDONLY)
            raise ValueError(O.read(fd, 100))"""),
            None,
        ),
        "send to a local socket (class 1)": (
            check(f"""
            import socket as S
            S.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'x')
            return True"""),
            None,
        ),
        "kill the parent (old suite)": (check("O.kill(O.getppid(), 9)\nreturn True"), None),
    }


def run(config: dict, tmp: Path) -> dict[str, bool]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    (tmp / "victim").write_text("keep")
    (tmp / "secret").write_text("TOP-SECRET")
    catalog = attacks(tmp, server.getsockname()[1])
    with SandboxPool(workers=1, timeout_s=2, **config) as pool:
        pool.check("def check_following(instruction, response):\n    return True", "instruction", "x")
        workers = pool.pids()
        results = pool.check_batch([CheckTask(code, "instruction", "x") for code, _ in catalog.values()])
        time.sleep(0.2)
        worker_died = any(not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie" for pid in workers)
    happened = {}
    for (name, (_, probe)), result in zip(catalog.items(), results):
        if name.startswith("read"):
            happened[name] = "TOP-SECRET" in (result.error or "")
        elif name.startswith("send"):
            try:
                server.accept()
                happened[name] = True
            except BlockingIOError:
                happened[name] = False
        elif name.startswith("kill"):  # its parent is the worker's zygote: did the worker die under it?
            happened[name] = worker_died or "worker lost" in (result.error or "")
        else:
            happened[name] = probe()
    server.close()
    return happened


def main() -> None:
    table: dict[str, dict[str, bool]] = {}
    for label, config in CONFIGS.items():
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            table[label] = run(config, Path(tmp))
    names = list(next(iter(table.values())))
    print("| attack | " + " | ".join(CONFIGS) + " |")
    print("|---|" + "---|" * len(CONFIGS))
    for name in names:
        print(f"| {name} | " + " | ".join("**happened**" if table[c][name] else "blocked" for c in CONFIGS) + " |")


if __name__ == "__main__":
    main()
