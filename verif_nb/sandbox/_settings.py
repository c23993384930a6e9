"""The sandbox pool's settings as one typed schema. The verifier's ``sandbox_*`` fields use the same ranges, so a
params file is checked against them when it is read, not when the first dataset check starts a worker.

Example:
    >>> SandboxSettings(workers=1).spares
    32
    >>> SandboxSettings(memory_mb=10)
    Traceback (most recent call last):
    ...
    verif_nb.errors.ParamsError: sandbox.memory_mb: expected an integer >= 32, got 10 (int)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from verif_nb.settings import Concurrency, Count, PositiveFloat, Settings, Workers, option

CheckTimeout = Annotated[float, Field(gt=0, le=3600)]
"""Seconds one dataset check may take: (0, 3600]."""
WorkerMemoryMB = Annotated[int, Field(ge=32)]
"""Address space of one worker in MB: an idle worker uses ~25 MB, ~90 MB once langdetect is loaded."""
Spares = Annotated[int, Field(ge=1, le=512)]
"""Children a worker keeps forked and ready: [1, 512] (~3.6 MB each)."""
ExecStyle = Literal["verif_nb", "verif"]
MAX_CALLS_PER_CHECK = 8  # default for host calls (llm_extract...) one check may make


@dataclass(frozen=True)
class SandboxSettings(Settings):
    """How a :class:`~verif_nb.sandbox.SandboxPool` runs dataset code (its keyword arguments, typed)."""

    section = "sandbox"

    workers: Workers = option(2, "worker processes that run dataset-supplied code")
    timeout_s: CheckTimeout = option(2.0, "time limit of one dataset check, in seconds")
    memory_mb: WorkerMemoryMB = option(
        512, "address-space limit of one worker in MB (an idle worker uses ~25 MB, ~90 MB once langdetect is loaded)"
    )
    python_layers: bool = option(
        True, "the Python layers (static screen, audit hook, restricted builtins and imports); off: code as written"
    )
    cpu_s: PositiveFloat | None = option(None, "CPU seconds a child may use over a whole job (None: from the batch)")
    max_batch: Count = option(256, "most checks sent to a worker in one job")
    startup_timeout_s: PositiveFloat = option(60.0, "seconds a worker may take to start")
    allow_unsandboxed: bool = option(
        False, "run dataset code even where the kernel sandbox (seccomp) cannot be installed, and say so"
    )
    namespaces: bool = option(True, "isolate workers in namespaces (bubblewrap) where the host allows it")
    max_host_calls: Count = option(MAX_CALLS_PER_CHECK, "host calls (llm_extract...) one check may make")
    host_concurrency: Concurrency = option(16, "threads that answer host calls")
    exec_style: ExecStyle = option("verif_nb", "verif_nb: verif-nb's check loop | verif: VerIF's exec of the code")
    spares: Spares = option(32, "children each worker keeps forked and ready (~3.6 MB each)")
    parallel: Workers = option(4, "jobs one worker runs at once")
