"""The seccomp-bpf allow-list every sandbox child loads before it runs dataset code (libseccomp via pyseccomp).

Loaded by file path inside the worker (standard library + ``pyseccomp`` only). An allow-list, not a deny-list:
what computing a verdict needs (memory, reading already-open pipes, reading files read-only for lazy imports,
clocks, signals to itself, exiting) is allowed; everything else fails with EPERM, which Python raises as
``PermissionError`` and the check reports as unverifiable. In particular: no ``execve``/``execveat``, no
``fork``/``vfork``/``clone``/``clone3`` (a child needs no threads), no sockets, no ``ptrace`` or
``process_vm_*``, no signals at all (``kill``, ``tgkill``), no ``open``/``openat`` with a write, create,
truncate or append flag (``openat2``, whose flags the filter cannot see, is refused), no ``unlink``,
``rename``, ``chmod``, ``chown``, ``mkdir``, ``link``, ``mount``, ``ioctl`` (no terminal injection), no
``io_uring``, ``bpf``, ``userfaultfd``, ``setns``/``unshare``. libseccomp sets ``no_new_privs`` when it loads.

The filter is built and compiled to a BPF program once, in the zygote (``bpf_program``); each child loads the
program with one ``prctl(PR_SET_SECCOMP)`` after ``PR_SET_NO_NEW_PRIVS`` (``_worker._Filter``), instead of
having libseccomp compile it again in every child.

Example (in the zygote; the filter cannot be removed once a process has loaded it)::

    program = _load_sibling("_seccomp").bpf_program()  # bytes: 8 per BPF instruction
"""

from __future__ import annotations

import os

ALLOWED = (
    # memory
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mincore",
    # reading and writing already-open descriptors (the child's two pipes and /dev/null)
    "read",
    "readv",
    "pread64",
    "preadv",
    "write",
    "writev",
    "close",
    "lseek",
    "fcntl",
    "dup",
    "dup2",
    "dup3",
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "getdents64",
    "readlink",
    "readlinkat",
    "getcwd",
    "fadvise64",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    # clocks, timers, signals to itself
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "nanosleep",
    "clock_nanosleep",
    "setitimer",
    "getitimer",
    "alarm",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "restart_syscall",
    # identity and limits, read-only
    "getpid",
    "gettid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "getrusage",
    "getrlimit",
    "sysinfo",
    "uname",
    "times",
    "sched_getaffinity",
    "sched_yield",
    "getrandom",
    # runtime plumbing
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "membarrier",
    "exit",
    "exit_group",
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _Descriptor:
    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def bpf_program() -> bytes:
    """The allow-list compiled to a BPF program (libseccomp through pyseccomp), ready for ``PR_SET_SECCOMP``."""
    import pyseccomp as sc

    rules = sc.SyscallFilter(sc.ERRNO(1))  # everything not allowed below fails with EPERM
    for name in ALLOWED:
        try:
            rules.add_rule(sc.ALLOW, name)
        except (OSError, ValueError):
            pass  # not a system call on this architecture
    read_only = (sc.MASKED_EQ, _WRITE_FLAGS, 0)
    rules.add_rule(sc.ALLOW, "openat", sc.Arg(2, *read_only))
    try:
        rules.add_rule(sc.ALLOW, "open", sc.Arg(1, *read_only))
    except (OSError, ValueError):
        pass  # no open(2) on this architecture
    rules.add_rule(sc.ALLOW, "prlimit64", sc.Arg(2, sc.EQ, 0))  # read a limit, never set one
    memory = os.memfd_create("seccomp-bpf")  # libseccomp writes the program to a descriptor
    try:
        rules.export_bpf(_Descriptor(memory))
        os.lseek(memory, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(memory, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(memory)
    program = b"".join(chunks)
    if not program or len(program) % 8:
        raise OSError("libseccomp exported no BPF program")
    return program
