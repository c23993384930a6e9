"""The configuration edge, where an outside review found holes (findings/repro/config): each was a value that
passed ``check-params`` and then crashed or did something else than written.

1. ``grpo:`` / ``lora:`` values out of range (``lora.r: -1``, ``learning_rate: -1.0``, ``num_generations: 0``) are
   refused when the file is read, from the one table of ranges (``FOREIGN_RANGES``); the hypothesis property of
   tests/test_config.py draws out-of-range values for every entry, here each reviewer's case and the table's own
   soundness (the libraries' defaults pass it, in-range draws pass it).
2. A key written twice in any YAML verif-nb reads as configuration is refused with file, line and key path:
   generated documents with one key repeated somewhere, and the three real consumers (params, pipeline, template).
3. An empty params file (or one that is not a mapping) is refused, not run with every default.
4. Counts that start processes or requests have an upper bound (``--workers 100000`` forked until a timeout).
5. The ``--judge-*`` options are checked in every ``verify`` mode, rule included.
(6., ``judge serve`` without the extra names ``verif-nb[judge]``: tests/test_judge_server.py.)

Draws are fresh locally and derandomized under CI (env CI), as in tests/test_properties.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verif_nb.errors import JudgeError, ParamsError
from verif_nb.train.params import load_params

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
CI = bool(os.environ.get("CI"))
PROPERTY = settings(
    max_examples=300, deadline=None, database=None, derandomize=CI, suppress_health_check=list(HealthCheck)
)


def write(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


# ---- 1. ranges of the foreign blocks ---------------------------------------------------------------------------

# The reviewer's three, and the other fields the task names: each crashed later or trained nonsense.
OUT_OF_RANGE = [
    ({"lora": {"r": -1}}, "lora.r"),  # ran notebooks 01-02, then peft refused it in 03
    ({"lora": {"r": 0}}, "lora.r"),
    ({"lora": {"lora_alpha": 0}}, "lora.lora_alpha"),
    ({"lora": {"lora_dropout": 1.0}}, "lora.lora_dropout"),
    ({"lora": {"lora_dropout": -0.1}}, "lora.lora_dropout"),
    ({"grpo": {"learning_rate": -1.0}}, "grpo.learning_rate"),  # torch: Invalid learning rate
    ({"grpo": {"num_generations": 0}}, "grpo.num_generations"),  # ZeroDivisionError
    ({"grpo": {"num_generations": 1}}, "grpo.num_generations"),  # no group to compare within
    ({"grpo": {"per_device_train_batch_size": 0}}, "grpo.per_device_train_batch_size"),
    ({"grpo": {"per_device_eval_batch_size": 0}}, "grpo.per_device_eval_batch_size"),
    ({"grpo": {"gradient_accumulation_steps": 0}}, "grpo.gradient_accumulation_steps"),
    ({"grpo": {"max_steps": 0}}, "grpo.max_steps"),
    ({"grpo": {"max_steps": -2}}, "grpo.max_steps"),
    ({"grpo": {"num_train_epochs": 0}}, "grpo.num_train_epochs"),
    ({"grpo": {"max_completion_length": 0}}, "grpo.max_completion_length"),
    ({"grpo": {"beta": -0.001}}, "grpo.beta"),
    ({"grpo": {"temperature": 0}}, "grpo.temperature"),
    ({"grpo": {"top_p": 0}}, "grpo.top_p"),
    ({"grpo": {"num_iterations": 0}}, "grpo.num_iterations"),
]


@pytest.mark.parametrize("doc, key", OUT_OF_RANGE, ids=lambda x: x if isinstance(x, str) else "")
def test_an_out_of_range_foreign_value_is_one_params_error_before_anything_runs(tmp_path, doc, key):
    path = write(tmp_path / "t.yaml", doc)
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: {key}: expected ") and "\n" not in text, text
    assert caught.value.key == key


def test_check_params_refuses_the_reviewers_preset_through_the_pipeline(tmp_path):
    """The reviewer ran `check-params` on a pipeline file whose notebook 03 named a preset with lora.r: -1."""
    from verif_nb.pipeline import load_pipeline_params

    preset = write(tmp_path / "train.yaml", {"run_name": "ci", "lora": {"r": -1}, "grpo": {"max_steps": 2}})
    pipeline = write(
        tmp_path / "p.yaml",
        {
            "notebooks": ["03_grpo_training"],
            "notebooks_dir": str(ROOT / "notebooks"),
            "overrides": {"03_grpo_training": {"train_params": str(preset)}},
        },
    )
    with pytest.raises(ParamsError, match=rf"train_params: {preset}: lora\.r: expected an integer >= 1, got -1"):
        load_pipeline_params(pipeline)


def _foreign(block: str) -> type:
    from peft import LoraConfig
    from trl import GRPOConfig

    return {"grpo": GRPOConfig, "lora": LoraConfig}[block]


def test_the_range_table_narrows_real_fields_and_takes_the_libraries_defaults():
    """Every entry is a field of its library's class, of the same kinds, and the library's own default is in range
    (a table that refused a default would refuse a preset that writes it)."""
    import test_config as tc

    from verif_nb.settings import foreign_annotations
    from verif_nb.train.params import FOREIGN_RANGES

    for block, table in FOREIGN_RANGES.items():
        target = _foreign(block)
        theirs = foreign_annotations(target)
        defaults = {f.name: f.default for f in dataclasses.fields(target)}
        for name, ours in table.items():
            assert name in theirs, (block, name)
            assert tc.right_kinds(tc.accepts(ours)) <= tc.right_kinds(tc.accepts(theirs[name])), (block, name)
        assert load_params({block: {name: defaults[name] for name in table}}).to_dict()[block] == {
            name: defaults[name] for name in table
        }


def in_range(annotation: Any) -> st.SearchStrategy:
    """Values an entry of the table accepts, read from its bounds (this file's reading, not the validator's)."""
    import test_config as tc

    acc = tc.accepts(annotation)
    bounds = dict(acc.bounds)
    low = bounds.get("ge", bounds.get("gt", -(10**6)))
    high = bounds.get("le", bounds.get("lt", 10**6))
    options = [st.sampled_from(acc.literals)] if acc.literals else []
    if "float" in acc.kinds:
        floats = st.floats(low, high, allow_nan=False, exclude_min="gt" in bounds, exclude_max="lt" in bounds)
        options.append(floats)
    if "int" in acc.kinds or "float" in acc.kinds:
        ints = st.integers(int(low) + ("gt" in bounds and low == int(low)), int(high) - ("lt" in bounds))
        options.append(ints)
    if "null" in acc.kinds:
        options.append(st.none())
    return st.one_of(options)


def _range_entries() -> list[tuple[str, str, Any]]:
    from verif_nb.train.params import FOREIGN_RANGES

    return [(block, name, ann) for block, table in FOREIGN_RANGES.items() for name, ann in table.items()]


@PROPERTY
@given(data=st.data())
def test_an_in_range_value_of_any_table_entry_is_kept_as_written(data):
    block, name, annotation = data.draw(st.sampled_from(_range_entries()))
    value = data.draw(in_range(annotation))
    got = load_params({block: {name: value}}).to_dict()[block][name]
    assert got == value and type(got) is type(value)


# ---- 2. a key written twice ------------------------------------------------------------------------------------

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=6).filter(
    lambda k: k not in {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}  # YAML 1.1 would read a bool
)
TREES = st.recursive(
    st.integers(-100, 100),
    lambda inner: st.dictionaries(KEYS, inner, min_size=1, max_size=4),
    max_leaves=12,
).filter(lambda t: isinstance(t, dict))


def render(tree: dict[str, Any], indent: int = 0, path: tuple[str, ...] = ()) -> list[tuple[str, tuple[str, ...]]]:
    """Block-style YAML lines, each with the key path it writes."""
    lines = []
    for key, value in tree.items():
        if isinstance(value, dict):
            lines.append((" " * indent + f"{key}:", (*path, key)))
            lines += render(value, indent + 2, (*path, key))
        else:
            lines.append((" " * indent + f"{key}: {value}", (*path, key)))
    return lines


def mappings(tree: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    for key, value in tree.items():
        if isinstance(value, dict):
            out += mappings(value, (*path, key))
    return out


@PROPERTY
@given(tree=TREES, data=st.data())
def test_a_key_written_twice_anywhere_is_refused_with_its_lines_and_key_path(tree, data):
    from verif_nb.files import load_yaml_text

    lines = render(tree)
    assert load_yaml_text("\n".join(t for t, _ in lines), "g.yaml") == tree  # the check refuses no valid file
    where = data.draw(st.sampled_from(mappings(tree)))
    inside = [i for i, (_, p) in enumerate(lines) if p[: len(where)] == where and len(p) > len(where)]
    siblings = [i for i in inside if len(lines[i][1]) == len(where) + 1]
    first = data.draw(st.sampled_from(siblings))
    key = lines[first][1][-1]
    at = data.draw(st.sampled_from([i for i in inside if i > first] + [inside[-1] + 1]))
    # the same key again, at the same depth, after its first writing, before the mapping ends
    at = next((i for i in inside if i >= at and len(lines[i][1]) == len(where) + 1), inside[-1] + 1)
    twice = [*lines[:at], (" " * (2 * len(where)) + f"{key}: 7", (*where, key)), *lines[at:]]
    with pytest.raises(ParamsError) as caught:
        load_yaml_text("\n".join(t for t, _ in twice), "g.yaml")
    text = str(caught.value)
    assert text == (
        f"g.yaml: {'.'.join((*where, key))}: duplicate key at line {at + 1} (first at line {first + 1}); "
        "YAML would keep only the last value: write each key once"
    ), (text, twice)


def test_the_reviewers_duplicates_are_refused_by_train_params(tmp_path):
    preset = "run_name: ci\ngrpo:\n  use_cpu: true\n  max_steps: 2\n  max_steps: 5000\n"
    with pytest.raises(ParamsError, match=r"grpo\.max_steps: duplicate key at line 5 \(first at line 4\)"):
        load_params(write(tmp_path / "t.yaml", preset))
    block = "run_name: ci\ngrpo:\n  max_steps: 2\nverifier:\n  mode: rule\ngrpo:\n  max_steps: 7\n"
    with pytest.raises(ParamsError, match=r"t2\.yaml: grpo: duplicate key at line 6 \(first at line 2\)"):
        load_params(write(tmp_path / "t2.yaml", block))


def test_two_merge_keys_in_one_mapping_are_a_duplicate_too(tmp_path):
    """A second outside reviewer: `<<: {max_steps: 2}` then `<<: {max_steps: 5000}` trained 5000 steps silently."""
    preset = "run_name: ci\ngrpo:\n  use_cpu: true\n  <<: {max_steps: 2}\n  <<: {max_steps: 5000}\n"
    with pytest.raises(ParamsError, match=r"grpo\.<<: duplicate merge key at line 5 \(first at line 4\)"):
        load_params(write(tmp_path / "t.yaml", preset))
    one = "run_name: ci\ngrpo:\n  use_cpu: true\n  <<: [{max_steps: 2}, {beta: 0.0}]\n"  # one `<<`, a list: fine
    assert load_params(write(tmp_path / "u.yaml", one)).grpo["max_steps"] == 2


def test_a_pipeline_file_with_a_key_twice_is_refused(tmp_path):
    from verif_nb.pipeline import load_pipeline_params

    text = (
        f"notebooks: [04_results_report]\nnotebooks_dir: {ROOT / 'notebooks'}\n"
        "overrides:\n  04_results_report:\n    compare_runs: 3\n    compare_runs: 0\n"
    )
    with pytest.raises(ParamsError, match=r"overrides\.04_results_report\.compare_runs: duplicate key at line 6"):
        load_pipeline_params(write(tmp_path / "p.yaml", text))


def test_a_judge_template_with_a_key_twice_is_refused(tmp_path):
    from verif_nb.judge.templates import load_template_file

    text = (ROOT / "verif_nb" / "judge" / "templates" / "verif_judge_en.yaml").read_text()
    assert load_template_file(write(tmp_path / "ok.yaml", text), register=False).parser == "yes_no"
    with pytest.raises(JudgeError, match=r"bad\.yaml: parser: duplicate key"):
        load_template_file(write(tmp_path / "bad.yaml", text + "parser: score\n"), register=False)


# ---- 3. an empty params file -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "null\n", "~\n", "---\n"])
def test_an_empty_params_file_is_refused_naming_the_file(tmp_path, text):
    path = write(tmp_path / "t.yaml", text)
    with pytest.raises(ParamsError, match=rf"^{path}: the params file is empty"):
        load_params(path)


@pytest.mark.parametrize("text", ["[1, 2]\n", "just text\n", "3\n"])
def test_a_params_file_that_is_not_a_mapping_is_refused_naming_the_file(tmp_path, text):
    path = write(tmp_path / "t.yaml", text)
    with pytest.raises(ParamsError, match=rf"^{path}: a params file is a mapping of run_name, model"):
        load_params(path)


def test_check_params_refuses_an_empty_training_preset(tmp_path):
    from verif_nb.pipeline import load_pipeline_params

    preset = write(tmp_path / "train.yaml", "# to be written\n")
    pipeline = write(
        tmp_path / "p.yaml",
        {
            "notebooks": ["03_grpo_training"],
            "notebooks_dir": str(ROOT / "notebooks"),
            "overrides": {"03_grpo_training": {"train_params": str(preset)}},
        },
    )
    with pytest.raises(ParamsError, match=rf"train_params: {preset}: the params file is empty"):
        load_pipeline_params(pipeline)


def test_check_params_checks_a_training_preset_itself(tmp_path, capsys):
    """`check-params params/train_*.yaml` once said "notebooks: must be a non-empty list" (it read every file as a
    pipeline file); a training preset is checked as `verif-nb train` reads it, nothing started."""
    from verif_nb.cli import main

    for preset in sorted((ROOT / "params").glob("train_*.yaml")):
        assert main(["check-params", str(preset)]) == 0, capsys.readouterr().err
        assert json.loads(capsys.readouterr().out)["training"]["grpo"]
    bad = write(tmp_path / "t.yaml", "model:\n  source: tiny\nlora:\n  r: -1\n")
    assert main(["check-params", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{bad}: lora.r: expected an integer >= 1, got -1 (int)" in err


# ---- 4 and 5. counts bounded; --judge-* checked in every mode --------------------------------------------------


def verify(tmp_path: Path, capsys, *options: str) -> tuple[int, str]:
    from verif_nb.cli import main

    first = json.loads(SAMPLE.read_text().splitlines()[0])["id"]
    (tmp_path / "r.jsonl").write_text(json.dumps({"id": first, "response": "y"}) + "\n")
    argv = ["verify", "--data", str(SAMPLE), "--responses", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "o")]
    code = main([*argv, *options])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "options, words",
    [
        # 100000 workers, before: forked until the timeout (load 29 on 2 cores)
        (("--workers", "65"), "--workers: expected an integer in [1, 64], got 65 (int)"),
        (("--workers", "100000"), "--workers: expected an integer in [1, 64], got 100000 (int)"),
        (("--mode", "hybrid", "--judge-concurrency", "257"), "--judge-concurrency: expected an integer in [1, 256]"),
    ],
)
def test_count_options_have_an_upper_bound(tmp_path, capsys, options, words):
    responses = tmp_path / "r.jsonl"
    responses.write_text('{"id": "no-such-record", "response": "y"}\n')  # never reaches the sandbox, bound or not
    from verif_nb.cli import main

    argv = ["verify", "--data", str(SAMPLE), "--responses", str(responses), "--out", str(tmp_path / "o")]
    assert main([*argv, *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "doc, key, words",
    [
        ({"verifier": {"sandbox_workers": 100000}}, "verifier.sandbox_workers", "an integer in [1, 64]"),
        ({"verifier": {"judge": {"concurrency": 100000}}}, "verifier.judge.concurrency", "an integer in [1, 256]"),
    ],
)
def test_params_counts_have_the_same_upper_bound(tmp_path, doc, key, words):
    path = write(tmp_path / "t.yaml", doc)
    with pytest.raises(ParamsError, match=re.escape(f"{path}: {key}: expected {words}")):
        load_params(path)


def test_sandbox_and_notebook_counts_are_bounded():
    from verif_nb.pipeline.notebooks import NOTEBOOK_PARAMS
    from verif_nb.sandbox import SandboxSettings

    for field, value in (("workers", 65), ("parallel", 65), ("host_concurrency", 257)):
        with pytest.raises(ParamsError, match=rf"sandbox\.{field}: expected an integer in \[1, "):
            SandboxSettings.from_dict({field: value})
    notebook = NOTEBOOK_PARAMS["02_verifier_ablation"]
    for field, value in (("judge_concurrency", 10**5), ("embedded_threads", 10**5)):
        if field in {f.name for f in dataclasses.fields(notebook)}:
            with pytest.raises(ParamsError, match=rf"{field}: expected an integer in \[1, "):
                notebook.from_dict({field: value})


def test_judge_serve_threads_are_bounded(capsys):
    from verif_nb.judge.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["judge", "serve", "--threads", "4"]).threads == 4
    for text in ("0", "100000", "two"):
        with pytest.raises(SystemExit):
            parser.parse_args(["judge", "serve", "--threads", text])
        assert "--threads: expected an integer in [1, 64]" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, text, words",
    [
        ("--judge-concurrency", "0", "expected an integer in [1, 256], got 0"),
        ("--judge-temperature", "nan", "expected a number >= 0, got nan"),
        ("--judge-timeout", "0", "expected a number > 0"),
        ("--judge-max-retries", "-1", "expected an integer >= 0"),
        ("--judge-top-logprobs", "21", "expected an integer in [0, 20]"),
    ],
)
def test_judge_options_are_checked_in_rule_mode_too(tmp_path, capsys, option, text, words):
    """Rule mode does not use the judge, but a wrong --judge-* value is still an error where it was written
    (main before this change: verified and exited 0)."""
    code, err = verify(tmp_path, capsys, "--mode", "rule", option, text)
    assert code == 2 and err.count("\n") == 1 and f"{option}: {words}" in err, (code, err)
    assert not (tmp_path / "o").exists()


def test_rule_mode_with_valid_judge_options_still_verifies(tmp_path, capsys):
    code, err = verify(tmp_path, capsys, "--mode", "rule", "--judge-concurrency", "8", "--workers", "1")
    assert code == 0, err
    assert len((tmp_path / "o").read_text().splitlines()) == 1
