"""The notebooks: stored clean, and executed end to end with params/ci.yaml (slow), outputs checked.

The full CI parameter file runs through ``verif-nb run``; the verifier-ablation notebook runs once more
with every mode against a local stub judge (no model needed), and one report is rendered in headless
Chromium to check that it shows its figures.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from verif_nb.pipeline import notebook_parameters, run_pipeline
from verif_nb.report import read_run_metrics

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_dataset_inspection", "02_verifier_ablation", "03_grpo_training", "04_results_report"]


def test_the_four_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean(path):
    from verif_nb.lab import clean_notebook

    raw = path.read_text(encoding="utf-8")
    # stored exactly as the lab's pre-save hook saves it, so running and saving in `make lab` changes nothing
    assert nbformat.writes(nbformat.from_dict(clean_notebook(json.loads(raw)))) + "\n" == raw
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "verif-nb"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"cell {i + 1} has outputs: clear them before committing"
        assert cell.execution_count is None, f"cell {i + 1} has an execution count"
        # logic lives in verif_nb: a function or class defined in a notebook belongs in the package
        tree = ast.parse(cell.source)
        defined = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defined, f"cell {i + 1} defines {defined}; move it into verif_nb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_flat_typed_and_commented(path):
    params = notebook_parameters(path)
    assert {"figures_dir", "metrics_dir"} <= set(params)
    for name, p in params.items():
        assert p.help, f"{name} has no comment"
        assert p.types, f"{name} has no type (default None without an annotation)"
        assert not isinstance(p.default, dict), f"{name}: parameters are flat"


# --- end to end --------------------------------------------------------------------------------------------


def _png_svg(folder: Path) -> set[str]:
    pngs = {p.stem for p in folder.glob("*.png")}
    assert pngs == {p.stem for p in folder.glob("*.svg")}, f"{folder}: every figure as PNG and SVG"
    for png in folder.glob("*.png"):
        assert png.stat().st_size > 5_000, f"{png} looks empty"
    return pngs


@pytest.fixture(scope="module")
def ci_run(pipeline_ci_run):
    """``verif-nb run params/ci.yaml --single-file`` (tests/conftest.py: one run per session)."""
    return pipeline_ci_run


@pytest.mark.slow
def test_ci_run_completes_with_every_notebook(ci_run):
    manifest = json.loads((ci_run / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert [(e["name"], e["status"]) for e in manifest["notebooks"]] == [(n, "ok") for n in EXPECTED]
    assert all(e["duration_s"] > 0 for e in manifest["notebooks"])
    assert manifest["ids"]["03_grpo_training.policy_model"] == "tiny"
    index = (ci_run / "index.html").read_text()
    for name in EXPECTED:
        assert (ci_run / "notebooks" / f"{name}.ipynb").is_file()
        html = (ci_run / "html" / f"{name}.html").read_text()
        assert "data:image/png;base64" in html, f"{name}.html shows no figure"
        assert f"html/{name}.html" in index


@pytest.mark.slow
def test_ci_run_dataset_outputs(ci_run):
    from verif_nb.data import load_sample

    sample = load_sample()
    figures = _png_svg(ci_run / "figures" / "01_dataset_inspection")
    assert {
        "constraints_per_record",
        "hard_soft_split",
        "taxonomy",
        "constraint_groups",
        "prompt_lengths",
        "response_lengths",
        "rule_health",
    } <= figures
    m = read_run_metrics(ci_run)["01_dataset_inspection"]
    s = m["summary"]
    assert s["records"] == len(sample.records)
    assert s["constraints"] == s["rule_constraints"] + s["llm_constraints"] == sample.counts["constraints"]
    assert s["rule_functions"] == sum(1 for r in sample for c in r.rule_constraints if c.code)
    assert s["rule_functions_rejected"] == 0 and s["rule_check_errors"] == 0  # the sample's functions are healthy
    assert m["rule_health"]["checks"].sum() > 0
    assert m["constraint_groups"]["constraints"].sum() == s["constraints"]


@pytest.mark.slow
def test_ci_run_ablation_outputs(ci_run):
    figures = _png_svg(ci_run / "figures" / "02_verifier_ablation")
    assert {
        "accuracy_per_mode",
        "accuracy_by_taxonomy",
        "pairwise_accuracy",
        "reward_hacking",
        "cost_seconds",
    } <= figures
    m = read_run_metrics(ci_run)["02_verifier_ablation"]
    cm = m["constraint_metrics"]
    assert list(cm["mode"]) == ["rule"]
    # the sample's rule functions agree with its gold labels (hand-labelled): code is near exact on hard constraints
    assert cm["accuracy"].iloc[0] >= 0.9 and cm["coverage"].iloc[0] == 1.0
    assert 0 <= m["pairwise_accuracy"]["accuracy"].iloc[0] <= 1
    hacking = m["reward_hacking"]
    assert set(hacking["probe"]) >= {"empty", "echo_prompt", "judge_token_injection", "huge_padding"}
    assert hacking.loc[hacking.probe == "empty", "mean_reward"].iloc[0] < 1.0


@pytest.mark.slow
def test_ci_run_training_outputs(ci_run):
    figures = _png_svg(ci_run / "figures" / "03_grpo_training")
    assert {"reward_components", "completion_length", "ifeval_before_after"} <= figures
    m = read_run_metrics(ci_run)["03_grpo_training"]
    steps = m["train_steps"]
    assert list(steps["step"]) == [1, 2]
    assert steps["reward"].between(0, 1).all()
    assert m["summary"]["steps"] == 2
    table = m["ifeval_before_after"]
    assert list(table["model"]) == ["before", "after"] and table["prompt_strict"].between(0, 100).all()
    claims = m["claims"]
    assert list(claims["claim"]) == ["IF gain", "transfer to unseen constraints", "general ability unchanged"]
    assert claims.set_index("benchmark").loc["gsm8k", "subset"] == "gsm8k-200 (packaged): 3 of 200, seed 0"
    assert "claims" in figures
    assert (ci_run / "training" / "run_result.json").is_file()  # the training run lives inside the pipeline run


@pytest.mark.slow
def test_ci_run_folder_carries_no_path_of_this_machine(ci_run):
    """A zipped run folder is shareable: no file in it (text or the trainer's pickles) names where it ran."""
    machine = [str(ci_run.resolve()).encode(), str(ROOT).encode()]
    if str(Path.home()) not in ("/", ""):
        machine.append((str(Path.home()) + "/").encode())
    found = [
        str(path.relative_to(ci_run))
        for path in ci_run.rglob("*")
        if path.is_file() and path.suffix != ".safetensors" and any(m in path.read_bytes() for m in machine)
    ]
    assert found == []
    # written relative at the source: only what other programs printed (a library's warning naming its own file)
    # needed rewriting, and the manifest says which files that was
    manifest = json.loads((ci_run / "manifest.json").read_text())
    assert set(manifest["made_portable"]) <= {"notebooks/03_grpo_training.ipynb"}, manifest["made_portable"]


def _open_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image.verify()


def _open_html(path: Path) -> None:
    from html.parser import HTMLParser

    parser = HTMLParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()


def _open_torch(path: Path) -> None:
    import torch

    torch.load(path, weights_only=False)  # this run's own files: the trainer's state and arguments


def _open_safetensors(path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        assert list(f.keys())


def _open_jinja(path: Path) -> None:
    import jinja2

    jinja2.Environment().parse(path.read_text(encoding="utf-8"))


def _open_svg(path: Path) -> None:
    import xml.etree.ElementTree as ET

    assert ET.parse(path).getroot().tag.endswith("svg")


def _open_notebook(path: Path) -> None:
    nbformat.validate(nbformat.read(path, as_version=4))


# Each kind of file a run writes, and the program that reads it. A new kind of file fails the test below until
# it is given its consumer here.
CONSUMERS = {
    ".ipynb": _open_notebook,
    ".json": lambda p: json.loads(p.read_text(encoding="utf-8")),
    ".jsonl": lambda p: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()],
    ".csv": lambda p: __import__("pandas").read_csv(p),
    ".yaml": lambda p: yaml.safe_load(p.read_text(encoding="utf-8")),
    ".html": _open_html,
    ".png": _open_png,
    ".svg": _open_svg,
    ".md": lambda p: p.read_text(encoding="utf-8"),
    ".jinja": _open_jinja,
    ".safetensors": _open_safetensors,
    ".bin": _open_torch,
    ".pt": _open_torch,
    ".pth": _open_torch,
}


@pytest.mark.slow
def test_every_file_of_the_ci_run_opens_in_its_consumer(ci_run):
    failed, opened = {}, 0
    for path in sorted(p for p in ci_run.rglob("*") if p.is_file()):
        consumer = CONSUMERS.get(path.suffix)
        if consumer is None:
            failed[str(path.relative_to(ci_run))] = "no consumer known for this kind of file"
            continue
        try:
            consumer(path)
            opened += 1
        except Exception as err:
            failed[str(path.relative_to(ci_run))] = f"{type(err).__name__}: {err}"[:300]
    assert not failed, failed
    assert opened > 100
    # the trained model opens in the library that made it
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = ci_run / "training" / "final"
    assert AutoModelForCausalLM.from_pretrained(final).num_parameters() > 0
    assert AutoTokenizer.from_pretrained(final)("hello")["input_ids"]


@pytest.mark.slow
def test_ci_run_report_gathers_the_run(ci_run):
    figures = _png_svg(ci_run / "figures" / "04_results_report")
    assert {"notebook_durations", "verifier_scoreboard", "training_reward"} <= figures
    headline = read_run_metrics(ci_run)["04_results_report"]["headline"]
    assert set(headline["notebook"]) == set(EXPECTED[:3])
    summary_01 = json.loads((ci_run / "metrics/01_dataset_inspection/summary.json").read_text())
    records = headline[(headline.notebook == "01_dataset_inspection") & (headline.metric == "records")]
    assert float(records["value"].iloc[0]) == summary_01["records"]


@pytest.mark.slow
def test_ci_report_alone_says_what_ran_with_what_on_what_and_what_came_out(ci_run):
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data):
            self.parts.append(data)

    page = Text()
    page.feed((ci_run / "report.html").read_text(encoding="utf-8"))
    text = " ".join(page.parts)
    manifest = json.loads((ci_run / "manifest.json").read_text())
    train_params = json.loads((ci_run / "metrics/03_grpo_training/train_params.json").read_text())
    examples = json.loads((ci_run / "metrics/03_grpo_training/sample_completions.json").read_text())
    needles = [
        (ci_run / "params.yaml").read_text().splitlines()[-1].strip(),  # the parameter file as given
        f"learning_rate: {train_params['grpo']['learning_rate']}",  # the resolved training parameters
        manifest["python"],
        manifest["platform"],
        manifest["packages"]["torch"],
        manifest["packages"]["transformers"],
        "training device",
        examples[0]["prompt"][:60],  # answers before and after training
        "metrics/03_grpo_training/sample_completions.json",  # and where each part comes from
        "metrics/02_verifier_ablation/response_rewards.csv",
    ]
    missing = [n for n in needles if n not in text]
    assert not missing, missing
    assert len(examples) == 3 and {"before", "after"} <= set(examples[0])


