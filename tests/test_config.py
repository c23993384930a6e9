"""One typed configuration, validated once at the edge (issue 18).

* A hypothesis property over every schema of the package, walking its fields (nested blocks, and the ``grpo:`` /
  ``lora:`` blocks from ``trl.GRPOConfig`` / ``peft.LoraConfig``'s own annotations): any value of the wrong type
  or out of range is a one-line ParamsError naming the file and that key path. The wrong values come from this
  file's own reading of each annotation (which YAML kinds it takes, which bounds), not from the validator.
* ``verif-nb train``, ``verify`` and ``run`` print that one line and exit 2 (subprocesses, a few drawn cases each).
* The typed object travels: one notebook-03 run validates its TrainParams once (main before this change: 3 times,
  the verifier block 8 times, and params.yaml re-read after it was written), counted here.
* Each notebook's parameters cell declares exactly its schema's fields, with its defaults and help.

Draws are fresh locally and derandomized under CI (env CI), as in tests/test_properties.py.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import subprocess
import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verif_nb.settings as config_settings
from verif_nb.errors import ParamsError
from verif_nb.evaluation._generate import SamplingConfig
from verif_nb.judge import JudgeConfig
from verif_nb.pipeline import notebook_parameters
from verif_nb.pipeline._params import PipelineFile
from verif_nb.pipeline.notebooks import NOTEBOOK_PARAMS
from verif_nb.sandbox import SandboxSettings
from verif_nb.settings import Settings, foreign_annotations
from verif_nb.train.params import DataParams, ModelParams, TrainParams, load_params
from verif_nb.verifier import Verifier, VerifierConfig

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
CI = bool(os.environ.get("CI"))
PROPERTY = settings(
    max_examples=600, deadline=None, database=None, derandomize=CI, suppress_health_check=list(HealthCheck)
)
FEW = settings(max_examples=4, deadline=None, database=None, derandomize=CI, suppress_health_check=list(HealthCheck))

SCHEMAS: list[type[Settings]] = [
    TrainParams,
    ModelParams,
    DataParams,
    VerifierConfig,
    JudgeConfig,
    SandboxSettings,
    SamplingConfig,
    PipelineFile,
    *NOTEBOOK_PARAMS.values(),
]


def all_settings_classes() -> set[type]:
    found, todo = set(), [Settings]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    # classes of the package's modules (a doctest's example class lives in the doctest's namespace, not the module's)
    return {
        c
        for c in found
        if c.__module__.startswith("verif_nb.")
        and dataclasses.is_dataclass(c)
        and getattr(sys.modules.get(c.__module__), c.__name__, None) is c
    }


def test_every_config_of_the_package_is_walked_by_the_property():
    assert all_settings_classes() <= set(SCHEMAS), all_settings_classes() - set(SCHEMAS)


# ---- this file's reading of an annotation: which YAML values it takes ----------------------------------------


@dataclasses.dataclass(frozen=True)
class Accepts:
    """What one annotation accepts, read independently of the validator: YAML kinds, literal values, bounds."""

    kinds: frozenset[str]  # "null", "bool", "int", "float", "str", "list", "dict"; "any" for anything
    literals: tuple[Any, ...] = ()  # exact values accepted besides the kinds (Literal / Enum members)
    bounds: tuple[tuple[str, float], ...] = ()  # ("ge", 1), ("lt", 1), ... of the numeric kinds


def accepts(annotation: Any) -> Accepts:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        inner = accepts(args[0])
        bounds = []
        for item in annotation.__metadata__:
            for c in getattr(item, "metadata", [item]):
                bounds += [(n, getattr(c, n)) for n in ("ge", "gt", "le", "lt") if getattr(c, n, None) is not None]
        return dataclasses.replace(inner, bounds=tuple(bounds))
    if origin in (Union, types.UnionType):
        parts = [accepts(a) for a in args]
        kinds = frozenset().union(*(p.kinds for p in parts))
        bounded = [p.bounds for p in parts if p.bounds]
        return Accepts(kinds, tuple(v for p in parts for v in p.literals), bounded[0] if bounded else ())
    if origin is Literal:
        return Accepts(frozenset(), args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return Accepts(frozenset(), tuple(m.value for m in annotation))
    simple = {type(None): "null", bool: "bool", int: "int", float: "float", str: "str", dict: "dict", Path: "path"}
    if annotation in simple:
        return Accepts(frozenset({simple[annotation]}))
    if origin is dict:
        return Accepts(frozenset({"dict"}))
    if origin in (list, tuple) or annotation in (list, tuple):
        return Accepts(frozenset({"list"}))
    if annotation is Any:
        return Accepts(frozenset({"any"}))
    if isinstance(annotation, type) and issubclass(annotation, Settings):
        return Accepts(frozenset({"dict"}))  # a nested block: its own fields are walked separately
    if isinstance(annotation, type):
        return Accepts(frozenset({"dict"}))  # another library's class: a mapping of its fields
    return Accepts(frozenset({"any"}))


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}[type(value)]


SAMPLES: dict[str, st.SearchStrategy] = {
    "null": st.none(),
    "bool": st.booleans(),
    "int": st.integers(-(10**6), 10**6),
    "float": st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: not x.is_integer()),
    "str": st.one_of(st.text(max_size=12), st.sampled_from(["no", "yes", "two", "fast", "1e-6", "lots", ""])),
    "list": st.lists(st.integers(0, 3), max_size=3),
    "dict": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
}


def right_kinds(acc: Accepts) -> set[str]:
    return set(acc.kinds) | ({"int"} if "float" in acc.kinds else set())  # an integer is a number


def wrong_kinds(acc: Accepts) -> list[str]:
    return [k for k in SAMPLES if k not in right_kinds(acc)]


def out_of_range(acc: Accepts) -> list[Any]:
    values: list[Any] = []
    integral = "float" not in acc.kinds
    for name, bound in acc.bounds:
        step = 1 if integral else 0.5
        values.append({"ge": bound - step, "gt": bound, "le": bound + step, "lt": bound}[name])
    if "float" in acc.kinds:
        values += [math.nan, math.inf]  # not a number a config means
    return values


def bad_values(annotation: Any) -> st.SearchStrategy | None:
    acc = accepts(annotation)
    if "any" in acc.kinds:
        return None
    options = [SAMPLES[k] for k in wrong_kinds(acc)]
    if acc.literals and "str" not in acc.kinds:
        options.append(st.text(max_size=10).filter(lambda s: s not in acc.literals))
    ranges = out_of_range(acc)
    if ranges:
        options.append(st.sampled_from(ranges))
    if acc.kinds == {"list"} or acc.kinds == {"list", "null"}:
        item = typing.get_args(_list_member(annotation))
        if item and accepts(item[0]).kinds == {"str"} and not accepts(item[0]).literals:
            options.append(st.lists(st.integers(), min_size=1, max_size=2))  # wrong items
        elif item and accepts(item[0]).literals:
            options.append(st.lists(st.sampled_from(["bogus", "x"]), min_size=1, max_size=2))

    def is_bad(value: Any) -> bool:  # a literal value drawn by chance, say, is not a bad one
        if value in ranges or (isinstance(value, list) and "list" in acc.kinds):  # out of range, or bad items
            return True
        return kind_of(value) not in right_kinds(acc) and value not in acc.literals

    return st.one_of(options).filter(is_bad) if options else None


def _list_member(annotation: Any) -> Any:
    for member in typing.get_args(config_settings._strip(annotation)) or (annotation,):
        member = config_settings._strip(member)
        if typing.get_origin(member) is list:
            return member
    return config_settings._strip(annotation)


# ---- the leaves of every schema ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Leaf:
    schema: type[Settings]
    path: tuple[str, ...]  # keys from the top of the document
    annotation: Any

    def document(self, value: Any) -> dict[str, Any]:
        doc: Any = value
        for key in reversed(self.path):
            doc = {key: doc}
        return doc

    @property
    def key(self) -> str:
        root = self.schema.section if self.schema.root is None else self.schema.root
        return ".".join(([root] if root else []) + list(self.path))


def leaves(schema: type[Settings], prefix: tuple[str, ...] = (), top: type[Settings] | None = None) -> list[Leaf]:
    top = top or schema
    out = []
    for name, annotation in schema.field_types().items():
        path = (*prefix, name)
        nested = config_settings._settings_type(annotation)
        out.append(Leaf(top, path, annotation))
        if nested is not None:
            out += leaves(nested, path, top)
    if schema is TrainParams:
        from peft import LoraConfig
        from trl import GRPOConfig

        from verif_nb.train.params import FOREIGN_RANGES

        # each library's own annotations, narrowed where the range table bounds a field
        grpo = {**foreign_annotations(GRPOConfig), **FOREIGN_RANGES["grpo"]}
        lora = {**foreign_annotations(LoraConfig), **FOREIGN_RANGES["lora"]}
        out += [Leaf(top, (*prefix, "grpo", k), a) for k, a in grpo.items() if k != "output_dir"]
        out += [Leaf(top, (*prefix, "lora", k), a) for k, a in lora.items()]
    return [leaf for leaf in out if bad_values(leaf.annotation) is not None]


LEAVES = [leaf for schema in SCHEMAS for leaf in leaves(schema)]


def test_the_walk_reaches_nested_and_foreign_fields():
    keys = {leaf.key for leaf in LEAVES}
    assert {"verifier.judge.concurrency", "data.holdout", "grpo.learning_rate", "grpo.save_strategy", "lora.r"} <= keys
    assert {"judge.timeout_s", "sandbox.memory_mb", "sampling.top_p", "notebooks", "03_grpo_training.max_steps"} <= keys
    assert len(LEAVES) > 250  # GRPOConfig and LoraConfig alone have ~230 fields


@PROPERTY
@given(case=st.sampled_from(LEAVES).flatmap(lambda leaf: bad_values(leaf.annotation).map(lambda v: (leaf, v))))
def test_a_wrong_value_anywhere_is_one_params_error_naming_its_key(case):
    leaf, value = case
    with pytest.raises(ParamsError) as caught:
        leaf.schema.from_dict(leaf.document(value), where="gen.yaml")
    err = caught.value
    text = str(err)
    assert text.startswith("gen.yaml: ") and "\n" not in text and len(text) < 4000, text
    problems = dict(err.problems)
    assert leaf.key in problems, (leaf.key, text)
    assert problems[leaf.key].startswith("expected "), text


# ---- the issue's own examples, and what must still load -----------------------------------------------------


@pytest.mark.parametrize(
    "doc, key",
    [
        ({"verifier": {"strip_think": "no"}}, "verifier.strip_think"),
        ({"verifier": {"sandbox_workers": "two"}}, "verifier.sandbox_workers"),
        ({"verifier": {"sandbox_timeout_s": "fast"}}, "verifier.sandbox_timeout_s"),
        ({"grpo": {"learning_rate": "fast"}}, "grpo.learning_rate"),
        ({"grpo": {"max_steps": "ten"}}, "grpo.max_steps"),
        ({"verifier": {"judge": {"concurrency": "lots"}}}, "verifier.judge.concurrency"),
        ({"data": {"holdout": "most"}}, "data.holdout"),
        # the ranges: workers >= 1, timeouts > 0, fractions in [0, 1), weights in [0, 1], limits >= 1, ...
        ({"verifier": {"sandbox_workers": 0}}, "verifier.sandbox_workers"),
        ({"verifier": {"sandbox_spares": 0}}, "verifier.sandbox_spares"),
        ({"verifier": {"sandbox_timeout_s": 0}}, "verifier.sandbox_timeout_s"),
        ({"verifier": {"sandbox_memory_mb": 16}}, "verifier.sandbox_memory_mb"),
        ({"verifier": {"rule_weight": 1.5}}, "verifier.rule_weight"),
        ({"verifier": {"judge": {"timeout_s": 0}}}, "verifier.judge.timeout_s"),
        ({"verifier": {"judge": {"max_tokens": 0}}}, "verifier.judge.max_tokens"),
        ({"verifier": {"judge": {"concurrency": 0}}}, "verifier.judge.concurrency"),
        ({"verifier": {"judge": {"max_retries": -1}}}, "verifier.judge.max_retries"),
        ({"verifier": {"judge": {"backoff_s": -0.5}}}, "verifier.judge.backoff_s"),
        ({"verifier": {"judge": {"temperature": -1}}}, "verifier.judge.temperature"),
        ({"data": {"holdout": 1.0}}, "data.holdout"),
        ({"data": {"holdout": -0.1}}, "data.holdout"),
        ({"data": {"limit": 0}}, "data.limit"),
        ({"data": {"max_prompt_tokens": 0}}, "data.max_prompt_tokens"),
        ({"grpo": {"save_strategy": 3}}, "grpo.save_strategy"),
        ({"lora": {"r": "sixteen"}}, "lora.r"),
        # the foreign blocks' ranges (an outside review: these passed and crashed later) and the upper bounds
        ({"lora": {"r": -1}}, "lora.r"),
        ({"grpo": {"learning_rate": -1.0}}, "grpo.learning_rate"),
        ({"grpo": {"num_generations": 0}}, "grpo.num_generations"),
        ({"verifier": {"sandbox_workers": 100000}}, "verifier.sandbox_workers"),
        ({"verifier": {"judge": {"concurrency": 100000}}}, "verifier.judge.concurrency"),
    ],
)
def test_issue_examples_fail_by_type_before_anything_runs(tmp_path, doc, key):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert str(caught.value).startswith(f"{path}: {key}: expected "), str(caught.value)


def test_yaml_surprises_get_a_pointer():
    with pytest.raises(ParamsError, match="write 1.0e-6, not 1e-6"):
        load_params(yaml.safe_load("grpo: {learning_rate: 1e-6}"))
    with pytest.raises(ParamsError, match="write true or false, unquoted"):
        VerifierConfig.from_dict({"strip_think": "yes"})


def test_enum_typed_grpo_fields_take_their_values():
    p = load_params(
        {"grpo": {"lr_scheduler_type": "cosine", "save_strategy": "no", "optim": "adamw_torch", "report_to": "none"}}
    )
    assert p.grpo["save_strategy"] == "no" and p.grpo["lr_scheduler_type"] == "cosine"
    with pytest.raises(ParamsError, match="lora.bias: expected one of 'none', 'all', 'lora_only'"):
        load_params({"lora": {"bias": "some"}})
    with pytest.raises(ParamsError, match="did you mean 'learning_rate'"):
        load_params({"grpo": {"learning_rte": 1e-6}})


TRAIN_PRESETS = sorted(p for p in (ROOT / "params").glob("*.yaml") if "notebooks" not in yaml.safe_load(p.read_text()))


@pytest.mark.parametrize("path", TRAIN_PRESETS, ids=lambda p: p.name)
def test_valid_presets_load_to_the_values_they_write(path):
    """Strict checks change no valid value: every value a preset writes comes back equal and of the same type."""
    raw = yaml.safe_load(path.read_text())
    loaded = load_params(path).to_dict()

    def same(written: Any, got: Any, where: str) -> None:
        if isinstance(written, dict):
            for key, value in written.items():
                same(value, got[key], f"{where}.{key}")
        elif where.endswith("judge.base_url") and isinstance(written, list):
            assert got == ",".join(written), where  # several servers are kept as one comma-separated string
        else:
            assert got == written and type(got) is type(written), (where, written, got)

    same(raw, loaded, path.name)


def test_a_config_object_is_passed_on_without_being_checked_again():
    config = VerifierConfig(mode="rule", sandbox_workers=1)
    params = load_params({"verifier": {"mode": "rule"}})
    before = dict(config_settings.VALIDATIONS)
    assert Verifier(config).config is config
    assert load_params(params) is params
    assert VerifierConfig(judge=JudgeConfig(model="m")).judge.model == "m"  # the judge object is not re-checked
    after = config_settings.VALIDATIONS
    assert after["TrainParams"] == before.get("TrainParams", 0)
    assert (
        after["JudgeConfig"] == before.get("JudgeConfig", 0) + 1
        and after["VerifierConfig"] == before.get("VerifierConfig", 0) + 1
    )


# ---- the notebooks' parameters cells and their schemas ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NOTEBOOK_PARAMS))
def test_a_notebook_declares_exactly_its_schema(name):
    schema = NOTEBOOK_PARAMS[name]
    cell = notebook_parameters(ROOT / "notebooks" / f"{name}.ipynb")
    fields = dataclasses.fields(schema)
    defaults = schema()
    assert list(cell) == [f.name for f in fields]
    for f in fields:
        declared = cell[f.name]
        value = getattr(defaults, f.name)
        assert declared.default == value and type(declared.default) is type(value), f.name
        assert declared.help == f.metadata["help"], f.name


def test_every_notebook_has_a_schema():
    assert sorted(NOTEBOOK_PARAMS) == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_the_pipeline_checks_notebook_values_and_the_training_preset(tmp_path):
    from verif_nb.pipeline import load_pipeline_params as load_pipeline

    bad_preset = tmp_path / "train.yaml"
    bad_preset.write_text(yaml.safe_dump({"grpo": {"max_steps": "ten"}}))
    doc = {
        "notebooks": ["02_verifier_ablation", "03_grpo_training"],
        "notebooks_dir": str(ROOT / "notebooks"),
        "overrides": {"02_verifier_ablation": {"modes": ["rule", "judge"]}},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ParamsError, match=r"overrides\.02_verifier_ablation\.modes: expected a list"):
        load_pipeline(path)
    doc["overrides"] = {"03_grpo_training": {"train_params": str(bad_preset)}}
    path.write_text(yaml.safe_dump(doc))
    expected = rf"train_params: {bad_preset}: grpo.max_steps: expected one of -1 or an integer >= 1"
    with pytest.raises(ParamsError, match=expected):
        load_pipeline(path)


# ---- the commands: one line, exit 2 --------------------------------------------------------------------------


def run_cli(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verif_nb.cli", *argv], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def assert_one_line_exit_2(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


TRAIN_LEAVES = [leaf for leaf in LEAVES if leaf.schema is TrainParams]


def train_cases() -> st.SearchStrategy:
    """Wrong values in a training params file; null for a whole block means "its defaults", so it is not one."""
    return (
        st.sampled_from(TRAIN_LEAVES)
        .flatmap(lambda leaf: bad_values(leaf.annotation).map(lambda v: (leaf, v)))
        .filter(lambda case: not (case[1] is None and len(case[0].path) == 1))
        .filter(yaml_safe)
    )


def yaml_safe(case: tuple[Leaf, Any]) -> bool:
    leaf, value = case
    return yaml.safe_load(yaml.safe_dump(leaf.document(value))) == leaf.document(value) or value != value


@pytest.mark.slow
@FEW
@given(case=train_cases())
def test_train_prints_one_line_and_exits_2(case):
    leaf, value = case
    folder = Path(tempfile.mkdtemp(prefix="verif-config-"))
    path = folder / "bad.yaml"
    path.write_text(yaml.safe_dump(leaf.document(value)))
    assert_one_line_exit_2(run_cli("train", str(path), "--out", str(folder / "out")), f"{path}: ", leaf.key)
    assert not (folder / "out").exists()


# (option, text that option refuses, the option's words in the message)
VERIFY_BAD = [
    ("--workers", "two", "expected an integer in [1, 64]"),
    ("--workers", "0", "expected an integer in [1, 64]"),
    ("--workers", "100000", "expected an integer in [1, 64]"),
    ("--timeout", "fast", "expected a number in (0, 3600]"),
    ("--timeout", "0", "expected a number in (0, 3600]"),
    ("--rule-weight", "1.5", "expected a number in [0, 1]"),
    ("--mode", "judge", "invalid choice"),
    ("--judge-concurrency", "0", "expected an integer in [1, 256]"),
    ("--judge-concurrency", "lots", "expected an integer in [1, 256]"),
    ("--judge-timeout", "-1", "expected a number > 0"),
    ("--judge-max-retries", "-1", "expected an integer >= 0"),
    ("--judge-temperature", "hot", "expected a number >= 0"),
    ("--judge-base-url", "ftp://x", "not an http(s) URL"),
]


@pytest.mark.slow
@FEW
@given(case=st.sampled_from(VERIFY_BAD))
def test_verify_prints_one_line_and_exits_2(case, tmp_path_factory):
    option, text, words = case
    folder = tmp_path_factory.mktemp("verify")
    (folder / "r.jsonl").write_text('{"id": "x", "response": "y"}\n')
    mode = [] if option == "--mode" else ["--mode", "hybrid"]
    proc = run_cli(
        "verify", "--data", str(SAMPLE), "--responses", str(folder / "r.jsonl"), "--out", str(folder / "o.jsonl"),
        *mode, option, text,
    )  # fmt: skip
    assert_one_line_exit_2(proc, option, words)
    assert not (folder / "o.jsonl").exists()


NOTEBOOK_LEAVES = [leaf for leaf in LEAVES if leaf.schema in NOTEBOOK_PARAMS.values() and leaf.path[-1] not in (
    "figures_dir", "metrics_dir", "run_dir", "interactive")]  # fmt: skip


@pytest.mark.slow
@FEW
@given(
    case=st.one_of(
        st.sampled_from(NOTEBOOK_LEAVES).flatmap(lambda leaf: bad_values(leaf.annotation).map(lambda v: (leaf, v))),
        train_cases(),
    ).filter(yaml_safe)
)
def test_run_prints_one_line_and_exits_2(case):
    leaf, value = case
    folder = Path(tempfile.mkdtemp(prefix="verif-config-"))
    path = folder / "p.yaml"
    if leaf.schema is TrainParams:  # a bad training preset, named by notebook 03
        preset = folder / "train.yaml"
        preset.write_text(yaml.safe_dump(leaf.document(value)))
        name, overrides, fragments = "03_grpo_training", {"train_params": str(preset)}, (f"{preset}: ", leaf.key)
    else:
        name = leaf.schema.section
        overrides, fragments = {leaf.path[-1]: value}, (f"overrides.{name}.{leaf.path[-1]}: expected ",)
    doc = {"notebooks": [name], "notebooks_dir": str(ROOT / "notebooks"), "overrides": {name: overrides}}
    path.write_text(yaml.safe_dump(doc))
    proc = run_cli("run", str(path), "--outputs-root", str(folder / "outputs"), "--no-progress")
    assert_one_line_exit_2(proc, f"{path}: ", *fragments)
    assert not (folder / "outputs").exists()


def test_check_params_prints_one_line_and_exits_2(tmp_path, capsys):
    from verif_nb.cli import main

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"notebooks": "01_dataset_inspection"}))
    assert main(["check-params", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: notebooks: expected a list of strings" in err


# ---- validated once: one notebook-03 run, counted ------------------------------------------------------------


@pytest.mark.slow
def test_one_notebook_03_run_validates_its_training_params_once(tmp_path, monkeypatch):
    """Run notebook 03's code cells in this process (papermill's kernel would hide the counters) with the CI
    preset, the held-out comparison on, and count: TrainParams validations, VerifierConfig validations (the
    training verifier and the held-out scorer's rule-mode one), params files read and params.yaml written.
    On main before this change the same run counted 3 TrainParams, 8 VerifierConfig and 1 re-read of the
    params.yaml the run had just written."""
    import nbformat

    import verif_nb.files
    import verif_nb.train.params as train_params

    reads: list[str] = []
    real_read = train_params.read_yaml
    monkeypatch.setattr(
        train_params, "read_yaml", lambda path, *a, **k: reads.append(Path(path).name) or real_read(path, *a, **k)
    )
    monkeypatch.setattr(
        "verif_nb.train.run.read_yaml", lambda *a, **k: reads.append("run") or verif_nb.files.read_yaml(*a, **k)
    )
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    config_settings.VALIDATIONS.clear()
    nb = nbformat.read(ROOT / "notebooks" / "03_grpo_training.ipynb", as_version=4)
    namespace: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, "03_grpo_training", "exec"), namespace)
        if "parameters" in cell.metadata.get("tags", []):
            namespace.update(train_params="params/train_ci.yaml", heldout_records=2, eval_prompts=0, claims_items=0,
                             eval_max_new_tokens=4, run_dir=str(tmp_path), figures_dir=str(tmp_path / "figures"),
                             metrics_dir=str(tmp_path / "metrics"))  # fmt: skip
    counts = dict(config_settings.VALIDATIONS)
    assert namespace["heldout"] is not None and len(namespace["result"].heldout) == namespace["result"].heldout_records
    assert counts["TrainParams"] == 1 and counts["ModelParams"] == 1 and counts["DataParams"] == 1, counts
    assert counts["VerifierConfig"] == 2, counts
    assert counts["GrpoTrainingParams"] == 1, counts
    assert reads == ["train_ci.yaml"], reads  # the preset once; the run's params.yaml is written, never re-read
    written = yaml.safe_load((tmp_path / "training" / "params.yaml").read_text())
    assert written == namespace["train"].to_dict()
    print(json.dumps(counts))
