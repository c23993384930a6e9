"""Pipeline parameter files and notebook ``parameters`` cells.

A pipeline parameter file is YAML::

    run_name: ci                      # part of the run id: <YYYYmmdd-HHMMSS>-<run_name>
    description: tiny model, minutes  # optional, shown in index.html
    notebooks_dir: ../notebooks       # optional; relative to this file (default ../notebooks)
    notebooks:                        # executed in this order
      - 01_dataset_inspection
      - 03_grpo_training
    parameters:                       # shared: given to every listed notebook that declares the key
      data: sample
      max_records: 12
    overrides:                        # per notebook: only that notebook, wins over `parameters`
      03_grpo_training:
        train_params: params/train_ci.yaml

The top level is a typed schema (:class:`PipelineFile`). Every key must be declared in the ``parameters`` cell
of its target notebook (a shared key in at least one listed notebook), and its value must be one the notebook
accepts: for the project's notebooks their schema in :mod:`verif_nb.pipeline.notebooks` (type and range), for
others the type the cell declares. Anything else is a :class:`~verif_nb.errors.ParamsError` before any notebook
runs. ``figures_dir``, ``metrics_dir``, ``run_dir`` and ``interactive`` are set by the pipeline for each run and
may not appear in the file.

Example:
    >>> cell = "max_records = 20  # how many records\\nmodes = ['rule']  # verifier modes"
    >>> {p.name: p.default for p in parse_parameters_source(cell).values()}
    {'max_records': 20, 'modes': ['rule']}
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verif_nb.errors import ParamsError
from verif_nb.files import read_yaml
from verif_nb.pipeline.notebooks import NOTEBOOK_PARAMS
from verif_nb.settings import Settings, option

PARAMETERS_TAG = "parameters"
# Keys the pipeline fills in for every notebook of a run (absolute paths inside the run folder; interactive=False,
# since no one can operate widgets in a batch run).
INJECTED_KEYS: tuple[str, ...] = ("figures_dir", "metrics_dir", "run_dir", "interactive")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RUN_NAME_RULE = "1-64 letters, digits, '.', '-' or '_'"
_TYPE_NAMES = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "None": type(None),
    "tuple": tuple,
}


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell: name, default, accepted types, comment.

    Example:
        >>> p = NotebookParameter("seed", 0, ("int",), "random seed")
        >>> p.accepts(3), p.accepts("3")
        (True, False)
    """

    name: str
    default: Any
    types: tuple[str, ...]  # accepted type names; empty = anything
    help: str = ""

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has one of the declared types (an int is accepted where a float is)."""
        if not self.types:
            return True
        for name in self.types:
            expected = _TYPE_NAMES[name]
            if expected is int and isinstance(value, bool):
                continue  # True is an int to Python, never to a parameter file
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                return True
            if expected is list and isinstance(value, tuple):
                return True
            if isinstance(value, expected):
                return True
        return False


@dataclass
class PipelineFile(Settings):
    """The top level of a pipeline parameter file, typed (a key left empty in YAML takes the default).

    Example:
        >>> PipelineFile.from_dict({"notebooks": ["01_dataset_inspection.ipynb"]}).notebooks
        ['01_dataset_inspection']
        >>> PipelineFile.from_dict({"notebooks": "01"}, where="p.yaml")
        Traceback (most recent call last):
        ...
        verif_nb.errors.ParamsError: p.yaml: notebooks: expected a list of strings, got '01' (str)
    """

    section = "pipeline"
    root = ""

    run_name: str | None = option(None, "short name used in the run id (letters, digits, '-', '_')")
    description: str = option("", "one line shown in the run's index.html")
    notebooks_dir: str = option("../notebooks", "folder holding the notebooks, relative to the parameter file")
    notebooks: list[str] = option(
        default_factory=list, help="list of notebook names (without .ipynb), executed in order"
    )
    parameters: dict[str, Any] = option(
        default_factory=dict, help="mapping of keys given to every listed notebook that declares them"
    )
    overrides: dict[str, dict[str, Any]] = option(
        default_factory=dict, help="mapping notebook name -> mapping of keys for that notebook only"
    )

    def _check(self) -> list[tuple[str, str]]:
        problems = []
        if self.run_name is not None and not _RUN_NAME.match(self.run_name):
            problems.append(("run_name", f"{self.run_name!r} is not a run name: {_RUN_NAME_RULE}"))
        self.notebooks = [n.removesuffix(".ipynb") for n in self.notebooks]
        self.overrides = {k.removesuffix(".ipynb"): v for k, v in self.overrides.items()}
        bad = [n for n in self.notebooks if not is_plain_name(n)]
        if not self.notebooks:
            problems.append(("notebooks", "must be a non-empty list of notebook names"))
        elif bad:
            # a name becomes a file name in the run folder; "../x" would write outside it
            problems.append(
                (
                    "notebooks",
                    "notebook names must be plain names (letters, digits, '.', '-', '_'; no path separators, "
                    f"no '..'): {', '.join(repr(n) for n in bad)}; set notebooks_dir for another folder",
                )
            )
        elif len(set(self.notebooks)) != len(self.notebooks):
            problems.append(("notebooks", "lists a notebook twice"))
        return problems


TOP_LEVEL_KEYS: dict[str, str] = PipelineFile.field_help()


@dataclass
class PipelineParams:
    """A validated pipeline parameter file.

    Example:
        >>> PipelineParams(path=Path("p.yaml"), run_name="x", notebooks=["01"]).parameters_for("01")
        {}
    """

    path: Path
    run_name: str
    notebooks: list[str]
    notebooks_dir: Path = Path("notebooks")
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    declared: dict[str, dict[str, NotebookParameter]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def notebook_path(self, name: str) -> Path:
        return self.notebooks_dir / f"{name}.ipynb"

    def parameters_for(self, name: str) -> dict[str, Any]:
        """The keys one notebook receives from the file (before the pipeline adds its folders)."""
        declared = self.declared.get(name, {})
        merged = {k: v for k, v in self.parameters.items() if k in declared}
        merged.update(self.overrides.get(name, {}))
        return merged


def _annotation_types(node: ast.expr | None) -> tuple[str, ...] | None:
    """Type names of a simple annotation (``int``, ``str | None``, ``list[str]``); None if not simple."""
    if node is None:
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _annotation_types(node.left), _annotation_types(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Subscript):
        return _annotation_types(node.value)
    if isinstance(node, ast.Constant) and node.value is None:
        return ("None",)
    if isinstance(node, ast.Name) and node.id in _TYPE_NAMES:
        return (node.id,)
    return None


def _default_types(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    for name in ("bool", "int", "float", "str", "list", "dict", "tuple"):
        if type(value) is _TYPE_NAMES[name]:
            return (name,)
    return ()


def _line_comments(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return comments


def parse_parameters_source(source: str, where: str = "<parameters cell>") -> dict[str, NotebookParameter]:
    """Parse a ``parameters`` cell: flat ``name = literal  # comment`` lines (annotations allowed).

    Anything else (imports, calls, expressions) is a :class:`ParamsError`: a parameters cell holds
    only values, so a parameter file can replace every one of them.

    Example:
        >>> parse_parameters_source("judge_url: str | None = None  # endpoint")["judge_url"].types
        ('str', 'None')
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ParamsError(f"{where}: the parameters cell does not parse (line {err.lineno}: {err.msg})") from err
    comments = _line_comments(source)
    params: dict[str, NotebookParameter] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value_node, ann = stmt.targets[0].id, stmt.value, None
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value_node, ann = stmt.target.id, stmt.value, stmt.annotation
        else:
            raise ParamsError(
                f"{where}: line {stmt.lineno}: a parameters cell may only hold "
                "'name = literal' assignments; move other code to the next cell"
            )
        try:
            default = ast.literal_eval(value_node)
        except ValueError as err:
            raise ParamsError(
                f"{where}: line {stmt.lineno}: the default of {name!r} must be a literal "
                "(number, string, list, dict, True/False/None)"
            ) from err
        types = _annotation_types(ann)
        if types is None:
            types = _default_types(default)
        params[name] = NotebookParameter(name, default, types, comments.get(stmt.lineno, ""))
    return params


