"""Fixtures shared by test modules: the CI pipeline run, made once per session (it takes a minute or two)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pipeline_ci_run(tmp_path_factory) -> Path:
    """``verif-nb run params/ci.yaml --single-file`` exactly as a user types it (into a temporary folder)."""
    from verif_nb.cli import main

    out = tmp_path_factory.mktemp("ci") / "run"
    assert main(["run", str(ROOT / "params" / "ci.yaml"), "--out", str(out), "--no-progress", "--single-file"]) == 0
    return out
