"""Issue 11: nothing a judge, an input file or a params file sends crashes a run, destroys input or
writes outside the run. Each case ends as a verdict, a None with a counted reason, or a one-line error
naming the file, line and field."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.stub_judge_server import StubJudgeServer
from verif_nb.cli import main
from verif_nb.data import load_records, read_responses, write_jsonl
from verif_nb.errors import DataError, JudgeError, OutputPathError, ParamsError
from verif_nb.files import MAX_YAML_BYTES, check_output_file, load_yaml_text, read_yaml
from verif_nb.judge import JudgeClient, JudgeConfig, JudgeRequest
from verif_nb.judge import client as client_module
from verif_nb.judge.templates import load_template_file
from verif_nb.pipeline._params import load_pipeline_params
from verif_nb.pipeline._run import inside_run
from verif_nb.train.params import read_params_file

SAMPLE = Path(__file__).resolve().parents[1] / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
RECORDS = {r.id: r for r in load_records(SAMPLE).records}
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(20)
)


# ---- input files ----------------------------------------------------------------------------------


def deep_and_long_lines(tmp_path: Path) -> Path:
    good = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    deep = dict(good, id="deep", meta="[" * 100_000 + "]" * 100_000)
    lines = [
        json.dumps(good),
        json.dumps(dict(good, id="x")).replace('"id": "x"', '"id": ' + "7" * 5000),
        json.dumps(deep).replace('"' + "[" * 100_000 + "]" * 100_000 + '"', "[" * 100_000 + "]" * 100_000),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_deep_nesting_and_a_5000_digit_id_are_data_errors_with_file_line_and_field(tmp_path):
    path = deep_and_long_lines(tmp_path)
    with pytest.raises(DataError) as err:
        load_records(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 2, "id")
    assert "5000 digits" in err.value.message
    lenient = load_records(path, lenient=True)
    assert [r.id for r in lenient.records] == [RECORDS["sample-a-001"].id]
    skipped = {(e.line, e.field) for e in lenient.skipped}
    assert skipped == {(2, "id"), (3, "meta")}


def test_the_responses_reader_names_the_field_too(tmp_path):
    path = tmp_path / "resp.jsonl"
    path.write_text('{"id": "a", "response": "ok"}\n{"id": ' + "9" * 5000 + ', "response": "x"}\n')
    with pytest.raises(DataError, match=r"resp.jsonl:2: field 'id': an integer of 5000 digits"):
        read_responses(path)
    path.write_text('{"id": "a", "response": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(DataError, match=r"resp.jsonl:1: field 'response': nested more than"):
        read_responses(path)


def test_a_json_array_file_with_a_deep_item_names_its_position(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[{"id": "a", "x": ' + "[" * 100 + "]" * 100 + "}]")
    rows = load_records(path, lenient=True)
    assert [(e.line, e.field) for e in rows.skipped] == [(1, "x")]


# ---- output paths -----------------------------------------------------------------------------------


def verify_cli(tmp_path: Path, capsys, data: Path, responses: Path, out: Path) -> tuple[int, str]:
    code = main(["verify", "--data", str(data), "--responses", str(responses), "--out", str(out)])
    return code, capsys.readouterr().err


@pytest.fixture
def inputs(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_bytes(SAMPLE.read_bytes())
    responses = write_jsonl(tmp_path / "resp.jsonl", [{"id": "sample-a-001", "response": "hello"}])
    return data, responses


@pytest.mark.parametrize("target", ["data", "responses", "symlink", "hardlink"])
def test_out_pointing_at_an_input_is_refused_and_the_input_kept(tmp_path, capsys, inputs, target):
    data, responses = inputs
    before = (data.read_bytes(), responses.read_bytes())
    out = {"data": data, "responses": responses}.get(target)
    if target == "symlink":
        out = tmp_path / "link.jsonl"
        out.symlink_to(data)
    elif target == "hardlink":
        out = tmp_path / "hard.jsonl"
        os.link(responses, out)
    code, err = verify_cli(tmp_path, capsys, data, responses, out)
    assert code == 2 and "would destroy the input" in err and err.count("\n") == 1
    assert (data.read_bytes(), responses.read_bytes()) == before


def test_bad_out_targets_fail_before_any_work(tmp_path, capsys, inputs):
    data, _ = inputs
    # a responses file whose id is unknown fails only once the work has started: the --out error must win
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"id": "no-such-record", "response": "x"}])
    (tmp_path / "afile").write_text("x")
    cases = {tmp_path: "is a folder", tmp_path / "afile" / "out.jsonl": "is a file, not a folder"}
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        cases[locked / "out.jsonl"] = "cannot write in"
    for out, words in cases.items():
        code, err = verify_cli(tmp_path, capsys, data, unknown, out)
        assert code == 2 and words in err and "no-such-record" not in err, (out, err)
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_file(tmp_path)


def test_an_existing_out_is_replaced_only_after_the_work_succeeded(tmp_path, capsys, inputs):
    data, responses = inputs
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n")
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"id": "no-such-record", "response": "x"}])
    code, err = verify_cli(tmp_path, capsys, data, unknown, out)
    assert code == 2 and "no-such-record" in err
    assert out.read_text() == "previous results\n"  # the failed run left it alone
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.")]  # no temporary left behind
    code, _ = verify_cli(tmp_path, capsys, data, responses, out)
    assert code == 0 and json.loads(out.read_text())["id"] == "sample-a-001"


def test_export_verl_refuses_its_own_input(tmp_path, capsys, inputs):
    data, _ = inputs
    code = main(["export", "verl", "--data", str(data), "--out", str(data), "--force"])
    assert code == 2 and "would destroy the input" in capsys.readouterr().err
    assert data.read_bytes() == SAMPLE.read_bytes()


# ---- params and templates -------------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_quickly_and_says_why(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    started = time.perf_counter()
    for read in (load_pipeline_params, read_params_file):
        with pytest.raises(ParamsError, match=r"alias \*a refused"):
            read(path)
    template = tmp_path / "tpl.yaml"
    template.write_text("name: t\nparser: bracket\nuser: &u '{response} {constraints}'\nsystem: *u\n")
    with pytest.raises(JudgeError, match=r"alias \*u refused"):
        load_template_file(template, register=False)
    assert time.perf_counter() - started < 5  # refused while parsing, not after expanding


def test_yaml_size_cap_depth_and_long_ints_are_params_errors(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("a: '" + "x" * MAX_YAML_BYTES + "'\n")
    with pytest.raises(ParamsError, match="byte cap"):
        read_yaml(big, "params file")
    with pytest.raises(ParamsError, match="nested too deep"):
        load_yaml_text("[" * 100_000, "deep.yaml")
    with pytest.raises(ParamsError, match="cannot be read"):
        load_yaml_text("a: " + "1" * 5000, "long.yaml")


def test_check_params_on_an_alias_bomb_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert main(["check-params", str(path)]) == 2
    err = capsys.readouterr().err
    assert "alias *a refused" in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["../../victim_src", "sub/nb", "..", ".hidden", "a\\b"])
def test_notebook_names_must_be_plain_names(tmp_path, name):
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps({"notebooks": [name], "notebooks_dir": str(tmp_path)}))
    with pytest.raises(ParamsError, match="plain names"):
        load_pipeline_params(path)


def test_every_pipeline_write_is_checked_against_the_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    assert inside_run(run, run / "notebooks" / "a.ipynb") == run / "notebooks" / "a.ipynb"
    with pytest.raises(ParamsError, match="outside the run folder"):
        inside_run(run, run / "notebooks" / ".." / ".." / "victim.ipynb")
    (run / "html").symlink_to(tmp_path)  # a link planted in the run folder does not lead out either
    with pytest.raises(ParamsError, match="outside the run folder"):
        inside_run(run, run / "html" / "x.html")


# ---- judge replies ----------------------------------------------------------------------------------


def judge(url: str, **kw) -> JudgeClient:
    return JudgeClient(JudgeConfig(base_url=url, model="stub-judge", backoff_s=0, max_retries=0, **kw))


BAD_SHAPES = {
    "usage_string": "usage is str",
    "usage_nonnumeric": "usage.prompt_tokens is 'ten'",
    "logprobs_wrong_type": "logprobs.content is str",
    "logprob_overflow": "logprob 1000.0 is not a log-probability",
}


def test_each_bad_reply_fails_its_own_call_only_and_is_counted():
    faults = [None, "content_parts", *BAD_SHAPES, "conflict", "surrogate", None]

    def fault(body):
        return faults[int(body["messages"][-1]["content"].split("#", 1)[1].split()[0])]

    with StubJudgeServer(answer="[[1]] fine", fault=fault) as stub:
        client = judge(stub.url, logprobs=True)
        requests = [JudgeRequest.score("p", f"response #{i} here", ["Be brief."]) for i in range(len(faults))]
        outcomes = client.run_many(requests, progress=False)
    by_fault = dict(zip([f or f"ok{i}" for i, f in enumerate(faults)], outcomes))
    assert by_fault["ok0"].passed is True and by_fault[f"ok{len(faults) - 1}"].passed is True
    assert by_fault["content_parts"].passed is True and by_fault["content_parts"].raw == "[[1]] fine"
    for name, words in BAD_SHAPES.items():
        assert by_fault[name].passed is None and words in by_fault[name].error, (name, by_fault[name].error)
    assert by_fault["conflict"].passed is None and "conflicting verdicts" in by_fault["conflict"].error
    assert by_fault["surrogate"].passed is True and by_fault["surrogate"].text_repaired == 1
    assert by_fault["surrogate"].raw.endswith("\ufffd")
    assert client.stats.failures == {"bad_response": len(BAD_SHAPES), "unparseable": 1}
    assert client.stats.text_repaired == 1


def test_a_dripping_server_cannot_outlast_the_deadline():
    with StubJudgeServer(answer="[[1]] fine", fault="drip", drip_s=0.2) as stub:
        client = judge(stub.url, timeout_s=1.0)
        started = time.perf_counter()
        outcome = client.score_response("p", "r", ["c"])
        elapsed = time.perf_counter() - started
    # the body takes ~60 s at this pace; every single read arrives well inside 1 s
    assert outcome.passed is None and client.stats.failures == {"timeout": 1}
    assert elapsed < 3.0


def test_an_oversized_reply_is_refused_without_retry(monkeypatch):
    monkeypatch.setattr(client_module, "MAX_REPLY_BYTES", 100_000)
    with StubJudgeServer(fault="huge", huge_bytes=1_000_000) as stub:
        client = JudgeClient(JudgeConfig(base_url=stub.url, model="m", backoff_s=0, max_retries=3))
        outcome = client.score_response("p", "r", ["c"])
        assert stub.calls == 1
    assert outcome.passed is None and "over 100000 bytes" in outcome.error
    assert client.stats.failures == {"bad_response": 1}


@pytest.mark.parametrize("cache", [False, True])
def test_a_lone_surrogate_in_a_response_does_not_crash_hybrid_mode(tmp_path, capsys, cache):
    responses = tmp_path / "resp.jsonl"
    text = RECORDS["sample-a-001"].responses[0].text
    responses.write_text(json.dumps({"id": "sample-a-001", "response": text + " \udc80"}) + "\n")
    out = tmp_path / "out.jsonl"
    extra = ["--judge-cache", str(tmp_path / "cache")] if cache else []
    with StubJudgeServer(answer="[[1]] ok") as stub:
        for _ in range(2 if cache else 1):  # with the cache: a cold run, then a warm one
            args = ["verify", "--data", str(SAMPLE), "--responses", str(responses), "--out", str(out)]
            code = main([*args, "--mode", "hybrid", "--judge-base-url", stub.url, "--judge-backoff", "0", *extra])
            captured = capsys.readouterr()
            assert code == 0, captured.err
            row = json.loads(out.read_text())
            summary = json.loads(captured.out.strip().splitlines()[-1])
            assert row["reward"] is not None and row["text_repaired"] == 1
            assert summary["metrics"]["text_repaired"] == 1 and summary["judge"]["failed"] == 0
        assert "\ufffd" in stub.requests[0]["messages"][-1]["content"]
    if cache:
        assert stub.calls == 1 and summary["judge"]["cache_hits"] == 1


def test_folder_outputs_are_checked_too(tmp_path, capsys):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"prompt": "p", "instruction_id_list": [], "kwargs": []}\n')
    responses = tmp_path / "eval_results_strict.jsonl"
    responses.write_text('{"prompt": "p", "response": "r"}\n')
    args = ["ifeval", "score", "--inputs", str(inputs), "--responses", str(responses), "--force"]
    assert main([*args, "--out", str(tmp_path)]) == 2  # would write its results over --responses
    assert "would destroy the input" in capsys.readouterr().err
    assert responses.read_text() == '{"prompt": "p", "response": "r"}\n'
    assert main([*args, "--out", str(inputs)]) == 2
    assert "is a file; --out names a folder" in capsys.readouterr().err


def test_a_pipeline_run_folder_under_a_file_is_a_one_line_error(tmp_path):
    from verif_nb.pipeline._run import run_pipeline

    (tmp_path / "afile").write_text("x")
    params = Path(__file__).resolve().parents[1] / "params" / "ci.yaml"
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        run_pipeline(params, out=tmp_path / "afile" / "run", progress=False)
