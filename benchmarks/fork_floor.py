"""The floor under any process-per-function sandbox on this machine: a bare ``os.fork`` per function, the child
defining and calling a 3-line ``check_following`` and exiting, with no isolation at all (no seccomp, namespaces,
uid change, sockets or verdict transfer). Whatever the sandbox does costs this plus its own work, so a target below
it is out of reach for a fresh process per function with this interpreter on this machine.

    python3.11 benchmarks/fork_floor.py            # and --freeze: gc.freeze() in the parent, gc off in children
    /path/to/python3.12 benchmarks/fork_floor.py   # the interpreter matters: compare side by side

Prints wall and CPU per function (child, parent), page faults per child and the parent's peak RSS; runs the forks
one after another, so wall ~ the CPU of one function; n functions split over c cores cost at best CPU / c each.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import resource
import sys
import time

# A zygote-like heap: the modules a sandbox worker has imported before it forks.
HEAP_MODULES = (
    "collections",
    "dataclasses",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "itertools",
    "json",
    "re",
    "string",
    "typing",
    "unicodedata",
)

CHECK = (
    "def check_following(instruction, response):\n    import re\n    return len(re.findall(r'\\w+', response)) > 3\n"
)


def cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=400, help="functions (forks)")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() in the parent, gc disabled in children")
    args = parser.parse_args()
    for name in HEAP_MODULES:
        importlib.import_module(name)
    code = compile(CHECK, "<check>", "exec")
    if args.freeze:
        gc.collect()
        gc.freeze()
    t0 = time.perf_counter()
    c0, s0 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(args.n):
        pid = os.fork()
        if pid == 0:
            if args.freeze:
                gc.disable()
            names: dict = {}
            exec(code, names)
            os._exit(0 if names["check_following"]("instruction", "a response of five words") else 1)
        os.waitpid(pid, 0)
    wall = time.perf_counter() - t0
    c1, s1 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    n = args.n
    print(
        f"python {sys.version.split()[0]}{' gc.freeze' if args.freeze else ''}: "
        f"wall {1000 * wall / n:.3f} ms per function, child CPU {1000 * (cpu(c1) - cpu(c0)) / n:.3f} ms, "
        f"parent CPU {1000 * (cpu(s1) - cpu(s0)) / n:.3f} ms, page faults per child "
        f"{(c1.ru_minflt - c0.ru_minflt) / n:.0f}, parent peak RSS {s1.ru_maxrss / 1024:.0f} MB (n={n})"
    )


if __name__ == "__main__":
    main()
