"""One test per class of issue 20 that lives outside the sandbox: each fails on the code before the fix.

The random differential test (tests/test_reference_differential.py) finds them among other features; these pin
each one down on its own: a reply that is not a chat completion is never read from its printed form (every
profile), the reference transport makes the openai SDK's three attempts, rows VerIF scores load in the reference
profile (and the default one still refuses them with the row's error), ``--profile reference`` alone is hybrid,
and VerIF's ``llm_judge``/``llm_score``/``llm_extract`` do what the original does with odd replies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scripted_judge import ScriptedJudge

from verif_nb.data import load_records
from verif_nb.errors import DataError
from verif_nb.judge import JudgeClient, JudgeConfig, JudgeRequest

ROOT = Path(__file__).resolve().parents[1]
LLM_CALL = ROOT.parent / "shared" / "reference" / "verif_reward" / "llm_call.py"
needs_original = pytest.mark.skipif(not LLM_CALL.exists(), reason="../shared/reference/verif_reward is absent")


@pytest.mark.parametrize("shape", ["list_body", "text_choice", "not_chat", "bad_json", "empty_choices", "no_message"])
@pytest.mark.parametrize("original", [False, True])
def test_a_reply_that_is_not_a_chat_completion_has_no_answer(shape, original):
    script = {"c1": {"score": [{"shape": shape, "content": "[[1]]"}]}}
    with ScriptedJudge(script) as judge:
        client = JudgeClient(JudgeConfig(base_url=judge.url, max_retries=0), original_transport=original)
        outcome = client.run_many([JudgeRequest.score("do «c1»", "r", ["be brief"])], progress=False)[0]
    assert outcome.raw is None and outcome.passed is None, outcome  # never "[[1]]" read from repr(payload)


@pytest.mark.parametrize(("shape", "kind"), [("null", "NoneType"), ("parts", "list"), ("chat", "str")])
def test_the_content_type_is_reported(shape, kind):
    with ScriptedJudge({"c1": {"score": [{"shape": shape, "content": "[[1]] yes"}]}}) as judge:
        client = JudgeClient(JudgeConfig(base_url=judge.url, max_retries=0), original_transport=True)
        outcome = client.run_many([JudgeRequest.score("do «c1»", "r", ["c"])], progress=False)[0]
    assert outcome.content_type == kind


def test_the_original_transport_makes_the_sdks_three_attempts_and_sends_no_unencodable_text():
    script = {"c1": {"score": [{"status": 500}] * 5}, "c2": {"score": [{"status": 503}, {"content": "[[1]]"}]}}
    with ScriptedJudge(script) as judge:
        client = JudgeClient(JudgeConfig(base_url=judge.url, max_retries=4, backoff_s=0.01), original_transport=True)
        failed, ok, unsent = client.run_many(
            [JudgeRequest.score(f"do «c{i}»", "r \udc80" if i == 3 else "r", ["c"]) for i in (1, 2, 3)],
            progress=False,
        )
    assert (failed.raw, failed.attempts, ok.raw) == (None, 3, "[[1]]")
    assert unsent.raw is None and "surrogate" in unsent.error
    assert [e["case"] for e in judge.log].count("c1") == 3 and "c3" not in [e["case"] for e in judge.log]


def _row(tmp_path: Path, **fields) -> Path:
    row = {"id": "a", "prompt": "p", "checkers": ["[rule] X"], "functions": ["def check_following(i, r): return 1"]}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(row | fields) + "\n")
    return path


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"checkers": [], "functions": []}, "checkers"),
        ({"checkers": ["[rule] X", "[llm] Y"]}, "functions"),
        ({"functions": ["def check_following(i, r): return 1", "x = 1"]}, "functions"),
        ({"prompt": "  \n"}, "prompt"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_rows_verif_scores_load_in_the_reference_profile_and_the_default_refuses_them(tmp_path, fields, field):
    path = _row(tmp_path, **fields)
    (record,) = load_records(path, profile="reference").records
    assert len(record.constraints) == min(len(fields.get("checkers", [1])), len(fields.get("functions", [1])))
    with pytest.raises(DataError, match=f"field '{field}'") as err:
        load_records(path)
    assert f"{path}:1" in str(err.value)


def test_the_reference_profile_keeps_the_if_prompts_prelude(tmp_path):
    code = "import sys\nsys.path.append('/x')\ndef check_following(i, r):\n    return sys.maxsize > 0\n"
    (record,) = load_records(_row(tmp_path, functions=[code]), profile="reference").records
    assert record.constraints[0].code == code  # its `import sys` reaches check_following's globals in VerIF
    (record,) = load_records(_row(tmp_path, functions=[code])).records
    assert record.constraints[0].code.startswith("def check_following")


def _verify(tmp_path: Path, *args: str) -> dict:
    responses = tmp_path / "r.jsonl"
    responses.write_text(json.dumps({"id": "a", "response": "hi"}) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "verif_nb.cli", "verify", "--data", str(_row(tmp_path)), "--responses", str(responses)]
        + ["--out", str(tmp_path / "o.jsonl"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_original
def test_profile_reference_alone_is_the_papers_hybrid_reward_and_an_override_says_so(tmp_path):
    with ScriptedJudge({}, default={"content": "[[1]]"}) as judge:
        common = ("--profile", "reference", "--judge-base-url", judge.url, "--judge-template-file", str(LLM_CALL))
        alone = _verify(tmp_path, *common)
        assert (alone["mode"], alone["combine"], alone["reference"]) == ("hybrid", "product", True)
        assert len(judge.log) == 1  # the judge was asked (with [] for a record without [llm] checkers)
        ruled = _verify(tmp_path, *common, "--mode", "rule")
    assert ruled["reference"] is False and "not VerIF's published reward" in ruled["note"]
    assert _verify(tmp_path)["mode"] == "rule"  # the default profile still verifies with code alone


@needs_original
def test_the_originals_rule_code_calls_fail_as_the_original_does():
    from verif_nb.judge.original import NotText, OriginalCalls, load_original_prompts

    prompts = load_original_prompts(LLM_CALL)
    replies = iter([NotText("NoneType"), "", "NA", " 是的 ", "[[2]] ok", NotText("list")])
    calls = OriginalCalls(prompts, lambda messages, max_tokens, temperature: next(replies))
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'strip'"):
        calls.llm_extract("instruction", "r", "title")
    with pytest.raises(IndexError):
        calls.llm_judge("instruction", "r", "c")  # an empty reply has no first character
    assert calls.llm_judge("instruction", ["a", "b"], "c") is False  # "NA"
    assert calls.llm_judge("instruction", "r", "c") is True
    assert calls.llm_score("instruction", "r", "tone") == 2
    with pytest.raises(AttributeError, match="'list' object"):
        calls.llm_score("instruction", "r", "tone")


def test_the_default_llm_extract_is_unverifiable_on_a_null_or_malformed_reply():
    from verif_nb.verifier import Verifier

    script = {"c1": {"score": [{"shape": "null"}]}, "c2": {"score": [{"shape": "list_body"}]}}
    with ScriptedJudge(script) as judge:
        with Verifier(mode="rule", judge=JudgeConfig(base_url=judge.url, max_retries=0)) as verifier:
            for case in ("c1", "c2"):
                with pytest.raises(RuntimeError, match="llm_extract"):
                    verifier._llm_extract("instruction", f"text «{case}»", "the title")


@needs_original
def test_one_judge_reply_with_a_number_int_refuses_costs_only_its_own_row(tmp_path):
    """A reply `[[<4,301 digits>]]` once made the parser raise and `verify` exit 1 with every row lost (an
    outside reviewer's case). The original's extract_score catches it and scores 0; the other row keeps its 1."""
    rows = [
        {"id": i, "prompt": f"Say hi «{marker}»", "checkers": ["[llm] Tone"], "functions": ["x"]}
        for i, marker in (("honest", "c1"), ("huge", "c2"))
    ]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({"id": r["id"], "response": "hi"}) + "\n" for r in rows))
    script = {"c1": {"score": [{"content": "[[1]]"}]}, "c2": {"score": [{"content": "[[" + "1" * 4301 + "]]"}]}}
    with ScriptedJudge(script) as judge:
        done = subprocess.run(
            [sys.executable, "-m", "verif_nb.cli", "verify", "--data", "d.jsonl", "--responses", "r.jsonl"]
            + ["--out", "o.jsonl", "--profile", "reference", "--judge-base-url", judge.url, "--judge-model", "stub"]
            + ["--judge-template-file", str(LLM_CALL)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    out = {r["id"]: r["reward"] for r in map(json.loads, (tmp_path / "o.jsonl").read_text().splitlines())}
    assert out == {"honest": 1.0, "huge": 0.0}
