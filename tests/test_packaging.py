"""The conda environment and the pip install name the same packages at the same versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)==([^;\s]+)\s*(?:;.*)?$")  # an environment marker may follow


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for req in requirements:
        m = PIN.match(req.strip())
        assert m, f"{req!r} is not pinned with =="
        pins[m.group(1).lower()] = m.group(2)
    return pins


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pip_side = _pins(project["dependencies"] + [r for name, reqs in extras.items() if name != "gpu" for r in reqs])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_side = _pins([r for r in pip_block if not r.startswith("-e")])
    assert conda_side == pip_side
    assert "python=3.11" in env["dependencies"]


def test_gpu_extra_is_separate_and_torch_is_pinned():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("vllm==") for r in extras["gpu"])
    assert not any("vllm" in r for name, reqs in extras.items() if name != "gpu" for r in reqs)
    assert "torch==2.13.0" in extras["train"]
    makefile = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in makefile  # pinned in the same pip command as the extras