def notebook_parameters(path: str | Path) -> dict[str, NotebookParameter]:
    """The parameters a notebook declares in its one cell tagged ``parameters``.

    Example:
        >>> sorted(notebook_parameters("notebooks/01_dataset_inspection.ipynb"))[:2]  # doctest: +SKIP
        ['data', 'figures_dir']
    """
    import nbformat  # the notebooks extra: imported when a notebook is read, not when the CLI starts

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError as err:
        raise ParamsError(f"notebook {path} does not exist; check 'notebooks' and 'notebooks_dir'") from err
    tagged = [c for c in nb.cells if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ParamsError(f"{path}: expected exactly one cell tagged 'parameters', found {len(tagged)}")
    return parse_parameters_source(tagged[0].source, where=str(path))


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def is_plain_name(name: str) -> bool:
    """Whether ``name`` is safe as one file name in a run folder: no separators, no ``..``, not hidden.

    Example:
        >>> [is_plain_name(n) for n in ("01_dataset_inspection", "../../victim", "a/b", "..", "a..b")]
        [True, False, False, False, False]
    """
    return bool(_PLAIN_NAME.match(name)) and ".." not in name


def _type_error(key: str, value: Any, param: NotebookParameter, notebook: str) -> str:
    return (
        f"{key}={value!r} ({type(value).__name__}) but {notebook} declares "
        f"{key}: {' | '.join(param.types)} (default {param.default!r})"
    )


def load_pipeline_params(path: str | Path) -> PipelineParams:
    """Read and validate a pipeline parameter file against the notebooks it names.

    Raises :class:`ParamsError` naming every problem: unknown top-level keys, values of the wrong type, missing
    notebooks, keys a notebook does not declare, values a notebook's schema (:mod:`verif_nb.pipeline.notebooks`)
    or its parameters cell does not accept, keys set by the pipeline, and what each notebook's schema checks
    before anything runs (notebook 03: its training preset, read and validated).

    Example:
        >>> load_pipeline_params("params/ci.yaml").notebooks[0]  # doctest: +SKIP
        '01_dataset_inspection'
    """
    path = Path(path)
    where = str(path)
    raw = read_yaml(path, "parameter file")
    if not isinstance(raw, dict):
        raise ParamsError(f"expected a mapping with keys {sorted(TOP_LEVEL_KEYS)}", where=where)
    # (key path, text) of every problem, reported together
    problems: list[tuple[str | None, str]] = [
        (None, f"unknown top-level key {key!r} (known: {', '.join(TOP_LEVEL_KEYS)})")
        for key in raw
        if key not in TOP_LEVEL_KEYS
    ]
    try:
        top = PipelineFile.from_dict({k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS and v is not None})
    except ParamsError as err:
        raise ParamsError.of([*err.problems, *problems], where=where) from None
    try:
        notebooks_dir = (path.parent / top.notebooks_dir).resolve()
    except (UnicodeError, ValueError, OSError) as err:  # e.g. a lone surrogate, a NUL byte
        raise ParamsError(
            f"not a usable path ({type(err).__name__}: {err})", where=where, key="notebooks_dir"
        ) from None
    notebooks = top.notebooks
    params = PipelineParams(
        path=path,
        run_name=top.run_name or path.stem,
        notebooks=notebooks,
        notebooks_dir=notebooks_dir,
        description=top.description,
        parameters=dict(top.parameters),
        overrides=dict(top.overrides),
        raw=raw,
    )
    if top.run_name is None and not _RUN_NAME.match(params.run_name):
        problems.append(
            ("run_name", f"none given, and the file's name {params.run_name!r} is not a run name: {_RUN_NAME_RULE}")
        )
    for name in notebooks:
        try:
            params.declared[name] = notebook_parameters(params.notebook_path(name))
        except ParamsError as err:
            problems.append((None, str(err)))

    def value_problem(key: str, value: Any, notebook: str) -> str | None:
        schema = NOTEBOOK_PARAMS.get(notebook)
        if schema is not None and key in schema.field_types():
            found = schema.value_problems({key: value})
            return found[0][1] if found else None
        declared = params.declared[notebook][key]
        return None if declared.accepts(value) else _type_error(key, value, declared, notebook)

    for key, value in params.parameters.items():
        if key in INJECTED_KEYS:
            problems.append((f"parameters.{key}", "set by the pipeline for each run; remove it"))
            continue
        targets = [n for n in notebooks if key in params.declared.get(n, {})]
        if not targets and all(n in params.declared for n in notebooks):
            problems.append((f"parameters.{key}", "no listed notebook declares it in its parameters cell"))
        refused: dict[str, list[str]] = {}  # one line per problem, naming every notebook that refuses the value
        for n in targets:
            problem = value_problem(key, value, n)
            if problem is not None:
                refused.setdefault(problem, []).append(n)
        for problem, names in refused.items():
            problems.append(
                (f"parameters.{key}", problem + ("" if problem.startswith(key) else f" ({', '.join(names)})"))
            )
    for name, keys in params.overrides.items():
        if name not in notebooks:
            problems.append((f"overrides.{name}", f"not in 'notebooks' ({', '.join(notebooks)})"))
            continue
        declared = params.declared.get(name)
        if declared is None:
            continue
        for key, value in keys.items():
            if key in INJECTED_KEYS:
                problems.append((f"overrides.{name}.{key}", "set by the pipeline for each run; remove it"))
            elif key not in declared:
                problems.append(
                    (f"overrides.{name}.{key}", f"{name} does not declare it (declared: {', '.join(sorted(declared))})")
                )
            else:
                problem = value_problem(key, value, name)
                if problem is not None:
                    problems.append((f"overrides.{name}.{key}", problem))
    if not problems:  # every value has its type: what each notebook checks beyond values, before anything runs
        for name in notebooks:
            schema = NOTEBOOK_PARAMS.get(name)
            if schema is None:
                continue
            given = {k: v for k, v in params.parameters_for(name).items() if k in schema.field_types()}
            try:
                problems += [(f"{name}.{key}", text) for key, text in schema.from_dict(given, path=name).preflight()]
            except ParamsError as err:
                problems += err.problems
    if problems:
        raise ParamsError.of(problems, where=where)
    return params