@pytest.mark.slow
def test_ci_report_does_not_contradict_itself(ci_run):
    training = json.loads((ci_run / "metrics/03_grpo_training/summary.json").read_text())
    heldout = pd.read_csv(ci_run / "metrics/03_grpo_training/heldout_before_after.csv")
    assert training["heldout_records_evaluated"] == heldout["records"].iloc[0]
    assert "first_reward" not in training and "last_reward" not in training
    report = json.loads((ci_run / "metrics/04_results_report/summary.json").read_text())
    assert "running" not in json.dumps(report)  # notebook 04 does not report its own, unfinished, status
    executed = nbformat.read(ci_run / "notebooks/04_results_report.ipynb", as_version=4)
    printed = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert "04_results_report running" not in printed and "(running)" not in printed
    ids = json.loads((ci_run / "metrics/02_verifier_ablation/ids.json").read_text())
    assert "127.0.0.1" not in json.dumps(ids)


# --- every verifier mode, against a stub judge --------------------------------------------------------------


def _stub_answer(body: dict) -> str:
    """Deterministic, response-dependent verdicts, so modes differ: a yes/no template gets Yes/No, the
    score template [[1]]/[[0]]."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    yes = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 3 != 0
    if "single word: Yes" in text:
        return "Yes" if yes else "No"
    return "[[1]] fine" if yes else "[[0]] not met"


@pytest.mark.slow
def test_ablation_with_every_mode_against_a_stub_judge(tmp_path):
    from tests.stub_judge_server import StubJudgeServer

    doc = yaml.safe_load((ROOT / "params" / "ci.yaml").read_text())
    doc["notebooks_dir"] = str(ROOT / "notebooks")
    doc["notebooks"] = ["02_verifier_ablation"]
    doc["overrides"] = {
        "02_verifier_ablation": {
            **doc["overrides"]["02_verifier_ablation"],
            "modes": ["rule", "llm", "llm_all", "hybrid"],
            "judge": "url",
            "judge_model": "stub-judge",
            "calibration_cases": 8,
            "probe_records": 2,
            "max_records": 6,
            "judge_cache_dir": str(tmp_path / "cache"),
            "judge_concurrency": 4,
        }
    }
    with StubJudgeServer(answer=_stub_answer) as stub:
        doc["overrides"]["02_verifier_ablation"]["judge_base_url"] = stub.url
        path = tmp_path / "ablation.yaml"
        path.write_text(yaml.safe_dump(doc))
        run = run_pipeline(path, out=tmp_path / "run", progress=False)
        assert stub.calls > 0
    m = read_run_metrics(run)["02_verifier_ablation"]
    assert list(m["constraint_metrics"]["mode"]) == ["rule", "llm", "llm_all", "hybrid"]
    kinds = m["metrics_by_kind"]
    assert set(kinds[kinds["mode"] == "rule"]["kind"]) == {"rule"}
    assert set(kinds[kinds["mode"] == "llm"]["kind"]) == {"llm"}
    assert set(kinds[kinds["mode"] == "llm_all"]["kind"]) == {"rule", "llm"}
    cost = m["cost_per_1000"].set_index("mode")
    assert cost.loc["rule", "calls"] == 0 and cost.loc["llm", "calls"] > 0
    cal = m["judge_calibration"]
    assert cal["cases"] == 8 and 0 <= cal["greedy_balanced_accuracy"] <= 1
    assert set(m["reward_hacking"]["mode"]) == {"rule", "llm", "llm_all", "hybrid"}
    figures = _png_svg(run / "figures" / "02_verifier_ablation")
    assert {"judge_calibration_by_group", "judge_p_yes", "reward_hacking"} <= figures


# --- a report in a real browser ---------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _orange_pixels(png: Path) -> int:
    """Pixels close to seaborn's colorblind orange, the colour of the 'rule' bars in every figure."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((abs(r - 222) < 30) & (abs(g - 143) < 30) & (b < 60)).sum())


def _screenshot(page: Path, shot: Path) -> Path:
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,6000",  # the whole index: what was run comes before the figures
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return shot


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_report_renders_its_figures_in_chromium(ci_run, tmp_path):
    shots = {}
    for name, page in [("index", ci_run / "index.html"), ("report", ci_run / "html" / "01_dataset_inspection.html")]:
        shots[name] = _orange_pixels(_screenshot(page, tmp_path / f"{name}.png"))
    # a text-only page has no orange at all; figures drawn by the browser put thousands of orange pixels on screen
    blank = tmp_path / "blank.html"
    blank.write_text((ci_run / "index.html").read_text().replace("<img ", "<img hidden "))
    assert _orange_pixels(_screenshot(blank, tmp_path / "blank.png")) < 50
    assert shots["index"] > 2_000 and shots["report"] > 2_000, shots
