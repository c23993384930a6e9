"""Make a run folder shareable: no absolute path of this machine in its notebooks, manifest or metrics.

A pipeline run writes paths relative to the run folder at the source (the notebooks run inside it, with
``run_dir = "."``), so almost nothing is left to rewrite. What is left comes from other programs: papermill records
where it read and wrote a notebook, and libraries print warnings that name their own files. Those files are
rewritten *structurally*: each is parsed (JSON, notebooks, JSON lines, CSV, YAML), every string value in it is
rewritten, and it is written back in the same format, so an escaped quote or a backslash in a notebook can never be
cut by a path that ends before it. A path inside the run folder becomes relative to it, paths in the project become
``<project>/...``, the Python environment ``<python-env>/...`` and the home folder ``~``.

Example:
    >>> portable_text("/home/u/proj/outputs/r1/figures/a.png in /home/u/proj/verif_nb",
    ...               {"/home/u/proj/outputs/r1": ".", "/home/u/proj": "<project>"})
    'figures/a.png in <project>/verif_nb'
    >>> portable_value({"cell": ['run_dir = "/r/run"\\n', "x = '/r/run/a.csv'"]}, {"/r/run": "."})
    {'cell': ['run_dir = "."\\n', "x = 'a.csv'"]}
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

MAX_BYTES = 50_000_000
# A prefix is a path of this machine only where a path starts (not after a letter, '.', '-' or '~': /x/a/run holds
# no /a/run) and ends: a prefix followed by a name character is another path (/a/run2, /a/run.x), but a full stop
# that ends a sentence ("failed in /a/run.") is not one.
_STARTS = r"(?<![\w.\-~])"
_NAME_GOES_ON = r"(?:[\w\-]|\.[\w\-])"


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
    """``text`` (a decoded string, never the source text of a JSON file) with each absolute prefix of ``mapping``
    replaced, longest first, where it ends a path component.

    A path inside the run folder (mapped to ``.``) becomes relative: ``/x/run/figures/a.png`` -> ``figures/a.png``;
    the folder itself becomes ``.``.

    Example:
        >>> portable_text('"/r/run" and /r/run2 and /r/run/ and /r/run.x, in /r/run. /x/r/run', {"/r/run": "."})
        '"." and /r/run2 and ./ and /r/run.x, in .. /x/r/run'
    """
    present = sorted((p for p in mapping if p in text), key=len, reverse=True)
    if not present:
        return text
    # one pass, longest prefix first: a replacement is never looked at again
    pattern = _STARTS + "(" + "|".join(re.escape(p) for p in present) + r")(?:(/)(?=[\w.\-])|(?!" + _NAME_GOES_ON + "))"

    def replace(match: re.Match[str]) -> str:
        target, slash = mapping[match.group(1)], match.group(2)
        if slash is None:
            return target
        return "" if target == "." else target + "/"  # inside the run folder a path becomes relative to it

    return re.sub(pattern, replace, text)


def portable_value(value: Any, mapping: dict[str, str]) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with :func:`portable_text` applied to every string in it.

    Example:
        >>> portable_value({"a": ["/r/run/x", 1, None]}, {"/r/run": "."})
        {'a': ['x', 1, None]}
    """
    if isinstance(value, str):
        return portable_text(value, mapping)
    if isinstance(value, list):
        return [portable_value(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: portable_value(v, mapping) for k, v in value.items()}
    return value


def _json(text: str, mapping: dict[str, str]) -> str:
    indent = 2 if "\n" in text.strip() else None  # a file written on one line stays on one line
    end = "\n" if text.endswith("\n") else ""
    return json.dumps(portable_value(json.loads(text), mapping), indent=indent, ensure_ascii=False) + end


def _notebook(text: str, mapping: dict[str, str]) -> str:
    # nbformat's own layout (indent 1, keys sorted, trailing newline): the notebook reads back the same
    return json.dumps(portable_value(json.loads(text), mapping), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _jsonl(text: str, mapping: dict[str, str]) -> str:
    return "\n".join(
        json.dumps(portable_value(json.loads(line), mapping), ensure_ascii=False) if line.strip() else line
        for line in text.split("\n")
    )


def _csv(text: str, mapping: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([portable_text(cell, mapping) for cell in row])
    return out.getvalue()


def _yaml(text: str, mapping: dict[str, str]) -> str:
    return yaml.safe_dump(portable_value(yaml.safe_load(text), mapping), sort_keys=False, allow_unicode=True)


def _plain(text: str, mapping: dict[str, str]) -> str:
    return portable_text(text, mapping)  # prose (a model card, a log): no structure to keep


# How each kind of file is rewritten. HTML is not here: verif-nb renders it from files already made portable.
REWRITERS: dict[str, Callable[[str, dict[str, str]], str]] = {
    ".ipynb": _notebook,
    ".json": _json,
    ".jsonl": _jsonl,
    ".csv": _csv,
    ".yaml": _yaml,
    ".yml": _yaml,
    ".md": _plain,
    ".txt": _plain,
    ".log": _plain,
}


def _is_model_dir(folder: Path) -> bool:
    """A saved model, adapter or checkpoint: libraries read its configs back (e.g. the base model's path), so
    they stay as written."""
    return (
        (folder / "adapter_config.json").is_file()
        or any(folder.glob("*.safetensors"))
        or (folder / "trainer_state.json").is_file()
    )


def make_portable(
    run_dir: str | os.PathLike, project: str | os.PathLike | None = None, skip: tuple[str, ...] = ()
) -> list[Path]:
    """Rewrite every file under ``run_dir`` that names a path of this machine, structurally (see
    :data:`REWRITERS`); returns the files changed. ``skip`` lists suffixes to leave alone.

    Saved models and checkpoints keep their configs as written (libraries read them back: a LoRA adapter's
    ``base_model_name_or_path``); their model cards are rewritten. A file that does not
    parse as its suffix says (a notebook cut short by a crash) is left as it is and logged.

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
        rewrite = REWRITERS.get(path.suffix)
        if rewrite is None or path.suffix in skip or not path.is_file() or path.stat().st_size > MAX_BYTES:
            continue
        if path.parent not in model_dirs:
            model_dirs[path.parent] = _is_model_dir(path.parent)
        if model_dirs[path.parent] and path.suffix != ".md":  # its model card is prose nothing reads back
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if not any(prefix in text for prefix in mapping):
            continue
        try:
            new = rewrite(text, mapping)
        except (ValueError, csv.Error, yaml.YAMLError) as err:  # json's errors are ValueErrors
            log.warning("%s left as it is: it does not parse as %s (%s)", path, path.suffix, err)
            continue
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed
