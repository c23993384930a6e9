"""Make a run folder shareable: no absolute path of this machine in its pages, manifest or metrics.

After a run, every text file of the folder is rewritten so that paths inside the run folder become
relative to it, paths in the project become ``<project>/...``, the Python environment ``<python-env>/...``
and the home folder ``~``. A zipped run folder then opens anywhere and says nothing about the machine.

Example:
    >>> portable_text("/home/u/proj/outputs/r1/figures/a.png in /home/u/proj/verif_nb",
    ...               {"/home/u/proj/outputs/r1": ".", "/home/u/proj": "<project>"})
    'figures/a.png in <project>/verif_nb'
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

TEXT_SUFFIXES = (".html", ".json", ".csv", ".ipynb", ".md", ".txt", ".yaml", ".yml", ".jsonl", ".log")
MAX_BYTES = 50_000_000


def machine_paths(run_dir: str | os.PathLike, project: str | os.PathLike | None = None) -> dict[str, str]:
    """Absolute prefixes of this machine and what replaces each (the run folder itself becomes relative).

    Example:
        >>> machine_paths("/nonexistent/run", "/nonexistent")["/nonexistent/run"]
        '.'
    """
    mapping = {str(Path(run_dir).resolve()): "."}
    if project is not None:
        mapping[str(Path(project).resolve())] = "<project>"
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        mapping.setdefault(str(Path(prefix).resolve()), "<python-env>")
        mapping.setdefault(prefix, "<python-env>")
    home = str(Path.home())
    if home not in ("/", ""):
        mapping.setdefault(home, "~")
    return {k: v for k, v in mapping.items() if k not in ("/", "")}


def portable_text(text: str, mapping: dict[str, str]) -> str:
    """``text`` with each absolute prefix of ``mapping`` replaced, longest first.

    A path inside the run folder (mapped to ``.``) becomes relative: ``/x/run/figures/a.png`` ->
    ``figures/a.png``; the folder itself becomes ``.``.

    Example:
        >>> portable_text('"/r/run"', {"/r/run": "."})
        '"."'
    """
    for prefix in sorted(mapping, key=len, reverse=True):
        target = mapping[prefix]
        escaped = re.escape(prefix)
        # the prefix only where a path component ends (so /a/run does not match /a/run2)
        if target == ".":
            text = re.sub(escaped + r"[/\\]", "", text)
            text = re.sub(escaped + r"(?![\w.\-])", ".", text)
        else:
            text = re.sub(escaped + r"(?=[/\\]|(?![\w.\-]))", target.replace("\\", r"\\"), text)
    return text


def _is_model_dir(folder: Path) -> bool:
    """A saved model, adapter or checkpoint: libraries read its configs back (e.g. the base model's path), so
    they stay as written."""
    return (
        (folder / "adapter_config.json").is_file()
        or any(folder.glob("*.safetensors"))
        or (folder / "trainer_state.json").is_file()
    )


def make_portable(run_dir: str | os.PathLike, project: str | os.PathLike | None = None) -> list[Path]:
    """Rewrite every text file under ``run_dir`` with :func:`portable_text`; returns the files changed.

    Saved models and checkpoints are left alone: their configs are read back by libraries.

    Example:
        >>> make_portable("/nonexistent")
        []
    """
    root = Path(run_dir)
    if not root.is_dir():
        return []
    mapping = machine_paths(root, project)
    changed = []
    model_dirs: dict[Path, bool] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or path.stat().st_size > MAX_BYTES:
            continue
        if path.parent not in model_dirs:
            model_dirs[path.parent] = _is_model_dir(path.parent)
        if model_dirs[path.parent]:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = portable_text(text, mapping)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed
