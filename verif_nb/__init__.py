"""verif-nb: verification engineering for RL in instruction following (VerIF), from JupyterLab.

Hard constraints are checked by code (built-in IFEval checkers or dataset-supplied
``check_following`` functions run in a sandbox); soft constraints by an LLM judge; the hybrid
verifier combines both into a reward for GRPO.

Example:
    >>> import verif_nb
    >>> verif_nb.__version__
    '0.1.0'
"""

from importlib.metadata import PackageNotFoundError, version

from verif_nb.errors import (
    CheckerError,
    DataError,
    JudgeError,
    ParamsError,
    RunExistsError,
    SandboxError,
    VerifNbError,
)
from verif_nb.records import Constraint, LabelledResponse, Record, Verdict

try:
    __version__ = version("verif-nb")  # the version pyproject.toml declares, as installed
except PackageNotFoundError:  # a source tree on sys.path that pip never installed has no metadata
    __version__ = "0+unknown"

__all__ = [
    "CheckerError",
    "Constraint",
    "DataError",
    "JudgeError",
    "LabelledResponse",
    "ParamsError",
    "Record",
    "RunExistsError",
    "SandboxError",
    "Verdict",
    "VerifNbError",
    "__version__",
]
