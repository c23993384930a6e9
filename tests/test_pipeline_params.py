"""Pipeline parameter files: parsing of parameters cells, validation before anything runs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from verif_nb.errors import ParamsError
from verif_nb.pipeline import load_pipeline_params, notebook_parameters, parse_parameters_source
from verif_nb.pipeline._params import INJECTED_KEYS

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "pipeline"


def _write(tmp_path: Path, doc: dict, name: str = "p.yaml") -> Path:
    doc.setdefault("notebooks_dir", str(FIXTURES))
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "source, expected",
    [
        ("a = 1  # count", {"a": (1, ("int",), "count")}),
        ("a = 1.5", {"a": (1.5, ("float",), "")}),
        ("a = 'x'  # a name", {"a": ("x", ("str",), "a name")}),
        ("a = True", {"a": (True, ("bool",), "")}),
        ("a = None  # anything", {"a": (None, (), "anything")}),
        ("a: str | None = None", {"a": (None, ("str", "None"), "")}),
        ("a: list[str] = ['rule', 'hybrid']", {"a": (["rule", "hybrid"], ("list",), "")}),
        ("a = {'k': 1}\nb = -2", {"a": ({"k": 1}, ("dict",), ""), "b": (-2, ("int",), "")}),
    ],
)
def test_parse_parameters_source(source, expected):
    parsed = parse_parameters_source(source)
    assert {k: (p.default, p.types, p.help) for k, p in parsed.items()} == expected


@pytest.mark.parametrize(
    "source, message",
    [
        ("import os", "only hold"),
        ("a = len('x')", "must be a literal"),
        ("a, b = 1, 2", "only hold"),
        ("a = (", "does not parse"),
        ("print('x')", "only hold"),
    ],
)
def test_parse_parameters_source_rejects_code(source, message):
    with pytest.raises(ParamsError, match=message):
        parse_parameters_source(source)


@pytest.mark.parametrize(
    "types, value, ok",
    [
        (("int",), 3, True),
        (("int",), True, False),
        (("int",), "3", False),
        (("float",), 3, True),
        (("float",), 0.5, True),
        (("bool",), False, True),
        (("bool",), 0, False),
        (("str",), "x", True),
        (("list",), ["a"], True),
        (("list",), "a", False),
        (("str", "None"), None, True),
        ((), object(), True),
        (("dict",), {"a": 1}, True),
        (("dict",), ["a"], False),
    ],
)
def test_parameter_type_check(types, value, ok):
    from verif_nb.pipeline import NotebookParameter

    assert NotebookParameter("k", None, types).accepts(value) is ok


def test_notebook_needs_exactly_one_parameters_cell(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1")])
    nbformat.write(nb, tmp_path / "none.ipynb")
    with pytest.raises(ParamsError, match="exactly one cell tagged 'parameters', found 0"):
        notebook_parameters(tmp_path / "none.ipynb")
    cells = [nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["parameters"]}) for _ in range(2)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "two.ipynb")
    with pytest.raises(ParamsError, match="found 2"):
        notebook_parameters(tmp_path / "two.ipynb")


def test_valid_file_resolves_parameters_per_notebook(tmp_path):
    path = _write(
        tmp_path,
        {
            "run_name": "t",
            "notebooks": ["tiny_ok", "tiny_fail"],
            "parameters": {"n_points": 3, "fail": False},
            "overrides": {"tiny_ok": {"label": "x", "scale": 2}},
        },
    )
    params = load_pipeline_params(path)
    assert params.notebooks == ["tiny_ok", "tiny_fail"]
    # a shared key goes only to the notebooks that declare it; overrides only to their notebook
    assert params.parameters_for("tiny_ok") == {"n_points": 3, "label": "x", "scale": 2}
    assert params.parameters_for("tiny_fail") == {"fail": False}


@pytest.mark.parametrize(
    "doc, message",
    [
        (
            {"notebooks": ["tiny_ok"], "parameters": {"n_pionts": 3}},
            "parameters.n_pionts: no listed notebook declares it",
        ),
        (
            {"notebooks": ["tiny_ok"], "overrides": {"tiny_ok": {"fail": True}}},
            "overrides.tiny_ok.fail: tiny_ok does not declare it",
        ),
        (
            {"notebooks": ["tiny_ok"], "overrides": {"tiny_fail": {"fail": True}}},
            "overrides.tiny_fail: not in 'notebooks'",
        ),
        (
            {"notebooks": ["tiny_ok"], "parameters": {"n_points": "five"}},
            r"n_points='five' \(str\) but tiny_ok declares n_points: int",
        ),
        ({"notebooks": ["tiny_ok"], "overrides": {"tiny_ok": {"scale": "big"}}}, "scale: float"),
        ({"notebooks": ["tiny_ok"], "parameters": {"figures_dir": "/tmp"}}, "set by the pipeline"),
        ({"notebooks": ["tiny_ok"], "overrides": {"tiny_ok": {"metrics_dir": "/tmp"}}}, "set by the pipeline"),
        ({"notebooks": ["tiny_ok"], "notebook": ["x"]}, "unknown top-level key 'notebook'"),
        ({"notebooks": []}, "non-empty list"),
        ({"notebooks": ["no_such_notebook"]}, "no_such_notebook.ipynb does not exist"),
        ({"notebooks": ["tiny_ok", "tiny_ok"]}, "twice"),
        ({"run_name": "../escape", "notebooks": ["tiny_ok"]}, "run_name"),
    ],
)
def test_bad_files_are_errors_before_running(tmp_path, doc, message):
    with pytest.raises(ParamsError, match=message):
        load_pipeline_params(_write(tmp_path, doc))


def test_all_problems_reported_at_once(tmp_path):
    doc = {"notebooks": ["tiny_ok"], "parameters": {"typo_one": 1, "typo_two": 2}}
    with pytest.raises(ParamsError) as err:
        load_pipeline_params(_write(tmp_path, doc))
    assert "typo_one" in str(err.value) and "typo_two" in str(err.value)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        load_pipeline_params(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebooks: [unclosed", encoding="utf-8")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_pipeline_params(bad)


# --- the project's own parameter files and notebooks -------------------------------------------------

# Pipeline files are those naming notebooks; training presets (params/train_*.yaml, ...) are not.
PIPELINE_FILES = sorted(
    p for p in (ROOT / "params").glob("*.yaml") if "notebooks" in (yaml.safe_load(p.read_text(encoding="utf-8")) or {})
)


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=lambda p: p.name)
def test_project_params_keys_exist_in_notebooks(path):
    """Every key of params/*.yaml exists in its target notebook's parameters cell, with the right type."""
    params = load_pipeline_params(path)
    for name in params.notebooks:
        declared = params.declared[name]
        for key in params.parameters_for(name):
            assert key in declared


def test_project_has_pipeline_params_files():
    assert {p.name for p in PIPELINE_FILES} >= {"ci.yaml", "demo.yaml"}


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_declare_the_pipeline_folders(path):
    declared = notebook_parameters(path)
    assert {"figures_dir", "metrics_dir"} <= set(declared)
    for key, param in declared.items():
        assert param.help, f"{path.name}: parameter {key!r} has no comment saying what it is"
    assert set(INJECTED_KEYS) >= {"figures_dir", "metrics_dir"}
