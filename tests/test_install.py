"""verif-nb as a library: the base install's commands work without any optional package, and a command whose
extra is missing says which one to install.

Each check runs ``verif-nb`` in a subprocess in which every module of every optional extra is blocked (an
import of it fails as if it were not installed). The table of those modules is ``verif_nb.cli.EXTRA_OF_MODULE``;
a module missing from it would slip through here, which is why CI also installs each variant into a fresh venv
and runs one real command per variant (``scripts/check_installs.sh``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from verif_nb.cli import EXTRA_OF_MODULE, build_parser

ROOT = Path(__file__).resolve().parents[1]

BLOCKED_RUNNER = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # 'import name' now raises ModuleNotFoundError, as without the extra
from verif_nb.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _verif_nb(*args: str, blocked=tuple(EXTRA_OF_MODULE), cwd: Path = ROOT) -> subprocess.CompletedProcess:
    code = BLOCKED_RUNNER.format(blocked=tuple(blocked))
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _commands() -> list[list[str]]:
    """Every command and sub-command of the parser, as argv prefixes."""
    out = []

    def walk(parser, prefix):
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            out.append(prefix)
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, [*prefix, name])

    walk(build_parser(), [])
    return out


HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
for name in {blocked!r}:
    sys.modules[name] = None
from verif_nb.cli import main
failed = {{}}
for argv in {commands!r}:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            main([*argv, "--help"])
    except SystemExit as stop:
        if stop.code == 0 and "usage:" in out.getvalue():
            continue
    except Exception as err:  # an import of a blocked module, ...
        failed[" ".join(argv) or "(top)"] = repr(err)
        continue
    failed.setdefault(" ".join(argv) or "(top)", "no usage printed")
print(json.dumps(failed))
"""


def test_help_of_every_command_without_any_optional_package():
    commands = [[], *_commands()]
    assert len(commands) > 15
    code = HELP_OF_EVERY_COMMAND.format(blocked=tuple(EXTRA_OF_MODULE), commands=commands)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


@pytest.fixture(scope="module")
def sample_responses(tmp_path_factory) -> Path:
    from verif_nb.data import load_sample

    path = tmp_path_factory.mktemp("resp") / "resp.jsonl"
    records = load_sample().records[:3]
    path.write_text("".join(json.dumps({"id": r.id, "response": r.responses[0].text}) + "\n" for r in records))
    return path


def test_base_install_verifies_scores_ifeval_and_exports_verl(tmp_path, sample_responses):
    sample = ROOT / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
    done = _verif_nb(
        "verify", "--data", str(sample), "--responses", str(sample_responses), "--mode", "rule",
        "--out", str(tmp_path / "v.jsonl"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(isinstance(r["reward"], float) for r in rows)

    inputs = tmp_path / "in.jsonl"
    ifeval = ROOT / "verif_nb" / "data" / "ifeval" / "input_data.jsonl"
    prompts = [json.loads(line) for line in ifeval.read_text().splitlines()[:4]]
    inputs.write_text("".join(json.dumps(p) + "\n" for p in prompts))
    responses = tmp_path / "r.jsonl"
    responses.write_text(
        "".join(json.dumps({"prompt": p["prompt"], "response": "no commas here"}) + "\n" for p in prompts)
    )
    done = _verif_nb(
        "ifeval", "score", "--inputs", str(inputs), "--responses", str(responses), "--out", str(tmp_path / "s")
    )
    assert done.returncode == 0, done.stderr
    assert 0 <= json.loads(done.stdout.strip().splitlines()[-1])["prompt_strict"] <= 100

    done = _verif_nb("export", "verl", "--data", str(sample), "--out", str(tmp_path / "train.parquet"))
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "train.parquet").num_rows > 0


@pytest.mark.parametrize(
    "argv, extra",
    [
        (["run", "params/ci.yaml", "--out", "{tmp}/run"], "notebooks"),
        (["train", "params/train_ci.yaml", "--out", "{tmp}/train"], "train"),
        (["lab", "--port", "1"], "notebooks"),
    ],
    ids=["run", "train", "lab"],
)
def test_a_command_without_its_extra_names_the_extra_in_one_line(argv, extra, tmp_path):
    done = _verif_nb(*[a.format(tmp=tmp_path) for a in argv])
    assert done.returncode == 2, (done.stdout, done.stderr)
    last = done.stderr.strip().splitlines()
    assert len(last) == 1 and f"pip install 'verif-nb[{extra}]'" in last[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "train").exists()  # nothing half-made


def test_ci_installs_every_variant_the_readme_implies():
    script = (ROOT / "scripts" / "check_installs.sh").read_text()
    variants = re.search(r"\|\| VARIANTS=\((.*?)\)", script).group(1).split()  # the default: all of them
    assert variants == ["base", "ifbench", "train", "judge", "notebooks"]
    for variant in variants:
        assert f"variant_{variant}() {{" in script
    assert "scripts/check_installs.sh" in (ROOT / ".ci" / "run").read_text()
    # the README's extras, and the commands it says each one runs
    readme = (ROOT / "README.md").read_text()
    for extra in ("ifbench", "train", "judge", "notebooks"):
        assert f"[{extra}]" in readme
